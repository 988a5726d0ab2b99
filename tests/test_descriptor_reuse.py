"""A TLS connection never touches a descriptor it no longer owns.

After the handshake OpenSSL reads and writes the socket's descriptor itself.  Descriptor numbers
are reused as soon as they are closed, so a connection that outlives its socket (a file from
``makefile()`` closed late, a raw socket closed underneath) would write its close_notify or its
data into whatever connection got the number next: another client's stream, corrupted.
"""
from __future__ import annotations

import errno

import gevent
import pytest
from gevent import socket as gsocket, ssl as gssl
from gevent.server import StreamServer
from helpers import node_server

import greentls

NODE_ECHO = r"""
const tls = require('tls');
const fs = require('fs');
const [key, cert] = process.argv.slice(2);
tls.createServer({key: fs.readFileSync(key), cert: fs.readFileSync(cert)}, (s) => s.pipe(s))
   .listen(0, '127.0.0.1', function () { console.log(this.address().port); });
"""


def _client(port: int, ca_pem: str) -> gssl.SSLSocket:
    context = gssl.SSLContext(gssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(cadata=ca_pem)
    return context.wrap_socket(gsocket.create_connection(("127.0.0.1", port)), server_hostname="localhost")


def test_a_file_closed_after_the_connection_ended_writes_nothing_to_the_next(server_options, ca):
    """A listener keeps a ``makefile()`` file past its connection's end.  The next client gets
    the same descriptor number; closing the old file later must not send the old connection's
    close_notify into the new client's stream."""
    kept, descriptors = [], []

    def listener(tls: greentls.TLSSocket) -> None:
        descriptors.append(tls.fileno())
        if not kept:
            kept.append(tls.makefile("rb"))  # outlives the connection
            tls.sendall(b"first")
            return
        tls.sendall(tls.recv(100))

    server = greentls.create_server(listener, **server_options)
    server.listen(0, "127.0.0.1")
    try:
        ca_pem = ca.cert_pem.bytes().decode()
        first = _client(server.address()["port"], ca_pem)
        assert first.recv(100) == b"first"
        assert first.recv(100) == b""  # the server ended that connection
        first.close()
        second = _client(server.address()["port"], ca_pem)
        with gevent.Timeout(5):
            while len(descriptors) < 2:
                gevent.sleep(0.01)
        assert descriptors[0] == descriptors[1], "the test needs the descriptor number reused"
        kept.pop().close()  # the old connection's last reference goes now
        second.sendall(b"ping")
        with gevent.Timeout(5):
            assert second.recv(100) == b"ping"
        second.close()
    finally:
        server.close()


def test_a_raw_socket_closed_underneath_is_never_written_again(cert_files, need_node, client_options):
    """A client's raw socket is closed under its ``TLSSocket`` and the number goes to a new
    socket: the TLSSocket raises ``EBADF`` instead of writing into the new socket."""
    received: list = []

    def plain(sock: gsocket.socket, _address: object) -> None:
        while True:
            data = sock.recv(100)
            if not data:
                return
            received.append(data)

    sink = StreamServer(("127.0.0.1", 0), plain)
    sink.start()
    try:
        with node_server(NODE_ECHO, cert_files["key"], cert_files["cert"]) as port:
            raw = gsocket.create_connection(("127.0.0.1", port))
            tls = greentls.connect(socket=raw, servername="localhost", **client_options)
            tls.sendall(b"hello")
            assert tls.recv(100) == b"hello"
            number = raw.fileno()
            raw.close()
            other = gsocket.create_connection(("127.0.0.1", sink.server_port))
            assert other.fileno() == number, "the test needs the descriptor number reused"
            with pytest.raises(OSError) as raised:
                tls.sendall(b"not yours")
            assert getattr(raised.value, "code", None) == "EBADF"
            with pytest.raises(OSError):
                tls.recv(100)
            tls.close()
            gevent.sleep(0.2)
            assert received == []
            other.close()
    finally:
        sink.close()


def test_close_wakes_a_greenlet_waiting_to_read(server_options, ca):
    """A greenlet parked in recv() on a connection OpenSSL reads itself wakes when another
    greenlet closes the socket (EBADF, as a gevent socket's waiters do), instead of waiting
    forever on a descriptor that is gone."""
    outcome: list = []

    def listener(tls: greentls.TLSSocket) -> None:
        def reader() -> None:
            try:
                outcome.append(tls.recv(100))
            except OSError as exc:
                outcome.append(exc)
        parked = gevent.spawn(reader)
        gevent.sleep(0.2)  # the reader is waiting for bytes that never come
        tls.close()
        parked.join(5)
        outcome.append("joined" if parked.dead else "still waiting")

    server = greentls.create_server(listener, **server_options)
    server.listen(0, "127.0.0.1")
    try:
        client = _client(server.address()["port"], ca.cert_pem.bytes().decode())
        with gevent.Timeout(10):
            while len(outcome) < 2:
                gevent.sleep(0.05)
        client.close()
    finally:
        server.close()
    assert outcome[-1] == "joined"
    assert isinstance(outcome[0], OSError) or outcome[0] == b""


def test_shutdown_from_another_greenlet_ends_the_waits_as_a_shutdown(server_options, ca):
    """A reader parked on a connection OpenSSL reads itself, and a writer parked on a full
    socket, meet ``shutdown(SHUT_RDWR)`` from a third greenlet as a shutdown: the reader reads
    the end of the stream and the writer gets the TLS error for a write after shutdown, not a
    "descriptor closed" error (the socket is still open)."""
    import socket as _socket
    outcome: dict = {}

    def listener(tls: greentls.TLSSocket) -> None:
        tls._transport.setsockopt(_socket.SOL_SOCKET, _socket.SO_SNDBUF, 4096)

        def reader() -> None:
            try:
                outcome["reader"] = tls.recv(100)
            except Exception as exc:  # recorded for the assertion
                outcome["reader"] = exc

        def writer() -> None:
            try:
                tls.sendall(b"x" * 20_000_000)
                outcome["writer"] = "sent"
            except Exception as exc:  # recorded for the assertion
                outcome["writer"] = exc
        parked = [gevent.spawn(reader), gevent.spawn(writer)]
        gevent.sleep(0.3)  # both wait: for bytes that never come, for room the client never makes
        tls.shutdown(_socket.SHUT_RDWR)
        gevent.joinall(parked, timeout=5)
        outcome["joined"] = all(g.dead for g in parked)
        tls.close()

    server = greentls.create_server(listener, **server_options)
    server.listen(0, "127.0.0.1")
    try:
        client = _client(server.address()["port"], ca.cert_pem.bytes().decode())
        with gevent.Timeout(15):
            while "joined" not in outcome:
                gevent.sleep(0.05)
        client.close()
    finally:
        server.close()
    assert outcome["joined"] and outcome["reader"] == b"", outcome
    assert isinstance(outcome["writer"], greentls.TLSError), outcome


@pytest.mark.parametrize("role", ["reader", "writer"])
def test_close_wakes_a_greenlet_waiting_on_a_watcher_of_its_own(role):
    """The pump's waits on watchers of their own (a writer whose SSL_write must read, a reader
    whose SSL_read must write) end with EBADF when the pump closes, like its other waits,
    instead of lasting until the socket's timeout, or for ever."""
    from greentls._io.transport import DescriptorPump

    ours, peer = gsocket.socketpair()
    try:
        if role == "reader":  # a full send buffer, so that a wait for writability blocks
            ours.setblocking(False)
            try:
                while True:
                    ours.send(b"x" * 65536)
            except BlockingIOError:
                pass
            ours.setblocking(True)  # no timeout: the wait lasts until something ends it
        pump = DescriptorPump(None, ours)  # type: ignore[arg-type]  # the waits never touch the engine
        wait = pump.wait_writable_fresh if role == "reader" else pump.wait_readable_fresh
        outcome: list = []

        def parked() -> None:
            try:
                wait()
                outcome.append("woke without error")
            except OSError as exc:
                outcome.append(exc.errno if exc.errno is not None else repr(exc))
        waiter = gevent.spawn(parked)
        gevent.sleep(0.1)
        pump.close()
        waiter.join(2)
        assert outcome == [errno.EBADF], outcome
    finally:
        ours.close()
        peer.close()


def test_the_wait_between_requests_never_waits_on_a_lost_descriptor(server_options, ca):
    """The wait an HTTP server makes between two requests (``_recv_after_idle``) first checks
    that the socket still owns its descriptor: with the raw socket closed underneath, it fails
    at once with EBADF, as any other operation does, instead of waiting on a descriptor number
    that may already be another connection's."""
    outcome: list = []

    def listener(tls: greentls.TLSSocket) -> None:
        tls.settimeout(5)
        tls.sendall(b"ready")
        tls._transport.close()  # the raw socket, closed under the TLS connection
        started = gevent.get_hub().loop.now()
        try:
            tls._recv_after_idle(100)
        except greentls.TLSError as exc:
            outcome.append((exc.code, gevent.get_hub().loop.now() - started))

    server = greentls.create_server(listener, **server_options)
    server.listen(0, "127.0.0.1")
    try:
        client = _client(server.address()["port"], ca.cert_pem.bytes().decode())
        assert client.recv(100) == b"ready"
        with gevent.Timeout(10):
            while not outcome:
                gevent.sleep(0.01)
        client.close()
    finally:
        server.close()
    code, waited = outcome[0]
    assert code == "EBADF" and waited < 1, outcome


def test_the_writable_watcher_made_on_first_use_is_woken_and_none_is_made_after_close():
    """The pump makes its writable watcher on the first wait for it; ``close()`` wakes a
    greenlet parked there (EBADF) as it does on the readable one, and after ``close()`` every
    wait fails at once with EBADF instead of making a watcher on a number that may be reused."""
    from greentls._io.transport import DescriptorPump

    ours, peer = gsocket.socketpair()
    try:
        ours.setblocking(False)
        try:
            while True:  # a full send buffer: the wait for writability blocks
                ours.send(b"x" * 65536)
        except BlockingIOError:
            pass
        ours.setblocking(True)
        pump = DescriptorPump(None, ours)  # type: ignore[arg-type]  # the waits never touch the engine
        outcome: list = []

        def parked() -> None:
            try:
                pump.wait_writable()
                outcome.append("woke without error")
            except OSError as exc:
                outcome.append(exc.errno)
        waiter = gevent.spawn(parked)
        gevent.sleep(0.1)
        pump.close()
        waiter.join(2)
        assert outcome == [errno.EBADF], outcome
        for wait in (pump.wait_readable, pump.wait_writable, pump.wait_readable_fresh, pump.wait_writable_fresh):
            with gevent.Timeout(1), pytest.raises(OSError) as raised:
                wait()
            assert raised.value.errno == errno.EBADF
        fresh = DescriptorPump(None, ours)  # type: ignore[arg-type]
        fresh.close()  # closed before any wait for writability: none is made later either
        with gevent.Timeout(1), pytest.raises(OSError):
            fresh.wait_writable()
    finally:
        ours.close()
        peer.close()
