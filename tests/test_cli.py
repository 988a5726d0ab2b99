"""The command line: greentls serve / connect / ciphers, and python -m greentls."""
from __future__ import annotations

import contextlib
import sys

import gevent
import pytest
from gevent import subprocess
from helpers import echo, free_port, port_of, serving

import greentls

GREENTLS = [sys.executable, "-m", "greentls"]



@contextlib.contextmanager
def _serve(*args: str):
    port = free_port()
    proc = subprocess.Popen([*GREENTLS, "serve", "--port", str(port), *args],
                            stderr=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        with gevent.Timeout(20, AssertionError("greentls serve did not start")):
            line = proc.stderr.readline().decode()
        assert f"TLS echo server on 127.0.0.1:{port}" in line, line
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        proc.stdout.close()
        proc.stderr.close()


def test_serve_self_signed_talks_to_openssl_s_client(need_openssl):
    """`greentls serve --self-signed` echoes to openssl s_client."""
    from helpers import OPENSSL
    with _serve("--self-signed") as port:
        client = subprocess.Popen([OPENSSL, "s_client", "-connect", f"127.0.0.1:{port}", "-quiet"],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        try:
            client.stdin.write(b"over the cli\n")
            client.stdin.flush()
            with gevent.Timeout(20, AssertionError("no echo from greentls serve")):
                line = client.stdout.readline()
        finally:
            client.stdin.close()
            client.kill()  # -quiet implies -ign_eof: s_client would wait for the server to close
            client.wait(timeout=10)
            client.stdout.close()
    assert line == b"over the cli\n"


def test_serve_with_cert_files_and_alpn(cert_files, client_options):
    """`greentls serve --cert --key --alpn` serves our client with the chosen protocol."""
    with _serve("--cert", cert_files["cert"], "--key", cert_files["key"], "--alpn", "h2,http/1.1") as port:
        with greentls.connect(port, "localhost", alpn_protocols=["http/1.1"], **client_options) as tls:
            tls.sendall(b"alpn")
            assert tls.recv(10) == b"alpn"
            assert tls.alpn_protocol == "http/1.1"


def test_connect_prints_handshake_and_pipes(server_options, cert_files):
    """`greentls connect` prints the handshake on stderr and pipes stdin to stdout."""
    with serving(echo, **server_options) as server:
        result = subprocess.run([*GREENTLS, "connect", f"localhost:{port_of(server)}", "--ca", cert_files["ca"]],
                                input=b"piped bytes\n", stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                timeout=30)
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"piped bytes\n"
    summary = result.stderr.decode()
    assert "protocol: TLSv1.3" in summary
    assert "verified: True" in summary
    assert "localhost" in summary


def test_connect_verification_failure_exits_1(server_options):
    """A server the CLI cannot verify makes it exit 1 and print the code."""
    with serving(echo, **server_options) as server:
        result = subprocess.run([*GREENTLS, "connect", f"localhost:{port_of(server)}"], input=b"",
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
    assert result.returncode == 1
    assert b"UNABLE_TO_VERIFY_LEAF_SIGNATURE" in result.stderr or b"UNABLE_TO_GET_ISSUER" in result.stderr


def test_ciphers_lists_get_ciphers():
    """`greentls ciphers` prints get_ciphers(), one per line."""
    result = subprocess.run([*GREENTLS, "ciphers"], stdout=subprocess.PIPE, timeout=30, check=True)
    assert result.stdout.decode().split() == greentls.get_ciphers()


@pytest.mark.parametrize("workers", ["0", "-1", "two"])
def test_serve_refuses_a_worker_count_below_one(workers):
    """`serve --workers 0` or `-1` is refused with argparse's usage error (exit 2); it used to
    run one process without a word."""
    result = subprocess.run([*GREENTLS, "serve", "--self-signed", "--workers", workers],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
    assert result.returncode == 2 and b"argument --workers" in result.stderr, result.stderr


@pytest.mark.parametrize(("extra", "said"), [
    (["--cert", "missing.pem", "--key", "missing.pem"], b"cannot read missing.pem"),
    (["--self-signed", "--port", "99999"], b"cannot listen on 127.0.0.1:99999"),
    (["--self-signed", "--idle-timeout", "-3"], b"'idle_timeout'"),
    (["--self-signed", "--wsgi", "no_such_module:app"], b"no module named 'no_such_module'"),
])
def test_serve_names_a_setup_mistake_in_one_line(extra, said, tmp_path):
    """An operator's mistake while the server is set up (a missing file, a port out of range, a
    bad value, an application that is not there) ends serve with one line, not a traceback."""
    result = subprocess.run([*GREENTLS, "serve", *extra], cwd=str(tmp_path),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
    assert result.returncode != 0 and said in result.stderr, result.stderr
    assert b"Traceback" not in result.stderr, result.stderr


def test_connect_names_a_ca_it_cannot_read(tmp_path):
    """`connect --ca missing.pem` is connect's own usage mistake (exit 2, naming --ca), not
    serve's message and not a traceback."""
    result = subprocess.run([*GREENTLS, "connect", "localhost:1", "--ca", str(tmp_path / "missing.pem")],
                            input=b"", stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
    assert result.returncode == 2, result.stderr
    assert b"greentls connect: --ca: cannot read" in result.stderr and b"Traceback" not in result.stderr
