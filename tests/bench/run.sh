#!/bin/sh
# HealOps benchmarks, run by `make bench`: tests/bench/run.sh BUILD_DIR
#
# Everything on 127.0.0.1, in a temporary folder, bounded in time, every process
# stopped at the end. Prints every figure, the median of BENCH_ROUNDS rounds, and the
# ratios to the references measured in the same run. Benchmarks report, they do not
# judge: a missed target is printed, never an exit status. The exit status is non-zero
# only when the benchmark itself could not run (no server, a tool crashed).
#
# Knobs (environment):
#   BENCH_ROUNDS=3            rounds of each measurement; medians are reported
#   BENCH_SECONDS=10          length of one round
#   BENCH_AGENTS=200          simulated agents (one TLS connection each)
#   BENCH_PREFILL=500000      runs in the databases before measuring (the target size is 10000000)
#   BENCH_PREFILL_AGENTS=10000 agents those runs belong to (x 20 checks = states;
#                             10000 gives the issue's 200,000 states)
#   BENCH_AGENT_SECONDS=60    how long the real agent runs with 50 checks
#   BENCH_FULL=1              0 skips the "full work" SQLite reference (saves ~40 s)
#   BENCH_PACED=1             0 skips the paced (half load) latency run
#   BENCH_TARGET_RATE=30000   a paced run at the issue's ingest target (runs/s), which
#                             says whether that rate is sustained with p99 < 50 ms; 0 skips
#   BENCH_FLEET=0             N > 0 adds a paced run with N agents connected (e.g. 10000,
#                             the issue's fleet; about 15 s more to connect and enroll)
#   BENCH_THREADS=2           loadgen worker threads
#   BENCH_BATCH=100           runs per POST of the simulated agents (a real agent with 50
#                             checks every 10 s sends about 5: it batches a second of runs)
#   BENCH_PERF=0              1 profiles the server (perf record) in the last ingest round
#                             and prints where its CPU time goes
#   BENCH_DASHBOARD=1         0 skips the dashboard figures (tests/bench/dashboard.sh)
#   BENCH_FWD=1               0 skips the round with forwarding and alerting on: the same load
#                             against a server forwarding every metric to a local
#                             victoria-metrics and sending alerts to a local webhook
#   BENCH_FWD_TYPE=opentsdb   forwarder of that round: opentsdb (/api/put) or influxdb (/write)
#   BENCH_FWD_DRAIN=30        most seconds to wait after that round for the forwarder and the
#                             webhook deliveries to catch up (reported, not required)
#   BENCH_DIR=/tmp            where the temporary folder goes
#   BENCH_KEEP=0              1 keeps the temporary folder (databases, logs)

set -u

BUILD=${1:-build}
ROUNDS=${BENCH_ROUNDS:-3}
SECS=${BENCH_SECONDS:-10}
AGENTS=${BENCH_AGENTS:-200}
PREFILL=${BENCH_PREFILL:-500000}
PREFILL_AGENTS=${BENCH_PREFILL_AGENTS:-10000}
AGENT_SECS=${BENCH_AGENT_SECONDS:-60}
FULL=${BENCH_FULL:-1}
PACED=${BENCH_PACED:-1}
TARGET_RATE=${BENCH_TARGET_RATE:-30000}
FLEET=${BENCH_FLEET:-0}
THREADS=${BENCH_THREADS:-2}
BATCH=${BENCH_BATCH:-100}
PERF=${BENCH_PERF:-0}
KEEP=${BENCH_KEEP:-0}
FWD=${BENCH_FWD:-1}
FWD_TYPE=${BENCH_FWD_TYPE:-opentsdb}
FWD_DRAIN=${BENCH_FWD_DRAIN:-30}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BUILD=$(cd "$BUILD" && pwd) || { echo "bench: no build folder $1"; exit 1; }
BIN=$BUILD/bench
SERVER=$BUILD/healops-server
AGENT=$BUILD/healops-agent
T0=$(date +%s)

for f in "$SERVER" "$AGENT" "$BIN/loadgen" "$BIN/query" "$BIN/ref_sqlite" "$BIN/ref_mhd" "$BIN/ref_agent"; do
    [ -x "$f" ] || { echo "bench: $f is missing (make bench builds it)"; exit 1; }
done

TMP=$(mktemp -d "${BENCH_DIR:-/tmp}/healops-bench.XXXXXX") || exit 1
SERVER_PID='' MHD_PID='' AGENT_PID='' VM_PID='' SINK_PID='' REFA_PID=''
FAILED=0

cleanup() {
    for p in $REFA_PID $AGENT_PID $MHD_PID $SERVER_PID $SINK_PID $VM_PID; do
        kill "$p" 2>/dev/null
    done
    for p in $REFA_PID $AGENT_PID $MHD_PID $SERVER_PID $SINK_PID $VM_PID; do
        wait_gone "$p" 5
        kill -9 "$p" 2>/dev/null
    done
    if [ "$KEEP" = 1 ]; then
        echo "bench: kept $TMP"
    else
        rm -rf "$TMP"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

say() { printf '%s\n' "$*"; }
section() { printf '\n==== %s (%ss elapsed) ====\n' "$*" $(($(date +%s) - T0)); }
fail() {
    say "bench: FAILED: $*"
    FAILED=1
}

# key=value from a BENCH line
kv() { printf '%s\n' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p" | head -n 1; }
# the median (middle of the sorted list) and the largest of the numbers on stdin
median() { grep -v '^$' | sort -g | awk '{v[NR]=$1} END {if (NR) print v[int((NR+1)/2)]; else print "n/a"}'; }
maxof() { grep -v '^$' | sort -g | awk '{m=$1} END {if (NR) print m; else print "n/a"}'; }
# a / b with d decimals, or n/a
ratio() { awk -v a="$1" -v b="$2" -v d="${3:-2}" 'BEGIN {if (b+0 > 0 && a != "n/a") printf "%.*f", d, a/b; else printf "n/a"}'; }
# all values of key in the BENCH lines of label in file
vals() { grep "^BENCH $2 " "$1" | while read -r l; do kv "$l" "$3"; done; }

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null ||
        awk 'BEGIN {srand(); print 20000 + int(rand() * 20000)}'
}

# run_tee OUT CMD...: runs CMD, its output shown and appended to OUT; CMD's exit status
run_tee() {
    out=$1
    shift
    { "$@"; echo $? >"$out.rc"; } | tee -a "$out"
    return "$(cat "$out.rc" 2>/dev/null || echo 1)"
}

proc_cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
# ns on CPU of every thread of pid, children excluded
proc_sched_ns() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{s += $1} END {printf "%.0f", s}'; }
proc_kb() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status" 2>/dev/null; }

wait_https() { # port, seconds
    i=0
    while [ $i -lt $(($2 * 10)) ]; do
        c=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 --cacert "$TMP/ca.pem" \
            "https://127.0.0.1:$1/healthz" 2>/dev/null)
        [ "$c" = 200 ] || [ "$c" = 404 ] && return 0
        sleep 0.1
        i=$((i + 1))
    done
    return 1
}

wait_gone() { # pid, seconds: until the process is gone or the time is up
    i=0
    while kill -0 "$1" 2>/dev/null && [ $i -lt $(($2 * 10)) ]; do
        sleep 0.1
        i=$((i + 1))
    done
}

stop_pid() { # pid: TERM, wait up to 10 s, KILL
    [ -n "$1" ] || return 0
    kill "$1" 2>/dev/null
    wait_gone "$1" 10
    kill -9 "$1" 2>/dev/null
    wait "$1" 2>/dev/null
    return 0
}

# ---------------------------------------------------------------------------
section "setup: $TMP"
say "machine: $(nproc) CPUs, $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo), $(uname -r)"
say "rounds=$ROUNDS seconds=$SECS agents=$AGENTS prefill=$PREFILL runs of $PREFILL_AGENTS agents, agent run ${AGENT_SECS}s"
(
    cd "$TMP" &&
        openssl ecparam -name prime256v1 -genkey -noout -out ca.key &&
        openssl req -x509 -new -key ca.key -sha256 -days 2 -subj "/CN=HealOps bench CA" -out ca.pem &&
        openssl ecparam -name prime256v1 -genkey -noout -out server.key &&
        openssl req -new -key server.key -subj "/CN=localhost" -out server.csr &&
        printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >ext.cnf &&
        openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
            -sha256 -extfile ext.cnf -out server.pem
) >"$TMP/openssl.log" 2>&1 || { cat "$TMP/openssl.log"; echo "bench: cannot make certificates"; exit 1; }
CA=$TMP/ca.pem
say "dev CA and server certificate (EC P-256, SAN IP:127.0.0.1) made"

LG_TIMEOUT=$((SECS + 200))
PREFILL_TIMEOUT=$((600 + PREFILL / 5000))

# ---------------------------------------------------------------------------
section "reference: raw SQLite insert rate (runs table of schema/*.sql, batches of $BATCH, SQLite's own VFS)"
run_tee "$TMP/ref_sqlite.out" timeout $((PREFILL_TIMEOUT + ROUNDS * SECS + 60)) \
    "$BIN/ref_sqlite" --schema-dir "$ROOT/schema" --dir "$TMP" --prefill "$PREFILL" --agents 200 \
    --batch "$BATCH" --seconds "$SECS" --rounds "$ROUNDS" || fail "ref_sqlite"
REF_SQL=$(vals "$TMP/ref_sqlite.out" ref_sqlite rows_per_s | median)

# ---------------------------------------------------------------------------
section "server database: $PREFILL runs of $PREFILL_AGENTS agents, with their outbox rows and states"
DB=$TMP/server.db
ENROLL=$("$SERVER" token create --scope enroll --db "$DB" --name bench 2>"$TMP/token.err") ||
    { cat "$TMP/token.err"; echo "bench: healops-server token create failed"; exit 1; }
READ=$("$SERVER" token create --scope read --db "$DB" --name bench-read 2>>"$TMP/token.err") ||
    { cat "$TMP/token.err"; echo "bench: healops-server token create failed"; exit 1; }
say "enroll and read tokens made with healops-server token create"
if [ "$PREFILL" -gt 0 ]; then
    timeout "$PREFILL_TIMEOUT" "$BIN/ref_sqlite" --db "$DB" --fill-only --prefill "$PREFILL" \
        --agents "$PREFILL_AGENTS" --server-vfs || fail "prefilling the server database"
fi
say "database: $(du -sh "$DB" | cut -f1)"

REF_FULL=n/a
if [ "$FULL" = 1 ]; then
    section "reference: SQLite doing the server's work per run (run + state upsert + its outbox row + last_seen), on a copy of the server database, through the server's VFS"
    cp "$DB" "$TMP/full.db" && { [ ! -f "$DB-wal" ] || cp "$DB-wal" "$TMP/full.db-wal"; } &&
        run_tee "$TMP/ref_full.out" timeout $((ROUNDS * SECS + 300)) "$BIN/ref_sqlite" \
            --db "$TMP/full.db" --full --server-vfs --prefill 0 --agents 200 --batch "$BATCH" \
            --seconds "$SECS" --rounds "$ROUNDS" || fail "ref_sqlite --full"
    rm -f "$TMP/full.db" "$TMP/full.db-wal" "$TMP/full.db-shm"
    REF_FULL=$(vals "$TMP/ref_full.out" ref_sqlite_full rows_per_s | median)
fi

# ---------------------------------------------------------------------------
section "reference: minimal libmicrohttpd TLS server (ref_mhd), the same POSTs"
MHD_PORT=$(free_port)
"$BIN/ref_mhd" --listen "127.0.0.1:$MHD_PORT" --cert "$TMP/server.pem" --key "$TMP/server.key" \
    --threads 4 2>"$TMP/ref_mhd.log" &
MHD_PID=$!
if wait_https "$MHD_PORT" 10; then
    r=1
    while [ $r -le "$ROUNDS" ]; do
        say "-- round $r"
        run_tee "$TMP/ref_mhd.out" timeout "$LG_TIMEOUT" "$BIN/loadgen" \
            --url "https://127.0.0.1:$MHD_PORT" --ca-file "$CA" --no-enroll --token bench \
            --fixed-body --batch "$BATCH" --agents "$AGENTS" --threads "$THREADS" --seconds "$SECS" \
            --label ref_mhd --pid "$MHD_PID" || fail "loadgen against ref_mhd"
        r=$((r + 1))
    done
else
    fail "ref_mhd did not start: $(cat "$TMP/ref_mhd.log")"
fi
stop_pid "$MHD_PID"
MHD_PID=
MHD_PPS=$(vals "$TMP/ref_mhd.out" ref_mhd posts_per_s | median)

# ---------------------------------------------------------------------------
section "server: healops-server, $AGENTS agents posting batches of $BATCH runs, closed loop"
PORT=$(free_port)
URL=https://127.0.0.1:$PORT
"$SERVER" --listen "127.0.0.1:$PORT" --db "$DB" --tls-cert "$TMP/server.pem" \
    --tls-key "$TMP/server.key" --log-level warn >"$TMP/server.log" 2>&1 &
SERVER_PID=$!
if ! wait_https "$PORT" 20; then
    tail -n 20 "$TMP/server.log"
    echo "bench: the server did not start"
    exit 1
fi
say "server pid $SERVER_PID on $URL; RSS at start $(proc_kb "$SERVER_PID" VmRSS) KiB"
TOKENS=$TMP/agents.tokens
ING_SINCE=$(date -u +%Y-%m-%dT%H:%M:%SZ)
r=1
while [ $r -le "$ROUNDS" ]; do
    say "-- round $r"
    if [ $r = 1 ]; then
        auth="--enroll-token $ENROLL --save-tokens $TOKENS"
    else
        auth="--tokens $TOKENS"
    fi
    PERF_PID=''
    if [ "$PERF" = 1 ] && [ $r = "$ROUNDS" ] && command -v perf >/dev/null; then
        (sleep 2 && exec timeout $((SECS - 3 > 1 ? SECS - 3 : 1)) perf record -q -F 499 -g \
            -o "$TMP/perf.data" -p "$SERVER_PID" >/dev/null 2>&1) &
        PERF_PID=$!
    fi
    # shellcheck disable=SC2086
    run_tee "$TMP/ingest.out" timeout "$LG_TIMEOUT" "$BIN/loadgen" --url "$URL" --ca-file "$CA" \
        $auth --batch "$BATCH" --agents "$AGENTS" --threads "$THREADS" --seconds "$SECS" --label ingest \
        --name-prefix bench-agent --pid "$SERVER_PID" || fail "loadgen against the server"
    kill -0 "$SERVER_PID" 2>/dev/null || { tail -n 20 "$TMP/server.log"; echo "bench: the server died"; exit 1; }
    if [ -n "$PERF_PID" ]; then
        wait "$PERF_PID" 2>/dev/null
        say "-- perf: where the server's CPU went in round $r (self time by library, then by symbol)"
        perf report -i "$TMP/perf.data" --no-children --sort dso --stdio -g none 2>/dev/null |
            grep '%' | head -n 8
        perf report -i "$TMP/perf.data" --no-children --sort symbol --stdio -g none 2>/dev/null |
            grep '%' | head -n 20
    fi
    r=$((r + 1))
done
ING_RPS=$(vals "$TMP/ingest.out" ingest runs_per_s | median)
ING_PPS=$(vals "$TMP/ingest.out" ingest posts_per_s | median)
ING_P50=$(vals "$TMP/ingest.out" ingest p50_ms | median)
ING_P99=$(vals "$TMP/ingest.out" ingest p99_ms | median)
ING_P999=$(vals "$TMP/ingest.out" ingest p999_ms | median)
ING_MAX=$(vals "$TMP/ingest.out" ingest max_ms | maxof)
ING_CPU=$(vals "$TMP/ingest.out" ingest cpu_us_per_run | median)
ING_CPUPCT=$(vals "$TMP/ingest.out" ingest server_cpu_pct | median)
ING_ERR=$(vals "$TMP/ingest.out" ingest errors | awk '{s += $1} END {print s + 0}')
ING_HWM=$(proc_kb "$SERVER_PID" VmHWM)
# alerts the default alerting opened during the ingest rounds (no receivers: none sent)
ING_ALERTS=$(timeout 90 python3 "$HERE/fwd_alert.py" alerts "$URL" "$CA" "$READ" "$ING_SINCE")
say "alerts opened during the ingest rounds (default alerting, no receivers): $ING_ALERTS"

PACE_RATE=n/a
if [ "$PACED" = 1 ] && [ "$ING_RPS" != n/a ]; then
    PACE_RATE=$(awk -v r="$ING_RPS" 'BEGIN {printf "%d", r / 2}')
    section "server: paced at half the sustained rate ($PACE_RATE runs/s), latency without a queue"
    run_tee "$TMP/paced.out" timeout "$LG_TIMEOUT" "$BIN/loadgen" --url "$URL" --ca-file "$CA" \
        --tokens "$TOKENS" --batch "$BATCH" --agents "$AGENTS" --threads "$THREADS" \
        --seconds "$SECS" --rate "$PACE_RATE" --label paced --pid "$SERVER_PID" || fail "paced loadgen"
fi
PACE_LINE=$(grep '^BENCH paced ' "$TMP/paced.out" 2>/dev/null || true)

# ---------------------------------------------------------------------------
NRUNS=$(sqlite3 "$DB" 'SELECT count(*) FROM runs' 2>/dev/null || echo "the stored")
section "queries: GET /runs, /repairs (filters), /state paging, over $NRUNS runs"
run_tee "$TMP/query.out" timeout 600 "$BIN/query" --url "$URL" --ca-file "$CA" --token "$READ" \
    --reps 20 || fail "query"
Q_WORST=$(grep '^BENCH query_worst ' "$TMP/query.out" || true)
Q_STATE=$(grep '^BENCH query_pages name=state_all_by_1000 ' "$TMP/query.out" || true)
Q_STATE_P99=$(grep '^BENCH query name=state_all_by_1000 ' "$TMP/query.out" || true)
Q_METRICS=$(grep '^BENCH query name=metrics ' "$TMP/query.out" || true)
NSTATES=$(sqlite3 "$DB" 'SELECT count(*) FROM state' 2>/dev/null || echo "n/a")

# ---------------------------------------------------------------------------
FLEET_LINE=''
# after the queries, so that they see the prefill's states (and the ingest agents'), not the
# fleet's as well
if [ "$FLEET" -gt 0 ] && [ "$PACE_RATE" != n/a ]; then
    section "server: $FLEET agents connected, paced at $PACE_RATE runs/s in all"
    run_tee "$TMP/fleet.out" timeout $((LG_TIMEOUT + FLEET / 50)) "$BIN/loadgen" --url "$URL" \
        --ca-file "$CA" --enroll-token "$ENROLL" --batch "$BATCH" --agents "$FLEET" --threads "$THREADS" \
        --seconds "$SECS" --rate "$PACE_RATE" --label fleet --name-prefix bench-fleet \
        --pid "$SERVER_PID" || fail "loadgen with $FLEET agents"
    FLEET_LINE=$(grep '^BENCH fleet ' "$TMP/fleet.out" || true)
fi

# The closed loop keeps a queue (its p99 is agents / throughput); the target is a rate
# sustained with p99 < 50 ms, so the same agents are paced at that rate. Each agent has
# one request in flight: when the server falls behind, the achieved rate says so. It runs
# last: the overload it may cause leaves the checkpoint and the disk catching up for
# seconds, and the queries right behind it measured that (p99 80 ms instead of 9).
TGT_LINE=
if [ "$TARGET_RATE" -gt 0 ] && [ "$ING_RPS" != n/a ]; then
    section "server: paced at the target rate ($TARGET_RATE runs/s)"
    run_tee "$TMP/target.out" timeout "$LG_TIMEOUT" "$BIN/loadgen" --url "$URL" --ca-file "$CA" \
        --tokens "$TOKENS" --batch "$BATCH" --agents "$AGENTS" --threads "$THREADS" \
        --seconds "$SECS" --rate "$TARGET_RATE" --label target --pid "$SERVER_PID" ||
        fail "loadgen paced at the target rate"
    TGT_LINE=$(grep '^BENCH target ' "$TMP/target.out" 2>/dev/null || true)
fi

# ---------------------------------------------------------------------------
section "agent: healops-agent with 50 checks every 10 s for ${AGENT_SECS}s, and time from failure to stored repair"
PKG=$TMP/pkg/benchpkg
mkdir -p "$PKG/checks" "$TMP/agent-state"
cat >"$PKG/checks/ok.sh" <<'EOF'
#!/bin/sh
echo "OK - all good | value=1;;;0"
EOF
cat >"$PKG/checks/flaky.sh" <<'EOF'
#!/bin/sh
# fails while the trigger file exists; notes when it first failed (ns since the epoch)
if [ -e "$1" ]; then
    [ -e "$2" ] || date +%s%N >"$2"
    echo "CRITICAL - trigger present"
    exit 2
fi
echo "OK - no trigger"
EOF
cat >"$PKG/checks/fix.sh" <<'EOF'
#!/bin/sh
rm -f "$1"
echo "removed the trigger"
EOF
chmod +x "$PKG/checks/"*.sh
{
    printf '{"name":"benchpkg","version":"1.0.0","checks":['
    i=1
    while [ $i -le 49 ]; do
        printf '{"name":"benchpkg.c%02d","interval":10,"timeout":5,"test":{"exec":["checks/ok.sh"]}},' $i
        i=$((i + 1))
    done
    printf '{"name":"benchpkg.flaky","interval":10,"timeout":5,"test":{"exec":["checks/flaky.sh","%s","%s"]},' \
        "$TMP/trigger" "$TMP/failed_at"
    printf '"repair":{"exec":["checks/fix.sh","%s"],"timeout":5}}]}\n' "$TMP/trigger"
} >"$PKG/healops-package.json"
"$AGENT" --server "$URL" --ca-file "$CA" --state-dir "$TMP/agent-state" --name bench-footprint \
    --enroll-token "$ENROLL" --package-dir "$PKG" --splay 10 --log-level warn \
    >"$TMP/agent.log" 2>&1 &
AGENT_PID=$!
# the reference beside it, over the same window: what spawning 50 checks every 10 s and
# posting their runs once a second with libcurl over keep-alive TLS costs at the least
"$BIN/ref_agent" --url "$URL" --ca-file "$CA" --token "$(awk 'NR == 1 {print $2}' "$TOKENS")" \
    --exec "$PKG/checks/ok.sh" --checks 50 --interval 10 --seconds "$AGENT_SECS" --warmup 5 \
    >"$TMP/ref_agent.out" 2>&1 &
REFA_PID=$!
HZ=$(getconf CLK_TCK)
sleep 5
if kill -0 "$AGENT_PID" 2>/dev/null; then
    A_T0=$(date +%s%N)
    A_TICKS0=$(proc_cpu_ticks "$AGENT_PID")
    A_NS0=$(proc_sched_ns "$AGENT_PID")
    # the failure: a trigger the flaky check's next run (within 10 s) sees
    TRIG_AT=$(date +%s%N)
    : >"$TMP/trigger"
    FOUND_AT=
    END=$(($(date +%s) + AGENT_SECS - 5))
    while [ "$(date +%s)" -lt "$END" ] && kill -0 "$AGENT_PID" 2>/dev/null; do
        if [ -z "$FOUND_AT" ]; then
            if curl -s --max-time 2 --cacert "$CA" -H "Authorization: Bearer $READ" \
                "$URL/api/v1/repairs?agent=bench-footprint&check=benchpkg.flaky&limit=1" |
                grep -q '"outcome":"repaired"'; then
                FOUND_AT=$(date +%s%N)
            else
                sleep 0.05
            fi
        else
            sleep 1
        fi
    done
    A_T1=$(date +%s%N)
    A_TICKS1=$(proc_cpu_ticks "$AGENT_PID")
    A_NS1=$(proc_sched_ns "$AGENT_PID")
    A_RSS=$(proc_kb "$AGENT_PID" VmRSS)
    A_HWM=$(proc_kb "$AGENT_PID" VmHWM)
    A_ELAPSED=$(awk -v a="$A_T0" -v b="$A_T1" 'BEGIN {printf "%.1f", (b - a) / 1e9}')
    A_CPU_PCT=$(awk -v t="$((A_TICKS1 - A_TICKS0))" -v hz="$HZ" -v s="$A_ELAPSED" 'BEGIN {printf "%.3f", 100 * t / hz / s}')
    A_CPU_PCT_NS=$(awk -v n="$((A_NS1 - A_NS0))" -v s="$A_ELAPSED" 'BEGIN {printf "%.4f", 100 * n / 1e9 / s}')
    A_CPU_HOUR=$(awk -v n="$((A_NS1 - A_NS0))" -v s="$A_ELAPSED" 'BEGIN {printf "%.1f", n / 1e9 / s * 3600}')
    A_RUNS=$(curl -s --cacert "$CA" -H "Authorization: Bearer $READ" \
        "$URL/api/v1/state?agent=bench-footprint&limit=1000" | grep -o '"check":"' | wc -l)
    say "agent pid $AGENT_PID: measured over ${A_ELAPSED}s after a 5 s start"
    say "  RSS: VmRSS $A_RSS KiB, VmHWM $A_HWM KiB"
    say "  CPU (agent process only, children excluded): ${A_CPU_PCT_NS} % of one core by schedstat" \
        "(${A_CPU_PCT} % by utime+stime ticks of 1/$HZ s), ${A_CPU_HOUR} s of CPU per hour"
    say "  checks with a state on the server: $A_RUNS of 50"
    if [ -n "$FOUND_AT" ] && [ -f "$TMP/failed_at" ]; then
        FAILED_AT=$(cat "$TMP/failed_at")
        REPAIR_MS=$(awk -v a="$FAILED_AT" -v b="$FOUND_AT" 'BEGIN {printf "%.0f", (b - a) / 1e6}')
        WAIT_MS=$(awk -v a="$TRIG_AT" -v b="$FAILED_AT" 'BEGIN {printf "%.0f", (b - a) / 1e6}')
        say "  failure to stored repaired run: $REPAIR_MS ms (test failed ${WAIT_MS} ms after the" \
            "trigger, i.e. waiting for the check's next run; found by polling GET /repairs every ~50 ms)"
    else
        REPAIR_MS=n/a
        say "  failure to stored repaired run: not seen within ${AGENT_SECS}s (agent log: $(tail -n 3 "$TMP/agent.log"))"
    fi
    say "BENCH agent rss_kb=$A_RSS hwm_kb=$A_HWM cpu_pct=$A_CPU_PCT_NS cpu_pct_ticks=$A_CPU_PCT cpu_s_per_hour=$A_CPU_HOUR repair_ms=$REPAIR_MS checks=50 interval_s=10"
else
    fail "the agent exited: $(tail -n 5 "$TMP/agent.log")"
    A_RSS=n/a A_HWM=n/a A_CPU_PCT_NS=n/a REPAIR_MS=n/a
fi
stop_pid "$AGENT_PID"
AGENT_PID=
# ref_agent ends on its own after AGENT_SECS; give it a few seconds more, then stop it
wait_gone "$REFA_PID" 10
stop_pid "$REFA_PID"
REFA_PID=
REFA_LINE=$(grep '^BENCH ref_agent ' "$TMP/ref_agent.out" | tail -n 1)
if [ -n "$REFA_LINE" ]; then
    say "reference ref_agent (libcurl + OpenSSL, posix_spawn, no spool, one thread), same window:"
    say "  RSS: VmRSS $(kv "$REFA_LINE" rss_kb) KiB; CPU $(kv "$REFA_LINE" cpu_pct) % of one core," \
        "$(kv "$REFA_LINE" cpu_us_per_run) us per run; $(kv "$REFA_LINE" spawns) spawns," \
        "$(kv "$REFA_LINE" posts) POSTs, $(kv "$REFA_LINE" errors) errors"
    say "$REFA_LINE"
else
    say "reference ref_agent gave no figures: $(tail -n 3 "$TMP/ref_agent.out")"
fi
SRV_HWM=$(proc_kb "$SERVER_PID" VmHWM)
stop_pid "$SERVER_PID"
SERVER_PID=

# ---------------------------------------------------------------------------
# The same load with forwarding and alerting on: the server (same database, same
# agents and tokens) forwards every metric to a local victoria-metrics and sends
# every alert event to a local webhook. The runs' mix has about 2 % failed and
# error outcomes, so failed alerts open and resolve as the load goes on.
FWD_RPS=n/a FWD_P50=n/a FWD_P99=n/a FWD_CPU=n/a FWD_DELIV=n/a FWD_PENDING=n/a
FWD_ALERTS='' FWD_HOOK='' FWD_VM_ROWS=n/a FWD_ROUND_PTS=n/a FWD_DRAIN_S=n/a FWD_ERR=n/a FWD_VM_CPU=n/a
vm_get() { curl -s --max-time 5 "http://127.0.0.1:$VM_HTTP$1"; }
# the sum of field over the forwarders, from a fwd_alert.py forwarders listing
fwd_sum() { printf '%s\n' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p" | awk '{s += $1} END {print s + 0}'; }
fwd_status() { timeout 30 python3 "$HERE/fwd_alert.py" forwarders "$URL" "$CA" "$READ"; }
hook_stats() { curl -s --max-time 5 "http://127.0.0.1:$SINK_PORT/stats"; }
# CPU ticks $1 as % of one core over the round from W0 to W1 (ns)
pct() { awk -v t="$1" -v hz="$HZ" -v a="$W0" -v b="$W1" 'BEGIN {printf "%.1f", 100 * t / hz / ((b - a) / 1e9)}'; }
# the number after "key": in the sink's JSON counts, 0 if absent
jnum() { printf '%s' "$1" | tr ',{}' '\n\n\n' | sed -n "s/^ *\"$2\": *\([0-9][0-9]*\).*/\1/p" | head -n 1 | awk '{print $1 + 0} END {if (!NR) print 0}'; }

if [ "$FWD" != 1 ]; then
    :
elif ! command -v victoria-metrics >/dev/null || ! command -v python3 >/dev/null; then
    section "server with forwarding and alerting: skipped (victoria-metrics or python3 missing)"
else
    section "server with forwarding ($FWD_TYPE to victoria-metrics) and alerting (webhook) on, the same load, closed loop"
    VM_HTTP=$(free_port)
    VM_TSDB=$(free_port)
    while [ "$VM_TSDB" = "$VM_HTTP" ]; do VM_TSDB=$(free_port); done
    victoria-metrics -storageDataPath="$TMP/vm" -httpListenAddr="127.0.0.1:$VM_HTTP" \
        -opentsdbHTTPListenAddr="127.0.0.1:$VM_TSDB" -retentionPeriod=1d \
        -search.latencyOffset=1s -loggerLevel=WARN >"$TMP/vm.log" 2>&1 &
    VM_PID=$!
    python3 "$HERE/fwd_alert.py" sink "$TMP/sink.port" >"$TMP/sink.log" 2>&1 &
    SINK_PID=$!
    i=0
    while [ $i -lt 200 ] && { [ ! -s "$TMP/sink.port" ] || [ "$(vm_get /health)" != OK ]; }; do
        sleep 0.1
        i=$((i + 1))
    done
    SINK_PORT=$(cat "$TMP/sink.port" 2>/dev/null)
    if [ "$(vm_get /health)" != OK ] || [ -z "$SINK_PORT" ]; then
        fail "victoria-metrics or the webhook sink did not start: $(tail -n 3 "$TMP/vm.log" "$TMP/sink.log")"
    else
        if [ "$FWD_TYPE" = influxdb ]; then
            FWD_URL="http://127.0.0.1:$VM_HTTP/write?db=healops"
        else
            FWD_TYPE=opentsdb
            FWD_URL="http://127.0.0.1:$VM_TSDB"
        fi
        # flapping and stale are set out of reach: the closed loop runs each check several
        # times a second, so with the defaults every check would soon be "flapping" and
        # its one open alert would never resolve; silent agents are not this round's load
        cat >"$TMP/server-fwd.json" <<EOF
{"forwarders": [{"name": "vm", "type": "$FWD_TYPE", "url": "$FWD_URL"}],
 "receivers": [{"name": "bench-hook", "type": "webhook", "url": "http://127.0.0.1:$SINK_PORT/hook"}],
 "alerting": {"after_failures": 1, "repeat_every": 3600, "agent_silent_after": 2592000,
              "stale": false, "flapping": {"repairs": 1000000, "window": 3600}}}
EOF
        say "victoria-metrics pid $VM_PID on 127.0.0.1:$VM_HTTP (OpenTSDB HTTP on :$VM_TSDB);" \
            "webhook sink pid $SINK_PID on 127.0.0.1:$SINK_PORT; forwarder $FWD_TYPE -> $FWD_URL"
        # a forwarder new to a database starts with every point kept for graphs (the
        # prefill's and the earlier rounds'); this round measures the steady state, so
        # the forwarder is recorded as having delivered everything up to now
        sqlite3 "$DB" "INSERT OR REPLACE INTO forwarder_state (name, delivered_seq)
            SELECT 'vm', coalesce(max(seq), 0) FROM points" 2>"$TMP/sqlite3.err" ||
            say "could not mark the stored points as forwarded ($(cat "$TMP/sqlite3.err")): waiting for the backlog instead"
        PORT=$(free_port)
        URL=https://127.0.0.1:$PORT
        FWD_SINCE=$(date -u +%Y-%m-%dT%H:%M:%SZ)
        "$SERVER" --config "$TMP/server-fwd.json" --listen "127.0.0.1:$PORT" --db "$DB" \
            --tls-cert "$TMP/server.pem" --tls-key "$TMP/server.key" --log-level warn \
            >"$TMP/server-fwd.log" 2>&1 &
        SERVER_PID=$!
        if ! wait_https "$PORT" 20; then
            fail "the server with forwarders did not start: $(tail -n 5 "$TMP/server-fwd.log")"
        else
            D0=$(date +%s)
            while ST=$(fwd_status) && [ "$(fwd_sum "$ST" pending)" != 0 ] &&
                [ $(($(date +%s) - D0)) -lt "$FWD_DRAIN" ]; do
                sleep 1
            done
            say "forwarder at the start: $(fwd_sum "$ST" pending) outbox rows pending (a run's points are one)"
            DELIV0=$(fwd_sum "$ST" delivered)
            r=1
            while [ $r -le "$ROUNDS" ]; do
                say "-- round $r"
                F0=$(fwd_sum "$(fwd_status)" delivered)
                VM_T0=$(proc_cpu_ticks "$VM_PID")
                SK_T0=$(proc_cpu_ticks "$SINK_PID")
                W0=$(date +%s%N)
                run_tee "$TMP/fwd.out" timeout "$LG_TIMEOUT" "$BIN/loadgen" --url "$URL" \
                    --ca-file "$CA" --tokens "$TOKENS" --batch "$BATCH" --agents "$AGENTS" \
                    --threads "$THREADS" --seconds "$SECS" --label fwd --pid "$SERVER_PID" ||
                    fail "loadgen against the server with forwarding and alerting"
                W1=$(date +%s%N)
                VM_T1=$(proc_cpu_ticks "$VM_PID")
                SK_T1=$(proc_cpu_ticks "$SINK_PID")
                ST=$(fwd_status)
                F1=$(fwd_sum "$ST" delivered)
                HZ=$(getconf CLK_TCK)
                say "  forwarder: $((F1 - F0)) points delivered during the round" \
                    "($(awk -v n="$((F1 - F0))" -v a="$W0" -v b="$W1" 'BEGIN {printf "%.0f", n / ((b - a) / 1e9)}')/s)," \
                    "$(fwd_sum "$ST" pending) outbox rows pending at its end"
                say "  victoria-metrics CPU $(pct $((VM_T1 - VM_T0))) % of one core, webhook sink" \
                    "$(pct $((SK_T1 - SK_T0))) %; webhook so far: $(hook_stats)"
                say "BENCH fwd_round points=$((F1 - F0)) pending=$(fwd_sum "$ST" pending)" \
                    "vm_cpu_pct=$(pct $((VM_T1 - VM_T0))) sink_cpu_pct=$(pct $((SK_T1 - SK_T0)))" |
                    tee -a "$TMP/fwd.out"
                kill -0 "$SERVER_PID" 2>/dev/null ||
                    { tail -n 20 "$TMP/server-fwd.log"; fail "the server with forwarders died"; break; }
                r=$((r + 1))
            done
            FWD_ROUND_PTS=$(vals "$TMP/fwd.out" fwd_round points | median)
            FWD_VM_CPU=$(vals "$TMP/fwd.out" fwd_round vm_cpu_pct | median)
            # let the outboxes drain (bounded): every point to the database, every alert event
            # to the webhook; what is still pending after the wait is reported as such
            D0=$(date +%s)
            while :; do
                ST=$(fwd_status)
                FWD_PENDING=$(fwd_sum "$ST" pending)
                HOOK=$(hook_stats)
                [ "$FWD_PENDING" = 0 ] && [ "$HOOK" = "${HOOK_PREV:-}" ] && break
                [ $(($(date +%s) - D0)) -ge "$FWD_DRAIN" ] && break
                HOOK_PREV=$HOOK
                sleep 1
            done
            FWD_DRAIN_S=$(($(date +%s) - D0))
            FWD_DELIV=$(($(fwd_sum "$ST" delivered) - DELIV0))
            say "forwarders after the rounds and ${FWD_DRAIN_S}s of draining:"
            printf '%s\n' "$ST" | sed 's/^/  /'
            curl -s --max-time 5 -X POST "http://127.0.0.1:$VM_HTTP/internal/force_flush" >/dev/null
            FWD_VM_ROWS=$(vm_get /metrics | awk -v t="$FWD_TYPE" '
                /^vm_rows_inserted_total\{/ && ((t == "opentsdb" && /type="opentsdbhttp"/) ||
                (t == "influxdb" && /type="influx"/)) {s += $2} END {printf "%.0f", s}')
            say "victoria-metrics: $FWD_VM_ROWS rows inserted by $FWD_TYPE (vm_rows_inserted_total)"
            FWD_ALERTS=$(timeout 90 python3 "$HERE/fwd_alert.py" alerts "$URL" "$CA" "$READ" "$FWD_SINCE")
            FWD_HOOK=$(hook_stats)
            say "$FWD_ALERTS"
            say "webhook sink received: $FWD_HOOK"
        fi
        FWD_RPS=$(vals "$TMP/fwd.out" fwd runs_per_s | median)
        FWD_P50=$(vals "$TMP/fwd.out" fwd p50_ms | median)
        FWD_P99=$(vals "$TMP/fwd.out" fwd p99_ms | median)
        FWD_CPU=$(vals "$TMP/fwd.out" fwd cpu_us_per_run | median)
        FWD_ERR=$(vals "$TMP/fwd.out" fwd errors | awk '{s += $1} END {print s + 0}')
        stop_pid "$SERVER_PID"
        SERVER_PID=
    fi
    stop_pid "$SINK_PID"
    SINK_PID=
    stop_pid "$VM_PID"
    VM_PID=
fi

# ---------------------------------------------------------------------------
section "dashboard: first overview page over 200,000 states (tests/bench/dashboard.sh)"
[ "${BENCH_DASHBOARD:-1}" = 0 ] || sh "$HERE/dashboard.sh" "$BUILD" || fail "dashboard"

# ---------------------------------------------------------------------------
section "summary (each figure the median of its own $ROUNDS rounds of ${SECS}s; prefill $PREFILL runs)"
ING_EQ=$(awk -v p="$MHD_PPS" -v b="$BATCH" 'BEGIN {if (p != "n/a") printf "%.0f", p * b; else print "n/a"}')
printf '%-40s %s\n' "server ingest, runs/s sustained" "$ING_RPS  ($ING_PPS POST/s, $AGENTS agents, closed loop, errors $ING_ERR)"
printf '%-40s %s\n' "  POST /runs latency ms" "p50 $ING_P50  p99 $ING_P99  p99.9 $ING_P999  max $ING_MAX"
printf '%-40s %s\n' "  agents' other requests" "$(vals "$TMP/ingest.out" ingest heartbeats | awk '{s += $1} END {print s + 0}') heartbeats (every 30 s per agent), $(vals "$TMP/ingest.out" ingest polls | awk '{s += $1} END {print s + 0}') package polls (every 60 s, If-None-Match), $(vals "$TMP/ingest.out" ingest polls_304 | awk '{s += $1} END {print s + 0}') of them 304; poll p99 $(vals "$TMP/ingest.out" ingest poll_p99_ms | median) ms"
printf '%-40s %s\n' "  server CPU" "$ING_CPU us per stored run ($ING_CPUPCT % of one core); peak RSS (VmHWM) $ING_HWM KiB after the ingest rounds, $SRV_HWM KiB at the end"
if [ -n "$TGT_LINE" ]; then
    printf '%-40s %s\n' "  paced at the target $TARGET_RATE runs/s" "$(kv "$TGT_LINE" runs_per_s) runs/s achieved, p50 $(kv "$TGT_LINE" p50_ms)  p99 $(kv "$TGT_LINE" p99_ms)  p99.9 $(kv "$TGT_LINE" p999_ms) ms, $(kv "$TGT_LINE" cpu_us_per_run) us CPU/run"
fi
if [ -n "$PACE_LINE" ]; then
    printf '%-40s %s\n' "  paced at $PACE_RATE runs/s, latency ms" "p50 $(kv "$PACE_LINE" p50_ms)  p99 $(kv "$PACE_LINE" p99_ms)  p99.9 $(kv "$PACE_LINE" p999_ms)  ($(kv "$PACE_LINE" runs_per_s) runs/s achieved, $(kv "$PACE_LINE" cpu_us_per_run) us CPU/run)"
fi
if [ -n "$FLEET_LINE" ]; then
    printf '%-40s %s\n' "  $FLEET agents, paced at $PACE_RATE" "p50 $(kv "$FLEET_LINE" p50_ms)  p99 $(kv "$FLEET_LINE" p99_ms) ms, $(kv "$FLEET_LINE" runs_per_s) runs/s, $(kv "$FLEET_LINE" cpu_us_per_run) us CPU/run (heartbeats included), server VmHWM $(kv "$FLEET_LINE" hwm_kb) KiB"
fi
if [ "$FWD_RPS" != n/a ]; then
    printf '%-40s %s\n' "same load, forwarding + alerting on" "$FWD_RPS runs/s = x$(ratio "$FWD_RPS" "$ING_RPS") of plain ingest ($FWD_TYPE to victoria-metrics, webhook receiver; errors $FWD_ERR)"
    printf '%-40s %s\n' "  POST /runs latency ms" "p50 $FWD_P50 (x$(ratio "$FWD_P50" "$ING_P50") of plain)  p99 $FWD_P99 (x$(ratio "$FWD_P99" "$ING_P99") of plain)"
    printf '%-40s %s\n' "  server CPU" "$FWD_CPU us per stored run = x$(ratio "$FWD_CPU" "$ING_CPU") of plain ingest's $ING_CPU (victoria-metrics itself: $FWD_VM_CPU % of one core)"
    printf '%-40s %s\n' "  forwarder (GET /api/v1/forwarders)" "$FWD_DELIV points delivered ($FWD_ROUND_PTS during a round, median), $FWD_PENDING outbox rows pending after ${FWD_DRAIN_S}s of draining; victoria-metrics counted $FWD_VM_ROWS rows"
    printf '%-40s %s\n' "  alerts (GET /api/v1/alerts)" "$(kv "$FWD_ALERTS" total) opened ($(kv "$FWD_ALERTS" resolved) since resolved, $(kv "$FWD_ALERTS" open) open; $(kv "$FWD_ALERTS" kinds)); webhook got $(jnum "$FWD_HOOK" trigger) triggers, $(jnum "$FWD_HOOK" resolve) resolves"
    printf '%-40s %s\n' "  plain ingest rounds, for comparison" "$(kv "$ING_ALERTS" total) alerts opened by the default alerting ($(kv "$ING_ALERTS" kinds)), none sent, nothing forwarded"
fi
printf '%-40s %s\n' "raw SQLite, runs only (rows/s)" "$REF_SQL   -> server/ref ratio $(ratio "$ING_RPS" "$REF_SQL")"
printf '%-40s %s\n' "SQLite+server VFS, server's work (rows/s)" "$REF_FULL   -> server/ref ratio $(ratio "$ING_RPS" "$REF_FULL")"
printf '%-40s %s\n' "ref_mhd, POSTs of $BATCH runs per s" "$MHD_PPS (= $ING_EQ runs/s)   -> server/ref ratio $(ratio "$ING_PPS" "$MHD_PPS" 3)"
if [ -n "$Q_WORST" ]; then
    printf '%-40s %s\n' "queries, worst p99 of all combinations" "$(kv "$Q_WORST" p99_ms) ms ($(kv "$Q_WORST" name))"
fi
if [ -n "$Q_STATE" ]; then
    printf '%-40s %s\n' "GET /state all by 1000" "$(kv "$Q_STATE" rows) states in $(kv "$Q_STATE" pages) pages, $(kv "$Q_STATE" total_ms) ms in all, p99 $(kv "$Q_STATE_P99" p99_ms) ms per page"
fi
if [ -n "$Q_METRICS" ]; then
    printf '%-40s %s\n' "GET /metrics" "$NSTATES states, p50 $(kv "$Q_METRICS" p50_ms) ms, p99 $(kv "$Q_METRICS" p99_ms) ms ($(kv "$Q_METRICS" n) answers, TLS with keep-alive)"
fi
printf '%-40s %s\n' "agent, 50 checks / 10 s" "VmRSS ${A_RSS} KiB (VmHWM ${A_HWM}), CPU ${A_CPU_PCT_NS} % of one core"
REFA_RSS=$(kv "${REFA_LINE:-}" rss_kb)
REFA_CPU=$(kv "${REFA_LINE:-}" cpu_pct)
printf '%-40s %s\n' "  ref_agent (libcurl floor), same window" "VmRSS ${REFA_RSS:-n/a} KiB, CPU ${REFA_CPU:-n/a} %  -> agent/ref ratio RSS $(ratio "${A_RSS:-}" "${REFA_RSS:-}"), CPU $(ratio "${A_CPU_PCT_NS:-}" "${REFA_CPU:-}")"
printf '%-40s %s\n' "failure -> stored repaired run" "${REPAIR_MS} ms"
say ""
say "targets (reported, not asserted; this run's sizes may differ from the targets' sizes):"
tgt() { printf '  %-58s %s\n' "$1" "$2"; }
cmp_ge() { awk -v v="$1" -v t="$2" 'BEGIN {if (v == "n/a" || v == "") print "n/a"; else if (v + 0 >= t + 0) print "met (" v ")"; else print "MISSED (" v ")"}'; }
cmp_lt() { awk -v v="$1" -v t="$2" 'BEGIN {if (v == "n/a" || v == "") print "n/a"; else if (v + 0 < t + 0) print "met (" v ")"; else print "MISSED (" v ")"}'; }
tgt "ingest >= 30000 runs/s (prefill $PREFILL, $AGENTS agents)" "$(cmp_ge "$ING_RPS" 30000)"
tgt "POST /runs p99 < 50 ms (closed loop, $AGENTS agents)" "$(cmp_lt "$ING_P99" 50)"
[ -n "$PACE_LINE" ] && tgt "POST /runs p99 < 50 ms (paced at half the rate)" "$(cmp_lt "$(kv "$PACE_LINE" p99_ms)" 50)"
if [ -n "$TGT_LINE" ]; then
    tgt "$TARGET_RATE runs/s sustained (paced, >= 99 % achieved)" "$(cmp_ge "$(kv "$TGT_LINE" runs_per_s)" "$(awk -v r="$TARGET_RATE" 'BEGIN {print r * 0.99}')")"
    tgt "  and POST /runs p99 < 50 ms at that rate" "$(cmp_lt "$(kv "$TGT_LINE" p99_ms)" 50)"
fi
tgt "server CPU < 50 us per stored run" "$(cmp_lt "$ING_CPU" 50)"
[ -n "$Q_WORST" ] && tgt "history queries p99 < 20 ms, every combination" "$(cmp_lt "$(kv "$Q_WORST" p99_ms)" 20)"
[ -n "$Q_STATE" ] && tgt "/state, all states < 200 ms ($(kv "$Q_STATE" rows) states here)" "$(cmp_lt "$(kv "$Q_STATE" total_ms)" 200)"
[ -n "$Q_METRICS" ] && tgt "/metrics < 200 ms (p99, $NSTATES states here)" "$(cmp_lt "$(kv "$Q_METRICS" p99_ms)" 200)"
tgt "agent RSS < 4 MiB (4096 KiB; ref_agent: ${REFA_RSS:-n/a})" "$(cmp_lt "${A_RSS:-n/a}" 4096)"
tgt "agent CPU < 0.05 % of one core (ref_agent: ${REFA_CPU:-n/a})" "$(cmp_lt "${A_CPU_PCT_NS:-n/a}" 0.05)"
say "BENCH summary runs_per_s=$ING_RPS p50_ms=$ING_P50 p99_ms=$ING_P99 p999_ms=$ING_P999 cpu_us_per_run=$ING_CPU hwm_kb=$ING_HWM ref_sqlite_rows_per_s=$REF_SQL ref_full_rows_per_s=$REF_FULL ref_mhd_posts_per_s=$MHD_PPS ratio_sqlite=$(ratio "$ING_RPS" "$REF_SQL") ratio_full=$(ratio "$ING_RPS" "$REF_FULL") agent_rss_kb=${A_RSS} agent_cpu_pct=${A_CPU_PCT_NS} ref_agent_rss_kb=${REFA_RSS:-n/a} ref_agent_cpu_pct=${REFA_CPU:-n/a} repair_ms=${REPAIR_MS} target_rate=$TARGET_RATE target_runs_per_s=$(kv "${TGT_LINE:-}" runs_per_s) target_p99_ms=$(kv "${TGT_LINE:-}" p99_ms)"
[ "$FWD_RPS" != n/a ] && say "BENCH fwd_summary runs_per_s=$FWD_RPS p50_ms=$FWD_P50 p99_ms=$FWD_P99 cpu_us_per_run=$FWD_CPU ratio_runs=$(ratio "$FWD_RPS" "$ING_RPS") ratio_p50=$(ratio "$FWD_P50" "$ING_P50") ratio_p99=$(ratio "$FWD_P99" "$ING_P99") ratio_cpu=$(ratio "$FWD_CPU" "$ING_CPU") points_delivered=$FWD_DELIV points_per_round=$FWD_ROUND_PTS points_pending=$FWD_PENDING vm_rows=$FWD_VM_ROWS vm_cpu_pct=$FWD_VM_CPU alerts_opened=$(kv "$FWD_ALERTS" total) alerts_resolved=$(kv "$FWD_ALERTS" resolved) webhook_posts=$(jnum "$FWD_HOOK" posts)"
say "bench: done in $(($(date +%s) - T0)) s"
exit $FAILED
