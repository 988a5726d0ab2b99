"""Server behaviour: signals, handshake failures, closing, Unix sockets, client verification."""
from __future__ import annotations

import os
import socket
import ssl

import gevent
import pytest
import trustme
from helpers import echo, port_of, serving

import greentls


def _collect(signal, sender=None):
    """Connect a receiver that records each send's kwargs; returns the list."""
    seen = []

    def receiver(_sender, **kwargs):
        seen.append(kwargs)

    signal.connect(receiver, sender=sender if sender is not None else signal.ANY, weak=False)
    return seen, receiver


def _wait_for(predicate, timeout=5.0):
    with gevent.Timeout(timeout, AssertionError("condition not reached")):
        while not predicate():
            gevent.sleep(0.01)


def test_secure_connection_signal_runs_before_listener_in_connection_greenlet(server_options, client_options):
    """Receivers hear their own server only, in the connection's greenlet, before the listener."""
    order = []
    with serving(lambda tls: order.append(("listener", gevent.getcurrent())), **server_options) as server, \
            serving(echo, **server_options) as other:
        def receiver(sender, tls_socket):
            order.append(("signal", gevent.getcurrent(), sender, tls_socket))

        greentls.secure_connection.connect(receiver, sender=server)
        try:
            greentls.connect(port_of(server), "127.0.0.1", **client_options).close()
            greentls.connect(port_of(other), "127.0.0.1", **client_options).close()
            _wait_for(lambda: len(order) >= 2)
            gevent.sleep(0.05)
        finally:
            greentls.secure_connection.disconnect(receiver, sender=server)
    assert [entry[0] for entry in order] == ["signal", "listener"]
    assert order[0][1] is order[1][1]  # same greenlet
    assert order[0][2] is server and isinstance(order[0][3], greentls.TLSSocket)


def test_raising_receiver_ends_only_its_connection(server_options, client_options):
    """A receiver that raises closes that connection; the server keeps serving others."""
    calls = []

    def receiver(sender, tls_socket):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("boom")

    with serving(echo, **server_options) as server:
        greentls.secure_connection.connect(receiver, sender=server)
        try:
            first = greentls.connect(port_of(server), "127.0.0.1", **client_options)
            assert first.recv(10) == b""  # closed by the server after the receiver raised
            first.close()
            with greentls.connect(port_of(server), "127.0.0.1", **client_options) as second:
                second.sendall(b"still here")
                assert second.recv(100) == b"still here"
        finally:
            greentls.secure_connection.disconnect(receiver, sender=server)


def test_garbage_client_gets_openssl_error_and_server_serves_on(server_options, client_options):
    """Bytes that are not TLS end as tls_client_error with OpenSSL's reason code."""
    with serving(echo, **server_options) as server:
        seen, receiver = _collect(greentls.tls_client_error, server)
        try:
            raw = socket.create_connection(("127.0.0.1", port_of(server)))
            raw.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            _wait_for(lambda: seen)
            raw.close()
            with greentls.connect(port_of(server), "127.0.0.1", **client_options) as tls:
                tls.sendall(b"ok")
                assert tls.recv(10) == b"ok"
        finally:
            greentls.tls_client_error.disconnect(receiver)
    error = seen[0]["exception"]
    assert isinstance(error, greentls.TLSError)
    assert error.code == "ERR_SSL_HTTP_REQUEST"
    assert isinstance(seen[0]["tls_socket"], greentls.TLSSocket)


def test_client_disconnecting_mid_handshake_is_a_client_error(server_options):
    """A client that sends half a ClientHello and leaves is reported as ECONNRESET."""
    with serving(echo, **server_options) as server:
        seen, receiver = _collect(greentls.tls_client_error, server)
        try:
            raw = socket.create_connection(("127.0.0.1", port_of(server)))
            raw.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")
            raw.close()
            _wait_for(lambda: seen)
        finally:
            greentls.tls_client_error.disconnect(receiver)
    assert seen[0]["exception"].code == "ECONNRESET"
    assert server.get_connections() == 0


def test_silent_client_closed_at_handshake_timeout(server_options, client_options):
    """A client that never sends a hello is closed at handshake_timeout with ERR_TLS_HANDSHAKE_TIMEOUT."""
    with serving(echo, handshake_timeout=0.3, **server_options) as server:
        seen, receiver = _collect(greentls.tls_client_error, server)
        try:
            raw = socket.create_connection(("127.0.0.1", port_of(server)))
            with greentls.connect(port_of(server), "127.0.0.1", **client_options) as tls:
                tls.sendall(b"others are served")
                assert tls.recv(100) == b"others are served"
            _wait_for(lambda: seen, timeout=3)
            raw.settimeout(3)
            assert raw.recv(10) == b""  # the server closed the silent connection
            raw.close()
        finally:
            greentls.tls_client_error.disconnect(receiver)
    error = seen[0]["exception"]
    assert isinstance(error, greentls.HandshakeTimeoutError)
    assert isinstance(error, TimeoutError)
    assert error.code == "ERR_TLS_HANDSHAKE_TIMEOUT"


def test_close_callback_runs_after_last_connection(server_options, client_options):
    """close() stops accepting at once; its callback runs when the last connection ends."""
    called = []
    with serving(echo, **server_options) as server:
        port = port_of(server)
        tls = greentls.connect(port, "127.0.0.1", **client_options)
        tls.sendall(b"x")
        assert tls.recv(1) == b"x"
        assert server.get_connections() == 1
        server.close(lambda: called.append(True))
        with pytest.raises(OSError):
            greentls.connect(port, "127.0.0.1", timeout=2, **client_options)
        assert called == []
        tls.close()
        _wait_for(lambda: called)
        assert server.get_connections() == 0


def test_stop_closes_remaining_connections_with_close_notify(server_options, client_options):
    """stop(timeout) waits, then closes what is left cleanly: the client reads a clean end."""
    server = greentls.create_server(echo, **server_options).listen(0, "127.0.0.1")
    tls = greentls.connect(port_of(server), "127.0.0.1", **client_options)
    tls.sendall(b"x")
    assert tls.recv(1) == b"x"
    server.stop(timeout=0.1)
    assert tls.recv(10) == b""
    assert tls._engine.clean_close
    assert server.get_connections() == 0
    tls.close()


def test_serve_forever_returns_after_close(server_options):
    """serve_forever blocks until the server is closed and idle."""
    server = greentls.create_server(echo, **server_options).listen(0, "127.0.0.1")
    runner = gevent.spawn(server.serve_forever)
    gevent.sleep(0.05)
    assert not runner.dead
    server.close()
    runner.join(timeout=3)
    assert runner.dead and runner.successful()


def test_unix_socket_server_and_client(tmp_path, server_options, client_options):
    """listen(path=...) and connect(path=...) work over a Unix socket."""
    path = str(tmp_path / "tls.sock")
    server = greentls.create_server(echo, **server_options).listen(path=path)
    try:
        assert server.address() == path
        with greentls.connect(path=path, servername="localhost", **client_options) as tls:
            tls.sendall(b"unix")
            assert tls.recv(10) == b"unix"
    finally:
        server.stop(timeout=1)
    assert not os.path.exists(path)


def test_address_shape(server_options):
    """address() has Node's keys."""
    with serving(echo, **server_options) as server:
        address = server.address()
    assert address["address"] == "127.0.0.1" and address["family"] == "IPv4"
    assert isinstance(address["port"], int) and address["port"] > 0


def test_connect_over_existing_socket(server_options, client_options):
    """connect(socket=...) runs TLS over a socket the caller opened."""
    from gevent import socket as gsocket
    with serving(echo, **server_options) as server:
        raw = gsocket.create_connection(("127.0.0.1", port_of(server)))
        with greentls.connect(socket=raw, servername="localhost", **client_options) as tls:
            tls.sendall(b"over mine")
            assert tls.recv(100) == b"over mine"


def test_self_signed_server_rejected_with_verify_code(client_options):
    """A self-signed server certificate fails with DEPTH_ZERO_SELF_SIGNED_CERT."""
    from greentls._app.cli import self_signed_pem
    key, cert = self_signed_pem()
    with serving(echo, key=key, cert=cert) as server:
        with pytest.raises(greentls.CertificateError) as info:
            greentls.connect(port_of(server), "localhost", **client_options)
        assert info.value.code == "DEPTH_ZERO_SELF_SIGNED_CERT"
        with greentls.connect(port_of(server), "localhost", reject_unauthorized=False) as tls:
            assert tls.authorized is False
            assert tls.authorization_error == "DEPTH_ZERO_SELF_SIGNED_CERT"


def test_unknown_ca_rejected_with_verify_code(server_options):
    """A server whose CA we do not trust fails as Node reports it."""
    other = trustme.CA()
    with serving(echo, **server_options) as server:
        with pytest.raises(greentls.CertificateError) as info:
            greentls.connect(port_of(server), "localhost", ca=other.cert_pem.bytes())
    assert info.value.code == "UNABLE_TO_VERIFY_LEAF_SIGNATURE"
    assert isinstance(info.value, greentls.TLSError)


def test_hostname_mismatch_rejected(server_options, client_options):
    """A certificate without the requested name fails with ERR_TLS_CERT_ALTNAME_INVALID."""
    with serving(echo, **server_options) as server:
        with pytest.raises(greentls.CertificateError) as info:
            greentls.connect(port_of(server), "127.0.0.1", servername="example.org", **client_options)
        assert info.value.code == "ERR_TLS_CERT_ALTNAME_INVALID"
        checked = []
        with greentls.connect(port_of(server), "127.0.0.1", servername="example.org",
                              check_server_identity=lambda host, cert: checked.append(host),
                              **client_options) as tls:
            assert tls.authorized
    assert checked == ["example.org"]


def test_unknown_option_is_a_type_error(server_options):
    """Unknown options raise TypeError naming the option."""
    with pytest.raises(TypeError, match="bogus"):
        greentls.create_server(echo, bogus=1, **server_options)
    with pytest.raises(TypeError, match="handshake_timeout"):
        greentls.create_server(echo, handshake_timeout="soon", **server_options)
    with pytest.raises(TypeError, match="wat"):
        greentls.connect(1, wat=True)


def test_reader_and_writer_greenlets_share_a_socket(server_options, client_options):
    """One greenlet reads while another writes 4 MB; the stream arrives intact."""
    payload = os.urandom(4 * 1024 * 1024)
    with serving(echo, **server_options) as server:
        with greentls.connect(port_of(server), "127.0.0.1", **client_options) as tls:
            writer = gevent.spawn(tls.sendall, payload)
            received = bytearray()
            while len(received) < len(payload):
                received += tls.recv(1 << 20)
            writer.get(timeout=10)
    assert bytes(received) == payload


def test_error_log_lines_name_the_client(server_options, caplog):
    """A failed handshake's debug line says which client it was (host:port), though the socket
    is closed by the time it is written."""
    import logging

    from gevent import socket as gsocket

    caplog.set_level(logging.DEBUG, logger="greentls")
    with serving(echo, **server_options) as server:
        raw = gsocket.create_connection(("127.0.0.1", port_of(server)))
        local_port = raw.getsockname()[1]
        raw.sendall(b"GET / HTTP/1.1\r\n\r\n")
        with gevent.Timeout(5):
            while raw.recv(100):
                pass
        raw.close()
        with gevent.Timeout(5):
            while not any("TLS client error from" in r.getMessage() for r in caplog.records):
                gevent.sleep(0.01)
    line = next(r.getMessage() for r in caplog.records if "TLS client error from" in r.getMessage())
    assert f"127.0.0.1:{local_port}" in line and "ERR_SSL_HTTP_REQUEST" in line


def test_reload_rereads_files_and_keeps_other_options(tmp_path, ca):
    """Server.reload(): options given as paths are read again (a rotated certificate is served
    to new connections), the other options stay, and a bad reload leaves the old one serving."""
    from cryptography import x509
    from gevent import socket as gsocket, ssl as gssl

    def write(leaf: trustme.LeafCert) -> int:
        leaf.private_key_pem.write_to_path(str(tmp_path / "key.pem"))
        leaf.cert_chain_pems[0].write_to_path(str(tmp_path / "cert.pem"))
        return x509.load_pem_x509_certificate(leaf.cert_chain_pems[0].bytes()).serial_number

    def seen(port: int) -> tuple:
        """(serial of the certificate served, protocol version) for a new connection."""
        context = gssl.SSLContext(gssl.PROTOCOL_TLS_CLIENT)
        context.load_verify_locations(cadata=ca.cert_pem.bytes().decode())
        raw = gsocket.create_connection(("127.0.0.1", port))
        with context.wrap_socket(raw, server_hostname="localhost") as tls:
            der = tls.getpeercert(binary_form=True)
            return x509.load_der_x509_certificate(der).serial_number, tls.version()

    first = write(ca.issue_cert("localhost"))
    with serving(echo, key=tmp_path / "key.pem", cert=tmp_path / "cert.pem", max_version="TLSv1.2") as server:
        port = port_of(server)
        assert seen(port) == (first, "TLSv1.2")
        second = write(ca.issue_cert("localhost"))
        assert seen(port) == (first, "TLSv1.2")  # nothing changes until reload()
        server.reload()
        assert seen(port) == (second, "TLSv1.2")  # the new files, the same other options
        with pytest.raises(ValueError):
            server.reload(key=b"not a key")
        assert seen(port) == (second, "TLSv1.2")


def test_reload_of_a_secure_context_server_keeps_that_context_s_trust(tmp_path, ca, restore_default):
    """A server made with secure_context= (a private client CA): reload() with a new key and
    certificate rebuilds from that context's options. It used to rebuild from the server's own
    context options, which were empty: the private ca was dropped for the default trust (an
    untrusted client let in), and reload(crl=...) served no certificate at all."""
    from gevent import socket as gsocket, ssl as gssl
    private, public = trustme.CA(), trustme.CA()
    trusted, stranger = private.issue_cert("trusted"), public.issue_cert("stranger")
    leaf = ca.issue_cert("localhost")
    greentls.set_default_ca_certificates([public.cert_pem.bytes().decode()])  # "the default roots"
    context = greentls.create_secure_context(key=leaf.private_key_pem.bytes(),
                                             cert=leaf.cert_chain_pems[0].bytes(),
                                             ca=private.cert_pem.bytes())

    def verdict(port: int, client: trustme.LeafCert) -> str:
        ctx = gssl.SSLContext(gssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(cadata=ca.cert_pem.bytes().decode())
        client.private_key_and_cert_chain_pem.write_to_path(str(tmp_path / "client.pem"))
        ctx.load_cert_chain(str(tmp_path / "client.pem"))
        raw = gsocket.create_connection(("127.0.0.1", port))
        try:
            with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
                return tls.recv(10).decode() or "closed"
        except OSError as exc:
            return type(exc).__name__

    def greet(tls: greentls.TLSSocket) -> None:
        tls.sendall(b"in")
        tls.close()

    with serving(greet, secure_context=context, request_cert=True, reject_unauthorized=True) as server:
        port = port_of(server)
        assert verdict(port, trusted) == "in" and verdict(port, stranger) != "in"
        fresh = ca.issue_cert("localhost")
        server.reload(key=fresh.private_key_pem.bytes(), cert=fresh.cert_chain_pems[0].bytes())
        assert verdict(port, trusted) == "in" and verdict(port, stranger) != "in"
        server.reload(ciphers="HIGH")  # one option: the key and certificate stay too
        assert verdict(port, trusted) == "in" and verdict(port, stranger) != "in"


def test_reload_of_a_stdlib_context_server_is_refused(cert_files):
    """A server whose context came from a greentls.SSLContext cannot be rebuilt from options
    (its ssl.SSLContext calls would be lost): reload() raises UnsupportedError and the old
    context serves on."""
    ctx = greentls.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert_files["cert"], cert_files["key"])
    with serving(echo, secure_context=ctx._secure_context()) as server:
        with pytest.raises(greentls.UnsupportedError, match="reload"):
            server.reload()
