#!/usr/bin/env python3
"""Integration cases for the package commands of healopsctl against the real
healops-server and healops-agent: keygen, package init / lint / build / sign,
publish (created, same bytes again, conflict, unsigned refused), assign,
packages, package show, and an agent that installs and runs what was published.
Run alone with
    python3 tests/integration/run.py --build build test_ctl_package
"""

import json
import os
import subprocess

from harness import check

CASES = []


def case(fn):
    CASES.append(fn)
    return fn


def ctl(env, *args, token=None, cwd=None, server=True):
    """Runs healopsctl; returns (exit status, stdout, stderr)."""
    e = dict(os.environ)
    for k in ("HEALOPS_SERVER", "HEALOPS_TOKEN", "HEALOPS_CA_FILE"):
        e.pop(k, None)
    if server:
        e.update(HEALOPS_SERVER=env.url, HEALOPS_CA_FILE=env.ca)
    if token:
        e["HEALOPS_TOKEN"] = token
    r = subprocess.run([env.bin("healopsctl")] + list(args), capture_output=True, text=True,
                       timeout=60, cwd=cwd or env.dir, env=e)
    return r.returncode, r.stdout, r.stderr


def ok(res, what):
    check(res[0] == 0, "%s: exit %d\nstdout: %s\nstderr: %s" % (what, res[0], res[1], res[2]))
    return res[1]


@case
def test_ctl_package_author_and_publish_flow(env):
    d = env.dir
    out = ok(ctl(env, "keygen", "pub"), "keygen")
    check("key id " in out, "keygen printed %r" % out)
    check(os.stat(os.path.join(d, "pub.key")).st_mode & 0o777 == 0o600, "pub.key mode")
    r = ctl(env, "keygen", "pub")
    check(r[0] == 1 and "already exists" in r[2], "keygen overwrote: %r" % (r,))

    ok(ctl(env, "package", "init", "demo"), "package init")
    r = ctl(env, "package", "init", "demo")
    check(r[0] == 1, "init over an existing folder: %r" % (r,))
    out = ok(ctl(env, "package", "lint", "demo"), "lint")
    check(out.strip() == "ok demo 0.1.0: 1 check, 1 stat", "lint said %r" % out)

    first = ok(ctl(env, "package", "build", "demo"), "build").split()
    check(first[1] == "./demo-0.1.0.tar.gz", "build printed %r" % first)
    os.utime(os.path.join(d, "demo", "README.md"), (1, 1))
    again = ok(ctl(env, "package", "build", "demo", "-o", "again.tar.gz"), "build -o").split()
    check(first[0] == again[0], "rebuild changed the sha256: %s %s" % (first[0], again[0]))
    out = ok(ctl(env, "package", "sign", "demo-0.1.0.tar.gz", "--key", "pub.key"), "sign")
    check("demo 0.1.0 signed with key id" in out, "sign printed %r" % out)

    env.start_server("--publisher-key", os.path.join(d, "pub.pub"))
    admin, read = env.token("admin"), env.token("read")

    # unsigned: refused by a server with publisher keys
    r = ctl(env, "package", "publish", "again.tar.gz", token=admin)
    check(r[0] == 1 and "signature" in r[2], "unsigned publish: %r" % (r,))
    out = ok(ctl(env, "package", "publish", "demo-0.1.0.tar.gz", token=admin), "publish")
    check(out.startswith("published demo 0.1.0") and first[0] in out and "signed by key" in out,
          "publish printed %r" % out)
    out = ok(ctl(env, "package", "publish", "demo-0.1.0.tar.gz", token=admin), "publish again")
    check(out.startswith("already published"), "second publish printed %r" % out)
    with open(os.path.join(d, "demo", "README.md"), "a") as f:
        f.write("more\n")
    ok(ctl(env, "package", "build", "demo", "-o", "changed.tar.gz"), "build changed")
    ok(ctl(env, "package", "sign", "changed.tar.gz", "--key", "pub.key"), "sign changed")
    r = ctl(env, "package", "publish", "changed.tar.gz", token=admin)
    check(r[0] == 1 and "409" in r[2], "conflicting publish: %r" % (r,))
    r = ctl(env, "package", "publish", "demo-0.1.0.tar.gz", token=read)
    check(r[0] == 1, "publish with a read token: %r" % (r,))

    out = ok(ctl(env, "assign", "demo", "--version", "latest", "--selector", "role=web",
                 "--rollout", "100", token=admin), "assign")
    check("resolved 0.1.0" in out and "role=web" in out, "assign printed %r" % out)
    r = ctl(env, "assign", "demo", "--version", "9.9.9", token=admin)
    check(r[0] == 1 and "9.9.9" in r[2], "assign of an unknown version: %r" % (r,))
    r = ctl(env, "assign", "demo", "--version", "latest", "--rollout", "101", token=admin)
    check(r[0] == 2, "rollout 101: %r" % (r,))

    out = ok(ctl(env, "packages", token=read), "packages")
    check("demo" in out and "0.1.0@100%" in out, "packages printed %r" % out)
    body = json.loads(ok(ctl(env, "package", "show", "demo", "--json", token=read), "show"))
    check(body["assignment"]["selector"] == {"role": "web"}, "assignment %r" % body)
    check(body["versions"][0]["sha256"] == first[0], "versions %r" % body["versions"])
    r = ctl(env, "package", "show", "nope", token=read)
    check(r[0] == 1 and "404" in r[2], "show of an unknown package: %r" % (r,))

    # an agent with the label installs the signed bundle and runs the scaffolded check
    enroll = env.token("enroll")
    r = env.run_agent(os.path.join(d, "a1"), [], "--once", "--trust-key",
                      os.path.join(d, "pub.pub"), "--label", "role=web", enroll=enroll)
    check(r.returncode == 0, "agent --once: %s %s" % (r.returncode, r.stderr[-2000:]))
    runs = env.runs(read, "package=demo")
    check(any(x["check"] == "demo.running" and x["outcome"] == "ok" for x in runs),
          "no ok run of demo.running: %r" % runs)

    env.stop_server()
    r = ctl(env, "packages", token=read)
    check(r[0] == 3, "packages with the server away: %r" % (r,))


@case
def test_ctl_package_usage_and_help(env):
    for args in (["keygen"], ["package", "init", "demo"], ["package", "lint", "x"],
                 ["package", "build", "x"], ["package", "sign", "x"],
                 ["package", "publish", "x"], ["package", "show", "x"], ["package"],
                 ["packages"], ["assign", "x"]):
        r = ctl(env, *(args + ["--help"]), server=False)
        check(r[0] == 0 and r[1].startswith("usage: healopsctl " + args[0]),
              "%s --help: %r" % (args, r))
    for args in (["assign", "demo"], ["package"], ["package", "bogus"], ["keygen"],
                 ["package", "build", "x", "--key", "k"], ["package", "lint"],
                 ["assign", "demo", "--version", "1.0.0", "--selector", "novalue"]):
        r = ctl(env, *args, server=False)
        check(r[0] == 2, "%s: exit %d, want 2 (%s)" % (args, r[0], r[2]))
    r = ctl(env, "packages", server=False)
    check(r[0] == 2 and "--server" in r[2], "packages without a server: %r" % (r,))
    r = ctl(env, "package", "init", "Bad/Name", server=False)
    check(r[0] == 1 and not os.path.exists(os.path.join(env.dir, "Bad")), "bad name: %r" % (r,))
    os.makedirs(os.path.join(env.dir, "broken"))
    with open(os.path.join(env.dir, "broken", "healops-package.json"), "w") as f:
        json.dump({"name": "broken", "version": "1.0.0",
                   "checks": [{"name": "c", "interval": 0,
                               "test": {"probe": "tcp", "port": 1}}]}, f)
    r = ctl(env, "package", "lint", "broken", server=False)
    check(r[0] == 1 and "broken/healops-package.json:checks[0].interval: " in r[1],
          "lint of a broken manifest: %r" % (r,))
