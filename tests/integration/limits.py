"""Bounded input: bodies nested too deeply are refused with 400 naming "body" before
any parser runs, and the server keeps serving. Loaded by run.py through CASES."""

import json

from harness import check, new_run

CASES = []


def case(fn):
    CASES.append(fn)
    return fn


@case
def test_deeply_nested_json_is_refused(env):
    env.start_server()
    tok = env.token("enroll")
    st, en = env.request("POST", "/api/v1/agents/enroll", {"name": "deep"}, token=tok)
    check(st == 201, (st, en))
    agent = en["token"]
    for body in (b"[" * 100000 + b"]" * 100000,
                 b'{"runs":[' + b'{"a":' * 40 + b"1" + b"}" * 40 + b"]}"):
        st, res = env.request("POST", "/api/v1/runs", raw=body, token=agent)
        check(st == 400 and res.get("field") == "body", (st, res))
    # brackets inside strings do not count, and real batches pass
    run = new_run("c1", "p1", test={"status": "ok", "exit_code": 0, "duration_ms": 1,
                                    "output": "[" * 500 + "{" * 500})
    st, res = env.request("POST", "/api/v1/runs", {"runs": [run]}, token=agent)
    check(st == 200 and res["accepted"] == 1, (st, res))
    check(env.request("GET", "/healthz")[0] == 200, "the server stopped serving")


@case
def test_oversized_headers_get_a_json_431(env):
    env.start_server()
    tok = env.token("read")
    # one big header, and many small ones: past 16 KiB both are refused in JSON
    for hdrs in ({"X-Padding": "a" * 20000},
                 {"X-Pad-%03d" % i: "b" * 150 for i in range(150)}):
        st, res = env.request("GET", "/api/v1/runs", token=tok, headers=hdrs)
        check(st == 431 and isinstance(res, dict) and res.get("field") == "headers"
              and "at most 16384" in res.get("error", ""), (st, res))
    # a long query parameter is refused by the parameter's own bound, naming it
    st, res = env.request("GET", "/api/v1/runs?check=" + "c" * 17000, token=tok)
    check(st == 400 and isinstance(res, dict) and res.get("field") == "check", (st, res))
    # and nothing else about the server changed
    st, res = env.request("GET", "/api/v1/runs?limit=1", token=tok,
                          headers={"X-Padding": "a" * 8000})
    check(st == 200 and "runs" in res, (st, res))
    check(env.request("GET", "/healthz")[0] == 200, "the server stopped serving")
