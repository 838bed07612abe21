#!/bin/sh
# What `make run` does after building: a development HealOps on this machine.
#
# Usage: sh deploy/run-dev.sh [BUILD]      (BUILD: folder of the binaries, default build)
#
# Everything lives under ./var of the repository:
#   var/healops.db                 the server's SQLite database
#   var/tls/                       development CA and server certificate (deploy/tls-dev.sh)
#   var/server.json                the server's config file (rewritten at every start)
#   var/enroll.token, read.token   made once with `healops-server token create` (0600)
#   var/agent/                     the agent's state: identity and spool
#   var/server.log, var/agent.log  the logs of this run (truncated at start)
#
# Starts healops-server on 127.0.0.1 (port 8443, or a free one when 8443 is taken;
# HEALOPS_DEV_PORT overrides 8443) and one healops-agent running the example package
# deploy/examples/demo, then breaks the demo check once so a repair shows up in the
# API. Ctrl-C (SIGINT) or SIGTERM stops both and exits 0. Delete var/ to start afresh.
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

BUILD=${1:-build}
case "$BUILD" in
/*) ;;
*) BUILD=$ROOT/$BUILD ;;
esac
SERVER=$BUILD/healops-server
AGENT=$BUILD/healops-agent
VAR=$ROOT/var
CA=$VAR/tls/ca.pem
PKG=$ROOT/deploy/examples/demo
# Must match the path in deploy/examples/demo/healops-package.json.
DEMO_FILE=/tmp/healops-demo/app.conf
BREAK_AFTER=5       # seconds after the agent starts
HEALTH_WAIT=50      # tries, 0.2 s apart
STOP_WAIT=50        # tries, 0.2 s apart, before SIGKILL

SERVER_PID=""
AGENT_PID=""
OWN_PIDS=0          # 1 once var/run.pids is this instance's

say() {
    printf '[make run] %s\n' "$*"
}

die() {
    say "error: $*" >&2
    exit 1
}

for b in "$SERVER" "$AGENT"; do
    [ -x "$b" ] || die "$b is missing: run 'make' first (or 'make run')"
done
for c in curl python3 openssl; do
    command -v "$c" >/dev/null 2>&1 || die "$c not found: run 'sh deploy/install-deps.sh'"
done

# ---- processes -------------------------------------------------------------

alive() {
    [ -n "$1" ] && kill -0 "$1" 2>/dev/null
}

# Stops pid $1 (named $2): SIGTERM, a bounded wait, then SIGKILL.
stop_one() {
    pid=$1
    alive "$pid" || {
        [ -z "$pid" ] || wait "$pid" 2>/dev/null || true
        return 0
    }
    kill -TERM "$pid" 2>/dev/null || true
    i=0
    while alive "$pid" && [ "$i" -lt "$STOP_WAIT" ]; do
        sleep 0.2 || true
        i=$((i + 1))
    done
    if alive "$pid"; then
        say "$2 (pid $pid) did not stop within $((STOP_WAIT / 5)) s: killing it"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

STOPPING=0
stop_all() {
    [ "$STOPPING" -eq 0 ] || return 0
    STOPPING=1
    trap - INT TERM HUP
    [ -z "$AGENT_PID$SERVER_PID" ] || say "stopping the agent and the server"
    stop_one "$AGENT_PID" healops-agent
    stop_one "$SERVER_PID" healops-server
    AGENT_PID=""
    SERVER_PID=""
    [ "$OWN_PIDS" -eq 0 ] || rm -f "$VAR/run.pids"
}

on_signal() {
    stop_all
    say "stopped (logs kept in var/server.log and var/agent.log)"
    exit 0
}

trap on_signal INT TERM HUP
trap stop_all EXIT

# Prints the last lines of log $1 and fails, naming process $2.
died() {
    say "$2 exited unexpectedly; last lines of $1:" >&2
    tail -n 20 "$1" >&2 || true
    exit 1
}

# ---- one instance at a time --------------------------------------------------

mkdir -p "$VAR"
chmod 0700 "$VAR"
if [ -f "$VAR/run.pids" ]; then
    # shellcheck disable=SC2013 # the file holds pids separated by spaces
    for pid in $(cat "$VAR/run.pids"); do
        case "$pid" in *[!0-9]* | "") continue ;; esac
        if alive "$pid" && grep -q healops "/proc/$pid/cmdline" 2>/dev/null; then
            die "another 'make run' is active (pid $pid uses var/); stop it first"
        fi
    done
    rm -f "$VAR/run.pids"
fi

# ---- port, TLS, config, tokens ---------------------------------------------

PORT=$(python3 - "${HEALOPS_DEV_PORT:-8443}" <<'EOF'
import socket, sys

def free(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server does
    try:
        s.bind(("127.0.0.1", port))
        return s.getsockname()[1]
    except OSError:
        return None
    finally:
        s.close()

want = int(sys.argv[1])
print(free(want) or free(0))
EOF
) || die "cannot find a free port"
[ "$PORT" = "${HEALOPS_DEV_PORT:-8443}" ] ||
    say "port ${HEALOPS_DEV_PORT:-8443} is taken; using $PORT"
URL=https://127.0.0.1:$PORT

sh "$ROOT/deploy/tls-dev.sh" "$VAR/tls"

python3 - "$VAR" "$PORT" <<'EOF'
import json, os, sys
var, port = sys.argv[1], sys.argv[2]
cfg = {
    "listen": "127.0.0.1:" + port,
    "db": os.path.join(var, "healops.db"),
    "tls": {"cert": os.path.join(var, "tls", "server.pem"),
            "key": os.path.join(var, "tls", "server.key")},
    "public_url": "https://127.0.0.1:" + port,
    "log_level": "info",
}
tmp = os.path.join(var, "server.json.tmp")
with open(tmp, "w") as f:
    json.dump(cfg, f, indent=2)
    f.write("\n")
os.replace(tmp, os.path.join(var, "server.json"))
EOF

# Tokens and the agent's identity belong to one database: a new database
# (first run, or var/healops.db deleted) means new tokens and a new enrollment.
if [ ! -s "$VAR/healops.db" ]; then
    if [ -e "$VAR/enroll.token" ] || [ -e "$VAR/read.token" ] || [ -e "$VAR/agent" ]; then
        say "new database: replacing var/*.token and the agent's state var/agent"
    fi
    rm -f "$VAR/enroll.token" "$VAR/read.token"
    rm -rf "$VAR/agent"
fi

# Writes a new token of scope $1 to var/$1.token (0600) unless one is there.
token() {
    f=$VAR/$1.token
    [ -s "$f" ] && return 0
    (
        umask 077
        "$SERVER" token create --scope "$1" --db "$VAR/healops.db" --name "$2" >"$f.tmp"
    ) || {
        rm -f "$f.tmp"
        die "healops-server token create --scope $1 failed"
    }
    mv -f "$f.tmp" "$f"
    say "made the $1 token var/$1.token"
}
token enroll "make run: local agents"
token read "make run: curl examples"

# ---- start -----------------------------------------------------------------

: >"$VAR/server.log"
: >"$VAR/agent.log"

"$SERVER" --config "$VAR/server.json" >>"$VAR/server.log" 2>&1 &
SERVER_PID=$!
echo "$SERVER_PID" >"$VAR/run.pids"
OWN_PIDS=1

i=0
until curl -fsS --max-time 1 --cacert "$CA" -o /dev/null "$URL/healthz" 2>/dev/null; do
    alive "$SERVER_PID" || died "$VAR/server.log" healops-server
    i=$((i + 1))
    [ "$i" -lt "$HEALTH_WAIT" ] || {
        say "the server did not answer $URL/healthz within $((HEALTH_WAIT / 5)) s" >&2
        died "$VAR/server.log" healops-server
    }
    sleep 0.2 || true
done
say "healops-server is up on $URL (pid $SERVER_PID)"

# The read token must belong to this database (it does unless var/ was edited).
code=$(curl -sS --max-time 5 --cacert "$CA" -o /dev/null -w '%{http_code}' \
    -H "Authorization: Bearer $(cat "$VAR/read.token")" "$URL/api/v1/agents" || true)
[ "$code" = 200 ] ||
    say "warning: GET /api/v1/agents with var/read.token answered $code; delete var/ to start afresh"

NODE=$(hostname 2>/dev/null || uname -n)
"$AGENT" --server "$URL" --ca-file "$CA" --state-dir "$VAR/agent" --name "$NODE" \
    --label env=dev --enroll-token-file "$VAR/enroll.token" --package-dir "$PKG" \
    --splay 0 >>"$VAR/agent.log" 2>&1 &
AGENT_PID=$!
echo "$SERVER_PID $AGENT_PID" >"$VAR/run.pids"
say "healops-agent is running as node \"$NODE\" (pid $AGENT_PID)"

# ---- what to do now ----------------------------------------------------------

AUTH="-H \"Authorization: Bearer \$(cat $VAR/read.token)\""
CURL="curl -sS --cacert $CA $AUTH"
DASH=$(curl -sS --max-time 2 --cacert "$CA" -o /dev/null -w '%{http_code}' "$URL/" || true)
if [ "$DASH" = 200 ]; then
    DASH_LINE="Dashboard:  $URL/#token=$(cat "$VAR/read.token")
               (the token is kept by the browser and removed from the address)"
else
    DASH_LINE="Dashboard:  $URL/ did not answer ($DASH)"
fi
CTL_LINE=""
if [ -x "$BUILD/healopsctl" ]; then
    CTL_LINE="
 Or with healopsctl (runs | repairs | state | agents | alerts | insights):
   HEALOPS_SERVER=$URL HEALOPS_CA_FILE=$CA \\
   HEALOPS_TOKEN=\$(cat $VAR/read.token) $BUILD/healopsctl repairs
"
fi
cat <<EOF

==============================================================================
 HealOps development server: $URL
   $DASH_LINE
   Health:     curl --cacert $CA $URL/healthz
   CA file:    $CA  (give it to agents with --ca-file)
   Tokens:     var/read.token (read scope), var/enroll.token (enroll more agents)
   Logs:       var/server.log, var/agent.log     Database: var/healops.db

 REST (read token):
   $CURL $URL/api/v1/repairs | python3 -m json.tool
   $CURL $URL/api/v1/state | python3 -m json.tool
   $CURL '$URL/api/v1/runs?outcome=repaired' | python3 -m json.tool
   $CURL $URL/api/v1/agents | python3 -m json.tool
$CTL_LINE
 The agent runs deploy/examples/demo (demo.config-file every 10 s, two disk
 checks every 60 s). In $BREAK_AFTER s this script breaks demo.config-file once.
 Break it yourself:    rm $DEMO_FILE      (or edit it)
 Run it by hand:       $AGENT run demo/demo.config-file \\
                           --package-dir $PKG --state-dir $VAR/agent \\
                           --server $URL --ca-file $CA

 Ctrl-C stops the server and the agent.
==============================================================================

EOF

# ---- watch: break the demo check once, report the repair, keep both alive ---

# Prints "ID<TAB>summary" of the newest repair of demo.config-file, or nothing.
last_repair() {
    curl -sS --max-time 3 --cacert "$CA" \
        -H "Authorization: Bearer $(cat "$VAR/read.token")" \
        "$URL/api/v1/repairs?check=demo.config-file&limit=1" 2>/dev/null |
        python3 -c '
import json, sys
try:
    doc = json.load(sys.stdin)
except ValueError:
    sys.exit(0)
runs = doc.get("runs") if isinstance(doc, dict) else doc
if not runs:
    sys.exit(0)
r = runs[0]
def out(step):
    s = r.get(step) or {}
    return "%s (%s)" % (s.get("status", "?"), (s.get("output") or "").splitlines()[0] if s.get("output") else "")
print("%s\toutcome %s; test %s; repair %s; retest %s" % (
    r.get("id"), r.get("outcome"), out("test"), out("repair"), out("retest")))
' 2>/dev/null || true
}

t=0
before=""
watch_until=0
while :; do
    sleep 1 || true
    t=$((t + 1))
    alive "$SERVER_PID" || died "$VAR/server.log" healops-server
    alive "$AGENT_PID" || died "$VAR/agent.log" healops-agent
    if [ "$t" -eq "$BREAK_AFTER" ]; then
        before=$(last_repair | cut -f1)
        rm -f "$DEMO_FILE"
        say "broke demo.config-file: removed $DEMO_FILE; the agent repairs it at its next run (within 10 s)"
        watch_until=$((t + 40))
    elif [ "$t" -le "$watch_until" ]; then
        line=$(last_repair)
        id=$(printf '%s' "$line" | cut -f1)
        if [ -n "$id" ] && [ "$id" != "$before" ]; then
            say "the server recorded the repair: $(printf '%s' "$line" | cut -f2-)"
            say "see it with: $CURL $URL/api/v1/repairs"
            watch_until=0
        elif [ "$t" -eq "$watch_until" ]; then
            say "no repair of demo.config-file reached the server yet; see var/agent.log"
        fi
    fi
done
