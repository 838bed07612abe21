"""Integration cases for what the web dashboard needs from the server: the GET /state
filters (label, q, stale) with keyset paging, GET /state/summary agreeing with /state,
ETag + If-None-Match -> 304 on the polled endpoints, and the built-in assets with their
Content-Security-Policy. Loaded by run.py through CASES."""

import time
import urllib.error
import urllib.parse
import urllib.request

from harness import check, new_run, wait_for

CASES = []


def case(fn):
    CASES.append(fn)
    return fn


def raw_get(env, path, token=None, headers=None):
    """GET path; returns (status, headers, body bytes) without raising on 3xx/4xx."""
    req = urllib.request.Request(env.url + path, method="GET")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, context=env.ctx, timeout=10) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


AGENTS = [("web-1", {"role": "web", "dc": "ams"}), ("web-2", {"role": "web", "dc": "fra"}),
          ("db-1", {"role": "db", "dc": "ams"}), ("idle-9", {"role": "web"})]


def dash_run(chk, pkg, outcome, started=None):
    """A run with the steps its outcome needs (repaired: a repair and an ok retest)."""
    extra = {}
    if outcome == "repaired":
        extra = {"repair": {"status": "succeeded", "exit_code": 0, "output": "restarted",
                            "duration_ms": 20},
                 "retest": {"status": "ok", "exit_code": 0, "output": "up", "duration_ms": 2}}
    return new_run(chk, package=pkg, outcome=outcome,
                   status="ok" if outcome == "ok" else "critical",
                   started=started, interval=60, **extra)


def seed(env):
    """Four agents (idle-9 never reports, so it is silent) and nine states."""
    env.start_server()
    enroll, read = env.token("enroll"), env.token("read")
    toks = {}
    for name, labels in AGENTS:
        st, body = env.request("POST", "/api/v1/agents/enroll", {"name": name, "labels": labels},
                               token=enroll)
        check(st == 201, "enroll %s: %s %s" % (name, st, body))
        toks[name] = body["token"]
    now = time.time()
    plan = {
        "web-1": [("nginx", "nginx.running", "ok"), ("nginx", "nginx.port", "failed"),
                  ("base", "disk_free%", "repaired")],
        "web-2": [("nginx", "nginx.running", "repaired"), ("nginx", "nginx.port", "ok"),
                  ("base", "disk.free", "error")],
        "db-1": [("postgres", "pg.running", "failed"), ("base", "disk.free", "ok"),
                 ("base", "old.check", "ok")],
    }
    for name, runs in plan.items():
        body = []
        for pkg, chk, outcome in runs:
            # old.check last ran 20 minutes ago with a 60 s interval: stale
            started = now - 1200 if chk == "old.check" else now - 5
            body.append(dash_run(chk, pkg, outcome, started))
        st, res = env.request("POST", "/api/v1/runs", {"runs": body}, token=toks[name])
        check(st == 200 and res["accepted"] == len(body), "runs %s: %s %s" % (name, st, res))
    return read, toks


def states(env, read, query, limit=1000):
    """Every state for query, following next_cursor with the given page size."""
    out, cursor = [], None
    for _ in range(100):
        q = query + ("&" if query else "") + "limit=%d" % limit
        if cursor:
            q += "&cursor=" + cursor
        st, body = env.request("GET", "/api/v1/state?" + q, token=read)
        check(st == 200, "GET /state?%s -> %s %s" % (q, st, body))
        out += body["states"]
        cursor = body["next_cursor"]
        if not cursor:
            return [(s["agent"], s["check"]) for s in out]
    raise AssertionError("paging did not end")


@case
def test_dashboard_state_filters_and_paging(env):
    """label, q and stale narrow /state (alone, together, with outcome) and page by keyset."""
    read, _ = seed(env)
    q = urllib.parse.quote
    every = states(env, read, "")
    check(len(every) == 9, every)
    web = states(env, read, "label=" + q("role=web"))
    check(web == [("web-1", "disk_free%"), ("web-1", "nginx.port"), ("web-1", "nginx.running"),
                  ("web-2", "disk.free"), ("web-2", "nginx.port"), ("web-2", "nginx.running")], web)
    check(states(env, read, "label=" + q("role=web"), limit=1) == web, "paged one by one")
    check(states(env, read, "label=" + q("dc=ams") + "&outcome=failed") ==
          [("db-1", "pg.running"), ("web-1", "nginx.port")], "label + outcome")
    check(states(env, read, "label=" + q("role=nope")) == [], "unknown label value")
    # q: a case-insensitive substring of agent, package or check
    check(states(env, read, "q=PORT") == [("web-1", "nginx.port"), ("web-2", "nginx.port")], "q")
    check(len(states(env, read, "q=web-")) == 6, "q matches agent names")
    check(states(env, read, "q=postgres") == [("db-1", "pg.running")], "q matches packages")
    # LIKE wildcards in q are literal characters
    check(states(env, read, "q=" + q("free%")) == [("web-1", "disk_free%")], "q with %")
    check(states(env, read, "q=" + q("disk_")) == [("web-1", "disk_free%")], "q with _")
    check(states(env, read, "q=nginx&label=" + q("dc=fra") + "&outcome=repaired") ==
          [("web-2", "nginx.running")], "q + label + outcome")
    check(states(env, read, "stale=true") == [("db-1", "old.check")], "stale")
    check(len(states(env, read, "stale=false")) == 9, "stale=false is no filter")
    st, body = env.request("GET", "/api/v1/state?stale=true", token=read)
    check(body["states"][0]["stale"] is True, body)
    for bad, field in (("label=role", "label"), ("label=%3Dweb", "label"),
                       ("label=ro%22le%3Dweb", "label"), ("label=role%3D", "label"),
                       ("label=role%3Dweb&label=dc%3Dams", "label"), ("q=" + "x" * 129, "q"),
                       ("q=", "q"), ("stale=maybe", "stale")):
        st, body = env.request("GET", "/api/v1/state?" + bad, token=read)
        check(st == 400 and body.get("field") == field, "%s -> %s %s" % (bad, st, body))


@case
def test_dashboard_summary_matches_state(env):
    """GET /state/summary counts exactly the states /state lists for the same filters."""
    read, _ = seed(env)
    q = urllib.parse.quote
    for query in ("", "label=" + q("role=web"), "q=nginx", "outcome=ok", "stale=true",
                  "package=base&label=" + q("dc=ams"), "agent=db-1", "agent=nobody"):
        st, s = env.request("GET", "/api/v1/state/summary?" + query, token=read)
        check(st == 200, "summary?%s -> %s %s" % (query, st, s))
        st, page = env.request("GET", "/api/v1/state?limit=1000&" + query, token=read)
        rows = page["states"]
        for o in ("ok", "repaired", "failed", "error"):
            want = sum(1 for r in rows if r["outcome"] == o)
            check(s["outcomes"][o] == want, "%s: %s %d != %d" % (query, o, s["outcomes"][o], want))
        check(s["states"] == len(rows), "%s: states %s != %d" % (query, s["states"], len(rows)))
        check(s["stale"] == sum(1 for r in rows if r["stale"]), "%s: stale %s" % (query, s))
        check("alerts_open" in s, s)
    st, s = env.request("GET", "/api/v1/state/summary", token=read)
    check(s["outcomes"] == {"ok": 4, "repaired": 2, "failed": 2, "error": 1}, s)
    check(s["agents"]["total"] == 4 and s["agents"]["silent"] == 1 and
          s["agents"]["silent_names"] == ["idle-9"], s)
    st, s = env.request("GET", "/api/v1/state/summary?label=" + q("role=db"), token=read)
    check(s["agents"] == {"total": 1, "silent": 0, "silent_names": []}, s)
    st, body = env.request("GET", "/api/v1/state/summary?limit=5", token=read)
    check(st == 400 and body.get("field") == "limit", "summary takes no paging: %s" % body)
    st, body = env.request("GET", "/api/v1/state/summary")
    check(st == 401, "summary without a token -> %s" % st)


@case
def test_dashboard_etag_304(env):
    """The polled endpoints answer an unchanged body with 304 and no body, a changed one
    with 200 and a new ETag."""
    read, toks = seed(env)
    paths = ["/api/v1/state?limit=50", "/api/v1/state/summary", "/api/v1/agents?limit=50",
             "/api/v1/runs?agent=web-1&limit=5"]
    tags = {}

    def settled():
        """The alert engine opens alerts for the seeded failures shortly after they are
        stored; wait until every polled answer is the same twice in a row."""
        first = [raw_get(env, p, token=read)[1].get("ETag") for p in paths]
        time.sleep(0.3)
        return first == [raw_get(env, p, token=read)[1].get("ETag") for p in paths]
    wait_for(settled, 30, what="answers that no longer change")
    for p in paths:
        st, hdr, body = raw_get(env, p, token=read)
        etag = hdr.get("ETag")
        check(st == 200 and etag and etag.startswith('"'), "%s -> %s etag %r" % (p, st, etag))
        st2, hdr2, body2 = raw_get(env, p, token=read, headers={"If-None-Match": etag})
        check(st2 == 304 and body2 == b"", "%s with If-None-Match -> %s %r" % (p, st2, body2[:80]))
        check(hdr2.get("ETag") == etag, "304 carries the ETag")
        st3, _, _ = raw_get(env, p, token=read, headers={"If-None-Match": 'W/"x", ' + etag})
        check(st3 == 304, "%s: a list naming the tag -> %s" % (p, st3))
        st4, _, _ = raw_get(env, p, token=read, headers={"If-None-Match": '"other"'})
        check(st4 == 200, "%s: another tag -> %s" % (p, st4))
        tags[p] = etag
    # a 304 still needs the token
    st, _, _ = raw_get(env, paths[0], headers={"If-None-Match": tags[paths[0]]})
    check(st == 401, "no token with If-None-Match -> %s" % st)
    st, res = env.request("POST", "/api/v1/runs",
                          {"runs": [dash_run("nginx.running", "nginx", "failed")]},
                          token=toks["web-1"])
    check(st == 200 and res["accepted"] == 1, res)
    for p in ("/api/v1/state?limit=50", "/api/v1/state/summary", "/api/v1/runs?agent=web-1&limit=5"):
        st, hdr, _ = raw_get(env, p, token=read, headers={"If-None-Match": tags[p]})
        check(st == 200 and hdr.get("ETag") != tags[p], "%s after a new run -> %s" % (p, st))


@case
def test_dashboard_assets_served_with_csp(env):
    """/ is the dashboard (no token needed for the files), with a strict CSP, an ETag
    (304 on If-None-Match) and a content type per asset."""
    env.start_server()
    st, hdr, body = raw_get(env, "/")
    check(st == 200 and hdr.get("Content-Type", "").startswith("text/html"), "/ -> %s %s" %
          (st, hdr.get("Content-Type")))
    check(b'<script src="app.js"' in body and b"<script>" not in body, "index.html scripts")
    csp = hdr.get("Content-Security-Policy", "")
    check("default-src 'self'" in csp and "script-src 'self'" in csp and "unsafe-inline" not in csp,
          "CSP %r" % csp)
    check(hdr.get("X-Content-Type-Options") == "nosniff", "nosniff")
    etag = hdr.get("ETag")
    check(etag and "no-cache" in hdr.get("Cache-Control", ""), "asset caching: %s" % dict(hdr))
    st, _, body = raw_get(env, "/", headers={"If-None-Match": etag})
    check(st == 304 and body == b"", "/ with If-None-Match -> %s" % st)
    st, hdr2, _ = raw_get(env, "/index.html")
    check(st == 200 and hdr2.get("ETag") == etag, "/index.html is /")
    for path, ctype in (("/app.js", "text/javascript"), ("/app.css", "text/css"),
                        ("/favicon.svg", "image/svg+xml")):
        st, hdr, body = raw_get(env, path)
        check(st == 200 and hdr.get("Content-Type", "").startswith(ctype) and body,
              "%s -> %s %s" % (path, st, hdr.get("Content-Type")))
    st, hdr, body = raw_get(env, "/app.js")
    check(b"innerHTML" not in body and b"eval(" not in body, "app.js builds the DOM safely")
    for path in ("/nope.js", "/../Makefile", "/web/app.js"):
        st, _, _ = raw_get(env, path)
        check(st == 404, "%s -> %s" % (path, st))
    st, _, _ = raw_get(env, "/api/v1/state")
    check(st == 401, "the data still needs a token")
