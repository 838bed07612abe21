#!/usr/bin/env python3
"""Integration cases for package distribution on the agent side: the real
healops-agent fetches its assigned packages, verifies and installs the signed
bundles under STATE_DIR/packages, switches versions without a restart, refuses
bundles it cannot trust (the running version stays and the error reaches the
server), and follows a partial rollout.

Bundles are built here with tarfile (top folder NAME-VERSION/, as the contract
fixes) and signed with `openssl pkeyutl -sign -rawin` using Ed25519 keys from
`openssl genpkey`, so the cases do not depend on healopsctl.

The first case talks to a small stand-in server in this file (plain HTTP on
loopback) that checks the agent's requests (If-None-Match, heartbeat fields);
the others use the real healops-server. Loaded by run.py through CASES; run
alone with
    python3 tests/integration/run.py --build build packages_agent
"""

import base64
import gzip
import hashlib
import http.server
import io
import json
import os
import signal
import subprocess
import tarfile
import threading
import time
import uuid

from harness import Failure, check, stop, wait_for

CASES = []


def case(fn):
    CASES.append(fn)
    return fn


# ---- keys, bundles, signatures ---------------------------------------------

def make_key(d, name):
    """An Ed25519 key pair: (private PEM path, public PEM path)."""
    key, pub = os.path.join(d, name + ".key"), os.path.join(d, name + ".pub")
    subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", key], check=True,
                   capture_output=True, timeout=20)
    subprocess.run(["openssl", "pkey", "-in", key, "-pubout", "-out", pub], check=True,
                   capture_output=True, timeout=20)
    return key, pub


def sign(d, data, key):
    """Base64 of the pure Ed25519 signature of data."""
    path = os.path.join(d, "to-sign-%s" % uuid.uuid4().hex)
    with open(path, "wb") as f:
        f.write(data)
    out = subprocess.run(["openssl", "pkeyutl", "-sign", "-rawin", "-inkey", key, "-in", path],
                         check=True, capture_output=True, timeout=20).stdout
    os.unlink(path)
    check(len(out) == 64, "openssl made a %d byte signature" % len(out))
    return base64.b64encode(out).decode()


CHECK_SCRIPT = """#!/bin/sh
echo "OK - %(name)s %(version)s"
exit 0
"""


def make_bundle(name, version, interval=1):
    """The tar.gz bytes of a package with one exec check, under NAME-VERSION/."""
    top = "%s-%s" % (name, version)
    manifest = {"name": name, "version": version, "description": "test package",
                "checks": [{"name": name + ".alive", "interval": interval, "timeout": 5,
                            "test": {"exec": ["checks/alive.test"]}}]}
    files = [("healops-package.json", json.dumps(manifest).encode(), 0o644),
             ("checks/alive.test", (CHECK_SCRIPT % {"name": name, "version": version}).encode(),
              0o755)]
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for dname in (top, top + "/checks"):
            ti = tarfile.TarInfo(dname)
            ti.type, ti.mode, ti.mtime = tarfile.DIRTYPE, 0o755, 0
            tar.addfile(ti)
        for rel, data, mode in files:
            ti = tarfile.TarInfo(top + "/" + rel)
            ti.size, ti.mode, ti.mtime = len(data), mode, 0
            tar.addfile(ti, io.BytesIO(data))
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", mtime=0) as gz:
        gz.write(raw.getvalue())
    return out.getvalue()


def bucket(agent_id, package):
    """The rollout bucket of the contract: SHA-256("agent_id/package")[0:4] BE mod 100."""
    h = hashlib.sha256(("%s/%s" % (agent_id, package)).encode()).digest()
    return int.from_bytes(h[:4], "big") % 100


def link(state, name, which):
    try:
        return os.readlink(os.path.join(state, "packages", name, which))
    except OSError:
        return None


def agent_log(env, name):
    try:
        with open(os.path.join(env.dir, "agent-%s.log" % name)) as f:
            return f.read()
    except OSError:
        return ""


# ---- the stand-in server -----------------------------------------------------

class Fake:
    """Enroll, heartbeat, runs, metrics, the package list (with ETag) and bundles."""

    def __init__(self):
        self.lock = threading.Lock()
        self.assigned = []        # entries of GET /agents/self/packages
        self.bundles = {}         # url path -> bytes
        self.heartbeats = []
        self.runs = []
        self.list_requests = []   # (If-None-Match sent, status answered)
        self.downloads = []
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def answer(self, status, body, ctype="application/json", headers=None):
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def authed(self):
                if self.headers.get("Authorization") != "Bearer hot_fake":
                    self.answer(401, {"error": "token"})
                    return False
                return True

            def do_GET(self):
                if not self.authed():
                    return
                if self.path == "/api/v1/agents/self/packages":
                    with fake.lock:
                        body = json.dumps({"packages": fake.assigned}).encode()
                    etag = '"%s"' % hashlib.sha256(body).hexdigest()[:32]
                    inm = self.headers.get("If-None-Match")
                    status = 304 if inm == etag else 200
                    with fake.lock:
                        fake.list_requests.append((inm, status))
                    if status == 304:
                        self.send_response(304)
                        self.send_header("ETag", etag)
                        self.end_headers()
                        return
                    return self.answer(200, body, headers={"ETag": etag})
                with fake.lock:
                    data = fake.bundles.get(self.path)
                    fake.downloads.append(self.path)
                if data is None:
                    return self.answer(404, {"error": "no such bundle"})
                return self.answer(200, data, "application/gzip")

            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(n)
                if self.path == "/api/v1/agents/enroll":
                    return self.answer(200, {"agent_id": str(uuid.uuid4()), "token": "hot_fake"})
                if not self.authed():
                    return
                if self.path == "/api/v1/agents/heartbeat":
                    with fake.lock:
                        fake.heartbeats.append(json.loads(raw))
                    return self.answer(200, {"status": "ok"})
                if self.path == "/api/v1/runs":
                    runs = json.loads(raw)["runs"]
                    with fake.lock:
                        fake.runs += runs
                    return self.answer(200, {"accepted": len(runs), "duplicates": 0,
                                             "rejected": []})
                if self.path == "/api/v1/metrics":
                    return self.answer(200, {"accepted": 0, "duplicate": False})
                return self.answer(404, {"error": "no such endpoint"})

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d" % self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def publish(self, name, version, data, signature):
        path = "/api/v1/packages/%s/%s/bundle" % (name, version)
        entry = {"name": name, "version": version, "sha256": hashlib.sha256(data).hexdigest(),
                 "size": len(data), "signature": signature, "bundle_url": path}
        with self.lock:
            self.bundles[path] = data
        return entry

    def assign(self, entries):
        with self.lock:
            self.assigned = list(entries)

    def versions_since(self, t0, name):
        with self.lock:
            return {r["version"] for r in self.runs
                    if r["package"] == name and r["started_at"] >= t0}

    def last_heartbeat(self):
        with self.lock:
            return self.heartbeats[-1] if self.heartbeats else None

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def iso_now():
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%03dZ" % (int(t * 1000) % 1000)


@case
def test_agent_package_sync_against_stand_in(env):
    """Daemon: installs, switches without a restart, refuses an unsigned bundle once, stops
    an unassigned package; sends If-None-Match and reports packages and package_errors."""
    fake = Fake()
    try:
        key, pub = make_key(env.dir, "publisher")
        state = os.path.join(env.dir, "a1")
        v1, v2, v3 = (make_bundle("web", v) for v in ("1.0.0", "2.0.0", "3.0.0"))
        e1 = fake.publish("web", "1.0.0", v1, sign(env.dir, v1, key))
        e2 = fake.publish("web", "2.0.0", v2, sign(env.dir, v2, key))
        e3 = fake.publish("web", "3.0.0", v3, None)
        fake.assign([e1])
        log = open(os.path.join(env.dir, "agent-fake.log"), "a")
        p = subprocess.Popen(
            [env.bin("healops-agent"), "--server", fake.url, "--state-dir", state, "--name",
             "node1", "--splay", "0", "--enroll-token", "hot_enroll", "--trust-key", pub,
             "--package-sync-interval", "1", "--heartbeat-interval", "5"],
            stdout=log, stderr=log)
        log.close()
        env.procs.append(p)
        t0 = iso_now()
        wait_for(lambda: "1.0.0" in fake.versions_since(t0, "web"), 20, what="runs of web 1.0.0")
        check(link(state, "web", "current") == "1.0.0", "current -> %s" % link(state, "web",
                                                                                 "current"))
        wait_for(lambda: (fake.last_heartbeat() or {}).get("packages") ==
                 [{"name": "web", "version": "1.0.0"}], 15, what="heartbeat listing web 1.0.0")
        check(fake.last_heartbeat().get("package_errors") == [], fake.last_heartbeat())
        wait_for(lambda: any(s == 304 for _, s in fake.list_requests), 10,
                 what="a 304 to If-None-Match")
        check(fake.list_requests[0][0] is None, "first list request sent If-None-Match")
        # v2: switched without a restart
        fake.assign([e2])
        wait_for(lambda: link(state, "web", "current") == "2.0.0", 15, what="current -> 2.0.0")
        check(link(state, "web", "previous") == "1.0.0", link(state, "web", "previous"))
        # two bundles installed, each by healops-agent-unpack: libarchive never loaded here
        with open("/proc/%d/maps" % p.pid) as f:
            maps = f.read()
        check("libarchive" not in maps and "healops-agent" in maps,
              "libarchive is mapped in the running agent")
        t1 = iso_now()
        wait_for(lambda: fake.versions_since(t1, "web") == {"2.0.0"}, 15,
                 what="runs of web only 2.0.0")
        wait_for(lambda: (fake.last_heartbeat() or {}).get("packages") ==
                 [{"name": "web", "version": "2.0.0"}], 15, what="heartbeat listing web 2.0.0")
        # v3 unsigned: refused, v2 keeps running, reported, logged once, downloaded once
        fake.assign([e3])
        wait_for(lambda: (fake.last_heartbeat() or {}).get("package_errors"), 15,
                 what="package_errors in a heartbeat")
        errs = fake.last_heartbeat()["package_errors"]
        check(len(errs) == 1 and errs[0]["name"] == "web" and errs[0]["version"] == "3.0.0" and
              "unsigned bundle" in errs[0]["error"], errs)
        check(fake.last_heartbeat()["packages"] == [{"name": "web", "version": "2.0.0"}],
              fake.last_heartbeat())
        time.sleep(3)  # a few more polls
        check(link(state, "web", "current") == "2.0.0", "v3 became current")
        check(agent_log(env, "fake").count("unsigned bundle") == 1,
              "the refusal was not logged exactly once:\n" + agent_log(env, "fake")[-3000:])
        check(fake.downloads.count(e3["bundle_url"]) == 1, "refused bundle downloaded again: %s"
              % fake.downloads)
        t2 = iso_now()
        wait_for(lambda: fake.versions_since(t2, "web") == {"2.0.0"}, 15,
                 what="web 2.0.0 still running")
        # unassigned: stops running, heartbeat empty, errors cleared
        fake.assign([])
        wait_for(lambda: link(state, "web", "current") is None, 15, what="current removed")
        wait_for(lambda: (fake.last_heartbeat() or {}).get("packages") == [], 15,
                 what="heartbeat without packages")
        check(fake.last_heartbeat()["package_errors"] == [], fake.last_heartbeat())
        time.sleep(1.5)
        t3 = iso_now()
        time.sleep(2.5)
        check(fake.versions_since(t3, "web") == set(), "web still runs after unassignment")
        check(stop(p) == 0, "agent exit %s" % p.returncode)
        check("level=error" not in agent_log(env, "fake"), agent_log(env, "fake")[-2000:])
    finally:
        fake.close()


# ---- with the real server ----------------------------------------------------

def publish(env, admin, data, signature=None):
    headers = {"Content-Type": "application/gzip"}
    if signature:
        headers["X-HealOps-Signature"] = signature
    st, body = env.request("POST", "/api/v1/packages", raw=data, token=admin, headers=headers)
    check(st in (200, 201), "publish -> %s %s" % (st, body))
    return body


def assign(env, admin, name, version, percent=100):
    st, body = env.request("PUT", "/api/v1/assignments/" + name,
                           {"selector": {}, "version": version, "rollout_percent": percent},
                           token=admin)
    check(st == 200, "assign %s %s -> %s %s" % (name, version, st, body))
    return body


def start_server(env):
    env.start_server()
    return env.token("enroll"), env.token("read"), env.token("admin")


def run_versions(env, read, name, since):
    return {r["version"] for r in env.runs(read, "package=%s&since=%s" % (name, since))}


@case
def test_agent_installs_switches_and_refuses_bundles(env):
    enroll, read, admin = start_server(env)
    key, pub = make_key(env.dir, "publisher")
    rogue, _ = make_key(env.dir, "rogue")
    state = os.path.join(env.dir, "a1")
    v1 = make_bundle("web", "1.0.0")
    publish(env, admin, v1, sign(env.dir, v1, key))
    assign(env, admin, "web", "1.0.0")
    p = env.spawn_agent(state, [], "--trust-key", pub, "--package-sync-interval", "1",
                        "--heartbeat-interval", "5", enroll=enroll, name="node1")
    t0 = iso_now()
    wait_for(lambda: "1.0.0" in run_versions(env, read, "web", t0), 30, what="runs of web 1.0.0")
    check(link(state, "web", "current") == "1.0.0", "current link")
    # v2 published and assigned: the running agent switches
    v2 = make_bundle("web", "2.0.0")
    publish(env, admin, v2, sign(env.dir, v2, key))
    assign(env, admin, "web", "2.0.0")
    wait_for(lambda: link(state, "web", "current") == "2.0.0", 20, what="switch to 2.0.0")
    check(link(state, "web", "previous") == "1.0.0", "previous link")
    time.sleep(1.5)
    t1 = iso_now()
    wait_for(lambda: run_versions(env, read, "web", t1) == {"2.0.0"}, 20,
             what="runs carrying version 2.0.0 only")

    def agent_error(version, text):
        st, body = env.request("GET", "/api/v1/packages/web", token=read)
        check(st == 200, "GET /packages/web -> %s %s" % (st, body))
        for a in body.get("agents", []):
            if a.get("agent") == "node1" and a.get("error") and text in a["error"]:
                return a
        return None

    # v3 signed by a key the agent does not trust: refused, v2 keeps running
    v3 = make_bundle("web", "3.0.0")
    publish(env, admin, v3, sign(env.dir, v3, rogue))
    assign(env, admin, "web", "3.0.0")
    a = wait_for(lambda: agent_error("3.0.0", "signature does not verify with any trusted key"),
                 20, what="the agent's error in GET /packages/web")
    check(a.get("version") == "2.0.0", "agent entry %s" % a)
    # v4 without a signature: refused as well
    v4 = make_bundle("web", "4.0.0")
    publish(env, admin, v4)
    assign(env, admin, "web", "4.0.0")
    wait_for(lambda: agent_error("4.0.0", "unsigned bundle"), 20,
             what="unsigned bundle error in GET /packages/web")
    # v5 tampered after signing (one byte of the description changed, the publisher's
    # signature of the original bytes kept): refused as well
    v5 = make_bundle("web", "5.0.0")
    sig5 = sign(env.dir, v5, key)
    tampered = gzip.compress(gzip.decompress(v5).replace(b"test package", b"test packagE"),
                             mtime=0)
    check(tampered != v5, "the tampering changed nothing")
    publish(env, admin, tampered, sig5)
    assign(env, admin, "web", "5.0.0")
    wait_for(lambda: agent_error("5.0.0", "signature does not verify"), 20,
             what="tampered bundle error in GET /packages/web")
    check(link(state, "web", "current") == "2.0.0", "a refused version became current")
    st, ag = env.request("GET", "/api/v1/agents/node1", token=read)
    check(st == 200 and any(e["name"] == "web" and e["version"] == "5.0.0"
                            for e in ag.get("package_errors", [])), "GET /agents/node1: %s" % ag)
    t2 = iso_now()
    wait_for(lambda: run_versions(env, read, "web", t2) == {"2.0.0"}, 20,
             what="2.0.0 still running")
    check(stop(p) == 0, "agent exit %s" % p.returncode)
    # a restart while the server is away still runs the installed version
    env.stop_server()
    r = env.run_agent(state, [], "--once", "--trust-key", pub, name="node1", timeout=60)
    check("once: 1 checks" in r.stderr,
          "--once offline did not run the installed package:\n" + r.stderr[-2000:])


@case
def test_agent_trust_key_must_be_a_key(env):
    bad = os.path.join(env.dir, "bad.pub")
    with open(bad, "w") as f:
        f.write("not a key\n")
    r = env.run_agent(os.path.join(env.dir, "a1"), [], "--once", "--trust-key", bad)
    check(r.returncode == 2 and bad in r.stderr, "exit %d: %s" % (r.returncode, r.stderr))


@case
def test_agent_rollout_half_of_the_fleet(env):
    enroll, read, admin = start_server(env)
    key, pub = make_key(env.dir, "publisher")
    v1, v2 = make_bundle("web", "1.0.0", 60), make_bundle("web", "2.0.0", 60)
    publish(env, admin, v1, sign(env.dir, v1, key))
    assign(env, admin, "web", "1.0.0")
    names = ["node%02d" % i for i in range(8)]
    states = {n: os.path.join(env.dir, n) for n in names}
    for n in names:
        r = env.run_agent(states[n], [], "--once", "--trust-key", pub, enroll=enroll, name=n)
        check(r.returncode == 0, "%s --once exit %d: %s" % (n, r.returncode, r.stderr[-1500:]))
        check(link(states[n], "web", "current") == "1.0.0", "%s did not install 1.0.0" % n)
    publish(env, admin, v2, sign(env.dir, v2, key))
    body = assign(env, admin, "web", "2.0.0", 50)
    check(body.get("previous_version") == "1.0.0", body)
    ids = {}
    for n in names:
        with open(os.path.join(states[n], "agent.json")) as f:
            ids[n] = json.load(f)["agent_id"]
    t0 = iso_now()
    for n in names:
        r = env.run_agent(states[n], [], "--once", "--trust-key", pub, name=n)
        check(r.returncode == 0, "%s --once exit %d: %s" % (n, r.returncode, r.stderr[-1500:]))
    moved = {n for n in names if link(states[n], "web", "current") == "2.0.0"}
    want = {n for n in names if bucket(ids[n], "web") < 50}
    check(moved == want, "moved %s, buckets say %s (%s)" %
          (sorted(moved), sorted(want), {n: bucket(ids[n], "web") for n in names}))
    for n in names:
        check(link(states[n], "web", "current") == ("2.0.0" if n in want else "1.0.0"), n)
    got = run_versions(env, read, "web", t0)
    check(got == ({"1.0.0", "2.0.0"} if 0 < len(want) < len(names) else
                  ({"2.0.0"} if want else {"1.0.0"})), "run versions %s" % got)
    st, pk = env.request("GET", "/api/v1/packages/web", token=read)
    check(st == 200, pk)
    reported = {a["agent"]: a.get("version") for a in pk.get("agents", [])}
    for n in names:
        check(reported.get(n) == ("2.0.0" if n in want else "1.0.0"),
              "GET /packages/web says %s runs %s" % (n, reported.get(n)))
