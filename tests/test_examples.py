"""The examples run as their docstrings say (each against a real peer)."""
from __future__ import annotations

import os
import sys
import time

import gevent
import pytest
from gevent import subprocess
from helpers import free_port

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")



@pytest.fixture(scope="module")
def example_certs(tmp_path_factory) -> str:
    """Certificates made by examples/make_certs.py."""
    folder = str(tmp_path_factory.mktemp("example-certs"))
    subprocess.run([sys.executable, os.path.join(EXAMPLES, "make_certs.py"), folder], check=True,
                   stdout=subprocess.DEVNULL, timeout=60)
    return folder


@pytest.mark.parametrize(("server", "client"), [("echo_server.py", "echo_client.py"),
                                            ("echo_server_pfx.py", "echo_client_pfx.py")])
def test_node_docs_echo_server_and_client(server, client, example_certs):
    """Node's docs echo pair: the client is greeted, authorized, and its input echoed."""
    env = dict(os.environ, PORT=str(free_port()), CERTS=example_certs)
    proc = subprocess.Popen([sys.executable, os.path.join(EXAMPLES, server)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        with gevent.Timeout(20, AssertionError("example server did not start")):
            assert proc.stdout.readline() == b"server bound\n", proc.stderr.read()
        result = subprocess.run([sys.executable, os.path.join(EXAMPLES, client)], env=env,
                                input=b"hello example\n", stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                timeout=30)
        assert result.returncode == 0, result.stderr.decode()
        out = result.stdout.decode()
        assert "client connected authorized" in out
        assert "welcome!" in out and "hello example" in out
        with gevent.Timeout(10, AssertionError("server did not report the client")):
            assert proc.stdout.readline() == b"server connected authorized\n"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        proc.stdout.close()
        proc.stderr.close()


def test_gunicorn_conf_serves_gunicorn_app(example_certs):
    """examples/gunicorn_conf.py: gunicorn's workers over greentls, mutual TLS, TLS 1.3 only."""
    port = free_port()
    # PYTHONPATH: gunicorn's children import greentls from this checkout, whatever is installed.
    env = dict(os.environ, PORT=str(port), CERTS=example_certs, PYTHONPATH=os.path.dirname(EXAMPLES))
    proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "gunicorn_conf.py", "--no-control-socket",
                             "gunicorn_app:app"], cwd=EXAMPLES, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    certs = {name: os.path.join(example_certs, f"{name}.pem")
             for name in ("server-cert", "client-cert", "client-key")}
    command = ["curl", "-sS", "--cacert", certs["server-cert"], "--cert", certs["client-cert"],
               "--key", certs["client-key"], f"https://localhost:{port}/"]
    try:
        deadline = time.monotonic() + 20
        while True:
            result = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=20)
            if result.returncode == 0 or time.monotonic() > deadline:
                break
            gevent.sleep(0.2)
        assert result.returncode == 0, result.stderr.decode()
        assert b"hello CN=client.example" in result.stdout
        assert b"verified: SUCCESS, over TLSv1.3 (HTTPS=on)" in result.stdout
        refused = subprocess.run(command[:3] + command[-1:], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 timeout=20)
        assert refused.returncode != 0  # no client certificate: the handshake fails
    finally:
        proc.terminate()
        proc.wait(timeout=15)
