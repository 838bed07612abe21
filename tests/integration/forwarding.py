"""Integration cases for metric forwarding (DESIGN.md section 7) against real time-series
databases from Debian's packages, started here on loopback with free ports and temp dirs
(INTEGRATIONS.md sections 10-11): VictoriaMetrics (OpenTSDB HTTP, Influx line protocol and
Graphite listeners; read back with /api/v1/export) and InfluxDB 1.6 (read back with /query),
plus a stand-in for the InfluxDB 2 /api/v2/write endpoint (Debian's InfluxDB has none) that
follows its documented answers. Also POST /api/v1/metrics and the config errors.
Loaded by run.py through CASES."""

import http.server
import json
import os
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

from harness import Failure, check, free_port, new_run, stop, uuid_v7, wait_for

CASES = []


def case(fn):
    CASES.append(fn)
    return fn


def fetch(method, url, data=None, headers=None, timeout=10):
    """A plain-HTTP request to a database; returns (status, body text)."""
    req = urllib.request.Request(url, data=data, method=method)
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


class VictoriaMetrics:
    """victoria-metrics on loopback: HTTP (Influx /write, export), OpenTSDB HTTP, Graphite."""

    def __init__(self, env, name):
        self.env = env
        self.data = os.path.join(env.dir, name)
        self.log = os.path.join(env.dir, name + ".log")
        self.http_port, self.tsdb_port = free_port(), free_port()
        self.graphite_port, self.influx_port = free_port(), free_port()
        self.proc = None

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.http_port

    def start(self):
        log = open(self.log, "a")
        self.proc = subprocess.Popen(
            ["victoria-metrics", "-storageDataPath=" + self.data,
             "-httpListenAddr=127.0.0.1:%d" % self.http_port,
             "-opentsdbHTTPListenAddr=127.0.0.1:%d" % self.tsdb_port,
             "-graphiteListenAddr=127.0.0.1:%d" % self.graphite_port,
             "-influxListenAddr=127.0.0.1:%d" % self.influx_port,
             "-retentionPeriod=1d", "-search.latencyOffset=1s", "-loggerLevel=WARN"],
            stdout=log, stderr=log)
        log.close()
        self.env.procs.append(self.proc)

        def up():
            if self.proc.poll() is not None:
                raise Failure("victoria-metrics exited: " + self.env.tail(self.log))
            try:
                return fetch("GET", self.url + "/health", timeout=2)[0] == 200
            except OSError:
                return False
        wait_for(up, 20, what="victoria-metrics /health")

    def stop(self):
        stop(self.proc)
        self.proc = None

    def export(self, match):
        """{(name, frozenset(labels)): [(ts_ms, value)...]} of every series matching match."""
        fetch("POST", self.url + "/internal/force_flush", b"")
        st, text = fetch("POST", self.url + "/api/v1/export",
                        urllib.parse.urlencode({"match[]": match}).encode(),
                        {"Content-Type": "application/x-www-form-urlencoded"}, timeout=20)
        check(st == 200, "export %s: %s %s" % (match, st, text[:200]))
        out = {}
        for line in text.splitlines():
            s = json.loads(line)
            labels = dict(s["metric"])
            name = labels.pop("__name__")
            key = (name, frozenset(labels.items()))
            out.setdefault(key, []).extend(zip(s["timestamps"], s["values"]))
        return out


class InfluxDB:
    """influxd 1.6 with a generated config binding only loopback ports in a temp dir."""

    def __init__(self, env):
        self.env = env
        self.dir = os.path.join(env.dir, "influx")
        self.port = free_port()
        self.log = os.path.join(env.dir, "influxd.log")
        self.proc = None

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def start(self):
        os.makedirs(self.dir, exist_ok=True)
        conf = os.path.join(self.dir, "influxdb.conf")
        with open(conf, "w") as f:
            f.write('reporting-enabled = false\nbind-address = "127.0.0.1:%d"\n'
                    '[meta]\n  dir = "%s/meta"\n[data]\n  dir = "%s/data"\n  wal-dir = "%s/wal"\n'
                    '  query-log-enabled = false\n[monitor]\n  store-enabled = false\n'
                    '[http]\n  bind-address = "127.0.0.1:%d"\n  log-enabled = false\n'
                    '[logging]\n  level = "warn"\n  suppress-logo = true\n'
                    % (free_port(), self.dir, self.dir, self.dir, self.port))
        log = open(self.log, "a")
        self.proc = subprocess.Popen(["influxd", "run", "-config", conf], stdout=log, stderr=log)
        log.close()
        self.env.procs.append(self.proc)

        def up():
            if self.proc.poll() is not None:
                raise Failure("influxd exited: " + self.env.tail(self.log))
            try:
                return fetch("GET", self.url + "/ping", timeout=2)[0] == 204
            except OSError:
                return False
        wait_for(up, 20, what="influxd /ping")
        st, text = fetch("POST", self.url + "/query",
                        urllib.parse.urlencode({"q": 'CREATE DATABASE "healops"'}).encode(),
                        {"Content-Type": "application/x-www-form-urlencoded"})
        check(st == 200, "CREATE DATABASE: %s %s" % (st, text))

    def query(self, q):
        """Rows of q as dicts (columns by name), epoch ms."""
        st, text = fetch("GET", self.url + "/query?" + urllib.parse.urlencode(
            {"db": "healops", "epoch": "ms", "q": q}))
        check(st == 200, "influx query %s: %s %s" % (q, st, text[:200]))
        rows = []
        for res in json.loads(text).get("results", []):
            for s in res.get("series", []):
                for v in s["values"]:
                    rows.append(dict(zip(s["columns"], v)))
        return rows


class InfluxV2StandIn:
    """POST /api/v2/write as InfluxDB 2.x documents it: Token auth (401 otherwise), org and
    bucket (404 otherwise), precision; its first answer is a 503 with Retry-After: 1."""

    def __init__(self, token):
        self.lines, self.answers, self.token = [], [], token
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
                u = urllib.parse.urlparse(self.path)
                q = urllib.parse.parse_qs(u.query)
                if self.headers.get("Authorization") != "Token " + outer.token:
                    code = 401
                elif u.path != "/api/v2/write" or q.get("org") != ["o"] or \
                        q.get("bucket") != ["b"]:
                    code = 404
                elif q.get("precision") != ["ms"]:
                    code = 400
                elif not outer.answers:
                    code = 503
                else:
                    code = 204
                    outer.lines += [x for x in body.split("\n") if x]
                outer.answers.append(code)
                self.send_response(code)
                if code == 503:
                    self.send_header("Retry-After", "1")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass
        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.srv.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self):
        return "http://127.0.0.1:%d/api/v2/write?org=o&bucket=b" % self.srv.server_address[1]

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()
        self.thread.join(5)


def agent_token(env):
    enroll = env.token("enroll")
    st, en = env.request("POST", "/api/v1/agents/enroll", {"name": "web01"}, token=enroll)
    check(st == 201, (st, en))
    return en["token"]


def a_run(k, started, repaired):
    """Run k of check nginx.running: repaired (4 points) or ok (3 points)."""
    extra = {"environment": "staging", "tags": {"team": "web"},
             "metrics": [{"name": "nginx.workers", "value": 10 + k, "tags": {"a": "b"}}]}
    if repaired:
        extra.update(test={"status": "critical", "exit_code": 2, "output": "down",
                           "duration_ms": 3},
                     repair={"status": "succeeded", "exit_code": 0, "output": "restarted",
                             "duration_ms": 20},
                     retest={"status": "ok", "exit_code": 0, "output": "up", "duration_ms": 2})
    r = new_run("nginx.running", package="nginx", outcome="repaired" if repaired else "ok",
                started=started, **extra)
    r["duration_ms"] = 100 + k
    return r


def rfc3339(t):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%03dZ" % (int(t * 1000) % 1000)


def forwarders(env, read):
    st, body = env.request("GET", "/api/v1/forwarders", token=read)
    check(st == 200, "GET /api/v1/forwarders: %s %s" % (st, body))
    return {f["name"]: f for f in body}


class Expect:
    """What each database must end up holding: per (name, tags) series, ts_ms -> value."""

    def __init__(self):
        self.series = {}
        self.points = 0
        self.rows = 0  # outbox rows (seqs): one per run, one per stat point

    def add(self, name, ts, value, **tags):
        key = (name, frozenset(tags.items()))
        check(ts not in self.series.setdefault(key, {}), "test bug: two points at one time")
        self.series[key][ts] = value
        self.points += 1

    def run(self, ts, k, repaired):
        self.rows += 1
        base = dict(node="web01", environment="staging", package="nginx",
                    check="nginx.running", team="web")
        self.add("nginx.workers", ts, 10 + k, a="b", **base)
        self.add("healops.check.outcome", ts, 1 if repaired else 0, **base)
        self.add("healops.check.duration_ms", ts, 100 + k, **base)
        if repaired:
            self.add("healops.repair", ts, 1, component="nginx.running",
                     status="RepairSucceeded", **base)

    def stats(self, metrics, ts):
        self.rows += len(metrics)
        for m in metrics:
            self.add(m["name"], ts, m["value"], node="web01", environment="production",
                     **m.get("tags", {}))


def compare(what, got, want, seconds=False):
    """got: {(name, labels): [(ts, v)]}; every wanted point exactly once, with its value."""
    for key, pts in want.items():
        have = got.get(key)
        check(have is not None, "%s: no series %s %s; have %s" % (
            what, key[0], dict(key[1]), [(k[0], dict(k[1])) for k in got][:8]))
        exp = sorted(((ts // 1000) * 1000 if seconds else ts, float(v)) for ts, v in pts.items())
        check(sorted((int(t), float(v)) for t, v in have) == exp,
              "%s: series %s %s: got %s, want %s" % (what, key[0], dict(key[1]), sorted(have),
                                                     exp))
    extra = set(got) - set(want)
    check(not extra, "%s: unexpected series %s" % (what, list(extra)[:4]))


def influx_rows(ix, want):
    """The InfluxDB rows of every wanted measurement, as {(name, tags): [(ts, v)]}."""
    got = {}
    for name in sorted({k[0] for k in want}):
        for row in ix.query('SELECT * FROM "%s"' % name):
            ts, v = row.pop("time"), row.pop("value")
            tags = frozenset((k, x) for k, x in row.items() if x is not None)
            got.setdefault((name, tags), []).append((ts, v))
    return got


def vm_influx_names(want, db):
    """VictoriaMetrics names Influx series {measurement}_{field} and adds db="DB"."""
    return {(k[0] + "_value", k[1] | {("db", db)}): v for k, v in want.items()}


def post(env, agent, path, body):
    st, res = env.request("POST", path, body, token=agent)
    check(st == 200, "POST %s: %s %s" % (path, st, res))
    return res


@case
def test_forward_to_real_databases_survives_an_outage(env):
    """Runs and a stat batch reach VictoriaMetrics (OpenTSDB, Influx, Graphite), InfluxDB 1.6
    and an InfluxDB 2 stand-in with the right names, values and tags; VictoriaMetrics is
    stopped mid-run and started again on the same storage: every point arrives once."""
    vm, carbon, ix = VictoriaMetrics(env, "vm"), VictoriaMetrics(env, "vm-graphite"), InfluxDB(env)
    v2 = InfluxV2StandIn("v2-secret-token")
    try:
        for db in (vm, carbon, ix):
            db.start()
        token_file = os.path.join(env.dir, "influx.token")
        with open(token_file, "w") as f:
            f.write("v2-secret-token\n")
        cfg = os.path.join(env.dir, "server.json")
        with open(cfg, "w") as f:
            json.dump({"forwarders": [
                {"name": "tsdb", "type": "opentsdb", "url": "http://127.0.0.1:%d" % vm.tsdb_port,
                 "max_backoff": 2},
                {"name": "vm-influx", "type": "influxdb", "url": vm.url + "/write?db=vmdb",
                 "max_backoff": 2, "batch_size": 7},
                {"name": "carbon", "type": "graphite",
                 "address": "127.0.0.1:%d" % carbon.graphite_port, "max_backoff": 2},
                {"name": "influx1", "type": "influxdb", "url": ix.url + "/write?db=healops"},
                {"name": "influx2", "type": "influxdb", "url": v2.url, "token_file": token_file,
                 "max_backoff": 2}],
                "series_days": 7}, f)
        env.start_server("--config", cfg)
        read, agent = env.token("read"), agent_token(env)
        want = Expect()
        t0 = int(time.time()) - 600  # whole seconds apart: Graphite keeps seconds

        def send_runs(ks):
            runs = [a_run(k, t0 + k + 0.25, k % 2 == 1) for k in ks]
            res = post(env, agent, "/api/v1/runs", {"runs": runs})
            check(res["accepted"] == len(runs), res)
            check(max(ks) < 400, "test bug: runs would reach the stats' timestamps")
            for k in ks:
                want.run((t0 + k) * 1000 + 250, k, k % 2 == 1)

        def send_stats(k):
            ts = t0 + 500 + k
            metrics = [{"name": "host.cpu.user", "value": 12.5 + k, "timestamp": rfc3339(ts),
                        "tags": {"cpu": "0"}},
                       {"name": "db.size", "value": 7 + k, "timestamp": rfc3339(ts),
                        "tags": {"owner": "db01"}}]
            res = post(env, agent, "/api/v1/metrics", {"id": uuid_v7(int(ts * 1000)),
                                                       "metrics": metrics})
            check(res == {"accepted": 2, "duplicate": False}, res)
            want.stats(metrics, ts * 1000)

        def all_delivered():
            f = forwarders(env, read)
            return all(x["pending"] == 0 and x["delivered"] == want.points for x in f.values())

        send_runs(range(0, 6))
        send_stats(0)
        wait_for(all_delivered, 30, step=0.3, what="every forwarder delivered everything")
        f = forwarders(env, read)
        check(f["influx2"]["failures"] == 1 and f["influx2"]["state"] == "ok" and
              f["influx2"]["last_error"].startswith("HTTP 503"), f["influx2"])
        check(all(x["last_success_at"] and x["delivered_seq"] == want.rows
                  for x in f.values()), f)
        check(f["influx2"]["target"] == v2.url and "secret" not in json.dumps(f), f)

        # VictoriaMetrics goes away mid-run and comes back; runs keep coming all along
        done, errors, sent = threading.Event(), [], [6]

        def poster():
            try:
                while not done.is_set() and sent[0] < 200:
                    send_runs([sent[0]])
                    sent[0] += 1
                    time.sleep(0.05)
            except Exception as e:  # reported by the main thread
                errors.append(e)
        th = threading.Thread(target=poster)
        th.start()
        try:
            time.sleep(0.3)
            vm.stop()
            carbon.stop()

            def vm_failing():
                f = forwarders(env, read)
                return all(f[n]["state"] in ("retrying", "failing") and f[n]["pending"] > 0 and
                           f[n]["failures"] >= 2 for n in ("tsdb", "vm-influx", "carbon"))
            wait_for(vm_failing, 20, step=0.3, what="the VictoriaMetrics forwarders to retry")
            sent_before = sent[0]
            wait_for(lambda: sent[0] > sent_before + 3, 10, what="runs posted during the outage")
            wait_for(lambda: forwarders(env, read)["influx1"]["pending"] <= 4 * 2, 20,
                     what="InfluxDB 1.6 to keep getting points")
            vm.start()
            carbon.start()
            time.sleep(0.5)
        finally:
            done.set()
            th.join(20)
        check(not errors, "posting runs failed: %s" % errors)
        send_stats(1)
        wait_for(all_delivered, 40, step=0.3, what="delivery after VictoriaMetrics came back")
        f = forwarders(env, read)
        check(all(x["state"] == "ok" and x["dropped"] == 0 for x in f.values()), f)
        check(f["tsdb"]["failures"] >= 1 and f["carbon"]["failures"] >= 1, f)

        # read every point back: right value, right tags, exactly once
        healops = '{__name__=~"healops[.].*|nginx[.].*|host[.].*|db[.].*", db=""}'
        wait_for(lambda: len(vm.export(healops)) == len(want.series), 20, step=0.5,
                 what="VictoriaMetrics series (OpenTSDB)")
        compare("VictoriaMetrics via OpenTSDB", vm.export(healops), want.series)
        vm_want = vm_influx_names(want.series, "vmdb")
        compare("VictoriaMetrics via Influx", vm.export('{db="vmdb"}'), vm_want)
        wait_for(lambda: len(carbon.export(healops)) == len(want.series), 20, step=0.5,
                 what="VictoriaMetrics series (Graphite)")
        compare("VictoriaMetrics via Graphite", carbon.export(healops), want.series,
                seconds=True)
        compare("InfluxDB 1.6", influx_rows(ix, want.series), want.series)
        check(len(v2.lines) == want.points and len(set(v2.lines)) == want.points,
              "v2 stand-in got %d lines (%d distinct), want %d" % (
                  len(v2.lines), len(set(v2.lines)), want.points))
        check(any(line.startswith("healops.repair,check=nginx.running,component=nginx.running,"
                                  "environment=staging,node=web01,package=nginx,"
                                  "status=RepairSucceeded,team=web value=1 ") for line in v2.lines),
              "v2 line protocol: %s" % v2.lines[:3])
        log = open(env.server_log).read()
        check("v2-secret-token" not in log, "a secret reached the server log")
    finally:
        v2.close()


@case
def test_forward_stat_batches_api(env):
    """POST /api/v1/metrics: stored once per batch id, whole or not at all, limits enforced.
    A Graphite forwarder to a closed port keeps the points pending, so pending counts them."""
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    dead = closed.getsockname()[1]
    closed.close()
    cfg = os.path.join(env.dir, "server.json")
    with open(cfg, "w") as f:
        json.dump({"forwarders": [{"name": "dead", "type": "graphite",
                                   "address": "127.0.0.1:%d" % dead, "max_backoff": 1}]}, f)
    env.start_server("--config", cfg)
    read, agent = env.token("read"), agent_token(env)

    def pending():
        return forwarders(env, read)["dead"]["pending"]
    bid = str(uuid.uuid4()).upper()
    batch = {"id": bid, "metrics": [{"name": "load.1", "value": 0.5},
                                    {"name": "x", "value": 1, "tags": {"owner": "db01"}}]}
    st, res = env.request("POST", "/api/v1/metrics", batch, token=agent)
    check(st == 200 and res == {"accepted": 2, "duplicate": False}, (st, res))
    batch["id"] = bid.lower()
    st, res = env.request("POST", "/api/v1/metrics", batch, token=agent)
    check(st == 200 and res == {"accepted": 0, "duplicate": True}, (st, res))
    check(pending() == 2, "pending %d" % pending())
    bad = [({"metrics": []}, 400, "id"),
           ({"id": "nope", "metrics": []}, 400, "id"),
           ({"id": str(uuid.uuid4())}, 400, "metrics"),
           ({"id": str(uuid.uuid4()), "metrics": [{"name": "a", "value": 1},
                                                  {"name": "b", "value": "x"}]},
            400, "metrics[1].value"),
           ({"id": str(uuid.uuid4()), "metrics": [{"name": "a", "value": 1}] * 600 +
             [{"name": "b", "value": 1, "timestamp": "yesterday"}]},
            400, "metrics[600].timestamp"),
           ({"id": str(uuid.uuid4()), "metrics": [{"name": "a", "value": 1}] * 10001},
            413, "metrics")]
    for body, code, field in bad:
        st, res = env.request("POST", "/api/v1/metrics", body, token=agent)
        check(st == code and res.get("field") == field, "%s -> %s %s" % (
            json.dumps(body)[:80], st, res))
    st, res = env.request("POST", "/api/v1/metrics", raw=b"not json", token=agent)
    check(st == 400, (st, res))
    st, res = env.request("POST", "/api/v1/metrics", batch, token=read)
    check(st == 403, "read token may not post stats: %s" % st)
    big = {"id": str(uuid.uuid4()), "metrics": [{"name": "m.%d" % i, "value": i}
                                                for i in range(10000)]}
    st, res = env.request("POST", "/api/v1/metrics", big, token=agent, timeout=30)
    check(st == 200 and res["accepted"] == 10000, (st, res))
    check(pending() == 10002, "nothing half-stored: pending %d" % pending())
    f = forwarders(env, read)["dead"]
    check(f["state"] in ("retrying", "failing") and f["failures"] >= 1 and
          "connect" in (f["last_error"] or ""), f)
    check(f["oldest_pending_at"] is not None and f["target"] == "127.0.0.1:%d" % dead, f)
    st, res = env.request("GET", "/api/v1/forwarders", token=agent)
    check(st == 403, "agent token may not read forwarder status: %s" % st)


@case
def test_forward_config_errors_name_the_path(env):
    """A bad forwarder config stops the server at start, naming the JSON path, never a secret."""
    cases = [
        ([{"type": "opentsdb"}], "forwarders[0].url"),
        ([{"type": "graphite", "address": "c:2003"},
          {"type": "influxdb", "url": "http://i/write?db=h&p=hunter2"}], "forwarders[1].url"),
        ([{"type": "influxdb", "url": "http://i/api/v2/write?org=o&bucket=b"}],
         "forwarders[0].token"),
        ([{"type": "graphite", "address": "c:2003", "colour": "red"}], "forwarders[0].colour"),
        ({"type": "graphite"}, "forwarders"),
    ]
    for i, (fw, path) in enumerate(cases):
        cfg = os.path.join(env.dir, "bad%d.json" % i)
        with open(cfg, "w") as f:
            json.dump({"forwarders": fw}, f)
        r = subprocess.run([env.bin("healops-server"), "--config", cfg, "--db",
                            os.path.join(env.dir, "x.db"), "--listen",
                            "127.0.0.1:%d" % free_port()],
                           capture_output=True, text=True, timeout=20)
        check(r.returncode == 2 and (path + ":") in r.stderr and "hunter2" not in r.stderr,
              "%s: exit %d: %s" % (path, r.returncode, r.stderr))
    r = subprocess.run([env.bin("healops-server"), "--help"], capture_output=True, text=True,
                       timeout=10)
    check("--series-days" in r.stdout and "forwarders" in r.stdout, r.stdout)


@case
def test_forward_permanent_refusal_is_dropped_not_retried(env):
    """InfluxDB 1.6 answers 404 for a database that does not exist: the batch is dropped and
    counted, the forwarder moves on (it is not retried for ever), and the failure is visible in
    GET /api/v1/forwarders; a healthy forwarder beside it delivers everything."""
    ix = InfluxDB(env)
    ix.start()
    cfg = os.path.join(env.dir, "server.json")
    with open(cfg, "w") as f:
        json.dump({"forwarders": [
            {"name": "nodb", "type": "influxdb", "url": ix.url + "/write?db=nope",
             "max_backoff": 1},
            {"name": "good", "type": "influxdb", "url": ix.url + "/write?db=healops",
             "max_backoff": 1}]}, f)
    env.start_server("--config", cfg)
    read, agent = env.token("read"), agent_token(env)
    now = time.time()
    runs = [a_run(k, now - 60 + k, False) for k in range(5)]
    st, body = env.request("POST", "/api/v1/runs", {"runs": runs}, token=agent)
    check(st == 200 and body["accepted"] == 5, body)

    def settled():
        f = forwarders(env, read)
        return f if f["nodb"]["pending"] == 0 and f["good"]["pending"] == 0 else None
    f = wait_for(settled, 30, what="both forwarders to get past every point")
    check(f["nodb"]["dropped"] > 0 and f["nodb"]["delivered"] == 0, f["nodb"])
    check("404" in (f["nodb"]["last_error"] or ""), f["nodb"])
    check(f["good"]["dropped"] == 0 and f["good"]["delivered"] == f["nodb"]["dropped"], f["good"])
    rows = ix.query('SELECT count("value") FROM "healops.check.outcome"')
    check(rows and rows[0]["count"] == 5, rows)
    # no retry storm: the refused batch is not sent again and again
    failures = f["nodb"]["failures"]
    time.sleep(3)
    check(forwarders(env, read)["nodb"]["failures"] == failures, "refused batch retried")
