"""Two engines pumped against each other in memory, with no socket and no I/O layer between them
(as trio's ``ssl_memory_stream_pair`` tests do): the sans-I/O engine's own contract, its states,
its errors and the bytes it moves, tested beside the real-peer tests.

``pump`` moves each engine's ``outgoing_bytes()`` into the other's ``receive_bytes()`` until
neither has any; ``handshake`` drives ``do_handshake()`` on both (``WantRead``/``WantWrite``:
pump and retry; ``HelloReady``: inspect ``client_hello``, then ``release_hello()``).  The client
engine is set up as ``TLSSocket`` sets it up: ``configure_verify`` for verification,
``set_tlsext_host_name`` for SNI, ``set_alpn_protos`` for ALPN.
"""
from __future__ import annotations

import contextlib
import os
import struct
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import pytest
import trustme
from cryptography import x509

from greentls import CertificateError, TLSError
from greentls._config.context import SecureContext
from greentls._config.verify import certificate_error_for, configure_verify, verify_result
from greentls._engine.engine import HelloReady, TLSEngine, WantRead, WantWrite
from greentls._engine.state import State

# TLS record content types (RFC 8446 section 5.1).
_APPLICATION_DATA = 23
_RECORD_PAYLOAD = 16384  # 2^14, the largest plaintext per record

HTTP_REQUEST = b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"


# -- helpers ----------------------------------------------------------------------------------

def pump(a: TLSEngine, b: TLSEngine) -> int:
    """Move each engine's outgoing bytes into the other until neither has any; returns the count."""
    moved = 0
    while True:
        progressed = False
        for source, sink in ((a, b), (b, a)):
            data = source.outgoing_bytes()
            if data:
                sink.receive_bytes(data)
                moved += len(data)
                progressed = True
        if not progressed:
            return moved


def handshake(client: TLSEngine, server: TLSEngine,
              on_hello: Callable[[TLSEngine], None] | None = None, rounds: int = 20) -> None:
    """Drive both handshakes to completion; a TLSError propagates from the side that failed."""
    unfinished = [client, server]
    for _ in range(rounds):
        for engine in list(unfinished):
            try:
                engine.do_handshake()
            except (WantRead, WantWrite):
                continue
            except HelloReady:
                assert engine is server, "only a parsing server raises HelloReady"
                if on_hello is not None:
                    on_hello(engine)
                engine.release_hello()
                continue
            unfinished.remove(engine)
        pump(client, server)
        if not unfinished:
            assert client.state is State.OPEN and server.state is State.OPEN
            return
    raise AssertionError(f"handshake unfinished after {rounds} rounds: "
                         f"client {client.state.value}, server {server.state.value}")


def drain(engine: TLSEngine) -> bytes:
    """All of an engine's outgoing bytes (``outgoing_bytes`` gives at most 64 KiB a call)."""
    chunks = []
    while chunk := engine.outgoing_bytes():
        chunks.append(chunk)
    return b"".join(chunks)


def write_all(engine: TLSEngine, data: bytes) -> None:
    """Write all of ``data``, as often as ``write`` takes part of it (partial writes are on)."""
    view = memoryview(data)
    offset = 0
    while offset < len(view):
        offset += engine.write(view[offset:])


def read_available(engine: TLSEngine, size: int = 65536) -> bytes:
    """Everything decrypted so far: read until ``WantRead`` (or the end of the stream)."""
    chunks = []
    while True:
        try:
            chunk = engine.read(size)
        except WantRead:
            break
        if not chunk:
            break
        assert len(chunk) <= size
        chunks.append(chunk)
    return b"".join(chunks)


def records(wire: bytes) -> list[tuple[int, int]]:
    """(content type, length) of each TLS record in ``wire``, which must hold whole records."""
    found, pos = [], 0
    while pos < len(wire):
        content_type, _version, length = struct.unpack_from(">BHH", wire, pos)
        found.append((content_type, length))
        pos += 5 + length
    assert pos == len(wire), "outgoing bytes must end on a record boundary"
    return found


def pattern(tag: bytes, size: int) -> bytes:
    """``size`` bytes of ``tag`` and a block counter: a misplaced or foreign chunk shows."""
    out = bytearray()
    block = 0
    while len(out) < size:
        out += tag + block.to_bytes(4, "big")
        block += 1
    return bytes(out[:size])


def make_client(context: SecureContext, *, servername: str | None = None,
                alpn: list | None = None, reject_unauthorized: bool = True) -> TLSEngine:
    """A client engine set up as ``TLSSocket._setup_client`` and ``configure_verify`` do."""
    engine = TLSEngine(context.context, server_side=False)
    configure_verify(engine.conn, server_side=False, request_cert=False,
                     reject_unauthorized=reject_unauthorized)
    if servername is not None:
        engine.conn.set_tlsext_host_name(servername.encode("idna"))
    if alpn is not None:
        engine.conn.set_alpn_protos(alpn)
    return engine


def make_server(context: SecureContext, *, parse_hello: bool = False, request_cert: bool = False,
                reject_unauthorized: bool = True, alpn: list | None = None) -> TLSEngine:
    """A server engine on the OpenSSL context of its client-certificate policy, as ``TLSSocket``."""
    engine = TLSEngine(context.server_context(request_cert, reject_unauthorized), server_side=True,
                       parse_hello=parse_hello)
    configure_verify(engine.conn, server_side=True, request_cert=request_cert,
                     reject_unauthorized=reject_unauthorized)
    engine.alpn_protocols = alpn
    return engine


def chain_pem(cert: trustme.LeafCert) -> bytes:
    return b"".join(blob.bytes() for blob in cert.cert_chain_pems)


def peer_certificate(engine: TLSEngine) -> x509.Certificate | None:
    return engine.conn.get_peer_certificate(as_cryptography=True)


def dns_names(cert: x509.Certificate) -> list:
    return cert.extensions.get_extension_for_class(
        x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)


def common_name(cert: x509.Certificate) -> str:
    return cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value


def assert_node_code(exc: TLSError) -> None:
    """A TLSError with a Node-style code that names a reason (not the reasonless fallback)."""
    assert isinstance(exc, TLSError)
    assert exc.code.startswith("ERR_SSL_") or exc.code == "ECONNRESET", exc.code
    assert exc.code != "ERR_SSL_PROTOCOL_ERROR", f"a reasonless error: {exc}"
    assert exc.reason


# -- fixtures ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def ctx(ca: trustme.CA, server_cert: trustme.LeafCert, client_cert: trustme.LeafCert,
        server_options: dict, client_options: dict) -> SimpleNamespace:
    """The contexts every test shares: built once (a SecureContext is immutable)."""
    stranger_ca = trustme.CA()
    stranger = stranger_ca.issue_cert("stranger@example.com", common_name="stranger")
    other_host = ca.issue_cert("other.example")
    return SimpleNamespace(
        server=SecureContext(**server_options),
        client=SecureContext(**client_options),
        # A server that trusts the CA for client certificates (mutual TLS).
        mtls_server=SecureContext(**server_options, ca=ca.cert_pem.bytes()),
        client_with_cert=SecureContext(**client_options, key=client_cert.private_key_pem.bytes(),
                                       cert=chain_pem(client_cert)),
        stranger_client=SecureContext(**client_options, key=stranger.private_key_pem.bytes(),
                                      cert=chain_pem(stranger)),
        client_trusting_stranger=SecureContext(ca=stranger_ca.cert_pem.bytes()),
        other_host=SecureContext(key=other_host.private_key_pem.bytes(), cert=chain_pem(other_host)),
    )


@pytest.fixture
def connected(ctx: SimpleNamespace) -> tuple[TLSEngine, TLSEngine]:
    """A client and a server engine with a finished (default: TLS 1.3) handshake."""
    client, server = make_client(ctx.client), make_server(ctx.server)
    handshake(client, server)
    return client, server


# -- handshakes -------------------------------------------------------------------------------

@pytest.mark.parametrize("pinned", ["client", "server"])
@pytest.mark.parametrize("version", ["TLSv1.2", "TLSv1.3"])
def test_handshake_at_each_version(ctx, server_options, client_options, version, pinned):
    """A TLS 1.2 and a TLS 1.3 handshake complete in memory, with ``min_version``/``max_version``
    on either side deciding the version; both engines end OPEN and the client verified the
    server's chain (``configure_verify``)."""
    limits = {"min_version": version, "max_version": version}
    client_context = SecureContext(**client_options, **(limits if pinned == "client" else {}))
    server_context = SecureContext(**server_options, **(limits if pinned == "server" else {}))
    client, server = make_client(client_context), make_server(server_context)
    assert client.state is State.NEW and server.state is State.NEW
    handshake(client, server)
    assert client.conn.get_protocol_version_name() == version
    assert server.conn.get_protocol_version_name() == version
    assert verify_result(client.conn) is None
    assert dns_names(peer_certificate(client)) == ["localhost"]


def test_handshake_version_mismatch_fails_both_sides(server_options, client_options):
    """A client capped at TLS 1.2 and a server that requires TLS 1.3 fail with Node-style codes on
    both sides: the server with its own reason, the client with the server's alert."""
    client = make_client(SecureContext(**client_options, max_version="TLSv1.2"))
    server = make_server(SecureContext(**server_options, min_version="TLSv1.3"))
    with pytest.raises(TLSError) as failed:
        handshake(client, server)
    assert failed.value.code == "ERR_SSL_UNSUPPORTED_PROTOCOL"
    assert server.state is State.BROKEN
    pump(client, server)
    with pytest.raises(TLSError) as alerted:
        client.do_handshake()
    assert "ALERT_PROTOCOL_VERSION" in alerted.value.code
    assert client.state is State.BROKEN


# -- data -------------------------------------------------------------------------------------

@pytest.mark.parametrize("version", ["TLSv1.2", "TLSv1.3"])
def test_large_payloads_both_ways_at_once(server_options, client_options, version):
    """100 KB each way, written by both sides before either reads, arrive byte for byte; each
    direction spans several records (none over 2^14 bytes of plaintext)."""
    client = make_client(SecureContext(**client_options, max_version=version, min_version=version))
    server = make_server(SecureContext(**server_options))
    handshake(client, server)
    upstream, downstream = pattern(b"C->S", 100_000), pattern(b"S->C", 100_000)
    write_all(client, upstream)
    write_all(server, downstream)
    from_client, from_server = drain(client), drain(server)
    for wire in (from_client, from_server):
        data_records = [length for kind, length in records(wire) if kind == _APPLICATION_DATA]
        assert len(data_records) >= 100_000 // _RECORD_PAYLOAD + 1
        assert max(data_records) <= _RECORD_PAYLOAD + 256  # RFC 8446 section 5.2
    server.receive_bytes(from_client)
    client.receive_bytes(from_server)
    # One side reads with a buffer above the scratch size (its own allocation), one below.
    assert read_available(server, size=1 << 17) == upstream
    assert read_available(client, size=4096) == downstream


def test_echo_at_record_boundaries(connected):
    """Messages of 1 byte up to just over four records, echoed one at a time, come back exactly."""
    client, server = connected
    for index, size in enumerate((1, 2, 255, 16383, 16384, 16385, 32768, 65536, 65537)):
        message = pattern(b"%03d" % index, size)
        write_all(client, message)
        pump(client, server)
        assert read_available(server) == message
        write_all(server, message[::-1])
        pump(client, server)
        assert read_available(client) == message[::-1]


def test_read_into_fills_a_caller_buffer(connected):
    """``read_into`` decrypts into the caller's buffer at an offset, returns each count (never more
    than asked), and returns 0 at the peer's close_notify."""
    client, server = connected
    payload = pattern(b"into", 40_000)
    write_all(server, payload)
    pump(client, server)
    buffer = bytearray(len(payload))
    view = memoryview(buffer)
    got = 0
    while got < len(payload):
        ask = min(7000, len(payload) - got)
        count = client.read_into(view[got:], ask)
        assert 0 < count <= ask
        got += count
    assert bytes(buffer) == payload
    with pytest.raises(WantRead):
        client.read_into(view, 100)
    server.shutdown()
    pump(client, server)
    assert client.read_into(view, 100) == 0
    assert client.clean_close


def test_pending_counts_the_decrypted_rest_of_a_record(connected):
    """``pending()`` is 0 until a record is decrypted, then the unread rest of that record only;
    the next record is still read by ``read`` (so a caller drains before it waits)."""
    client, server = connected
    write_all(server, b"a" * 1000)
    write_all(server, b"b" * 500)
    pump(client, server)
    assert client.pending() == 0  # received, not yet decrypted
    assert client.read(10) == b"a" * 10
    assert client.pending() == 990
    assert client.read(2000) == b"a" * 990  # one record per read
    assert client.pending() == 0
    assert client.read(2000) == b"b" * 500
    assert client.pending() == 0
    with pytest.raises(WantRead):
        client.read(1)


# -- closing ----------------------------------------------------------------------------------

@pytest.mark.parametrize("closer", ["client", "server"])
def test_close_notify_both_ways(connected, closer):
    """close_notify in each direction: the closer's last bytes arrive first, the peer's read then
    returns b"" with ``clean_close``; the peer's own ``shutdown`` completes the exchange (True),
    and the closer reads b"" with ``clean_close`` too."""
    client, server = connected
    first, second = (client, server) if closer == "client" else (server, client)
    write_all(first, b"last words")
    assert first.shutdown() is False  # ours sent, the peer's not yet received
    assert first.state is State.CLOSING
    pump(client, server)
    assert second.read(100) == b"last words"
    assert second.read(100) == b""
    assert second.clean_close
    assert second.shutdown() is True  # the peer's arrived, ours sent now
    pump(client, server)
    assert first.read(100) == b""
    assert first.clean_close
    assert first.shutdown() is True
    for engine in (client, server):
        engine.close()
        assert engine.state is State.CLOSED


def test_eof_without_close_notify_is_not_clean(connected):
    """An EOF after the handshake without close_notify ends the stream (b"", as the stdlib's
    suppress_ragged_eofs) but ``clean_close`` stays False, so the session is not resumed."""
    client, server = connected
    write_all(client, b"no goodbye")
    pump(client, server)
    server.receive_bytes(b"")
    assert server.read(100) == b"no goodbye"
    assert server.read(100) == b""
    assert not server.clean_close


# -- hostile bytes ----------------------------------------------------------------------------

@pytest.mark.parametrize(("victim", "garbage", "code"), [
    ("server", HTTP_REQUEST, "ERR_SSL_HTTP_REQUEST"),
    ("parsing server", HTTP_REQUEST, "ERR_SSL_HTTP_REQUEST"),
    ("server", b"garbage!" * 20, "ERR_SSL_WRONG_VERSION_NUMBER"),
    ("parsing server", b"garbage!" * 20, "ERR_SSL_WRONG_VERSION_NUMBER"),
    ("client", b"garbage!" * 20, "ERR_SSL_WRONG_VERSION_NUMBER"),
])
def test_garbage_in_the_handshake(ctx, victim, garbage, code):
    """Bytes that are not TLS fail the handshake with a TLSError carrying Node's code (a parsing
    server releases a non-hello to OpenSSL, so the reason is OpenSSL's, as Node's is); the engine
    is BROKEN, and a second attempt raises a TLSError again."""
    if victim == "client":
        engine = make_client(ctx.client)
        with pytest.raises(WantRead):
            engine.do_handshake()
    else:
        engine = make_server(ctx.server, parse_hello=victim == "parsing server")
    engine.receive_bytes(garbage)
    with pytest.raises(TLSError) as failed:
        engine.do_handshake()
    assert failed.value.code == code
    assert_node_code(failed.value)
    assert engine.state is State.BROKEN
    with pytest.raises(TLSError):
        engine.do_handshake()


def test_tampered_record_breaks_both_sides(connected):
    """One flipped bit in an application-data record: the receiver fails with
    ERR_SSL_DECRYPTION_FAILED_OR_BAD_RECORD_MAC and is BROKEN; its alert reaches the sender,
    whose next read fails with the bad_record_mac alert's code."""
    client, server = connected
    write_all(server, b"integrity")
    wire = bytearray(server.outgoing_bytes())
    wire[-3] ^= 0x01
    client.receive_bytes(bytes(wire))
    with pytest.raises(TLSError) as failed:
        client.read(100)
    assert failed.value.code == "ERR_SSL_DECRYPTION_FAILED_OR_BAD_RECORD_MAC"
    assert client.state is State.BROKEN
    alert = client.outgoing_bytes()
    assert alert, "the receiver must have an alert to send"
    server.receive_bytes(alert)
    with pytest.raises(TLSError) as alerted:
        server.read(100)
    assert "ALERT_BAD_RECORD_MAC" in alerted.value.code
    assert_node_code(alerted.value)
    assert server.state is State.BROKEN


# -- EOF in the handshake ---------------------------------------------------------------------

def _eof_client_after_hello(ctx):
    client = make_client(ctx.client)
    with pytest.raises(WantRead):
        client.do_handshake()
    assert client.outgoing_bytes()  # its ClientHello, never answered
    client.receive_bytes(b"")
    return client


def _partial_hello(ctx, parse_hello):
    client = make_client(ctx.client, servername="localhost")
    with pytest.raises(WantRead):
        client.do_handshake()
    server = make_server(ctx.server, parse_hello=parse_hello)
    server.receive_bytes(client.outgoing_bytes()[:50])
    with pytest.raises(WantRead):
        server.do_handshake()
    server.receive_bytes(b"")
    return server


def _eof_parsing_server_before_any_byte(ctx):
    server = make_server(ctx.server, parse_hello=True)
    server.receive_bytes(b"")
    return server


def _eof_server_after_its_flight(ctx):
    client, server = make_client(ctx.client), make_server(ctx.server)
    with pytest.raises(WantRead):
        client.do_handshake()
    pump(client, server)
    with pytest.raises(WantRead):
        server.do_handshake()
    assert server.outgoing_bytes()  # ServerHello..Finished, which the client never answers
    server.receive_bytes(b"")
    return server


_EOF_CASES = {
    "client-after-its-hello": _eof_client_after_hello,
    "server-mid-hello": lambda ctx: _partial_hello(ctx, parse_hello=False),
    "parsing-server-mid-hello": lambda ctx: _partial_hello(ctx, parse_hello=True),
    "parsing-server-no-byte": _eof_parsing_server_before_any_byte,
    "server-after-its-flight": _eof_server_after_its_flight,
}


@pytest.mark.parametrize("case", list(_EOF_CASES))
def test_eof_mid_handshake_is_econnreset(ctx, case):
    """``receive_bytes(b"")`` before the handshake finished: ``do_handshake`` raises Node's
    ECONNRESET ("socket hang up"), on either side and whether or not a parsing server still held
    the hello; the engine is BROKEN."""
    engine = _EOF_CASES[case](ctx)
    with pytest.raises(TLSError) as failed:
        engine.do_handshake()
    assert failed.value.code == "ECONNRESET"
    assert failed.value.reason == "socket hang up"
    assert "socket hang up" in str(failed.value)
    assert engine.state is State.BROKEN


def _after_eof_cases() -> Iterator[Any]:
    for case in _EOF_CASES:
        for op in ("do_handshake", "read"):
            yield pytest.param(case, op, id=f"{case}-{op}")


@pytest.mark.parametrize(("case", "op"), list(_after_eof_cases()))
def test_engine_broken_by_eof_refuses_with_a_reason(ctx, case, op):
    """After the ECONNRESET of an EOF mid-handshake, the next ``do_handshake`` or ``read`` on the
    BROKEN engine raises a TLSError that names a reason: never the reasonless
    ERR_SSL_PROTOCOL_ERROR ("OpenSSL gave no reason") and never a raw WantReadError."""
    engine = _EOF_CASES[case](ctx)
    with pytest.raises(TLSError):
        engine.do_handshake()
    call = engine.do_handshake if op == "do_handshake" else lambda: engine.read(100)
    try:
        call()
    except TLSError as again:
        assert again.code != "ERR_SSL_PROTOCOL_ERROR", str(again)  # noqa: PT017 (the raise is the test)
        assert again.reason  # noqa: PT017
    except Exception as exc:
        pytest.fail(f"{op} after ECONNRESET leaked {type(exc).__module__}.{type(exc).__qualname__}")
    else:
        pytest.fail(f"{op} on a BROKEN engine returned instead of raising")
    assert engine.state is State.BROKEN


# -- the ClientHello seam ---------------------------------------------------------------------

def test_parsing_server_sees_sni_and_alpn_before_openssl(ctx):
    """A server made with ``parse_hello`` raises HelloReady, repeatedly until ``release_hello``,
    with the client's SNI name and ALPN list in ``client_hello``, before OpenSSL saw a byte (it
    has no server name and nothing to send yet); then the handshake binds the same name and the
    server's ALPN choice on both sides."""
    client = make_client(ctx.client, servername="localhost", alpn=[b"h2", b"http/1.1"])
    server = make_server(ctx.server, parse_hello=True, alpn=[b"http/1.1"])
    seen = []

    def on_hello(engine: TLSEngine) -> None:
        hello = engine.client_hello
        seen.append(hello)
        assert hello.server_name == "localhost"
        assert hello.alpn_protocols == (b"h2", b"http/1.1")
        assert engine.conn.get_servername() is None  # OpenSSL has not read the hello
        assert engine.outgoing_bytes() == b""
        with pytest.raises(HelloReady):
            engine.do_handshake()  # still held

    handshake(client, server, on_hello)
    assert len(seen) == 1
    assert server.conn.get_servername() == b"localhost"
    assert server.conn.get_alpn_proto_negotiated() == b"http/1.1"
    assert client.conn.get_alpn_proto_negotiated() == b"http/1.1"


def test_parsing_server_hello_fed_byte_by_byte(ctx):
    """A ClientHello fed one byte at a time: WantRead until its last byte, then HelloReady, and
    the handshake completes on the released bytes."""
    client = make_client(ctx.client, servername="localhost")
    server = make_server(ctx.server, parse_hello=True)
    with pytest.raises(WantRead):
        client.do_handshake()
    hello = client.outgoing_bytes()
    for offset in range(len(hello) - 1):
        server.receive_bytes(hello[offset:offset + 1])
        with pytest.raises(WantRead):
            server.do_handshake()
        assert server.client_hello is None
    server.receive_bytes(hello[-1:])
    with pytest.raises(HelloReady):
        server.do_handshake()
    assert server.client_hello.server_name == "localhost"
    assert server.client_hello.size == len(hello)
    server.release_hello()
    handshake(client, server)


def test_parsing_server_switches_context_on_the_hello(ctx):
    """The SNI seam: on HelloReady the server picks another context for the name the client asked
    for (``set_context``), and the client receives that context's certificate."""
    client = make_client(ctx.client, servername="other.example")
    server = make_server(ctx.server, parse_hello=True)

    def on_hello(engine: TLSEngine) -> None:
        assert engine.client_hello.server_name == "other.example"
        engine.set_context(ctx.other_host.server_context(False, True))

    handshake(client, server, on_hello)
    assert dns_names(peer_certificate(client)) == ["other.example"]
    assert verify_result(client.conn) is None


def test_plain_server_gets_sni_from_openssl(ctx):
    """A server that parses nothing leaves ``client_hello`` None; OpenSSL still binds the SNI name
    the client sent, and a client that sets none sends none."""
    client, server = make_client(ctx.client, servername="localhost"), make_server(ctx.server)
    handshake(client, server)
    assert server.client_hello is None
    assert server.conn.get_servername() == b"localhost"

    names: list = []
    client = make_client(ctx.client)
    server = make_server(ctx.server, parse_hello=True)
    handshake(client, server, lambda engine: names.append(engine.client_hello.server_name))
    assert names == [None]
    assert server.conn.get_servername() is None


# -- verification -----------------------------------------------------------------------------

def test_mutual_tls_authorized(ctx):
    """``request_cert`` with ``reject_unauthorized``: a client certificate from the trusted CA
    passes; the server's verify result is OK and the peer is "test client"."""
    client = make_client(ctx.client_with_cert)
    server = make_server(ctx.mtls_server, request_cert=True, reject_unauthorized=True)
    handshake(client, server)
    assert verify_result(server.conn) is None
    assert server.verify_error is None
    assert common_name(peer_certificate(server)) == "test client"
    assert verify_result(client.conn) is None


def test_mutual_tls_without_client_cert(ctx):
    """A client without a certificate: rejected (ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE, and
    the client reads the certificate_required alert) unless ``reject_unauthorized`` is False,
    when the handshake completes and the verify result is Node's UNABLE_TO_GET_ISSUER_CERT."""
    client = make_client(ctx.client)
    server = make_server(ctx.mtls_server, request_cert=True, reject_unauthorized=True)
    with pytest.raises(TLSError) as failed:
        handshake(client, server)
    assert failed.value.code == "ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE"
    assert server.state is State.BROKEN
    pump(client, server)
    with pytest.raises(TLSError) as alerted:
        client.read(100)  # TLS 1.3: the client finished before the server judged it
    assert "ALERT_CERTIFICATE_REQUIRED" in alerted.value.code

    client = make_client(ctx.client)
    server = make_server(ctx.mtls_server, request_cert=True, reject_unauthorized=False)
    handshake(client, server)
    assert verify_result(server.conn) == "UNABLE_TO_GET_ISSUER_CERT"


def test_mutual_tls_untrusted_client_cert(ctx):
    """A client certificate from an unknown CA: rejected with "certificate verify failed", which
    ``certificate_error_for`` names as Node does (a CertificateError), and the client reads the
    unknown_ca alert; with ``reject_unauthorized`` False it passes, and the verify result and the
    recorded ``verify_error`` say why it is not authorized."""
    client = make_client(ctx.stranger_client)
    server = make_server(ctx.mtls_server, request_cert=True, reject_unauthorized=True)
    with pytest.raises(TLSError) as failed:
        handshake(client, server)
    assert failed.value.code == "ERR_SSL_CERTIFICATE_VERIFY_FAILED"
    named = certificate_error_for(server.conn, failed.value)
    assert isinstance(named, CertificateError)
    assert named.code == "UNABLE_TO_VERIFY_LEAF_SIGNATURE"
    pump(client, server)
    with pytest.raises(TLSError) as alerted:
        client.read(100)
    assert "ALERT_UNKNOWN_CA" in alerted.value.code

    client = make_client(ctx.stranger_client)
    server = make_server(ctx.mtls_server, request_cert=True, reject_unauthorized=False)
    handshake(client, server)
    assert verify_result(server.conn) == "UNABLE_TO_VERIFY_LEAF_SIGNATURE"
    assert server.verify_error is not None
    assert common_name(peer_certificate(server)) == "stranger"


def test_client_rejects_an_untrusted_server(ctx):
    """A client whose ``ca`` does not include the server's issuer fails its handshake (named
    UNABLE_TO_VERIFY_LEAF_SIGNATURE by ``certificate_error_for``); the server gets unknown_ca."""
    client = make_client(ctx.client_trusting_stranger)
    server = make_server(ctx.server)
    with pytest.raises(TLSError) as failed:
        handshake(client, server)
    assert failed.value.code == "ERR_SSL_CERTIFICATE_VERIFY_FAILED"
    assert client.state is State.BROKEN
    assert certificate_error_for(client.conn, failed.value).code == "UNABLE_TO_VERIFY_LEAF_SIGNATURE"
    pump(client, server)
    with pytest.raises(TLSError) as alerted:
        server.do_handshake()
    assert "ALERT_UNKNOWN_CA" in alerted.value.code


# -- finished engines -------------------------------------------------------------------------

def _clean_closed(ctx) -> TLSEngine:
    client, server = make_client(ctx.client), make_server(ctx.server)
    handshake(client, server)
    client.shutdown()
    pump(client, server)
    assert server.read(10) == b""
    server.shutdown()
    pump(client, server)
    assert client.read(10) == b""
    client.close()
    return client


def _closed_while_open(ctx) -> TLSEngine:
    """close() without shutdown, with a record half read (pending 990) and one more unread."""
    client, server = make_client(ctx.client), make_server(ctx.server)
    handshake(client, server)
    write_all(server, b"a" * 1000)
    write_all(server, b"b" * 500)
    pump(client, server)
    assert client.read(10) == b"a" * 10
    client.close()
    return client


def _broken_by_record(ctx) -> TLSEngine:
    client, server = make_client(ctx.client), make_server(ctx.server)
    handshake(client, server)
    write_all(server, b"hello")
    wire = bytearray(server.outgoing_bytes())
    wire[-3] ^= 0x01
    client.receive_bytes(bytes(wire))
    with pytest.raises(TLSError):
        client.read(10)
    return client


def _broken_in_handshake(ctx) -> TLSEngine:
    server = make_server(ctx.server)
    server.receive_bytes(HTTP_REQUEST)
    with pytest.raises(TLSError):
        server.do_handshake()
    return server


def _broken_holding_hello(ctx) -> TLSEngine:
    server = _partial_hello(ctx, parse_hello=True)
    with pytest.raises(TLSError):
        server.do_handshake()
    return server


_FINISHED = {
    "clean-closed": _clean_closed,
    "closed-while-open": _closed_while_open,
    "broken-by-record": _broken_by_record,
    "broken-in-handshake": _broken_in_handshake,
    "broken-holding-hello": _broken_holding_hello,
}

#: The call, and what it may return instead of raising a TLSError (None: it must raise).
_CALLS: dict[str, tuple[Callable[[TLSEngine, Any, Any], Any], Callable[[Any], bool] | None]] = {
    "do_handshake": (lambda e, c, o: e.do_handshake(), None),
    "read": (lambda e, c, o: e.read(100), lambda r: r == b""),
    "read_into": (lambda e, c, o: e.read_into(bytearray(100), 100), lambda r: r == 0),
    "write": (lambda e, c, o: e.write(b"too late"), None),
    "pending": (lambda e, c, o: e.pending(), lambda r: r == 0),
    "shutdown": (lambda e, c, o: e.shutdown(), lambda r: r is True),
    "close": (lambda e, c, o: e.close(), lambda r: r is None),
    "outgoing_bytes": (lambda e, c, o: e.outgoing_bytes(), lambda r: type(r) is bytes),
    "receive_bytes": (lambda e, c, o: e.receive_bytes(b"\x17\x03\x03\x00\x01\x00"), lambda r: r is None),
    "receive_bytes-eof": (lambda e, c, o: e.receive_bytes(b""), lambda r: r is None),
    "release_hello": (lambda e, c, o: e.release_hello(), lambda r: r is None),
    "parse_hello_first": (lambda e, c, o: e.parse_hello_first(), None),
    "set_context": (lambda e, c, o: e.set_context(c.server.server_context(False, True)), None),
    "can_attach": (lambda e, c, o: e.can_attach(), lambda r: r is False),
    "attached": (lambda e, c, o: e.attached, lambda r: r is False),
    "begin_on_fd": (lambda e, c, o: e.begin_on_fd(o.fileno(), None, o), None),
    "attach_fd": (lambda e, c, o: e.attach_fd(o.fileno(), o), None),
}

def _finished_cases() -> Iterator[Any]:
    for kind in _FINISHED:
        for name in _CALLS:
            yield pytest.param(kind, name, id=f"{kind}-{name}")


class _Descriptor:
    """A socket-like owner of a pipe's read end (``attach_fd``/``begin_on_fd`` need one)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def fileno(self) -> int:
        return self.fd


@contextlib.contextmanager
def _descriptor() -> Iterator[_Descriptor]:
    read_end, write_end = os.pipe()
    try:
        yield _Descriptor(read_end)
    finally:
        os.close(read_end)
        os.close(write_end)


_RAISED = object()


@pytest.mark.parametrize(("kind", "name"), list(_finished_cases()))
def test_finished_engine_methods(ctx, kind, name):
    """Every public method of a CLOSED or BROKEN engine either raises a TLSError (never a raw
    pyOpenSSL exception such as WantReadError) or returns its documented "nothing more" value
    (read b"", read_into 0, pending 0, shutdown True, can_attach/attached False...), and leaves
    the engine CLOSED or BROKEN (``close`` leaves the state exactly as it was)."""
    engine = _FINISHED[kind](ctx)
    before = engine.state
    assert before in (State.CLOSED, State.BROKEN)
    call, accepts = _CALLS[name]
    with _descriptor() as owner:
        try:
            result = call(engine, ctx, owner)
        except TLSError:
            result = _RAISED
        except Exception as exc:
            pytest.fail(f"{name} on a {before.value} engine leaked "
                        f"{type(exc).__module__}.{type(exc).__qualname__}: {exc!r}")
    if accepts is None:
        assert result is _RAISED, f"{name} on a {before.value} engine returned {result!r}, not a TLSError"
    else:
        assert result is _RAISED or accepts(result), f"{name} on a {before.value} engine returned {result!r}"
    assert engine.state in (State.CLOSED, State.BROKEN), \
        f"{name} moved a {before.value} engine to {engine.state.value}"
    if name == "close":
        assert engine.state is before
