#!/usr/bin/env python3
"""Helpers of the forwarding and alerting round of tests/bench/run.sh.

  fwd_alert.py sink PORT_FILE
      A webhook receiver on 127.0.0.1 (a free port, written to PORT_FILE once it
      listens) that answers every POST 200 with keep-alive and counts the HealOps
      webhook events; GET /stats returns the counts as JSON. Runs until killed.

  fwd_alert.py alerts URL CA_FILE TOKEN [SINCE]
      Pages through GET /api/v1/alerts?limit=1000 (at most 60 s, 2000 pages) and
      prints one line: "alerts total=N open=N resolved=N kinds=failed:N,..." counting
      the alerts opened at or after SINCE (RFC 3339, optional).

  fwd_alert.py forwarders URL CA_FILE TOKEN
      Prints GET /api/v1/forwarders as one line per forwarder:
      "forwarder name=... delivered=N pending=N dropped=N failures=N state=..."

Everything is bounded in time; nothing here fails the benchmark: a problem is
printed and the exit status is 1.
"""
import http.server
import json
import os
import ssl
import sys
import threading
import time
import urllib.parse
import urllib.request


def sink(port_file):
    counts = {"posts": 0, "bad_json": 0, "events": {}, "kinds": {}}
    lock = threading.Lock()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _answer(self, body):
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self):
            n = int(self.headers.get("Content-Length") or 0)
            data = self.rfile.read(min(n, 4 << 20))
            try:
                doc = json.loads(data.decode())
                ev = str(doc.get("event"))
                kind = str((doc.get("alert") or {}).get("kind"))
                ok = True
            except (ValueError, AttributeError):
                ok = False
            with lock:
                counts["posts"] += 1
                if ok:
                    counts["events"][ev] = counts["events"].get(ev, 0) + 1
                    counts["kinds"][kind] = counts["kinds"].get(kind, 0) + 1
                else:
                    counts["bad_json"] += 1
            self._answer(b'{"ok":true}')

        def do_GET(self):
            with lock:
                body = json.dumps(counts).encode()
            self._answer(body)

        def log_message(self, *args):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    tmp = port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % srv.server_address[1])
    os.rename(tmp, port_file)
    srv.serve_forever()


def get_json(url, ca_file, token, timeout=20):
    ctx = ssl.create_default_context(cafile=ca_file)
    req = urllib.request.Request(url, headers={"Authorization": "Bearer " + token,
                                               "Accept": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout, context=ctx) as r:
        return json.loads(r.read().decode())


def alerts(url, ca_file, token, since=None):
    total = opened = resolved = pages = 0
    kinds = {}
    cursor = None
    deadline = time.monotonic() + 60
    while pages < 2000 and time.monotonic() < deadline:
        q = {"limit": "1000"}
        if since:
            q["since"] = since
        if cursor:
            q["cursor"] = cursor
        doc = get_json(url + "/api/v1/alerts?" + urllib.parse.urlencode(q), ca_file, token)
        pages += 1
        for a in doc.get("alerts", []):
            total += 1
            if a.get("state") == "open":
                opened += 1
            else:
                resolved += 1
            k = a.get("kind", "?")
            kinds[k] = kinds.get(k, 0) + 1
        cursor = doc.get("next_cursor")
        if not cursor:
            break
    complete = "yes" if not cursor else "no"
    print("alerts total=%d open=%d resolved=%d kinds=%s pages=%d complete=%s" % (
        total, opened, resolved,
        ",".join("%s:%d" % kv for kv in sorted(kinds.items())) or "none", pages, complete))


def forwarders(url, ca_file, token):
    for f in get_json(url + "/api/v1/forwarders", ca_file, token):
        print("forwarder name=%s delivered=%d pending=%d dropped=%d failures=%d state=%s" % (
            f.get("name"), f.get("delivered", 0), f.get("pending", 0), f.get("dropped", 0),
            f.get("failures", 0), f.get("state")))


def main(argv):
    try:
        if len(argv) == 3 and argv[1] == "sink":
            sink(argv[2])
        elif len(argv) in (5, 6) and argv[1] == "alerts":
            alerts(argv[2], argv[3], argv[4], argv[5] if len(argv) == 6 else None)
        elif len(argv) == 5 and argv[1] == "forwarders":
            forwarders(argv[2], argv[3], argv[4])
        else:
            sys.stderr.write(__doc__)
            return 2
    except (OSError, ValueError) as e:
        print("fwd_alert: %s: %s" % (argv[1], e))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
