"""Integration cases for deploy/grafana (INTEGRATIONS.md section 9): Grafana is not in
Debian, so the dashboard, provisioning and alert rules are checked for structure, and every
PromQL expression is run against a real VictoriaMetrics (when installed) holding points named
as the server forwards them (section 12) and as its /metrics exposes them.
Loaded by run.py through CASES."""

import json
import os
import re
import shutil
import time
import urllib.parse

from harness import Failure, check
from forwarding import VictoriaMetrics, fetch

try:
    import yaml
except ImportError:  # structure checks below fall back to text
    yaml = None

CASES = []

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GRAFANA = os.path.join(ROOT, "deploy", "grafana")
DATASOURCES = os.path.join(GRAFANA, "provisioning", "datasources", "healops.yaml")
PROVIDERS = os.path.join(GRAFANA, "provisioning", "dashboards", "healops.yaml")
DASHBOARD = os.path.join(GRAFANA, "dashboards", "healops.json")
RULES = os.path.join(GRAFANA, "alerting", "healops-rules.yaml")

# Grafana's macros and the dashboard variable, as Grafana would expand them
MACROS = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h", "$node": ".*"}


def case(fn):
    CASES.append(fn)
    return fn


def load_yaml(path):
    with open(path) as f:
        text = f.read()
    check(text.strip(), "%s is empty" % path)
    if yaml is None:
        return None
    return yaml.safe_load(text)


def datasource_uids():
    doc = load_yaml(DATASOURCES)
    if doc is None:
        with open(DATASOURCES) as f:
            return {m for m in re.findall(r"^\s*uid:\s*(\S+)", f.read(), re.M)}
    check(doc.get("apiVersion") == 1, "datasources: apiVersion")
    out = {}
    for ds in doc["datasources"]:
        for k in ("name", "uid", "type", "url", "access"):
            check(k in ds, "datasource %s has no %s" % (ds.get("name"), k))
        out[ds["uid"]] = ds["type"]
    check(out.get("healops-prom") == "prometheus", "no prometheus datasource healops-prom")
    return out


def dashboard():
    with open(DASHBOARD) as f:
        return json.load(f)


def dashboard_exprs(d):
    """[(panel title, expr)] of every target."""
    return [(p["title"], t["expr"]) for p in d["panels"] for t in p["targets"]]


def rule_exprs():
    doc = load_yaml(RULES)
    if doc is None:
        with open(RULES) as f:
            return [("rule", e.strip()) for e in re.findall(r"^\s*expr:\s*(.+)$", f.read(), re.M)]
    out = []
    for g in doc["groups"]:
        for r in g["rules"]:
            for q in r["data"]:
                if q["datasourceUid"] != "__expr__":
                    out.append((r["title"], q["model"]["expr"]))
    return out


def expand(expr):
    for k, v in MACROS.items():
        expr = expr.replace(k, v)
    return expr


@case
def test_grafana_provisioning_is_sound(env):
    """Dashboard: unique panel ids, gridPos within 24 columns, every panel and target names
    the provisioned datasource and has an expression; provider points at a folder; alert
    rules refer to the datasource, have unique uids and a threshold condition."""
    uids = datasource_uids()
    d = dashboard()
    check(d.get("id") is None and 8 <= len(d.get("uid", "")) <= 40, "dashboard id/uid")
    check(d.get("title") and d.get("schemaVersion"), "dashboard title/schemaVersion")
    ids = [p.get("id") for p in d["panels"]]
    check(all(isinstance(i, int) for i in ids) and len(set(ids)) == len(ids),
          "panel ids not unique integers: %s" % ids)
    titles = " | ".join(p["title"] for p in d["panels"])
    exprs = " ".join(e for _, e in dashboard_exprs(d))
    for want in ("healops[._]repair", "healops_check_outcome", "healops_points_pending",
                 "host[._]", "consecutive_failures"):
        check(want in exprs, "no panel queries %s (%s)" % (want, titles))
    for p in d["panels"]:
        where = "panel %s %r" % (p["id"], p["title"])
        g = p["gridPos"]
        check(g["x"] >= 0 and g["w"] > 0 and g["x"] + g["w"] <= 24 and g["h"] > 0, where + " gridPos")
        check(p["datasource"]["uid"] in uids, where + ": datasource %s not provisioned" % p["datasource"])
        check(p.get("targets"), where + ": no targets")
        refs = [t["refId"] for t in p["targets"]]
        check(len(set(refs)) == len(refs), where + ": refIds not unique")
        for t in p["targets"]:
            check(t.get("datasource", p["datasource"])["uid"] in uids, where + ": target datasource")
            check(isinstance(t.get("expr"), str) and t["expr"].strip(), where + ": empty expr")
            check(t["expr"].count("(") == t["expr"].count(")") and
                  t["expr"].count("{") == t["expr"].count("}"), where + ": unbalanced expr")
    for v in d["templating"]["list"]:
        check(v["datasource"]["uid"] in uids, "variable %s datasource" % v["name"])
    prov = load_yaml(PROVIDERS)
    if prov is not None:
        p = prov["providers"][0]
        check(p["type"] == "file" and p["options"]["path"].startswith("/"), "provider: %s" % p)
    rules = load_yaml(RULES)
    if rules is not None:
        seen = set()
        for g in rules["groups"]:
            for r in g["rules"]:
                check(r["uid"] not in seen, "rule uid %s repeated" % r["uid"])
                seen.add(r["uid"])
                refs = {q["refId"]: q for q in r["data"]}
                check(r["condition"] in refs, "rule %s: condition %s not a refId" % (r["uid"], r["condition"]))
                for q in r["data"]:
                    check(q["datasourceUid"] in uids or q["datasourceUid"] == "__expr__",
                          "rule %s: datasource %s" % (r["uid"], q["datasourceUid"]))
                    if q["datasourceUid"] == "__expr__":
                        check(q["model"]["expression"] in refs, "rule %s: expression ref" % r["uid"])
        check(len(seen) >= 3, "want 3 example rules, got %d" % len(seen))
    check(len(rule_exprs()) >= 3, "rules have no expressions")


def influx_line(name, tags, value, ts_ms):
    t = ",".join("%s=%s" % kv for kv in sorted(tags.items()))
    return "%s,%s value=%s %d" % (name, t, value, ts_ms)


@case
def test_grafana_queries_run_on_victoriametrics(env):
    """Points in the forwarders' formats (OpenTSDB /api/put, Influx line protocol) and the
    /metrics families go into VictoriaMetrics; every panel expression, the node variable and
    every alert rule expression parse there and return data."""
    if shutil.which("victoria-metrics") is None:
        print("  (victoria-metrics not installed: skipped)")
        return
    vm = VictoriaMetrics(env, "vm-grafana")
    try:
        vm.start()
        now = int(time.time())
        base = {"node": "web01", "environment": "prod", "package": "nginx", "check": "nginx.running"}
        tsdb, lines, prom = [], [], []
        for k in range(5):
            ts = now - 240 + k * 60
            rep = dict(base, status="RepairSucceeded" if k % 2 == 0 else "RepairFailed",
                       component="nginx.running")
            tsdb.append({"metric": "healops.repair", "timestamp": ts, "value": 1 if k % 2 == 0 else 0,
                         "tags": rep})
            tsdb.append({"metric": "healops.check.duration_ms", "timestamp": ts, "value": 100 + k,
                         "tags": base})
            lines.append(influx_line("healops.check.outcome", base, k % 4, ts * 1000))
            lines.append(influx_line("host.load1", {"node": "web01", "environment": "prod"},
                                     0.5 + k, ts * 1000))
            for name, labels, v in (
                    ("healops_check_outcome", 'node="web01",package="nginx",check="nginx.running"', 2),
                    ("healops_check_consecutive_failures", 'node="web01",package="nginx",check="nginx.running"', 3 + k),
                    ("healops_check_stale", 'node="web01",package="nginx",check="nginx.running"', 0),
                    ("healops_points_pending", 'forwarder="tsdb"', 10 * k),
                    ("healops_forwarder_oldest_pending_age_seconds", 'forwarder="tsdb"', 60 * k)):
                prom.append("%s{%s} %s %d" % (name, labels, v, ts * 1000))
        st, text = fetch("POST", "http://127.0.0.1:%d/api/put" % vm.tsdb_port,
                         json.dumps(tsdb).encode(), {"Content-Type": "application/json"})
        check(st in (200, 204), "opentsdb put: %s %s" % (st, text[:200]))
        st, text = fetch("POST", vm.url + "/write?precision=ms", "\n".join(lines).encode())
        check(st in (200, 204), "influx write: %s %s" % (st, text[:200]))
        st, text = fetch("POST", vm.url + "/api/v1/import/prometheus", "\n".join(prom).encode())
        check(st in (200, 204), "prometheus import: %s %s" % (st, text[:200]))
        fetch("POST", vm.url + "/internal/force_flush", b"")

        # How VictoriaMetrics names what the forwarders send: dots are kept (no "_"
        # conversion by default); Influx series get "_" + field, so healops.repair from
        # OpenTSDB and healops.check.outcome_value from Influx. The dashboard's
        # {__name__=~"healops[._]repair(_value)?"} selectors cover both and the
        # Prometheus-compatible healops_repair.
        def names():
            st, text = fetch("GET", vm.url + "/api/v1/label/__name__/values")
            return set(json.loads(text)["data"]) if st == 200 else set()
        deadline = time.monotonic() + 15
        got = names()
        while not {"healops.repair", "healops.check.outcome_value", "host.load1_value",
                   "healops_points_pending"} <= got and time.monotonic() < deadline:
            time.sleep(0.5)
            fetch("POST", vm.url + "/internal/force_flush", b"")
            got = names()
        for n in ("healops.repair", "healops.check.duration_ms", "healops.check.outcome_value",
                  "host.load1_value", "healops_check_outcome", "healops_points_pending"):
            check(n in got, "VictoriaMetrics has no %s; it has %s" % (n, sorted(got)))

        def query(what, expr):
            q = expand(expr)
            st, text = fetch("POST", vm.url + "/api/v1/query",
                             urllib.parse.urlencode({"query": q, "time": str(now)}).encode(),
                             {"Content-Type": "application/x-www-form-urlencoded"})
            check(st == 200, "%s: %s -> %s %s" % (what, q, st, text[:300]))
            res = json.loads(text)
            check(res.get("status") == "success", "%s: %s -> %s" % (what, q, text[:300]))
            return res["data"]["result"]

        d = dashboard()
        for title, expr in dashboard_exprs(d) + rule_exprs():
            res = query(title, expr)
            if not res:  # VictoriaMetrics may still be indexing a just-written series
                time.sleep(1)
                fetch("POST", vm.url + "/internal/force_flush", b"")
                res = query(title, expr)
            check(res, "%r: %s returned no data" % (title, expand(expr)))
        # the values prove the selectors pick the right series
        r = query("ratio", [e for t, e in dashboard_exprs(d) if t == "Repair success ratio"][0])
        check(0 < float(r[0]["value"][1]) < 1, "repair success ratio %s" % r)  # mixed 1/0
        r = query("repairs", [e for t, e in dashboard_exprs(d) if t == "Repairs in range"][0])
        check(4 <= float(r[0]["value"][1]) <= 5, "repairs in range %s" % r)
        # the node variable: label_values(selector, node)
        m = re.match(r"label_values\((.+),\s*(\w+)\)$", d["templating"]["list"][0]["definition"])
        check(m, "variable definition")
        st, text = fetch("GET", vm.url + "/api/v1/label/%s/values?%s" %
                         (m.group(2), urllib.parse.urlencode({"match[]": m.group(1)})))
        check(st == 200 and json.loads(text)["data"] == ["web01"], "node values: %s" % text[:200])
    finally:
        vm.stop()
