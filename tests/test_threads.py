"""OS threads: sockets in different threads share no mutable state (no buffer carries one
connection's bytes into another's), on the client side against Node and on the server side
against the stdlib ``ssl`` client.

Issue 15's bar: 8 threads x 150 rounds of 12.8 KB, both sides, over plain blocking stdlib sockets
(never gevent's), with no foreign byte.  Every payload is distinct per thread, per round and per
offset (``payload``), so a byte from another connection, another round or another place in the
stream is caught and named; all threads pass a barrier after their handshakes, so the rounds of
the eight connections really overlap.
"""
from __future__ import annotations

import socket
import ssl
import textwrap
import threading
from collections.abc import Callable

import gevent.monkey
from helpers import PY, node_server, run

import greentls

THREADS = 8
ROUNDS = 150
PAYLOAD = 12_800
#: Seconds a thread may wait at the barrier or on its socket; the test's bound on a hang.
TIMEOUT = 30

NODE_ECHO = r"""
const tls = require('tls');
const fs = require('fs');
const [key, cert] = process.argv.slice(2);
const server = tls.createServer({key: fs.readFileSync(key), cert: fs.readFileSync(cert)},
                                (s) => s.pipe(s));
server.listen(0, '127.0.0.1', () => console.log(server.address().port));
"""

#: One block: the thread, the round and the block's number; 16 bytes, so every record boundary
#: falls inside some block and no two blocks of any payload of this test are equal.
_BLOCK = "<t{:02d} r{:03d} b{:04d}>"


def payload(index: int, round_: int) -> bytes:
    """PAYLOAD bytes that could only have come from thread ``index`` in round ``round_``."""
    data = "".join(_BLOCK.format(index, round_, block) for block in range(PAYLOAD // 16)).encode("ascii")
    assert len(data) == PAYLOAD
    return data


def check_echo(received: bytes, sent: bytes, index: int, round_: int) -> None:
    """Fail with where the first foreign byte is, and whose block it came from."""
    if received == sent:
        return
    pairs = enumerate(zip(received, sent, strict=False))
    at = next((i for i, (a, b) in pairs if a != b), min(len(received), len(sent)))
    start = at - at % 16
    raise AssertionError(f"thread {index} round {round_}: foreign bytes at offset {at} of {len(sent)}: "
                         f"got {received[start:start + 32]!r}, sent {sent[start:start + 32]!r}")


def _recv_exactly(sock, size: int) -> bytes:
    chunks, got = [], 0
    while got < size:
        chunk = sock.recv(size - got)
        if not chunk:
            raise AssertionError(f"connection ended after {got} of {size} bytes")
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def _plain_connection(port: int) -> socket.socket:
    """A blocking stdlib TCP socket (gevent has not patched ``socket``: asserted)."""
    raw = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    assert type(raw) is socket.socket and not gevent.monkey.is_module_patched("socket")
    return raw


def _run_threads(target: Callable[[int], int]) -> list:
    """Run ``target(index)`` in THREADS OS threads at once; returns the failures.  Each target
    returns the rounds it completed, which must be ROUNDS; a thread still running after TIMEOUT
    is a failure too."""
    failures: list = []
    completed: dict = {}

    def guarded(index: int) -> None:
        try:
            completed[index] = target(index)
        except BaseException as exc:  # reported to the test, which fails on any
            failures.append(f"thread {index}: {exc!r}")
            _barrier.abort()  # the others fail at the barrier instead of waiting for this one

    _barrier.reset()
    threads = [threading.Thread(target=guarded, args=(i,), name=f"tls-{i}") for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT * 2)
    failures += [f"{thread.name}: still running" for thread in threads if thread.is_alive()]
    if not failures and completed != dict.fromkeys(range(THREADS), ROUNDS):
        failures.append(f"rounds completed per thread: {completed}")
    return failures


#: Reached by every thread once its handshake is done, so all rounds run concurrently.
_barrier = threading.Barrier(THREADS, timeout=TIMEOUT)


def _echo_rounds(tls, index: int) -> int:
    _barrier.wait()
    for round_ in range(ROUNDS):
        sent = payload(index, round_)
        tls.sendall(sent)
        check_echo(_recv_exactly(tls, len(sent)), sent, index, round_)
    return ROUNDS


def test_payloads_are_distinct():
    """The payloads themselves: every 16-byte block of the first, a middle and the last round of
    every thread is unique, so a misplaced or foreign byte run cannot match by chance."""
    blocks: set = set()
    rounds = (0, ROUNDS // 2, ROUNDS - 1)
    for index in range(THREADS):
        for round_ in rounds:
            data = payload(index, round_)
            blocks.update(data[offset:offset + 16] for offset in range(0, PAYLOAD, 16))
    assert len(blocks) == THREADS * len(rounds) * PAYLOAD // 16


def test_client_sockets_in_threads_against_node(need_node, cert_files, client_options):
    """Eight threads, each with its own wrapped blocking stdlib socket, echo 150 rounds of 12.8 KB
    through Node at once, and each gets back exactly its own bytes."""
    context = greentls.create_secure_context(ca=client_options["ca"])

    with node_server(NODE_ECHO, cert_files["key"], cert_files["cert"]) as port:
        def client(index: int) -> int:
            tls = context.wrap_socket(_plain_connection(port), server_hostname="localhost")
            with tls:
                return _echo_rounds(tls, index)

        failures = _run_threads(client)
    assert failures == []


def test_server_sockets_in_threads_against_stdlib_clients(server_options, client_options):
    """A thread-per-connection server (``wrap_socket(server_side=True)`` on blocking stdlib
    sockets) echoes for eight stdlib ``ssl`` clients at once: 150 rounds of 12.8 KB each, every
    echo intact, and every server thread ends without an error."""
    context = greentls.create_secure_context(**server_options)
    listener = socket.create_server(("127.0.0.1", 0))
    assert type(listener) is socket.socket
    port = listener.getsockname()[1]
    server_failures: list = []

    def serve_one() -> None:
        try:
            conn, _ = listener.accept()
            conn.settimeout(TIMEOUT)
            tls = context.wrap_socket(conn, server_side=True)
            with tls:
                while data := tls.recv(65536):
                    tls.sendall(data)
        except BaseException as exc:  # reported to the test
            server_failures.append(f"server thread: {exc!r}")

    servers = [threading.Thread(target=serve_one, daemon=True) for _ in range(THREADS)]
    for thread in servers:
        thread.start()
    client_context = ssl.create_default_context(cadata=client_options["ca"].decode())

    def client(index: int) -> int:
        with _plain_connection(port) as raw:
            with client_context.wrap_socket(raw, server_hostname="localhost") as tls:
                return _echo_rounds(tls, index)

    try:
        failures = _run_threads(client)
    finally:
        listener.close()
    assert failures == []
    for thread in servers:
        thread.join(TIMEOUT)
    assert not any(thread.is_alive() for thread in servers), "a server thread did not end"
    assert server_failures == []


def test_scratch_buffers_are_per_os_thread_after_monkey_patching():
    """Under gevent's monkey-patching (which makes ``threading.get_ident`` per greenlet), the
    engine's scratch buffers are still keyed by the OS thread: greenlets of one thread share
    one pair, and another OS thread gets its own."""
    code = textwrap.dedent("""
        import gevent.monkey
        gevent.monkey.patch_all()
        import threading
        import gevent
        from greentls._engine import engine
        pairs = gevent.joinall([gevent.spawn(engine._scratch) for _ in range(3)])
        assert len({id(g.value) for g in pairs}) == 1, "greenlets of one thread share a pair"
        idents = gevent.joinall([gevent.spawn(threading.get_ident) for _ in range(2)])
        assert idents[0].value != idents[1].value, "get_ident is per greenlet once patched"
        from gevent.threadpool import ThreadPool
        other = ThreadPool(1).apply(engine._scratch)  # a real OS thread
        assert other is not pairs[0].value, "another OS thread has its own pair"
        print("ok")
    """)
    assert run([PY, "-c", code]).stdout.strip() == b"ok"


def test_stop_and_close_from_another_os_thread(server_options, client_options):
    """Server.stop() and Server.close() called from a plain OS thread run in the server's own
    thread (its hub's), while the calling thread waits: stop() used to switch greenlets across
    threads, which killed serve_forever with InvalidThreadUseError and left the connections'
    greenlets (and the count) behind."""
    held: list = []

    def handler(tls: greentls.TLSSocket) -> None:
        held.append(tls)
        tls.recv(10)  # until the server closes it

    for method in ("stop", "close"):
        server = greentls.create_server(handler, **server_options).listen(0, "127.0.0.1")
        port = server.address()["port"]
        clients = [greentls.connect(port, "127.0.0.1", servername="localhost", **client_options)
                   for _ in range(2)]
        while len(held) < 2:
            gevent.sleep(0.01)
        outcome: dict = {}

        def call(method: str = method, server: greentls.Server = server, outcome: dict = outcome) -> None:
            try:
                if method == "stop":
                    server.stop(timeout=0.2)
                else:
                    server.close()
                outcome["connections"] = server.get_connections()
            except BaseException as exc:  # reported below
                outcome["error"] = exc

        thread = threading.Thread(target=call)
        thread.start()
        if method == "close":  # the connections stay, as Node's; end them from this side
            while thread.is_alive():
                gevent.sleep(0.01)
            assert outcome == {"connections": 2}
            for client in clients:
                client.close()
        with gevent.Timeout(10):
            server.serve_forever()  # returns once closed and the last connection ended
            while thread.is_alive():
                gevent.sleep(0.01)
        assert outcome == {"connections": 0 if method == "stop" else 2}, outcome
        assert server.get_connections() == 0
        for client in clients:
            client.close()
        held.clear()
