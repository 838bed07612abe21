"""Mutual TLS: with --tls-client-ca the server answers only clients that present a
certificate signed by that CA (403 otherwise; /healthz stays open for probes), and
the agent presents one with --tls-client-cert/--tls-client-key. Loaded by run.py
through CASES."""

import json
import os
import ssl
import subprocess
import urllib.error
import urllib.request

from harness import check

CASES = []


def case(fn):
    CASES.append(fn)
    return fn


def openssl(d, *args):
    subprocess.run(("openssl",) + args, check=True, cwd=d, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)


def client_pki(d):
    """A client CA with one client certificate, and a self-signed stranger."""
    openssl(d, "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "cca.key")
    openssl(d, "req", "-x509", "-new", "-key", "cca.key", "-sha256", "-days", "2",
            "-subj", "/CN=HealOps client CA", "-out", "cca.pem")
    for name in ("client", "stranger"):
        openssl(d, "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", name + ".key")
    openssl(d, "req", "-new", "-key", "client.key", "-subj", "/CN=node1", "-out", "client.csr")
    openssl(d, "x509", "-req", "-in", "client.csr", "-CA", "cca.pem", "-CAkey", "cca.key",
            "-CAcreateserial", "-days", "2", "-sha256", "-out", "client.pem")
    openssl(d, "req", "-x509", "-new", "-key", "stranger.key", "-sha256", "-days", "2",
            "-subj", "/CN=node1", "-out", "stranger.pem")
    return {n: (os.path.join(d, n + ".pem"), os.path.join(d, n + ".key"))
            for n in ("client", "stranger")}, os.path.join(d, "cca.pem")


def get(env, path, cert=None, token=None):
    ctx = ssl.create_default_context(cafile=env.ca)
    if cert:
        ctx.load_cert_chain(cert[0], cert[1])
    req = urllib.request.Request(env.url + path)
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


@case
def test_client_certificates_are_required_when_configured(env):
    certs, cca = client_pki(env.dir)
    # start_server's readiness probe is /healthz, which needs no client certificate
    env.start_server("--tls-client-ca", cca)
    read = env.token("read")
    check(get(env, "/api/v1/agents", token=read) == 403, "no client certificate was let in")
    check(get(env, "/api/v1/agents", certs["stranger"], read) == 403,
          "a certificate from another CA was let in")
    check(get(env, "/api/v1/agents", certs["client"], read) == 200,
          "the CA's client certificate was refused")
    check(get(env, "/api/v1/agents", certs["client"]) == 401,
          "a client certificate does not replace the token")
    check(get(env, "/healthz") == 200, "/healthz must stay open to probes")


@case
def test_server_refuses_to_start_with_a_bad_client_ca(env):
    bad = os.path.join(env.dir, "missing-ca.pem")
    r = subprocess.run([env.bin("healops-server"), "--listen", "127.0.0.1:%d" % env.port,
                        "--db", env.db, "--tls-cert", env.cert, "--tls-key", env.key,
                        "--tls-client-ca", bad], capture_output=True, text=True, timeout=20)
    check(r.returncode != 0 and "tls.client_ca" in r.stderr, (r.returncode, r.stderr))


@case
def test_agent_presents_its_client_certificate(env):
    from harness import write_package
    certs, cca = client_pki(env.dir)
    env.start_server("--tls-client-ca", cca)
    enroll, read = env.token("enroll"), env.token("read")
    pkg = write_package(os.path.join(env.dir, "pkgs"), "m", [
        {"name": "m.ok", "interval": 60, "test": {"exec": ["checks/ok.test"]}}],
        scripts={"checks/ok.test": "#!/bin/sh\necho fine\n"})
    state = os.path.join(env.dir, "state")
    r = env.run_agent(state, [pkg], "--once", enroll=enroll, name="mtls1")
    check(r.returncode != 0, "an agent without a client certificate got in: %s" % r.stderr)
    cert, key = certs["client"]
    r = env.run_agent(state, [pkg], "--once", "--tls-client-cert", cert, "--tls-client-key", key,
                      enroll=enroll, name="mtls1")
    check(r.returncode == 0, "agent with the client certificate: %s" % r.stderr)
    ctx = ssl.create_default_context(cafile=env.ca)
    ctx.load_cert_chain(cert, key)
    req = urllib.request.Request(env.url + "/api/v1/runs?agent=mtls1")
    req.add_header("Authorization", "Bearer " + read)
    with urllib.request.urlopen(req, context=ctx, timeout=10) as resp:
        runs = json.loads(resp.read())["runs"]
    check(len(runs) >= 1 and runs[0]["check"] == "m.ok", runs)
    r = env.run_agent(state, [pkg], "--once", "--tls-client-cert", cert, name="mtls1")
    check(r.returncode == 2 and "go together" in r.stderr, (r.returncode, r.stderr))
