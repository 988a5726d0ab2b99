"""A sans-I/O, incremental parser for the TLS ClientHello, read before OpenSSL sees it.

Theory of operation
-------------------
The server's engine feeds the first bytes a client sends into a ``ClientHelloParser`` before it
hands any of them to OpenSSL.  Once the whole hello is in, the connection's greenlet knows the
server name, the ALPN list, whether OCSP stapling is asked for and which session or ticket the
client wants to resume, so it can run the lookups that may block (SNI, OCSP, sessions) *before*
OpenSSL's callbacks run, where blocking is forbidden (FACTS.md item 7).  This is what Node's
``ClientHelloParser`` (src/crypto/crypto_clienthello.cc) does for ``SNICallback``, ``OCSPRequest``
and ``resumeSession``; then the engine hands ``buffered`` (every byte fed) to OpenSSL unchanged.

Bytes arrive in arbitrary pieces.  ``feed`` appends them and consumes whole TLS records, each
exactly once: a record's fragment is appended to the handshake buffer when its last byte is in
(RFC 8446 s5.1 lets one handshake message span several records).  When the handshake buffer
holds the complete first message, its body is parsed once and the result kept.  So the total
work is linear in the bytes of the hello, however they were split.  Header bytes are checked as
soon as they arrive, so an HTTP request or an SSLv2 hello fails on its first byte instead of
waiting for bytes that will never come.

The parser is strict but total: whatever the bytes, ``feed`` returns a ``ClientHello``, returns
``None`` (more bytes needed), or raises ``ClientHelloError`` naming what was wrong.  After an
error the parser is broken for good and re-raises it; after a hello it keeps returning it.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any, Callable, Optional

from ._errors import TLSError

__all__ = [
    "ClientHello",
    "ClientHelloParser",
    "ClientHelloError",
    "ClientHelloTooLargeError",
    "NotTLSError",
    "MAX_CLIENT_HELLO_SIZE",
    "parse_client_hello",
]

# The bound on ``size``: the bytes of TLS records one ClientHello may take, which is what the
# server buffers before OpenSSL sees anything.  64 KiB follows Go's crypto/tls, whose
# ``maxHandshake = 65536`` bounds every handshake message but certificates.  Node bounds its
# hello buffer at one record (kMaxTLSFrameLen = 16 KiB + 5), which refuses a legal hello split
# over records (RFC 8446 s5.1); OpenSSL's CLIENT_HELLO_MAX_LENGTH (131396) is merely the largest
# body the vector bounds of RFC 5246 s7.4.1.2 allow.  Real hellos, post-quantum key shares
# (X25519MLKEM768: 1216 bytes) included, are 0.2-2 KiB, so 64 KiB is 30 times that and still
# bounds what an unauthenticated peer can make us hold.
MAX_CLIENT_HELLO_SIZE = 65536

# RFC 8446 s5.1 (and RFC 5246 s6.2.1): "The length [of a TLSPlaintext] MUST NOT exceed 2^14
# bytes."  The hello travels in plaintext records; 2^14 + 256 (s5.2) is for protected records.
MAX_RECORD_PAYLOAD = 2 ** 14

_RECORD_HEADER_LEN = 5
_HANDSHAKE_HEADER_LEN = 4
_CONTENT_HANDSHAKE = 22
_HANDSHAKE_CLIENT_HELLO = 1
_CONTENT_TYPES = {20: "change_cipher_spec", 21: "alert", 22: "handshake", 23: "application_data"}

# Extension types (IANA "TLS ExtensionType Values") that the parser reads.
_EXT_SERVER_NAME = 0  # RFC 6066 s3
_EXT_STATUS_REQUEST = 5  # RFC 6066 s8
_EXT_SUPPORTED_GROUPS = 10  # RFC 8446 s4.2.7
_EXT_SIGNATURE_ALGORITHMS = 13  # RFC 8446 s4.2.3
_EXT_ALPN = 16  # RFC 7301 s3.1
_EXT_SESSION_TICKET = 35  # RFC 5077 s3.2
_EXT_PRE_SHARED_KEY = 41  # RFC 8446 s4.2.11
_EXT_SUPPORTED_VERSIONS = 43  # RFC 8446 s4.2.1

_RECORD_HEADER = struct.Struct(">BHH")
_EXTENSION_HEADER = struct.Struct(">HH")
# RFC 6066 s3: HostName is ASCII; controls, space, DEL and NUL (which OpenSSL refuses) are not
# part of any host name, so any byte outside 0x21..0x7e makes the name invalid.
_HOSTNAME_BYTES = bytes(range(0x21, 0x7F))
# OpenSSL's TLSEXT_MAXLEN_host_name; a DNS name is at most 253 characters (RFC 1035 s2.3.4).
_MAX_HOSTNAME_LEN = 255


class ClientHelloError(TLSError):
    """The first bytes from a client cannot be a TLS ClientHello; the message says why."""

    def __init__(self, message: str, *, code: str = "ERR_TLS_INVALID_CLIENT_HELLO",
                 reason: Optional[str] = None):
        super().__init__(message, code=code, reason=reason)


class ClientHelloTooLargeError(ClientHelloError):
    """The ClientHello would take more than the parser's ``max_size`` bytes of records."""

    def __init__(self, message: str, *, code: str = "ERR_TLS_CLIENT_HELLO_TOO_LARGE",
                 reason: Optional[str] = None):
        super().__init__(message, code=code, reason=reason)


class NotTLSError(ClientHelloError):
    """The first byte is not a TLS handshake record (0x16): plain HTTP, SSLv2, or noise."""


@dataclass(frozen=True)
class ClientHello:
    """The fields of a ClientHello (RFC 8446 s4.1.2, RFC 5246 s7.4.1.2) a server decides on."""

    record_version: int
    legacy_version: int
    random: bytes
    session_id: bytes
    cipher_suites: tuple[int, ...]
    compression_methods: bytes
    server_name: Optional[str]
    alpn_protocols: Optional[tuple[bytes, ...]]
    status_request: bool
    session_ticket: Optional[bytes]
    has_pre_shared_key: bool
    psk_identities: tuple[bytes, ...]
    supported_versions: tuple[int, ...]
    supported_groups: tuple[int, ...]
    signature_algorithms: tuple[int, ...]
    extensions: tuple[int, ...]
    size: int


def _invalid(message: str) -> ClientHelloError:
    return ClientHelloError(f"invalid ClientHello: {message}")


class _Reader:
    """A cursor over a memoryview; every short read raises ``ClientHelloError`` naming ``what``."""

    __slots__ = ("_data", "_pos", "_end")

    def __init__(self, data: memoryview):
        self._data = data
        self._pos = 0
        self._end = len(data)

    @property
    def remaining(self) -> int:
        """Bytes not yet read."""
        return self._end - self._pos

    def take(self, n: int, what: str) -> memoryview:
        """The next ``n`` bytes."""
        pos = self._pos
        if n > self._end - pos:
            raise _invalid(f"truncated {what} (needs {n} bytes, {self._end - pos} left)")
        self._pos = pos + n
        return self._data[pos:pos + n]

    def u8(self, what: str) -> int:
        """The next byte as an unsigned integer."""
        return self.take(1, what)[0]

    def u16(self, what: str) -> int:
        """The next two bytes as a big-endian unsigned integer."""
        return int.from_bytes(self.take(2, what), "big")

    def vector(self, prefix: int, what: str, floor: int = 0, ceiling: int = 0xFFFF) -> memoryview:
        """A variable-length vector ``<floor..ceiling>`` with a ``prefix``-byte length (RFC 8446 s3.4)."""
        length = int.from_bytes(self.take(prefix, f"{what} length"), "big")
        if not floor <= length <= ceiling:
            raise _invalid(f"{what} length {length} is outside {floor}..{ceiling}")
        return self.take(length, what)

    def end(self, what: str) -> None:
        """Fail unless everything was read: a vector's contents must fill it exactly."""
        if self._pos != self._end:
            raise _invalid(f"{self._end - self._pos} unexpected bytes at the end of {what}")


def _uint16_list(data: memoryview, what: str) -> tuple[int, ...]:
    """A vector body of 16-bit code points (cipher suites, groups, versions, schemes)."""
    if len(data) % 2:
        raise _invalid(f"{what} length {len(data)} is odd")
    return struct.unpack(f">{len(data) // 2}H", data)


def _parse_server_name(data: memoryview, fields: dict[str, Any]) -> None:
    # RFC 6066 s3: ServerNameList server_name_list<1..2^16-1>, each a name_type and a
    # HostName<1..2^16-1>.  host_name (0) is the only type ever defined, and an unknown type has
    # no known length, so like OpenSSL (tls_parse_ctos_server_name) we accept exactly one
    # host_name ("MUST NOT contain more than one name of the same name_type").
    names = _Reader(_Reader(data).vector(2, "server_name list", 1))
    name_type = names.u8("server_name name_type")
    if name_type != 0:
        raise _invalid(f"server_name name_type {name_type} is not host_name (0)")
    name = bytes(names.vector(2, "server_name host_name", 1, _MAX_HOSTNAME_LEN))
    names.end("server_name list (one host_name allowed)")
    if name.translate(None, _HOSTNAME_BYTES):
        raise _invalid(f"server_name host_name {name!r} is not printable ASCII (RFC 6066 s3)")
    fields["server_name"] = name.decode("ascii")


def _parse_alpn(data: memoryview, fields: dict[str, Any]) -> None:
    # RFC 7301 s3.1: ProtocolName protocol_name_list<2..2^16-1>; ProtocolName opaque<1..2^8-1>.
    names = _Reader(_Reader(data).vector(2, "ALPN protocol_name_list", 2))
    protocols = []
    while names.remaining:
        protocols.append(bytes(names.vector(1, "ALPN protocol name", 1, 0xFF)))
    fields["alpn_protocols"] = tuple(protocols)


def _parse_status_request(data: memoryview, fields: dict[str, Any]) -> None:
    # RFC 6066 s8: CertificateStatusRequest { status_type; OCSPStatusRequest request; } with
    # ResponderID responder_id_list<0..2^16-1> (each opaque<1..2^16-1>) and
    # request_extensions<0..2^16-1>.  An unknown status_type is ignored, as OpenSSL does.
    reader = _Reader(data)
    if reader.u8("status_request status_type") != 1:
        return
    responders = _Reader(reader.vector(2, "status_request responder_id_list"))
    while responders.remaining:
        responders.vector(2, "status_request ResponderID", 1)
    reader.vector(2, "status_request request_extensions")
    reader.end("status_request")
    fields["status_request"] = True


def _parse_session_ticket(data: memoryview, fields: dict[str, Any]) -> None:
    # RFC 5077 s3.2: the whole extension_data is the ticket; empty asks for a new one.
    fields["session_ticket"] = bytes(data)


def _parse_pre_shared_key(data: memoryview, fields: dict[str, Any]) -> None:
    # RFC 8446 s4.2.11: OfferedPsks { PskIdentity identities<7..2^16-1>; PskBinderEntry
    # binders<33..2^16-1>; }, PskIdentity { opaque identity<1..2^16-1>; uint32 age; },
    # PskBinderEntry opaque<32..255>, "one [binder] for each value in the identities list".
    reader = _Reader(data)
    identities = _Reader(reader.vector(2, "pre_shared_key identities", 7))
    binders = _Reader(reader.vector(2, "pre_shared_key binders", 33))
    reader.end("pre_shared_key")
    found = []
    while identities.remaining:
        found.append(bytes(identities.vector(2, "pre_shared_key identity", 1)))
        identities.take(4, "pre_shared_key obfuscated_ticket_age")
    count = 0
    while binders.remaining:
        binders.vector(1, "pre_shared_key binder", 32, 255)
        count += 1
    if count != len(found):
        raise _invalid(f"pre_shared_key has {len(found)} identities but {count} binders")
    fields["has_pre_shared_key"] = True
    fields["psk_identities"] = tuple(found)


def _parse_supported_versions(data: memoryview, fields: dict[str, Any]) -> None:
    # RFC 8446 s4.2.1: in a ClientHello, ProtocolVersion versions<2..254>.
    reader = _Reader(data)
    versions = reader.vector(1, "supported_versions", 2, 254)
    reader.end("supported_versions")
    fields["supported_versions"] = _uint16_list(versions, "supported_versions")


def _parse_supported_groups(data: memoryview, fields: dict[str, Any]) -> None:
    # RFC 8446 s4.2.7: NamedGroup named_group_list<2..2^16-1>.
    reader = _Reader(data)
    groups = reader.vector(2, "supported_groups", 2)
    reader.end("supported_groups")
    fields["supported_groups"] = _uint16_list(groups, "supported_groups")


def _parse_signature_algorithms(data: memoryview, fields: dict[str, Any]) -> None:
    # RFC 8446 s4.2.3: SignatureScheme supported_signature_algorithms<2..2^16-2>.
    reader = _Reader(data)
    schemes = reader.vector(2, "signature_algorithms", 2, 0xFFFE)
    reader.end("signature_algorithms")
    fields["signature_algorithms"] = _uint16_list(schemes, "signature_algorithms")


_EXTENSION_PARSERS: dict[int, tuple[str, Callable[[memoryview, dict[str, Any]], None]]] = {
    _EXT_SERVER_NAME: ("server_name", _parse_server_name),
    _EXT_STATUS_REQUEST: ("status_request", _parse_status_request),
    _EXT_SUPPORTED_GROUPS: ("supported_groups", _parse_supported_groups),
    _EXT_SIGNATURE_ALGORITHMS: ("signature_algorithms", _parse_signature_algorithms),
    _EXT_ALPN: ("application_layer_protocol_negotiation", _parse_alpn),
    _EXT_SESSION_TICKET: ("session_ticket", _parse_session_ticket),
    _EXT_PRE_SHARED_KEY: ("pre_shared_key", _parse_pre_shared_key),
    _EXT_SUPPORTED_VERSIONS: ("supported_versions", _parse_supported_versions),
}


def _parse_extensions(block: memoryview, fields: dict[str, Any]) -> None:
    """Read the extensions block: order, duplicates, and the extensions a server decides on."""
    # The one loop that runs per extension, so it reads headers directly rather than through
    # a _Reader: RFC 8446 s4.2, Extension { ExtensionType extension_type; opaque
    # extension_data<0..2^16-1>; }.
    order: list[int] = []
    seen: set[int] = set()
    pos, end = 0, len(block)
    while pos < end:
        if end - pos < 4:
            raise _invalid(f"truncated extension header ({end - pos} bytes left)")
        ext_type, length = _EXTENSION_HEADER.unpack_from(block, pos)
        pos += 4
        if length > end - pos:
            raise _invalid(f"truncated extension {ext_type} data (needs {length} bytes, {end - pos} left)")
        data = block[pos:pos + length]
        pos += length
        if ext_type in seen:
            # RFC 8446 s4.2: "There MUST NOT be more than one extension of the same type".
            raise _invalid(f"duplicate extension {ext_type}")
        seen.add(ext_type)
        order.append(ext_type)
        known = _EXTENSION_PARSERS.get(ext_type)
        if known is not None:
            known[1](data, fields)
    if _EXT_PRE_SHARED_KEY in order and order[-1] != _EXT_PRE_SHARED_KEY:
        # RFC 8446 s4.2.11: "The "pre_shared_key" extension MUST be the last extension".
        raise _invalid("pre_shared_key is not the last extension")
    fields["extensions"] = tuple(order)


def _parse_body(body: memoryview, record_version: int, size: int) -> ClientHello:
    """Parse a ClientHello body (after its 4-byte handshake header) into a ``ClientHello``."""
    reader = _Reader(body)
    fields: dict[str, Any] = {
        "record_version": record_version,
        "size": size,
        # RFC 8446 s4.1.2 (RFC 5246 s7.4.1.2): legacy_version, random[32],
        # legacy_session_id<0..32>, cipher_suites<2..2^16-2>, compression_methods<1..2^8-1>.
        "legacy_version": reader.u16("legacy_version"),
        "random": bytes(reader.take(32, "random")),
        "session_id": bytes(reader.vector(1, "legacy_session_id", 0, 32)),
        "cipher_suites": _uint16_list(reader.vector(2, "cipher_suites", 2, 0xFFFE), "cipher_suites"),
        "compression_methods": bytes(reader.vector(1, "compression_methods", 1, 0xFF)),
        "server_name": None,
        "alpn_protocols": None,
        "status_request": False,
        "session_ticket": None,
        "has_pre_shared_key": False,
        "psk_identities": (),
        "supported_versions": (),
        "supported_groups": (),
        "signature_algorithms": (),
        "extensions": (),
    }
    # RFC 5246 s7.4.1.2: a hello without extensions simply ends after compression_methods.
    if reader.remaining:
        _parse_extensions(reader.vector(2, "extensions"), fields)
        reader.end("ClientHello (bytes after extensions)")
    return ClientHello(**fields)


def _not_tls(first: int) -> NotTLSError:
    """The error for a stream whose first byte is ``first`` (not 0x16)."""
    if first & 0x80:
        # RFC 6101 appendix E.1 / RFC 5246 appendix E.2: SSLv2 records start with a 2-byte
        # length whose top bit is set.  OpenSSL 1.1+ no longer accepts them (RFC 6176).
        what = "an SSLv2-style ClientHello, which is not supported (RFC 6176)"
    elif first in _CONTENT_TYPES:
        what = f"a TLS {_CONTENT_TYPES[first]} record, not a handshake"
    elif 0x20 < first < 0x7F:
        what = f"plain text starting {chr(first)!r} (an HTTP request?), not TLS"
    else:
        what = "not a TLS record"
    return NotTLSError(f"invalid ClientHello: first byte 0x{first:02x} is {what}")


class ClientHelloParser:
    """Incrementally read the first TLS handshake message a client sends; see the module doc.

    ``max_size`` bounds ``ClientHello.size``, the bytes of records the hello may take (the
    bytes buffered before OpenSSL sees any); a hello that needs more raises
    ``ClientHelloTooLargeError`` as soon as its headers show it.
    """

    __slots__ = ("_max_size", "_buf", "_record_start", "_record_version", "_handshake",
                 "_hello", "_error")

    def __init__(self, max_size: int = MAX_CLIENT_HELLO_SIZE):
        if not isinstance(max_size, int) or isinstance(max_size, bool):
            raise TypeError(f"max_size must be an int, not {type(max_size).__name__}")
        if max_size < _RECORD_HEADER_LEN + _HANDSHAKE_HEADER_LEN:
            raise ValueError(f"max_size must be at least 9, not {max_size}")
        self._max_size = max_size
        self._buf = bytearray()
        self._record_start = 0  # where the next unconsumed record header begins in _buf
        self._record_version = 0  # of the first record, set when it is consumed
        self._handshake = bytearray()  # fragments of the records consumed so far
        self._hello: Optional[ClientHello] = None
        self._error: Optional[ClientHelloError] = None

    @property
    def buffered(self) -> bytes:
        """Every byte fed so far, the hello and whatever followed it, for OpenSSL to read next."""
        return bytes(self._buf)

    def feed(self, data: bytes) -> Optional[ClientHello]:
        """Append bytes; return the ClientHello when complete, None if more bytes are needed;
        raise ClientHelloError when the bytes cannot be a ClientHello."""
        if self._error is not None:
            raise self._error
        self._buf += data
        if self._hello is not None:
            return self._hello
        try:
            self._hello = self._consume_records()
        except ClientHelloError as exc:
            self._error = exc
            raise
        return self._hello

    def _consume_records(self) -> Optional[ClientHello]:
        """Called by ``feed`` with new bytes: consume each complete record once, check early."""
        buf = self._buf
        while True:
            start = self._record_start
            available = len(buf) - start
            if available <= 0:
                return None
            self._check_content_type(buf[start], first=start == 0)
            if available >= 2 and buf[start + 1] != 3:
                # RFC 5246 appendix E.1: clients may send any {03,XX} as the record version;
                # OpenSSL refuses another major version ("wrong version number").
                raise _invalid(f"record version 0x{buf[start + 1]:02x}?? is not TLS (0x03??)")
            if available < _RECORD_HEADER_LEN:
                return None
            _, version, length = _RECORD_HEADER.unpack_from(buf, start)
            end = start + _RECORD_HEADER_LEN + length
            self._check_record_length(length, end)
            if len(buf) < end:
                return None
            if start == 0:
                self._record_version = version
            self._handshake += buf[start + _RECORD_HEADER_LEN:end]
            self._record_start = end
            hello = self._try_hello()
            if hello is not None:
                return hello

    def _check_content_type(self, content_type: int, first: bool) -> None:
        """Called for each record's first byte, as soon as it has arrived."""
        if content_type == _CONTENT_HANDSHAKE:
            return
        if first:
            raise _not_tls(content_type)
        # RFC 8446 s5.1: "Handshake messages MUST NOT be interleaved with other record types."
        name = _CONTENT_TYPES.get(content_type, "unknown")
        raise _invalid(f"a record of content type {content_type} ({name}) interrupts the hello")

    def _check_record_length(self, length: int, end: int) -> None:
        """Called with each record header, before its fragment is awaited."""
        if length == 0:
            # RFC 8446 s5.1: "Implementations MUST NOT send zero-length fragments of
            # Handshake types".
            raise _invalid("zero-length handshake record")
        if length > MAX_RECORD_PAYLOAD:
            raise _invalid(f"record length {length} exceeds 2^14 (RFC 8446 s5.1)")
        if end > self._max_size:
            raise ClientHelloTooLargeError(
                f"ClientHello takes more than {self._max_size} bytes of records")

    def _try_hello(self) -> Optional[ClientHello]:
        """Called after each consumed record: parse the hello if its last byte is in."""
        handshake = self._handshake
        if len(handshake) < _HANDSHAKE_HEADER_LEN:
            return None
        if handshake[0] != _HANDSHAKE_CLIENT_HELLO:
            raise _invalid(f"handshake message type {handshake[0]} is not client_hello (1)")
        total = _HANDSHAKE_HEADER_LEN + int.from_bytes(handshake[1:4], "big")
        missing = total - len(handshake)
        if missing > 0:
            # The fewest bytes of records that could still carry the rest (RFC 8446 s5.1).
            records = -(-missing // MAX_RECORD_PAYLOAD)
            if self._record_start + missing + records * _RECORD_HEADER_LEN > self._max_size:
                raise ClientHelloTooLargeError(
                    f"ClientHello of {total} bytes exceeds the limit of {self._max_size} bytes")
            return None
        body = memoryview(bytes(handshake[_HANDSHAKE_HEADER_LEN:total]))
        return _parse_body(body, self._record_version, self._record_start)


def parse_client_hello(data: bytes) -> ClientHello:
    """Parse a complete ClientHello from ``data``; raise ``ClientHelloError`` if it is not one,
    or if ``data`` ends before the hello does."""
    hello = ClientHelloParser().feed(data)
    if hello is None:
        raise ClientHelloError(f"incomplete ClientHello: {len(data)} bytes end before the hello")
    return hello
