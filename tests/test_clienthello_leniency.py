"""The ClientHello parser is at least as lenient as OpenSSL: every hello OpenSSL 4.0 (pyOpenSSL's)
or 3.0 (the stdlib ssl module's) serves, the parser reads, with the server name OpenSSL reads.

A hello the parser refused got no SNI decision, so a hello it refuses but OpenSSL serves is a way
round the server's SNI policy.  Each leniency below is a regression test with the bytes built
here, and the differential tests feed them, and random variations, to real OpenSSL servers over
memory BIOs: whenever OpenSSL gets past the hello (its servername callback runs), the parser must
have parsed it, and found the name OpenSSL reports.
"""
from __future__ import annotations

import dataclasses
import ssl
import struct
import sys
import warnings
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings, strategies as st
from OpenSSL import SSL
from test_clienthello import body, ext, handshake, psk, sni, vec

from greentls._parse.clienthello import (
    MAX_EMPTY_RECORDS,
    ClientHello,
    ClientHelloError,
    ClientHelloParser,
    NotTLSError,
    parse_client_hello,
)

DIFF = settings(max_examples=500, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture])

# --- hellos OpenSSL serves ----------------------------------------------------------------

# What a TLS 1.3 + 1.2 client offers, so that OpenSSL 3.0 and 4.0 can negotiate either with an
# ECDSA (trustme) certificate: versions, groups, schemes, an X25519 share, psk modes.
SV = ext(43, vec(1, b"\x03\x04\x03\x03"))
SG = ext(10, vec(2, b"\x00\x1d\x00\x17"))
SA = ext(13, vec(2, b"\x04\x03\x08\x04\x04\x01"))
KS = ext(51, vec(2, b"\x00\x1d" + vec(2, b"\x09" * 32)))
KM = ext(45, vec(1, b"\x01"))
TAIL = SV + SG + SA + KS + KM
TLS12_TAIL = SG + SA + ext(11, vec(1, b"\x00")) + ext(23, b"")
RESUMPTION_TAIL = SG + ext(11, vec(1, b"\x00")) + ext(23, b"")
SUITES = b"\x13\x01\x13\x02\xc0\x2b\xc0\x2c"


def hs(exts: bytes | None, version: bytes = b"\x03\x03", **kwargs: Any) -> bytes:
    """The handshake message of a ClientHello with these extensions, legacy_version and
    ``body`` kwargs (session_id, suites, comp)."""
    kwargs.setdefault("suites", SUITES)
    return handshake(version + body(exts=exts, **kwargs)[2:])


def rec(content_type: int, payload: bytes, version: int = 0x0301) -> bytes:
    """One TLS record, however long or empty."""
    return struct.pack(">BHH", content_type, version, len(payload)) + payload


def one(exts: bytes | None, **kwargs: Any) -> bytes:
    """A ClientHello in one record."""
    return rec(22, hs(exts, **kwargs))


def split(message: bytes, cut: int, middle: bytes) -> bytes:
    """``message`` in two handshake records, ``middle`` (more records) between them."""
    return rec(22, message[:cut]) + middle + rec(22, message[cut:])


def sslv2(version: int = 0x0303, specs: bytes = b"\x00\xc0\x2b\x00\x00\x2f\x01\x00\x80",
          session_id: bytes = b"", challenge: bytes = b"C" * 16, extra: bytes = b"") -> bytes:
    """An SSLv2-compatible ClientHello record (RFC 5246 appendix E.2)."""
    message = (b"\x01" + struct.pack(">HHHH", version, len(specs), len(session_id), len(challenge))
               + specs + session_id + challenge + extra)
    return struct.pack(">H", 0x8000 | len(message)) + message


EMPTY = rec(22, b"")
EMPTY_CCS = rec(20, b"")
MESSAGE = hs(sni(b"example.com") + TAIL)

# name: (bytes, the server name the parser must find; OpenSSL 4.0 and 3.0 serve them all but the
# SSLv2 hello, which only 3.0 serves).
LENIENT: dict[str, tuple[bytes, str | None]] = {
    "duplicate unknown extension": (one(sni(b"example.com") + ext(0x1234, b"") + ext(0x1234, b"x") + TAIL),
                                    "example.com"),
    "duplicate GREASE extension": (one(ext(0x0A0A, b"") + sni(b"example.com") + TAIL + ext(0x0A0A, b"\0")),
                                   "example.com"),
    "empty record first": (EMPTY + rec(22, MESSAGE), "example.com"),
    "32 empty records first": (EMPTY * MAX_EMPTY_RECORDS + rec(22, MESSAGE), "example.com"),
    "empty record in the header": (split(MESSAGE, 2, EMPTY), "example.com"),
    "empty record after the header": (split(MESSAGE, 4, EMPTY), "example.com"),
    "empty record before the last byte": (split(MESSAGE, len(MESSAGE) - 1, EMPTY * 3), "example.com"),
    "32 empty, a fragment, 32 empty": (EMPTY * 32 + split(MESSAGE, 3, EMPTY * 32), "example.com"),
    "empty change_cipher_spec first": (EMPTY_CCS + rec(22, MESSAGE), "example.com"),
    "empty change_cipher_spec in the header": (split(MESSAGE, 3, EMPTY_CCS), "example.com"),
    "empty records of both types": ((EMPTY_CCS + EMPTY) * 16 + rec(22, MESSAGE), "example.com"),
    "record versions differ": (rec(22, MESSAGE[:20], 0x0300) + rec(22, MESSAGE[20:], 0x03FF), "example.com"),
    "host name with a trailing space": (one(sni(b"example.com ") + TAIL), "example.com "),
    "host name with a control byte": (one(sni(b"exa\x01mple.com") + TAIL), "exa\x01mple.com"),
    "host name in UTF-8": (one(sni("exämple.com".encode()) + TAIL), "exämple.com".encode().decode("latin-1")),
    "host name in latin-1": (one(sni(b"ex\xe4mple.com") + TAIL), "ex\xe4mple.com"),
    "host name with DEL and 0xff": (one(sni(b"a\x7f\xff") + TAIL), "a\x7f\xff"),
    "empty host name": (one(sni(b"") + TAIL), ""),
    "255-byte host name": (one(sni(b"a" * 255) + TAIL), "a" * 255),
    "status_request of an unknown type": (one(sni(b"example.com") + ext(5, b"\x02junk") + TAIL), "example.com"),
    "odd signature_algorithms, TLS 1.0": (one(sni(b"example.com") + SG + ext(13, vec(2, b"\x04\x03\x08")),
                                              version=b"\x03\x01", suites=b"\xc0\x0a\xc0\x09"), "example.com"),
    "pre_shared_key without psk modes": (one(sni(b"example.com") + SV + SG + SA + KS + ext(41, b"\x00")),
                                         "example.com"),
    "pre_shared_key in a TLS 1.2 hello": (one(sni(b"example.com") + TLS12_TAIL + ext(41, b"junk")),
                                          "example.com"),
    "no extensions": (one(None), None),
    "legacy_version 0x03ff": (one(sni(b"example.com") + TAIL, version=b"\x03\xff"), "example.com"),
    "compression methods besides null": (one(sni(b"example.com") + TLS12_TAIL, comp=b"\x01\x00",
                                             suites=b"\xc0\x2b"), "example.com"),
    "SSLv2-compatible hello": (sslv2(), None),
    "SSLv2-compatible hello, 32-byte challenge": (sslv2(challenge=bytes(range(40)), session_id=b"S" * 32), None),
}

# Refused by OpenSSL on a full handshake, served when it resumes a TLS 1.2 session (it reads no
# host name then, and ignores status_request): the parser accepts them (see the resumption tests).
ON_RESUMPTION: dict[str, tuple[bytes, str]] = {
    "NUL in the host name": (sni(b"evil\0.example"), "evil\0.example"),
    "256-byte host name": (sni(b"a" * 256), "a" * 256),
    "status_request without a body": (sni(b"other.example") + ext(5, b""), "other.example"),
    "status_request with trailing bytes": (sni(b"example.com") + ext(5, b"\x01\0\0\0\0x"), "example.com"),
    "status_request with a bad responder list": (sni(b"example.com") + ext(5, b"\x01\x00\x05junk"),
                                                 "example.com"),
    "odd signature_algorithms": (sni(b"example.com") + ext(13, vec(2, b"\x04\x03\x08")), "example.com"),
}

# Refused by OpenSSL 3.0 and 4.0, whatever their state: the parser refuses them too.
REFUSED: dict[str, bytes] = {
    "33 empty records": EMPTY * (MAX_EMPTY_RECORDS + 1) + rec(22, MESSAGE),
    "empty change_cipher_spec after the header": split(MESSAGE, 4, EMPTY_CCS),
    "change_cipher_spec first": rec(20, b"\x01") + rec(22, MESSAGE),
    "warning alert first": rec(21, b"\x01\x70") + rec(22, MESSAGE),
    "empty alert in the hello": split(MESSAGE, 2, rec(21, b"")),
    "empty application data first": rec(23, b"") + rec(22, MESSAGE),
    "record version 0x0200": rec(22, MESSAGE, 0x0200),
    "empty record of version 0x0200": rec(22, b"", 0x0200) + rec(22, MESSAGE),
    "record of 2^14 + 1 bytes": rec(22, hs(sni(b"example.com") + TAIL + ext(21, bytes(16385 - len(MESSAGE) - 4)))),
    "two host names": one(ext(0, vec(2, b"\0" + vec(2, b"a.example") + b"\0" + vec(2, b"b.example"))) + TAIL),
    "bytes after the server_name list": one(ext(0, vec(2, b"\0" + vec(2, b"a.example")) + b"x") + TAIL),
    "name_type 1": one(sni(b"example.com", name_type=1) + TAIL),
    "duplicate server_name": one(sni(b"example.com") + sni(b"example.com") + TAIL),
    "duplicate ALPN": one(sni(b"example.com") + ext(16, vec(2, vec(1, b"h2"))) * 2 + TAIL),
    "duplicate psk_key_exchange_modes": one(sni(b"example.com") + TAIL + KM),
    "pre_shared_key not last": one(sni(b"example.com") + psk([b"t"], 1) + TAIL),
    "bytes after the ALPN list": one(sni(b"example.com") + ext(16, vec(2, vec(1, b"h2")) + b"x") + TAIL),
    "odd supported_groups": one(sni(b"example.com") + SV + ext(10, vec(2, b"\x00\x1d\x00")) + SA + KS + KM),
    "empty supported_versions": one(sni(b"example.com") + ext(43, vec(1, b"")) + SG + SA + KS + KM),
    "session id of 33 bytes": one(sni(b"example.com") + TAIL, session_id=b"s" * 33),
    "odd cipher_suites": one(sni(b"example.com") + TAIL, suites=b"\x13\x01\x13"),
    "no compression methods": one(sni(b"example.com") + TAIL, comp=b""),
    "a byte after the extensions": rec(22, handshake(body(exts=sni(b"example.com") + TAIL,
                                                          suites=SUITES) + b"\0")),
    "SSLv2 hello of SSLv2": sslv2(version=0x0002),
    "SSLv2-compatible hello with a 33-byte session id": sslv2(session_id=b"S" * 33),
    "SSLv2-compatible hello with a bad cipher_specs length": sslv2(specs=b"\x00\xc0\x2b\x00"),
    "SSLv2-compatible hello with trailing bytes": sslv2(extra=b"x"),
}


# --- real OpenSSL servers over memory BIOs --------------------------------------------------


@dataclasses.dataclass
class Verdict:
    """What an OpenSSL server made of a hello."""

    reached: bool  # the servername callback ran, or a ServerHello came out
    server_name: bytes | None = None  # SSL_get_servername in that callback
    alpn_offered: tuple[bytes, ...] | None = None  # the list the ALPN callback got, if it ran
    ocsp_asked: bool = False  # the OCSP status callback ran


def _server_hello(out: bytes) -> bool:
    return len(out) > 5 and out[0] == 22 and out[5] == 2


class OpenSSL4:
    """A pyOpenSSL server (OpenSSL 4.0 in the wheels) as permissive as it can be configured."""

    def __init__(self, cert: str, key: str, context: SSL.Context | None = None):
        self.ctx = context or SSL.Context(SSL.TLS_SERVER_METHOD)
        self.ctx.use_certificate_file(cert)
        self.ctx.use_privatekey_file(key)
        self.ctx.set_min_proto_version(SSL.TLS1_VERSION)
        self.ctx.set_cipher_list(b"ALL:@SECLEVEL=0")
        self.ctx.set_tlsext_servername_callback(self._servername)
        self.ctx.set_alpn_select_callback(self._alpn)
        self.ctx.set_ocsp_server_callback(self._ocsp)

    @staticmethod
    def _servername(conn: SSL.Connection) -> None:
        verdict = conn.get_app_data()
        verdict.reached, verdict.server_name = True, conn.get_servername()

    @staticmethod
    def _alpn(conn: SSL.Connection, offered: list) -> Any:
        conn.get_app_data().alpn_offered = tuple(offered)
        return SSL.NO_OVERLAPPING_PROTOCOLS

    def _ocsp(self, conn: SSL.Connection, data: Any) -> bytes:
        conn.get_app_data().ocsp_asked = True
        return b""

    def __call__(self, data: bytes) -> Verdict:
        verdict = Verdict(False)
        conn = SSL.Connection(self.ctx, None)
        conn.set_app_data(verdict)
        conn.set_accept_state()
        conn.bio_write(data)
        try:
            conn.do_handshake()
        except SSL.Error:  # WantReadError included
            pass
        try:
            verdict.reached |= _server_hello(conn.bio_read(65536))
        except SSL.WantReadError:
            pass
        # Freeing a connection that has not sent close_notify drops its session from the cache
        # (ssl_clear_bad_session): keep the session a resumption test resumes.
        conn.set_shutdown(SSL.SENT_SHUTDOWN)
        return verdict


class OpenSSL3:
    """A stdlib ssl server (the system's OpenSSL 3.0 here) as permissive as it can be configured."""

    def __init__(self, cert: str, key: str):
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(cert, key)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            self.ctx.minimum_version = ssl.TLSVersion.TLSv1
        self.ctx.set_ciphers("ALL:@SECLEVEL=0")
        self.ctx.sni_callback = self._servername
        self.verdict = Verdict(False)
        self.version = ssl.OPENSSL_VERSION

    def _servername(self, obj: Any, name: str | None, ctx: Any) -> None:
        self.verdict.reached = True
        self.verdict.server_name = None if name is None else name.encode("ascii")

    def __call__(self, data: bytes) -> Verdict:
        self.verdict = verdict = Verdict(False)
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        obj = self.ctx.wrap_bio(incoming, outgoing, server_side=True)
        incoming.write(data)
        # A name that is not ASCII makes _ssl.c's servername callback fail before it calls ours,
        # reporting the name's bytes as an unraisable exception: that is OpenSSL's name too.
        unraisable: list = []
        hook, sys.unraisablehook = sys.unraisablehook, unraisable.append
        try:
            obj.do_handshake()
        except ssl.SSLError:  # SSLWantReadError included
            pass
        finally:
            sys.unraisablehook = hook
        for report in unraisable:
            if isinstance(report.object, bytes):
                verdict.reached, verdict.server_name = True, report.object
        verdict.reached |= _server_hello(outgoing.read())
        return verdict


@pytest.fixture(scope="module")
def openssl4(cert_files: dict) -> OpenSSL4:
    """The pyOpenSSL server."""
    return OpenSSL4(str(cert_files["cert"]), str(cert_files["key"]))


@pytest.fixture(scope="module")
def openssl3(cert_files: dict) -> OpenSSL3:
    """The stdlib ssl server."""
    return OpenSSL3(str(cert_files["cert"]), str(cert_files["key"]))


def ours(data: bytes) -> ClientHello | None:
    """The parser's hello, or None when it refuses the bytes (or wants more)."""
    try:
        return ClientHelloParser().feed(data)
    except ClientHelloError:
        return None


def name_bytes(hello: ClientHello) -> bytes | None:
    """The parsed server name as the bytes SSL_get_servername gives."""
    return None if hello.server_name is None else hello.server_name.encode("latin-1")


def assert_lenient(data: bytes, verdict: Verdict) -> None:
    """Where OpenSSL got past the hello, the parser read it, with OpenSSL's name, ALPN list and
    OCSP request."""
    if not verdict.reached:
        return
    hello = ours(data)
    assert hello is not None, "OpenSSL served a hello the parser refuses"
    assert name_bytes(hello) == verdict.server_name
    if verdict.alpn_offered is not None:
        assert hello.alpn_protocols == verdict.alpn_offered
    if verdict.ocsp_asked:
        assert hello.status_request


def all_ways(data: bytes) -> ClientHello:
    """Parse ``data`` whole (the in-place path), as a bytearray, byte by byte and cut in two
    everywhere; every way must give the same hello."""
    whole = parse_client_hello(data)
    assert ClientHelloParser().feed(bytearray(data)) == whole
    parser = ClientHelloParser()
    results = [parser.feed(data[i:i + 1]) for i in range(len(data))]
    assert results[:-1] == [None] * (len(data) - 1) and results[-1] == whole
    for cut in range(0, len(data), max(1, len(data) // 40)):
        parser = ClientHelloParser()
        assert parser.feed(data[:cut]) is None and parser.feed(data[cut:]) == whole
    return whole


# --- the regression cases -----------------------------------------------------------------


@pytest.mark.parametrize("name", list(LENIENT))
def test_lenient_hello_parses(name: str) -> None:
    """Each hello OpenSSL serves parses, every way it can be fed, to the expected server name."""
    data, server_name = LENIENT[name]
    hello = all_ways(data)
    assert hello.server_name == server_name and hello.size == len(data)


@pytest.mark.parametrize("name", list(LENIENT))
def test_lenient_hello_served_by_openssl4(openssl4: OpenSSL4, name: str) -> None:
    """pyOpenSSL's OpenSSL serves each lenient case (not SSLv2), with the name the parser found."""
    data, _server_name = LENIENT[name]
    verdict = openssl4(data)
    assert verdict.reached is not name.startswith("SSLv2")
    assert_lenient(data, verdict)


@pytest.mark.parametrize("name", list(LENIENT))
def test_lenient_hello_served_by_openssl3(openssl3: OpenSSL3, name: str) -> None:
    """The stdlib's OpenSSL 3.0 serves each lenient case, with the name the parser found."""
    if not openssl3.version.startswith("OpenSSL 3.0"):
        pytest.skip(f"the stdlib links {openssl3.version}")
    data, _server_name = LENIENT[name]
    verdict = openssl3(data)
    assert verdict.reached
    assert_lenient(data, verdict)


@pytest.mark.parametrize("name", list(REFUSED))
def test_refused_hello_refused_by_all(openssl4: OpenSSL4, openssl3: OpenSSL3, name: str) -> None:
    """What the parser still refuses, both OpenSSLs refuse before their servername callback."""
    data = REFUSED[name]
    with pytest.raises(ClientHelloError):
        parse_client_hello(data)
    assert not openssl4(data).reached
    assert not openssl3(data).reached


def test_duplicate_extensions_all_listed() -> None:
    """extensions lists every extension in order, repeats included; the first of a type counts."""
    data = one(ext(0x1234, b"") + ext(5, b"\x01\0\0\0\0") + ext(0x1234, b"x") + ext(5, b"\x02") + SG)
    hello = parse_client_hello(data)
    assert hello.extensions == (0x1234, 5, 0x1234, 5, 10) and hello.status_request


def test_empty_records_count_in_size() -> None:
    """The skipped empty records are part of size; record_version is the first fragment's."""
    data = EMPTY + EMPTY_CCS + rec(22, MESSAGE[:10], 0x0302) + EMPTY + rec(22, MESSAGE[10:])
    hello = all_ways(data)
    assert hello.size == len(data) and hello.record_version == 0x0302
    assert hello == dataclasses.replace(parse_client_hello(rec(22, MESSAGE)), size=len(data),
                                        record_version=0x0302)


def test_too_many_empty_records_fail_early() -> None:
    """The 33rd empty record in a row fails as soon as its header is in."""
    parser = ClientHelloParser()
    assert parser.feed(EMPTY * MAX_EMPTY_RECORDS) is None
    with pytest.raises(ClientHelloError, match="more than 32 zero-length records"):
        parser.feed(EMPTY)


def test_change_cipher_spec_with_a_fragment_fails_on_its_header() -> None:
    """A change_cipher_spec record that is not empty fails once its length is in."""
    parser = ClientHelloParser()
    assert parser.feed(b"\x14\x03\x01\x00") is None
    with pytest.raises(NotTLSError, match="change_cipher_spec"):
        parser.feed(b"\x01")


# OpenSSL refuses NUL and overlong names only outside a TLS 1.2 resumption, so the parser keeps
# them: the SNI lookup sees the bytes OpenSSL sees.
def test_host_names_keep_every_byte() -> None:
    """Host names are their bytes decoded as latin-1, NUL and overlong ones included."""
    for raw in (b"", b" ", b"a.example ", b"\t\r\n", bytes(range(1, 256)), b"evil\0.example", b"a" * 300):
        assert parse_client_hello(one(sni(raw) + TAIL)).server_name == raw.decode("latin-1")


def test_malformed_status_request_asks_for_no_staple() -> None:
    """A status_request OpenSSL could only ignore (on a resumption) asks for no OCSP staple."""
    for data in (b"", b"\x01", b"\x01\x00\x05junk", b"\x01\0\0\0\0x", b"\x01\x00\x02\x00\x00\0\0", b"\x02"):
        assert parse_client_hello(one(ext(5, data) + SG)).status_request is False
    # Well-formed but for the DER of its ResponderID, which OpenSSL checks (and refuses) itself.
    assert parse_client_hello(one(ext(5, b"\x01\x00\x03\x00\x01\x05\x00\x00") + SG)).status_request


# OpenSSL keeps (and checks) the schemes only from TLS 1.2 and not on a resumption.
def test_odd_signature_algorithms_read_as_none() -> None:
    """An odd-length signature_algorithms list parses to no schemes; an empty one fails."""
    assert parse_client_hello(one(ext(13, vec(2, b"\x04\x03\x08")))).signature_algorithms == ()
    assert parse_client_hello(one(ext(13, vec(2, b"\x04")))).signature_algorithms == ()
    with pytest.raises(ClientHelloError, match="signature_algorithms length 0"):
        parse_client_hello(one(ext(13, vec(2, b""))))


# OpenSSL reads pre_shared_key only for TLS 1.3 with psk_key_exchange_modes, and only up to the
# identity it resumes.
@pytest.mark.parametrize(("data", "identities"), [
    (b"", ()),
    (b"\x00", ()),
    (vec(2, b""), ()),
    (vec(2, vec(2, b"t1") + b"\0\0\0\1"), (b"t1",)),  # no binders
    (vec(2, vec(2, b"t1") + b"\0\0\0\1") + vec(2, vec(1, b"B" * 32) * 2), (b"t1",)),  # one too many
    (vec(2, vec(2, b"") + b"\0\0\0\1" + vec(2, b"t2") + b"\0\0\0\1"), (b"", b"t2")),
    (vec(2, vec(2, b"t1") + b"\0\0\0\1" + vec(2, b"t2") + b"\0\0"), (b"t1",)),  # cut in the second age
    (vec(2, vec(2, b"t1") + b"\0\0\0\1")[:-1], ()),  # the identities overrun the extension
])
def test_pre_shared_key_read_as_openssl_reads_it(data: bytes, identities: tuple) -> None:
    """pre_shared_key never fails: its presence and the identities before any flaw count."""
    hello = parse_client_hello(one(SG + ext(41, data)))
    assert hello.has_pre_shared_key and hello.psk_identities == identities


def test_sslv2_compatible_hello_fields() -> None:
    """An SSLv2-compatible hello reads as OpenSSL 3.0 reads it (suites, random, no extensions)."""
    data = sslv2(version=0x0301, specs=b"\x00\x00\x2f\x01\x00\x80\x00\xc0\x2b", session_id=b"S" * 16,
                 challenge=b"0123456789abcdef")
    hello = all_ways(data)
    assert hello.record_version == 0x0002 and hello.legacy_version == 0x0301
    assert hello.cipher_suites == (0x2F, 0xC02B) and hello.session_id == b"S" * 16
    assert hello.random == bytes(16) + b"0123456789abcdef" and hello.compression_methods == b"\x00"
    assert hello.server_name is None and hello.extensions == () and hello.size == len(data)
    long_challenge = all_ways(sslv2(challenge=bytes(range(40))))
    assert long_challenge.random == bytes(range(32))


def test_sslv2_only_as_the_first_record() -> None:
    """An SSLv2 header after an empty record is not a hello (OpenSSL reads it as a TLS header)."""
    with pytest.raises(ClientHelloError):
        parse_client_hello(EMPTY + sslv2())


# --- differential tests -------------------------------------------------------------------

def _mostly(valid: Any, *others: Any) -> st.SearchStrategy:
    """``valid`` four times in five, else one of ``others``."""
    return st.sampled_from([valid] * (4 * len(others)) + list(others))


_NAME_BYTES = st.sampled_from([b"", b"a", b".", b" ", b"\0", b"\x01", b"\x7f", b"\x80", b"\xe4", b"\xff",
                               b"example.com", b"xn--bcher-kva.example", b"*.example"])
_HOST_NAMES = st.one_of(st.lists(_NAME_BYTES, max_size=6).map(b"".join),
                        st.binary(max_size=20), st.integers(250, 260).map(lambda n: b"a" * n))


@st.composite
def _server_name_ext(draw: st.DrawFn) -> bytes:
    name = draw(_HOST_NAMES)
    shape = draw(_mostly("one", "type", "two", "trailing", "short", "empty"))
    if shape == "type":
        return ext(0, vec(2, bytes([draw(st.integers(1, 255))]) + vec(2, name)))
    if shape == "two":
        return ext(0, vec(2, b"\0" + vec(2, name) + b"\0" + vec(2, b"b.example")))
    if shape == "trailing":
        return ext(0, vec(2, b"\0" + vec(2, name)) + draw(st.binary(min_size=1, max_size=3)))
    if shape == "short":
        return ext(0, vec(2, b"\0" + vec(2, name))[:-1])
    if shape == "empty":
        return ext(0, draw(st.sampled_from([b"", vec(2, b""), vec(2, b"\0")])))
    return sni(name)


_ALPN_NAMES = st.lists(st.sampled_from([b"h2", b"http/1.1", b"", b"x" * 255]), min_size=0, max_size=3)
# Extensions OpenSSL takes, once each (unknown, GREASE, or well-formed known ones).
_BENIGN = st.sampled_from([ext(0x1234, b""), ext(0x0A0A, b"\0"), ext(0xFE0D, b"ech"), ext(28, b"\x40\x00"),
                           ext(21, bytes(7)), ext(23, b""), ext(35, b""), ext(35, b"ticket"),
                           ext(16, vec(2, vec(1, b"h2") + vec(1, b"http/1.1"))), ext(5, b"\x01\0\0\0\0"),
                           ext(5, b"\x02"), ext(11, vec(1, b"\x00")), ext(0xFF01, b"\x00")])
_EXTENSIONS = st.one_of(
    *[_BENIGN] * 20,
    _ALPN_NAMES.map(lambda names: ext(16, vec(2, b"".join(vec(1, n) for n in names)))),
    st.binary(max_size=8).map(lambda data: ext(16, data)),
    st.sampled_from([b"", b"\x01", b"\x01\0\0\0\0", b"\x01\0\0\0\0x", b"\x02junk", b"\x01\x00\x02\x00\x00\0\0"])
    .map(lambda data: ext(5, data)),
    st.binary(max_size=7).map(lambda data: ext(13, vec(2, data))),
    st.binary(max_size=5).map(lambda data: ext(10, vec(2, data))),
    st.sampled_from([b"\x03\x04", b"\x03\x03", b"\x03\x04\x03\x03", b"", b"\x03", b"\x7f\x7f"])
    .map(lambda data: ext(43, vec(1, data))),
    st.binary(max_size=12).map(lambda data: ext(35, data)),
    st.sampled_from([0x1234, 28, 27, 21, 0xFE0D, 0xFF02, 22, 23, 50]).map(lambda t: ext(t, b"")),
    st.sampled_from([SV, SG, SA, KS, KM, ext(23, b""), ext(11, vec(1, b"\x00"))]),
)


@st.composite
def _hellos(draw: st.DrawFn) -> bytes:
    """Variations on a ClientHello OpenSSL serves: extensions added, repeated, malformed,
    reordered; odd bodies; the message split over records with empty records between."""
    if draw(st.integers(0, 19)) == 0:
        return sslv2(version=draw(_mostly(0x0303, 0x0002, 0x0301, 0x0400)),
                     session_id=b"S" * draw(_mostly(0, 16, 32, 33)),
                     challenge=b"C" * draw(_mostly(16, 0, 32, 40)),
                     specs=draw(_mostly(b"\x00\xc0\x2b", b"\x00\xc0\x2b\x00", b"", b"\x01\x00\x80")))
    extra = draw(st.lists(_EXTENSIONS, max_size=3))
    base = [draw(st.one_of(st.just(sni(b"example.com")), st.just(b""), _server_name_ext(), _server_name_ext()))]
    base += [SV, SG, SA, KS, KM]
    exts = draw(st.permutations(base + extra))
    if draw(st.integers(0, 4)) == 0:
        exts.append(draw(st.sampled_from([psk([b"t"], 1), ext(41, b"junk"), ext(41, b"")])))
    message = handshake(body(
        exts=b"".join(exts),
        session_id=b"s" * draw(_mostly(0, 32, 33)),
        suites=draw(_mostly(SUITES, b"", b"\x13\x01\x13", b"\xc0\x2b")),
        comp=draw(_mostly(b"\x00", b"", b"\x01\x00", b"\x01"))))
    # The records: the message cut anywhere, empty records (or an alert) before each piece.
    cuts = sorted(set(draw(st.lists(st.integers(1, len(message) - 1), max_size=3))))
    out = []
    for start, stop in zip([0, *cuts], [*cuts, len(message)], strict=True):
        out.append(draw(_mostly(b"", EMPTY, EMPTY_CCS, EMPTY * 2, rec(21, b"\x01\x70"))))
        out.append(rec(22, message[start:stop], draw(st.sampled_from([0x0301, 0x0303, 0x0300, 0x03FF]))))
    return b"".join(out)


@DIFF
@given(data=_hellos())
def test_differential_openssl4(openssl4: OpenSSL4, data: bytes) -> None:
    """Every variation pyOpenSSL's OpenSSL serves, the parser reads alike, every way fed."""
    verdict = openssl4(data)
    event(f"OpenSSL {'serves' if verdict.reached else 'refuses'}, the parser "
          f"{'parses' if ours(data) is not None else 'refuses'}")
    assert_lenient(data, verdict)
    if verdict.reached:
        all_ways(data)


@DIFF
@given(data=_hellos())
def test_differential_openssl3(openssl3: OpenSSL3, data: bytes) -> None:
    """Every variation the stdlib's OpenSSL 3.0 serves, the parser reads, with its name."""
    verdict = openssl3(data)
    event(f"OpenSSL {'serves' if verdict.reached else 'refuses'}, the parser "
          f"{'parses' if ours(data) is not None else 'refuses'}")
    assert_lenient(data, verdict)


# --- a TLS 1.2 resumption, where OpenSSL checks less --------------------------------------


@pytest.fixture(scope="module")
def resumable(cert_files: dict) -> tuple[OpenSSL4, bytes]:
    """A pyOpenSSL server with a TLS 1.2 session for example.com in its cache, and the session id."""
    context = SSL.Context(SSL.TLS_SERVER_METHOD)
    context.set_options(SSL.OP_NO_TICKET)
    context.set_session_id(b"greentls-leniency")
    server = OpenSSL4(str(cert_files["cert"]), str(cert_files["key"]), context)
    client_ctx = SSL.Context(SSL.TLS_CLIENT_METHOD)
    client_ctx.set_max_proto_version(SSL.TLS1_2_VERSION)
    client = SSL.Connection(client_ctx, None)
    client.set_connect_state()
    client.set_tlsext_host_name(b"example.com")
    conn = SSL.Connection(context, None)
    conn.set_app_data(Verdict(False))
    conn.set_accept_state()
    from_server = b""
    for _ in range(10):
        for side in (client, conn):
            try:
                side.do_handshake()
            except SSL.WantReadError:
                pass
        for source, sink in ((client, conn), (conn, client)):
            try:
                chunk = source.bio_read(65536)
            except SSL.WantReadError:
                continue
            if source is conn:
                from_server += chunk
            sink.bio_write(chunk)
    conn.set_shutdown(SSL.SENT_SHUTDOWN)  # else freeing it drops the session (ssl_clear_bad_session)
    # ServerHello: record and handshake headers, version, random, then the session id.
    session_id = from_server[44:44 + from_server[43]]
    assert len(session_id) == 32
    return server, session_id


def tls12_resumption(session_id: bytes, extensions: bytes) -> bytes:
    """A TLS 1.2 hello resuming ``session_id``, with these extensions first."""
    return rec(22, handshake(body(exts=extensions + RESUMPTION_TAIL, session_id=session_id,
                                  suites=b"\xc0\x2c\xc0\x2b")))


@pytest.mark.parametrize("name", list(ON_RESUMPTION))
def test_tls12_resumption_accepts_more(resumable: tuple[OpenSSL4, bytes], openssl4: OpenSSL4,
                                       name: str) -> None:
    """What OpenSSL serves only when resuming a TLS 1.2 session, the parser parses too."""
    server, session_id = resumable
    extensions, server_name = ON_RESUMPTION[name]
    data = tls12_resumption(session_id, extensions)
    verdict = server(data)
    assert verdict.reached and verdict.server_name == b"example.com"  # the session's name
    assert not openssl4(tls12_resumption(b"", extensions)).reached  # a full handshake refuses it
    hello = all_ways(data)
    assert hello.session_id == session_id and hello.server_name == server_name
    assert hello.status_request is False


# --- through a greentls server --------------------------------------------------------------


def _first_reply(port: int, data: bytes) -> bytes:
    """Send ``data`` to 127.0.0.1:``port`` (a gevent socket, so the server's greenlets run) and
    return the first bytes of the answer."""
    from gevent import socket as gsocket

    with gsocket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(data)
        reply = b""
        while len(reply) < 7:
            chunk = sock.recv(65536)
            if not chunk:
                break
            reply += chunk
    return reply


@pytest.mark.parametrize("name", [name for name in LENIENT if not name.startswith("SSLv2")])
def test_greentls_server_decides_on_lenient_hellos(server_options: dict, name: str) -> None:
    """A greentls server decides (sni_callback) on each lenient hello and does not refuse it."""
    from helpers import echo, port_of, serving

    data, server_name = LENIENT[name]
    asked: list = []
    with serving(echo, sni_callback=asked.append, **server_options) as server:
        reply = _first_reply(port_of(server), data)
    assert asked == ([server_name] if server_name else [])
    # A ServerHello, or (TLS 1.0, no psk modes, no extensions) an alert from OpenSSL's own checks
    # after the servername callback: never the unrecognized_name (112) of a hello no decision ran on.
    assert _server_hello(reply) or (reply[:1] == b"\x15" and reply[6] != 112), reply
