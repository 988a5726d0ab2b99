"""A sans-I/O, incremental parser for the TLS ClientHello, read before OpenSSL sees it.

Theory of operation
-------------------
The server's engine feeds the first bytes a client sends into a ``ClientHelloParser`` before it
hands any of them to OpenSSL.  Once the whole hello is in, the connection's greenlet knows the
server name, the ALPN list, whether OCSP stapling is asked for and which session or ticket the
client wants to resume, so it can run the lookups that may block (SNI, OCSP, sessions) *before*
OpenSSL's callbacks run, where blocking is forbidden (docs/architecture.rst,
"fact-callbacks").  This is what Node's
``ClientHelloParser`` (src/crypto/crypto_clienthello.cc) does for ``SNICallback``, ``OCSPRequest``
and ``resumeSession``; then the engine hands ``buffered`` (every byte fed) to OpenSSL unchanged.

Bytes arrive in arbitrary pieces.  ``feed`` appends them and consumes whole TLS records, each
exactly once: a record's fragment is appended to the handshake buffer when its last byte is in
(RFC 8446 s5.1 lets one handshake message span several records).  When the handshake buffer
holds the complete first message, its body is parsed once and the result kept.  So the total
work is linear in the bytes of the hello, however they were split.  (The common case, a first
piece holding a whole hello in one record, is parsed in place, to the same result.)  Header
bytes are checked as soon as they arrive, so an HTTP request fails on its first byte instead of
waiting for bytes that will never come.

At least as lenient as OpenSSL
------------------------------
A hello this parser refuses gets no SNI or OCSP decision, so it must never refuse a hello
OpenSSL would go on to serve.  The rule, checked against OpenSSL 3.0 and 4.0 (the sources and
the differential tests in tests/test_clienthello_leniency.py): the parser raises only for bytes
OpenSSL refuses *whatever its configuration and state*, before its servername callback runs;
wherever OpenSSL's verdict depends on state the parser cannot know (a TLS 1.2 resumption, the
version negotiated, the server's options), it accepts, and reads the fields as OpenSSL would.
Notably, following OpenSSL:

* zero-length handshake records anywhere in the hello, and zero-length change_cipher_spec
  records before its 4-byte header is in, are skipped (rec_layer_s3.c ``ssl3_read_bytes``,
  statem_lib.c ``tls_get_message_header``), up to 32 in a row (``MAX_EMPTY_RECORDS``);
* an SSLv2-compatible ClientHello (RFC 5246 appendix E.2) as the very first record, which
  OpenSSL 3.0 still serves (statem_srvr.c ``tls_process_client_hello``; 4.0 refuses it);
* a duplicated extension, except one of the types read here (all known to every OpenSSL: only
  duplicates of known types are refused, extensions.c ``tls_collect_extensions``);
* any host name bytes: OpenSSL refuses a name over 255 bytes or with a NUL byte, but only when
  it is not resuming a TLS 1.2 session (extensions_srvr.c ``tls_parse_ctos_server_name``).  The
  name is the ``str`` of its bytes decoded as latin-1, as greentls reads ``SSL_get_servername``;
* malformed status_request (ignored on a resumption), signature_algorithms of odd length
  (ignored on a resumption and below TLS 1.2) and pre_shared_key (read only for TLS 1.3, with
  psk_key_exchange_modes, and only up to the identity it resumes) extensions.

The parser is total: whatever the bytes, ``feed`` returns a ``ClientHello``, returns ``None``
(more bytes needed), or raises ``ClientHelloError`` naming what was wrong.  After an error the
parser is broken for good and re-raises it; after a hello it keeps returning it.
"""
from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from greentls._base.errors import TLSError

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
# server buffers before OpenSSL sees anything.  It is OpenSSL's own bound: OpenSSL refuses a
# ClientHello body over CLIENT_HELLO_MAX_LENGTH (131396 bytes, the largest the vector bounds
# of RFC 5246 s7.4.1.2 allow) with SSL_R_EXCESSIVE_MESSAGE_SIZE, so the largest hello it takes
# is 4 + 131396 handshake bytes, which fill 9 records of at most 2^14 bytes.  A hello OpenSSL
# accepts is therefore never refused here for its size, unless it is split into records much
# smaller than the 2^14 allowed (whose headers then count against the bound).  Real hellos,
# post-quantum key shares (X25519MLKEM768: 1216 bytes) included, are 0.2-2 KiB.
# MAX_CLIENT_HELLO_SIZE (131445) is defined after _fewest_record_bytes, below.
_OPENSSL_MAX_HELLO_BODY = 131396

# RFC 8446 s5.1 (and RFC 5246 s6.2.1): "The length [of a TLSPlaintext] MUST NOT exceed 2^14
# bytes."  The hello travels in plaintext records; 2^14 + 256 (s5.2) is for protected records.
# OpenSSL refuses a longer one (SSL_R_DATA_LENGTH_TOO_LONG: tlsany_meth.c
# ``tls_validate_record_header``; 3.0: ssl3_record.c ``ssl3_get_record``).
MAX_RECORD_PAYLOAD = 2 ** 14

# OpenSSL's MAX_EMPTY_RECORDS (record_local.h): the 33rd zero-length record in a row is fatal
# (SSL_R_RECORD_TOO_SMALL); a record with a fragment starts the count again.
MAX_EMPTY_RECORDS = 32

_RECORD_HEADER_LEN = 5
_HANDSHAKE_HEADER_LEN = 4
_CONTENT_CHANGE_CIPHER_SPEC = 20
_CONTENT_HANDSHAKE = 22
_HANDSHAKE_CLIENT_HELLO = 1
_CONTENT_TYPES = {20: "change_cipher_spec", 21: "alert", 22: "handshake", 23: "application_data"}

# RFC 5246 appendix E.2: an SSLv2-compatible hello is a 2-byte header (top bit set, then a
# 15-bit length), msg_type 1, version, three 2-byte lengths, then the cipher specs (3 bytes
# each), session id and challenge.  OpenSSL reports its record version as SSL2_VERSION.
_SSL2_HEADER_LEN = 2
_SSL2_MT_CLIENT_HELLO = 1
_SSL2_VERSION = 0x0002
# ssl3_record.c MIN_SSL2_RECORD_LEN: msg_type, version and the three lengths.
_MIN_SSL2_RECORD_LEN = 9

# Extension types (IANA "TLS ExtensionType Values") that the parser reads.
_EXT_SERVER_NAME = 0  # RFC 6066 s3
_EXT_STATUS_REQUEST = 5  # RFC 6066 s8
_EXT_SUPPORTED_GROUPS = 10  # RFC 8446 s4.2.7
_EXT_SIGNATURE_ALGORITHMS = 13  # RFC 8446 s4.2.3
_EXT_ALPN = 16  # RFC 7301 s3.1
_EXT_SESSION_TICKET = 35  # RFC 5077 s3.2
_EXT_PRE_SHARED_KEY = 41  # RFC 8446 s4.2.11
_EXT_SUPPORTED_VERSIONS = 43  # RFC 8446 s4.2.1
_EXT_PSK_KEY_EXCHANGE_MODES = 45  # RFC 8446 s4.2.9

# The extensions whose duplicates are refused: those read here that every OpenSSL knows
# (ext_defs in extensions.c, compiled in whatever the build options), which makes
# ``tls_collect_extensions`` refuse a second one.  A duplicate of any other type is accepted,
# as OpenSSL accepts duplicates of types it does not know: status_request among them, unknown
# to a build without OCSP.  Of a repeated type only the first occurrence is read.
_UNIQUE_EXTENSIONS = frozenset({
    _EXT_SERVER_NAME, _EXT_SUPPORTED_GROUPS, _EXT_SIGNATURE_ALGORITHMS, _EXT_ALPN,
    _EXT_SESSION_TICKET, _EXT_PRE_SHARED_KEY, _EXT_SUPPORTED_VERSIONS, _EXT_PSK_KEY_EXCHANGE_MODES,
})

_RECORD_HEADER = struct.Struct(">BHH")
_EXTENSION_HEADER = struct.Struct(">HH")
_SSL2_HELLO = struct.Struct(">HHHH")


class ClientHelloError(TLSError):
    """The first bytes from a client cannot be a TLS ClientHello; the message says why."""

    def __init__(self, message: str, *, code: str = "ERR_TLS_INVALID_CLIENT_HELLO",
                 reason: str | None = None):
        super().__init__(message, code=code, reason=reason)


class ClientHelloTooLargeError(ClientHelloError):
    """The ClientHello would take more than the parser's ``max_size`` bytes of records."""

    def __init__(self, message: str, *, code: str = "ERR_TLS_CLIENT_HELLO_TOO_LARGE",
                 reason: str | None = None):
        super().__init__(message, code=code, reason=reason)


class NotTLSError(ClientHelloError):
    """The stream does not start with a TLS handshake record: plain HTTP, SSLv2, or noise."""


@dataclass(frozen=True)
class ClientHello:
    """The fields of a ClientHello (RFC 8446 s4.1.2, RFC 5246 s7.4.1.2) a server decides on.

    ``server_name`` is the host_name's bytes decoded as latin-1 ("" for an empty one), None
    without a server_name extension; ``record_version`` is that of the first record holding
    hello bytes (0x0002 for an SSLv2-compatible hello); ``extensions`` lists every extension's
    type in order, repeats included; ``size`` counts the bytes of every record up to the one
    that completes the hello."""

    record_version: int
    legacy_version: int
    random: bytes
    session_id: bytes
    cipher_suites: tuple[int, ...]
    compression_methods: bytes
    server_name: str | None
    alpn_protocols: tuple[bytes, ...] | None
    status_request: bool
    session_ticket: bytes | None
    has_pre_shared_key: bool
    psk_identities: tuple[bytes, ...]
    #: psk_key_exchange_modes' modes (RFC 8446 s4.2.9), ``b""`` without the extension.
    psk_modes: bytes
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


def _exact_vector(buf: bytes, pos: int, end: int, prefix: int, what: str,
                  floor: int = 0, ceiling: int = 0xFFFF) -> int:
    """``_vector`` for a vector that must fill ``buf[pos:end]`` exactly (OpenSSL's
    ``PACKET_as_length_prefixed_*``); returns ``end``."""
    stop = _vector(buf, pos, end, prefix, what, floor, ceiling)
    if stop != end:
        raise _leftover(what, end - stop)
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
    _exact_vector(buf, pos, end, prefix, what, 2, ceiling)
    return _uint16_list(buf, pos + prefix, end, what)


def _parse_server_name(buf: bytes, pos: int, end: int, fields: dict[str, Any]) -> None:
    # RFC 6066 s3: ServerNameList server_name_list<1..2^16-1>, each a name_type and a
    # HostName<1..2^16-1>.  OpenSSL (extensions_srvr.c tls_parse_ctos_server_name) takes the
    # extension_data as exactly one non-empty list, whose first entry must be a host_name (0)
    # that fills the rest of the list: a second entry is refused.  The host name itself may be
    # empty and may hold any byte: OpenSSL refuses a name over 255 bytes (TLSEXT_MAXLEN_host_name)
    # or with a NUL byte only when it reads it, which it does not on a TLS 1.2 resumption (the
    # session's name stands), so such a hello is accepted here too and OpenSSL judges it.
    names_end = _exact_vector(buf, pos, end, 2, "server_name list", 1)
    name_type = buf[pos + 2]  # the list holds at least one byte
    if name_type != 0:
        raise _invalid(f"server_name name_type {name_type} is not host_name (0)")
    _exact_vector(buf, pos + 3, names_end, 2, "server_name list (one host_name allowed)")
    # The name as greentls reads SSL_get_servername: every byte kept, decoded as latin-1.
    fields["server_name"] = buf[pos + 5:names_end].decode("latin-1")


def _parse_alpn(buf: bytes, pos: int, end: int, fields: dict[str, Any]) -> None:
    # RFC 7301 s3.1: ProtocolName protocol_name_list<2..2^16-1>; ProtocolName opaque<1..2^8-1>.
    # OpenSSL (tls_parse_ctos_alpn) checks all of it, on every first handshake.
    names_end = _exact_vector(buf, pos, end, 2, "ALPN protocol_name_list", 2)
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
    # request_extensions<0..2^16-1>.  OpenSSL (tls_parse_ctos_status_request) ignores an unknown
    # status_type, and the whole extension on a resumption, where it refuses nothing: so a
    # malformed one is no error here, it just asks for no staple (nor would OpenSSL staple).
    if pos == end or buf[pos] != 1:
        return
    try:
        responders_end = _vector(buf, pos + 1, end, 2, "status_request responder_id_list")
        pos += 3
        while pos < responders_end:
            pos = _vector(buf, pos, responders_end, 2, "status_request ResponderID", 1)
        _exact_vector(buf, pos, end, 2, "status_request request_extensions")
    except ClientHelloError:
        return
    fields["status_request"] = True


def _parse_session_ticket(buf: bytes, pos: int, end: int, fields: dict[str, Any]) -> None:
    # RFC 5077 s3.2: the whole extension_data is the ticket; empty asks for a new one.
    fields["session_ticket"] = buf[pos:end]


def _parse_pre_shared_key(buf: bytes, pos: int, end: int, fields: dict[str, Any]) -> None:
    # RFC 8446 s4.2.11: OfferedPsks { PskIdentity identities<7..2^16-1>; PskBinderEntry
    # binders<33..2^16-1>; }, PskIdentity { opaque identity<1..2^16-1>; uint32 age; }.  OpenSSL
    # (tls_parse_ctos_psk) reads it only when TLS 1.3 is negotiated and psk_key_exchange_modes
    # names a mode it allows, reads identities only until one resumes, and checks only that
    # identity's binder: none of it is certain to be refused, so none of it is an error here.
    # The identities are those OpenSSL would try, in order, up to the first malformed one.
    fields["has_pre_shared_key"] = True
    found = []
    if end - pos >= 2:
        identities_end = pos + 2 + (buf[pos] << 8 | buf[pos + 1])
        pos += 2
        while identities_end <= end and identities_end - pos >= 2:
            stop = pos + 2 + (buf[pos] << 8 | buf[pos + 1])
            if stop + 4 > identities_end:
                break
            found.append(buf[pos + 2:stop])
            pos = stop + 4  # and the obfuscated_ticket_age
    fields["psk_identities"] = tuple(found)


def _parse_psk_key_exchange_modes(buf: bytes, pos: int, end: int, fields: dict[str, Any]) -> None:
    # RFC 8446 s4.2.9: PskKeyExchangeMode ke_modes<1..255>.  Only read (a server's PSK decisions
    # follow what OpenSSL will accept, tls_parse_ctos_psk_kex_modes): a malformed one is read as
    # no modes, so no identity is asked about; OpenSSL then fails the handshake (decode_error).
    if end - pos >= 1 and pos + 1 + buf[pos] == end:
        fields["psk_modes"] = buf[pos + 1:end]


def _parse_supported_versions(buf: bytes, pos: int, end: int, fields: dict[str, Any]) -> None:
    # RFC 8446 s4.2.1: in a ClientHello, ProtocolVersion versions<2..254>.  OpenSSL
    # (statem_lib.c ssl_choose_server_version, for TLS_method) refuses trailing bytes, an odd
    # length and an empty list before anything else (LENGTH_MISMATCH, UNSUPPORTED_PROTOCOL).
    fields["supported_versions"] = _uint16_vector(buf, pos, end, 1, "supported_versions", 254)


def _parse_supported_groups(buf: bytes, pos: int, end: int, fields: dict[str, Any]) -> None:
    # RFC 8446 s4.2.7: NamedGroup named_group_list<2..2^16-1>.  OpenSSL
    # (tls_parse_ctos_supported_groups) checks the same on every handshake.
    fields["supported_groups"] = _uint16_vector(buf, pos, end, 2, "supported_groups", 0xFFFF)


def _parse_signature_algorithms(buf: bytes, pos: int, end: int, fields: dict[str, Any]) -> None:
    # RFC 8446 s4.2.3: SignatureScheme supported_signature_algorithms<2..2^16-2>.  OpenSSL
    # (tls_parse_ctos_sig_algs) always wants exactly one non-empty vector, but refuses an odd
    # length only where it keeps the list (tls1_save_sigalgs): not on a resumption, nor below
    # TLS 1.2.  An odd-length list is kept as no schemes.
    _exact_vector(buf, pos, end, 2, "signature_algorithms", 1)
    if (end - pos - 2) & 1:
        return
    fields["signature_algorithms"] = _uint16_list(buf, pos + 2, end, "signature_algorithms")


_EXTENSION_PARSERS: dict[int, Callable[[bytes, int, int, dict[str, Any]], None]] = {
    _EXT_SERVER_NAME: _parse_server_name,
    _EXT_STATUS_REQUEST: _parse_status_request,
    _EXT_SUPPORTED_GROUPS: _parse_supported_groups,
    _EXT_SIGNATURE_ALGORITHMS: _parse_signature_algorithms,
    _EXT_ALPN: _parse_alpn,
    _EXT_SESSION_TICKET: _parse_session_ticket,
    _EXT_PRE_SHARED_KEY: _parse_pre_shared_key,
    _EXT_SUPPORTED_VERSIONS: _parse_supported_versions,
    _EXT_PSK_KEY_EXCHANGE_MODES: _parse_psk_key_exchange_modes,
}


def _parse_extensions(buf: bytes, pos: int, end: int, fields: dict[str, Any]) -> None:
    """Read the extensions block ``buf[pos:end]``: order, duplicates, and the extensions a
    server decides on."""
    # RFC 8446 s4.2: Extension { ExtensionType extension_type; opaque extension_data<0..2^16-1>; }.
    # The types of all extensions, in order, repeats included; and the set of those parsed.
    order = []
    seen = set()
    # Locals, not globals, in the loop that runs once per extension.
    unpack_header = _EXTENSION_HEADER.unpack_from
    parsers = _EXTENSION_PARSERS
    unique = _UNIQUE_EXTENSIONS
    while pos < end:
        start = pos + 4
        if start > end:
            raise _invalid(f"truncated extension header ({end - pos} bytes left)")
        ext_type, length = unpack_header(buf, pos)
        stop = start + length
        if stop > end:
            raise _invalid(f"truncated extension {ext_type} data (needs {length} bytes, {end - start} left)")
        order.append(ext_type)
        parse = parsers.get(ext_type)
        if parse is not None:
            if ext_type not in seen:
                seen.add(ext_type)
                parse(buf, start, stop, fields)
            elif ext_type in unique:
                # RFC 8446 s4.2: "There MUST NOT be more than one extension of the same type";
                # OpenSSL refuses a second one of a type it knows (tls_collect_extensions).
                raise _invalid(f"duplicate extension {ext_type}")
            if ext_type == _EXT_PRE_SHARED_KEY and stop != end:
                # RFC 8446 s4.2.11: "The "pre_shared_key" extension MUST be the last extension";
                # OpenSSL refuses any byte after it (tls_collect_extensions), whatever the version.
                raise _invalid("pre_shared_key is not the last extension")
        pos = stop
    fields["extensions"] = tuple(order)


def _new_client_hello(fields: dict[str, Any]) -> ClientHello:
    """``ClientHello(**fields)`` for ``fields`` holding every field in declaration order.

    The frozen dataclass's ``__init__`` stores each of the 17 fields with an
    ``object.__setattr__`` call, about a quarter of the time of parsing a whole typical hello;
    filling the new instance's ``__dict__`` in one step makes the same object (``ClientHello``
    has no ``__post_init__``, and ``__eq__``, ``__hash__``, ``__repr__`` and
    ``dataclasses.replace`` read the attributes) in a tenth of the time.  So a field added to
    ``ClientHello`` must be added to the dict in ``_new_fields`` too, in its place."""
    hello = object.__new__(ClientHello)
    hello.__dict__.update(fields)
    return hello


def _new_fields(record_version: int, legacy_version: int, random: bytes, session_id: bytes,
                cipher_suites: tuple[int, ...], compression_methods: bytes,
                size: int) -> dict[str, Any]:
    """The fields of a hello with these values and no extensions, in ClientHello's order (see
    _new_client_hello); the extensions fill in theirs."""
    return {
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
        "psk_modes": b"",
        "supported_versions": (),
        "supported_groups": (),
        "signature_algorithms": (),
        "extensions": (),
        "size": size,
    }


def _parse_body(buf: bytes, pos: int, end: int, record_version: int, size: int) -> ClientHello:
    """Parse the ClientHello body ``buf[pos:end]`` (after its 4-byte handshake header)."""
    # RFC 8446 s4.1.2 (RFC 5246 s7.4.1.2): legacy_version, random[32], legacy_session_id<0..32>,
    # cipher_suites<2..2^16-2>, compression_methods<1..2^8-1>.  OpenSSL's reading of them
    # (statem_srvr.c tls_process_client_hello, then bytes_to_cipher_list and the compression
    # check in tls_early_post_process_client_hello, all before any extension is acted on)
    # refuses every hello these checks refuse; it takes any legacy_version, as this does.
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
    # OpenSSL: SSL_R_NO_CIPHERS_SPECIFIED for none, ERROR_IN_RECEIVED_CIPHER_LIST for an odd length.
    stop = _vector(buf, pos, end, 2, "cipher_suites", 2, 0xFFFE)
    cipher_suites = _uint16_list(buf, pos + 2, stop, "cipher_suites")
    pos = stop
    # OpenSSL: SSL_R_NO_COMPRESSION_SPECIFIED for none (and for a list without null, let by here).
    stop = _vector(buf, pos, end, 1, "compression_methods", 1, 0xFF)
    compression_methods = buf[pos + 1:stop]
    pos = stop
    fields = _new_fields(record_version, legacy_version, random, session_id, cipher_suites,
                         compression_methods, size)
    # RFC 5246 s7.4.1.2: a hello without extensions simply ends after compression_methods.
    if pos < end:
        stop = _vector(buf, pos, end, 2, "extensions")
        _parse_extensions(buf, pos + 2, stop, fields)
        if stop != end:
            raise _leftover("ClientHello (bytes after extensions)", end - stop)
    return _new_client_hello(fields)


def _parse_sslv2_hello(buf: bytes, end: int) -> ClientHello:
    """Parse the SSLv2-compatible ClientHello record ``buf[:end]`` (RFC 5246 appendix E.2), as
    OpenSSL 3.0 reads it (statem_srvr.c tls_process_client_hello, ``isv2``): no extensions, so
    no server name; the challenge, right-aligned and zero-padded, is the random; of the 3-byte
    cipher specs, those starting with a zero byte are the TLS suites (bytes_to_cipher_list)."""
    pos = _SSL2_HEADER_LEN + 1  # after the header and msg_type
    if end - pos < _SSL2_HELLO.size:
        raise _truncated("SSLv2-compatible ClientHello", _SSL2_HELLO.size, end - pos)
    legacy_version, specs_length, session_id_length, challenge_length = _SSL2_HELLO.unpack_from(buf, pos)
    pos += _SSL2_HELLO.size
    if session_id_length > 32:
        raise _invalid(f"SSLv2-compatible ClientHello session_id length {session_id_length} exceeds 32")
    if pos + specs_length + session_id_length + challenge_length != end:
        raise _invalid("SSLv2-compatible ClientHello lengths do not add up to its record length")
    if specs_length == 0 or specs_length % 3:
        raise _invalid(f"SSLv2-compatible ClientHello cipher_specs length {specs_length} "
                       "is not a positive multiple of 3")
    specs = buf[pos:pos + specs_length]
    pos += specs_length
    cipher_suites = tuple(specs[i + 1] << 8 | specs[i + 2] for i in range(0, specs_length, 3)
                          if specs[i] == 0)
    session_id = buf[pos:pos + session_id_length]
    pos += session_id_length
    kept = min(challenge_length, 32)
    random = bytes(32 - kept) + buf[pos:pos + kept]
    fields = _new_fields(_SSL2_VERSION, legacy_version, random, session_id, cipher_suites,
                         b"\x00", end)
    return _new_client_hello(fields)


def _not_tls(first: int) -> NotTLSError:
    """The error for a stream whose first byte is ``first`` (not 0x16)."""
    if first & 0x80:
        # RFC 6101 appendix E.1 / RFC 5246 appendix E.2: SSLv2 records start with a 2-byte
        # length whose top bit is set; only an SSLv2-compatible ClientHello is read.
        what = "an SSLv2 record that is not a ClientHello"
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


MAX_CLIENT_HELLO_SIZE = _fewest_record_bytes(_HANDSHAKE_HEADER_LEN + _OPENSSL_MAX_HELLO_BODY)  # 131445


class ClientHelloParser:
    """Incrementally read the first TLS handshake message a client sends; see the module doc.

    ``max_size`` bounds ``ClientHello.size``, the bytes of records the hello may take (the
    bytes buffered before OpenSSL sees any); a hello that needs more raises
    ``ClientHelloTooLargeError`` as soon as its headers show it.
    """

    __slots__ = ("_max_size", "_buf", "_record_start", "_record_version", "_handshake",
                 "_empty_records", "_hello", "_error")

    def __init__(self, max_size: int = MAX_CLIENT_HELLO_SIZE):
        if not isinstance(max_size, int) or isinstance(max_size, bool):
            raise TypeError(f"max_size must be an int, not {type(max_size).__name__}")
        if max_size < _RECORD_HEADER_LEN + _HANDSHAKE_HEADER_LEN:
            raise ValueError(f"max_size must be at least 9, not {max_size}")
        self._max_size = max_size
        self._buf = bytearray()
        self._record_start = 0  # where the next unconsumed record header begins in _buf
        self._record_version = 0  # of the first record with hello bytes, once consumed
        self._handshake = bytearray()  # fragments of the records consumed so far
        self._empty_records = 0  # zero-length records consumed since the last non-empty one
        self._hello: ClientHello | None = None
        self._error: ClientHelloError | None = None

    @property
    def buffered(self) -> bytes:
        """Every byte fed so far, the hello and whatever followed it, for OpenSSL to read next."""
        return bytes(self._buf)

    def feed(self, data: bytes) -> ClientHello | None:
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

    def _hello_in_first_record(self, data: bytes) -> ClientHello | None:
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

    def _consume_records(self) -> ClientHello | None:
        """Called by ``feed`` with new bytes: consume each complete record once, check early."""
        buf = self._buf
        while True:
            start = self._record_start
            available = len(buf) - start
            if available <= 0:
                return None
            content_type = buf[start]
            if start == 0 and content_type & 0x80:
                return self._sslv2_hello()
            self._check_content_type(content_type, first=start == 0)
            if available >= 2 and buf[start + 1] != 3:
                # RFC 5246 appendix E.1: clients may send any {03,XX} as the record version;
                # OpenSSL takes any of them in every record of the hello, and refuses another
                # major version ("wrong version number", tlsany_meth.c tls_validate_record_header).
                raise _invalid(f"record version 0x{buf[start + 1]:02x}?? is not TLS (0x03??)")
            if available < _RECORD_HEADER_LEN:
                return None
            _, version, length = _RECORD_HEADER.unpack_from(buf, start)
            end = start + _RECORD_HEADER_LEN + length
            self._check_record_length(content_type, length, end)
            if len(buf) < end:
                return None
            self._record_start = end
            if length == 0:
                # RFC 8446 s5.1: "Implementations MUST NOT send zero-length fragments of
                # Handshake types", but OpenSSL skips them (rec_layer_s3.c ssl3_read_bytes: "We
                # must have read empty records"), and empty change_cipher_spec records while it
                # reads a message header (tls_get_message_header): 32 in a row at most
                # (tls_common.c tls_get_more_records, SSL_R_RECORD_TOO_SMALL).
                self._empty_records += 1
                if self._empty_records > MAX_EMPTY_RECORDS:
                    raise _invalid(f"more than {MAX_EMPTY_RECORDS} zero-length records in a row")
                continue
            self._empty_records = 0
            if not self._handshake:
                self._record_version = version
            self._handshake += buf[start + _RECORD_HEADER_LEN:end]
            hello = self._try_hello()
            if hello is not None:
                return hello

    def _check_content_type(self, content_type: int, first: bool) -> None:
        """Called for each record's first byte, as soon as it has arrived."""
        if content_type == _CONTENT_HANDSHAKE:
            return
        if content_type == _CONTENT_CHANGE_CIPHER_SPEC and len(self._handshake) < _HANDSHAKE_HEADER_LEN:
            return  # perhaps an empty one, which OpenSSL skips: see _check_record_length
        if first:
            raise _not_tls(content_type)
        # RFC 8446 s5.1: "Handshake messages MUST NOT be interleaved with other record types."
        name = _CONTENT_TYPES.get(content_type, "unknown")
        raise _invalid(f"a record of content type {content_type} ({name}) interrupts the hello")

    def _check_record_length(self, content_type: int, length: int, end: int) -> None:
        """Called with each record header, before its fragment is awaited."""
        if length == 0:
            pass  # skipped, and counted, once consumed (_consume_records)
        elif content_type != _CONTENT_HANDSHAKE:
            # A change_cipher_spec with a fragment, where a ClientHello is expected: OpenSSL
            # refuses it ("unexpected message", or "bad change cipher spec" mid-header).
            if self._record_start == 0:
                raise _not_tls(content_type)
            raise _invalid(f"a record of content type {content_type} "
                           f"({_CONTENT_TYPES[content_type]}) interrupts the hello")
        elif length > MAX_RECORD_PAYLOAD:
            raise _invalid(f"record length {length} exceeds 2^14 (RFC 8446 s5.1)")
        if end > self._max_size:
            raise ClientHelloTooLargeError(
                f"ClientHello takes more than {self._max_size} bytes of records")

    def _sslv2_hello(self) -> ClientHello | None:
        """Called by ``_consume_records`` when the stream's first byte has its top bit set: an
        SSLv2 record header (RFC 5246 appendix E.2).  OpenSSL reads it as a hello only as the
        first record of the stream, holding msg_type 1 (ssl3_record.c ssl3_get_record; 4.0's
        tls_common.c tls_get_more_records); every other such stream it refuses."""
        buf = self._buf
        if len(buf) < 3:
            return None
        if buf[2] != _SSL2_MT_CLIENT_HELLO:
            raise _not_tls(buf[0])
        if len(buf) >= 4 and buf[3] != 3:
            # statem_srvr.c tls_early_post_process_client_hello: a real SSLv2 hello (version
            # 0x0002), or anything but {03,XX}, is SSL_R_UNKNOWN_PROTOCOL.
            raise NotTLSError("invalid ClientHello: an SSLv2 ClientHello, not an SSLv3/TLS one "
                              "in SSLv2 format (SSLv2 is not supported, RFC 6176)")
        length = (buf[0] & 0x7F) << 8 | buf[1]
        if length < _MIN_SSL2_RECORD_LEN:
            raise _invalid(f"SSLv2-compatible ClientHello record length {length} is below "
                           f"{_MIN_SSL2_RECORD_LEN}")
        end = _SSL2_HEADER_LEN + length
        if end > self._max_size:
            raise ClientHelloTooLargeError(
                f"ClientHello takes more than {self._max_size} bytes of records")
        if len(buf) < end:
            return None
        self._record_start = end
        return _parse_sslv2_hello(bytes(buf[:end]), end)

    def _try_hello(self) -> ClientHello | None:
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
                    f"ClientHello of {total} bytes needs more than the {self._max_size} bytes of records allowed")
            return None
        return _parse_body(bytes(handshake), _HANDSHAKE_HEADER_LEN, total, self._record_version,
                           self._record_start)


def parse_client_hello(data: bytes) -> ClientHello:
    """Parse a complete ClientHello from ``data``; raise ``ClientHelloError`` if it is not one,
    or if ``data`` ends before the hello does."""
    hello = ClientHelloParser().feed(data)
    if hello is None:
        raise ClientHelloError(f"incomplete ClientHello: {len(data)} bytes end before the hello")
    return hello
