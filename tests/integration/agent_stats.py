#!/usr/bin/env python3
"""Integration cases for stats on the agent: the real
healops-agent runs package collectors and host stats and posts each collection
to POST /api/v1/metrics.

Most cases talk to a small stand-in server in this file (plain HTTP on
loopback, which the agent accepts for tests) that checks every body strictly
against the wire contract, records it, and can be told to fail. The last case
talks to the real healops-server and needs its POST /api/v1/metrics.

Not wired into run.py yet: the cases are in CASES, which run.py's loader
does not read. Run them alone with
    python3 tests/integration/agent_stats.py --build build [NAME...]
and wire them by renaming CASES to CASES.
"""

import argparse
import http.server
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import traceback
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import Env, Failure, check, stop, wait_for, write_exec  # noqa: E402

CASES = []

RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$")
WORD = re.compile(r"^[A-Za-z0-9\-_./]+$")


def case(fn):
    CASES.append(fn)
    return fn


# ---- the stand-in server ----------------------------------------------------

def check_batch(body):
    """The contract of POST /api/v1/metrics; returns an error text or None."""
    if not isinstance(body, dict) or set(body) != {"id", "metrics"}:
        return "envelope must be exactly {id, metrics}: %r" % (list(body) if isinstance(body, dict) else body)
    try:
        u = uuid.UUID(body["id"])
    except (ValueError, TypeError, AttributeError):
        return "id is not a UUID"
    if u.version != 7 or str(u) != body["id"]:
        return "id is not a lowercase UUIDv7"
    ms = body["metrics"]
    if not isinstance(ms, list) or not 1 <= len(ms) <= 10000:
        return "metrics must be a list of 1..10000"
    for i, m in enumerate(ms):
        if set(m) != {"name", "value", "timestamp", "tags"}:
            return "metrics[%d] keys %r" % (i, sorted(m))
        if not isinstance(m["name"], str) or not WORD.match(m["name"]) or len(m["name"]) > 255:
            return "metrics[%d].name %r" % (i, m["name"])
        if not isinstance(m["value"], (int, float)) or isinstance(m["value"], bool):
            return "metrics[%d].value %r" % (i, m["value"])
        if not RFC3339.match(m["timestamp"]):
            return "metrics[%d].timestamp %r" % (i, m["timestamp"])
        t = m["tags"]
        if not isinstance(t, dict) or len(t) > 16:
            return "metrics[%d].tags %r" % (i, t)
        for k, v in t.items():
            if not WORD.match(k) or not isinstance(v, str) or not WORD.match(v):
                return "metrics[%d].tags %r=%r" % (i, k, v)
    return None


class Fake:
    """Enroll, heartbeat, runs and metrics; metric posts answer from a script."""

    def __init__(self):
        self.lock = threading.Lock()
        self.batches = []      # accepted metric bodies, in order
        self.posts = []        # every metric body posted, whatever the answer
        self.runs = []
        self.script = []       # statuses for the next metric posts
        self.errors = []       # contract violations seen
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def answer(self, status, obj):
                data = json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(n)
                if self.path == "/api/v1/agents/enroll":
                    return self.answer(200, {"agent_id": str(uuid.uuid4()), "token": "hot_fake"})
                if self.headers.get("Authorization") != "Bearer hot_fake":
                    return self.answer(401, {"error": "token"})
                if self.path == "/api/v1/agents/heartbeat":
                    return self.answer(200, {})
                if self.path == "/api/v1/runs":
                    runs = json.loads(raw)["runs"]
                    with fake.lock:
                        fake.runs += runs
                    return self.answer(200, {"accepted": len(runs), "duplicates": 0,
                                             "rejected": []})
                if self.path == "/api/v1/metrics":
                    return self.metrics(raw)
                return self.answer(404, {"error": "no such endpoint"})

            def metrics(self, raw):
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = None
                err = check_batch(body)
                with fake.lock:
                    fake.posts.append(body)
                    status = fake.script.pop(0) if fake.script else 200
                    if err:
                        fake.errors.append(err)
                        status = 400
                    dup = status == 200 and any(b["id"] == body["id"] for b in fake.batches)
                    if status == 200 and not dup:
                        fake.batches.append(body)
                if status != 200:
                    return self.answer(status, {"error": err or "scripted failure"})
                return self.answer(200, {"accepted": len(body["metrics"]), "duplicate": dup})

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d" % self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    def metrics(self):
        with self.lock:
            return [m for b in self.batches for m in b["metrics"]]


# ---- packages and the agent -------------------------------------------------

GOOD_STATS = """#!/bin/sh
echo "app.requests 0 42 route=/api code=200"
echo "app.latency_ms $(date +%s) 12.5 route=/api"
echo "app.remote 0 1 owner=db-1"
echo "this line is bad"
echo "app.nan 0 NaN"
"""

SLOW_STATS = """#!/bin/sh
echo "slow.first 0 1"
sleep 30
echo "slow.never 0 2"
"""

OK_TEST = "#!/bin/sh\necho OK\n"


def stats_package(root, name="app", stats=None, interval=60):
    d = os.path.join(root, name)
    write_exec(os.path.join(d, "checks/ok.test"), OK_TEST)
    write_exec(os.path.join(d, "stats/good.stats"), GOOD_STATS)
    write_exec(os.path.join(d, "stats/slow.stats"), SLOW_STATS)
    manifest = {
        "name": name, "version": "1.0.0", "environment": "staging",
        "checks": [{"name": name + ".ok", "interval": 60, "test": {"exec": ["checks/ok.test"]}}],
        "stats": stats if stats is not None else [
            {"name": name + ".good", "interval": interval, "exec": ["stats/good.stats"]},
            {"name": name + ".slow", "interval": interval, "timeout": 1,
             "exec": ["stats/slow.stats"]}],
    }
    with open(os.path.join(d, "healops-package.json"), "w") as f:
        json.dump(manifest, f)
    return d


def agent(env, url, state, pkgs, *extra, timeout=60):
    cmd = [env.bin("healops-agent"), "--server", url, "--state-dir", state, "--name", "node1",
           "--splay", "0", "--enroll-token", "hot_enroll"]
    for p in pkgs:
        cmd += ["--package-dir", p]
    return subprocess.run(cmd + list(extra), capture_output=True, text=True, timeout=timeout)


def spooled(state, kind="metrics"):
    d = os.path.join(state, "spool")
    return sorted(f for f in os.listdir(d) if f.endswith("." + kind)) if os.path.isdir(d) else []


def by_name(metrics, name, **tags):
    return [m for m in metrics if m["name"] == name and
            all(m["tags"].get(k) == v for k, v in tags.items())]


# ---- cases ------------------------------------------------------------------

@case
def test_agent_once_posts_stats_and_host_stats(env):
    fake = Fake()
    try:
        state = os.path.join(env.dir, "state")
        pkg = stats_package(env.dir)
        t0 = time.time()
        r = agent(env, fake.url, state, [pkg], "--once", "--host-stats")
        check(r.returncode == 0, "agent --once exit %d: %s" % (r.returncode, r.stderr))
        check(not fake.errors, "contract violations: %s" % fake.errors)
        check(len(fake.runs) == 1, "runs posted: %d" % len(fake.runs))
        # one batch per collection: two collectors and the host stats
        check(len(fake.batches) == 3, "batches: %d" % len(fake.batches))
        check(len({b["id"] for b in fake.batches}) == 3, "batch ids not unique")
        ms = fake.metrics()
        req = by_name(ms, "app.requests", route="/api", code="200", package="app",
                      environment="staging")
        check(len(req) == 1 and req[0]["value"] == 42, "app.requests: %s" % req)
        ts = time.mktime(time.strptime(req[0]["timestamp"][:19], "%Y-%m-%dT%H:%M:%S")) - time.timezone
        check(t0 - 2 <= ts <= time.time() + 2, "timestamp 0 is not now: %s" % req[0]["timestamp"])
        check(len(by_name(ms, "app.remote", owner="db-1")) == 1, "owner tag lost")
        bad = by_name(ms, "healops.stats.bad_lines", stat="app.good")
        check(len(bad) == 1 and bad[0]["value"] == 2, "bad_lines: %s" % bad)
        # the slow collector was killed at 1 s and kept what it printed
        check(len(by_name(ms, "slow.first")) == 1 and not by_name(ms, "slow.never"),
              "slow collector: %s" % [m["name"] for m in ms if m["name"].startswith("slow")])
        check("timed out after 1 s" in r.stderr, "no timeout log line: %s" % r.stderr)
        check("2 bad lines skipped" in r.stderr and "this line is bad" in r.stderr,
              "no bad-line log: %s" % r.stderr)
        # host stats, CPU rates included (--once waits for two samples)
        for name in ("host.load.1", "host.load.5", "host.load.15", "host.mem.used_pct",
                     "host.cpu.user_pct", "host.cpu.idle_pct"):
            check(len(by_name(ms, name)) == 1, "%s missing" % name)
        pct = by_name(ms, "host.mem.used_pct")[0]["value"]
        check(0 <= pct <= 100, "mem pct %s" % pct)
        disks = by_name(ms, "host.disk.used_pct")
        check(disks and all(d["tags"]["mount"].startswith("/") for d in disks),
              "disks: %s" % disks)
        check(not [m for m in ms if m["tags"].get("iface") == "lo"], "lo reported")
        check(spooled(state) == [], "left in the spool: %s" % spooled(state))
    finally:
        fake.close()


@case
def test_agent_stats_wait_in_spool_and_resend_same_ids(env):
    fake = Fake()
    try:
        state = os.path.join(env.dir, "state")
        pkg = stats_package(env.dir, stats=[{"name": "app.good", "interval": 60,
                                             "exec": ["stats/good.stats"]}])
        fake.script = [503]
        r = agent(env, fake.url, state, [pkg], "--once")
        check(r.returncode == 1, "agent --once should fail: %d %s" % (r.returncode, r.stderr))
        left = spooled(state)
        check(len(left) == 1, "spool: %s" % left)
        first_id = left[0].split(".")[0]
        check(fake.posts and fake.posts[0]["id"] == first_id, "posted id differs")
        # server back: the old batch goes with its id, then the new one
        r = agent(env, fake.url, state, [pkg], "--once")
        check(r.returncode == 0, "second --once: %d %s" % (r.returncode, r.stderr))
        check([b["id"] for b in fake.batches][0] == first_id, "old batch not first or new id")
        check(len(fake.batches) == 2 and spooled(state) == [], "batches %d, spool %s" %
              (len(fake.batches), spooled(state)))
        # a batch the server refuses as malformed is dropped, not retried forever
        fake.script = [400]
        r = agent(env, fake.url, state, [pkg], "--once")
        check(r.returncode == 0, "third --once: %d %s" % (r.returncode, r.stderr))
        check("refused metric batch" in r.stderr, "no drop log: %s" % r.stderr)
        check(spooled(state) == [], "refused batch kept")
    finally:
        fake.close()


@case
def test_agent_daemon_collects_on_interval(env):
    fake = Fake()
    p = None
    try:
        state = os.path.join(env.dir, "state")
        pkg = stats_package(env.dir, stats=[{"name": "app.good", "interval": 1,
                                             "exec": ["stats/good.stats"]}])
        log = open(os.path.join(env.dir, "agent-node1.log"), "a")
        p = subprocess.Popen([env.bin("healops-agent"), "--server", fake.url, "--state-dir", state,
                              "--name", "node1", "--splay", "0", "--enroll-token", "hot_enroll",
                              "--package-dir", pkg, "--host-stats", "--host-stats-interval", "5"],
                             stdout=log, stderr=log)
        log.close()

        def enough():
            ms = fake.metrics()
            return len(by_name(ms, "app.requests")) >= 3 and by_name(ms, "host.cpu.idle_pct")
        wait_for(enough, 15, what="three collections and host stats")
        check(stop(p) == 0, "agent did not stop cleanly")
        check(not fake.errors, "contract violations: %s" % fake.errors)
        stamps = [m["timestamp"] for m in by_name(fake.metrics(), "app.requests")]
        check(stamps == sorted(stamps) and len(set(stamps)) == len(stamps),
              "timestamps not increasing: %s" % stamps)
    finally:
        if p is not None:
            stop(p)
        fake.close()


@case
def test_agent_stats_to_real_server(env):
    """Needs the server's POST /api/v1/metrics (the server side)."""
    env.start_server()
    enroll = env.token("enroll")
    state = os.path.join(env.dir, "state")
    pkg = stats_package(env.dir, stats=[{"name": "app.good", "interval": 60,
                                         "exec": ["stats/good.stats"]}])
    r = env.run_agent(state, [pkg], "--once", "--host-stats", enroll=enroll)
    check(r.returncode == 0, "agent --once exit %d: %s" % (r.returncode, r.stderr))
    check(spooled(state) == [], "metrics left in the spool: %s" % spooled(state))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("names", nargs="*")
    args = ap.parse_args()
    passed = failed = 0
    for fn in CASES:
        if args.names and not any(n in fn.__name__ for n in args.names):
            continue
        env = Env(args.build)
        t0 = time.monotonic()
        try:
            fn(env)
            passed += 1
            print("ok   %s (%.1f s)" % (fn.__name__, time.monotonic() - t0))
        except Failure as e:
            failed += 1
            print("FAIL %s: %s" % (fn.__name__, e))
        except Exception:
            failed += 1
            print("FAIL %s:\n%s" % (fn.__name__, traceback.format_exc()))
        finally:
            env.close()
        sys.stdout.flush()
    print("agent_stats: %d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    sys.exit(main())
