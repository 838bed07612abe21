#!/usr/bin/env python3
"""Dashboard benchmark: a database with AGENTS x 20 states (default 10,000 x 20 =
200,000), seeded with direct SQL into a fresh database the server made, then

  - the requests the overview page makes, over one kept-alive TLS connection:
    GET /, /app.js, /app.css, /api/v1/state/summary, the first /api/v1/state page
    (limit 500), each with and without filters (label, q, outcome, stale), and the
    same polls answered 304 through If-None-Match;
  - when chromium and chromedriver are installed, the first overview load in the
    browser: navigation start to the grid drawn, and the Navigation Timing figures.

Prints figures (medians of REPS) and BENCH lines; asserts nothing.
Usage: python3 tests/bench/dashboard.py --build build [--agents 10000] [--reps 7]
"""

import argparse
import http.client
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
import json
import shutil

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
sys.path.insert(0, os.path.join(ROOT, "tests", "browser"))

from harness import Env, free_port, stop, wait_for  # noqa: E402

CHECKS = 20
PACKAGES = ["base", "nginx", "postgres", "redis", "app"]


def seed(db, agents):
    """agents agents (every 500th silent) x 20 states: ~2% failed, 1% repaired, 0.5% error,
    0.3% stale. Direct SQL, one transaction."""
    now = int(time.time() * 1000)
    con = sqlite3.connect(db)
    con.execute("PRAGMA journal_mode = WAL")
    with con:
        con.execute(
            "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < ?1 - 1) "
            "INSERT INTO agents (uid, name, labels, version, packages, enrolled_at, last_seen) "
            "SELECT printf('01900000-0000-7000-8000-%012d', i), printf('node-%05d', i), "
            "json_object('role', CASE i % 4 WHEN 0 THEN 'web' WHEN 1 THEN 'db' WHEN 2 THEN 'cache' "
            "ELSE 'batch' END, 'dc', CASE i % 3 WHEN 0 THEN 'ams' WHEN 1 THEN 'fra' ELSE 'lon' END), "
            "'0.1.0', '[{\"name\":\"base\",\"version\":\"1.0.0\"}]', ?2, "
            "CASE WHEN i % 500 = 0 THEN ?2 - 3600000 ELSE ?2 END FROM n", (agents, now))
        con.execute(
            "WITH RECURSIVE c(j) AS (SELECT 0 UNION ALL SELECT j + 1 FROM c WHERE j < ?1 - 1), "
            "ck(j, pn) AS (SELECT j, json_extract(?3, '$[' || (j % 5) || ']') FROM c) "
            "INSERT INTO state (agent, check_name, package, run_id, outcome, test_status, "
            "repair_status, retest_status, manual, last_run_at, last_ok_at, consecutive_failures, "
            "interval_s) "
            "SELECT aid, printf('%s.check%02d', pn, j), pn, "
            "printf('01900000-0000-7000-9000-%012d', aid * 100 + j), "
            "CASE WHEN r < 20 THEN 2 WHEN r < 30 THEN 1 WHEN r < 35 THEN 3 ELSE 0 END, "
            "CASE WHEN r < 35 THEN 2 ELSE 0 END, CASE WHEN r < 30 THEN 0 END, "
            "CASE WHEN r >= 20 AND r < 30 THEN 0 END, 0, "
            "CASE WHEN r >= 997 THEN ?2 - 600000 ELSE ?2 - 5000 END, ?2 - 5000, "
            "CASE WHEN r < 20 THEN 1 ELSE 0 END, 60 "
            "FROM (SELECT a.id AS aid, ck.j AS j, ck.pn AS pn, "
            "(a.id * 7919 + ck.j * 104729) % 1000 AS r FROM agents a CROSS JOIN ck)",
            (CHECKS, now, json.dumps(PACKAGES)))
    n = con.execute("SELECT count(*) FROM state").fetchone()[0]
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    return n


class Client:
    """One kept-alive HTTPS connection, as the browser keeps one."""

    def __init__(self, env, token):
        self.env, self.token = env, token
        self.conn = http.client.HTTPSConnection("127.0.0.1", env.port, context=env.ctx, timeout=60)

    def get(self, path, etag=None):
        headers = {"Authorization": "Bearer " + self.token}
        if etag:
            headers["If-None-Match"] = etag
        t0 = time.perf_counter()
        self.conn.request("GET", path, headers=headers)
        r = self.conn.getresponse()
        body = r.read()
        ms = (time.perf_counter() - t0) * 1000
        if r.status not in (200, 304):
            raise RuntimeError("GET %s -> %s %s" % (path, r.status, body[:200]))
        return ms, r.status, r.getheader("ETag"), len(body)

    def close(self):
        self.conn.close()


def measure(client, path, reps):
    times, size, etag = [], 0, None
    for _ in range(reps):
        ms, _, etag, size = client.get(path)
        times.append(ms)
    t304 = [client.get(path, etag)[0] for _ in range(reps)] if etag else []
    return statistics.median(times), (statistics.median(t304) if t304 else None), size


def http_figures(env, token, reps):
    c = Client(env, token)
    q = urllib.parse.quote
    rows = [
        ("GET /", "/"), ("GET /app.js", "/app.js"), ("GET /app.css", "/app.css"),
        ("summary", "/api/v1/state/summary"),
        ("state first page (500)", "/api/v1/state?limit=500"),
        ("summary label=role=web", "/api/v1/state/summary?label=" + q("role=web")),
        ("state label=role=web", "/api/v1/state?limit=500&label=" + q("role=web")),
        ("summary outcome=failed", "/api/v1/state/summary?outcome=failed"),
        ("state outcome=failed", "/api/v1/state?limit=500&outcome=failed"),
        ("summary q=check07", "/api/v1/state/summary?q=check07"),
        ("state q=check07", "/api/v1/state?limit=500&q=check07"),
        ("state q=nothing (full scan)", "/api/v1/state?limit=500&q=no-such-thing"),
        ("summary stale=true", "/api/v1/state/summary?stale=true"),
        ("state stale=true", "/api/v1/state?limit=500&stale=true"),
        ("agents first page (100)", "/api/v1/agents?limit=100"),
    ]
    print("%-32s %10s %10s %10s" % ("request", "200 ms", "304 ms", "bytes"))
    out = {}
    for name, path in rows:
        ms, ms304, size = measure(c, path, reps)
        out[name] = ms
        print("%-32s %10.1f %10s %10d" % (name, ms, "%.1f" % ms304 if ms304 is not None else "-",
                                          size))
        print("BENCH dashboard_http name=%s ms=%.1f ms_304=%s bytes=%d" %
              (name.replace(" ", "_"), ms, "%.1f" % ms304 if ms304 is not None else "n/a", size))
    first = out["GET /"] + out["GET /app.js"] + out["GET /app.css"] + out["summary"] + \
        out["state first page (500)"]
    print("first overview load, sequential sum of its requests: %.0f ms" % first)
    c.close()
    return first


def browser_figures(env, token, reps, shots):
    try:
        from run import CHROMEDRIVER, CHROMIUM, WebDriver
    except ImportError as e:
        print("browser: skipped (%s)" % e)
        return None
    if not (os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK)):
        print("browser: skipped (chromium or chromedriver not installed)")
        return None
    port = free_port()
    profile = tempfile.mkdtemp(prefix="healops-bench-chromium-")
    log = open(os.path.join(env.dir, "chromedriver.log"), "w")
    driver = subprocess.Popen([CHROMEDRIVER, "--port=%d" % port], stdout=log, stderr=log)
    log.close()
    wd = None
    try:
        def ready():
            try:
                with urllib.request.urlopen("http://127.0.0.1:%d/status" % port, timeout=2) as r:
                    return json.loads(r.read().decode())["value"]["ready"]
            except (OSError, ValueError, KeyError):
                return False
        wait_for(ready, 15, what="chromedriver")
        wd = WebDriver(port, profile)
        wd.get(env.url + "/#token=" + urllib.parse.quote(token))
        wd.wait("return document.querySelectorAll('a.tile').length > 0 || null;", timeout=60)
        loads = []
        for _ in range(reps):
            wd.get("about:blank")
            t0 = time.perf_counter()
            wd.get(env.url + "/#/")
            wd.wait("return document.querySelectorAll('a.tile').length > 0 || null;", timeout=60)
            wall = (time.perf_counter() - t0) * 1000
            nav = wd.js("const n = performance.getEntriesByType('navigation')[0];"
                        "const s = performance.getEntriesByType('resource').filter("
                        "e => e.name.includes('/api/v1/state'));"
                        "return {dcl: n.domContentLoadedEventEnd, load: n.loadEventEnd,"
                        " api: s.length ? Math.max(...s.map(e => e.responseEnd)) : null,"
                        " tiles: document.querySelectorAll('a.tile').length};")
            loads.append((wall, nav))
        wall = statistics.median(x[0] for x in loads)
        dcl = statistics.median(x[1]["dcl"] for x in loads)
        api = statistics.median(x[1]["api"] or 0 for x in loads)
        print("chromium: first overview (navigation to %d tiles drawn) %.0f ms median of %d; "
              "DOMContentLoaded %.0f ms; last /state answer at %.0f ms" %
              (loads[0][1]["tiles"], wall, reps, dcl, api))
        print("BENCH dashboard_browser first_load_ms=%.0f dcl_ms=%.0f api_done_ms=%.0f tiles=%d" %
              (wall, dcl, api, loads[0][1]["tiles"]))
        if shots:
            os.makedirs(shots, exist_ok=True)
            wd.screenshot(os.path.join(shots, "bench-overview.png"))
        return wall
    finally:
        if wd is not None:
            wd.quit()
        stop(driver)
        shutil.rmtree(profile, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--agents", type=int, default=int(os.environ.get("BENCH_DASH_AGENTS", 10000)))
    ap.add_argument("--reps", type=int, default=int(os.environ.get("BENCH_DASH_REPS", 7)))
    ap.add_argument("--no-browser", action="store_true")
    args = ap.parse_args()
    env = Env(args.build)
    try:
        read = env.token("read")  # makes and migrates the database
        t0 = time.monotonic()
        n = seed(env.db, args.agents)
        print("seeded %d agents x %d checks = %d states in %.1f s (%s MiB)" %
              (args.agents, CHECKS, n, time.monotonic() - t0,
               "%.0f" % (os.path.getsize(env.db) / 1048576)))
        env.start_server()
        http_figures(env, read, args.reps)
        if not args.no_browser:
            browser_figures(env, read, max(3, args.reps // 2),
                            os.path.join(os.path.abspath(args.build), "browser"))
    finally:
        env.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
