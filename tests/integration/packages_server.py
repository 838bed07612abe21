"""Integration cases for package distribution on the server side: publishing bundles
(immutable versions, manifest and layout checks, publisher signatures), reading them
back, assignments with selectors and staged rollouts, what each agent is offered
(GET /api/v1/agents/self/packages with ETag), package errors from heartbeats, and the
rollout watcher halting a rollout whose new version fails.

Bundles are built here with tarfile + gzip and signed with `openssl pkeyutl -sign
-rawin` on keys from `openssl genpkey -algorithm ed25519`. Every JSON answer is
validated against schema/openapi.json. Loaded by run.py through CASES; run alone with
    python3 tests/integration/run.py --build build packages_server
"""

import base64
import hashlib
import gzip
import io
import json
import os
import re
import subprocess
import tarfile
import time
import urllib.error
import urllib.request

from harness import check, new_run, wait_for
from openapi import load_doc, validate

CASES = []


def case(fn):
    CASES.append(fn)
    return fn


# ---- bundles and keys ---------------------------------------------------------------

def bundle(name, version, description="test package", interval=60, script=None, extra=None,
           skip_script=False, flat=False):
    """The tar.gz bytes of a package with one exec check."""
    top = "" if flat else "%s-%s/" % (name, version)
    manifest = {"name": name, "version": version, "description": description,
                "checks": [{"name": name + ".alive", "interval": interval,
                            "test": {"exec": ["checks/alive.test"]}}]}
    if extra:
        manifest.update(extra)
    files = [("healops-package.json", json.dumps(manifest).encode(), 0o644)]
    if not skip_script:
        files.append(("checks/alive.test",
                      (script or "#!/bin/sh\necho OK - %s\n" % version).encode(), 0o755))
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        dirs = [top.rstrip("/")] if top else []
        dirs.append(top + "checks")
        for d in dirs:
            ti = tarfile.TarInfo(d)
            ti.type, ti.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(ti)
        for path, data, mode in files:
            ti = tarfile.TarInfo(top + path)
            ti.size, ti.mode = len(data), mode
            tar.addfile(ti, io.BytesIO(data))
    # gzip without a timestamp: the same call gives the same bytes in any second
    return gzip.compress(raw.getvalue(), mtime=0)


def make_key(d, name):
    key, pub = os.path.join(d, name + ".key"), os.path.join(d, name + ".pub")
    subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", key], check=True,
                   capture_output=True, timeout=20)
    subprocess.run(["openssl", "pkey", "-in", key, "-pubout", "-out", pub], check=True,
                   capture_output=True, timeout=20)
    return key, pub


def key_id(pub):
    der = subprocess.run(["openssl", "pkey", "-pubin", "-in", pub, "-outform", "DER"],
                         check=True, capture_output=True, timeout=20).stdout
    return hashlib.sha256(der[-32:]).hexdigest()[:16]


def sign(d, data, key):
    path = os.path.join(d, "to-sign")
    with open(path, "wb") as f:
        f.write(data)
    out = subprocess.run(["openssl", "pkeyutl", "-sign", "-rawin", "-inkey", key, "-in", path],
                         check=True, capture_output=True, timeout=20).stdout
    check(len(out) == 64, "openssl made a %d byte signature" % len(out))
    return base64.b64encode(out).decode()


def bucket(agent_id, package):
    digest = hashlib.sha256(("%s/%s" % (agent_id, package)).encode()).digest()
    return int.from_bytes(digest[:4], "big") % 100


# ---- calls validated against schema/openapi.json ------------------------------------

class Api:
    def __init__(self, env):
        self.env, self.doc, self.seen = env, load_doc(), set()

    def raw(self, method, path, data=None, token=None, headers=None):
        """(status, headers, body bytes) without decoding."""
        req = urllib.request.Request(self.env.url + path, data=data, method=method)
        if token:
            req.add_header("Authorization", "Bearer " + token)
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        try:
            with urllib.request.urlopen(req, context=self.env.ctx, timeout=30) as r:
                return r.status, r.headers, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read()

    def call(self, method, path, template, want, body=None, token=None, data=None,
             headers=None):
        """Calls, checks the status, validates a JSON body against the documented schema."""
        hdrs = dict(headers or {})
        if body is not None:
            data = json.dumps(body).encode()
            hdrs.setdefault("Content-Type", "application/json")
        elif data is not None:
            hdrs.setdefault("Content-Type", "application/gzip")
        st, h, raw = self.raw(method, path, data, token, hdrs)
        res = json.loads(raw) if raw else None
        check(st == want, "%s %s -> %s %s (want %s)" % (method, path, st, res, want))
        op = self.doc["paths"][template][method.lower()]
        r = op["responses"].get(str(st))
        check(r is not None, "%s %s: status %s is not documented" % (method, template, st))
        if "$ref" in r:
            r = self.doc["components"]["responses"][r["$ref"].split("/")[-1]]
        if raw:
            errs = validate(self.doc, r["content"]["application/json"]["schema"], res)
            check(not errs, "%s %s -> %s: body does not match the schema:\n  %s\n  body: %s" %
                  (method, path, st, "\n  ".join(errs[:10]), json.dumps(res)[:600]))
        if st < 300:
            self.seen.add((method, template))
        return res, h

    def bundle_bytes(self, name, version, token):
        st, h, raw = self.raw("GET", "/api/v1/packages/%s/%s/bundle" % (name, version),
                              token=token)
        check(st == 200, "bundle %s %s -> %s %s" % (name, version, st, raw[:200]))
        check(h.get("Content-Type") == "application/gzip", "bundle type %s" %
              h.get("Content-Type"))
        check(h.get("X-HealOps-Sha256") == hashlib.sha256(raw).hexdigest(),
              "X-HealOps-Sha256 %s is not the body's" % h.get("X-HealOps-Sha256"))
        self.seen.add(("GET", "/api/v1/packages/{name}/{version}/bundle"))
        return raw


def publish(api, admin, data, want=201, sig=None):
    headers = {"X-HealOps-Signature": sig} if sig else None
    res, _ = api.call("POST", "/api/v1/packages", "/api/v1/packages", want, data=data,
                      token=admin, headers=headers)
    return res


def assign(api, admin, name, want=200, **body):
    res, _ = api.call("PUT", "/api/v1/assignments/" + name, "/api/v1/assignments/{name}", want,
                      body=body, token=admin)
    return res


def self_packages(api, token, etag=None, want=200):
    headers = {"If-None-Match": etag} if etag else None
    res, h = api.call("GET", "/api/v1/agents/self/packages", "/api/v1/agents/self/packages",
                      want, token=token, headers=headers)
    return res, h.get("ETag")


def enroll_fleet(api, enroll, n, labels, prefix):
    agents = []
    for i in range(n):
        res, _ = api.call("POST", "/api/v1/agents/enroll", "/api/v1/agents/enroll", 201,
                          body={"name": "%s%02d" % (prefix, i), "labels": labels}, token=enroll)
        agents.append((res["agent_id"], res["token"]))
    return agents


def versions_of(api, agents):
    out = {}
    for agent_id, tok in agents:
        res, _ = self_packages(api, tok)
        out[agent_id] = {p["name"]: p["version"] for p in res["packages"]}
    return out


# ---- cases ---------------------------------------------------------------------------

@case
def test_packages_publish_read_assign(env):
    """Publish 201 / same bytes 200 / other bytes 409 / bad bundles 400 naming the field;
    list, one, bundle bytes with their sha256; assignments validated; delete."""
    env.start_server()
    admin, read = env.token("admin"), env.token("read")
    api = Api(env)
    b140 = bundle("nginx", "1.4.0")
    res = publish(api, admin, b140)
    check(res["created"] is True and res["signed"] is False and res["key_id"] is None, res)
    check(res["sha256"] == hashlib.sha256(b140).hexdigest() and res["size"] == len(b140), res)
    res = publish(api, admin, b140, want=200)
    check(res["created"] is False, res)
    e = publish(api, admin, bundle("nginx", "1.4.0", description="other bytes"), want=409)
    check(e["field"] == "version", e)
    publish(api, admin, bundle("nginx", "1.5.0-rc.1"))
    publish(api, admin, bundle("nginx", "1.5.0", flat=True))  # a flat tar is accepted too
    publish(api, admin, bundle("base", "0.1.0", description="base checks"))

    e = publish(api, admin, bundle("nginx", "1.6.0", interval=0), want=400)
    check(e["field"] == "bundle:healops-package.json:checks[0].interval", e)
    e = publish(api, admin, bundle("nginx", "1.6.0", extra={"colour": "red"}), want=400)
    check(e["field"].startswith("bundle:healops-package.json"), e)
    e = publish(api, admin, bundle("nginx", "1.6.0", skip_script=True), want=400)
    check(e["field"].startswith("bundle:healops-package.json:checks[0].test.exec"), e)
    e = publish(api, admin, b"this is not gzip at all", want=400)
    check(e["field"].startswith("bundle"), e)
    e = publish(api, admin, b140, sig="not base64!", want=400)
    check(e["field"] == "signature", e)
    api.call("POST", "/api/v1/packages", "/api/v1/packages", 403, data=b140, token=read)

    res, _ = api.call("GET", "/api/v1/packages", "/api/v1/packages", 200, token=read)
    check([p["name"] for p in res["packages"]] == ["base", "nginx"], res)
    nginx = res["packages"][1]
    check(nginx["latest"] == "1.5.0" and nginx["versions"] == 3 and
          nginx["assignment"] is None, nginx)
    res, _ = api.call("GET", "/api/v1/packages/nginx", "/api/v1/packages/{name}", 200,
                      token=read)
    check([v["version"] for v in res["versions"]] == ["1.5.0", "1.5.0-rc.1", "1.4.0"], res)
    check(res["versions"][2]["checks"] == ["nginx.alive"], res)
    check(res["assignment"] is None and res["agents"] == [] and
          res["agents_truncated"] is False, res)
    api.call("GET", "/api/v1/packages/nope", "/api/v1/packages/{name}", 404, token=read)
    e, _ = api.call("GET", "/api/v1/packages/Bad%20Name", "/api/v1/packages/{name}", 400,
                    token=read)
    check(e["field"] == "name", e)
    check(api.bundle_bytes("nginx", "1.4.0", read) == b140, "bundle bytes differ")
    st, _, _ = api.raw("GET", "/api/v1/packages/nginx/9.9.9/bundle", token=read)
    check(st == 404, "unknown bundle -> %s" % st)

    res = assign(api, admin, "nginx", selector={"role": "web"}, version="1.4.0")
    check(res["resolved_version"] == "1.4.0" and res["previous_version"] is None and
          res["rollout_percent"] == 100 and res["halted"] is False, res)
    res = assign(api, admin, "nginx", version="latest", rollout_percent=50)
    check(res["resolved_version"] == "1.5.0" and res["previous_version"] == "1.4.0" and
          res["selector"] == {}, res)
    e = assign(api, admin, "nginx", want=404, version="1.3.0")
    check(e["field"] == "version", e)
    e = assign(api, admin, "nothing", want=404, version="latest")
    check(e["field"] == "name", e)
    for bad in (150, -1, 50.5, "50", True):
        e = assign(api, admin, "nginx", want=400, version="1.4.0", rollout_percent=bad)
        check(e["field"] == "rollout_percent", (bad, e))
    e = assign(api, admin, "nginx", want=400, version="v1")
    check(e["field"] == "version", e)
    e = assign(api, admin, "nginx", want=400, version="1.4.0", percent=5)
    check(e["field"] == "percent", e)
    e = assign(api, admin, "nginx", want=400, version="1.4.0", selector={"a b": "x"})
    check(e["field"] == "selector.a b", e)
    e = assign(api, admin, "nginx", want=400, version="1.4.0", selector={"role": 1})
    check(e["field"] == "selector.role", e)
    e = assign(api, admin, "nginx", want=400, version="1.4.0", selector=["role"])
    check(e["field"] == "selector", e)
    res, _ = api.call("GET", "/api/v1/packages", "/api/v1/packages", 200, token=read)
    check(res["packages"][1]["assignment"]["resolved_version"] == "1.5.0", res)
    res, _ = api.call("DELETE", "/api/v1/assignments/nginx", "/api/v1/assignments/{name}", 200,
                      token=admin)
    check(res == {"name": "nginx", "deleted": True}, res)
    api.call("DELETE", "/api/v1/assignments/nginx", "/api/v1/assignments/{name}", 404,
             token=admin)


@case
def test_packages_publisher_keys_require_signatures(env):
    """With publisher_keys set, unsigned bundles and signatures by another key are refused;
    a good signature is stored with its key id and handed to agents."""
    key, pub = make_key(env.dir, "publisher")
    other, _ = make_key(env.dir, "other")
    cfg = os.path.join(env.dir, "server.json")
    with open(cfg, "w") as f:
        json.dump({"publisher_keys": [pub]}, f)
    env.start_server("--config", cfg)
    admin, enroll = env.token("admin"), env.token("enroll")
    api = Api(env)
    data = bundle("nginx", "1.4.0")
    e = publish(api, admin, data, want=400)
    check(e["field"] == "signature" and "unsigned" in e["error"], e)
    e = publish(api, admin, data, want=400, sig=sign(env.dir, data, other))
    check(e["field"] == "signature" and "does not verify" in e["error"], e)
    e = publish(api, admin, data, want=400, sig=sign(env.dir, data + b"x", key))
    check(e["field"] == "signature", e)
    good = sign(env.dir, data, key)
    res = publish(api, admin, data, sig=" " + good + " ")
    check(res["signed"] is True and res["key_id"] == key_id(pub), res)
    assign(api, admin, "nginx", version="1.4.0")
    (agent_id, tok), = enroll_fleet(api, enroll, 1, {}, "node")
    res, _ = self_packages(api, tok)
    check(res["packages"] == [{"name": "nginx", "version": "1.4.0",
                               "sha256": hashlib.sha256(data).hexdigest(), "size": len(data),
                               "signature": good,
                               "bundle_url": "/api/v1/packages/nginx/1.4.0/bundle"}], res)
    check(api.bundle_bytes("nginx", "1.4.0", tok) == data, "agent got other bytes")


@case
def test_packages_rollout_selects_and_stages(env):
    """Selectors pick agents by label; a 50 % rollout gives the new version to the agents
    whose bucket is below 50 (close to half of 20) and the same ones again; ETag gives
    304; heartbeat package_errors show in GET /packages/NAME."""
    env.start_server()
    admin, read, enroll = env.token("admin"), env.token("read"), env.token("enroll")
    api = Api(env)
    web = enroll_fleet(api, enroll, 20, {"role": "web", "dc": "ams"}, "web")
    db = enroll_fleet(api, enroll, 2, {"role": "db"}, "db")
    bare = enroll_fleet(api, enroll, 1, {}, "bare")
    publish(api, admin, bundle("nginx", "1.4.0"))
    publish(api, admin, bundle("nginx", "1.5.0"))
    publish(api, admin, bundle("base", "0.1.0"))
    assign(api, admin, "nginx", selector={"role": "web"}, version="1.4.0")
    assign(api, admin, "base", version="latest")

    got = versions_of(api, web + db + bare)
    for agent_id, _ in web:
        check(got[agent_id] == {"nginx": "1.4.0", "base": "0.1.0"}, got[agent_id])
    for agent_id, _ in db + bare:
        check(got[agent_id] == {"base": "0.1.0"}, got[agent_id])  # missing label: not selected
    res, _ = self_packages(api, web[0][1])
    check([p["name"] for p in res["packages"]] == ["base", "nginx"], res)

    res = assign(api, admin, "nginx", selector={"role": "web", "dc": "ams"}, version="1.5.0",
                 rollout_percent=50)
    check(res["previous_version"] == "1.4.0", res)
    first = versions_of(api, web)
    new = {a for a, v in first.items() if v["nginx"] == "1.5.0"}
    want = {a for a, _ in web if bucket(a, "nginx") < 50}
    check(new == want, "rollout picked %s, the contract's buckets say %s" % (new, want))
    check(4 <= len(new) <= 16, "%d of 20 agents on the new version" % len(new))
    check(all(v["nginx"] in ("1.4.0", "1.5.0") for v in first.values()), first)
    check(versions_of(api, web) == first, "a second call moved agents")

    res, etag = self_packages(api, web[0][1])
    check(etag and etag.startswith('"'), "no ETag: %r" % etag)
    again, _ = self_packages(api, web[0][1], etag=etag, want=304)
    check(again is None, again)
    self_packages(api, web[0][1], etag='"other"', want=200)
    api.call("GET", "/api/v1/agents/self/packages", "/api/v1/agents/self/packages", 403,
             token=read)

    # heartbeats: what runs, and what failed to install
    agent_id, tok = web[0]
    hb = {"version": "0.1.0", "packages": [{"name": "nginx", "version": "1.4.0"}],
          "package_errors": [{"name": "nginx", "version": "1.5.0",
                              "error": "signature does not verify with any trusted key"}]}
    api.call("POST", "/api/v1/agents/heartbeat", "/api/v1/agents/heartbeat", 200, body=hb,
             token=tok)
    res, _ = api.call("GET", "/api/v1/packages/nginx", "/api/v1/packages/{name}", 200,
                      token=read)
    check(len(res["agents"]) == 20, "agents of nginx: %d" % len(res["agents"]))
    mine = [a for a in res["agents"] if a["agent_id"] == agent_id][0]
    check(mine["version"] == "1.4.0" and mine["assigned_version"] == first[agent_id]["nginx"] and
          mine["error"] == "signature does not verify with any trusted key" and
          mine["error_version"] == "1.5.0", mine)
    others = [a for a in res["agents"] if a["agent_id"] != agent_id]
    check(all(a["version"] is None and a["error"] is None for a in others), others[:2])
    check({a["assigned_version"] for a in others} <= {"1.4.0", "1.5.0"}, others)
    # package_errors replaces the set; [] clears it
    hb["package_errors"] = []
    api.call("POST", "/api/v1/agents/heartbeat", "/api/v1/agents/heartbeat", 200, body=hb,
             token=tok)
    res, _ = api.call("GET", "/api/v1/packages/nginx", "/api/v1/packages/{name}", 200,
                      token=read)
    check([a for a in res["agents"] if a["agent_id"] == agent_id][0]["error"] is None, res)
    for bad, field in (([{"name": "nginx", "error": "x"}] * 65, "package_errors"),
                       ([{"name": "nginx", "error": "a\x01b"}], "package_errors[0]"),
                       ([{"name": "nginx", "error": "x" * 1025}], "package_errors[0]"),
                       ([{"name": "nginx"}], "package_errors[0]"),
                       ([{"name": "nginx", "error": "x", "extra": 1}], "package_errors[0]"),
                       ({"name": "nginx"}, "package_errors")):
        e, _ = api.call("POST", "/api/v1/agents/heartbeat", "/api/v1/agents/heartbeat", 400,
                        body={"package_errors": bad}, token=tok)
        check(e["field"] == field, (field, e))


@case
def test_packages_rollout_halts_on_failures(env):
    """Runs of the new version fail, the old one's pass: the watcher halts the rollout
    with a reason and every selected agent is given the previous version again."""
    cfg = os.path.join(env.dir, "server.json")
    with open(cfg, "w") as f:
        json.dump({"rollout_check_interval": 1, "rollout_min_runs": 5}, f)
    env.start_server("--config", cfg)
    admin, read, enroll = env.token("admin"), env.token("read"), env.token("enroll")
    api = Api(env)
    web = enroll_fleet(api, enroll, 20, {"role": "web"}, "web")
    publish(api, admin, bundle("nginx", "1.4.0"))
    publish(api, admin, bundle("nginx", "1.5.0"))
    assign(api, admin, "nginx", selector={"role": "web"}, version="1.4.0")
    assign(api, admin, "nginx", selector={"role": "web"}, version="1.5.0", rollout_percent=50)
    time.sleep(0.05)
    got = versions_of(api, web)
    on_new = sum(1 for v in got.values() if v["nginx"] == "1.5.0")
    check(on_new >= 2, "only %d agents on the new version" % on_new)
    now = time.time()
    for agent_id, tok in web:
        version = got[agent_id]["nginx"]
        bad = version == "1.5.0"
        runs = [new_run("nginx.alive", package="nginx", version=version, started=now + k * 0.01,
                        outcome="failed" if bad else "ok", status="critical" if bad else "ok")
                for k in range(3)]
        res, _ = api.call("POST", "/api/v1/runs", "/api/v1/runs", 200, body={"runs": runs},
                          token=tok)
        check(res["accepted"] == 3, res)

    def halted():
        res, _ = api.call("GET", "/api/v1/packages/nginx", "/api/v1/packages/{name}", 200,
                          token=read)
        return res["assignment"] if res["assignment"]["halted"] else None
    a = wait_for(halted, 15, 0.2, "the rollout to be halted")
    # the watcher may have looked before every agent had posted: counts are at least 5
    m = re.match(r"^1\.5\.0 failed (\d+) of (\d+) runs \(100%\) against 0 of (\d+) \(0%\) on "
                 r"1\.4\.0 since the rollout began$", a["halt_reason"] or "")
    check(m and m.group(1) == m.group(2) and 5 <= int(m.group(1)) <= on_new * 3 and
          int(m.group(3)) <= (20 - on_new) * 3, "halt_reason %r" % a["halt_reason"])
    check(a["halted_at"] and a["previous_version"] == "1.4.0", a)
    check(all(v == {"nginx": "1.4.0"} for v in versions_of(api, web).values()),
          "after the halt some agents still get 1.5.0")
    with open(env.server_log) as f:
        log = f.read()
    check("level=warn" in log and "rollout: halted nginx 1.5.0" in log, env.tail(env.server_log))
    # a PUT clears the halt and starts a new rollout from the version agents ran
    res = assign(api, admin, "nginx", selector={"role": "web"}, version="1.5.0",
                 rollout_percent=10)
    check(res["halted"] is False and res["halt_reason"] is None and
          res["previous_version"] == "1.4.0", res)


def openapi_exercise(env, live, admin, read, agent):
    """Calls every package route once for schema/openapi.json's live check (openapi.py);
    marks them seen in live.seen."""
    api = Api(env)
    publish(api, admin, bundle("web", "1.0.0"))
    publish(api, admin, bundle("web", "1.0.0"), want=200)
    publish(api, admin, bundle("web", "1.1.0"))
    assign(api, admin, "web", version="1.1.0", rollout_percent=100, selector={})
    api.call("GET", "/api/v1/packages", "/api/v1/packages", 200, token=read)
    api.call("GET", "/api/v1/packages/web", "/api/v1/packages/{name}", 200, token=read)
    api.bundle_bytes("web", "1.1.0", agent)
    self_packages(api, agent)
    api.call("DELETE", "/api/v1/assignments/web", "/api/v1/assignments/{name}", 200, token=admin)
    live.seen |= api.seen
