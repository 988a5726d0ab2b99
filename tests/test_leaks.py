"""Leaks: thousands of sequential connections (clean, failed and vanished) to a server in a
subprocess; its descriptors, OpenSSL objects, greenlets and RSS return to baseline."""
from __future__ import annotations

import json
import sys
import textwrap

import gevent
from gevent import socket as gsocket, subprocess

import greentls

#: The server under test; a client that sends b"STATS" gets its counters as JSON.
LEAK_SERVER = textwrap.dedent("""
    import gc, json, os, sys, logging
    import gevent, greenlet, greentls
    from OpenSSL import SSL
    logging.disable(logging.CRITICAL)

    def stats():
        gc.collect()
        objects = gc.get_objects()
        with open('/proc/self/statm') as f:
            rss = int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')
        return {"fds": len(os.listdir('/proc/self/fd')), "rss": rss,
                "connections": sum(isinstance(o, SSL.Connection) for o in objects),
                "tls_sockets": sum(isinstance(o, greentls.TLSSocket) for o in objects),
                "greenlets": sum(isinstance(o, greenlet.greenlet) and not o.dead for o in objects),
                "parked": server._recycler.parked}

    def handler(tls):
        while True:
            data = tls.recv(65536)
            if not data:
                return
            tls.sendall(json.dumps(stats()).encode() if data == b"STATS" else data)

    server = greentls.create_server(handler, key=open(sys.argv[1], 'rb').read(),
                                    cert=open(sys.argv[2], 'rb').read(), handshake_timeout=10)
    server.listen(0, '127.0.0.1')
    print(server.address()['port'], flush=True)
    server.serve_forever()
""")


def start_leak_server(cert_files: dict) -> tuple:
    """Start the leak server; returns (process, port)."""
    proc = subprocess.Popen([sys.executable, "-c", LEAK_SERVER, cert_files["key"], cert_files["cert"]],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return proc, int(proc.stdout.readline())


def server_stats(port: int, client_options: dict) -> dict:
    """The server's counters, asked over a connection of its own (counted in them)."""
    tls = greentls.connect(port, "127.0.0.1", timeout=10, **client_options)
    try:
        tls.sendall(b"STATS")
        data = b""
        while not data.endswith(b"}"):
            data += tls.recv(65536)
        return json.loads(data)
    finally:
        tls.close()


def churn(port: int, count: int, client_options: dict) -> None:
    """``count`` sequential connections: mostly full echo round trips, plus garbage senders and
    clients that vanish mid-handshake (every 10th and 10th+5th)."""
    for i in range(count):
        if i % 10 == 3:
            raw = gsocket.create_connection(("127.0.0.1", port))
            raw.sendall(b"GET / HTTP/1.0\r\n\r\n")
            raw.settimeout(10)
            while raw.recv(4096):
                pass
            raw.close()
        elif i % 10 == 7:
            raw = gsocket.create_connection(("127.0.0.1", port))
            raw.sendall(b"\x16\x03\x01\x00\x40\x01\x00")
            raw.close()
        else:
            tls = greentls.connect(port, "127.0.0.1", timeout=10, **client_options)
            tls.sendall(b"x")
            assert tls.recv(1) == b"x"
            tls.close()


def wait_quiet(port: int, client_options: dict, baseline: dict) -> dict:
    """Stats once the server has finished closing (the last clients may still be in flight)."""
    stats = server_stats(port, client_options)
    for _ in range(50):
        if stats["fds"] <= baseline["fds"] and stats["connections"] <= baseline["connections"]:
            break
        gevent.sleep(0.1)
        stats = server_stats(port, client_options)
    return stats


def run_leak_check(cert_files: dict, client_options: dict, total: int) -> tuple:
    """Churn ``total`` connections; returns (stats after warm-up, after half, after all)."""
    proc, port = start_leak_server(cert_files)
    try:
        churn(port, 200, client_options)          # warm up caches, allocator pools
        warm = wait_quiet(port, client_options, server_stats(port, client_options))
        churn(port, total // 2 - 200, client_options)
        half = wait_quiet(port, client_options, warm)
        churn(port, total - total // 2, client_options)
        end = wait_quiet(port, client_options, warm)
        return warm, half, end
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()
        proc.stderr.close()


def test_no_leaks_over_2000_connections(cert_files, client_options):
    """After 2,000 connections (20% failing), fds, OpenSSL objects and greenlets (besides
    those parked for reuse) equal the warm baseline and RSS between 1,000 and 2,000 stays
    within 5%."""
    warm, half, end = run_leak_check(cert_files, client_options, 2000)
    for stats in (half, end):
        assert stats["fds"] == warm["fds"], (warm, stats)
        assert stats["connections"] == warm["connections"], (warm, stats)
        assert stats["tls_sockets"] == warm["tls_sockets"], (warm, stats)
        # Greenlets parked for reuse (_greenlets.py) are not leaks; any other live one is.
        assert stats["greenlets"] - stats["parked"] <= warm["greenlets"] - warm["parked"] + 1, (warm, stats)
        assert stats["parked"] <= greentls.Server.max_idle_greenlets, (warm, stats)
    assert abs(end["rss"] - half["rss"]) <= 0.05 * half["rss"], (half, end)


def _cyclic_garbage(work) -> dict[str, int]:
    """Run ``work()`` with the collector off; return greentls's and pyOpenSSL's objects made
    meanwhile that only the collector could free afterwards (reference cycles), by type."""
    import collections
    import gc

    gc.collect()
    gc.disable()
    try:
        # An earlier test's server may end now.  The objects are kept, not only their ids: an
        # object freed meanwhile would give its id to a new one, which would then go unseen.
        existing = gc.get_objects()
        before = {id(o) for o in existing}
        work()
        gc.set_debug(gc.DEBUG_SAVEALL)
        gc.collect()
        found = collections.Counter(type(o).__qualname__ for o in gc.garbage if id(o) not in before
                                    and type(o).__module__.startswith(("greentls", "OpenSSL")))
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    del existing
    return dict(found)


def test_a_wsgi_connection_leaves_no_reference_cycles(server_options, client_options):
    """A served connection is freed by reference counting the moment it ends: its socket,
    engine, callback record and HTTP parser form no cycle (a cycle per connection made the
    collector run about once a connection, and held every connection's memory until it did).
    Requests with and without keep-alive, and a refused request.  (Failed handshakes:
    ``test_a_failed_handshake_leaves_no_reference_cycles``.)"""
    from greentls.wsgi import WSGIServer

    def app(environ, start_response):
        start_response("200 OK", [("Content-Length", "2")])
        return [b"ok"]

    server = WSGIServer(("127.0.0.1", 0), app, log=None, **server_options)
    server.start()
    port = server.address[1]

    def exchange(request: bytes) -> bytes:
        tls = greentls.connect(port, "127.0.0.1", **client_options)
        try:
            tls.sendall(request)
            data = b""
            while chunk := tls.recv(65536):
                data += chunk
            return data
        finally:
            tls.close()

    def work():
        for _ in range(5):
            assert exchange(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").endswith(b"ok")
            assert exchange(b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.0\r\n\r\n").count(b"200 OK") == 2
            assert exchange(b"GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n").startswith(b"HTTP/1.1 400")
        gevent.sleep(0.1)  # the server's side of the last connections ends

    try:
        assert _cyclic_garbage(work) == {}
    finally:
        server.stop(timeout=1)


def test_a_client_connection_leaves_no_reference_cycles(server_options, client_options):
    """``connect()`` and ``close()``: the client's socket is freed by reference counting too
    (its OpenSSL info callback, which holds the socket's callback record, is taken back)."""
    server = greentls.create_server(lambda tls: tls.sendall(b"hi"), **server_options)
    server.listen(0, "127.0.0.1")

    def work():
        for _ in range(5):
            tls = greentls.connect(server.address()["port"], "127.0.0.1", **client_options)
            assert tls.recv(10) == b"hi"
            tls.close()
            del tls
        gevent.sleep(0.1)

    try:
        assert _cyclic_garbage(work) == {}
    finally:
        server.close()


def test_a_failed_handshake_leaves_no_reference_cycles(server_options):
    """A refused client is freed by reference counting too: the error its handshake raised
    (whose traceback holds the frames that hold the socket) is let go by the socket, its
    engine and the server's frame once reported, with and without a ``tls_client_error``
    receiver (which is handed the error itself).  Garbage for a hello, a client that leaves
    mid-handshake, and a hello that is not TLS at all."""
    from greentls import signals

    server = greentls.create_server(lambda tls: None, **server_options)
    server.listen(0, "127.0.0.1")
    port = server.address()["port"]
    reported: list = []

    def receiver(sender, exception, tls_socket):
        reported.append(exception.code)

    def bad(data: bytes) -> None:
        sock = gsocket.create_connection(("127.0.0.1", port))
        sock.sendall(data)
        sock.shutdown(gsocket.SHUT_WR)  # nothing more comes: the server gives up at once
        try:
            with gevent.Timeout(5):
                sock.recv(100)
        except OSError:
            pass
        sock.close()

    def work():
        for _ in range(3):
            bad(b"\x16\x03\x01\x00\x05hello" + b"x" * 100)  # a record that is no ClientHello
            bad(b"\x16\x03\x01\x02\x00\x01")  # leaves mid-hello
            bad(b"GET / HTTP/1.1\r\n\r\n")  # not TLS
        gevent.sleep(0.2)  # the server's side ends, and the receivers ran

    try:
        assert _cyclic_garbage(work) == {}
        signals.tls_client_error.connect(receiver, sender=server)
        try:
            assert _cyclic_garbage(work) == {}
        finally:
            signals.tls_client_error.disconnect(receiver, sender=server)
        assert len(reported) == 9, reported
    finally:
        server.close()
