"""Heavier hostile-client runs than tests/ can afford (``python benchmarks/hostile.py``):

* leak: 10,000 sequential connections (20% garbage or vanishing) to a subprocess server;
  descriptors, OpenSSL objects and greenlets at the warm baseline, RSS after 10,000 within 5%
  of RSS after 5,000;
* slowloris: 1,000 silent plus dripping connections, normal handshake latency (median, p90);
* storm: 500 concurrent handshakes, wall time and failures;
* renegotiation flood: 16 ``openssl s_client`` renegotiating, bystander handshake latency.

Prints one JSON object per scenario, and exits non-zero if a bound is broken.  Uses the same
code as tests/test_leaks.py and tests/test_hostile.py with bigger numbers.
"""
from __future__ import annotations

import json
import os
import resource
import sys
import tempfile
import time

import gevent
import trustme
from gevent import socket as gsocket

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))

from helpers import echo, port_of, serving  # noqa: E402
from test_hostile import _client_hello, _renegotiation_flooder, _timed_handshake  # noqa: E402
from test_leaks import run_leak_check  # noqa: E402

import greentls  # noqa: E402


def _certs(folder: str) -> tuple:
    ca = trustme.CA()
    leaf = ca.issue_cert("localhost", "127.0.0.1")
    files = {"key": os.path.join(folder, "key.pem"), "cert": os.path.join(folder, "cert.pem")}
    leaf.private_key_pem.write_to_path(files["key"])
    with open(files["cert"], "wb") as f:
        for blob in leaf.cert_chain_pems:
            f.write(blob.bytes())
    server_options = {"key": leaf.private_key_pem.bytes(),
                      "cert": b"".join(b.bytes() for b in leaf.cert_chain_pems)}
    return files, server_options, {"ca": ca.cert_pem.bytes()}


def _percentile(values: list, q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def leak(files: dict, client_options: dict) -> dict:
    start = time.perf_counter()
    warm, half, end = run_leak_check(files, client_options, 10_000)
    ok = (half["fds"] == end["fds"] == warm["fds"] and end["connections"] == warm["connections"]
          and abs(end["rss"] - half["rss"]) <= 0.05 * half["rss"])
    return {"scenario": "leak", "connections": 10_000, "warm": warm, "after_5000": half,
            "after_10000": end, "rss_change": (end["rss"] - half["rss"]) / half["rss"],
            "seconds": round(time.perf_counter() - start, 1), "ok": ok}


def slowloris(server_options: dict, client_options: dict, count: int = 1000) -> dict:
    hello = _client_hello()
    with serving(echo, handshake_timeout=60, **server_options) as server:
        port = port_of(server)
        silent = [gsocket.create_connection(("127.0.0.1", port)) for _ in range(count // 2)]
        drippers = [gsocket.create_connection(("127.0.0.1", port)) for _ in range(count // 2)]

        def drip():
            for i in range(len(hello)):
                for raw in drippers:
                    try:
                        raw.send(hello[i:i + 1])
                    except OSError:
                        pass
                gevent.sleep(0.05)
        dripping = gevent.spawn(drip)
        gevent.sleep(0.5)
        latencies = [_timed_handshake(port, client_options) for _ in range(50)]
        held = server.get_connections()
        dripping.kill()
        for raw in silent + drippers:
            raw.close()
    median = _percentile(latencies, 0.5)
    return {"scenario": "slowloris", "hostile_connections": count, "held_by_server": held,
            "median_ms": round(median * 1000, 1), "p90_ms": round(_percentile(latencies, 0.9) * 1000, 1),
            "ok": median < 0.1}


def storm(server_options: dict, client_options: dict, count: int = 500) -> dict:
    with serving(echo, **server_options) as server:
        port = port_of(server)

        def one(i: int) -> bool:
            tls = greentls.connect(port, "127.0.0.1", timeout=120, **client_options)
            try:
                tls.sendall(b"%d" % i)
                return tls.recv(16) == b"%d" % i
            finally:
                tls.close()
        start = time.perf_counter()
        jobs = [gevent.spawn(one, i) for i in range(count)]
        gevent.joinall(jobs, timeout=180)
        seconds = time.perf_counter() - start
    done = sum(1 for job in jobs if job.value is True)
    return {"scenario": "storm", "handshakes": count, "completed": done, "seconds": round(seconds, 2),
            "ok": done == count}


def renegotiation_flood(server_options: dict, client_options: dict, count: int = 16) -> dict:
    with serving(echo, **server_options) as server:
        port = port_of(server)
        flooders = [gevent.spawn(_renegotiation_flooder, port, 20) for _ in range(count)]
        gevent.sleep(0.5)
        latencies = [_timed_handshake(port, client_options) for _ in range(30)]
        started = [job.get(timeout=60) for job in flooders]
    median = _percentile(latencies, 0.5)
    return {"scenario": "renegotiation_flood", "flooders": count, "max_started": max(started),
            "median_ms": round(median * 1000, 1), "p90_ms": round(_percentile(latencies, 0.9) * 1000, 1),
            "ok": max(started) <= greentls.CLIENT_RENEG_LIMIT and median < 0.1}


def main() -> int:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 8192), hard))
    failed = False
    with tempfile.TemporaryDirectory() as folder:
        files, server_options, client_options = _certs(folder)
        for run in (lambda: slowloris(server_options, client_options),
                    lambda: storm(server_options, client_options),
                    lambda: renegotiation_flood(server_options, client_options),
                    lambda: leak(files, client_options)):
            result = run()
            failed |= not result["ok"]
            print(json.dumps(result), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
