"""Integration cases for GET /api/v1/insights (repair statistics per check) and
`healopsctl insights`, against the real server on loopback. Runs are posted with an
agent token so every figure is known exactly. Loaded by run.py through CASES."""

import json
import subprocess
import time

from harness import check, new_run

CASES = []
T0 = time.time() - 6 * 3600  # six hours ago: inside the default 7-day window


def case(fn):
    CASES.append(fn)
    return fn


def step(status, code, output="x"):
    return {"status": status, "exit_code": code, "output": output, "duration_ms": 2}


def repaired(check_name, started, duration_ms=400):
    return new_run(check_name, "web", "repaired", "critical", started=started,
                   duration_ms=duration_ms, repair=step("succeeded", 0),
                   retest=step("ok", 0))


def failed(check_name, started, repair="failed"):
    r = new_run(check_name, "web", "failed", "critical", started=started)
    if repair == "failed":
        r.update(repair=step("failed", 1), retest=step("critical", 2))
    elif repair == "suppressed":
        r.update(repair={"status": "suppressed", "output": "loop guard", "duration_ms": 0})
    return r


def seed(env):
    """Two agents. nginx on web01: a failure streak of 2 runs recovered after 600 s,
    then a still-open streak; two failed repairs and one suppressed. nginx on web02: 6 repairs in the
    last hour (flapping), each 400 ms. disk on web01: only ok runs (not listed)."""
    env.start_server()
    enroll, read = env.token("enroll"), env.token("read")
    toks = {}
    for name in ("web01", "web02"):
        st, en = env.request("POST", "/api/v1/agents/enroll", {"name": name}, token=enroll)
        check(st == 201, (st, en))
        toks[name] = en["token"]
    a = [new_run("nginx", "web", started=T0),
         failed("nginx", T0 + 60),
         failed("nginx", T0 + 120, repair="suppressed"),
         new_run("nginx", "web", started=T0 + 660),
         failed("nginx", T0 + 1000),
         new_run("disk", "web", started=T0)]
    now = time.time()
    b = [repaired("nginx", now - 3000 + i * 300) for i in range(6)]
    for name, runs in (("web01", a), ("web02", b)):
        st, body = env.request("POST", "/api/v1/runs", {"runs": runs}, token=toks[name])
        check(st == 200 and body["accepted"] == len(runs), (st, body))
    return read


@case
def test_insights_figures_per_check(env):
    read = seed(env)
    st, body = env.request("GET", "/api/v1/insights", token=read)
    check(st == 200, (st, body))
    checks = {(c["package"], c["check"]): c for c in body["checks"]}
    check(list(checks) == [("web", "nginx")], "only checks with failures or repairs: %s"
          % list(checks))
    c = checks[("web", "nginx")]
    want = {"agents": 2, "failures": 3, "repairs_attempted": 8, "repairs_succeeded": 6,
            "repairs_suppressed": 1, "incidents": 2, "open_incidents": 1,
            "mean_time_to_recovery_s": 600.0, "mean_repair_ms": 400.0, "flapping": True,
            "flapping_count": 1, "flapping_agents": ["web02"]}
    for k, v in want.items():
        check(c[k] == v, "%s: got %r, want %r (%s)" % (k, c[k], v, c))
    check(c["repair_success_rate"] == 0.75, c)
    check(c["repairs_per_day"] == 1.14, c)  # 8 repairs over 7 days


@case
def test_insights_filters_and_bad_parameters(env):
    read = seed(env)
    st, body = env.request("GET", "/api/v1/insights?agent=web01", token=read)
    check(st == 200, (st, body))
    c = body["checks"][0]
    check(c["repairs_attempted"] == 2 and c["flapping"] is False and c["agents"] == 1, c)
    st, body = env.request("GET", "/api/v1/insights?check=disk", token=read)
    check(st == 200 and body["checks"] == [], (st, body))
    since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 3600))
    st, body = env.request("GET", "/api/v1/insights?since=" + since, token=read)
    check(st == 200 and body["checks"][0]["repairs_succeeded"] == 6, (st, body))
    for q, field in (("agent=nobody", "agent"), ("limit=0", "limit"), ("since=yesterday", "since"),
                     ("since=2099-01-01T00:00:00Z", "until"), ("colour=red", "colour")):
        st, body = env.request("GET", "/api/v1/insights?" + q, token=read)
        check(st in (400, 404) and body.get("field") == field, (q, st, body))
    st, _ = env.request("GET", "/api/v1/insights")
    check(st == 401, st)


@case
def test_healopsctl_insights(env):
    read = seed(env)
    ctl = [env.bin("healopsctl"), "--server", env.url, "--token", read, "--ca-file", env.ca]
    r = subprocess.run(ctl + ["insights"], capture_output=True, text=True, timeout=30)
    check(r.returncode == 0, (r.returncode, r.stderr))
    lines = r.stdout.strip().split("\n")
    check(lines[0].split()[:2] == ["PACKAGE", "CHECK"] and "nginx" in lines[1], r.stdout)
    check("web02" in r.stdout and "75%" in lines[1], r.stdout)
    r = subprocess.run(ctl + ["insights", "--json", "--agent", "web02"], capture_output=True,
                       text=True, timeout=30)
    check(r.returncode == 0, (r.returncode, r.stderr))
    body = json.loads(r.stdout)
    check(body["checks"][0]["repairs_succeeded"] == 6, body)
