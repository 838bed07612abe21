#!/bin/sh
# make install into temporary roots, then checks of the installed tree: binaries,
# systemd units (and `systemd-analyze verify` on them), man pages, docs, example
# configs and packages, and that an existing configuration is never overwritten.
# Also checks deploy/install.sh's command line (it is not run for real here: it
# makes system users).
#
# Usage: sh tests/install/test_install.sh [--build DIR]    (default build)
# Ends with "N passed, N failed"; exits 1 when any check failed.
set -u

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=build
while [ $# -gt 0 ]; do
    case "$1" in
    --build) BUILD=${2:?--build needs a folder}; shift ;;
    --build=*) BUILD=${1#--build=} ;;
    *) echo "usage: sh tests/install/test_install.sh [--build DIR]" >&2; exit 2 ;;
    esac
    shift
done

PASS=0
FAIL=0
TMP=$(mktemp -d "${TMPDIR:-/tmp}/healops-install.XXXXXX")
trap 'rm -rf "$TMP"' EXIT INT TERM

ok() {
    PASS=$((PASS + 1))
    printf 'ok   - %s\n' "$*"
}

fail() {
    FAIL=$((FAIL + 1))
    printf 'FAIL - %s\n' "$*"
}

# check DESCRIPTION COMMAND...: passes when the command succeeds.
check() {
    d=$1
    shift
    if "$@" >/dev/null 2>&1; then ok "$d"; else fail "$d"; fi
}

mode_of() {
    stat -c %a "$1" 2>/dev/null
}

# ---- make install DESTDIR=... PREFIX=/usr -----------------------------------

D=$TMP/usr-root
if make -C "$ROOT" --no-print-directory install BUILD="$BUILD" DESTDIR="$D" PREFIX=/usr \
    >"$TMP/install.log" 2>&1; then
    ok "make install DESTDIR=$D PREFIX=/usr"
else
    fail "make install DESTDIR=$D PREFIX=/usr (log below)"
    sed 's/^/    /' "$TMP/install.log"
fi

for b in usr/sbin/healops-server usr/sbin/healops-agent usr/sbin/healops-agent-unpack usr/bin/healopsctl; do
    if [ -f "$D/$b" ] && [ -x "$D/$b" ] && [ "$(mode_of "$D/$b")" = 755 ]; then
        ok "/$b installed, mode 0755"
    else
        fail "/$b missing or not mode 0755"
    fi
    check "/$b --help runs" "$D/$b" --help
done

UNITS=$D/lib/systemd/system
for u in healops-server.service healops-agent.service; do
    f=$UNITS/$u
    if [ -f "$f" ] && [ "$(mode_of "$f")" = 644 ]; then
        ok "/lib/systemd/system/$u installed, mode 0644"
    else
        fail "/lib/systemd/system/$u missing or not mode 0644"
        continue
    fi
    b=${u%.service}
    check "$u: ExecStart=/usr/sbin/$b --config /etc/healops/${b#healops-}.json" \
        grep -qx "ExecStart=/usr/sbin/$b --config /etc/healops/${b#healops-}.json" "$f"
    if grep -q /usr/local "$f"; then
        fail "$u still names /usr/local"
    else
        ok "$u: no /usr/local left for PREFIX=/usr"
    fi
done
check "healops-server.service runs as User=healops" grep -qx 'User=healops' "$UNITS/healops-server.service"
check "healops-server.service has ProtectSystem=strict" grep -qx 'ProtectSystem=strict' "$UNITS/healops-server.service"
check "healops-server.service has NoNewPrivileges=yes" grep -qx 'NoNewPrivileges=yes' "$UNITS/healops-server.service"
check "healops-server.service has ReadWritePaths=/var/lib/healops" grep -qx 'ReadWritePaths=/var/lib/healops' "$UNITS/healops-server.service"
check "healops-server.service has StateDirectory=healops" grep -qx 'StateDirectory=healops' "$UNITS/healops-server.service"
check "healops-agent.service has StateDirectory=healops-agent" grep -qx 'StateDirectory=healops-agent' "$UNITS/healops-agent.service"
for u in healops-server.service healops-agent.service; do
    check "$u: Restart=on-failure" grep -qx 'Restart=on-failure' "$UNITS/$u"
    check "$u: RestartSec set" grep -q '^RestartSec=' "$UNITS/$u"
done
if grep -q '^NoNewPrivileges=yes' "$UNITS/healops-agent.service" ||
    grep -q '^ProtectSystem=' "$UNITS/healops-agent.service"; then
    fail "healops-agent.service must not set NoNewPrivileges or ProtectSystem (repairs run as root)"
else
    ok "healops-agent.service leaves NoNewPrivileges and ProtectSystem off (documented)"
fi
for cap in CAP_SETUID CAP_SETGID CAP_KILL; do
    check "healops-agent.service documents $cap" grep -q "$cap" "$UNITS/healops-agent.service"
done

MAN=$D/usr/share/man
for m in man8/healops-server.8 man8/healops-agent.8 man1/healopsctl.1; do
    if [ -f "$MAN/$m" ] && [ "$(mode_of "$MAN/$m")" = 644 ]; then
        ok "/usr/share/man/$m installed"
    else
        fail "/usr/share/man/$m missing"
        continue
    fi
    if command -v groff >/dev/null 2>&1; then
        w=$(groff -man -Tutf8 -ww -z "$MAN/$m" 2>&1)
        if [ -z "$w" ]; then ok "$m: groff -man -ww without warnings"; else
            fail "$m: groff warnings: $w"
        fi
    else
        echo "skip - groff not installed (apt-get install groff-base): man pages not rendered"
    fi
done

DOC=$D/usr/share/doc/healops
for f in quickstart.md concepts.md packages.md configuration.md troubleshooting.md \
    upgrading.md README.md examples/server.json.example examples/agent.json.example \
    examples/packages/demo/healops-package.json; do
    check "/usr/share/doc/healops/$f installed" test -f "$DOC/$f"
done
for f in "$ROOT"/deploy/examples/*/checks/*; do
    [ -e "$f" ] || continue
    rel=${f#"$ROOT"/deploy/examples/}
    if [ -x "$f" ]; then
        check "example script $rel stays executable" test -x "$DOC/examples/packages/$rel"
    fi
done

ETC=$D/etc/healops
check "/etc/healops is mode 0750" test "$(mode_of "$ETC")" = 750
check "/etc/healops/server.json.example installed" test -f "$ETC/server.json.example"
check "/etc/healops/agent.json.example installed" test -f "$ETC/agent.json.example"
check "no /etc/healops/server.json installed" test ! -e "$ETC/server.json"
check "no /etc/healops/agent.json installed" test ! -e "$ETC/agent.json"

# ---- a second install never overwrites a configuration ------------------------

printf '{"listen": "127.0.0.1:9999"}\n' >"$ETC/server.json"
printf '{"server": "https://keep.example:8443"}\n' >"$ETC/agent.json"
cp "$ETC/server.json" "$TMP/server.json.before"
cp "$ETC/agent.json" "$TMP/agent.json.before"
if make -C "$ROOT" --no-print-directory install BUILD="$BUILD" DESTDIR="$D" PREFIX=/usr \
    >"$TMP/install2.log" 2>&1; then
    ok "make install again (idempotent)"
else
    fail "make install again"
    sed 's/^/    /' "$TMP/install2.log"
fi
check "existing /etc/healops/server.json kept" cmp -s "$ETC/server.json" "$TMP/server.json.before"
check "existing /etc/healops/agent.json kept" cmp -s "$ETC/agent.json" "$TMP/agent.json.before"

# ---- default PREFIX (/usr/local) ---------------------------------------------

L=$TMP/local-root
if make -C "$ROOT" --no-print-directory install BUILD="$BUILD" DESTDIR="$L" \
    >"$TMP/install3.log" 2>&1; then
    ok "make install DESTDIR=$L (default PREFIX)"
else
    fail "make install DESTDIR=$L (default PREFIX)"
    sed 's/^/    /' "$TMP/install3.log"
fi
check "default PREFIX: /usr/local/sbin/healops-server" test -x "$L/usr/local/sbin/healops-server"
check "default PREFIX: /usr/local/bin/healopsctl" test -x "$L/usr/local/bin/healopsctl"
check "default PREFIX: units in /usr/local/lib/systemd/system" \
    test -f "$L/usr/local/lib/systemd/system/healops-agent.service"
check "default PREFIX: ExecStart=/usr/local/sbin/healops-agent" \
    grep -q '^ExecStart=/usr/local/sbin/healops-agent ' "$L/usr/local/lib/systemd/system/healops-agent.service"
check "default PREFIX: man pages in /usr/local/share/man" test -f "$L/usr/local/share/man/man8/healops-agent.8"
check "default PREFIX: configs still in /etc/healops" test -f "$L/etc/healops/agent.json.example"

# ---- systemd-analyze verify ----------------------------------------------------

# The installed units name /usr/sbin; verify copies that point into the staged tree,
# so that the executables it checks exist, and find the man pages of Documentation=.
if ! command -v systemd-analyze >/dev/null 2>&1; then
    echo "skip - systemd-analyze not found: the units were NOT verified (apt-get install systemd)"
else
    V=$TMP/verify
    mkdir -p "$V/probe"
    printf '[Unit]\nDescription=probe\n[Service]\nExecStart=/bin/true\n' >"$V/probe/healops-probe.service"
    if ! systemd-analyze verify --man=no "$V/probe/healops-probe.service" >"$TMP/probe.log" 2>&1; then
        echo "skip - systemd-analyze verify cannot run here (a trivial unit fails too):"
        sed 's/^/    /' "$TMP/probe.log"
        echo "skip - the units were NOT verified"
    else
        for u in healops-server.service healops-agent.service; do
            sed "s|^ExecStart=/usr/sbin/|ExecStart=$D/usr/sbin/|" "$UNITS/$u" >"$V/$u"
        done
        for u in healops-server.service healops-agent.service; do
            if MANPATH=$MAN systemd-analyze verify "$V/$u" >"$TMP/verify.log" 2>&1 &&
                ! grep -q . "$TMP/verify.log"; then
                ok "systemd-analyze verify $u (with its man page)"
            else
                fail "systemd-analyze verify $u:"
                sed 's/^/    /' "$TMP/verify.log"
            fi
        done
        for u in healops-server.service healops-agent.service; do
            s=$(systemd-analyze security --offline=yes "$V/$u" 2>/dev/null | sed -n 's/.*Overall exposure level for [^:]*: //p')
            [ -z "$s" ] || echo "info - systemd-analyze security $u: $s"
        done
    fi
fi

# ---- deploy/install.sh command line ----------------------------------------------

check "deploy/install.sh is executable" test -x "$ROOT/deploy/install.sh"
check "deploy/install.sh: sh -n" sh -n "$ROOT/deploy/install.sh"
if command -v shellcheck >/dev/null 2>&1; then
    check "deploy/install.sh: shellcheck" shellcheck "$ROOT/deploy/install.sh"
fi
sh "$ROOT/deploy/install.sh" >"$TMP/usage.log" 2>&1
rc=$?
if [ "$rc" -eq 2 ] && grep -q 'usage: deploy/install.sh server|agent' "$TMP/usage.log"; then
    ok "deploy/install.sh without a role: usage, exit 2"
else
    fail "deploy/install.sh without a role: exit $rc"
fi
sh "$ROOT/deploy/install.sh" server --prefix relative >"$TMP/rel.log" 2>&1
rc=$?
if [ "$rc" -ne 0 ] && grep -q 'absolute' "$TMP/rel.log"; then
    ok "deploy/install.sh refuses a relative --prefix"
else
    fail "deploy/install.sh --prefix relative: exit $rc"
fi

echo "$PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
