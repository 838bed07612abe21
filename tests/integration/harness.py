"""Integration harness: real healops-server and healops-agent binaries on
127.0.0.1 with TLS, free ports, temporary folders, bounded waits, and every
process stopped at the end."""

import json
import os
import shlex
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import uuid


class Failure(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Failure(msg)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(pred, timeout=10.0, step=0.1, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(step)
    raise Failure("timed out after %.1f s waiting for %s" % (timeout, what))


def make_certs(d):
    """A throwaway CA and a server certificate for 127.0.0.1/localhost."""
    def run(*args):
        subprocess.run(args, check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, cwd=d)
    run("openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "ca.key")
    run("openssl", "req", "-x509", "-new", "-key", "ca.key", "-sha256", "-days", "2",
        "-subj", "/CN=HealOps test CA", "-out", "ca.pem")
    run("openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "server.key")
    run("openssl", "req", "-new", "-key", "server.key", "-subj", "/CN=localhost",
        "-out", "server.csr")
    with open(os.path.join(d, "ext.cnf"), "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    run("openssl", "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-days", "2", "-sha256", "-extfile", "ext.cnf", "-out", "server.pem")
    return os.path.join(d, "ca.pem"), os.path.join(d, "server.pem"), os.path.join(d, "server.key")


def write_exec(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o755)


def write_package(root, name, checks, version="1.0.0", scripts=None):
    """Writes a package folder; scripts maps relative path -> script text."""
    d = os.path.join(root, name)
    os.makedirs(d, exist_ok=True)
    for rel, text in (scripts or {}).items():
        write_exec(os.path.join(d, rel), text)
    with open(os.path.join(d, "healops-package.json"), "w") as f:
        json.dump({"name": name, "version": version, "checks": checks}, f)
    return d


# HEALOPS_WRAP="valgrind ..." runs every server and agent the cases start under that
# command line (tests/integration/valgrind.sh uses it for memcheck runs).
WRAP = shlex.split(os.environ.get("HEALOPS_WRAP", ""))


class Env:
    """One test's world: a temp folder, certificates, a server, agents."""

    def __init__(self, build):
        self.build = os.path.abspath(build)
        self.dir = tempfile.mkdtemp(prefix="healops-it-")
        self.ca, self.cert, self.key = make_certs(self.dir)
        self.db = os.path.join(self.dir, "healops.db")
        self.port = free_port()
        self.server = None
        self.procs = []
        self.ctx = ssl.create_default_context(cafile=self.ca)
        self.server_log = os.path.join(self.dir, "server.log")

    @property
    def url(self):
        return "https://127.0.0.1:%d" % self.port

    def bin(self, name):
        return os.path.join(self.build, name)

    def start_server(self, *extra):
        log = open(self.server_log, "a")
        self.server = subprocess.Popen(
            WRAP + [self.bin("healops-server"), "--listen", "127.0.0.1:%d" % self.port,
             "--db", self.db, "--tls-cert", self.cert, "--tls-key", self.key] + list(extra),
            stdout=log, stderr=log)
        log.close()
        self.procs.append(self.server)

        def up():
            if self.server.poll() is not None:
                raise Failure("server exited with %s: %s" % (self.server.returncode,
                                                            self.tail(self.server_log)))
            try:
                return self.request("GET", "/healthz")[0] == 200
            except (OSError, urllib.error.URLError):
                return False
        wait_for(up, 60 if WRAP else 10, what="server /healthz")

    def stop_server(self, sig=signal.SIGTERM):
        if self.server is None:
            return
        stop(self.server, sig)
        self.server = None

    def token(self, scope):
        out = subprocess.run([self.bin("healops-server"), "token", "create", "--scope", scope,
                              "--db", self.db], check=True, capture_output=True, text=True,
                             timeout=20)
        tok = out.stdout.strip()
        check(tok.startswith("hot_") and "\n" not in tok, "token create printed %r" % out.stdout)
        return tok

    def request(self, method, path, body=None, token=None, raw=None, headers=None, timeout=10):
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        req = urllib.request.Request(self.url + path, data=data, method=method)
        if token:
            req.add_header("Authorization", "Bearer " + token)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        try:
            with urllib.request.urlopen(req, context=self.ctx, timeout=timeout) as r:
                text = r.read().decode()
                return r.status, (json.loads(text) if text else None)
        except urllib.error.HTTPError as e:
            text = e.read().decode()
            try:
                return e.code, json.loads(text)
            except ValueError:
                return e.code, text

    def agent_cmd(self, state, pkgs, *extra, enroll=None, name="node1"):
        cmd = WRAP + [self.bin("healops-agent"), "--server", self.url, "--ca-file", self.ca,
               "--state-dir", state, "--name", name, "--splay", "0"]
        if enroll:
            cmd += ["--enroll-token", enroll]
        for p in pkgs:
            cmd += ["--package-dir", p]
        return cmd + list(extra)

    def run_agent(self, state, pkgs, *extra, enroll=None, name="node1", timeout=60):
        cmd = self.agent_cmd(state, pkgs, *extra, enroll=enroll, name=name)
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)

    def spawn_agent(self, state, pkgs, *extra, enroll=None, name="node1"):
        log = open(os.path.join(self.dir, "agent-%s.log" % name), "a")
        p = subprocess.Popen(self.agent_cmd(state, pkgs, *extra, enroll=enroll, name=name),
                             stdout=log, stderr=log)
        log.close()
        self.procs.append(p)
        return p

    def runs(self, token, query=""):
        """Every run matching query, following next_cursor."""
        out, cursor = [], None
        for _ in range(1000):
            q = query + ("&" if query else "") + "limit=1000"
            if cursor:
                q += "&cursor=" + cursor
            st, body = self.request("GET", "/api/v1/runs?" + q, token=token)
            check(st == 200, "GET /runs?%s -> %s %s" % (q, st, body))
            out += body["runs"]
            cursor = body.get("next_cursor")
            if not cursor:
                return out
        raise Failure("paging did not end")

    def tail(self, path, n=30):
        try:
            with open(path) as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    def close(self, keep=False):
        for p in self.procs:
            stop(p, signal.SIGTERM)
        if not keep:
            shutil.rmtree(self.dir, ignore_errors=True)


def stop(p, sig=signal.SIGTERM, timeout=10):
    if p.poll() is not None:
        return p.returncode
    p.send_signal(sig)
    try:
        return p.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        return p.wait(timeout=5)


def new_run(check_name="c1", package="p1", outcome="ok", status="ok", started=None, **kw):
    started = started or time.time()
    ms = int(started * 1000)
    rid = uuid_v7(ms)
    r = {"id": rid, "package": package, "version": "1.0.0", "check": check_name,
         "started_at": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(started)) +
         ".%03dZ" % (ms % 1000),
         "duration_ms": 5, "manual": False,
         "test": {"status": status, "exit_code": 0 if status == "ok" else 2,
                  "output": "out", "duration_ms": 3},
         "outcome": outcome, "metrics": [{"name": "m1", "value": 1.5, "tags": {"a": "b"}}]}
    r.update(kw)
    return r


def uuid_v7(ms):
    b = bytearray(os.urandom(16))
    b[0:6] = ms.to_bytes(6, "big")
    b[6] = 0x70 | (b[6] & 0x0F)
    b[8] = 0x80 | (b[8] & 0x3F)
    return str(uuid.UUID(bytes=bytes(b)))
