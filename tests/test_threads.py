"""OS threads: sockets in different threads share no mutable state (no buffer carries one
connection's bytes into another's), on the client side against Node and on the server side
against the stdlib ``ssl`` client."""
from __future__ import annotations

import os
import socket
import ssl
import threading

import pytest

import greentls
from helpers import node_server

THREADS = 8
ROUNDS = 20
PAYLOAD = 12_800

NODE_ECHO = r"""
const tls = require('tls');
const fs = require('fs');
const [key, cert] = process.argv.slice(2);
const server = tls.createServer({key: fs.readFileSync(key), cert: fs.readFileSync(cert)},
                                (s) => s.pipe(s));
server.listen(0, '127.0.0.1', () => console.log(server.address().port));
"""


def _recv_exactly(sock, size: int) -> bytes:
    chunks, got = [], 0
    while got < size:
        chunk = sock.recv(size - got)
        if not chunk:
            raise AssertionError(f"connection ended after {got} of {size} bytes")
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def _run_threads(target) -> list:
    failures: list = []

    def guarded(index: int) -> None:
        try:
            target(index)
        except BaseException as exc:  # reported to the test, which fails on any
            failures.append(f"thread {index}: {exc!r}")

    threads = [threading.Thread(target=guarded, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return failures


def test_client_sockets_in_threads_against_node(need_node, cert_files, client_options):
    """Eight threads, each with its own wrapped blocking socket, each get back their own bytes."""
    context = greentls.create_secure_context(ca=client_options["ca"])

    with node_server(NODE_ECHO, cert_files["key"], cert_files["cert"]) as port:
        def client(index: int) -> None:
            raw = socket.create_connection(("127.0.0.1", port), timeout=30)
            tls = context.wrap_socket(raw, server_hostname="localhost")
            with tls:
                for round_ in range(ROUNDS):
                    payload = bytes([index]) * (PAYLOAD // 2) + os.urandom(PAYLOAD // 2)
                    tls.sendall(payload)
                    assert _recv_exactly(tls, len(payload)) == payload, f"round {round_}: foreign bytes"

        failures = _run_threads(client)
    assert failures == []


def test_server_sockets_in_threads_against_stdlib_clients(server_options, client_options):
    """A thread-per-connection server (wrap_socket(server_side=True)): every echo is intact."""
    context = greentls.create_secure_context(**server_options)
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve_one() -> None:
        conn, _ = listener.accept()
        conn.settimeout(30)
        tls = context.wrap_socket(conn, server_side=True)
        with tls:
            while data := tls.recv(65536):
                tls.sendall(data)

    servers = [threading.Thread(target=serve_one, daemon=True) for _ in range(THREADS)]
    for thread in servers:
        thread.start()
    client_context = ssl.create_default_context(cadata=client_options["ca"].decode())

    def client(index: int) -> None:
        with socket.create_connection(("127.0.0.1", port), timeout=30) as raw:
            with client_context.wrap_socket(raw, server_hostname="localhost") as tls:
                for round_ in range(ROUNDS):
                    payload = bytes([index]) * (PAYLOAD // 2) + os.urandom(PAYLOAD // 2)
                    tls.sendall(payload)
                    assert _recv_exactly(tls, len(payload)) == payload, f"round {round_}: foreign bytes"

    try:
        failures = _run_threads(client)
    finally:
        listener.close()
    assert failures == []
