"""Integration cases for alerts (DESIGN.md section 8): runs posted with an agent token open
and resolve alerts, which reach a local webhook receiver (plain HTTP on a free port) through
the durable outbox, also when the receiver only comes up later; a receiver answering 400 is
marked failed (GET /api/v1/alerts deliveries, GET /api/v1/receivers) and its fallback gets
the alert; a real prometheus-alertmanager on loopback shows the alert active, then resolved;
a silent agent opens an alert that its next heartbeat resolves. Loaded by run.py (CASES)."""

import http.server
import json
import os
import shutil
import subprocess
import threading
import time
import urllib.error
import urllib.request

from harness import Failure, check, free_port, new_run, stop, wait_for

CASES = []


def case(fn):
    CASES.append(fn)
    return fn


class Hook:
    """A webhook receiver on 127.0.0.1:port answering `status`; keeps every POST body."""

    def __init__(self, port=None, status=200):
        self.port = port or free_port()
        self.status = status
        self.bodies = []
        self.headers = []
        self.srv = None
        self.thread = None

    @property
    def url(self):
        return "http://127.0.0.1:%d/hook" % self.port

    def start(self):
        hook = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                data = self.rfile.read(min(n, 1 << 20))
                if hook.status < 300:
                    hook.bodies.append(json.loads(data.decode()))
                    hook.headers.append(dict(self.headers))
                self.send_response(hook.status)
                self.send_header("Content-Type", "application/json")
                answer = b'{"ok":true}' if hook.status < 300 else b'{"error":"bad alert"}'
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.srv.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self):
        if self.srv is not None:
            self.srv.shutdown()
            self.srv.server_close()
            self.thread.join(5)
            self.srv = None

    def events(self):
        return [(b["event"], b["alert"]["kind"], b["alert"]["check"]) for b in self.bodies]


def write_config(env, receivers, **alerting):
    conf = {"alerting": {"after_failures": 1, "evaluate_every": 1, "repeat_every": 3600,
                         "agent_silent_after": 10}, "receivers": receivers,
            "public_url": "https://healops.example:8443"}
    conf["alerting"].update(alerting)
    path = os.path.join(env.dir, "server.json")
    with open(path, "w") as f:
        json.dump(conf, f)
    return path


def enroll(env, name="web-1"):
    st, en = env.request("POST", "/api/v1/agents/enroll", {"name": name, "labels": {"role": "web"}},
                         token=env.token("enroll"))
    check(st == 201, (st, en))
    return en["token"], en["agent_id"]


ALERT_BLOCK = {"severity": "warning", "runbook": "https://wiki.example/nginx",
               "docs": ["https://nginx.org/en/docs/"], "advice": "Check the error log.",
               "login": "ssh ops@{node}"}


def post_run(env, agent, outcome, check_name="nginx.running"):
    if outcome == "ok":
        r = new_run(check_name, package="nginx", outcome="ok", status="ok")
    else:
        r = new_run(check_name, package="nginx", outcome=outcome, status="critical",
                    alert=ALERT_BLOCK)
        r["test"]["output"] = "2 workers, want >= 4"
    st, res = env.request("POST", "/api/v1/runs", {"runs": [r]}, token=agent)
    check(st == 200 and res["accepted"] == 1, "POST /runs: %s %s" % (st, res))


def alerts(env, read, query=""):
    st, body = env.request("GET", "/api/v1/alerts" + query, token=read)
    check(st == 200, "GET /api/v1/alerts%s: %s %s" % (query, st, body))
    return body["alerts"]


def no_secrets(env, read, secret):
    for path in ("/api/v1/alerts", "/api/v1/receivers"):
        st, body = env.request("GET", path, token=read)
        check(secret not in json.dumps(body), "%s shows a secret: %s" % (path, body))
    check(secret not in env.tail(env.server_log, 1000), "the server log shows a secret")


@case
def test_alerts_webhook_trigger_resolve_and_late_receiver(env):
    """A webhook down during the failure gets the trigger once it is up, then the resolve."""
    hook = Hook()
    cfg = write_config(env, [{"name": "hook", "type": "webhook", "url": hook.url,
                              "headers": {"X-Hook-Secret": "s3cr3t-hdr"}, "timeout": 2}])
    env.start_server("--config", cfg)
    read = env.token("read")
    agent, agent_id = enroll(env)
    try:
        post_run(env, agent, "failed")

        def pending_retried():
            a = alerts(env, read, "?state=open")
            return a and a[0]["deliveries"] and a[0]["deliveries"][0]["attempts"] >= 1 and a
        a = wait_for(pending_retried, 15, what="a failed delivery attempt")[0]
        check(a["kind"] == "failed" and a["severity"] == "warning" and a["check"] == "nginx.running"
              and a["agent"] == "web-1" and a["state"] == "open", a)
        check(a["context"]["login"] == "ssh ops@web-1", a["context"])
        check(a["context"]["test_output"] == "2 workers, want >= 4", a["context"])
        d = a["deliveries"][0]
        check(d["state"] == "pending" and d["receiver"] == "hook" and d["last_error"], d)
        check("url" not in d and "body" not in d and "headers" not in d, d)
        st, state = env.request("GET", "/api/v1/state", token=read)
        check(st == 200 and state["states"][0]["alert"]["id"] == a["id"] and
              state["states"][0]["alert"]["kind"] == "failed", state)
        hook.start()
        wait_for(lambda: hook.events() == [("trigger", "failed", "nginx.running")], 20,
                 what="the trigger at the receiver that came up late")
        body = hook.bodies[0]
        check(body["version"] == 1 and body["alert"]["key"] == "healops:%s:nginx.running"
              % agent_id, body)
        check(body["alert"]["summary"].startswith("web-1 nginx.running failed"), body)
        check(body["alert"]["dashboard_url"] ==
              "https://healops.example:8443/#/check/web-1/nginx.running", body)
        check(hook.headers[0].get("X-Hook-Secret") == "s3cr3t-hdr", hook.headers[0])
        post_run(env, agent, "ok")
        wait_for(lambda: [e[0] for e in hook.events()] == ["trigger", "resolve"], 15,
                 what="the resolve at the receiver")
        a = alerts(env, read)[0]
        check(a["state"] == "resolved" and a["resolved_at"], a)
        check([d["state"] for d in a["deliveries"]] == ["delivered", "delivered"], a)
        st, state = env.request("GET", "/api/v1/state", token=read)
        check(state["states"][0]["alert"] is None, state)
        st, rcv = env.request("GET", "/api/v1/receivers", token=read)
        check(st == 200 and rcv["receivers"][0]["name"] == "hook" and
              rcv["receivers"][0]["delivered"] == 2 and rcv["receivers"][0]["pending"] == 0, rcv)
        no_secrets(env, read, "s3cr3t-hdr")
    finally:
        hook.stop()


@case
def test_alerts_rejected_receiver_marked_failed_and_fallback_used(env):
    """A 400 is not retried: the delivery is failed, visible, and the fallback gets the alert."""
    bad, backup = Hook(status=400).start(), Hook().start()
    cfg = write_config(env, [
        {"name": "primary", "type": "webhook", "url": bad.url, "fallback": "backup"},
        {"name": "backup", "type": "webhook", "url": backup.url,
         "match": {"severity": ["critical"]}}])
    env.start_server("--config", cfg)
    read = env.token("read")
    agent, _ = enroll(env)
    try:
        post_run(env, agent, "error")
        wait_for(lambda: backup.events() == [("trigger", "failed", "nginx.running")], 15,
                 what="the alert at the fallback receiver")
        a = alerts(env, read)[0]
        ds = {d["receiver"]: d for d in a["deliveries"]}
        check(ds["primary"]["state"] == "failed" and ds["primary"]["last_status"] == 400 and
              ds["primary"]["attempts"] == 1 and "HTTP 400" in ds["primary"]["last_error"], ds)
        check(ds["backup"]["state"] == "delivered" and
              ds["backup"]["fallback_of"] == ds["primary"]["id"], ds)
        st, rcv = env.request("GET", "/api/v1/receivers", token=read)
        r = {x["name"]: x for x in rcv["receivers"]}
        check(r["primary"]["failed"] == 1 and r["primary"]["failing"] and
              "HTTP 400" in r["primary"]["last_error"] and r["primary"]["type"] == "webhook", r)
        check(r["backup"]["delivered"] == 1 and not r["backup"]["failing"], r)
        st, body = env.request("GET", "/api/v1/alerts?state=bogus", token=read)
        check(st == 400 and body["field"] == "state", body)
        st, body = env.request("GET", "/api/v1/alerts?kind=failed&check=nginx.running&limit=1",
                               token=read)
        check(st == 200 and len(body["alerts"]) == 1, body)
    finally:
        bad.stop()
        backup.stop()


def am_get(port, path):
    with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=5) as r:
        return json.loads(r.read().decode())


@case
def test_alerts_alertmanager_active_then_resolved(env):
    """A real Alertmanager shows the alert active, then resolved after the check recovers."""
    binary = shutil.which("prometheus-alertmanager") or "/usr/bin/prometheus-alertmanager"
    if not os.path.exists(binary):
        raise Failure("prometheus-alertmanager is not installed")
    port = free_port()
    amdir = os.path.join(env.dir, "am")
    os.makedirs(amdir)
    with open(os.path.join(amdir, "am.yml"), "w") as f:
        f.write("route: {receiver: none, group_wait: 1s, group_interval: 2s}\n"
                "receivers:\n  - name: none\n")
    log = open(os.path.join(env.dir, "am.log"), "a")
    am = subprocess.Popen([binary, "--config.file=" + os.path.join(amdir, "am.yml"),
                           "--storage.path=" + os.path.join(amdir, "data"),
                           "--web.listen-address=127.0.0.1:%d" % port,
                           "--cluster.listen-address="], stdout=log, stderr=log)
    log.close()
    env.procs.append(am)
    try:
        def ready():
            try:
                with urllib.request.urlopen("http://127.0.0.1:%d/-/ready" % port, timeout=2) as r:
                    return r.status == 200
            except (OSError, urllib.error.URLError):
                return False
        wait_for(ready, 20, what="alertmanager /-/ready")
        cfg = write_config(env, [{"name": "am", "type": "alertmanager",
                                  "url": "http://127.0.0.1:%d" % port}])
        env.start_server("--config", cfg)
        read = env.token("read")
        agent, _ = enroll(env)
        post_run(env, agent, "failed")

        def active():
            for a in am_get(port, "/api/v2/alerts?active=true"):
                if a["labels"].get("check") == "nginx.running":
                    return a
            return None
        a = wait_for(active, 20, what="the alert active in Alertmanager")
        check(a["status"]["state"] == "active" and a["labels"].get("severity") == "warning", a)
        post_run(env, agent, "ok")

        def resolved():
            mine = [x for x in am_get(port, "/api/v2/alerts")
                    if x["labels"].get("check") == "nginx.running"]
            return not mine or all(x["status"]["state"] != "active" or
                                   x["endsAt"] <= time.strftime("%Y-%m-%dT%H:%M:%S",
                                                                time.gmtime()) for x in mine)
        wait_for(resolved, 20, what="the alert resolved in Alertmanager")
        a = alerts(env, read)[0]
        check(a["state"] == "resolved" and
              [d["state"] for d in a["deliveries"]] == ["delivered", "delivered"], a)
    finally:
        stop(am)


@case
def test_alerts_silent_agent_opens_and_resolves_on_heartbeat(env):
    """An agent unheard of past agent_silent_after raises one silent alert; a heartbeat ends it."""
    hook = Hook().start()
    cfg = write_config(env, [{"name": "hook", "type": "webhook", "url": hook.url}], stale=False)
    env.start_server("--config", cfg)
    read = env.token("read")
    agent, agent_id = enroll(env, "db-1")
    try:
        st, _ = env.request("POST", "/api/v1/agents/heartbeat", {"version": "t"}, token=agent)
        check(st == 200, st)
        a = wait_for(lambda: alerts(env, read, "?kind=silent&state=open"), 30,
                     what="the silent alert")[0]
        check(a["agent"] == "db-1" and a["check"] is None and a["package"] is None and
              a["key"] == "healops:%s:-" % agent_id, a)
        wait_for(lambda: ("trigger", "silent", None) in hook.events(), 15,
                 what="the silent alert at the receiver")
        st, _ = env.request("POST", "/api/v1/agents/heartbeat", {"version": "t"}, token=agent)
        check(st == 200, st)
        wait_for(lambda: alerts(env, read, "?kind=silent&state=resolved"), 10,
                 what="the silent alert resolved")
        wait_for(lambda: ("resolve", "silent", None) in hook.events(), 15,
                 what="the resolve at the receiver")
        check(len(alerts(env, read, "?kind=silent")) == 1, "one silent alert only")
    finally:
        hook.stop()


@case
def test_alerts_healopsctl_lists_open_and_resolved(env):
    env.start_server("--config", write_config(env, []))
    agent, _ = enroll(env)
    read = env.token("read")
    post_run(env, agent, "failed")
    wait_for(lambda: alerts(env, read, "?state=open"), 20, what="an open alert")
    ctl = [env.bin("healopsctl"), "--server", env.url, "--token", read, "--ca-file", env.ca]
    r = subprocess.run(ctl + ["alerts", "--state", "open"], capture_output=True, text=True,
                       timeout=30, env=dict(os.environ, NO_COLOR="1"))
    check(r.returncode == 0, r.stderr)
    lines = r.stdout.strip().split("\n")
    check(lines[0].split()[:4] == ["ID", "STATE", "SEVERITY", "KIND"], r.stdout)
    check(len(lines) == 2 and "open" in lines[1] and "warning" in lines[1] and
          "nginx.running" in lines[1] and "\033[" not in r.stdout, r.stdout)
    post_run(env, agent, "ok")
    wait_for(lambda: alerts(env, read, "?state=resolved"), 20, what="the alert resolved")
    r = subprocess.run(ctl + ["alerts", "--json", "--state", "resolved", "--agent", "web-1"],
                       capture_output=True, text=True, timeout=30)
    check(r.returncode == 0 and json.loads(r.stdout)["alerts"][0]["state"] == "resolved",
          (r.returncode, r.stdout, r.stderr))
    r = subprocess.run(ctl + ["alerts", "--kind", "bogus"], capture_output=True, text=True,
                       timeout=30)
    check(r.returncode == 1 and "kind" in r.stderr, (r.returncode, r.stderr))
