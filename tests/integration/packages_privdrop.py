"""A root agent runs the tests of packages it synced from the server as its
unprivileged test_user: the state folder is made 0711 so that user can reach
STATE_DIR/packages, while the identity and spool stay private. Loaded by run.py
through CASES."""

import json
import os
import stat
import subprocess

from harness import check, write_exec
from packages_agent import assign, make_key, publish, sign, start_server

CASES = []


def case(fn):
    CASES.append(fn)
    return fn


@case
def test_root_agent_runs_synced_package_tests_as_test_user(env):
    if os.geteuid() != 0:
        print("    SKIP: needs root to drop privileges")
        return
    os.chmod(env.dir, 0o711)   # nobody must pass through the test's own folder
    enroll, read, admin = start_server(env)
    key, pub = make_key(env.dir, "publisher")
    src = os.path.join(env.dir, "who")
    write_exec(os.path.join(src, "checks", "uid.test"),
               '#!/bin/sh\necho "uid=$(id -u)"\n[ "$(id -u)" != 0 ]\n')
    with open(os.path.join(src, "healops-package.json"), "w") as f:
        json.dump({"name": "who", "version": "1.0.0", "checks": [
            {"name": "who.uid", "interval": 60, "test": {"exec": ["checks/uid.test"]}}]}, f)
    out = os.path.join(env.dir, "who-1.0.0.tar.gz")
    r = subprocess.run([env.bin("healopsctl"), "package", "build", src, "-o", out],
                       capture_output=True, text=True, timeout=30)
    check(r.returncode == 0, r.stderr)
    with open(out, "rb") as f:
        data = f.read()
    publish(env, admin, data, sign(env.dir, data, key))
    assign(env, admin, "who", "1.0.0")
    state = os.path.join(env.dir, "state")
    r = env.run_agent(state, [], "--once", "--test-user", "nobody", "--trust-key", pub,
                      enroll=enroll, name="priv1")
    check(r.returncode == 0, "agent --once: %s" % r.stderr[-2000:])
    check(stat.S_IMODE(os.stat(state).st_mode) == 0o711, oct(os.stat(state).st_mode))
    check(stat.S_IMODE(os.stat(os.path.join(state, "agent.json")).st_mode) == 0o600,
          "the identity file is not private")
    runs = env.runs(read, "agent=priv1&check=who.uid")
    check(len(runs) == 1, runs)
    run = runs[0]
    check(run["outcome"] == "ok" and run["version"] == "1.0.0", run)
    check("uid=65534" in run["test"]["output"], run["test"])


@case
def test_root_agent_default_test_user(env):
    """Without test_user a root agent uses healops-test when that user exists, else runs
    tests as root and says so; test_user root is a deliberate choice, also logged."""
    if os.geteuid() != 0:
        print("    SKIP: needs root")
        return
    import pwd
    env.start_server()
    enroll = env.token("enroll")
    pkgs = os.path.join(env.dir, "pkgs")
    write_exec(os.path.join(pkgs, "u", "checks", "uid.test"), '#!/bin/sh\necho "uid=$(id -u)"\n')
    with open(os.path.join(pkgs, "u", "healops-package.json"), "w") as f:
        json.dump({"name": "u", "version": "1.0.0", "checks": [
            {"name": "u.uid", "interval": 60, "test": {"exec": ["checks/uid.test"]}}]}, f)
    state = os.path.join(env.dir, "state")
    r = env.run_agent(state, [os.path.join(pkgs, "u")], "--once", "--log-level", "info",
                      enroll=enroll, name="def1")
    check(r.returncode == 0, r.stderr[-2000:])
    try:
        pwd.getpwnam("healops-test")
        check("run as healops-test (the default test_user)" in r.stderr, r.stderr[-2000:])
    except KeyError:
        check("no user healops-test: tests run as root" in r.stderr, r.stderr[-2000:])
    r = env.run_agent(state, [os.path.join(pkgs, "u")], "--once", "--test-user", "root",
                      name="def1")
    check(r.returncode == 0 and "test_user is root" in r.stderr, r.stderr[-2000:])
