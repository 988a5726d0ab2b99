"""The ClientHello parser: real hellos from openssl, node and Python, every split, and fuzzing."""
from __future__ import annotations

import dataclasses
import itertools
import shutil
import socket
import ssl
import struct
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
import trustme
from hypothesis import HealthCheck, given, settings, strategies as st

from greentls._base.errors import TLSError
from greentls._parse.clienthello import (
    MAX_CLIENT_HELLO_SIZE,
    ClientHello,
    ClientHelloError,
    ClientHelloParser,
    ClientHelloTooLargeError,
    NotTLSError,
    parse_client_hello,
)

OPENSSL = shutil.which("openssl")
NODE = shutil.which("node")
FUZZ = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
TIMEOUT = 20.0

# --- building hellos by hand ------------------------------------------------------------


def vec(prefix: int, data: bytes) -> bytes:
    """A TLS vector: ``prefix`` length bytes, then ``data``."""
    return len(data).to_bytes(prefix, "big") + data


def ext(ext_type: int, data: bytes) -> bytes:
    """One extension: type, then its data as a 2-byte vector."""
    return struct.pack(">H", ext_type) + vec(2, data)


def sni(name: bytes, name_type: int = 0) -> bytes:
    """A server_name extension with one name."""
    return ext(0, vec(2, bytes([name_type]) + vec(2, name)))


def alpn(*names: bytes) -> bytes:
    """An ALPN extension."""
    return ext(16, vec(2, b"".join(vec(1, n) for n in names)))


def psk(identities: list[bytes], binders: int) -> bytes:
    """A pre_shared_key extension with ``binders`` 32-byte binders."""
    ids = b"".join(vec(2, i) + b"\0\0\0\1" for i in identities)
    return ext(41, vec(2, ids) + vec(2, vec(1, b"B" * 32) * binders))


DEFAULT_EXTS = (sni(b"example.com") + ext(43, vec(1, b"\x03\x04\x03\x03"))
                + ext(10, vec(2, b"\x00\x1d\x00\x17")) + ext(13, vec(2, b"\x04\x03\x08\x04"))
                + alpn(b"h2", b"http/1.1"))


def body(exts: bytes | None = DEFAULT_EXTS, session_id: bytes = b"", suites: bytes = b"\x13\x01",
         comp: bytes = b"\x00") -> bytes:
    """A ClientHello body; ``exts=None`` leaves the extensions block out."""
    out = b"\x03\x03" + b"R" * 32 + vec(1, session_id) + vec(2, suites) + vec(1, comp)
    return out if exts is None else out + vec(2, exts)


def handshake(hello_body: bytes, msg_type: int = 1) -> bytes:
    """A handshake message: type, 3-byte length, body."""
    return bytes([msg_type]) + len(hello_body).to_bytes(3, "big") + hello_body


def records(data: bytes, sizes: tuple[int, ...] = (), version: int = 0x0301, content_type: int = 22) -> bytes:
    """``data`` in TLS records, the first ones of ``sizes`` bytes, the rest of at most 2^14."""
    out, pos = [], 0
    sizes_iter = iter(sizes)
    while pos < len(data):
        size = next(sizes_iter, 2 ** 14)
        out.append(struct.pack(">BHH", content_type, version, len(data[pos:pos + size])) + data[pos:pos + size])
        pos += size
    return b"".join(out)


def hello(**kwargs: object) -> bytes:
    """A complete valid ClientHello in one record; kwargs go to ``body``."""
    return records(handshake(body(**kwargs)))  # type: ignore[arg-type]


def big_body(pad: int) -> bytes:
    """A valid body of about ``pad`` bytes more than usual: many suites, then a padding extension."""
    suites = min(pad // 2, 0x7FFF)
    return body(DEFAULT_EXTS + ext(21, b"\0" * (pad - 2 * suites)), suites=b"\x00\x2f" * suites)


#: The largest ``pad`` big_body can make (its padding extension fills the extensions block).
BIGGEST_PAD = 130998


def big_hello(pad: int) -> bytes:
    """``big_body(pad)`` in records."""
    return records(handshake(big_body(pad)))


def feed_all(chunks: list[bytes], max_size: int = MAX_CLIENT_HELLO_SIZE) -> ClientHello | str | None:
    """Feed chunks; the hello, None, or "error" for a ClientHelloError (anything else escapes)."""
    parser = ClientHelloParser(max_size)
    result = None
    try:
        for chunk in chunks:
            result = parser.feed(chunk)
    except ClientHelloError:
        return "error"
    return result


def reframe(data: bytes, sizes: tuple[int, ...], version: int = 0x0301) -> bytes:
    """Take the handshake bytes out of ``data``'s records and frame them in records of ``sizes``."""
    payload, pos = b"", 0
    while pos < len(data):
        length = int.from_bytes(data[pos + 3:pos + 5], "big")
        payload += data[pos + 5:pos + 5 + length]
        pos += 5 + length
    return records(payload, sizes, version)


# --- capturing real hellos --------------------------------------------------------------


def hello_complete(data: bytes) -> bool:
    """Independent of the parser: do ``data``'s records hold a whole first handshake message?"""
    payload, pos = b"", 0
    while pos + 5 <= len(data):
        length = int.from_bytes(data[pos + 3:pos + 5], "big")
        if pos + 5 + length > len(data):
            return False
        payload += data[pos + 5:pos + 5 + length]
        pos += 5 + length
        if len(payload) >= 4 and len(payload) >= 4 + int.from_bytes(payload[1:4], "big"):
            return True
    return False


def capture(start_client: Callable[[int], Callable[[], str]]) -> tuple[bytes, str]:
    """Listen on 127.0.0.1, start a client at it, read its hello, close; (hello, client output)."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(TIMEOUT)
        finish = start_client(listener.getsockname()[1])
        conn, _ = listener.accept()
        with conn:
            conn.settimeout(TIMEOUT)
            data = b""
            while not hello_complete(data):
                chunk = conn.recv(65536)
                assert chunk, f"client closed after {len(data)} bytes"
                data += chunk
    return data, finish()


def run_process(args: list[str]) -> Callable[[int], Callable[[], str]]:
    """A ``start_client`` for ``capture`` that runs ``args`` with ``{port}`` filled in."""
    def start(port: int) -> Callable[[], str]:
        proc = subprocess.Popen([a.replace("{port}", str(port)) for a in args], stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)

        def finish() -> str:
            try:
                return proc.communicate(timeout=TIMEOUT)[0]
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
        return finish
    return start


def python_client(ctx: ssl.SSLContext, session: ssl.SSLSession | None = None) -> Callable[[int], Callable[[], str]]:
    """A ``start_client`` for ``capture``: stdlib ``ssl`` connecting in a thread."""
    def start(port: int) -> Callable[[], str]:
        def run() -> None:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as raw:
                    ctx.wrap_socket(raw, server_hostname="py.example", session=session).close()
            except OSError:
                pass  # the capture side closes without answering
        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        return lambda: (thread.join(TIMEOUT), "")[1]
    return start


class TLSServer:
    """A stdlib TLS server that answers each connection with one line, then close_notify."""

    def __init__(self, cert: trustme.LeafCert):
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        cert.configure_cert(self.ctx)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(TIMEOUT)
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
                with self.ctx.wrap_socket(conn, server_side=True) as tls:
                    tls.sendall(b"hi\n")
                    tls.unwrap()
            except OSError:
                if self.listener.fileno() == -1:
                    return


def openssl_ticket(session_file: Path) -> bytes:
    """The ticket in an ``openssl s_client -sess_out`` file, from ``openssl sess_id -text``."""
    text = subprocess.run([OPENSSL, "sess_id", "-in", str(session_file), "-noout", "-text"],  # type: ignore[list-item]
                          capture_output=True, text=True, check=True).stdout
    dump = text.split("TLS session ticket:\n", 1)[1]
    ticket = b""
    for line in dump.splitlines():
        if " - " not in line:
            break
        ticket += bytes.fromhex(line.split(" - ", 1)[1][:48].replace("-", " "))
    return ticket


NODE_CLIENT = r"""
const tls = require('tls'), fs = require('fs');
const [key, cert, capPort, version] = process.argv.slice(1);
const server = tls.createServer({key: fs.readFileSync(key), cert: fs.readFileSync(cert)},
                                (s) => s.end('hi\n'));
server.listen(0, '127.0.0.1', () => {
  let session = null, ticket = null;
  const first = tls.connect({port: server.address().port, host: '127.0.0.1', maxVersion: version,
                             servername: 'node.example', rejectUnauthorized: false});
  first.on('session', (s) => { session = s; ticket = first.getTLSTicket(); });
  first.on('data', () => {});
  first.on('close', () => {
    server.close();
    console.log(ticket.toString('hex'));
    const c = tls.connect({port: +capPort, host: '127.0.0.1', servername: 'node.example',
                           ALPNProtocols: ['h2', 'http/1.1'], requestOCSP: true, session,
                           maxVersion: version, rejectUnauthorized: false});
    c.on('error', () => process.exit(0));
    c.on('close', () => process.exit(0));
  });
});
"""


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[bytes, str]]:
    """Real ClientHellos (and what their client printed), captured once for the module."""
    if OPENSSL is None or NODE is None:
        pytest.skip("needs the openssl and node command-line tools")
    ca = trustme.CA()
    leaf = ca.issue_cert("localhost")
    server = TLSServer(leaf)
    tmp = tmp_path_factory.mktemp("hellos")
    key, cert = tmp / "key.pem", tmp / "cert.pem"
    leaf.private_key_pem.write_to_path(str(key))
    leaf.cert_chain_pems[0].write_to_path(str(cert))
    s_client = [OPENSSL, "s_client", "-connect", "127.0.0.1:{port}"]
    out: dict[str, tuple[bytes, str]] = {}
    try:
        for version in ("tls1_3", "tls1_2"):
            opts = ["-servername", "openssl.example", "-alpn", "h2,http/1.1", "-status", f"-{version}"]
            out[f"openssl-{version}"] = capture(run_process(s_client + opts))
            sess = tmp / f"{version}.pem"
            subprocess.run([OPENSSL, "s_client", "-connect", f"127.0.0.1:{server.port}", f"-{version}",
                            "-ign_eof", "-sess_out", str(sess)], stdin=subprocess.DEVNULL,
                           capture_output=True, timeout=TIMEOUT, check=True)
            data, _ = capture(run_process(s_client + opts + ["-sess_in", str(sess)]))
            out[f"openssl-resume-{version}"] = (data, openssl_ticket(sess).hex())
        for version in ("TLSv1.3", "TLSv1.2"):
            out[f"node-{version}"] = capture(run_process(
                [NODE, "-e", NODE_CLIENT, str(key), str(cert), "{port}", version]))
        ctx = ssl.create_default_context()
        ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
        ctx.set_alpn_protocols(["h2", "http/1.1"])
        out["python"] = capture(python_client(ctx))
        with ctx.wrap_socket(socket.create_connection(("127.0.0.1", server.port)), server_hostname="py.example") as tls:
            tls.recv(10)  # the server's line comes after the TLS 1.3 tickets
            session = tls.session
        out["python-resume"] = capture(python_client(ctx, session))
    finally:
        server.listener.close()
    return out


NAMES = ["openssl-tls1_3", "openssl-tls1_2", "openssl-resume-tls1_3", "openssl-resume-tls1_2",
         "node-TLSv1.3", "node-TLSv1.2", "python", "python-resume"]

# --- real hellos ------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_real_hello_common_fields(real: dict[str, tuple[bytes, str]], name: str) -> None:
    """Every real hello parses whole, with its size, the random, suites and extension order."""
    data, _ = real[name]
    parsed = parse_client_hello(data)
    assert parsed.size == len(data)
    assert parsed.record_version >> 8 == 3 and parsed.legacy_version == 0x0303
    assert len(parsed.random) == 32 and parsed.compression_methods == b"\x00"
    assert parsed.supported_groups and parsed.signature_algorithms
    assert len(set(parsed.extensions)) == len(parsed.extensions)
    if "1_2" in name or "1.2" in name:
        assert 0x0304 not in parsed.supported_versions and 0xC02F in parsed.cipher_suites
    else:  # s_client -tls1_3 offers TLS 1.3 only; node and Python 1.3 and 1.2
        assert parsed.supported_versions[0] == 0x0304 and 0x1301 in parsed.cipher_suites


@pytest.mark.parametrize("version", ["tls1_3", "tls1_2"])
def test_openssl_hello(real: dict[str, tuple[bytes, str]], version: str) -> None:
    """openssl s_client's -servername, -alpn and -status show up as parsed fields."""
    parsed = parse_client_hello(real[f"openssl-{version}"][0])
    assert parsed.server_name == "openssl.example"
    assert parsed.alpn_protocols == (b"h2", b"http/1.1")
    assert parsed.status_request is True
    assert parsed.session_ticket == b"" and not parsed.has_pre_shared_key
    assert parsed.psk_identities == ()


def test_openssl_resumption_tls13(real: dict[str, tuple[bytes, str]]) -> None:
    """s_client -sess_in under TLS 1.3 offers its saved ticket as the pre_shared_key identity."""
    data, ticket = real["openssl-resume-tls1_3"]
    parsed = parse_client_hello(data)
    assert parsed.has_pre_shared_key and parsed.extensions[-1] == 41
    assert parsed.psk_identities == (bytes.fromhex(ticket),)


def test_openssl_resumption_tls12(real: dict[str, tuple[bytes, str]]) -> None:
    """s_client -tls1_2 -sess_in sends its saved ticket in the session_ticket extension."""
    data, ticket = real["openssl-resume-tls1_2"]
    parsed = parse_client_hello(data)
    assert parsed.session_ticket == bytes.fromhex(ticket) != b""
    assert not parsed.has_pre_shared_key and parsed.server_name == "openssl.example"


@pytest.mark.parametrize("version", ["TLSv1.3", "TLSv1.2"])
def test_node_hello(real: dict[str, tuple[bytes, str]], version: str) -> None:
    """tls.connect's servername, ALPNProtocols, requestOCSP and session show up as parsed fields."""
    data, printed = real[f"node-{version}"]
    parsed = parse_client_hello(data)
    ticket = bytes.fromhex(printed.strip())
    assert parsed.server_name == "node.example"
    assert parsed.alpn_protocols == (b"h2", b"http/1.1")
    assert parsed.status_request is True
    if version == "TLSv1.3":
        assert parsed.psk_identities == (ticket,) and parsed.extensions[-1] == 41
    else:
        assert parsed.session_ticket == ticket and not parsed.has_pre_shared_key


def test_python_hello(real: dict[str, tuple[bytes, str]]) -> None:
    """The stdlib ssl client's server_hostname and ALPN list show up; it asks for no OCSP."""
    parsed = parse_client_hello(real["python"][0])
    assert parsed.server_name == "py.example"
    assert parsed.alpn_protocols == (b"h2", b"http/1.1")
    assert parsed.status_request is False and not parsed.has_pre_shared_key


def test_python_resumption(real: dict[str, tuple[bytes, str]]) -> None:
    """The stdlib ssl client's session= offers one TLS 1.3 ticket as a pre_shared_key."""
    parsed = parse_client_hello(real["python-resume"][0])
    assert parsed.has_pre_shared_key and len(parsed.psk_identities) == 1
    assert len(parsed.psk_identities[0]) > 32


@pytest.mark.parametrize("name", NAMES)
def test_real_hello_is_a_plain_dataclass_instance(real: dict[str, tuple[bytes, str]], name: str) -> None:
    """The parser's ClientHello is the one its constructor makes: the same fields in order, the
    same types, equality, hash and repr (the parser fills ``__dict__`` directly, for speed)."""
    parsed = parse_client_hello(real[name][0])
    fields = [field.name for field in dataclasses.fields(ClientHello)]
    assert list(vars(parsed)) == fields
    built = ClientHello(**{field: getattr(parsed, field) for field in fields})
    assert list(vars(built)) == fields and vars(built) == vars(parsed)
    assert parsed == built and hash(parsed) == hash(built) and repr(parsed) == repr(built)
    assert dataclasses.replace(parsed) == parsed
    with pytest.raises(dataclasses.FrozenInstanceError):
        parsed.size = 0  # type: ignore[misc]
    for value in (parsed.random, parsed.session_id, parsed.compression_methods,
                  *parsed.psk_identities, *(parsed.alpn_protocols or ())):
        assert type(value) is bytes


@pytest.mark.parametrize("name", NAMES)
def test_one_piece_and_general_path_agree(real: dict[str, tuple[bytes, str]], name: str) -> None:
    """A whole hello fed as bytes in one piece (parsed in place) gives what the record-joining
    path gives for a bytearray, a memoryview or two pieces, with bytes values in every case."""
    data, _ = real[name]
    whole = ClientHelloParser().feed(data)
    assert whole is not None
    for chunks in ([bytearray(data)], [memoryview(data)], [data[:1], data[1:]], [b"", data]):
        parser = ClientHelloParser()
        results = [parser.feed(chunk) for chunk in chunks]
        assert results[-1] == whole and parser.buffered == data
        assert type(results[-1].random) is bytes and type(results[-1].session_id) is bytes


# --- splits and fragmentation -----------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_real_hello_every_split(real: dict[str, tuple[bytes, str]], name: str) -> None:
    """One byte at a time, or cut in two anywhere, a real hello parses exactly as in one piece."""
    data, _ = real[name]
    whole = parse_client_hello(data)
    parser = ClientHelloParser()
    results = [parser.feed(data[i:i + 1]) for i in range(len(data))]
    assert results[:-1] == [None] * (len(data) - 1) and results[-1] == whole
    for cut in range(len(data)):
        parser = ClientHelloParser()
        assert parser.feed(data[:cut]) is None
        assert parser.feed(data[cut:]) == whole and parser.buffered == data


@pytest.mark.parametrize("name", NAMES)
def test_real_hello_truncated_is_incomplete(real: dict[str, tuple[bytes, str]], name: str) -> None:
    """Every proper prefix of a real hello asks for more bytes; none is an error."""
    data, _ = real[name]
    assert all(ClientHelloParser().feed(data[:cut]) is None for cut in range(len(data)))
    with pytest.raises(ClientHelloError, match="incomplete"):
        parse_client_hello(data[:-1])


@FUZZ
@given(name=st.sampled_from(NAMES), cuts=st.lists(st.integers(0, 3000), max_size=20))
def test_real_hello_random_chunks(real: dict[str, tuple[bytes, str]], name: str, cuts: list[int]) -> None:
    """A real hello cut into random chunks parses exactly as in one piece."""
    data, _ = real[name]
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    assert feed_all([data[a:b] for a, b in itertools.pairwise(points)]) == parse_client_hello(data)


@FUZZ
@given(name=st.sampled_from(NAMES), sizes=st.lists(st.integers(1, 2 ** 14), min_size=1, max_size=40),
       version=st.sampled_from([0x0300, 0x0301, 0x0303]))
def test_real_hello_fragmented_records(real: dict[str, tuple[bytes, str]], name: str, sizes: list[int],
                                       version: int) -> None:
    """A real hello re-framed over several records (RFC 8446 s5.1) parses to the same fields."""
    data, _ = real[name]
    framed = reframe(data, tuple(sizes), version)
    expected = dataclasses.replace(parse_client_hello(data), size=len(framed), record_version=version)
    assert feed_all([framed[i:i + 7] for i in range(0, len(framed), 7)]) == expected


def test_hello_then_more_bytes() -> None:
    """Bytes after the hello are buffered, not consumed: size counts the hello's records only."""
    data = records(handshake(body()), (40, 30))
    after = b"\x14\x03\x03\x00\x01\x01" + b"\x17\x03\x03\x00\x02hi"
    parser = ClientHelloParser()
    parsed = parser.feed(data + after)
    assert parsed is not None and parsed.size == len(data)
    assert parser.buffered == data + after
    assert parser.feed(b"more") is parsed and parser.buffered.endswith(b"more")


def test_last_record_holds_more_handshake_data() -> None:
    """When the hello's last record carries more handshake bytes, size is the whole record."""
    message = handshake(body())
    data = records(message + handshake(b"xyz", msg_type=20), (30,))
    parsed = parse_client_hello(data)
    assert parsed.size == len(data) and parsed.server_name == "example.com"


def test_handshake_header_split_over_records() -> None:
    """Records of 1 byte each, so even the 4-byte handshake header spans records, parse."""
    data = records(handshake(body()), (1,) * 600)
    assert parse_client_hello(data).alpn_protocols == (b"h2", b"http/1.1")


def test_defaults_without_extensions() -> None:
    """A hello with no extensions block (RFC 5246 s7.4.1.2) has every optional field empty."""
    parsed = parse_client_hello(hello(exts=None, session_id=b"S" * 32, suites=b"\x00\x2f\x00\xff"))
    assert parsed == ClientHello(
        record_version=0x0301, legacy_version=0x0303, random=b"R" * 32, session_id=b"S" * 32,
        cipher_suites=(0x2F, 0xFF), compression_methods=b"\x00", server_name=None, alpn_protocols=None,
        status_request=False, session_ticket=None, has_pre_shared_key=False, psk_identities=(),
        psk_modes=b"", supported_versions=(), supported_groups=(), signature_algorithms=(), extensions=(),
        size=len(hello(exts=None, session_id=b"S" * 32, suites=b"\x00\x2f\x00\xff")))


def test_optional_extensions() -> None:
    """status_request of an unknown type is ignored; an empty session_ticket is b""; PSKs read."""
    exts = ext(5, b"\x07") + ext(35, b"") + ext(0xFE0D, b"ech") + ext(45, b"\x02\x00\x01") + psk([b"t1", b"t2"], 2)
    parsed = parse_client_hello(hello(exts=exts))
    assert parsed.status_request is False and parsed.session_ticket == b""
    assert parsed.psk_identities == (b"t1", b"t2") and parsed.extensions == (5, 35, 0xFE0D, 45, 41)
    assert parsed.psk_modes == b"\x00\x01"
    assert parse_client_hello(hello(exts=ext(45, b"\x05\x01"))).psk_modes == b""  # malformed: none


# --- errors -----------------------------------------------------------------------------

# Each is refused by OpenSSL 3.0 and 4.0 too, whatever their state (the hellos OpenSSL may
# accept, which the parser must accept, are in tests/test_clienthello_leniency.py).
BAD = {
    "duplicate extension 16": DEFAULT_EXTS + alpn(b"h2"),
    "duplicate extension 0": DEFAULT_EXTS + sni(b"example.com"),
    "name_type 1 is not host_name": sni(b"example.com", name_type=1),
    "one host_name allowed": ext(0, vec(2, b"\0" + vec(2, b"a.example") + b"\0" + vec(2, b"b.example"))),
    "unexpected bytes at the end of server_name list": ext(0, vec(2, b"\0" + vec(2, b"a.example")) + b"x"),
    "server_name list length 0": ext(0, vec(2, b"")),
    "ALPN protocol name length 0": alpn(b"h2", b""),
    "ALPN protocol_name_list length 0": ext(16, vec(2, b"")),
    "truncated ALPN protocol name": ext(16, vec(2, b"\x05h2")),
    "unexpected bytes at the end of ALPN protocol_name_list": ext(16, vec(2, vec(1, b"h2")) + b"x"),
    "pre_shared_key is not the last": psk([b"t"], 1) + ext(35, b""),
    "supported_versions length 3 is odd": ext(43, vec(1, b"\x03\x04\x03")),
    "supported_versions length 0": ext(43, vec(1, b"")),
    "signature_algorithms length 0": ext(13, vec(2, b"")),
    "truncated extension 255 data": struct.pack(">HH", 0xFF, 10) + b"abc",
    "unexpected bytes at the end of supported_groups": ext(10, vec(2, b"\x00\x1d") + b"!"),
}


@pytest.mark.parametrize("message", list(BAD))
def test_bad_extensions(message: str) -> None:
    """A malformed extension raises ClientHelloError naming what was wrong."""
    with pytest.raises(ClientHelloError, match=message.strip()) as info:
        parse_client_hello(hello(exts=BAD[message]))
    assert info.value.code == "ERR_TLS_INVALID_CLIENT_HELLO" and isinstance(info.value, TLSError)


BAD_FRAMING = {
    "handshake message type 2 is not client_hello": records(handshake(body(), msg_type=2)),
    "more than 32 zero-length records": struct.pack(">BHH", 22, 0x0301, 0) * 33 + records(handshake(body())),
    "record length 16385 exceeds 2": struct.pack(">BHH", 22, 0x0301, 2 ** 14 + 1),
    "record version 0x02": struct.pack(">BHH", 22, 0x0200, 10),
    "content type 21 \\(alert\\) interrupts": records(handshake(body())[:20]) + b"\x15\x03\x03\x00\x02\x02\x28",
    "cipher_suites length 3 is odd": hello(suites=b"\x13\x01\x13"),
    "cipher_suites length 0": hello(suites=b""),
    "legacy_session_id length 33": hello(session_id=b"s" * 33),
    "compression_methods length 0": hello(comp=b""),
    "bytes after extensions": records(handshake(body() + b"junk")),
    "truncated random": records(handshake(b"\x03\x03" + b"R" * 10)),
}


@pytest.mark.parametrize("message", list(BAD_FRAMING))
def test_bad_framing(message: str) -> None:
    """Bad records, handshake headers or hello vectors raise ClientHelloError naming them."""
    with pytest.raises(ClientHelloError, match=message) as info:
        ClientHelloParser().feed(BAD_FRAMING[message])
    assert type(info.value) is ClientHelloError


@pytest.mark.parametrize(("data", "message"), [
    (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", "plain text starting 'G'"),
    (b"\x15\x03\x03\x00\x02\x02\x28", "alert record"),
    (b"\x00\x00", "not a TLS record"),
])
def test_not_tls_fails_on_first_byte(data: bytes, message: str) -> None:
    """A stream that does not start with a handshake record fails on its first byte."""
    parser = ClientHelloParser()
    with pytest.raises(NotTLSError, match=message) as info:
        parser.feed(data[:1])
    assert info.value.code == "ERR_TLS_INVALID_CLIENT_HELLO"
    with pytest.raises(NotTLSError):
        parser.feed(data[1:])  # broken for good


@pytest.mark.parametrize(("data", "message"), [
    (b"\x80\x2e\x01\x00\x02\x00\x15\x00\x00\x00\x10", "an SSLv2 ClientHello"),
    (b"\x80\x2e\x04\x03\x01\x00\x15\x00\x00\x00\x10", "SSLv2 record that is not a ClientHello"),
])
def test_sslv2_fails_on_its_header(data: bytes, message: str) -> None:
    """A real SSLv2 hello, or another SSLv2 message, fails by its fourth byte."""
    parser = ClientHelloParser()
    assert parser.feed(data[:2]) is None
    with pytest.raises(NotTLSError, match=message):
        parser.feed(data[2:4])


def test_too_large() -> None:
    """Hellos needing more than max_size bytes of records fail as soon as a header shows it."""
    huge_header = records(b"\x01\xff\xff\xff" + b"x" * 100)
    with pytest.raises(ClientHelloTooLargeError) as info:
        ClientHelloParser().feed(huge_header)
    assert info.value.code == "ERR_TLS_CLIENT_HELLO_TOO_LARGE"
    padded = records(b"\x01" + (131397).to_bytes(3, "big") + b"\x03\x03" + b"\x00" * 20000)
    with pytest.raises(ClientHelloTooLargeError):
        ClientHelloParser().feed(padded[:2 ** 14 + 5])
    exact = hello()
    assert ClientHelloParser(len(exact)).feed(exact) is not None
    with pytest.raises(ClientHelloTooLargeError):
        ClientHelloParser(len(exact) - 1).feed(exact[:5])
    with pytest.raises(ClientHelloTooLargeError):
        ClientHelloParser(100).feed(records(handshake(body()), (10,) * 20)[:96])


def _refused(check, data: bytes) -> bool:
    try:
        check(data)
    except ClientHelloTooLargeError as exc:
        assert exc.code == "ERR_TLS_CLIENT_HELLO_TOO_LARGE"  # noqa: PT017 (a helper, not a test)
        return True
    return False


def test_max_size_argument() -> None:
    """max_size must be an int of at least 9."""
    with pytest.raises(TypeError, match="max_size"):
        ClientHelloParser("1")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_size"):
        ClientHelloParser(8)


def test_limit_is_openssls() -> None:
    """The largest ClientHello OpenSSL takes (a 131396-byte body, CLIENT_HELLO_MAX_LENGTH) in
    full records parses; one byte more is refused, as OpenSSL refuses it."""
    assert MAX_CLIENT_HELLO_SIZE == 4 + 131396 + 9 * 5
    largest = (b"\x03\x03" + b"\x01" * 32 + b"\x20" + b"\x02" * 32  # version, random, session id
               + b"\xff\xfe" + b"\x00\x2f" * 32767                   # 65534 bytes of suites
               + b"\xff" + b"\x00" * 255                               # 255 compression methods
               + b"\xff\xff" + ext(21, b"\x00" * 65531))               # 65535 bytes of extensions
    assert len(largest) == 131396
    hello = ClientHelloParser().feed(records(handshake(largest)))
    assert hello is not None and hello.size == MAX_CLIENT_HELLO_SIZE
    too_large = records(handshake(largest + b"\x00"))
    assert _refused(ClientHelloParser().feed, too_large)


# --- property tests ---------------------------------------------------------------------


@FUZZ
@given(data=st.binary(max_size=400),
       prefix=st.sampled_from([b"", b"\x16", b"\x16\x03\x01", b"\x16\x03\x03\x01\x00\x01"]))
def test_random_bytes_never_leak(data: bytes, prefix: bytes) -> None:
    """Random bytes yield a hello, None, or ClientHelloError, never another exception."""
    feed_all([prefix + data])


@FUZZ
@given(payload=st.binary(max_size=600), sizes=st.lists(st.integers(1, 300), max_size=5))
def test_random_body_in_valid_framing(payload: bytes, sizes: list[int]) -> None:
    """A random hello body in well-formed records parses or raises ClientHelloError, never None."""
    assert feed_all([records(handshake(payload), tuple(sizes))]) is not None


@FUZZ
@given(exts=st.lists(st.tuples(st.sampled_from([0, 5, 10, 13, 16, 35, 41, 43, 21]), st.binary(max_size=40)),
                     max_size=8))
def test_random_known_extensions(exts: list[tuple[int, bytes]]) -> None:
    """Random contents for the extensions the parser reads never leak another exception."""
    feed_all([hello(exts=b"".join(ext(t, d) for t, d in exts))])


@FUZZ
@given(name=st.sampled_from(NAMES), edits=st.lists(st.tuples(st.integers(0, 3000), st.integers(0, 255)),
                                                   min_size=1, max_size=8), cut=st.integers(0, 3000))
def test_mutated_real_hellos(real: dict[str, tuple[bytes, str]], name: str,
                             edits: list[tuple[int, int]], cut: int) -> None:
    """Real hellos with bytes changed, fed in two pieces, never leak another exception."""
    data = bytearray(real[name][0])
    for pos, value in edits:
        data[pos % len(data)] = value
    cut %= len(data) + 1
    feed_all([bytes(data[:cut]), bytes(data[cut:])])


@FUZZ
@given(name=st.sampled_from(NAMES), cut=st.integers(0, 3000), chunk=st.integers(1, 64))
def test_truncated_real_hellos(real: dict[str, tuple[bytes, str]], name: str, cut: int, chunk: int) -> None:
    """A real hello cut short and fed in chunks asks for more bytes."""
    data = real[name][0][:cut % len(real[name][0])]
    assert feed_all([data[i:i + chunk] for i in range(0, len(data), chunk)]) is None


@FUZZ
@given(pad=st.integers(MAX_CLIENT_HELLO_SIZE - 3000, BIGGEST_PAD),
       sizes=st.lists(st.integers(100, 2 ** 14), max_size=80))
def test_oversized_hellos(pad: int, sizes: list[int]) -> None:
    """A hello padded past the limit parses only if its records fit, else raises TooLarge."""
    data = records(handshake(big_body(pad)), tuple(sizes))
    parser = ClientHelloParser()
    try:
        result = parser.feed(data)
    except ClientHelloTooLargeError:
        assert len(data) > MAX_CLIENT_HELLO_SIZE
    else:
        assert result is not None and result.size == len(data) <= MAX_CLIENT_HELLO_SIZE
