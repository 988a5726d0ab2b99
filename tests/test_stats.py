"""``Server.stats()``: what a server counted since it started, for operators, from real peers
(openssl s_client for full and resumed handshakes, raw TCP for failures), in one process and
summed over ``serve_forever(workers=N)``."""
from __future__ import annotations

import json
import math
import socket
import textwrap

import gevent
import pytest
from gevent import subprocess
from helpers import PY, echo, openssl, port_of, serving


def _s_client(port: int, ca: str, *extra: str) -> subprocess.CompletedProcess:
    return openssl(["s_client", "-connect", f"127.0.0.1:{port}", "-servername", "localhost",
                    "-CAfile", ca, "-verify_return_error", *extra], input=b"ping\n", timeout=30)


def _garbage(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port)) as raw:
        raw.sendall(b"GET / HTTP/1.1\r\n\r\n")  # not TLS
        raw.settimeout(5)
        try:
            while raw.recv(4096):
                pass
        except OSError:
            pass


def _settle(server, key: str, want: int) -> dict:
    """Failures and byte counts are recorded as connections end: wait for them."""
    with gevent.Timeout(10):
        while True:
            stats = server.stats()
            if key == "client_errors" and sum(stats["client_errors"].values()) >= want:
                return stats
            if key == "ended" and stats["connections"] == 0 and stats["bytes_in"] > 0:
                return stats
            gevent.sleep(0.05)


def test_counts_full_and_resumed_handshakes_errors_time_and_bytes(server_options, cert_files, tmp_path, need_openssl):
    sess = tmp_path / "sess.pem"
    with serving(echo, **server_options) as server:
        port = port_of(server)
        fresh = server.stats()
        assert fresh["connections"] == 0 and fresh["handshakes"] == {} and fresh["client_errors"] == {}
        assert fresh["handshake_seconds"]["count"] == 0 and fresh["bytes_in"] == fresh["bytes_out"] == 0

        assert _s_client(port, cert_files["ca"], "-tls1_3").returncode == 0
        assert _s_client(port, cert_files["ca"], "-tls1_2", "-sess_out", str(sess)).returncode == 0
        resumed = _s_client(port, cert_files["ca"], "-tls1_2", "-sess_in", str(sess))
        assert b"Reused, TLSv1.2" in resumed.stdout
        _garbage(port)
        stats = _settle(server, "client_errors", 1)
        stats = _settle(server, "ended", 0)

    assert stats["handshakes"] == {"TLSv1.3": {"full": 1, "resumed": 0}, "TLSv1.2": {"full": 1, "resumed": 1}}
    assert sum(stats["client_errors"].values()) == 1
    (code,) = stats["client_errors"]
    assert code.startswith("ERR_"), stats["client_errors"]
    hist = stats["handshake_seconds"]
    assert hist["count"] == 3 and hist["sum"] > 0
    bounds = list(hist["buckets"])
    assert bounds == sorted(bounds) and bounds[-1] == math.inf
    counts = list(hist["buckets"].values())
    assert counts == sorted(counts) and counts[-1] == 3  # cumulative
    # Four connections' TLS records (and the garbage request): at least the five "ping" lines'
    # worth and a handshake's certificate flight each way.
    assert stats["bytes_in"] > 500 and stats["bytes_out"] > 1000, stats


def test_bytes_count_what_crossed_the_wire_whoever_closes(server_options, client_options):
    """The kernel's counts are taken as the socket closes: when the handler closes it itself
    (``with tls:``, as WSGI does), and with a megabyte still unacknowledged when sendall
    returns (the send queue counts as sent)."""
    import greentls
    payload = b"x" * 1_000_000

    def send_and_close(tls):
        with tls:
            tls.recv(10)
            tls.sendall(payload)

    with serving(send_and_close, **server_options) as server:
        client = greentls.connect(port_of(server), "127.0.0.1", servername="localhost", **client_options)
        client.sendall(b"go")
        received = 0
        while data := client.recv(65536):
            received += len(data)
        client.close()
        assert received == len(payload)
        stats = _settle(server, "ended", 0)
    # TLS records add about 22 bytes per 16 KiB record to the payload, and a handshake's flight.
    assert len(payload) < stats["bytes_out"] < len(payload) + 20_000, stats
    assert 300 < stats["bytes_in"] < 5_000, stats


def test_open_connections_are_counted(server_options, client_options):
    import greentls
    with serving(echo, **server_options) as server:
        clients = [greentls.connect(port_of(server), "127.0.0.1", servername="localhost", **client_options)
                   for _ in range(3)]
        with gevent.Timeout(5):
            while server.stats()["connections"] != 3:
                gevent.sleep(0.02)
        for client in clients:
            client.close()
        assert _settle(server, "ended", 0)["connections"] == 0


WORKERS_SCRIPT = textwrap.dedent("""
    import json, os, sys, gevent, greentls
    key, cert, go = sys.argv[1:4]
    server = greentls.create_server(lambda tls: tls.sendall(tls.recv(100)),
                                    key=open(key, "rb").read(), cert=open(cert, "rb").read())
    server.listen(0, "127.0.0.1")
    parent = os.getpid()
    print(server.address()["port"], flush=True)

    def report():
        while not os.path.exists(go):
            gevent.sleep(0.05)
        if os.getpid() == parent:  # fork copies this greenlet into the workers too
            gevent.sleep(1.2)  # workers republish at most every 0.5 s
            print(json.dumps(server.stats(), default=str), flush=True)
            server.close()
    gevent.spawn(report)
    server.serve_forever(workers=2)
    # The workers are gone: their counts stay the server's.
    print(json.dumps(server.stats(), default=str), flush=True)
""")


def test_the_parent_sums_its_workers(cert_files, tmp_path):
    import ssl
    script = tmp_path / "workers.py"
    script.write_text(WORKERS_SCRIPT)
    go = tmp_path / "go"
    proc = subprocess.Popen([PY, str(script), cert_files["key"], cert_files["cert"], str(go)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        with gevent.Timeout(20):
            port = int(proc.stdout.readline())
        ctx = ssl.create_default_context(cafile=cert_files["ca"])
        for _ in range(6):
            with gevent.Timeout(10):
                while True:  # the workers may still be starting
                    try:
                        raw = socket.create_connection(("127.0.0.1", port))
                        break
                    except ConnectionRefusedError:
                        gevent.sleep(0.1)
            with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
                tls.sendall(b"hello")
                assert tls.recv(100) == b"hello"
        _garbage(port)
        go.write_text("")
        with gevent.Timeout(30):
            line = proc.stdout.readline()
            after = proc.stdout.readline()
        stats = json.loads(line)
        assert json.loads(after)["handshakes"] == stats["handshakes"]
    finally:
        proc.kill()
        proc.wait()
    assert stats["handshakes"] == {"TLSv1.3": {"full": 6, "resumed": 0}}, stats
    assert sum(stats["client_errors"].values()) == 1
    assert stats["handshake_seconds"]["count"] == 6
    assert stats["bytes_in"] > 0 and stats["bytes_out"] > 0


@pytest.mark.parametrize("bad", ["x"])
def test_stats_takes_no_arguments(server_options, bad):
    with serving(echo, **server_options) as server, pytest.raises(TypeError):
        server.stats(bad)  # type: ignore[call-arg]


def test_a_snapshot_torn_by_a_killed_writer_keeps_the_last_whole_one():
    from greentls._net.stats import SharedSnapshots, Stats
    shared = SharedSnapshots(2)
    counts = Stats()
    counts.handshake("TLSv1.3", False, 0.01)
    shared.publish(1, counts.raw())
    assert shared.read(1)["seconds_count"] == 1
    shared._seq[1] += 1  # a writer killed in the middle of its next publish
    assert shared.read(1)["seconds_count"] == 1
    shared.clear(1)
    assert shared.read(1) is None
