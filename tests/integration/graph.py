"""Integration cases for GET /api/v1/graph.png against the real server on loopback:
a PNG of the asked size with a read token, failed runs drawn as red bands (the PNG is
decoded here with zlib), 401 without token or signature, and signed links computed
the way the server makes them (HMAC-SHA256 with the key file beside the database):
valid without a token, tampered or expired refused with 403. Loaded by run.py
through CASES."""

import hashlib
import hmac
import json
import os
import stat
import struct
import time
import urllib.error
import urllib.parse
import urllib.request
import zlib

from harness import check, new_run

CASES = []


def case(fn):
    CASES.append(fn)
    return fn


def get(env, path, token=None):
    """GET path; returns (status, content type, body bytes)."""
    req = urllib.request.Request(env.url + path)
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, context=env.ctx, timeout=30) as r:
            return r.status, r.headers.get("Content-Type"), r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type"), e.read()


def png_decode(data):
    """(width, height, rows of (r, g, b) tuples) of an 8-bit RGB/RGBA, non-interlaced PNG."""
    check(data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG: %r" % data[:16])
    pos, idat, hdr = 8, b"", None
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            hdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    w, h, depth, ctype, _, _, interlace = hdr
    check(depth == 8 and ctype in (2, 6) and interlace == 0, "unexpected PNG format %s" % (hdr,))
    bpp = 3 if ctype == 2 else 4
    raw, stride, rows, prev = zlib.decompress(idat), w * bpp, [], bytearray(w * bpp)
    for y in range(h):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pr = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[i] = (line[i] + pr) & 255
        rows.append([tuple(line[x * bpp:x * bpp + 3]) for x in range(w)])
        prev = line
    return w, h, rows


def red_pixels(rows, top=32):
    return sum(1 for row in rows[top:] for (r, g, b) in row if r > 200 and r > g + 40 and
               g < 190 and b < 190)


def rfc3339(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def sign(key, agent, chk, metric, exp):
    q = lambda v: urllib.parse.quote(v, safe="-._~")  # noqa: E731
    canonical = "agent=%s&check=%s&metric=%s&exp=%d" % (q(agent), q(chk), q(metric), exp)
    return hmac.new(key, canonical.encode(), hashlib.sha256).hexdigest()


def failed_run(chk, started, metrics):
    return new_run(chk, package="nginx", outcome="failed", status="critical", started=started,
                   repair={"status": "failed", "exit_code": 1, "output": "no", "duration_ms": 1},
                   retest={"status": "critical", "exit_code": 2, "output": "no",
                           "duration_ms": 1},
                   metrics=metrics)


@case
def test_graph_png_with_token_and_signed_links(env):
    env.start_server("--public-url", "https://healops.example:8443")
    enroll, read = env.token("enroll"), env.token("read")
    st, en = env.request("POST", "/api/v1/agents/enroll", {"name": "web-01"}, token=enroll)
    check(st == 201, (st, en))
    agent = en["token"]
    now = time.time()
    runs = [new_run("nginx running/1", package="nginx", started=now - 3500 + i * 300,
                    metrics=[{"name": "nginx.workers", "value": 4 + i % 3, "tags": {}}])
            for i in range(10)]
    runs.append(failed_run("nginx running/1", now - 1700,
                           [{"name": "nginx.workers", "value": 1, "tags": {}}]))
    runs += [new_run("disk.free", package="base", started=now - 3000 + i * 600,
                     metrics=[{"name": "disk.free_pct", "value": 50 - i, "tags": {}}])
             for i in range(4)]
    st, body = env.request("POST", "/api/v1/runs", {"runs": runs}, token=agent)
    check(st == 200 and body["accepted"] == len(runs), body)

    window = "&since=%s&until=%s" % (rfc3339(now - 3600), rfc3339(now + 60))
    base = "/api/v1/graph.png?agent=web-01&check=nginx%20running%2F1"
    st, ctype, png = get(env, base + "&metric=nginx.workers&width=640&height=240" + window,
                         token=read)
    check(st == 200, "graph with a read token: %s %s" % (st, png[:200]))
    check(ctype == "image/png", "content type %r" % ctype)
    w, h, rows = png_decode(png)
    check((w, h) == (640, 240), "size %sx%s, want 640x240" % (w, h))
    check(red_pixels(rows) > 50, "the failed run is not drawn as a red band")
    # no metric: healops.check.duration_ms; default size 800 x 300
    st, ctype, png = get(env, base + window, token=read)
    check(st == 200 and png_decode(png)[:2] == (800, 300), "default graph: %s" % st)
    # a check without failures has no red
    st, _, png = get(env, "/api/v1/graph.png?agent=web-01&check=disk.free" + window,
                     token=read)
    check(st == 200 and red_pixels(png_decode(png)[2]) == 0, "red on a check without failures")
    # a metric without points: a "no data" image, still 200
    st, ctype, png = get(env, base + "&metric=nope&width=300&height=120", token=read)
    check(st == 200 and png_decode(png)[:2] == (300, 120), "no-data graph: %s" % st)

    # auth and input errors are JSON
    st, ctype, body = get(env, base)
    check(st == 401 and ctype == "application/json" and json.loads(body)["error"],
          "no token: %s %s" % (st, body))
    st, _, body = get(env, base, token=agent)
    check(st == 403, "agent token: %s" % st)
    st, _, body = get(env, "/api/v1/graph.png?agent=web-01&check=no.such", token=read)
    check(st == 404, "unknown check: %s %s" % (st, body))
    st, _, body = get(env, base + "&width=5000", token=read)
    check(st == 400 and json.loads(body)["field"] == "width", "width: %s %s" % (st, body))
    st, _, body = get(env, base + "&color=red", token=read)
    check(st == 400 and json.loads(body)["field"] == "color", "unknown: %s %s" % (st, body))
    st, _, body = get(env, "/api/v1/graph.png?check=nginx.running", token=read)
    check(st == 400 and json.loads(body)["field"] == "agent", "no agent: %s %s" % (st, body))

    # signed links, computed as the server computes them, with its key beside the database
    keyfile = env.db + ".url-key"
    mode = stat.S_IMODE(os.stat(keyfile).st_mode)
    check(mode == 0o600, "key file mode %o" % mode)
    with open(keyfile, "rb") as f:
        key = f.read()
    check(len(key) == 32, "key length %d" % len(key))
    exp = int(now) + 600
    sig = sign(key, "web-01", "nginx running/1", "nginx.workers", exp)
    signed = base + "&metric=nginx.workers&exp=%d&sig=%s" % (exp, sig)
    st, ctype, png = get(env, signed)
    check(st == 200 and ctype == "image/png", "signed link: %s %s" % (st, png[:200]))
    check(png_decode(png)[:2] == (800, 300), "signed link size")
    st, _, png = get(env, signed + "&width=400&height=200")
    check(st == 200 and png_decode(png)[:2] == (400, 200), "signed link, sized: %s" % st)
    for bad in (signed.replace("nginx.workers", "disk.free_pct"),
                signed.replace("check=nginx%20running%2F1", "check=disk.free"),
                signed.replace("exp=%d" % exp, "exp=%d" % (exp + 1)),
                signed[:-1] + ("0" if signed[-1] != "0" else "1")):
        st, ctype, body = get(env, bad)
        check(st == 403 and ctype == "application/json",
              "tampered link %s -> %s %s" % (bad, st, body))
    check(json.loads(body)["error"] == "invalid signature", body)
    old = int(now) - 5
    st, _, body = get(env, base + "&metric=nginx.workers&exp=%d&sig=%s" %
                      (old, sign(key, "web-01", "nginx running/1", "nginx.workers", old)))
    check(st == 403 and json.loads(body)["error"] == "link expired", "expired: %s %s" % (st, body))
    # a signature for another key
    st, _, body = get(env, base + "&metric=nginx.workers&exp=%d&sig=%s" %
                      (exp, sign(b"x" * 32, "web-01", "nginx running/1", "nginx.workers", exp)))
    check(st == 403, "wrong key: %s" % st)

    # the key survives a restart: the same link still works
    env.stop_server()
    env.start_server("--public-url", "https://healops.example:8443")
    st, _, _ = get(env, signed)
    check(st == 200, "signed link after a restart: %s" % st)


@case
def test_graph_signing_key_file_from_config(env):
    keyfile = os.path.join(env.dir, "graph.key")
    with open(keyfile, "wb") as f:
        f.write(os.urandom(48))
    os.chmod(keyfile, 0o600)
    env.start_server("--url-signing-key-file", keyfile, "--graph-link-ttl", "120")
    enroll = env.token("enroll")
    st, en = env.request("POST", "/api/v1/agents/enroll", {"name": "db1"}, token=enroll)
    st, body = env.request("POST", "/api/v1/runs",
                           {"runs": [new_run("pg.up", package="pg", started=time.time() - 60)]},
                           token=en["token"])
    check(st == 200 and body["accepted"] == 1, body)
    check(not os.path.exists(env.db + ".url-key"), "made a key beside the db although configured")
    with open(keyfile, "rb") as f:
        key = f.read()
    exp = int(time.time()) + 100
    path = "/api/v1/graph.png?agent=db1&check=pg.up&exp=%d&sig=%s" % (
        exp, sign(key, "db1", "pg.up", "", exp))
    st, ctype, png = get(env, path)
    check(st == 200 and ctype == "image/png", "signed with the configured key: %s %s" %
          (st, png[:200]))
