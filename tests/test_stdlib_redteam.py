"""A red team's findings against greentls.SSLContext, each a regression test: a session made
under one context resumed (and so skipped the certificate check) under another, cipher lists
with ',' or ';' separators were dropped, SSLKEYLOGFILE logged secrets the stdlib would not, a
client's SSLSocket.context could be changed to no effect."""
from __future__ import annotations

import os
import socket
import ssl
import subprocess
import sys

import pytest
import trustme
from helpers import OPENSSL
from test_stdlib_context import client_context, server_context, talk, thread_server

import greentls


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
def test_a_session_resumes_only_under_its_own_context(cert_files, version):
    """As the stdlib: a session from context A given to a socket of context B (which trusts
    another CA) is refused, never resumed past B's certificate check."""
    with thread_server(server_context(cert_files, maximum_version=version)) as server:
        a = client_context(cert_files)
        first = talk(a, server.port)
        session = first.facts["session"]
        assert session is not None
        assert talk(a, server.port, session=session).facts["reused"]  # its own context: resumes
        b = greentls.create_default_context(cadata=trustme.CA().cert_pem.bytes().decode())
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as raw, \
                pytest.raises(ValueError, match="different SSLContext"):
            b.wrap_socket(raw, server_hostname="localhost", session=session)
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as raw:
            tls = b.wrap_socket(raw, server_hostname="localhost", do_handshake_on_connect=False)
            with tls, pytest.raises(ValueError, match="different SSLContext"):
                tls.session = session
        # Made from DER (another process's, say), the caller vouches for it: it is offered.
        assert talk(a, server.port, session=greentls.SSLSession(session.der)).facts["reused"]


@pytest.mark.parametrize("separator", [",", ";", " "])
def test_cipher_lists_with_any_openssl_separator_take_effect(cert_files, separator, tmp_path):
    """set_ciphers("TLS_..., ECDHE-...") keeps the TLS 1.2 suite it names (OpenSSL's separators),
    so a server that offers only another suite is refused, as by the stdlib."""
    if OPENSSL is None:
        pytest.skip("openssl CLI is not installed")
    ctx = client_context(cert_files, maximum_version=ssl.TLSVersion.TLSv1_2)
    ctx.set_ciphers(separator.join(["TLS_AES_128_GCM_SHA256", "ECDHE-ECDSA-AES128-GCM-SHA256"]))
    assert [c["name"] for c in ctx.get_ciphers() if c["protocol"] == "TLSv1.2"] == ["ECDHE-ECDSA-AES128-GCM-SHA256"]
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([OPENSSL, "s_server", "-accept", str(port), "-cert", cert_files["cert"], "-key",
                               cert_files["key"], "-cipher", "ECDHE-ECDSA-CHACHA20-POLY1305", "-tls1_2", "-quiet"],
                              stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        import time
        for _ in range(100):
            try:
                raw = socket.create_connection(("127.0.0.1", port), timeout=5)
                break
            except OSError:
                time.sleep(0.05)
        with raw, pytest.raises(ssl.SSLError):
            ctx.wrap_socket(raw, server_hostname="localhost", do_handshake_on_connect=False).do_handshake()
    finally:
        server.kill()
        server.wait()
        server.stdin.close()


def test_sslkeylogfile_is_not_a_stdlib_context_s_key_log(cert_files, tmp_path):
    """The stdlib logs secrets only to keylog_filename (create_default_context fills it from
    SSLKEYLOGFILE, unless -E): a context made directly, or whose keylog_filename was cleared,
    logs nothing even with SSLKEYLOGFILE set."""
    log = tmp_path / "keys.log"
    script = tmp_path / "client.py"
    script.write_text(f"""
import socket, ssl, sys
sys.path.insert(0, {os.path.dirname(__file__)!r})
import greentls
from test_stdlib_context import server_context, talk, thread_server
files = {cert_files!r}
with thread_server(server_context(files)) as server:
    direct = greentls.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    direct.load_verify_locations(files["ca"])
    talk(direct, server.port)
    cleared = greentls.create_default_context(cafile=files["ca"])
    cleared.keylog_filename = None
    talk(cleared, server.port)
    print("quiet", flush=True)
    talk(greentls.create_default_context(cafile=files["ca"]), server.port)
""")
    env = dict(os.environ, SSLKEYLOGFILE=str(log))
    result = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr.decode()[-2000:]
    lines = [line for line in (log.read_text().splitlines() if log.exists() else []) if not line.startswith("#")]
    # Only the third connection (create_default_context's keylog_filename) logged its secrets:
    # one TLS 1.3 handshake's five, all with one client random.
    assert len(lines) == 5, lines
    assert len({line.split()[1] for line in lines}) == 1, lines


def test_a_client_socket_keeps_its_context(cert_files):
    ctx = client_context(cert_files)
    other = client_context(cert_files)
    with socket.socket() as raw:
        tls = ctx.wrap_socket(raw, server_hostname="localhost", do_handshake_on_connect=False)
        with pytest.raises(greentls.UnsupportedError, match="keeps the context"):
            tls.context = other
        tls.context = ctx  # the same one: nothing changes
        tls.close()


@pytest.mark.parametrize("der", [b"", b"\x30\x03\x02\x01", b"\x30\x82\xff\xff" + b"\x00" * 8, b"garbage"])
def test_a_malformed_session_is_a_value_error(der):
    with pytest.raises(ValueError, match="not a DER-encoded TLS session"):
        greentls.SSLSession(der)
    with pytest.raises(TypeError, match="'der' must be bytes"):
        greentls.SSLSession("text")  # type: ignore[arg-type]


def test_getpeercert_before_the_handshake_and_under_cert_none(cert_files):
    """As the stdlib: ValueError before the handshake; a CERT_NONE client verified nothing,
    so its dict is {} (the DER form is still there)."""
    with thread_server(server_context(cert_files)) as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as raw:
            tls = client_context(cert_files).wrap_socket(raw, server_hostname="localhost",
                                                         do_handshake_on_connect=False)
            with tls:
                with pytest.raises(ValueError, match="handshake not done yet"):
                    tls.getpeercert()
                tls.do_handshake()
                assert tls.getpeercert()["subjectAltName"]
        blind = client_context(cert_files, check_hostname=False, verify_mode=ssl.CERT_NONE)
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as raw, \
                blind.wrap_socket(raw, server_hostname="localhost") as tls:
            assert tls.getpeercert() == {}
            assert tls.getpeercert(binary_form=True)
