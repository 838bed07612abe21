"""Failed authentications are limited per client address: after N bad or missing
tokens within a minute the address gets 429 with Retry-After, even with a good
token, until the block ends; it is logged once. Loaded by run.py through CASES."""

import time
import urllib.error
import urllib.request

from harness import check

CASES = []


def case(fn):
    CASES.append(fn)
    return fn


def get(env, token):
    req = urllib.request.Request(env.url + "/api/v1/agents")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, context=env.ctx, timeout=10) as r:
            return r.status, r.headers
    except urllib.error.HTTPError as e:
        return e.code, e.headers


@case
def test_failed_authentications_are_rate_limited_per_address(env):
    env.start_server("--auth-failures", "5", "--auth-block", "2")
    read = env.token("read")
    check(get(env, read)[0] == 200, "a good token before any failure")
    for i in range(5):
        st, _ = get(env, "hot_wrong%d" % i if i % 2 else None)
        check(st == 401, "failure %d answered %s" % (i + 1, st))
    st, hdrs = get(env, "hot_wrong")
    check(st == 429 and hdrs.get("Retry-After") in ("1", "2"), (st, dict(hdrs)))
    st, _ = get(env, read)
    check(st == 429, "a good token from a blocked address answered %s" % st)
    check(env.request("GET", "/healthz")[0] == 200, "/healthz needs no token and is not limited")
    time.sleep(2.2)
    check(get(env, read)[0] == 200, "the block did not end")
    with open(env.server_log) as f:
        log = f.read()
    check(log.count("failed authentications from 127.0.0.1 within a minute") == 1, log[-2000:])
    check("hot_wrong" not in log, "a presented token reached the log")
