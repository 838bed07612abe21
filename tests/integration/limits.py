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
