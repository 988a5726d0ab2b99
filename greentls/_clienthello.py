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
work is linear in the bytes of the hello, however they were split.  (The common case, a first
piece holding a whole hello in one record, is parsed in place, to the same result.)  Header
bytes are checked as soon as they arrive, so an HTTP request or an SSLv2 hello fails on its
first byte instead of waiting for bytes that will never come.

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
    "check_announced_size",
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


def _truncated(what: str, needs: int, left: int) -> ClientHelloError:
    return _invalid(f"truncated {what} (needs {needs} bytes, {left} left)")


def _leftover(what: str, left: int) -> ClientHelloError:
    """The error for ``left`` bytes after the contents of ``what``, which must fill it exactly."""
    return _invalid(f"{left} unexpected bytes at the end of {what}")


# The readers below take one ``bytes`` object and the bounds ``buf[pos:end]`` of the structure
# they read, check every length against ``end`` and copy out only the values kept (random,
# names, tickets).  They run for every accepted connection, so they index the bytes directly
# instead of going through a cursor object and memoryview slices, which cost a few times more.


def _vector(buf: bytes, pos: int, end: int, prefix: int, what: str,
            floor: int = 0, ceiling: int = 0xFFFF) -> int:
    """Where the vector ``<floor..ceiling>`` at ``buf[pos:end]`` ends: a ``prefix``-byte length,
    then the contents, from ``pos + prefix`` (RFC 8446 s3.4)."""
    start = pos + prefix
    if start > end:
        raise _truncated(f"{what} length", prefix, end - pos)
    length = buf[pos] if prefix == 1 else buf[pos] << 8 | buf[pos + 1]
    if length < floor or length > ceiling:
        raise _invalid(f"{what} length {length} is outside {floor}..{ceiling}")
    stop = start + length
    if stop > end:
        raise _truncated(what, length, end - start)
    return stop


# Unpackers of lists of 16-bit code points by item count, made on first use: making one each
# time (a format string, then a lookup in struct's cache) costs more than unpacking a list of 20
# items.  Only counts below 128, which real hellos use, are kept, so peers cannot grow the cache.
_UINT16_UNPACKERS: dict[int, Callable[[bytes, int], tuple[int, ...]]] = {}
_CACHED_UINT16_COUNT = 128


def _uint16_list(buf: bytes, pos: int, end: int, what: str) -> tuple[int, ...]:
    """A vector body ``buf[pos:end]`` of 16-bit code points (suites, groups, versions, schemes)."""
    length = end - pos
    if length & 1:
        raise _invalid(f"{what} length {length} is odd")
    count = length >> 1
    unpack = _UINT16_UNPACKERS.get(count)
    if unpack is None:
        unpack = struct.Struct(f">{count}H").unpack_from
        if count < _CACHED_UINT16_COUNT:
            _UINT16_UNPACKERS[count] = unpack
    return unpack(buf, pos)


def _uint16_vector(buf: bytes, pos: int, end: int, prefix: int, what: str,
                   ceiling: int) -> tuple[int, ...]:
    """An extension_data ``buf[pos:end]`` that is exactly one vector ``<2..ceiling>`` of 16-bit
    code points."""
    stop = _vector(buf, pos, end, prefix, what, 2, ceiling)
    if stop != end:
        raise _leftover(what, end - stop)
    return _uint16_list(buf, pos + prefix, stop, what)


def _parse_server_name(buf: bytes, pos: int, end: int, fields: dict[str, Any]) -> None:
    # RFC 6066 s3: ServerNameList server_name_list<1..2^16-1>, each a name_type and a
    # HostName<1..2^16-1>.  host_name (0) is the only type ever defined, and an unknown type has
    # no known length, so like OpenSSL (tls_parse_ctos_server_name) we accept exactly one
    # host_name ("MUST NOT contain more than one name of the same name_type").
    names_end = _vector(buf, pos, end, 2, "server_name list", 1)
    name_type = buf[pos + 2]  # the list holds at least one byte
    if name_type != 0:
        raise _invalid(f"server_name name_type {name_type} is not host_name (0)")
    name_end = _vector(buf, pos + 3, names_end, 2, "server_name host_name", 1, _MAX_HOSTNAME_LEN)
    if name_end != names_end:
        raise _leftover("server_name list (one host_name allowed)", names_end - name_end)
    name = buf[pos + 5:name_end]
    if name.translate(None, _HOSTNAME_BYTES):
        raise _invalid(f"server_name host_name {name!r} is not printable ASCII (RFC 6066 s3)")
    fields["server_name"] = name.decode("ascii")


def _parse_alpn(buf: bytes, pos: int, end: int, fields: dict[str, Any]) -> None:
    # RFC 7301 s3.1: ProtocolName protocol_name_list<2..2^16-1>; ProtocolName opaque<1..2^8-1>.
    names_end = _vector(buf, pos, end, 2, "ALPN protocol_name_list", 2)
    pos += 2
    protocols = []
    while pos < names_end:
        stop = _vector(buf, pos, names_end, 1, "ALPN protocol name", 1, 0xFF)
        protocols.append(buf[pos + 1:stop])
        pos = stop
    fields["alpn_protocols"] = tuple(protocols)


def _parse_status_request(buf: bytes, pos: int, end: int, fields: dict[str, Any]) -> None:
    # RFC 6066 s8: CertificateStatusRequest { status_type; OCSPStatusRequest request; } with
    # ResponderID responder_id_list<0..2^16-1> (each opaque<1..2^16-1>) and
    # request_extensions<0..2^16-1>.  An unknown status_type is ignored, as OpenSSL does.
    if pos == end:
        raise _truncated("status_request status_type", 1, 0)
    if buf[pos] != 1:
        return
    responders_end = _vector(buf, pos + 1, end, 2, "status_request responder_id_list")
    pos += 3
    while pos < responders_end:
        pos = _vector(buf, pos, responders_end, 2, "status_request ResponderID", 1)
    pos = _vector(buf, pos, end, 2, "status_request request_extensions")
    if pos != end:
        raise _leftover("status_request", end - pos)
    fields["status_request"] = True


def _parse_session_ticket(buf: bytes, pos: int, end: int, fields: dict[str, Any]) -> None:
    # RFC 5077 s3.2: the whole extension_data is the ticket; empty asks for a new one.
    fields["session_ticket"] = buf[pos:end]


def _parse_pre_shared_key(buf: bytes, pos: int, end: int, fields: dict[str, Any]) -> None:
    # RFC 8446 s4.2.11: OfferedPsks { PskIdentity identities<7..2^16-1>; PskBinderEntry
    # binders<33..2^16-1>; }, PskIdentity { opaque identity<1..2^16-1>; uint32 age; },
    # PskBinderEntry opaque<32..255>, "one [binder] for each value in the identities list".
    identities_end = _vector(buf, pos, end, 2, "pre_shared_key identities", 7)
    binders_end = _vector(buf, identities_end, end, 2, "pre_shared_key binders", 33)
    if binders_end != end:
        raise _leftover("pre_shared_key", end - binders_end)
    found = []
    pos += 2
    while pos < identities_end:
        stop = _vector(buf, pos, identities_end, 2, "pre_shared_key identity", 1)
        found.append(buf[pos + 2:stop])
        if identities_end - stop < 4:
            raise _truncated("pre_shared_key obfuscated_ticket_age", 4, identities_end - stop)
        pos = stop + 4
    count = 0
    pos = identities_end + 2
    while pos < binders_end:
        pos = _vector(buf, pos, binders_end, 1, "pre_shared_key binder", 32, 255)
        count += 1
    if count != len(found):
        raise _invalid(f"pre_shared_key has {len(found)} identities but {count} binders")
    fields["has_pre_shared_key"] = True
    fields["psk_identities"] = tuple(found)


def _parse_supported_versions(buf: bytes, pos: int, end: int, fields: dict[str, Any]) -> None:
    # RFC 8446 s4.2.1: in a ClientHello, ProtocolVersion versions<2..254>.
    fields["supported_versions"] = _uint16_vector(buf, pos, end, 1, "supported_versions", 254)


def _parse_supported_groups(buf: bytes, pos: int, end: int, fields: dict[str, Any]) -> None:
    # RFC 8446 s4.2.7: NamedGroup named_group_list<2..2^16-1>.
    fields["supported_groups"] = _uint16_vector(buf, pos, end, 2, "supported_groups", 0xFFFF)


def _parse_signature_algorithms(buf: bytes, pos: int, end: int, fields: dict[str, Any]) -> None:
    # RFC 8446 s4.2.3: SignatureScheme supported_signature_algorithms<2..2^16-2>.
    fields["signature_algorithms"] = _uint16_vector(buf, pos, end, 2, "signature_algorithms", 0xFFFE)


_EXTENSION_PARSERS: dict[int, Callable[[bytes, int, int, dict[str, Any]], None]] = {
    _EXT_SERVER_NAME: _parse_server_name,
    _EXT_STATUS_REQUEST: _parse_status_request,
    _EXT_SUPPORTED_GROUPS: _parse_supported_groups,
    _EXT_SIGNATURE_ALGORITHMS: _parse_signature_algorithms,
    _EXT_ALPN: _parse_alpn,
    _EXT_SESSION_TICKET: _parse_session_ticket,
    _EXT_PRE_SHARED_KEY: _parse_pre_shared_key,
    _EXT_SUPPORTED_VERSIONS: _parse_supported_versions,
}


def _parse_extensions(buf: bytes, pos: int, end: int, fields: dict[str, Any]) -> None:
    """Read the extensions block ``buf[pos:end]``: order, duplicates, and the extensions a
    server decides on."""
    # RFC 8446 s4.2: Extension { ExtensionType extension_type; opaque extension_data<0..2^16-1>; }.
    # The types seen, in order: a dict is an insertion-ordered set.
    seen: dict[int, None] = {}
    # Locals, not globals, in the loop that runs once per extension.
    unpack_header = _EXTENSION_HEADER.unpack_from
    parsers = _EXTENSION_PARSERS
    while pos < end:
        start = pos + 4
        if start > end:
            raise _invalid(f"truncated extension header ({end - pos} bytes left)")
        ext_type, length = unpack_header(buf, pos)
        stop = start + length
        if stop > end:
            raise _invalid(f"truncated extension {ext_type} data (needs {length} bytes, {end - start} left)")
        if ext_type in seen:
            # RFC 8446 s4.2: "There MUST NOT be more than one extension of the same type".
            raise _invalid(f"duplicate extension {ext_type}")
        seen[ext_type] = None
        parse = parsers.get(ext_type)
        if parse is not None:
            parse(buf, start, stop, fields)
        pos = stop
    order = tuple(seen)
    if _EXT_PRE_SHARED_KEY in seen and order[-1] != _EXT_PRE_SHARED_KEY:
        # RFC 8446 s4.2.11: "The "pre_shared_key" extension MUST be the last extension".
        raise _invalid("pre_shared_key is not the last extension")
    fields["extensions"] = order


def _new_client_hello(fields: dict[str, Any]) -> ClientHello:
    """``ClientHello(**fields)`` for ``fields`` holding every field in declaration order.

    The frozen dataclass's ``__init__`` stores each of the 17 fields with an
    ``object.__setattr__`` call, about a quarter of the time of parsing a whole typical hello;
    filling the new instance's ``__dict__`` in one step makes the same object (``ClientHello``
    has no ``__post_init__``, and ``__eq__``, ``__hash__``, ``__repr__`` and
    ``dataclasses.replace`` read the attributes) in a tenth of the time.  So a field added to
    ``ClientHello`` must be added to the dict in ``_parse_body`` too, in its place."""
    hello = object.__new__(ClientHello)
    hello.__dict__.update(fields)
    return hello


def _parse_body(buf: bytes, pos: int, end: int, record_version: int, size: int) -> ClientHello:
    """Parse the ClientHello body ``buf[pos:end]`` (after its 4-byte handshake header)."""
    # RFC 8446 s4.1.2 (RFC 5246 s7.4.1.2): legacy_version, random[32], legacy_session_id<0..32>,
    # cipher_suites<2..2^16-2>, compression_methods<1..2^8-1>.
    if end - pos < 2:
        raise _truncated("legacy_version", 2, end - pos)
    legacy_version = buf[pos] << 8 | buf[pos + 1]
    pos += 2
    if end - pos < 32:
        raise _truncated("random", 32, end - pos)
    random = buf[pos:pos + 32]
    pos += 32
    stop = _vector(buf, pos, end, 1, "legacy_session_id", 0, 32)
    session_id = buf[pos + 1:stop]
    pos = stop
    stop = _vector(buf, pos, end, 2, "cipher_suites", 2, 0xFFFE)
    cipher_suites = _uint16_list(buf, pos + 2, stop, "cipher_suites")
    pos = stop
    stop = _vector(buf, pos, end, 1, "compression_methods", 1, 0xFF)
    compression_methods = buf[pos + 1:stop]
    pos = stop
    # In the order of ClientHello's fields (see _new_client_hello); the extensions fill in theirs.
    fields: dict[str, Any] = {
        "record_version": record_version,
        "legacy_version": legacy_version,
        "random": random,
        "session_id": session_id,
        "cipher_suites": cipher_suites,
        "compression_methods": compression_methods,
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
        "size": size,
    }
    # RFC 5246 s7.4.1.2: a hello without extensions simply ends after compression_methods.
    if pos < end:
        stop = _vector(buf, pos, end, 2, "extensions")
        _parse_extensions(buf, pos + 2, stop, fields)
        if stop != end:
            raise _leftover("ClientHello (bytes after extensions)", end - stop)
    return _new_client_hello(fields)


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


def _fewest_record_bytes(payload: int) -> int:
    """The fewest bytes of records that can carry ``payload`` handshake bytes: full records of
    2^14 bytes, each with its 5-byte header (RFC 8446 s5.1)."""
    return payload + -(-payload // MAX_RECORD_PAYLOAD) * _RECORD_HEADER_LEN


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
        first = not self._buf
        self._buf += data
        if self._hello is not None:
            return self._hello
        try:
            hello = self._hello_in_first_record(data) if first and type(data) is bytes else None
            self._hello = hello if hello is not None else self._consume_records()
        except ClientHelloError as exc:
            self._error = exc
            raise
        return self._hello

    def _hello_in_first_record(self, data: bytes) -> Optional[ClientHello]:
        """Called by ``feed`` with its first bytes: the common case of a whole hello in one
        record, in one piece.  Parse it in place, without the copies ``_consume_records`` makes
        to join records; return None, having changed nothing, whenever the bytes are anything
        else (an error, a prefix, a hello over several records), for ``_consume_records``.

        When it parses, ``_consume_records`` would have consumed the same first record and
        parsed the same body bytes with the same record version and size."""
        # RFC 8446 s5.1: type, legacy_record_version, length; then (s4) the handshake header:
        # msg_type, 3-byte length.
        if len(data) < _RECORD_HEADER_LEN + _HANDSHAKE_HEADER_LEN:
            return None
        if data[0] != _CONTENT_HANDSHAKE or data[1] != 3 or data[5] != _HANDSHAKE_CLIENT_HELLO:
            return None
        record_end = _RECORD_HEADER_LEN + (data[3] << 8 | data[4])
        hello_end = _RECORD_HEADER_LEN + _HANDSHAKE_HEADER_LEN + (data[6] << 16 | data[7] << 8 | data[8])
        if (record_end > len(data) or record_end > self._max_size
                or record_end - _RECORD_HEADER_LEN > MAX_RECORD_PAYLOAD or hello_end > record_end):
            return None
        return _parse_body(data, _RECORD_HEADER_LEN + _HANDSHAKE_HEADER_LEN, hello_end,
                           data[1] << 8 | data[2], record_end)

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
            if self._record_start + _fewest_record_bytes(missing) > self._max_size:
                raise ClientHelloTooLargeError(
                    f"ClientHello of {total} bytes exceeds the limit of {self._max_size} bytes")
            return None
        return _parse_body(bytes(handshake), _HANDSHAKE_HEADER_LEN, total, self._record_version,
                           self._record_start)


def check_announced_size(data: bytes, max_size: int = MAX_CLIENT_HELLO_SIZE) -> None:
    """Raise ``ClientHelloTooLargeError`` when the first bytes of a stream announce a ClientHello
    that needs more than ``max_size`` bytes of records, as ``ClientHelloParser`` would.

    For a server that decides nothing on the hello and lets OpenSSL read it: the limit still
    holds for what the headers announce, without parsing the rest.  Anything else passes, for
    OpenSSL to judge: fewer than nine bytes, another record type or version, another message,
    or a first record too short to hold the whole handshake header (RFC 8446 s5.1 lets a
    handshake message start in one record and go on in the next: the bytes after such a
    record are the next record's header, not a length)."""
    if (len(data) < _RECORD_HEADER_LEN + _HANDSHAKE_HEADER_LEN or data[0] != _CONTENT_HANDSHAKE
            or data[1] != 3 or (data[3] << 8 | data[4]) < _HANDSHAKE_HEADER_LEN
            or data[5] != _HANDSHAKE_CLIENT_HELLO):
        return
    total = _HANDSHAKE_HEADER_LEN + (data[6] << 16 | data[7] << 8 | data[8])
    if _fewest_record_bytes(total) > max_size:
        raise ClientHelloTooLargeError(f"ClientHello of {total} bytes exceeds the limit of {max_size} bytes")


def parse_client_hello(data: bytes) -> ClientHello:
    """Parse a complete ClientHello from ``data``; raise ``ClientHelloError`` if it is not one,
    or if ``data`` ends before the hello does."""
    hello = ClientHelloParser().feed(data)
    if hello is None:
        raise ClientHelloError(f"incomplete ClientHello: {len(data)} bytes end before the hello")
    return hello
