#!/usr/bin/env python3
"""HealOps browser tests: the web dashboard in Debian's headless chromium, driven
through chromedriver's W3C WebDriver HTTP API with urllib (no pip packages, no
downloaded browser).

It starts healops-server with TLS (a throwaway CA from tests/integration/harness.py;
the browser session accepts that certificate for the test only), seeds agents, runs
and metrics through the API, starts chromedriver on a free port and checks the
overview, filters kept in the URL, live updates, the check page, the fleet and the
token handling. Screenshots go to BUILD/browser/*.png. Every wait is bounded and
every process started is stopped.

Usage: python3 tests/browser/run.py --build build [--keep]
The last line is "browser: N passed, N failed".
"""

import argparse
import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))

from harness import Env, Failure, check, free_port, new_run, stop, wait_for  # noqa: E402

CHROMIUM = os.environ.get("HEALOPS_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("HEALOPS_CHROMEDRIVER", "/usr/bin/chromedriver")


class WebDriver:
    """The few W3C WebDriver commands the tests need (https://www.w3.org/TR/webdriver2/)."""

    def __init__(self, port, profile):
        self.base = "http://127.0.0.1:%d" % port
        caps = {"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "acceptInsecureCerts": True,  # the test CA only; never in a real browser
            "pageLoadStrategy": "normal",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--no-first-run", "--disable-extensions",
                         "--disable-background-networking", "--disable-sync",
                         "--window-size=1280,1000", "--user-data-dir=" + profile],
            }}}}
        value = self._call("POST", "/session", caps, timeout=60)
        self.sid = value["sessionId"]
        self._call("POST", self._s("/timeouts"), {"pageLoad": 20000, "script": 10000,
                                                  "implicit": 0})

    def _s(self, path):
        return "/session/%s%s" % (self.sid, path)

    def _call(self, method, path, body=None, timeout=30):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return json.loads(r.read().decode())["value"]
        except urllib.error.HTTPError as e:
            text = e.read().decode(errors="replace")
            try:
                v = json.loads(text)["value"]
                msg = "%s: %s" % (v.get("error"), v.get("message", "")[:300])
            except (ValueError, KeyError, AttributeError):
                msg = text[:300]
            raise Failure("webdriver %s %s -> %s %s" % (method, path, e.code, msg))

    def get(self, url):
        self._call("POST", self._s("/url"), {"url": url})

    def refresh(self):
        self._call("POST", self._s("/refresh"), {})

    def url(self):
        return self._call("GET", self._s("/url"))

    def js(self, script, *args):
        return self._call("POST", self._s("/execute/sync"), {"script": script, "args": list(args)})

    def find(self, css):
        v = self._call("POST", self._s("/element"), {"using": "css selector", "value": css})
        return next(iter(v.values()))

    def click(self, css):
        self._call("POST", self._s("/element/%s/click" % self.find(css)), {})

    def type(self, css, text):
        self._call("POST", self._s("/element/%s/value" % self.find(css)), {"text": text})

    def screenshot(self, path):
        png = base64.b64decode(self._call("GET", self._s("/screenshot")))
        with open(path, "wb") as f:
            f.write(png)

    def wait(self, script, *args, timeout=10.0, what=None):
        """Waits until script (a function body returning a value) returns something truthy."""
        return wait_for(lambda: self.js(script, *args), timeout=timeout, step=0.2,
                        what=what or script)

    def quit(self):
        try:
            self._call("DELETE", self._s(""), timeout=15)
        except (Failure, OSError):
            pass


# ---- seeding through the API ----

AGENTS = [("web-1", {"role": "web", "dc": "ams"}), ("web-2", {"role": "web", "dc": "fra"}),
          ("db-1", {"role": "db", "dc": "ams"}), ("cache-1", {"role": "cache", "dc": "ams"}),
          ("idle-1", {"role": "web", "dc": "fra"})]  # idle-1 never reports: silent

# agent -> [(package, check, outcome)]: the last run of each
PLAN = {
    "web-1": [("nginx", "nginx.running", "repaired"), ("nginx", "nginx.port", "ok"),
              ("base", "disk.free", "ok")],
    "web-2": [("nginx", "nginx.running", "ok"), ("nginx", "nginx.port", "failed"),
              ("base", "disk.free", "ok")],
    "db-1": [("postgres", "pg.running", "failed"), ("base", "disk.free", "error")],
    "cache-1": [("redis", "redis.ping", "ok"), ("base", "disk.free", "ok")],
}
REPAIR_OUTPUT = "restarted nginx.service: 4 workers up"
ALERT_BLOCK = {"severity": "critical", "runbook": "https://wiki.example/runbooks/nginx",
               "docs": ["https://nginx.org/en/docs/"], "advice": "Look at the error log first.",
               "login": "ssh ops@{node}"}


def step(status, output, code=None):
    return {"status": status, "exit_code": code if code is not None else
            (0 if status in ("ok", "succeeded") else 2), "output": output, "duration_ms": 12}


def make_run(pkg, chk, outcome, started, value):
    extra = {"interval": 60,
             "metrics": [{"name": "nginx.workers" if pkg == "nginx" else "latency_ms",
                          "value": value, "tags": {}}]}
    if outcome == "repaired":
        extra["repair"] = step("succeeded", REPAIR_OUTPUT, 0)
        extra["retest"] = step("ok", "OK - 4 workers")
    run = new_run(chk, package=pkg, outcome=outcome,
                  status="ok" if outcome == "ok" else "critical", started=started, **extra)
    run["test"]["output"] = "OK - all good" if outcome == "ok" else "CRITICAL - 1 worker, want >= 4"
    if outcome in ("failed", "error"):
        run["alert"] = ALERT_BLOCK  # what the agent attaches from the manifest
    return run


def seed(env):
    enroll = env.token("enroll")
    tokens = {}
    for name, labels in AGENTS:
        st, body = env.request("POST", "/api/v1/agents/enroll", {"name": name, "labels": labels},
                               token=enroll)
        check(st == 201, "enroll %s: %s %s" % (name, st, body))
        tokens[name] = body["token"]
    now = time.time()
    for name, checks in PLAN.items():
        runs = []
        for pkg, chk, outcome in checks:
            # a history of 12 runs a minute apart (a graph's worth), the newest as planned
            for k in range(12):
                last = k == 11
                o = outcome if last else ("failed" if k in (4, 5) else "ok")
                runs.append(make_run(pkg, chk, o, now - (12 - k) * 60, 2 + (k * 7) % 5))
        st, res = env.request("POST", "/api/v1/runs", {"runs": runs}, token=tokens[name])
        check(st == 200 and res["accepted"] == len(runs), "runs %s: %s %s" % (name, st, res))
        st, res = env.request("POST", "/api/v1/agents/heartbeat",
                              {"version": "0.1.0", "packages": [
                                  {"name": p, "version": "1.0.0"}
                                  for p in sorted({c[0] for c in checks})],
                               "spool_depth": 0, "dropped": 0}, token=tokens[name])
        check(st == 200, "heartbeat %s: %s %s" % (name, st, res))
    return tokens


def total():
    return sum(len(v) for v in PLAN.values())


def want_counts():
    c = {"ok": 0, "repaired": 0, "failed": 0, "error": 0}
    for checks in PLAN.values():
        for _, _, o in checks:
            c[o] += 1
    return c


# ---- the scenarios (one browser session, in order) ----

TILES = "return Array.from(document.querySelectorAll('a.tile')).map(" \
        "t => [t.dataset.agent, t.dataset.check, t.dataset.outcome]);"


def grid_settled(wd, n):
    """Waits until the grid shows n tiles; returns them."""
    return wd.wait("const t = document.querySelectorAll('a.tile');"
                   "return t.length === arguments[0] ? true : null;", n, timeout=10,
                   what="%d tiles" % n) and wd.js(TILES)


def scenario(env, wd, shots, read, tokens, results):
    url = env.url + "/"

    def run(name, fn):
        t0 = time.monotonic()
        try:
            fn()
            results.append((name, True, time.monotonic() - t0, ""))
            print("ok   %s (%.1f s)" % (name, time.monotonic() - t0), flush=True)
        except Exception as e:  # noqa: BLE001 - report and go on with the next scenario
            detail = "%s: %s" % (type(e).__name__, e) if not isinstance(e, Failure) else str(e)
            results.append((name, False, time.monotonic() - t0, detail))
            print("FAIL %s: %s" % (name, detail), flush=True)
            if not isinstance(e, Failure):
                traceback.print_exc()
            try:
                wd.screenshot(os.path.join(shots, "fail-%s.png" % name))
            except Exception:  # noqa: BLE001
                pass

    def no_token_form():
        wd.get(url)
        wd.js("localStorage.clear(); return 1;")
        wd.get(url + "#/")
        wd.refresh()
        wd.wait("return document.querySelector('#token-form input[type=password]') ? 1 : null;",
                what="the token form")
        check(wd.js("return document.querySelector('label[for=token-input]').textContent;"),
              "the token input has a label")
        check(wd.js("return document.querySelectorAll('a.tile').length;") == 0, "no data shown")
        wd.screenshot(os.path.join(shots, "token-form.png"))
        # a wrong token typed into the form is refused with a message, and not kept
        wd.type("#token-input", "hot_wrong_token")
        wd.click("#token-form button[type=submit]")
        wd.wait("return document.querySelector('#token-form .error') ? 1 : null;",
                what="the refused-token message")
        check(wd.js("return localStorage.getItem('healops.read_token');") is None,
              "a refused token is forgotten")

    def token_from_fragment():
        wd.get(url + "#token=" + urllib.parse.quote(read))
        grid_settled(wd, total())
        href = wd.url()
        check("token" not in href and read not in href, "the token stays in the URL: %s" % href)
        check(wd.js("return localStorage.getItem('healops.read_token');") == read,
              "the token is stored")
        check(read not in wd.js("return document.documentElement.outerHTML;"),
              "the page shows the token")

    def overview_counts():
        wd.get(url + "#/")
        tiles = grid_settled(wd, total())
        got = wd.js("const o = {}; document.querySelectorAll('#counts [data-count]').forEach("
                    "c => o[c.dataset.count] = c.querySelector('.n').textContent); return o;")
        want = want_counts()
        for k, v in want.items():
            check(got.get(k) == str(v), "count %s: %s, want %d" % (k, got.get(k), v))
        check(got.get("silent") == "1 / 5", "silent agents: %s" % got.get("silent"))
        for agent, checks in PLAN.items():
            for _, chk, o in checks:
                check([agent, chk, o] in tiles, "tile %s %s %s missing" % (agent, chk, o))
        # every tile says its outcome in text or icon, not by colour alone
        check(wd.js("return Array.from(document.querySelectorAll('a.tile')).every("
                    "t => t.getAttribute('aria-label').includes(t.dataset.outcome) && "
                    "t.querySelector('.icon').textContent.length > 0);"), "tiles carry text")
        check(wd.js("return document.querySelector('#silent-banner').textContent;").find(
            "idle-1") >= 0, "the silent agent is not called out")
        check(wd.js("return document.querySelector('table.grid caption') && "
                    "document.querySelectorAll('table.grid th[scope=row]').length;") == 4,
              "one row header per agent")
        wd.screenshot(os.path.join(shots, "overview.png"))

    def filters_in_url():
        wd.get(url + "#/")
        grid_settled(wd, total())
        wd.click("#counts [data-count=failed]")  # the failed count filters to failed
        tiles = grid_settled(wd, want_counts()["failed"])
        check(all(t[2] == "failed" for t in tiles), tiles)
        wd.type("#f-label", "role=web")
        tiles = grid_settled(wd, 1)
        check(tiles == [["web-2", "nginx.port", "failed"]], tiles)
        wd.click("#counts [data-count=failed]")  # off again: every outcome of role=web
        tiles = grid_settled(wd, 6)
        wd.type("#f-q", "PORT")
        tiles = grid_settled(wd, 2)
        check(sorted(t[:2] for t in tiles) == [["web-1", "nginx.port"], ["web-2", "nginx.port"]],
              tiles)
        wd.wait("return document.querySelector('[data-count=ok] .n').textContent === '1' || null;",
                what="the counts follow the filters")
        frag = urllib.parse.unquote(wd.url().split("#", 1)[1])
        check("label=role=web" in frag and "q=PORT" in frag, "filters not in the URL: %s" % frag)
        wd.screenshot(os.path.join(shots, "filtered.png"))
        wd.refresh()
        tiles = grid_settled(wd, 2)
        check(wd.js("return [document.querySelector('#f-q').value,"
                    "document.querySelector('#f-label').value];") == ["PORT", "role=web"],
              "the filter inputs after a reload")
        wd.get(url + "#/?outcome=repaired")  # a shared link
        tiles = grid_settled(wd, 1)
        check(tiles == [["web-1", "nginx.running", "repaired"]], tiles)
        check(wd.js("return document.querySelector('#f-outcome').value;") == "repaired", "select")

    def live_update():
        wd.get(url + "#/")
        grid_settled(wd, total())
        wd.js("window.__noReload = 42; performance.clearResourceTimings(); return 1;")
        run = make_run("nginx", "nginx.live", "failed", time.time(), 3)
        st, res = env.request("POST", "/api/v1/runs", {"runs": [run]}, token=tokens["web-2"])
        check(st == 200 and res["accepted"] == 1, res)
        t0 = time.monotonic()
        wd.wait("return document.querySelector('a.tile[data-check=\"nginx.live\"]') ? 1 : null;",
                timeout=15, what="the new run on the page")
        print("     live update shown after %.1f s" % (time.monotonic() - t0), flush=True)
        check(wd.js("return window.__noReload;") == 42, "the page reloaded")
        check(wd.js("return document.querySelector('[data-count=failed] .n').textContent;") ==
              str(want_counts()["failed"] + 1), "the failed count did not follow")
        # polls of unchanged data are answered 304
        wd.wait("return performance.getEntriesByType('resource').some(e => "
                "e.name.includes('/api/v1/state/summary') && e.responseStatus === 304) || null;",
                timeout=15, what="a 304 answer to a poll")

    def check_page():
        wd.get(url + "#/check/web-1/nginx.running")
        wd.wait("const c = document.querySelector('#verify-cmd'); return c && c.textContent;",
                what="the verify command")
        cmd = wd.js("return document.querySelector('#verify-cmd').textContent;")
        check(cmd == "healops-agent run nginx/nginx.running", "command %r" % cmd)
        out = wd.wait("const p = document.querySelector('#runs [data-step=repair] pre');"
                      "return p && p.textContent;", what="the repair output")
        check(REPAIR_OUTPUT in out, "repair output %r" % out)
        check(REPAIR_OUTPUT in wd.js("return document.querySelector('#repairs').textContent;"),
              "the repair history")
        n = wd.wait("const g = document.querySelector('#graph svg.graph');"
                    "return g && g.querySelectorAll('circle.pt').length;", what="the graph")
        check(n >= 10, "graph points: %s" % n)
        check(wd.js("return document.querySelector('#graph svg').getAttribute('role') === 'img' &&"
                    "document.querySelector('#graph svg').getAttribute('aria-label').length > 0;"),
              "the graph has a text alternative")
        check(wd.js("return document.querySelectorAll('#graph rect.fail').length;") >= 1,
              "failed runs are not marked on the graph")
        wd.screenshot(os.path.join(shots, "check.png"))
        # reached from the overview by keyboard-focusable links
        wd.get(url + "#/")
        grid_settled(wd, total() + 1)
        href = wd.js("return document.querySelector('a.tile[data-check=\"nginx.running\"]"
                     "[data-agent=\"web-1\"]').getAttribute('href');")
        check(href == "#/check/web-1/nginx.running", href)

    def alert_on_check_page():
        # web-2 nginx.port failed: the server's alerting opens an alert with the context
        wd.get(url + "#/")
        grid_settled(wd, total() + 1)
        alerting = wd.js("return Array.from(document.querySelectorAll('a.tile.alerting')).map("
                         "t => t.dataset.agent + '/' + t.dataset.check);")
        if not alerting:
            print("     no open alert on the overview (alerting off): context not checked")
            return
        check("web-2/nginx.port" in alerting, "alerting tiles %s" % alerting)
        wd.get(url + "#/check/web-2/nginx.port")
        wd.wait("return document.querySelector('#state .banner.alert') ? 1 : null;",
                what="the open alert on the check page")
        ctx = wd.wait("const c = document.querySelector('#context'); return c && c.textContent;",
                      what="the alert context")
        check("https://wiki.example/runbooks/nginx" in ctx and "ssh ops@web-2" in ctx,
              "context %r" % ctx)
        check(wd.js("return document.querySelector('#context a[href^=\"https://wiki.example\"]')"
                    " !== null;"), "the runbook is not a link")
        wd.screenshot(os.path.join(shots, "check-alert.png"))

    def fleet_page():
        wd.get(url + "#/fleet")
        rows = wd.wait("const r = document.querySelectorAll('table.fleet tbody tr');"
                       "return r.length === 5 ? Array.from(r).map(x => [x.dataset.agent, "
                       "x.classList.contains('silent')]) : null;", what="five agents")
        check(sorted(rows) == sorted([[a, a == "idle-1"] for a, _ in AGENTS]), rows)
        text = wd.js("return document.querySelector('table.fleet').textContent;")
        for s in ("role=web", "nginx 1.0.0", "0.1.0", "silent"):
            check(s in text, "%r not on the fleet page" % s)
        wd.screenshot(os.path.join(shots, "fleet.png"))

    run("no_token_shows_the_form", no_token_form)
    run("token_from_url_fragment", token_from_fragment)
    run("overview_counts_and_grid", overview_counts)
    run("filters_narrow_and_stay_in_url", filters_in_url)
    run("live_update_without_reload", live_update)
    run("check_page_outputs_graph_command", check_page)
    run("alert_context_on_check_page", alert_on_check_page)
    run("fleet_lists_agents", fleet_page)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = ap.parse_args()
    for path in (CHROMIUM, CHROMEDRIVER):
        if not os.access(path, os.X_OK):
            print("browser: %s not found (sh deploy/install-deps.sh installs chromium and "
                  "chromium-driver)" % path)
            print("browser: 0 passed, 1 failed")
            return 1
    shots = os.path.join(os.path.abspath(args.build), "browser")
    os.makedirs(shots, exist_ok=True)
    t0 = time.monotonic()
    results = []
    env = Env(args.build)
    driver = wd = None
    profile = tempfile.mkdtemp(prefix="healops-chromium-")
    try:
        env.start_server()
        read = env.token("read")
        tokens = seed(env)
        port = free_port()
        log = open(os.path.join(shots, "chromedriver.log"), "w")
        driver = subprocess.Popen([CHROMEDRIVER, "--port=%d" % port, "--allowed-ips=127.0.0.1"],
                                  stdout=log, stderr=log)
        log.close()

        def ready():
            try:
                with urllib.request.urlopen("http://127.0.0.1:%d/status" % port, timeout=2) as r:
                    return json.loads(r.read().decode())["value"]["ready"]
            except (OSError, ValueError, KeyError):
                return False
        wait_for(ready, 15, what="chromedriver /status")
        wd = WebDriver(port, profile)
        scenario(env, wd, shots, read, tokens, results)
    except Exception as e:  # noqa: BLE001 - setup failed: one failure, then clean up
        results.append(("setup", False, 0, str(e)))
        print("FAIL setup: %s" % e, flush=True)
        traceback.print_exc()
        print(env.tail(env.server_log), flush=True)
    finally:
        if wd is not None:
            wd.quit()
        if driver is not None:
            stop(driver)
        env.close(keep=args.keep)
        shutil.rmtree(profile, ignore_errors=True)
    passed = sum(1 for r in results if r[1])
    failed = len(results) - passed
    print("browser: screenshots in %s (%.1f s)" % (shots, time.monotonic() - t0))
    print("browser: %d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
