"""A red team's findings against greentls.SSLContext, each a regression test: a session made
under one context resumed (and so skipped the certificate check) under another, cipher lists
with ',' or ';' separators were dropped, SSLKEYLOGFILE logged secrets the stdlib would not, a
client's SSLSocket.context could be changed to no effect."""
from __future__ import annotations

import os
import socket
import ssl
import subprocess
import sys
from typing import Any

import pytest
import trustme
from helpers import OPENSSL
from test_stdlib_context import client_context, server_context, stdlib_client, talk, thread_server

import greentls


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
def test_a_session_resumes_only_under_its_own_context(cert_files, version):
    """As the stdlib: a session from context A given to a socket of context B (which trusts
    another CA) is refused, never resumed past B's certificate check."""
    with thread_server(server_context(cert_files, maximum_version=version)) as server:
        a = client_context(cert_files)
        first = talk(a, server.port)
        session = first.facts["session"]
        assert session is not None
        assert talk(a, server.port, session=session).facts["reused"]  # its own context: resumes
        b = greentls.create_default_context(cadata=trustme.CA().cert_pem.bytes().decode())
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as raw, \
                pytest.raises(ValueError, match="different SSLContext"):
            b.wrap_socket(raw, server_hostname="localhost", session=session)
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as raw:
            tls = b.wrap_socket(raw, server_hostname="localhost", do_handshake_on_connect=False)
            with tls, pytest.raises(ValueError, match="different SSLContext"):
                tls.session = session
        # Made from DER (another process's, say), the caller vouches for it: it is offered.
        assert talk(a, server.port, session=greentls.SSLSession(session.der)).facts["reused"]


@pytest.mark.parametrize("separator", [",", ";", " "])
def test_cipher_lists_with_any_openssl_separator_take_effect(cert_files, separator, tmp_path):
    """set_ciphers("TLS_..., ECDHE-...") keeps the TLS 1.2 suite it names (OpenSSL's separators),
    so a server that offers only another suite is refused, as by the stdlib."""
    if OPENSSL is None:
        pytest.skip("openssl CLI is not installed")
    ctx = client_context(cert_files, maximum_version=ssl.TLSVersion.TLSv1_2)
    ctx.set_ciphers(separator.join(["TLS_AES_128_GCM_SHA256", "ECDHE-ECDSA-AES128-GCM-SHA256"]))
    assert [c["name"] for c in ctx.get_ciphers() if c["protocol"] == "TLSv1.2"] == ["ECDHE-ECDSA-AES128-GCM-SHA256"]
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([OPENSSL, "s_server", "-accept", str(port), "-cert", cert_files["cert"], "-key",
                               cert_files["key"], "-cipher", "ECDHE-ECDSA-CHACHA20-POLY1305", "-tls1_2", "-quiet"],
                              stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        import time
        for _ in range(100):
            try:
                raw = socket.create_connection(("127.0.0.1", port), timeout=5)
                break
            except OSError:
                time.sleep(0.05)
        with raw, pytest.raises(ssl.SSLError):
            ctx.wrap_socket(raw, server_hostname="localhost", do_handshake_on_connect=False).do_handshake()
    finally:
        server.kill()
        server.wait()
        server.stdin.close()


def test_sslkeylogfile_is_not_a_stdlib_context_s_key_log(cert_files, tmp_path):
    """The stdlib logs secrets only to keylog_filename (create_default_context fills it from
    SSLKEYLOGFILE, unless -E): a context made directly, or whose keylog_filename was cleared,
    logs nothing even with SSLKEYLOGFILE set."""
    log = tmp_path / "keys.log"
    script = tmp_path / "client.py"
    script.write_text(f"""
import socket, ssl, sys
sys.path.insert(0, {os.path.dirname(__file__)!r})
import greentls
from test_stdlib_context import server_context, talk, thread_server
files = {cert_files!r}
with thread_server(server_context(files)) as server:
    direct = greentls.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    direct.load_verify_locations(files["ca"])
    talk(direct, server.port)
    cleared = greentls.create_default_context(cafile=files["ca"])
    cleared.keylog_filename = None
    talk(cleared, server.port)
    print("quiet", flush=True)
    talk(greentls.create_default_context(cafile=files["ca"]), server.port)
""")
    env = dict(os.environ, SSLKEYLOGFILE=str(log))
    result = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr.decode()[-2000:]
    lines = [line for line in (log.read_text().splitlines() if log.exists() else []) if not line.startswith("#")]
    # Only the third connection (create_default_context's keylog_filename) logged its secrets:
    # one TLS 1.3 handshake's five, all with one client random.
    assert len(lines) == 5, lines
    assert len({line.split()[1] for line in lines}) == 1, lines


def test_a_client_socket_keeps_its_context(cert_files):
    ctx = client_context(cert_files)
    other = client_context(cert_files)
    with socket.socket() as raw:
        tls = ctx.wrap_socket(raw, server_hostname="localhost", do_handshake_on_connect=False)
        with pytest.raises(greentls.UnsupportedError, match="keeps the context"):
            tls.context = other
        tls.context = ctx  # the same one: nothing changes
        tls.close()


@pytest.mark.parametrize("der", [b"", b"\x30\x03\x02\x01", b"\x30\x82\xff\xff" + b"\x00" * 8, b"garbage"])
def test_a_malformed_session_is_a_value_error(der):
    with pytest.raises(ValueError, match="not a DER-encoded TLS session"):
        greentls.SSLSession(der)
    with pytest.raises(TypeError, match="'der' must be bytes"):
        greentls.SSLSession("text")  # type: ignore[arg-type]


def test_getpeercert_before_the_handshake_and_under_cert_none(cert_files):
    """As the stdlib: ValueError before the handshake; a CERT_NONE client verified nothing,
    so its dict is {} (the DER form is still there)."""
    with thread_server(server_context(cert_files)) as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as raw:
            tls = client_context(cert_files).wrap_socket(raw, server_hostname="localhost",
                                                         do_handshake_on_connect=False)
            with tls:
                with pytest.raises(ValueError, match="handshake not done yet"):
                    tls.getpeercert()
                tls.do_handshake()
                assert tls.getpeercert()["subjectAltName"]
        blind = client_context(cert_files, check_hostname=False, verify_mode=ssl.CERT_NONE)
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as raw, \
                blind.wrap_socket(raw, server_hostname="localhost") as tls:
            assert tls.getpeercert() == {}
            assert tls.getpeercert(binary_form=True)


# -- a second red team: where greentls.SSLContext answered otherwise than the stdlib ----------------

def _server_contexts(cert_files: dict) -> list[ssl.SSLContext]:
    """The stdlib's server context and greentls's, configured alike."""
    contexts = []
    for cls in (ssl.SSLContext, greentls.SSLContext):
        ctx = cls(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert_files["cert"], cert_files["key"])
        contexts.append(ctx)
    return contexts


@pytest.mark.parametrize("side", ["stdlib", "greentls"])
def test_a_server_alpn_list_without_overlap_answers_no_alpn(cert_files, side):
    """The stdlib's server (set_alpn_protocols) answers a client whose protocols it does not
    speak with no ALPN at all, and the handshake goes on; greentls's used to fail it with
    no_application_protocol (Node's rule, which is alpn_callback's, not this one's)."""
    ctx = _server_contexts(cert_files)[side == "greentls"]
    ctx.set_alpn_protocols(["h2", "http/1.1"])
    client = client_context(cert_files)
    client.set_alpn_protocols(["spdy/1"])
    with thread_server(ctx) as server:
        tls = talk(client, server.port)
        assert tls.facts["alpn"] is None
        facts = server.next()
        assert not isinstance(facts, Exception), facts
        assert facts["alpn"] is None
    # With an overlap the server's order picks, on both.
    client.set_alpn_protocols(["http/1.1", "h2"])
    with thread_server(ctx) as server:
        assert talk(client, server.port).facts["alpn"] == "h2"
        assert server.next()["alpn"] == "h2"


@pytest.mark.parametrize("kind", [ssl.SSLContext, greentls.SSLContext])
def test_sslobject_read_at_the_end_of_the_incoming_bio_is_an_eof_error(cert_files, kind):
    """An SSLObject whose incoming BIO ended (write_eof) without close_notify raises
    ssl.SSLEOFError, as the stdlib's; greentls's raised SSLWantReadError when the BIO's last
    bytes were the server's session tickets, which left a caller waiting for ever."""
    client = kind(ssl.PROTOCOL_TLS_CLIENT)
    client.load_verify_locations(cert_files["ca"])
    server = _server_contexts(cert_files)[1]
    cin, cout, sin, sout = (ssl.MemoryBIO() for _ in range(4))
    cli = client.wrap_bio(cin, cout, server_hostname="localhost")
    srv = server.wrap_bio(sin, sout, server_side=True)
    for _ in range(10):
        for side in (cli, srv):
            try:
                side.do_handshake()
            except ssl.SSLWantReadError:
                pass
        sin.write(cout.read())
        cin.write(sout.read())
    assert cli.version() == "TLSv1.3" and cin.pending  # the tickets, unread
    cin.write_eof()
    with pytest.raises(ssl.SSLEOFError) as caught:
        cli.read(10)
    assert caught.value.errno == ssl.SSL_ERROR_EOF


def test_recv_into_and_sendfile_take_the_stdlib_s_arguments(cert_files, tmp_path):
    """recv_into(buffer, nbytes) reads at most the buffer's length when nbytes is larger, zero
    or negative (the stdlib's SSLSocket truncates; greentls raised ValueError), and sendfile
    checks its arguments as the stdlib's (count=0 is a ValueError, not 0 bytes sent)."""
    def handler(conn: Any) -> bytes:
        conn.sendall(b"0123456789")
        received = b""
        while len(received) < 1000:
            chunk = conn.recv(4096)
            if not chunk:
                break
            received += chunk
        return received
    payload = tmp_path / "payload.bin"
    payload.write_bytes(bytes(range(256)) * 4 + b"tail")
    for client in (stdlib_client(cert_files), client_context(cert_files)):
        with thread_server(server_context(cert_files), handler) as server:
            with socket.create_connection(("127.0.0.1", server.port), timeout=10) as raw, \
                    client.wrap_socket(raw, server_hostname="localhost") as tls:
                buffer = bytearray(2)
                assert tls.recv_into(buffer, 10) == 2 and buffer == b"01"
                assert tls.recv_into(buffer, -1) == 2 and buffer == b"23"
                assert tls.recv_into(buffer, 0) == 2 and buffer == b"45"
                with payload.open("rb") as file:
                    with pytest.raises(ValueError, match="count must be a positive integer"):
                        tls.sendfile(file, count=0)
                    assert tls.sendfile(file, offset=24, count=1000) == 1000
                    assert file.tell() == 1024
            assert server.next() == payload.read_bytes()[24:1024]


class _LateServer:
    """One connection on an OS thread: accept, wait, handshake, wait, greet, read the answer."""

    def __init__(self, cert_files: dict) -> None:
        import queue
        import threading
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.context = server_context(cert_files)
        self.seen: queue.Queue[Any] = queue.Queue()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        import time
        try:
            raw, _ = self.listener.accept()
            raw.settimeout(10)
            time.sleep(0.2)  # the client's first do_handshake() finds nothing to read
            with self.context.wrap_socket(raw, server_side=True) as conn:
                time.sleep(0.3)
                conn.sendall(b"late")
                self.seen.put(conn.recv(10))
        except Exception as exc:  # reported to the test
            self.seen.put(exc)
        finally:
            self.listener.close()


@pytest.mark.parametrize(("kind", "transport"), [(ssl.SSLContext, "stdlib"), (greentls.SSLContext, "stdlib"),
                                                (greentls.SSLContext, "gevent")])
def test_a_non_blocking_socket_raises_want_read_as_the_stdlib(cert_files, kind, transport):
    """A non-blocking SSLSocket (setblocking(False), do_handshake_on_connect=False) raises
    ssl.SSLWantReadError from do_handshake() and recv() until its peer's bytes come, and the
    select() loop written for the stdlib completes it; greentls's raised BlockingIOError (and
    aborted the handshake). do_handshake_on_connect on a non-blocking socket is a ValueError."""
    import select

    from gevent import select as gselect, socket as gsocket
    module, wait = (socket, select.select) if transport == "stdlib" else (gsocket, gselect.select)
    client = kind(ssl.PROTOCOL_TLS_CLIENT)
    client.load_verify_locations(cert_files["ca"])
    with socket.create_server(("127.0.0.1", 0)) as listener:
        refused = module.create_connection(listener.getsockname())
        refused.setblocking(False)
        with pytest.raises(ValueError, match="non-blocking"):
            client.wrap_socket(refused, server_hostname="localhost")
    server = _LateServer(cert_files)
    raw = module.create_connection(("127.0.0.1", server.port))
    raw.setblocking(False)
    tls = client.wrap_socket(raw, server_hostname="localhost", do_handshake_on_connect=False)
    wants = []
    for _ in range(100):
        try:
            tls.do_handshake()
            break
        except ssl.SSLWantReadError as exc:
            wants.append(("read", exc.errno))
            wait([tls], [], [], 5)
        except ssl.SSLWantWriteError:
            wants.append(("write", ssl.SSL_ERROR_WANT_WRITE))
            wait([], [tls], [], 5)
    assert tls.version() == "TLSv1.3" and wants[:1] == [("read", ssl.SSL_ERROR_WANT_READ)], wants
    with pytest.raises(ssl.SSLWantReadError):
        tls.recv(10)  # the greeting comes 0.3 s after the handshake
    data = b""
    for _ in range(100):
        try:
            data = tls.recv(10)
            break
        except ssl.SSLWantReadError:  # a session ticket came first, or nothing yet
            wait([tls], [], [], 5)
    assert data == b"late"
    tls.setblocking(True)
    tls.sendall(b"bye")
    assert server.seen.get(timeout=10) == b"bye"
    tls.close()


def test_a_non_blocking_server_handshake_keeps_the_client_s_bytes(cert_files, monkeypatch):
    """A non-blocking server handshake over a gevent socket (OpenSSL on the descriptor): each
    ssl.SSLWantReadError must leave the socket alone. It used to pass through the failure path,
    which read and dropped whatever the client had sent meanwhile (a flight arriving then was
    lost and the handshake never ended), and counted the handshake in session_stats() only if
    it took one call."""
    from gevent import socket as gsocket

    drained: list = []
    monkeypatch.setattr(greentls.TLSSocket, "_discard_unread", lambda self: drained.append(self))  # noqa: PLW0108 (a method)
    server_end, client_end = gsocket.socketpair()
    client_end.setblocking(False)
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    client_ctx = ssl.create_default_context(cafile=cert_files["ca"])
    client = client_ctx.wrap_bio(incoming, outgoing, server_hostname="localhost")

    def client_step() -> None:
        try:
            incoming.write(client_end.recv(65536))
        except BlockingIOError:
            pass
        try:
            client.do_handshake()
        except ssl.SSLWantReadError:
            pass
        if outgoing.pending:
            client_end.sendall(outgoing.read())

    context = server_context(cert_files)
    server_end.setblocking(False)
    server = context.wrap_socket(server_end, server_side=True, do_handshake_on_connect=False)
    client_step()  # the ClientHello
    calls = 0
    while calls < 10:
        calls += 1
        try:
            server.do_handshake()
            break
        except ssl.SSLWantReadError:
            client_step()
    assert server.version() == "TLSv1.3" and calls > 1 and drained == []
    assert context.session_stats() == {"accept": 1, "accept_good": 1, "connect": 0, "connect_good": 0, "hits": 0}
    server.close()
    client_end.close()


@pytest.mark.parametrize("kind", [ssl.SSLContext, greentls.SSLContext])
def test_non_blocking_sends_lose_no_byte(cert_files, kind):
    """A non-blocking stdlib socket (the memory pump throughout) sending more than the socket
    buffer holds to a peer that reads late: every byte arrives, in order. greentls's pump used
    sendall, which fails part way on a full non-blocking socket without saying how much went:
    the rest of the record was lost and the peer failed with a bad record MAC."""
    import threading
    import time

    server_end, client_end = socket.socketpair()
    client_ctx = ssl.create_default_context(cafile=cert_files["ca"])
    ctx = kind(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert_files["cert"], cert_files["key"])
    payload = bytes(range(256)) * (16 << 10)  # 4 MiB, every offset distinct modulo 256
    received: dict = {}

    def reader() -> None:
        with client_ctx.wrap_socket(client_end, server_hostname="localhost") as tls:
            time.sleep(0.5)  # the server's send buffer fills meanwhile
            got = bytearray()
            try:
                while len(got) < len(payload):
                    chunk = tls.recv(65536)
                    if not chunk:
                        break
                    got += chunk
            except OSError as exc:
                received["error"] = exc
            received["data"] = bytes(got)

    thread = threading.Thread(target=reader)
    thread.start()
    server = ctx.wrap_socket(server_end, server_side=True)
    server.setblocking(False)
    sent = 0
    deadline = time.monotonic() + 30
    while sent < len(payload) and time.monotonic() < deadline:
        try:
            sent += server.send(payload[sent:sent + 65536])
        except ssl.SSLWantWriteError:  # the stdlib's answer to a full socket; greentls waits
            time.sleep(0.001)
    thread.join(30)
    server.close()
    assert "error" not in received, received.get("error")
    assert received["data"] == payload
