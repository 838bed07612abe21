"""Fault injection against the real binaries on loopback: nothing acknowledged is
lost and nothing is corrupted when the server is killed with SIGKILL during a flood
of posts, when the agent is killed with SIGKILL with runs in its spool, when the
server is stopped with SIGTERM in the middle of a request, and when the disk under
the database is full. Each case prints its figures. Loaded by run.py through CASES."""

import glob
import os
import signal
import socket
import sqlite3
import ssl
import subprocess
import threading
import time

from harness import check, new_run, stop, wait_for, write_package

CASES = []


def case(fn):
    CASES.append(fn)
    return fn


def stored_ids(db):
    con = sqlite3.connect(db, timeout=10)
    try:
        return {r[0] for r in con.execute("SELECT id FROM runs")}
    finally:
        con.close()


def integrity(db):
    con = sqlite3.connect(db, timeout=10)
    try:
        return con.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        con.close()


def enroll(env, names):
    tok = env.token("enroll")
    out = []
    for n in names:
        st, body = env.request("POST", "/api/v1/agents/enroll", {"name": n}, token=tok)
        check(st == 201, (st, body))
        out.append(body["token"])
    return out


class Flooder(threading.Thread):
    """One agent posting batches of runs until told to stop or the server goes away.
    Keeps the ids the server acknowledged and the batches it did not."""

    def __init__(self, env, token, tag, batch=50):
        super().__init__(daemon=True)
        self.env, self.token, self.tag, self.batch = env, token, tag, batch
        self.acked, self.pending, self.stop = set(), [], threading.Event()

    def run(self):
        n = 0
        while not self.stop.is_set() and n < 2000:
            runs = [new_run("c%d" % (i % 20), self.tag) for i in range(self.batch)]
            n += 1
            try:
                st, body = self.env.request("POST", "/api/v1/runs", {"runs": runs},
                                            token=self.token, timeout=10)
            except OSError:
                self.pending.append(runs)
                return
            if st == 200 and not body["rejected"]:
                self.acked.update(r["id"] for r in runs)
            else:
                self.pending.append(runs)
                if st != 200:
                    return


@case
def test_kill9_server_during_flood_loses_no_acknowledged_run(env):
    env.start_server()
    tokens = enroll(env, ["f%d" % i for i in range(4)])
    floods = [Flooder(env, t, "p%d" % i) for i, t in enumerate(tokens)]
    for f in floods:
        f.start()
    wait_for(lambda: sum(len(f.acked) for f in floods) >= 8000, 60, what="8000 acknowledged runs")
    env.server.send_signal(signal.SIGKILL)
    env.server.wait(timeout=10)
    for f in floods:
        f.stop.set()
        f.join(timeout=20)
        check(not f.is_alive(), "a flooder did not stop")
    acked = set().union(*(f.acked for f in floods))
    pending = [b for f in floods for b in f.pending]
    sent = len(acked) + sum(len(b) for b in pending)
    check(integrity(env.db) == "ok", "database damaged by SIGKILL")
    after_kill = stored_ids(env.db)
    lost = acked - after_kill
    check(not lost, "%d acknowledged runs lost, e.g. %s" % (len(lost), sorted(lost)[:3]))
    env.start_server()
    for f, t in zip(floods, tokens):          # the agents send the rest again
        for runs in f.pending:
            st, body = env.request("POST", "/api/v1/runs", {"runs": runs}, token=t)
            check(st == 200 and body["accepted"] + body["duplicates"] == len(runs), (st, body))
    final = stored_ids(env.db)
    want = acked | {r["id"] for b in pending for r in b}
    check(final == want, "stored %d runs, sent %d" % (len(final), len(want)))
    print("    kill -9 server: sent %d, acknowledged before the kill %d, stored at the kill %d "
          "(%d committed but unanswered), stored after the resend %d"
          % (sent, len(acked), len(after_kill), len(after_kill - acked), len(final)))


def spool_ids(state):
    ids = set()
    for p in glob.glob(os.path.join(state, "spool", "*")):
        base = os.path.basename(p)
        if base.startswith(".") or base == "dropped" or not base.endswith(".run"):
            continue
        ids.add(base.split(".")[0])
    return ids


@case
def test_kill9_agent_keeps_its_spool(env):
    env.start_server()
    enroll_tok, read = env.token("enroll"), env.token("read")
    pkgs = os.path.join(env.dir, "pkgs")
    pkg = write_package(pkgs, "beat", [{"name": "beat.ok", "interval": 1,
                                        "test": {"exec": ["checks/ok.test"]}}],
                        scripts={"checks/ok.test": "#!/bin/sh\necho fine\n"})
    state = os.path.join(env.dir, "state")
    r = env.run_agent(state, [pkg], "--once", enroll=enroll_tok, name="k9")
    check(r.returncode == 0, "enrolling --once failed: %s" % r.stderr)
    env.stop_server()                            # the server is away: runs stay spooled
    agent = env.spawn_agent(state, [pkg], name="k9")
    wait_for(lambda: len(spool_ids(state)) >= 5, 30, what="5 spooled runs")
    agent.send_signal(signal.SIGKILL)
    agent.wait(timeout=10)
    spooled = spool_ids(state)
    env.start_server()
    r = env.run_agent(state, [pkg], "--once", name="k9")
    check(r.returncode == 0, "agent --once after the kill: %s" % r.stderr)
    ids = {x["id"] for x in env.runs(read, "agent=k9")}
    missing = spooled - ids
    check(not missing, "%d spooled runs never arrived" % len(missing))
    check(not spool_ids(state), "the spool still holds %s" % spool_ids(state))
    print("    kill -9 agent: %d runs in the spool at the kill, %d stored after the restart "
          "(all %d included)" % (len(spooled), len(ids), len(spooled)))


def raw_post_in_two_parts(env, token, body, between):
    """POSTs body over a raw TLS socket: headers and the first half, then between(),
    then the rest. Returns (status, response text)."""
    ctx = ssl.create_default_context(cafile=env.ca)
    with socket.create_connection(("127.0.0.1", env.port), timeout=20) as raw:
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
            head = ("POST /api/v1/runs HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                    "Authorization: Bearer %s\r\nContent-Type: application/json\r\n"
                    "Content-Length: %d\r\nConnection: close\r\n\r\n" % (token, len(body)))
            half = len(body) // 2
            s.sendall(head.encode() + body[:half])
            time.sleep(0.3)
            between()
            time.sleep(0.3)
            s.sendall(body[half:])
            data = b""
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
    text = data.decode(errors="replace")
    status = int(text.split(" ", 2)[1]) if text.startswith("HTTP/1.1 ") else 0
    return status, text


@case
def test_sigterm_finishes_the_request_in_flight(env):
    import json
    env.start_server()
    (tok,) = enroll(env, ["drain"])
    runs = [new_run("c%d" % i, "drain") for i in range(200)]
    body = json.dumps({"runs": runs}).encode()
    status, text = raw_post_in_two_parts(env, tok, body,
                                         lambda: env.server.send_signal(signal.SIGTERM))
    check(status == 200 and '"accepted":200' in text.replace(" ", ""),
          "the request in flight at SIGTERM got %s: %s" % (status, text[-300:]))
    rc = env.server.wait(timeout=15)
    check(rc == 0, "server exit status %s after SIGTERM" % rc)
    ids = stored_ids(env.db)
    check({r["id"] for r in runs} <= ids, "runs answered 200 are not stored")
    check(integrity(env.db) == "ok", "database damaged")
    env.server = None
    print("    SIGTERM during a 200-run POST: answered 200, 200 stored, exit status 0")


def mount_tmpfs(path, size):
    os.makedirs(path, exist_ok=True)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%s" % size, "tmpfs", path],
                       capture_output=True, text=True)
    return r.returncode == 0


@case
def test_full_disk_gives_503_and_no_damage(env):
    small = os.path.join(env.dir, "small")
    if os.geteuid() != 0 or not mount_tmpfs(small, "8m"):
        print("    SKIP: mounting a small tmpfs needs root (CAP_SYS_ADMIN)")
        return
    try:
        env.db = os.path.join(small, "healops.db")
        env.start_server()
        (tok,) = enroll(env, ["disk"])
        acked = set()

        def post(n):
            runs = [new_run("c%d" % i, "disk", test={"status": "ok", "exit_code": 0,
                                                     "output": "x" * 2000, "duration_ms": 1})
                    for i in range(n)]
            st, body = env.request("POST", "/api/v1/runs", {"runs": runs}, token=tok)
            if st == 200:
                acked.update(r["id"] for r in runs)
            return st, body
        check(post(50)[0] == 200, "posting before the disk filled up failed")
        filler = os.path.join(small, "filler")
        with open(filler, "wb") as f:
            try:
                while True:
                    f.write(b"\0" * 65536)
                    f.flush()
            except OSError:
                pass
        codes = [post(50) for _ in range(5)]
        full = [c for c in codes if c[0] == 503]
        check(full, "a full disk never gave 503: %s" % [c[0] for c in codes])
        check(all(c[0] in (200, 503) for c in codes), [c[0] for c in codes])
        check(isinstance(full[0][1], dict) and full[0][1].get("error"), full[0])
        check(env.request("GET", "/healthz")[0] == 200, "server stopped serving")
        os.unlink(filler)
        check(post(50)[0] == 200, "posting after space came back failed")
        env.stop_server()
        check(integrity(env.db) == "ok", "database damaged by the full disk")
        r = subprocess.run([env.bin("healops-server"), "check", "--db", env.db],
                           capture_output=True, text=True, timeout=60)
        check(r.returncode == 0, "healops-server check: %s %s" % (r.stdout, r.stderr))
        lost = acked - stored_ids(env.db)
        check(not lost, "%d acknowledged runs lost" % len(lost))
        print("    full disk: %d of 5 posts answered 503, %d acknowledged runs all stored, "
              "integrity ok" % (len(full), len(acked)))
    finally:
        if env.server is not None:
            stop(env.server)
            env.server = None
        subprocess.run(["umount", "-l", small], capture_output=True)


@case
def test_sigterm_agent_stops_running_children_with_their_group(env):
    """A check in the middle of a long test (a shell and its sleeping child) when the
    agent gets SIGTERM: the whole process group goes, the agent exits at once instead of
    waiting out the check's timeout, and the cut-short run is not recorded."""
    env.start_server()
    enroll, read = env.token("enroll"), env.token("read")
    pids = os.path.join(env.dir, "pids")
    pkg = write_package(os.path.join(env.dir, "pkgs"), "slow", [
        {"name": "slow.sleep", "interval": 300, "timeout": 600,
         "test": {"exec": ["checks/slow.test", pids]}}],
        scripts={"checks/slow.test": "#!/bin/sh\nsleep 300 &\necho $$ $! > \"$1\"\nwait\n"})
    state = os.path.join(env.dir, "state")
    agent = env.spawn_agent(state, [pkg], enroll=enroll, name="term1")
    wait_for(lambda: os.path.exists(pids) and len(open(pids).read().split()) == 2, 30,
             what="the test's shell and sleep to start")
    shell, sleeper = (int(x) for x in open(pids).read().split())
    t0 = time.monotonic()
    agent.send_signal(signal.SIGTERM)
    rc = agent.wait(timeout=20)
    took = time.monotonic() - t0
    check(rc == 0, "agent exit status %s" % rc)

    def gone(pid):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        # a zombie of an exited parent is reaped by init soon after
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split()[2] == "Z"
    wait_for(lambda: gone(shell) and gone(sleeper), 5, what="the test's process group to go")
    check(not env.runs(read, "agent=term1&check=slow.sleep"), "the cut-short run was recorded")
    print("    SIGTERM to the agent during a 300 s test: exited 0 in %.1f s, test's group gone"
          % took)


@case
def test_sigterm_finishes_the_forwarder_batch_in_flight(env):
    """SIGTERM while a forwarder's batch is on the wire: the server waits for the answer,
    records the batch as delivered and exits 0; after a restart nothing is sent twice."""
    import http.server
    import json
    import threading
    got, arrived = [], threading.Event()

    class Sink(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            got.append(len(json.loads(body)))
            arrived.set()
            time.sleep(1.5)                  # the server is told to stop meanwhile
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass
    sink = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Sink)
    threading.Thread(target=sink.serve_forever, daemon=True).start()
    try:
        cfg = os.path.join(env.dir, "server.json")
        with open(cfg, "w") as f:
            json.dump({"forwarders": [{"name": "slow", "type": "opentsdb",
                                       "url": "http://127.0.0.1:%d" % sink.server_address[1],
                                       "max_backoff": 2}]}, f)
        env.start_server("--config", cfg)
        (tok,) = enroll(env, ["fw1"])
        st, body = env.request("POST", "/api/v1/runs",
                               {"runs": [new_run("c%d" % i, "fw") for i in range(20)]},
                               token=tok)
        check(st == 200 and body["accepted"] == 20, (st, body))
        check(arrived.wait(20), "the forwarder never sent")
        env.server.send_signal(signal.SIGTERM)
        rc = env.server.wait(timeout=20)
        check(rc == 0, "server exit status %s" % rc)
        env.server = None
        sent = sum(got)
        con = sqlite3.connect(env.db, timeout=10)
        try:
            delivered, = con.execute("SELECT delivered FROM forwarder_state "
                                     "WHERE name = 'slow'").fetchone()
        finally:
            con.close()
        check(delivered == sent, "forwarder_state says %d delivered, the sink got %d"
              % (delivered, sent))
        n = len(got)
        env.start_server("--config", cfg)
        time.sleep(2)
        check(len(got) == n, "points sent again after the restart: %s" % got)
        print("    SIGTERM during a forwarder batch: %d points answered and recorded, exit 0, "
              "none sent twice" % sent)
    finally:
        sink.shutdown()
