"""Integration cases for schema/openapi.json: the document is structurally sound, documents
exactly the routes server/api.c serves, and every documented GET/POST answers the real
server with a body that validates against the documented schema for its status (a small
stdlib JSON-schema validator for the OpenAPI 3.0 subset the document uses).
Loaded by run.py through CASES."""

import json
import os
import re
import time
import urllib.request

from harness import Failure, check, new_run, uuid_v7

CASES = []

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DOC_PATH = os.path.join(ROOT, "schema", "openapi.json")
METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")

# Every route server/api.c (api_handle, api_route_v1) serves, as (METHOD, OpenAPI path).
# HEAD is served wherever GET is (except /readyz) and is not documented separately.
# test_openapi_documents_every_route also greps server/api.c for its path literals so a
# route added there without a line here (and in the document) fails the case.
EXPECTED_ROUTES = {
    ("GET", "/healthz"), ("GET", "/readyz"), ("GET", "/metrics"),
    ("POST", "/api/v1/runs"), ("GET", "/api/v1/runs"), ("GET", "/api/v1/repairs"),
    ("GET", "/api/v1/state"), ("GET", "/api/v1/agents"), ("POST", "/api/v1/agents/enroll"),
    ("POST", "/api/v1/agents/heartbeat"), ("GET", "/api/v1/agents/{id}"),
    ("POST", "/api/v1/tokens"), ("DELETE", "/api/v1/tokens/{id}"), ("POST", "/api/v1/metrics"), ("GET", "/api/v1/forwarders"),
    ("GET", "/api/v1/checks/{agent}/{check}/series"),
    ("GET", "/api/v1/graph.png"),
    ("GET", "/api/v1/alerts"), ("GET", "/api/v1/receivers"),
    ("GET", "/api/v1/insights"),
    ("GET", "/api/v1/state/summary"), ("GET", "/"), ("GET", "/{asset}"),
    ("POST", "/api/v1/packages"), ("GET", "/api/v1/packages"), ("GET", "/api/v1/packages/{name}"),
    ("GET", "/api/v1/packages/{name}/{version}/bundle"), ("PUT", "/api/v1/assignments/{name}"),
    ("DELETE", "/api/v1/assignments/{name}"), ("GET", "/api/v1/agents/self/packages"),
}


def case(fn):
    CASES.append(fn)
    return fn


def load_doc():
    with open(DOC_PATH) as f:
        return json.load(f)


# ---- a small JSON-schema validator (OpenAPI 3.0 schema objects) ----

DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def resolve(doc, ref):
    check(ref.startswith("#/"), "only local $refs: %s" % ref)
    node = doc
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, dict) or part not in node:
            raise Failure("unresolved $ref %s" % ref)
        node = node[part]
    return node


def type_ok(t, v):
    if t == "object":
        return isinstance(v, dict)
    if t == "array":
        return isinstance(v, list)
    if t == "string":
        return isinstance(v, str)
    if t == "boolean":
        return isinstance(v, bool)
    if t == "integer":
        return isinstance(v, int) and not isinstance(v, bool) or \
            (isinstance(v, float) and v.is_integer())
    if t == "number":
        return isinstance(v, (int, float)) and not isinstance(v, bool)
    raise Failure("unknown schema type %r" % t)


def validate(doc, schema, v, path="$"):
    """Returns a list of 'path: problem' strings; empty when v matches schema."""
    if "$ref" in schema:
        return validate(doc, resolve(doc, schema["$ref"]), v, path)
    if v is None:
        return [] if schema.get("nullable") else ["%s: null where not nullable" % path]
    errs = []
    if "allOf" in schema:
        for s in schema["allOf"]:
            errs += validate(doc, s, v, path)
    for key in ("anyOf", "oneOf"):
        if key in schema:
            n = sum(1 for s in schema[key] if not validate(doc, s, v, path))
            if n == 0 or (key == "oneOf" and n > 1):
                errs.append("%s: %d of %s matched" % (path, n, key))
    t = schema.get("type")
    if t is not None and not type_ok(t, v):
        return errs + ["%s: %r is not %s" % (path, v, t)]
    if "enum" in schema and v not in schema["enum"]:
        errs.append("%s: %r not in %r" % (path, v, schema["enum"]))
    if isinstance(v, str):
        fmt = schema.get("format")
        if fmt == "date-time" and not DATE_TIME.match(v):
            errs.append("%s: %r is not a date-time" % (path, v))
        if fmt == "uuid" and not UUID.match(v):
            errs.append("%s: %r is not a uuid" % (path, v))
        if len(v) < schema.get("minLength", 0) or len(v) > schema.get("maxLength", len(v)):
            errs.append("%s: length %d out of bounds" % (path, len(v)))
        if "pattern" in schema and not re.search(schema["pattern"], v):
            errs.append("%s: %r does not match %s" % (path, v, schema["pattern"]))
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        if "minimum" in schema and v < schema["minimum"]:
            errs.append("%s: %r < minimum %r" % (path, v, schema["minimum"]))
        if "maximum" in schema and v > schema["maximum"]:
            errs.append("%s: %r > maximum %r" % (path, v, schema["maximum"]))
    if isinstance(v, list):
        if len(v) > schema.get("maxItems", len(v)):
            errs.append("%s: more than maxItems" % path)
        if "items" in schema:
            for i, x in enumerate(v):
                errs += validate(doc, schema["items"], x, "%s[%d]" % (path, i))
    if isinstance(v, dict):
        props = schema.get("properties", {})
        for k in schema.get("required", []):
            if k not in v:
                errs.append("%s: required %r missing" % (path, k))
        extra = schema.get("additionalProperties", True)
        for k, x in v.items():
            if k in props:
                errs += validate(doc, props[k], x, "%s.%s" % (path, k))
            elif extra is False:
                errs.append("%s: unexpected property %r" % (path, k))
            elif isinstance(extra, dict):
                errs += validate(doc, extra, x, "%s.%s" % (path, k))
    return errs


def selftest_validator(doc):
    """The validator itself refuses what it must (so a pass means something)."""
    bad = [
        ("Error", {"error": 1}), ("Error", {"field": "x"}), ("Error", {"error": "e", "x": 1}),
        ("Health", {"status": "down"}), ("Point", {"t": "yesterday", "v": 1}),
        ("Point", {"t": "2026-01-01T00:00:00Z", "v": "1"}),
        ("State", {}), ("Agent", {"agent_id": "nope"}),
        ("BatchResult", {"accepted": -1, "duplicates": 0, "rejected": []}),
        ("Run", {"id": "019a8f3e-0000-7000-8000-000000000000", "package": "p", "check": "c",
                 "started_at": "2026-01-01T00:00:00Z", "duration_ms": 1, "manual": False,
                 "test": {"status": "great", "duration_ms": 1}, "outcome": "ok", "metrics": []}),
    ]
    for name, v in bad:
        check(validate(doc, {"$ref": "#/components/schemas/" + name}, v),
              "validator accepted %s %r" % (name, v))
    check(not validate(doc, {"$ref": "#/components/schemas/Point"},
                       {"t": "2026-01-01T00:00:00.123Z", "v": None}), "null point refused")


# ---- structure ----

def walk_refs(node, out):
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "$ref":
                out.append(v)
            else:
                walk_refs(v, out)
    elif isinstance(node, list):
        for v in node:
            walk_refs(v, out)


@case
def test_openapi_document_is_sound(env):
    """Every $ref resolves, every operation has an operationId (unique), responses, a
    success and an Error response; path parameters are declared; schemas are typed."""
    doc = load_doc()
    check(doc.get("openapi") == "3.0.3", "openapi version %r" % doc.get("openapi"))
    for k in ("info", "paths", "components"):
        check(k in doc, "no %s" % k)
    check(doc["info"].get("title") and doc["info"].get("version"), "info needs title, version")
    refs = []
    walk_refs(doc, refs)
    check(len(refs) > 50, "only %d $refs?" % len(refs))
    for r in refs:
        resolve(doc, r)
    schemes = doc["components"].get("securitySchemes", {})
    check(schemes.get("bearer", {}).get("scheme") == "bearer", "no bearer security scheme")
    for name in ("Run", "Step", "Metric", "State", "Agent", "BatchResult", "Error", "Forwarder",
                 "Series"):
        check(name in doc["components"]["schemas"], "components.schemas.%s missing" % name)
    ids = set()
    for path, item in doc["paths"].items():
        check(path.startswith("/"), "path %r" % path)
        ops = {m: op for m, op in item.items() if m in METHODS}
        check(ops, "%s has no operations" % path)
        for m, op in ops.items():
            where = "%s %s" % (m.upper(), path)
            oid = op.get("operationId")
            check(oid and oid not in ids, "%s: operationId %r missing or not unique" % (where, oid))
            ids.add(oid)
            resp = op.get("responses")
            check(isinstance(resp, dict) and resp, "%s: no responses" % where)
            check(any(c.startswith("2") for c in resp), "%s: no 2xx response" % where)
            for sec in op.get("security", doc.get("security", [])):
                for s in sec:
                    check(s in schemes, "%s: unknown security scheme %s" % (where, s))
            if op.get("security", doc.get("security")):
                check("Scope:" in op.get("description", ""), "%s: description has no scope" % where)
                check("401" in resp and "403" in resp, "%s: needs 401 and 403" % where)
            for code, r in resp.items():
                if "$ref" in r:
                    r = resolve(doc, r["$ref"])
                check("description" in r, "%s %s: no description" % (where, code))
                if code[0] in "45":
                    s = r["content"]["application/json"]["schema"]
                    check(s == {"$ref": "#/components/schemas/Error"},
                          "%s %s: not the Error schema" % (where, code))
            params = [resolve(doc, p["$ref"]) if "$ref" in p else p
                      for p in op.get("parameters", [])]
            declared = {p["name"] for p in params if p["in"] == "path"}
            check(declared == set(re.findall(r"{([^}]+)}", path)),
                  "%s: path parameters %s" % (where, declared))
            for p in params:
                check("schema" in p and ("type" in p["schema"] or "$ref" in p["schema"]),
                      "%s: parameter %s has no typed schema" % (where, p["name"]))
            if m == "post":
                check("requestBody" in op, "%s: no requestBody" % where)
    for name, s in doc["components"]["schemas"].items():
        check(any(k in s for k in ("type", "$ref", "anyOf", "oneOf", "allOf")),
              "schema %s has no type" % name)
    selftest_validator(doc)


@case
def test_openapi_documents_every_route(env):
    """The documented (method, path) set is exactly EXPECTED_ROUTES, and every path literal
    in server/api.c's router belongs to one of those routes."""
    doc = load_doc()
    documented = {(m.upper(), p) for p, item in doc["paths"].items() for m in item if m in METHODS}
    check(documented == EXPECTED_ROUTES,
          "undocumented: %s; documented but not served: %s" %
          (sorted(EXPECTED_ROUTES - documented), sorted(documented - EXPECTED_ROUTES)))
    with open(os.path.join(ROOT, "server", "api.c")) as f:
        src = f.read()
    router = src[src.index("static int api_route_v1"):]
    literals = set(re.findall(r'"(/[a-z0-9/_.-]*)"', router))
    known = {p for _, p in EXPECTED_ROUTES}
    prefixes = {"/api/v1/"}
    for lit in literals:
        if lit in prefixes:
            continue
        full = lit if lit in known else "/api/v1" + lit
        ok = full in known or any(k.startswith(full) and "{" in k for k in known) or \
            any(k.endswith(lit) and "{" in k for k in known)
        check(ok, "server/api.c routes %r, which schema/openapi.json does not document" % lit)


# ---- live responses ----

class Live:
    def __init__(self, env, doc):
        self.env, self.doc, self.seen = env, doc, set()

    def call(self, method, path, template, want, body=None, token=None, raw=None):
        """Calls the server; checks the status is want and is documented for the operation,
        then validates the body against that response's schema."""
        st, res = self.env.request(method, path, body=body, token=token, raw=raw)
        check(st == want, "%s %s -> %s %s (want %s)" % (method, path, st, res, want))
        op = self.doc["paths"][template][method.lower()]
        r = op["responses"].get(str(st))
        check(r is not None, "%s %s: status %s is not documented" % (method, template, st))
        if "$ref" in r:
            r = resolve(self.doc, r["$ref"])
        schema = r["content"]["application/json"]["schema"]
        errs = validate(self.doc, schema, res)
        check(not errs, "%s %s -> %s: body does not match the schema:\n  %s\n  body: %s" %
              (method, path, st, "\n  ".join(errs[:10]), json.dumps(res)[:600]))
        if st < 300:
            self.seen.add((method, template))
        return res


def repaired_run(k, started):
    r = new_run("nginx.running", package="nginx", outcome="repaired", status="critical",
                started=started, environment="prod", tags={"team": "web"}, interval=60,
                repair={"status": "succeeded", "exit_code": 0, "output": "restarted",
                        "duration_ms": 20},
                retest={"status": "ok", "exit_code": 0, "output": "up", "duration_ms": 2},
                metrics=[{"name": "nginx.workers", "value": 4 + k, "tags": {"a": "b"}}])
    return r


@case
def test_openapi_live_responses_match(env):
    """Every documented endpoint (GET, POST, DELETE), called with valid input on a real server (with a
    forwarder configured), answers a body valid for the documented schema; so do a few
    errors (400, 401, 403, 404) against Error."""
    doc = load_doc()
    cfg = os.path.join(env.dir, "server.json")
    with open(cfg, "w") as f:
        # a forwarder to a closed port: it stays pending/retrying, which fills every field
        json.dump({"forwarders": [{"name": "tsdb", "type": "opentsdb",
                                   "url": "http://127.0.0.1:9", "max_backoff": 1}],
                   "receivers": [{"name": "hook", "type": "webhook",
                                  "url": "http://127.0.0.1:9/hook"}]}, f)
    env.start_server("--config", cfg)
    live = Live(env, doc)
    admin, read, enroll = env.token("admin"), env.token("read"), env.token("enroll")

    live.call("GET", "/healthz", "/healthz", 200)
    live.call("GET", "/readyz", "/readyz", 200)
    en = live.call("POST", "/api/v1/agents/enroll", "/api/v1/agents/enroll", 201,
                   {"name": "web01", "labels": {"role": "web", "dc": "ams"}}, token=enroll)
    agent, agent_id = en["token"], en["agent_id"]
    live.call("POST", "/api/v1/agents/enroll", "/api/v1/agents/enroll", 201,
              {"name": "idle02"}, token=admin)
    tok = live.call("POST", "/api/v1/tokens", "/api/v1/tokens", 201,
                    {"scope": "read", "name": "grafana", "expires_in": 3600}, token=admin)
    check(tok["scope"] == "read", tok)
    live.call("GET", "/api/v1/agents", "/api/v1/agents", 200, token=tok["token"])
    res = live.call("DELETE", "/api/v1/tokens/%d" % tok["id"], "/api/v1/tokens/{id}", 200,
                    token=admin)
    check(res == {"id": tok["id"], "revoked": True}, res)
    live.call("GET", "/api/v1/agents", "/api/v1/agents", 401, token=tok["token"])
    live.call("DELETE", "/api/v1/tokens/%d" % tok["id"], "/api/v1/tokens/{id}", 404, token=admin)
    live.call("DELETE", "/api/v1/tokens/x", "/api/v1/tokens/{id}", 400, token=admin)

    now = time.time()
    runs = [repaired_run(k, now - 300 + k * 60) for k in range(3)]
    runs.append(new_run("disk.free", package="base", started=now - 30))
    runs.append(new_run("disk.free", package="base", outcome="failed", status="critical",
                        started=now - 10, manual=True, operator="alice",
                        repair={"status": "failed", "exit_code": 1, "output": "no",
                                "duration_ms": 4}))
    bad = new_run("disk.free", package="base", outcome="bogus")
    res = live.call("POST", "/api/v1/runs", "/api/v1/runs", 200, {"runs": runs + [bad]},
                    token=agent)
    check(res["accepted"] == 5 and len(res["rejected"]) == 1, res)
    res = live.call("POST", "/api/v1/runs", "/api/v1/runs", 200, {"runs": runs[:1]}, token=agent)
    check(res["duplicates"] == 1, res)
    live.call("POST", "/api/v1/agents/heartbeat", "/api/v1/agents/heartbeat", 200,
              {"version": "0.1.0", "packages": [{"name": "nginx", "version": "1.0.0"},
                                                {"name": "base", "version": "1.0.0"}],
               "spool_depth": 2, "dropped": 0}, token=agent)
    ts = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 5))
    batch = {"id": uuid_v7(int(now * 1000)),
             "metrics": [{"name": "host.load1", "value": 0.5, "timestamp": ts, "tags": {}},
                         {"name": "host.mem.used_pct", "value": 41.0, "timestamp": ts,
                          "tags": {"kind": "ram"}}]}
    res = live.call("POST", "/api/v1/metrics", "/api/v1/metrics", 200, batch, token=agent)
    check(res == {"accepted": 2, "duplicate": False}, res)
    res = live.call("POST", "/api/v1/metrics", "/api/v1/metrics", 200, batch, token=agent)
    check(res["duplicate"] is True, res)

    page = live.call("GET", "/api/v1/runs", "/api/v1/runs", 200, token=read)
    check(len(page["runs"]) == 5, page)
    kinds = {"repair" in r for r in page["runs"]}
    check(kinds == {True, False}, "want runs with and without a repair")
    page = live.call("GET", "/api/v1/runs?limit=2&outcome=repaired&manual=false",
                     "/api/v1/runs", 200, token=read)
    check(page["next_cursor"], page)
    live.call("GET", "/api/v1/runs?limit=2&cursor=" + page["next_cursor"], "/api/v1/runs", 200,
              token=read)
    live.call("GET", "/api/v1/runs?agent=web01&since=2020-01-01T00:00:00Z&check=disk.free",
              "/api/v1/runs", 200, token=admin)
    page = live.call("GET", "/api/v1/repairs", "/api/v1/repairs", 200, token=read)
    check(len(page["runs"]) == 4, page)
    st = live.call("GET", "/api/v1/state", "/api/v1/state", 200, token=read)
    check(len(st["states"]) == 2, st)
    check({s["repair_status"] for s in st["states"]} == {"succeeded", "failed"}, st)
    live.call("GET", "/api/v1/state?outcome=failed&limit=1", "/api/v1/state", 200, token=read)
    live.call("GET", "/api/v1/state?label=role%3Dweb&q=disk&stale=false", "/api/v1/state", 200,
              token=read)
    sm = live.call("GET", "/api/v1/state/summary", "/api/v1/state/summary", 200, token=read)
    check(sm["states"] == 2 and sm["agents"]["total"] == 2, sm)
    live.call("GET", "/api/v1/state/summary?label=role", "/api/v1/state/summary", 400, token=read)
    ag = live.call("GET", "/api/v1/agents", "/api/v1/agents", 200, token=read)
    check(len(ag["agents"]) == 2, ag)
    live.call("GET", "/api/v1/agents?limit=1", "/api/v1/agents", 200, token=read)
    a = live.call("GET", "/api/v1/agents/" + agent_id, "/api/v1/agents/{id}", 200, token=read)
    check(a["version"] == "0.1.0" and a["spool_depth"] == 2, a)
    tmpl = "/api/v1/checks/{agent}/{check}/series"
    s = live.call("GET", "/api/v1/checks/web01/nginx.running/series", tmpl, 200, token=read)
    check("metrics" in s, s)
    s = live.call("GET", "/api/v1/checks/%s/nginx.running/series?metric=nginx.workers&limit=10"
                  % agent_id, tmpl, 200, token=read)
    check(len(s["points"]) == 3, s)
    ins = live.call("GET", "/api/v1/insights?package=web", "/api/v1/insights", 200, token=read)
    check(isinstance(ins["checks"], list), ins)
    fw = live.call("GET", "/api/v1/forwarders", "/api/v1/forwarders", 200, token=read)
    check(len(fw) == 1 and fw[0]["name"] == "tsdb", fw)
    failed = new_run("nginx.port", package="nginx", outcome="failed", status="critical",
                     alert={"severity": "warning", "docs": ["https://d.example/"]})
    live.call("POST", "/api/v1/runs", "/api/v1/runs", 200, {"runs": [failed]}, token=agent)
    # the failed disk.free run above may open its own alert first: wait for nginx.port's
    deadline = time.monotonic() + 15
    mine = None
    while time.monotonic() < deadline:
        al = live.call("GET", "/api/v1/alerts?state=open", "/api/v1/alerts", 200, token=read)
        mine = next((a for a in al["alerts"] if a["check"] == "nginx.port"), None)
        if mine and mine["deliveries"] and mine["deliveries"][0]["attempts"] > 0:
            break
        time.sleep(0.2)
    check(mine and mine["severity"] == "warning" and mine["deliveries"][0]["attempts"] > 0, al)
    live.call("GET", "/api/v1/state?check=nginx.port", "/api/v1/state", 200, token=read)
    rc = live.call("GET", "/api/v1/receivers", "/api/v1/receivers", 200, token=read)
    check(rc["receivers"][0]["name"] == "hook", rc)

    # /metrics is text: check it is documented as text/plain and answers
    op = doc["paths"]["/metrics"]["get"]
    check("text/plain" in op["responses"]["200"]["content"], "/metrics not text/plain")
    req = urllib.request.Request(env.url + "/metrics", headers={"Authorization": "Bearer " + read})
    with urllib.request.urlopen(req, context=env.ctx, timeout=10) as r:
        text = r.read().decode()
        check(r.status == 200 and r.headers.get("Content-Type", "").startswith("text/plain") and
              "healops_check_outcome{" in text, "/metrics -> %s %s" % (r.status, text[:200]))
    live.seen.add(("GET", "/metrics"))

    # graph.png is an image: documented as image/png, answers a PNG
    op = doc["paths"]["/api/v1/graph.png"]["get"]
    check("image/png" in op["responses"]["200"]["content"], "graph.png not image/png")
    req = urllib.request.Request(env.url + "/api/v1/graph.png?agent=web01&check=nginx.running",
                                 headers={"Authorization": "Bearer " + read})
    with urllib.request.urlopen(req, context=env.ctx, timeout=10) as r:
        png = r.read()
        check(r.status == 200 and r.headers.get("Content-Type") == "image/png" and
              png[:8] == b"\x89PNG\r\n\x1a\n", "graph.png -> %s" % r.status)
    live.seen.add(("GET", "/api/v1/graph.png"))
    e = live.call("GET", "/api/v1/graph.png?agent=web01&check=nginx.running&width=1",
                  "/api/v1/graph.png", 400, token=read)
    check(e.get("field") == "width", e)
    live.call("GET", "/api/v1/graph.png?agent=web01&check=nginx.running&exp=1&sig=" + "0" * 64,
              "/api/v1/graph.png", 403)

    # the dashboard files: no token, documented content types
    for path, tmpl in (("/", "/"), ("/app.js", "/{asset}")):
        content = doc["paths"][tmpl]["get"]["responses"]["200"]["content"]
        with urllib.request.urlopen(env.url + path, context=env.ctx, timeout=10) as r:
            ctype = r.headers.get("Content-Type", "").split(";")[0]
            check(r.status == 200 and ctype in content, "%s -> %s %s" % (path, r.status, ctype))
        live.seen.add(("GET", tmpl))

    # the package routes (a bundle is binary): tests/integration/packages_server.py
    from packages_server import openapi_exercise
    openapi_exercise(env, live, admin, read, agent)

    # errors, validated against Error
    live.call("GET", "/api/v1/runs", "/api/v1/runs", 401)
    live.call("GET", "/api/v1/runs", "/api/v1/runs", 401, token="hot_not_a_token")
    live.call("GET", "/api/v1/runs", "/api/v1/runs", 403, token=agent)
    live.call("POST", "/api/v1/runs", "/api/v1/runs", 403, {"runs": []}, token=read)
    e = live.call("GET", "/api/v1/runs?limit=0", "/api/v1/runs", 400, token=read)
    check(e.get("field") == "limit", e)
    e = live.call("GET", "/api/v1/state?color=red", "/api/v1/state", 400, token=read)
    check(e.get("field") == "color", e)
    live.call("POST", "/api/v1/runs", "/api/v1/runs", 400, raw=b"not json", token=agent)
    live.call("POST", "/api/v1/tokens", "/api/v1/tokens", 400, {"scope": "agent"}, token=admin)
    live.call("POST", "/api/v1/metrics", "/api/v1/metrics", 400, {"id": "x", "metrics": []},
              token=agent)
    live.call("GET", "/api/v1/agents/nope", "/api/v1/agents/{id}", 404, token=read)
    live.call("GET", "/api/v1/checks/web01/no.such/series", tmpl, 404, token=read)
    live.call("GET", "/api/v1/forwarders?x=1", "/api/v1/forwarders", 400, token=read)

    missing = EXPECTED_ROUTES - live.seen
    check(not missing, "documented endpoints not exercised: %s" % sorted(missing))
