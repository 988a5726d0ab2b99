"""Attacks on greentls.SSLContext's seams, each kept as a regression test: client certificates
under CERT_OPTIONAL, SNI into a stricter virtual host, sessions across virtual hosts, host names
with NUL bytes, callbacks that misbehave, settings changed under running connections."""
from __future__ import annotations

import socket
import ssl
import threading

import pytest
import trustme
from test_stdlib_context import client_context, server_context, talk, thread_server

import greentls


def _stranger_client(cert_files, tmp_path) -> greentls.SSLContext:
    """A client trusting the test CA, presenting a certificate from an unknown CA."""
    stranger = trustme.CA().issue_cert("stranger@example.com")
    stranger.private_key_pem.write_to_path(str(tmp_path / "k.pem"))
    stranger.cert_chain_pems[0].write_to_path(str(tmp_path / "c.pem"))
    client = client_context(cert_files)
    client.load_cert_chain(str(tmp_path / "c.pem"), str(tmp_path / "k.pem"))
    return client


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
def test_cert_optional_refuses_a_forged_client_certificate(cert_files, tmp_path, version):
    """A client certificate from an unknown CA must not get in under CERT_OPTIONAL (OpenSSL keeps
    an earlier accept-all verify callback when SSL_set_verify is given NULL: found, fixed here)."""
    ctx = server_context(cert_files, verify_mode=ssl.CERT_OPTIONAL, maximum_version=version)
    ctx.load_verify_locations(cert_files["ca"])
    with thread_server(ctx) as server:
        with socket.create_connection(("127.0.0.1", server.port)) as raw, pytest.raises(ssl.SSLError):
            with _stranger_client(cert_files, tmp_path).wrap_socket(raw, server_hostname="localhost") as tls:
                tls.recv(6)
        assert isinstance(server.next(), ssl.SSLCertVerificationError)


def test_sni_into_a_vhost_that_requires_client_certificates(cert_files, ca, tmp_path):
    """sni_callback moves the connection to a context with CERT_REQUIRED: that context's policy
    applies, so a client without a certificate is refused there, and one with a valid one gets in."""
    strict = server_context(cert_files, verify_mode=ssl.CERT_REQUIRED)
    strict.load_verify_locations(cert_files["ca"])

    def pick(ssl_socket, server_name, ssl_context):
        if server_name == "localhost":
            ssl_socket.context = strict

    open_ctx = server_context(cert_files)
    open_ctx.sni_callback = pick
    with thread_server(open_ctx) as server:
        with socket.create_connection(("127.0.0.1", server.port)) as raw, pytest.raises(ssl.SSLError):
            with client_context(cert_files).wrap_socket(raw, server_hostname="localhost") as tls:
                tls.recv(6)
        assert isinstance(server.next(), ssl.SSLError)
        with_cert = client_context(cert_files)
        with_cert.load_cert_chain(cert_files["client_cert"], cert_files["client_key"])
        talk(with_cert, server.port)
        assert server.next()["peercert"]["subjectAltName"] == (("email", "client@example.com"),)


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
def test_session_of_an_open_vhost_does_not_resume_into_a_strict_one(cert_files, version):
    """A session made under the open default context, offered to the CERT_REQUIRED virtual host,
    gets a full handshake there (and is refused without a certificate), never a resumption."""
    strict = server_context(cert_files, verify_mode=ssl.CERT_REQUIRED, maximum_version=version)
    strict.load_verify_locations(cert_files["ca"])
    chosen = {"strict": False}

    def pick(ssl_socket, server_name, ssl_context):
        if chosen["strict"]:
            ssl_socket.context = strict

    ctx = server_context(cert_files, maximum_version=version)
    ctx.sni_callback = pick
    client = client_context(cert_files)
    with thread_server(ctx) as server:
        session = talk(client, server.port).facts["session"]
        server.next()
        chosen["strict"] = True
        with socket.create_connection(("127.0.0.1", server.port)) as raw, pytest.raises(ssl.SSLError):
            with client.wrap_socket(raw, server_hostname="localhost", session=session) as tls:
                tls.recv(6)
        assert isinstance(server.next(), ssl.SSLError)


def test_host_names_with_nul_bytes_fail_as_with_the_stdlib():
    """A NUL byte in server_hostname (a classic certificate-name trick) fails at the call with the
    stdlib's TypeError: never a check against a truncated name, and nothing left open."""
    ctx = greentls.create_default_context()
    a, b = socket.socketpair()
    with a, b, pytest.raises(TypeError, match="NUL"):
        ctx.wrap_socket(a, server_hostname="localhost\x00.evil.example", do_handshake_on_connect=False)


def test_sni_callback_setting_a_foreign_context_fails_that_handshake(cert_files):
    """sni_callback assigning a stdlib ssl.SSLContext (not greentls's) fails that handshake only."""
    def bad(ssl_socket, server_name, ssl_context):
        ssl_socket.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)

    ctx = server_context(cert_files)
    ctx.sni_callback = bad
    with thread_server(ctx) as server:
        with socket.create_connection(("127.0.0.1", server.port)) as raw, pytest.raises(OSError):
            with client_context(cert_files).wrap_socket(raw, server_hostname="localhost") as tls:
                tls.recv(1)
        assert "greentls.SSLContext" in str(server.next())
        ctx.sni_callback = None
        talk(client_context(cert_files), server.port)


def test_sni_callback_returning_an_alert_refuses(cert_files):
    """Returning an alert number (the stdlib's way to refuse) fails the handshake."""
    ctx = server_context(cert_files)
    ctx.sni_callback = lambda sock, name, context: ssl.ALERT_DESCRIPTION_UNRECOGNIZED_NAME
    with thread_server(ctx) as server:
        with socket.create_connection(("127.0.0.1", server.port)) as raw, pytest.raises(OSError):
            with client_context(cert_files).wrap_socket(raw, server_hostname="localhost") as tls:
                tls.recv(1)
        assert "alert" in str(server.next())


def test_changing_settings_while_connections_run(cert_files):
    """One thread keeps flipping maximum_version while others connect: every connection gets one
    of the two versions, complete, and nothing breaks."""
    ctx = server_context(cert_files)
    stop = threading.Event()

    def flip():
        while not stop.is_set():
            ctx.maximum_version = ssl.TLSVersion.TLSv1_2
            ctx.maximum_version = ssl.TLSVersion.TLSv1_3

    flipper = threading.Thread(target=flip)
    flipper.start()
    try:
        with thread_server(ctx) as server:
            versions = set()
            for _ in range(12):
                versions.add(talk(client_context(cert_files), server.port).facts["version"])
                server.next()
    finally:
        stop.set()
        flipper.join()
    assert versions <= {"TLSv1.2", "TLSv1.3"} and versions


def test_unsupported_setting_leaves_the_old_value(cert_files):
    """An UnsupportedError is raised before anything changes: the next connection is as before."""
    ctx = server_context(cert_files, maximum_version=ssl.TLSVersion.TLSv1_2)
    with pytest.raises(greentls.UnsupportedError, match="OP_NO_COMPRESSION"):
        ctx.options = ssl.OP_ALL
    with pytest.raises(greentls.UnsupportedError, match="SSLv3"):
        ctx.minimum_version = ssl.TLSVersion.SSLv3
    with thread_server(ctx) as server:
        assert talk(client_context(cert_files), server.port).facts["version"] == "TLSv1.2"


def test_sni_context_brings_its_alpn_list(cert_files):
    """After sni_callback switches contexts, the new context's ALPN list is the one selected from."""
    other = server_context(cert_files)
    other.set_alpn_protocols(["h2"])

    def pick(ssl_socket, server_name, ssl_context):
        ssl_socket.context = other

    ctx = server_context(cert_files)
    ctx.set_alpn_protocols(["http/1.1"])
    ctx.sni_callback = pick
    client = client_context(cert_files)
    client.set_alpn_protocols(["http/1.1", "h2"])
    with thread_server(ctx) as server:
        assert talk(client, server.port).facts["alpn"] == "h2"
        assert server.next()["alpn"] == "h2"
