#!/bin/sh
# Keeps the operator docs true to the binaries:
#   1. every option and config key that `--help` of healops-server, `healops-server
#      token create`, healops-agent and healopsctl lists is in docs/configuration.md,
#      and every option is in the binary's man page;
#   2. the man pages render without groff warnings;
#   3. the example configs work: healops-server starts with
#      deploy/config/server.json.example (free port, temporary database and
#      certificates), answers /healthz and /readyz and stops cleanly on SIGTERM;
#      healops-agent --once with deploy/config/agent.json.example enrolls and
#      delivers its runs to it, and healopsctl reads them back;
#   4. the worked example of docs/packages.md (files extracted from the page) loads
#      and runs with `healops-agent run --report-only`.
#
# Usage: sh tests/docs/check_config_docs.sh [--build DIR]    (default build)
# Needs curl, openssl, python3 (free port). Ends with "N passed, N failed";
# exits 1 when any check failed.
set -u

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=build
while [ $# -gt 0 ]; do
    case "$1" in
    --build) BUILD=${2:?--build needs a folder}; shift ;;
    --build=*) BUILD=${1#--build=} ;;
    *) echo "usage: sh tests/docs/check_config_docs.sh [--build DIR]" >&2; exit 2 ;;
    esac
    shift
done
case "$BUILD" in
/*) ;;
*) BUILD=$ROOT/$BUILD ;;
esac
SERVER=$BUILD/healops-server
AGENT=$BUILD/healops-agent
CTL=$BUILD/healopsctl
CONFDOC=$ROOT/docs/configuration.md
PKGDOC=$ROOT/docs/packages.md

PASS=0
FAIL=0
SERVER_PID=""
TMP=$(mktemp -d "${TMPDIR:-/tmp}/healops-docs.XXXXXX")
# Tests run as the test user with the package folder as working folder: every
# folder on the way must be searchable by it (tokens inside are 0600).
chmod 0755 "$TMP"

cleanup() {
    if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null
        wait "$SERVER_PID" 2>/dev/null
    fi
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

ok() {
    PASS=$((PASS + 1))
    printf 'ok   - %s\n' "$*"
}

fail() {
    FAIL=$((FAIL + 1))
    printf 'FAIL - %s\n' "$*"
}

for b in "$SERVER" "$AGENT" "$CTL"; do
    if [ ! -x "$b" ]; then
        echo "$b is missing: run make first" >&2
        echo "0 passed, 1 failed"
        exit 1
    fi
done

# ---- 1. options and keys from --help ------------------------------------------

# Prints "FLAG" and "key:KEY" lines for every option of the --help text in file $1.
help_items() {
    {
        sed -n 's/^  \(--[a-z0-9-]*\).*/\1/p' "$1"
        sed -n 's/.*\[key: \([A-Za-z0-9_.]*\)\]$/key:\1/p' "$1"
    } | grep -v -x -e '--help' -e '--config' | sort -u
}

# check_help NAME MANPAGE HELP-COMMAND...
check_help() {
    name=$1
    man=$2
    shift 2
    if ! "$@" --help >"$TMP/help" 2>&1; then
        fail "$name --help exits 0"
        return
    fi
    help_items "$TMP/help" >"$TMP/items"
    n=$(wc -l <"$TMP/items")
    [ "$n" -gt 0 ] || fail "$name --help lists no options"
    missing=""
    while read -r item; do
        case "$item" in
        key:*)
            # keys appear in backquotes: `tls.cert`
            grep -q -F "\`${item#key:}\`" "$CONFDOC" || missing="$missing ${item#key:}(key)"
            ;;
        *)
            grep -q -E -e "${item}([^a-z0-9-]|\$)" "$CONFDOC" || missing="$missing $item"
            ;;
        esac
    done <"$TMP/items"
    if [ -z "$missing" ]; then
        ok "$name: all $n options and keys of --help are in docs/configuration.md"
    else
        fail "$name: docs/configuration.md does not mention:$missing"
    fi
    [ -n "$man" ] || return
    missing=""
    while read -r item; do
        case "$item" in
        key:*) ;;
        *)
            # groff writes --a-b as \-\-a\-b; the next character must not continue the name
            re=$(printf '%s' "$item" | sed 's/-/\\\\-/g')
            grep -q -E -e "${re}"'(\\[^-]|[^\\a-z0-9]|$)' "$man" || missing="$missing $item"
            ;;
        esac
    done <"$TMP/items"
    if [ -z "$missing" ]; then
        ok "$name: all options of --help are in $(basename "$man")"
    else
        fail "$name: $(basename "$man") does not mention:$missing"
    fi
}

check_help healops-server "$ROOT/deploy/man/healops-server.8" "$SERVER"
check_help "healops-server token create" "$ROOT/deploy/man/healops-server.8" "$SERVER" token create
check_help healops-agent "$ROOT/deploy/man/healops-agent.8" "$AGENT"
check_help healopsctl "$ROOT/deploy/man/healopsctl.1" "$CTL"

# ---- 2. man pages ----------------------------------------------------------------

if command -v groff >/dev/null 2>&1; then
    for m in "$ROOT"/deploy/man/*.[18]; do
        w=$(groff -man -Tutf8 -ww -z "$m" 2>&1)
        if [ -z "$w" ]; then ok "$(basename "$m"): groff -man -ww without warnings"; else
            fail "$(basename "$m"): $w"
        fi
    done
else
    echo "skip - groff not installed (apt-get install groff-base): man pages not rendered"
fi

# ---- 3. the example configs, for real ---------------------------------------------

for c in curl openssl python3; do
    command -v "$c" >/dev/null 2>&1 || {
        fail "$c not found: cannot run the example configs (sh deploy/install-deps.sh)"
        echo "$PASS passed, $FAIL failed"
        exit 1
    }
done

for c in server agent; do
    if python3 -m json.tool "$ROOT/deploy/config/$c.json.example" >/dev/null 2>&1; then
        ok "deploy/config/$c.json.example is valid JSON"
    else
        fail "deploy/config/$c.json.example is not valid JSON"
    fi
done

PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
URL=https://127.0.0.1:$PORT
sh "$ROOT/deploy/tls-dev.sh" "$TMP/tls" >"$TMP/tls.log" 2>&1 || fail "deploy/tls-dev.sh"
CA=$TMP/tls/ca.pem

# The example's paths are for a real machine: only listen, db and TLS files change.
"$SERVER" --config "$ROOT/deploy/config/server.json.example" --listen "127.0.0.1:$PORT" \
    --db "$TMP/healops.db" --tls-cert "$TMP/tls/server.pem" --tls-key "$TMP/tls/server.key" \
    >"$TMP/server.log" 2>&1 &
SERVER_PID=$!
i=0
up=0
while [ "$i" -lt 50 ]; do
    if curl -fsS --max-time 1 --cacert "$CA" "$URL/healthz" >"$TMP/healthz" 2>/dev/null; then
        up=1
        break
    fi
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.2
    i=$((i + 1))
done
if [ "$up" -eq 1 ] && grep -q '"ok"' "$TMP/healthz"; then
    ok "healops-server starts with server.json.example and answers /healthz"
else
    fail "healops-server with server.json.example did not answer /healthz; its log:"
    sed 's/^/    /' "$TMP/server.log"
fi
if curl -fsS --max-time 2 --cacert "$CA" "$URL/readyz" 2>/dev/null | grep -q ready; then
    ok "/readyz answers ready"
else
    fail "/readyz"
fi
if grep -q 'level=warn\|level=error' "$TMP/server.log"; then
    fail "server.json.example gives warnings:"
    grep 'level=warn\|level=error' "$TMP/server.log" | sed 's/^/    /'
else
    ok "server.json.example starts without warnings"
fi

for scope in enroll read; do
    if (umask 077 && "$SERVER" token create --scope "$scope" --db "$TMP/healops.db" \
        --name docs >"$TMP/$scope.token" 2>"$TMP/token.err"); then
        ok "token create --scope $scope"
    else
        fail "token create --scope $scope: $(cat "$TMP/token.err")"
    fi
done
if [ "$(wc -l <"$TMP/enroll.token")" -eq 1 ]; then
    ok "token create prints one line and nothing else"
else
    fail "token create printed $(wc -l <"$TMP/enroll.token") lines"
fi

# A package with no side effects: one check, one stat.
P=$TMP/pkg/docs-check
mkdir -p "$P/stats"
cat >"$P/healops-package.json" <<'EOF'
{"name": "docs-check", "version": "1.0.0",
 "checks": [{"name": "docs.true", "interval": 60,
             "test": {"probe": "command", "exec": ["/bin/true"]}}],
 "stats": [{"name": "docs.stat", "interval": 60, "exec": ["stats/one.stats"]}]}
EOF
printf '#!/bin/sh\necho "docs.value 0 1 kind=test"\n' >"$P/stats/one.stats"
chmod 0755 "$P/stats/one.stats"

# The example names healops-test, made by deploy/install.sh agent; as root without
# it, nobody stands in. Not root: the agent ignores test_user.
TESTUSER=healops-test
if [ "$(id -u)" -eq 0 ] && ! getent passwd healops-test >/dev/null 2>&1; then
    TESTUSER=nobody
fi
"$AGENT" --config "$ROOT/deploy/config/agent.json.example" --server "$URL" --ca-file "$CA" \
    --state-dir "$TMP/agent" --enroll-token-file "$TMP/enroll.token" --package-dir "$P" \
    --test-user "$TESTUSER" --name docs-node --splay 0 --once >"$TMP/agent.log" 2>&1
rc=$?
if [ "$rc" -eq 0 ] && grep -q 'msg="once: .*1 runs.* acknowledged, 0 in the spool"' "$TMP/agent.log" &&
    ! grep -q 'level=warn\|level=error' "$TMP/agent.log"; then
    ok "healops-agent --once with agent.json.example enrolls and delivers, no warnings"
else
    fail "healops-agent --once with agent.json.example: exit $rc; its log:"
    sed 's/^/    /' "$TMP/agent.log"
fi

HEALOPS_SERVER=$URL HEALOPS_CA_FILE=$CA HEALOPS_TOKEN=$(cat "$TMP/read.token") \
    "$CTL" state --agent docs-node >"$TMP/state.txt" 2>&1
rc=$?
if [ "$rc" -eq 0 ] && grep -q 'docs-node .*docs.true .*ok' "$TMP/state.txt"; then
    ok "healopsctl state shows the agent's run"
else
    fail "healopsctl state: exit $rc"
    sed 's/^/    /' "$TMP/state.txt"
fi
HEALOPS_SERVER=$URL HEALOPS_CA_FILE=$CA HEALOPS_TOKEN=nope "$CTL" state >/dev/null 2>&1
rc=$?
if [ "$rc" -eq 1 ]; then ok "healopsctl exit 1 on a refused token"; else
    fail "healopsctl bad token: exit $rc, want 1"
fi
"$CTL" state >/dev/null 2>&1
rc=$?
if [ "$rc" -eq 2 ]; then ok "healopsctl exit 2 without server and token"; else
    fail "healopsctl usage: exit $rc, want 2"
fi

kill -TERM "$SERVER_PID"
wait "$SERVER_PID"
rc=$?
SERVER_PID=""
if [ "$rc" -eq 0 ] && grep -q 'msg="stopped"' "$TMP/server.log"; then
    ok "healops-server stops on SIGTERM with exit 0"
else
    fail "healops-server on SIGTERM: exit $rc"
fi

# ---- 4. the worked example of docs/packages.md -----------------------------------

# Files are the fenced blocks right after "<!-- example-file: PATH [MODE] -->".
python3 - "$PKGDOC" "$TMP/example" <<'EOF' >"$TMP/extract.log" 2>&1
import os, re, sys
text = open(sys.argv[1]).read()
out = sys.argv[2]
n = 0
for m in re.finditer(r"<!-- example-file: (\S+)(?: (\d+))? -->\n```[a-z]*\n(.*?)\n```", text, re.S):
    path = os.path.join(out, m.group(1))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(m.group(3) + "\n")
    os.chmod(path, int(m.group(2) or "644", 8))
    n += 1
print(n)
EOF
n=$(tail -n 1 "$TMP/extract.log")
if [ "$n" = 3 ]; then
    ok "docs/packages.md: the worked example's 3 files extracted"
else
    fail "docs/packages.md: extracted '$n' files, want 3"
    sed 's/^/    /' "$TMP/extract.log"
fi
for f in checks/restart-service.repair stats/processes.stats; do
    if sh -n "$TMP/example/cron/$f" 2>"$TMP/shn"; then ok "worked example: $f is valid sh"; else
        fail "worked example: $f: $(cat "$TMP/shn")"
    fi
done
PLUGIN=/usr/lib/nagios/plugins/check_procs
if [ ! -x "$PLUGIN" ]; then
    echo "skip - $PLUGIN missing (apt-get install monitoring-plugins-basic): worked example not run"
else
    "$AGENT" run cron/cron.running --package-dir "$TMP/example/cron" --state-dir "$TMP/example-state" \
        --test-user "$TESTUSER" --report-only >"$TMP/run.out" 2>"$TMP/run.err"
    rc=$?
    # 0 with cron running, 2 (failed) without it; never 3 (the plugin could not run).
    if { [ "$rc" -eq 0 ] && grep -q '^cron/cron.running: ok' "$TMP/run.out"; } ||
        { [ "$rc" -eq 2 ] && grep -q '^cron/cron.running: failed' "$TMP/run.out"; }; then
        ok "worked example: healops-agent run cron/cron.running --report-only: $(head -n 1 "$TMP/run.out") (exit $rc)"
    else
        fail "worked example: healops-agent run cron/cron.running: exit $rc"
        sed 's/^/    /' "$TMP/run.out" "$TMP/run.err"
    fi
    if grep -q 'PROCS ' "$TMP/run.out"; then
        ok "worked example: the test is check_procs' answer"
    else
        fail "worked example: no check_procs output"
    fi
fi

echo "$PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
