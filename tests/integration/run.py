#!/usr/bin/env python3
"""HealOps integration tests: the real binaries on loopback with TLS.

Each case is one scenario; every case gets its own server, database and
agents, and stops them. The last line is "integration: N passed, N failed".
"""

import argparse
import importlib
import os
import subprocess
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import Env, Failure, check, new_run, stop, wait_for, write_package  # noqa: E402

CASES = []


def case(fn):
    CASES.append(fn)
    return fn


FILE_TEST = """#!/bin/sh
f="$1"
echo run >> "$2"
if [ -f "$f" ] && grep -q '^good$' "$f"; then
    echo "OK - $f is good | 'size'=5B;;;0"
    exit 0
fi
echo "CRITICAL - $f missing or bad | 'size'=0B;;;0"
exit 2
"""

FILE_REPAIR = """#!/bin/sh
input=$(cat)
echo "$input" > "$2"
echo good > "$1"
echo "restored $1 (was $HEALOPS_TEST_STATUS)"
"""

FAILING_REPAIR = """#!/bin/sh
echo "cannot fix it" >&2
echo "tried and failed"
exit 1
"""


def file_package(env, name="files", repair=FILE_REPAIR, **check_extra):
    target = os.path.join(env.dir, name + ".conf")
    counter = os.path.join(env.dir, name + ".count")
    stdin_copy = os.path.join(env.dir, name + ".stdin")
    chk = {"name": name + ".conf", "interval": 60, "timeout": 5,
           "test": {"exec": ["checks/file.test", target, counter]},
           "repair": {"exec": ["checks/file.repair", target, stdin_copy], "timeout": 5}}
    chk.update(check_extra)
    pkg = write_package(env.dir, name, [chk],
                        scripts={"checks/file.test": FILE_TEST, "checks/file.repair": repair})
    return pkg, target, counter, stdin_copy


def start(env):
    env.start_server()
    return env.token("enroll"), env.token("read")


@case
def test_broken_check_is_repaired(env):
    enroll, read = start(env)
    pkg, target, _, stdin_copy = file_package(env)
    r = env.run_agent(os.path.join(env.dir, "a1"), [pkg], "--once", enroll=enroll)
    check(r.returncode == 0, "agent --once exit %d: %s" % (r.returncode, r.stderr))
    check(open(target).read().strip() == "good", "repair did not restore the file")
    st, body = env.request("GET", "/api/v1/repairs", token=read)
    check(st == 200 and len(body["runs"]) == 1, "repairs: %s %s" % (st, body))
    run = body["runs"][0]
    check(run["outcome"] == "repaired", "outcome %s" % run["outcome"])
    check(run["test"]["status"] == "critical" and run["test"]["exit_code"] == 2, run["test"])
    check(run["repair"]["status"] == "succeeded", run["repair"])
    check("restored" in run["repair"]["output"], run["repair"])
    check(run["retest"]["status"] == "ok", run["retest"])
    check(run["agent"] == "node1" and run["manual"] is False, run)
    names = {m["name"] for m in run["metrics"]}
    check("size" in names, "perfdata metrics missing: %s" % run["metrics"])
    # the repair got the failed test's result on stdin as JSON
    import json
    got = json.loads(open(stdin_copy).read())
    check(got["status"] == "critical" and got["check"] == "files.conf", got)
    st, state = env.request("GET", "/api/v1/state", token=read)
    check(st == 200 and state["states"][0]["outcome"] == "repaired", state)
    # the next cycle sees it healthy
    r = env.run_agent(os.path.join(env.dir, "a1"), [pkg], "--once")
    check(r.returncode == 0, r.stderr)
    st, body = env.request("GET", "/api/v1/runs?outcome=ok", token=read)
    check(len(body["runs"]) == 1, body)


@case
def test_failed_repair_gives_failed(env):
    enroll, read = start(env)
    pkg, target, _, _ = file_package(env, repair=FAILING_REPAIR)
    r = env.run_agent(os.path.join(env.dir, "a1"), [pkg], "--once", enroll=enroll)
    check(r.returncode == 0, r.stderr)
    runs = env.runs(read)
    check(len(runs) == 1, runs)
    run = runs[0]
    check(run["outcome"] == "failed", run["outcome"])
    check(run["repair"]["status"] == "failed" and run["repair"]["exit_code"] == 1, run["repair"])
    check(run["retest"]["status"] == "critical", run["retest"])
    st, state = env.request("GET", "/api/v1/state", token=read)
    check(state["states"][0]["consecutive_failures"] == 1, state)


@case
def test_report_only_does_not_repair(env):
    enroll, read = start(env)
    pkg, target, _, _ = file_package(env, report_only=True)
    r = env.run_agent(os.path.join(env.dir, "a1"), [pkg], "--once", enroll=enroll)
    check(r.returncode == 0, r.stderr)
    check(not os.path.exists(target), "report_only check was repaired")
    run = env.runs(read)[0]
    check(run["outcome"] == "failed" and "repair" not in run, run)
    # the agent-wide flag too, on a check that is not report_only
    pkg2, target2, _, _ = file_package(env, name="other")
    r = env.run_agent(os.path.join(env.dir, "a1"), [pkg2], "--once", "--report-only")
    check(r.returncode == 0 and not os.path.exists(target2), r.stderr)


@case
def test_loop_guard_holds_across_restarts(env):
    enroll, read = start(env)
    pkg, target, _, _ = file_package(env, repair=FAILING_REPAIR,
                                     max_repairs={"count": 2, "window": 3600})
    state = os.path.join(env.dir, "a1")
    for i in range(3):  # three separate agent processes, as cron or systemd restarts would
        r = env.run_agent(state, [pkg], "--once", enroll=enroll)
        check(r.returncode == 0, r.stderr)
    runs = env.runs(read)
    statuses = [x["repair"]["status"] for x in reversed(runs)]
    check(statuses == ["failed", "failed", "suppressed"], statuses)
    last = runs[0]
    check(last["outcome"] == "failed" and "retest" not in last, last)
    check("loop guard" in last["repair"]["output"], last["repair"])


@case
def test_hanging_test_is_killed_at_timeout(env):
    enroll, read = start(env)
    marker = "healops-hang-%d" % os.getpid()
    pkg = write_package(env.dir, "hang", [
        {"name": "hang.check", "interval": 60, "timeout": 1,
         "test": {"exec": ["checks/hang.test"]}}],
        scripts={"checks/hang.test": "#!/bin/sh\n(exec -a %s sleep 120) &\nsleep 120\n" % marker})
    t0 = time.monotonic()
    r = env.run_agent(os.path.join(env.dir, "a1"), [pkg], "--once", enroll=enroll)
    took = time.monotonic() - t0
    check(r.returncode == 0, r.stderr)
    check(took < 15, "took %.1f s" % took)
    run = env.runs(read)[0]
    check(run["outcome"] == "error", run)
    check("timed out" in run["test"]["output"], run["test"])
    left = subprocess.run(["pgrep", "-f", marker], capture_output=True, text=True).stdout
    check(left.strip() == "", "grandchild survived the timeout: %s" % left)


@case
def test_exec_failure_is_error_with_reason(env):
    enroll, read = start(env)
    pkg = write_package(env.dir, "badexec", [
        {"name": "bad.interp", "interval": 60, "timeout": 5,
         "test": {"exec": ["checks/bad.test"]}}],
        scripts={"checks/bad.test": "#!/nonexistent/interpreter\necho never\n"})
    r = env.run_agent(os.path.join(env.dir, "a1"), [pkg], "--once", enroll=enroll)
    check(r.returncode == 0, r.stderr)
    run = env.runs(read)[0]
    check(run["outcome"] == "error", run)
    out = run["test"]["output"]
    check("No such file" in out and "bad.test" in out, "unclear exec failure: %r" % out)
    # a missing test script is refused when the package loads, naming the field
    os.remove(os.path.join(pkg, "checks/bad.test"))
    r = env.run_agent(os.path.join(env.dir, "a1"), [pkg], "--once")
    check(r.returncode != 0 and "checks[0].test.exec[0]" in r.stderr, r.stderr)


@case
def test_manual_run_is_recorded(env):
    enroll, read = start(env)
    pkg, target, _, _ = file_package(env)
    state = os.path.join(env.dir, "a1")
    r = env.run_agent(state, [pkg], "run", "files/files.conf", "--report-only", enroll=enroll)
    check(r.returncode == 2, "exit %d (want 2 CRITICAL): %s %s" % (r.returncode, r.stdout,
                                                                     r.stderr))
    check("failed" in r.stdout and "CRITICAL" in r.stdout, r.stdout)
    r = env.run_agent(state, [pkg], "run", "files/files.conf", "--json")
    check(r.returncode == 0, "exit %d: %s" % (r.returncode, r.stderr))
    import json
    got = json.loads(r.stdout)
    check(got["outcome"] == "repaired" and got["manual"] is True, got)
    runs = env.runs(read, "manual=true")
    check(len(runs) == 2 and all(x["manual"] for x in runs), runs)
    check(all(x.get("operator") for x in runs), "operator missing: %s" % runs)
    r = env.run_agent(state, [pkg], "run", "files/nope")
    check(r.returncode == 3 and "no check" in r.stderr, r.stderr)


@case
def test_spool_survives_server_outage(env):
    enroll, read = start(env)
    counter = os.path.join(env.dir, "beat.count")
    pkg = write_package(env.dir, "beat", [
        {"name": "beat.tick", "interval": 1, "timeout": 5,
         "test": {"exec": ["checks/tick.test", counter]}}],
        scripts={"checks/tick.test": "#!/bin/sh\necho x >> \"$1\"\necho OK\n"})
    state = os.path.join(env.dir, "a1")
    agent = env.spawn_agent(state, [pkg], "--heartbeat-interval", "5", enroll=enroll)
    wait_for(lambda: len(env.runs(read)) >= 2, 15, what="first runs")
    env.stop_server()
    down_at = time.time()
    time.sleep(6)
    spooled = len([f for f in os.listdir(os.path.join(state, "spool")) if f.endswith(".run")])
    check(spooled >= 3, "only %d runs spooled during the outage" % spooled)
    env.start_server()
    up_at = time.time()
    wait_for(lambda: len(env.runs(read)) >= spooled, 60, what="spooled runs to arrive")
    stop(agent)
    r = env.run_agent(state, [pkg], "--once")  # one more cycle, and flush what is left
    check(r.returncode == 0, r.stderr)
    runs = env.runs(read)
    made = len(open(counter).read().split())
    ids = [x["id"] for x in runs]
    check(len(ids) == len(set(ids)), "duplicate runs stored")
    check(len(runs) == made, "%d runs made, %d stored" % (made, len(runs)))
    from datetime import datetime
    def ts(s):
        return datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").timestamp() - time.timezone
    during = [x for x in runs if down_at + 0.5 < ts(x["started_at"]) < up_at - 0.5]
    check(len(during) >= 3, "runs made during the outage lost their timestamps: %d" % len(during))


@case
def test_duplicate_batches_are_ignored(env):
    enroll, read = start(env)
    st, en = env.request("POST", "/api/v1/agents/enroll", {"name": "n1", "labels": {"role": "web"}},
                         token=enroll)
    check(st == 201 and en["token"].startswith("hot_"), (st, en))
    batch = {"runs": [new_run("c%d" % i) for i in range(5)]}
    st, body = env.request("POST", "/api/v1/runs", batch, token=en["token"])
    check(st == 200 and body == {"accepted": 5, "duplicates": 0, "rejected": []}, body)
    st, body = env.request("POST", "/api/v1/runs", batch, token=en["token"])
    check(st == 200 and body["accepted"] == 0 and body["duplicates"] == 5, body)
    check(len(env.runs(read)) == 5, "stored twice")
    st, agents = env.request("GET", "/api/v1/agents", token=read)
    check(agents["agents"][0]["labels"] == {"role": "web"}, agents)


@case
def test_bad_input_is_refused_and_stores_nothing(env):
    enroll, read = start(env)
    st, en = env.request("POST", "/api/v1/agents/enroll", {"name": "n1"}, token=enroll)
    tok = en["token"]
    good = new_run()
    bad_type = dict(new_run(), duration_ms="slow")
    cases = [
        ("malformed JSON", dict(raw=b'{"runs": [', token=tok), 400, None),
        ("runs not an array", dict(body={"runs": {}}, token=tok), 400, "runs"),
        ("no runs", dict(body={"batch": []}, token=tok), 400, "runs"),
        ("no token", dict(body={"runs": [good]}), 401, None),
        ("bad token", dict(body={"runs": [good]}, token="hot_not-a-real-token"), 401, None),
        ("read token cannot post", dict(body={"runs": [good]}, token=read), 403, None),
    ]
    for name, kw, want, field in cases:
        st, body = env.request("POST", "/api/v1/runs", **kw)
        check(st == want, "%s: status %s want %s (%s)" % (name, st, want, body))
        check(isinstance(body, dict) and body.get("error"), "%s: no JSON error: %r" % (name, body))
        if field:
            check(body.get("field") == field, "%s: field %r" % (name, body.get("field")))
    # oversize bodies: answered 413 before the upload ends (curl reads that early answer;
    # Python's client does not), with and without a Content-Length
    big = os.path.join(env.dir, "big.json")
    with open(big, "wb") as f:
        f.write(b'{"runs":["' + b"x" * (17 * 1024 * 1024) + b'"]}')
    for extra in ([], ["-H", "Transfer-Encoding: chunked"]):
        r = subprocess.run(["curl", "-s", "--cacert", env.ca, "-H", "Authorization: Bearer " + tok,
                            "-H", "Content-Type: application/json", "--data-binary", "@" + big,
                            "-w", "\n%{http_code}", env.url + "/api/v1/runs"] + extra,
                           capture_output=True, text=True, timeout=60)
        body, _, code = r.stdout.rpartition("\n")
        check(code == "413" and '"error"' in body, "oversize %s: %r" % (extra, r.stdout[-200:]))
    check(env.runs(read) == [], "a refused request stored something")
    # a wrong type inside one run rejects that run only, naming the field
    st, body = env.request("POST", "/api/v1/runs", {"runs": [bad_type, good]}, token=tok)
    check(st == 200 and body["accepted"] == 1 and len(body["rejected"]) == 1, body)
    check(body["rejected"][0]["index"] == 0 and body["rejected"][0]["field"] == "duration_ms",
          body)
    check(len(env.runs(read)) == 1, "rejected run stored")
    for q, field in [("limit=0", "limit"), ("outcome=bogus", "outcome"), ("since=yesterday", "since"),
                     ("cursor=zzz", "cursor"), ("nope=1", "nope")]:
        st, body = env.request("GET", "/api/v1/runs?" + q, token=read)
        check(st == 400 and body.get("field") == field, "%s -> %s %s" % (q, st, body))
    st, body = env.request("GET", "/api/v1/runs", token=enroll)
    check(st == 403, "enroll token read history: %s" % st)
    # the server is still serving
    st, _ = env.request("GET", "/healthz")
    check(st == 200, "server stopped answering")


@case
def test_history_filters_and_paging(env):
    enroll, read = start(env)
    st, en = env.request("POST", "/api/v1/agents/enroll", {"name": "n1"}, token=enroll)
    now = time.time()
    runs = [new_run("c%d" % (i % 3), started=now - 100 + i,
                    outcome="repaired" if i % 5 == 0 else "ok") for i in range(50)]
    for r in runs:
        if r["outcome"] == "repaired":
            r["test"]["status"] = "critical"
            r["repair"] = {"status": "succeeded", "exit_code": 0, "output": "fixed",
                           "duration_ms": 1}
            r["retest"] = {"status": "ok", "exit_code": 0, "output": "ok", "duration_ms": 1}
    st, body = env.request("POST", "/api/v1/runs", {"runs": runs}, token=en["token"])
    check(body["accepted"] == 50, body)
    seen, cursor = [], None
    for _ in range(20):
        st, page = env.request("GET", "/api/v1/runs?limit=7" + ("&cursor=" + cursor if cursor
                                                                else ""), token=read)
        check(st == 200 and len(page["runs"]) <= 7, page)
        seen += [x["id"] for x in page["runs"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    want = [r["id"] for r in sorted(runs, key=lambda r: r["started_at"], reverse=True)]
    check(seen == want, "paging order/coverage wrong")
    check(len(env.runs(read, "outcome=repaired")) == 10, "outcome filter")
    check(len(env.runs(read, "check=c1")) == 17, "check filter")
    check(len(env.runs(read, "agent=n1")) == 50 and env.runs(read, "agent=other") == [], "agent")
    st, body = env.request("GET", "/api/v1/repairs?limit=1000", token=read)
    check(len(body["runs"]) == 10 and all("repair" in x for x in body["runs"]), "repairs")
    since = runs[40]["started_at"]
    check(len(env.runs(read, "since=" + since)) == 10, "since filter")


@case
def test_backup_and_check_beside_a_running_server(env):
    enroll, read = start(env)
    st, en = env.request("POST", "/api/v1/agents/enroll", {"name": "n1"}, token=enroll)
    st, body = env.request("POST", "/api/v1/runs", {"runs": [new_run("c%d" % i)
                                                            for i in range(20)]},
                           token=en["token"])
    check(body["accepted"] == 20, body)
    copy = os.path.join(env.dir, "copy.db")
    r = subprocess.run([env.bin("healops-server"), "backup", copy, "--db", env.db],
                       capture_output=True, text=True, timeout=30)
    check(r.returncode == 0 and os.path.exists(copy), r.stderr)
    r = subprocess.run([env.bin("healops-server"), "backup", copy, "--db", env.db],
                       capture_output=True, text=True, timeout=30)
    check(r.returncode != 0 and "exists" in r.stderr, "backup overwrote a file")
    r = subprocess.run([env.bin("healops-server"), "check", "--db", copy],
                       capture_output=True, text=True, timeout=30)
    check(r.returncode == 0 and "ok" in r.stdout, r.stdout + r.stderr)
    import sqlite3
    n = sqlite3.connect(copy).execute("SELECT count(*) FROM runs").fetchone()[0]
    check(n == 20, "backup holds %d runs" % n)
    # a damaged file is reported, with a non-zero exit
    with open(copy, "r+b") as f:
        f.seek(4096)
        f.write(os.urandom(8192))
    r = subprocess.run([env.bin("healops-server"), "check", "--db", copy],
                       capture_output=True, text=True, timeout=30)
    check(r.returncode == 1 and "problem" in r.stderr, r.stdout + r.stderr)


@case
def test_tokens_are_revocable(env):
    env.start_server()
    admin = env.token("admin")
    st, tok = env.request("POST", "/api/v1/tokens", {"scope": "read", "name": "wall screen"},
                          token=admin)
    check(st == 201 and tok["token"].startswith("hot_") and tok["id"] > 0, (st, tok))
    check(env.request("GET", "/api/v1/runs", token=tok["token"])[0] == 200, "new token refused")
    st, body = env.request("DELETE", "/api/v1/tokens/%d" % tok["id"], token=tok["token"])
    check(st == 403, "a read token revoked a token: %s" % st)
    st, body = env.request("DELETE", "/api/v1/tokens/%d" % tok["id"], token=admin)
    check(st == 200 and body == {"id": tok["id"], "revoked": True}, (st, body))
    st, body = env.request("GET", "/api/v1/runs", token=tok["token"])
    check(st == 401 and body.get("error"), "revoked token still works: %s" % st)
    st, body = env.request("DELETE", "/api/v1/tokens/%d" % tok["id"], token=admin)
    check(st == 404 and body.get("field") == "id", (st, body))
    st, body = env.request("DELETE", "/api/v1/tokens/abc", token=admin)
    check(st == 400 and body.get("field") == "id", (st, body))
    st, body = env.request("POST", "/api/v1/tokens", {"scope": "read", "expires_in": 1},
                           token=admin)
    check(st == 201, body)
    time.sleep(1.2)
    check(env.request("GET", "/api/v1/runs", token=body["token"])[0] == 401, "expired token works")


@case
def test_help_lists_flags(env):
    for binary, flags in [("healops-server", ["--listen", "--db", "--tls-cert", "--tls-key",
                                              "--tls-client-ca", "--log-level", "--config"]),
                          ("healops-agent", ["--server", "--ca-file", "--state-dir", "--name",
                                             "--label", "--enroll-token", "--package-dir",
                                             "--trust-key", "--once", "--log-level",
                                             "--config"])]:
        r = subprocess.run([env.bin(binary), "--help"], capture_output=True, text=True,
                           timeout=10)
        check(r.returncode == 0, "%s --help exit %d" % (binary, r.returncode))
        for f in flags:
            check(f in r.stdout, "%s --help lacks %s" % (binary, f))
    r = subprocess.run([env.bin("healops-server"), "--bogus"], capture_output=True, text=True,
                       timeout=10)
    check(r.returncode == 2 and "--bogus" in r.stderr, r.stderr)
    for binary in ("healops-server", "healops-agent", "healopsctl"):
        r = subprocess.run([env.bin(binary), "--version"], capture_output=True, text=True,
                           timeout=10)
        check(r.returncode == 0 and r.stdout.startswith(binary + " "), r.stdout)
    # token create takes the server's own config file for its database
    import json
    cfg = os.path.join(env.dir, "server.json")
    db = os.path.join(env.dir, "from-config.db")
    with open(cfg, "w") as f:
        json.dump({"db": db, "listen": "127.0.0.1:1"}, f)
    r = subprocess.run([env.bin("healops-server"), "token", "create", "--scope", "read",
                        "--config", cfg], capture_output=True, text=True, timeout=10)
    check(r.returncode == 0 and r.stdout.startswith("hot_") and os.path.exists(db), r.stderr)


def load_case_modules():
    """Adds the CASES list of every other module here (metrics.py, forwarding.py...)."""
    here = os.path.dirname(os.path.abspath(__file__))
    for f in sorted(os.listdir(here)):
        if f.endswith(".py") and f not in ("run.py", "harness.py"):
            mod = importlib.import_module(f[:-3])
            CASES.extend(fn for fn in getattr(mod, "CASES", []) if fn not in CASES)


def main():
    load_case_modules()
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--keep", action="store_true", help="keep temp folders of failed cases")
    ap.add_argument("names", nargs="*", help="run only cases whose name contains one of these")
    args = ap.parse_args()
    passed = failed = 0
    for fn in CASES:
        if args.names and not any(n in fn.__name__ for n in args.names):
            continue
        env = Env(args.build)
        t0 = time.monotonic()
        ok = False
        try:
            fn(env)
            ok = True
        except Failure as e:
            print("FAIL %s: %s" % (fn.__name__, e))
        except Exception:
            print("FAIL %s:\n%s" % (fn.__name__, traceback.format_exc()))
        finally:
            if not ok:
                print("  server log tail:\n" + env.tail(env.server_log, 15))
                for f in os.listdir(env.dir):
                    if f.startswith("agent-") and f.endswith(".log"):
                        print("  %s tail:\n%s" % (f, env.tail(os.path.join(env.dir, f), 15)))
            env.close(keep=(not ok and args.keep))
        if ok:
            passed += 1
            print("ok   %s (%.1f s)" % (fn.__name__, time.monotonic() - t0))
        else:
            failed += 1
        sys.stdout.flush()
    print("integration: %d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
