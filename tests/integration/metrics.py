"""Integration cases for GET /metrics (Prometheus exposition, linted by the real
promtool from Debian's prometheus package) and GET /api/v1/checks/AGENT/CHECK/series,
against the real server on loopback. Loaded by run.py through CASES."""

import http.server
import json
import os
import re
import shutil
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

from harness import check, new_run, wait_for

CASES = []
PROM_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def case(fn):
    CASES.append(fn)
    return fn


def get_text(env, path, token=None):
    """GET path; returns (status, content type, body text) without parsing it."""
    req = urllib.request.Request(env.url + path)
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, context=env.ctx, timeout=30) as r:
            return r.status, r.headers.get("Content-Type"), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type"), e.read().decode()


def promtool_check(text):
    tool = shutil.which("promtool") or "/usr/bin/promtool"
    check(os.access(tool, os.X_OK), "promtool is not installed (Debian package prometheus)")
    r = subprocess.run([tool, "check", "metrics"], input=text, capture_output=True, text=True,
                       timeout=30)
    check(r.returncode == 0, "promtool check metrics: %s %s" % (r.stdout, r.stderr))


def label_escape(v):
    return v.replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n")


def samples(text, name):
    """{frozenset of (label, value) pairs: value} for every sample of metric name."""
    out = {}
    pat = re.compile(r'^%s(?:\{(.*)\})? (\S+)$' % re.escape(name))
    lab = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
    for line in text.split("\n"):
        m = pat.match(line)
        if m:
            pairs = frozenset(lab.findall(m.group(1) or ""))
            out[pairs] = float(m.group(2))
    return out


def value(text, name, **labels):
    want = frozenset((k, label_escape(v)) for k, v in labels.items())
    got = samples(text, name)
    check(want in got, "no sample %s%s in /metrics; have %s" % (name, labels, list(got)[:5]))
    return got[want]


def setup(env):
    env.start_server()
    enroll, read = env.token("enroll"), env.token("read")
    st, en = env.request("POST", "/api/v1/agents/enroll", {"name": "web01"}, token=enroll)
    check(st == 201, (st, en))
    return enroll, read, en["token"]


@case
def test_metrics_exposition_is_valid_and_current(env):
    enroll, read, agent = setup(env)
    now = time.time()
    hostile = 'disk\\root "x"\u00e9'
    runs = [new_run("nginx.running", started=now - 30),
            new_run(hostile, outcome="failed", status="critical", started=now - 20,
                    repair={"status": "failed", "exit_code": 1, "output": "no", "duration_ms": 1},
                    retest={"status": "critical", "exit_code": 2, "output": "no",
                            "duration_ms": 1}),
            new_run("nginx.running", started=now - 10, outcome="repaired", status="critical",
                    repair={"status": "succeeded", "exit_code": 0, "output": "ok",
                            "duration_ms": 1},
                    retest={"status": "ok", "exit_code": 0, "output": "ok", "duration_ms": 1})]
    st, body = env.request("POST", "/api/v1/runs", {"runs": runs}, token=agent)
    check(st == 200 and body["accepted"] == 3, body)
    st, _, _ = get_text(env, "/metrics")
    check(st == 401, "no token: %s" % st)
    st, _, _ = get_text(env, "/metrics", token=agent)
    check(st == 403, "agent token: %s" % st)

    st, ctype, text = get_text(env, "/metrics", token=read)
    check(st == 200, "GET /metrics: %s %s" % (st, text[:300]))
    check(ctype == PROM_TYPE, "content type %r" % ctype)
    promtool_check(text)
    check(value(text, "healops_check_outcome", node="web01", package="p1",
                check="nginx.running") == 1, "outcome of nginx.running is not 1 (repaired)")
    check(value(text, "healops_check_outcome", node="web01", package="p1", check=hostile) == 2,
          "outcome of the failed check is not 2")
    check(value(text, "healops_check_consecutive_failures", node="web01", package="p1",
                check=hostile) == 1, "consecutive failures")
    last = value(text, "healops_check_last_run_timestamp_seconds", node="web01", package="p1",
                 check="nginx.running")
    check(abs(last - (now - 10)) < 0.01, "last run %s, want %s" % (last, now - 10))
    check(value(text, "healops_check_stale", node="web01", package="p1",
                check="nginx.running") == 0, "stale")
    check(value(text, "healops_runs_received_total", outcome="failed") == 1, "runs failed")
    check(value(text, "healops_runs_received_total", outcome="repaired") == 1, "runs repaired")
    check(value(text, "healops_agents", silent="false") == 1, "agents")
    check(value(text, "healops_http_requests_total", route="/api/v1/runs", method="POST",
                code="200") == 1, "POST /runs not counted")
    check(value(text, "healops_auth_failures_total") >= 2, "auth failures not counted")
    # routes are templates, never raw paths
    env.request("GET", "/api/v1/agents/web01", token=read)
    env.request("GET", "/no/such/path/%d" % os.getpid(), token=read)
    st, _, text = get_text(env, "/metrics", token=read)
    check(value(text, "healops_http_requests_total", route="/api/v1/agents/:agent", method="GET",
                code="200") == 1, "agent route")
    check(value(text, "healops_http_requests_total", route="/metrics", method="GET",
                code="200") >= 1, "metrics route")
    routes = {dict(k)["route"] for k in samples(text, "healops_http_requests_total")}
    check(all(r == "other" or r.startswith("/") and "web01" not in r for r in routes) and
          "/no/such/path" not in text, "raw path in route labels: %s" % routes)
    inf = value(text, "healops_http_request_duration_seconds_bucket", route="/metrics",
                method="GET", le="+Inf")
    cnt = value(text, "healops_http_request_duration_seconds_count", route="/metrics",
                method="GET")
    check(inf == cnt, "+Inf bucket %s != count %s" % (inf, cnt))
    promtool_check(text)


@case
def test_metrics_series_returns_the_runs_points(env):
    enroll, read, agent = setup(env)
    now = time.time()
    name = 'disk/root "x"'
    runs = [new_run(name, started=now - 300 + i * 60,
                    metrics=[{"name": "used.pct", "value": 40 + i, "tags": {}},
                             {"name": "free bytes", "value": 1.5e9 - i, "tags": {}}])
            for i in range(4)]
    st, body = env.request("POST", "/api/v1/runs", {"runs": runs}, token=agent)
    check(st == 200 and body["accepted"] == 4, body)
    enc = urllib.parse.quote(name, safe="")
    base = "/api/v1/checks/web01/%s/series" % enc

    st, body = env.request("GET", base + "?metric=used.pct", token=read)
    check(st == 200, (st, body))
    check(body["agent"] == "web01" and body["check"] == name and body["metric"] == "used.pct",
          body)
    check([p["v"] for p in body["points"]] == [40, 41, 42, 43], body["points"])
    check(body["points"][0]["t"] == runs[0]["started_at"], body["points"][0])
    check(body["truncated"] is False, body)
    st, body = env.request("GET", base + "?metric=" + urllib.parse.quote("free bytes") +
                           "&limit=2", token=read)
    check(st == 200 and [p["v"] for p in body["points"]] == [1.5e9 - 2, 1.5e9 - 3], body)
    check(body["truncated"] is True, body)
    # without metric=: the names to choose from
    st, body = env.request("GET", base, token=read)
    check(st == 200 and {"used.pct", "free bytes"} <= set(body["metrics"]), body)
    # by agent id too, and a bounded window
    st, ag = env.request("GET", "/api/v1/agents/web01", token=read)
    since = runs[2]["started_at"]
    st, body = env.request("GET", "/api/v1/checks/%s/%s/series?metric=used.pct&since=%s"
                           % (ag["agent_id"], enc, since), token=read)
    check(st == 200 and [p["v"] for p in body["points"]] == [42, 43], body)
    for path, want, field in [(base + "?metric=nope", 404, "metric"),
                              ("/api/v1/checks/web01/nope/series", 404, "check"),
                              ("/api/v1/checks/ghost/%s/series" % enc, 404, "agent"),
                              (base + "?limit=0", 400, "limit"),
                              (base + "?since=yesterday", 400, "since"),
                              (base + "?bogus=1", 400, "bogus")]:
        st, body = env.request("GET", path, token=read)
        check(st == want and body.get("field") == field, "%s -> %s %s" % (path, st, body))
    st, body = env.request("GET", base, token=agent)
    check(st == 403, "agent token read a series: %s" % st)
    st, body = env.request("GET", "/api/v1/checks/web01/%s/series" % enc, token=None)
    check(st == 401, st)
    # the graph route is counted under its template
    st, _, text = get_text(env, "/metrics", token=read)
    check(value(text, "healops_http_requests_total", route="/api/v1/checks/:agent/:check/series",
                method="GET", code="200") >= 4, "series route")


@case
def test_metrics_forwarder_outbox(env):
    """An OpenTSDB forwarder to a local stand-in delivers; a Graphite one to a closed port
    fails and keeps a backlog: both show in /metrics."""
    got = []

    class Put(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            got.append(self.rfile.read(int(self.headers.get("Content-Length", 0))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass
    tsdb = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Put)
    t = threading.Thread(target=tsdb.serve_forever, daemon=True)
    t.start()
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    dead_port = closed.getsockname()[1]
    closed.close()
    tsdb_url = "http://127.0.0.1:%d" % tsdb.server_address[1]
    cfg = os.path.join(env.dir, "server.json")
    with open(cfg, "w") as f:
        json.dump({"forwarders": [
            {"name": "tsdb", "type": "opentsdb", "url": tsdb_url},
            {"name": "dead", "type": "graphite", "address": "127.0.0.1:%d" % dead_port}]}, f)
    try:
        env.start_server("--config", cfg)
        read = env.token("read")
        enroll = env.token("enroll")
        st, en = env.request("POST", "/api/v1/agents/enroll", {"name": "web01"}, token=enroll)
        st, body = env.request("POST", "/api/v1/runs", {"runs": [new_run("c1")]},
                               token=en["token"])
        check(st == 200 and body["accepted"] == 1, body)

        def settled():
            st, _, text = get_text(env, "/metrics", token=read)
            check(st == 200, "GET /metrics %s" % st)
            s = samples(text, "healops_forwarder_delivered_total")
            if frozenset([("forwarder", "tsdb")]) not in s:
                return None
            ok = (value(text, "healops_forwarder_delivered_total", forwarder="tsdb") >= 1 and
                  value(text, "healops_points_pending", forwarder="tsdb") == 0 and
                  value(text, "healops_forwarder_failures_total", forwarder="dead") >= 1)
            return text if ok else None
        text = wait_for(settled, 30, step=0.5, what="tsdb delivered and dead failing")
        promtool_check(text)
        check(got, "the OpenTSDB stand-in got nothing")
        check(value(text, "healops_forwarder_oldest_pending_age_seconds", forwarder="tsdb") == 0,
              "tsdb has nothing pending")
        check(value(text, "healops_forwarder_state", forwarder="tsdb") == 0, "tsdb state")
        check(value(text, "healops_forwarder_last_success_timestamp_seconds",
                    forwarder="tsdb") > time.time() - 60, "tsdb last success")
        check(value(text, "healops_points_pending", forwarder="dead") >= 1, "dead has a backlog")
        check(value(text, "healops_forwarder_oldest_pending_age_seconds", forwarder="dead") >= 0,
              "age of the dead backlog")
        check(value(text, "healops_forwarder_state", forwarder="dead") in (1, 2), "dead state")
        info = [dict(k) for k in samples(text, "healops_forwarder_info")]
        check(any(i["forwarder"] == "tsdb" and i["type"] == "opentsdb" and
                  "127.0.0.1:%d" % tsdb.server_address[1] in i["target"] for i in info),
              "forwarder info: %s" % info)
    finally:
        tsdb.shutdown()
        tsdb.server_close()
        t.join(5)
