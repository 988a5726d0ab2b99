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
