"""Retention: runs and check states older than retention_days are deleted by the
server in batches while it keeps serving; newer ones stay. Loaded by run.py through
CASES."""

import sqlite3
import time

from harness import check, new_run, wait_for

CASES = []


def case(fn):
    CASES.append(fn)
    return fn


def count(db, sql):
    con = sqlite3.connect(db, timeout=10)
    try:
        return con.execute(sql).fetchone()[0]
    finally:
        con.close()


@case
def test_retention_prunes_old_runs_and_states(env):
    env.start_server("--retention-days", "1")
    tok = env.token("enroll")
    st, en = env.request("POST", "/api/v1/agents/enroll", {"name": "old"}, token=tok)
    check(st == 201, (st, en))
    agent, read = en["token"], env.token("read")
    three_days = time.time() - 3 * 86400
    old = [new_run("gone", "p", started=three_days + i) for i in range(2500)]
    new = [new_run("kept", "p", started=time.time() - 60 + i) for i in range(10)]
    for i in range(0, len(old), 500):
        st, body = env.request("POST", "/api/v1/runs", {"runs": old[i:i + 500]}, token=agent)
        check(st == 200 and body["accepted"] == 500, (st, body))
    st, body = env.request("POST", "/api/v1/runs", {"runs": new}, token=agent)
    check(st == 200 and body["accepted"] == 10, (st, body))
    wait_for(lambda: count(env.db, "SELECT count(*) FROM runs") == 10, 30,
             what="runs older than a day to be pruned")
    check(count(env.db, "SELECT count(*) FROM runs WHERE check_name = 'kept'") == 10,
          "recent runs were pruned")
    st, body = env.request("GET", "/api/v1/state", token=read)
    check(st == 200 and [s["check"] for s in body["states"]] == ["kept"],
          "states: %s" % body)
    with open(env.server_log) as f:
        log = f.read()
    check("retention: deleted 2500 runs and 1 check states older than 1 days" in log,
          "no retention line in the log")
