"""Trust at the seams: attacks on the ClientHello decisions, the handshake timer and the
connection slots, each turned into a regression test with real clients."""
from __future__ import annotations

import ssl
import time

import gevent
import pytest
from gevent import socket as gsocket
from gevent.event import Event
from helpers import echo, port_of, serving
from OpenSSL import SSL

import greentls
from greentls._parse import clienthello as _clienthello


def _client_hello(name: bytes = b"localhost") -> bytes:
    """The bytes of a real ClientHello (TLS 1.3) from pyOpenSSL on memory BIOs."""
    ctx = SSL.Context(SSL.TLS_CLIENT_METHOD)
    conn = SSL.Connection(ctx, None)
    conn.set_connect_state()
    conn.set_tlsext_host_name(name)
    try:
        conn.do_handshake()
    except SSL.WantReadError:
        pass
    return conn.bio_read(65536)


def _stdlib_client(port: int, servername: str, client_options: dict, version=ssl.TLSVersion.TLSv1_3):
    """A stdlib ssl client over a gevent socket (cooperative): returns the connected socket."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(cadata=client_options["ca"].decode())
    context.maximum_version = version
    context.check_hostname = False
    raw = gsocket.create_connection(("127.0.0.1", port), timeout=5)
    from gevent import ssl as gssl
    gcontext = gssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    gcontext.load_verify_locations(cadata=client_options["ca"].decode())
    gcontext.maximum_version = version
    gcontext.check_hostname = False
    return gcontext.wrap_socket(raw, server_hostname=servername)


def _errors_of(server) -> list:
    seen: list = []

    def receiver(_sender, exception, tls_socket):
        seen.append(exception)

    greentls.tls_client_error.connect(receiver, sender=server, weak=False)
    return seen


def _wait_for(predicate, timeout=5.0):
    with gevent.Timeout(timeout, AssertionError("condition not reached")):
        while not predicate():
            gevent.sleep(0.01)


@pytest.mark.parametrize("use_callback", [False, True], ids=["add_context", "sni_callback"])
def test_hello_the_parser_cannot_read_is_refused_not_served_default(monkeypatch, server_options, client_options,
                                                                    use_callback):
    """A hello our parser rejects but OpenSSL accepts is refused: no default context for it."""
    original = _clienthello.ClientHelloParser.feed

    def refuse(self, data):
        original(self, data)  # buffers the bytes, as a real failure does
        raise _clienthello.ClientHelloError("simulated: a hello the parser cannot read")

    monkeypatch.setattr(_clienthello.ClientHelloParser, "feed", refuse)
    asked = []
    options = dict(server_options)
    if use_callback:
        options["sni_callback"] = asked.append
    served = []
    with serving(lambda tls: served.append(tls.servername), **options) as server:
        if not use_callback:
            server.add_context("admin.example", server_options)
        errors = _errors_of(server)
        with pytest.raises(ssl.SSLError, match=r"UNRECOGNIZED_NAME|unrecognized name"):
            _stdlib_client(port_of(server), "admin.example", client_options)
        _wait_for(lambda: errors)
    assert served == [] and asked == []
    assert errors[0].code == "ERR_TLS_INVALID_CLIENT_HELLO"
    assert "could not parse" in str(errors[0])


def test_server_without_decisions_still_serves_when_parser_would_fail(monkeypatch, server_options, client_options):
    """With nothing to decide on the hello, OpenSSL alone judges it (no refusal)."""
    original = _clienthello.ClientHelloParser.feed

    def refuse(self, data):
        original(self, data)
        raise _clienthello.ClientHelloError("simulated")

    monkeypatch.setattr(_clienthello.ClientHelloParser, "feed", refuse)
    with serving(echo, **server_options) as server:
        client = _stdlib_client(port_of(server), "localhost", client_options)
        client.sendall(b"ping")
        assert client.recv(10) == b"ping"
        client.close()


@pytest.mark.parametrize("swallow", [Exception, BaseException], ids=["except-Exception", "except-BaseException"])
@pytest.mark.parametrize("where", ["sni_callback", "ocsp_request"])
def test_handshake_timer_survives_a_callback_that_catches(server_options, swallow, where):
    """A blocking SNI/OCSP callback that catches the timeout cannot switch the timer off."""
    def slow_lookup():
        try:
            gevent.sleep(30)
        except swallow:  # what careless application code does around a slow lookup
            pass

    options = dict(server_options, handshake_timeout=0.5)
    if where == "sni_callback":
        options["sni_callback"] = lambda name: slow_lookup()
    with serving(echo, **options) as server:
        if where == "ocsp_request":
            def on_ocsp(sender, certificate, issuer):
                slow_lookup()
            greentls.ocsp_request.connect(on_ocsp, sender=server, weak=False)
        errors = _errors_of(server)
        raw = gsocket.create_connection(("127.0.0.1", port_of(server)))
        hello = _client_hello()
        if where == "ocsp_request":
            ctx = SSL.Context(SSL.TLS_CLIENT_METHOD)
            conn = SSL.Connection(ctx, None)
            conn.set_connect_state()
            conn.set_tlsext_host_name(b"localhost")
            conn.request_ocsp()
            try:
                conn.do_handshake()
            except SSL.WantReadError:
                pass
            hello = conn.bio_read(65536)
        raw.sendall(hello)  # then stall, as the attacker does
        started = time.monotonic()
        raw.settimeout(5)
        try:
            while raw.recv(65536):
                pass
        except OSError:
            pass
        elapsed = time.monotonic() - started
        raw.close()
        _wait_for(lambda: errors)
    assert elapsed < 3, f"the server kept the stalled handshake open {elapsed:.1f} s"
    assert isinstance(errors[0], greentls.HandshakeTimeoutError)
    assert errors[0].code == "ERR_TLS_HANDSHAKE_TIMEOUT"


def test_blocking_client_error_receiver_holds_no_slot(server_options, client_options):
    """max_connections: receivers blocked on garbage clients do not lock out real clients."""
    release = Event()
    blocked = []
    with serving(echo, max_connections=2, handshake_timeout=5, **server_options) as server:
        def receiver(_sender, exception, tls_socket):
            blocked.append(exception)
            release.wait(30)

        greentls.tls_client_error.connect(receiver, sender=server, weak=False)
        try:
            for _ in range(6):
                garbage = gsocket.create_connection(("127.0.0.1", port_of(server)))
                garbage.sendall(b"GET / HTTP/1.0\r\n\r\n")
                garbage.settimeout(5)
                try:
                    while garbage.recv(1024):
                        pass
                except OSError:
                    pass
                garbage.close()
            _wait_for(lambda: len(blocked) == 6)
            assert server.get_connections() == 0
            client = _stdlib_client(port_of(server), "localhost", client_options)
            client.sendall(b"still serving")
            assert client.recv(100) == b"still serving"
            client.close()
        finally:
            release.set()
            greentls.tls_client_error.disconnect(receiver, sender=server)


def test_a_receiver_that_closes_then_blocks_holds_no_slot(server_options, client_options):
    """max_connections: a secure_connection receiver that closes its socket and then blocks
    frees the connection's slot and count at the close (the contract: a receiver that blocks
    holds no slot once its socket is closed); the third client used to wait for the sleep."""
    release = Event()

    ended: list = []

    def close_then_block(_sender, tls_socket):
        tls_socket.close()
        try:
            release.wait(30)
        except gevent.GreenletExit:
            ended.append("killed")
            raise

    with serving(echo, max_connections=2, **server_options) as server:
        greentls.secure_connection.connect(close_then_block, sender=server, weak=False)
        try:
            for _ in range(2):
                client = _stdlib_client(port_of(server), "localhost", client_options)
                assert client.recv(10) == b""  # closed by the receiver
                client.close()
            _wait_for(lambda: server.get_connections() == 0)
            assert server.stats()["connections"] == 0
            greentls.secure_connection.disconnect(close_then_block, sender=server)
            began = time.monotonic()
            client = _stdlib_client(port_of(server), "localhost", client_options)
            client.sendall(b"served")
            assert client.recv(100) == b"served"
            assert time.monotonic() - began < 2
            client.close()
            # stop() still ends the receivers that closed their sockets and went on.
            server.stop(timeout=0.2)
            assert ended == ["killed", "killed"], ended
        finally:
            release.set()


@pytest.mark.parametrize("decides", [False, True], ids=["unparsed", "parsed"])
def test_oversized_hello_gets_an_alert_not_a_reset(server_options, decides):
    """A hello over the limit is answered with a fatal illegal_parameter alert, then FIN."""
    import struct
    options = dict(server_options)
    if decides:
        options["sni_callback"] = lambda name: None
    with serving(echo, **options) as server:
        raw = gsocket.create_connection(("127.0.0.1", port_of(server)))
        hello = b"\x01\xff\xff\xff" + b"\x03\x03" + b"\x00" * (200 * 1024)
        try:
            for i in range(0, len(hello), 16000):
                part = hello[i:i + 16000]
                raw.sendall(b"\x16\x03\x01" + struct.pack("!H", len(part)) + part)
        except OSError:
            pass
        raw.settimeout(5)
        received = b""
        while chunk := raw.recv(100):
            received += chunk  # a reset would raise ConnectionResetError here
        raw.close()
    assert received == b"\x15\x03\x03\x00\x02\x02\x2f"
