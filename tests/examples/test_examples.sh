#!/bin/bash
# Tests of the example packages in deploy/examples/{nginx,postgresql,disk-space,
# systemd-unit,tls-cert-expiry}: each package is copied with stand-in settings
# (127.0.0.1 free ports, temporary folders, a fake systemctl, a fake renew
# command) and each check is run with `healops-agent run`, against a stand-in
# started here: python3 http.server processes renamed "nginx" / "postgres",
# openssl s_server with self-signed certificates. Loading a copy also lints the
# manifest (an invalid one makes `run` exit 3 with the field's path).
# Stats collectors run directly; their lines must be in tcollector format.
#
# Usage: tests/examples/test_examples.sh [BUILD_DIR]   (default build)
# Prints one line per assertion and "N passed, N failed"; exits 1 on a failure.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${1:-$ROOT/build}
case "$BUILD" in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
AGENT=$BUILD/healops-agent
EX=$ROOT/deploy/examples
PLUGINS=/usr/lib/nagios/plugins
PY=/usr/bin/python3
[ -x "$PY" ] || PY=$(command -v python3)
CLEAN_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

pass=0 fail=0
T=$(mktemp -d /tmp/healops-examples.XXXXXX)
touch "$T/pids"
cleanup() {
    local p
    while read -r p; do
        [ -n "$p" ] && kill "$p" 2>/dev/null
    done <"$T/pids"
    sleep 0.1
    while read -r p; do
        [ -n "$p" ] && kill -9 "$p" 2>/dev/null
    done <"$T/pids"
    rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ok() { pass=$((pass + 1)); echo "PASS $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1${2:+: $2}"; }

if [ ! -x "$AGENT" ]; then
    echo "FAIL $AGENT is not built (make build/healops-agent)"
    echo "0 passed, 1 failed"
    exit 1
fi
need() { # $1 = program: skip-worthy when missing
    [ -x "$1" ] || command -v "$1" >/dev/null 2>&1
}

free_port() {
    "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
wait_port() { # $1 = port; up to 5 s
    local i
    for i in $(seq 50); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}
# write_starter FILE NAME PORT DIR: a script that starts an http.server whose
# argv[0] is NAME (what the process probe matches) detached, its pid in $T/pids.
write_starter() {
    cat >"$1" <<EOS
#!/bin/bash
setsid bash -c 'echo \$\$ >>"$T/pids"; exec -a $2 "$PY" -m http.server $3 --bind 127.0.0.1 --directory "$4"' </dev/null >/dev/null 2>&1 &
for i in \$(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$3) 2>/dev/null && exit 0; sleep 0.1; done
exit 1
EOS
    chmod 0755 "$1"
}
stop_port_owner() { # $1 = NAME of the stand-in: kill processes of ours with that argv[0]
    local p
    while read -r p; do
        [ -n "$p" ] && [ -r "/proc/$p/cmdline" ] &&
            [ "$(tr '\0' '\n' <"/proc/$p/cmdline" | head -n 1)" = "$1" ] && kill "$p" 2>/dev/null
    done <"$T/pids"
    sleep 0.3
}

# mkpkg SRC DEST OLD NEW [OLD NEW]...: copy package SRC to DEST, replacing each
# literal OLD by NEW in the manifest (each OLD must occur).
mkpkg() {
    local src=$1 dst=$2
    shift 2
    rm -rf "$dst"
    cp -a "$src" "$dst"
    "$PY" - "$dst/healops-package.json" "$@" <<'EOP' || return 1
import sys
p, pairs = sys.argv[1], sys.argv[2:]
s = open(p).read()
for i in range(0, len(pairs), 2):
    if pairs[i] not in s:
        sys.exit("mkpkg: %r not in %s" % (pairs[i], p))
    s = s.replace(pairs[i], pairs[i + 1])
open(p, "w").write(s)
EOP
}

# expect LABEL OUTCOME RC PKGDIR NAME/CHECK [--report-only]
expect() {
    local label=$1 want=$2 wantrc=$3 dir=$4 chk=$5
    shift 5
    local sd out rc line got
    sd=$(mktemp -d "$T/state.XXXXXX")
    out=$("$AGENT" run "$chk" "$@" --package-dir "$dir" --state-dir "$sd" --log-level error 2>"$sd/stderr")
    rc=$?
    line=$(echo "$out" | head -n 1)
    got=${line##*: }
    if [ "$got" = "$want" ] && [ "$rc" = "$wantrc" ]; then
        ok "$label: $chk $want (exit $rc)"
    else
        bad "$label: $chk" "want $want/exit $wantrc, got '$line' exit $rc; $(echo "$out" | sed -n 2,4p | tr '\n' ' ') $(head -c 300 "$sd/stderr")"
    fi
}

# stats LABEL PKGDIR METRIC_REGEX PROGRAM ARG...: run a collector like the agent
# does (package folder, clean environment); every line must be tcollector format
# and one must match METRIC_REGEX.
stats() {
    local label=$1 dir=$2 want=$3
    shift 3
    local out badline
    out=$(cd "$dir" && env -i PATH="$CLEAN_PATH" HOME=/root LANG=C.UTF-8 "$@" 2>&1)
    badline=$(echo "$out" | grep -Ev '^[A-Za-z0-9._/-]+ [0-9]+ -?[0-9]+(\.[0-9]+)?( [A-Za-z0-9._/-]+=[A-Za-z0-9._/-]+)*$' | head -n 1)
    if [ -z "$out" ]; then
        bad "$label" "no output"
    elif [ -n "$badline" ]; then
        bad "$label" "not tcollector format: '$badline'"
    elif ! echo "$out" | grep -Eq "$want"; then
        bad "$label" "no line matching '$want' in: $(echo "$out" | tr '\n' ';')"
    else
        ok "$label: $(echo "$out" | grep -E "$want" | head -n 1)"
    fi
}

# every example loads unchanged (lint): the run may fail (no nginx here), but not exit 3 "manifest" errors
for pkg in nginx postgresql disk-space systemd-unit tls-cert-expiry; do
    chk=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["checks"][0]["name"])' "$EX/$pkg/healops-package.json" 2>&1)
    sd=$(mktemp -d "$T/state.XXXXXX")
    "$AGENT" run "$pkg/$chk" --report-only --package-dir "$EX/$pkg" --state-dir "$sd" >"$sd/out" 2>"$sd/err"
    if grep -q "package $pkg 1.0.0:" "$sd/err" && ! grep -qi 'healops-package.json:' "$sd/err" "$sd/out"; then
        ok "lint: $pkg loads ($(grep -o "package $pkg 1.0.0: [^\"]*" "$sd/err" | head -n 1 | sed 's/ from .*//'))"
    else
        bad "lint: $pkg" "$(head -c 400 "$sd/err")"
    fi
done

# a fake systemctl, with its state folder beside it
SHIM=$T/sd/systemctl
mkdir -p "$T/sd/units" "$T/sd/hooks"
cp "$ROOT/tests/examples/fake-systemctl" "$SHIM"
chmod 0755 "$SHIM"

# ---------------------------------------------------------------- nginx
echo "-- nginx"
P=$(free_port)
mkdir -p "$T/www"
echo "hello from the stand-in" >"$T/www/index.html"
printf 'Active connections: 3 \nserver accepts handled requests\n 120 120 345 \nReading: 0 Writing: 1 Waiting: 2 \n' >"$T/www/nginx_status"
write_starter "$T/sd/hooks/nginx-standin.service.start" nginx "$P" "$T/www"
echo "inactive 0" >"$T/sd/units/nginx-standin.service"
NG=$T/pkg-nginx
mkpkg "$EX/nginx" "$NG" \
    '"-p", "80"' "\"-p\", \"$P\"" \
    '"port": 80' "\"port\": $P" \
    '"/usr/bin/systemctl"' "\"$SHIM\"" \
    '"nginx.service"' '"nginx-standin.service"' \
    '"/usr/sbin/nginx"' '"/bin/true"' \
    'http://127.0.0.1/nginx_status' "http://127.0.0.1:$P/nginx_status"
if "$SHIM" start nginx-standin.service; then
    expect "nginx up" ok 0 "$NG" nginx/nginx.http
    expect "nginx up" ok 0 "$NG" nginx/nginx.process
    expect "nginx up" ok 0 "$NG" nginx/nginx.port
    stats "nginx stats" "$NG" '^nginx.connections.active 0 3$' stats/stub-status.stats "http://127.0.0.1:$P/nginx_status"
    stop_port_owner nginx
    expect "nginx down, report only" failed 2 "$NG" nginx/nginx.http --report-only
    expect "nginx down, report-only check" failed 2 "$NG" nginx/nginx.port
    expect "nginx down, restart by (fake) systemctl" repaired 0 "$NG" nginx/nginx.http
    expect "nginx back" ok 0 "$NG" nginx/nginx.process
    stop_port_owner nginx
    stats "nginx stats, down" "$NG" '^nginx.up 0 0$' stats/stub-status.stats "http://127.0.0.1:$P/nginx_status"
    rm "$T/sd/hooks/nginx-standin.service.start"
    printf '#!/bin/sh\nexit 1\n' >"$T/sd/hooks/nginx-standin.service.start"
    chmod 0755 "$T/sd/hooks/nginx-standin.service.start"
    expect "nginx down, restart fails" failed 2 "$NG" nginx/nginx.process
else
    bad "nginx stand-in" "http.server did not start on $P"
fi

# ---------------------------------------------------------------- postgresql
echo "-- postgresql"
P=$(free_port)
mkdir -p "$T/pgroot"
write_starter "$T/sd/hooks/pg-standin.service.start" postgres "$P" "$T/pgroot"
echo "inactive 0" >"$T/sd/units/pg-standin.service"
PG=$T/pkg-postgresql
mkpkg "$EX/postgresql" "$PG" \
    '"-p", "5432"' "\"-p\", \"$P\"" \
    '"--port", "5432"' "\"--port\", \"$P\"" \
    '"/usr/bin/systemctl"' "\"$SHIM\"" \
    '"postgresql@15-main.service"' '"pg-standin.service"'
expect "postgres down" failed 2 "$PG" postgresql/postgresql.port --report-only
if need /usr/bin/pg_isready; then
    expect "postgres down" failed 2 "$PG" postgresql/postgresql.ready
fi
expect "postgres down, restart by (fake) systemctl" repaired 0 "$PG" postgresql/postgresql.port
expect "postgres up" ok 0 "$PG" postgresql/postgresql.process
if need /usr/bin/psql; then
    stats "postgres stats (stand-in speaks HTTP, not SQL)" "$PG" '^postgresql.up 0 0 port=' \
        stats/connections.stats --host 127.0.0.1 --port "$P"
fi
stop_port_owner postgres
expect "postgres down" failed 2 "$PG" postgresql/postgresql.process

# ---------------------------------------------------------------- disk-space
echo "-- disk-space"
S=$T/scratch
mkdir -p "$S/sub" "$S/emptyold"
for f in a b sub/c; do head -c 1048576 /dev/zero >"$S/$f"; done
touch -d '3 hours ago' "$S/a" "$S/b" "$S/sub/c" "$S/emptyold"
head -c 1048576 /dev/zero >"$S/fresh"
ln -s /etc/hostname "$S/link-to-etc"
DS=$T/pkg-disk
mkpkg "$EX/disk-space" "$DS" \
    '"/var/tmp/app-scratch"' "\"$S\"" \
    '"--warn-mb", "4096", "--crit-mb", "8192"' '"--warn-mb", "2", "--crit-mb", "3"' \
    '"--max-age-minutes", "10080"' '"--max-age-minutes", "60"' \
    '"-p", "/var"' "\"-p\", \"$S\""
expect "scratch 4 MiB >= 3" failed 2 "$DS" disk-space/disk.scratch-size --report-only
[ -f "$S/a" ] && ok "report only: nothing removed" || bad "report only" "files were removed"
expect "scratch 4 MiB, clean files > 60 min old" repaired 0 "$DS" disk-space/disk.scratch-size
if [ -f "$S/fresh" ] && [ -L "$S/link-to-etc" ] && [ ! -e "$S/a" ] && [ ! -e "$S/sub/c" ] && [ -f /etc/hostname ]; then
    ok "cleaner removed only old files under $S"
else
    bad "cleaner" "$(ls -laR "$S" | tr '\n' ' ')"
fi
expect "free space on the scratch fs" ok 0 "$DS" disk-space/disk.var-free
expect "built-in disk probe on /" ok 0 "$DS" disk-space/disk.root-free
mkpkg "$EX/disk-space" "$T/pkg-disk-full" \
    '"/var/tmp/app-scratch"' "\"$S\"" \
    '"-w", "15%", "-c", "10%", "-p", "/var"' "\"-w\", \"100%\", \"-c\", \"100%\", \"-p\", \"$S\""
expect "disk 'full' (critical below 100% free): cleaning cannot help" failed 2 "$T/pkg-disk-full" disk-space/disk.var-free
for d in / /tmp /etc /var/lib/dpkg "$S/link-to-etc" relative/path; do
    out=$(cd "$DS" && env -i PATH="$CLEAN_PATH" checks/clean-old-files.repair --dir "$d" --max-age-minutes 1 2>&1)
    rc=$?
    if [ "$rc" = 1 ] && echo "$out" | grep -q refusing; then
        ok "cleaner refuses --dir $d"
    else
        bad "cleaner --dir $d" "exit $rc: $out"
    fi
done
stats "disk stats" "$DS" "^disk.dir.bytes 0 [0-9]+ path=$S\$" stats/disk-usage.stats --fs / --fs "$S" --dir "$S"
stats "disk stats" "$DS" '^disk.used_pct 0 [0-9.]+ path=/$' stats/disk-usage.stats --fs /

# ---------------------------------------------------------------- systemd-unit
echo "-- systemd-unit"
SU=$T/pkg-unit
mkpkg "$EX/systemd-unit" "$SU" '"/usr/bin/systemctl"' "\"$SHIM\"" '"myapp.service"' '"demo-app.service"'
echo "active 0" >"$T/sd/units/demo-app.service"
expect "unit active" ok 0 "$SU" systemd-unit/unit.active
echo "failed 2" >"$T/sd/units/demo-app.service"
: >"$T/sd/calls.log"
expect "unit failed, reset-failed + start" repaired 0 "$SU" systemd-unit/unit.active
if grep -q '^reset-failed demo-app.service' "$T/sd/calls.log" && grep -q '^start demo-app.service' "$T/sd/calls.log"; then
    ok "repair called reset-failed then start"
else
    bad "repair calls" "$(tr '\n' ';' <"$T/sd/calls.log")"
fi
echo "active 7" >"$T/sd/units/demo-app.service"
expect "unit active but restarted 7 times (warn at 5)" failed 1 "$SU" systemd-unit/unit.active
stats "unit stats" "$SU" '^systemd.unit.restarts 0 7 unit=demo-app.service$' stats/unit.stats --systemctl "$SHIM" demo-app.service
echo "inactive 0" >"$T/sd/units/demo-app.service"
printf '#!/bin/sh\nexit 1\n' >"$T/sd/hooks/demo-app.service.start"
chmod 0755 "$T/sd/hooks/demo-app.service.start"
expect "unit inactive, start fails" failed 2 "$SU" systemd-unit/unit.active
rm "$T/sd/units/demo-app.service"
expect "unit not installed (UNKNOWN)" error 3 "$SU" systemd-unit/unit.active --report-only

# ---------------------------------------------------------------- tls-cert-expiry
echo "-- tls-cert-expiry"
C=$T/certs
mkdir -p "$C/live"
mkcert() { # NAME DAYS
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days "$2" \
        -subj /CN=localhost -keyout "$C/$1.key" -out "$C/$1.pem" >/dev/null 2>&1
}
if mkcert good 90 && mkcert short 5; then
    cp "$C/short.pem" "$C/live/cert.pem"
    cat >"$C/renew" <<EOS
#!/bin/sh
# fake certbot renew: installs a 90-day certificate
cp "$C/good.pem" "$C/live/cert.pem" && echo "Congratulations, all renewals succeeded"
EOS
    chmod 0755 "$C/renew"
    PG_=$(free_port)
    PS=$(free_port)
    TL=$T/pkg-tls
    mkpkg "$EX/tls-cert-expiry" "$TL" \
        '"/etc/letsencrypt/live/example.com/cert.pem"' "\"$C/live/cert.pem\"" \
        '"/usr/bin/certbot", "renew", "--cert-name", "example.com", "--no-random-sleep-on-renew"' "\"$C/renew\"" \
        '"-p", "443"' "\"-p\", \"$PG_\""
    expect "cert 5 days left" failed 2 "$TL" tls-cert-expiry/cert.file-expiry --report-only
    expect "cert 5 days left, renew" repaired 0 "$TL" tls-cert-expiry/cert.file-expiry
    expect "cert 90 days left" ok 0 "$TL" tls-cert-expiry/cert.file-expiry
    stats "cert stats (file)" "$TL" "^tls.cert.days_left 0 (89|90)\\.[0-9]+ cert=" stats/cert-days.stats --file "$C/live/cert.pem"
    cp "$C/short.pem" "$C/live/cert.pem"
    mkpkg "$EX/tls-cert-expiry" "$T/pkg-tls-norenew" \
        '"/etc/letsencrypt/live/example.com/cert.pem"' "\"$C/live/cert.pem\"" \
        '"/usr/bin/certbot"' '"/nonexistent/certbot"'
    expect "cert 5 days left, certbot missing" failed 2 "$T/pkg-tls-norenew" tls-cert-expiry/cert.file-expiry
    [ "$(cmp -s "$C/short.pem" "$C/live/cert.pem" && echo same)" = same ] && ok "no renewer: certificate left alone" || bad "no renewer" "certificate changed"
    for spec in "good:$PG_" "short:$PS"; do
        n=${spec%%:*} port=${spec#*:}
        setsid bash -c "echo \$\$ >>'$T/pids'; exec openssl s_server -quiet -www -accept $port -cert '$C/$n.pem' -key '$C/$n.key'" </dev/null >/dev/null 2>&1 &
    done
    if wait_port "$PG_" && wait_port "$PS"; then
        expect "served cert 90 days" ok 0 "$TL" tls-cert-expiry/cert.served-expiry
        mkpkg "$EX/tls-cert-expiry" "$T/pkg-tls-short" '"-p", "443"' "\"-p\", \"$PS\""
        expect "served cert 5 days" failed 2 "$T/pkg-tls-short" tls-cert-expiry/cert.served-expiry
        stats "cert stats (served)" "$TL" "^tls.cert.days_left 0 [45]\\.[0-9]+ endpoint=127.0.0.1_$PS\$" stats/cert-days.stats --connect "127.0.0.1:$PS"
    else
        bad "openssl s_server stand-ins" "did not listen on $PG_/$PS"
    fi
else
    bad "openssl" "could not make self-signed certificates"
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
