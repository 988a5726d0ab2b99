"""``TLSSocket.enable_trace()`` (Node's ``enableTrace``): one line per handshake message,
ChangeCipherSpec and alert, in both directions.

Theory of operation.  OpenSSL reports every protocol message to a context's message callback
(``SSL_CTX_set_msg_callback``), and also every record header, so a connection that carries the
callback pays a Python call per record read or written.  The binding has no per-connection
``SSL_set_msg_callback``, and OpenSSL copies the context's callback into a connection when the
connection is created (``SSL_new``), never later.  So a connection is traced only when it is
created to be: the engine sets the callback on the context for the one ``SSL_new`` of a traced
connection and clears it at once (``TLSEngine``, ``msg_callback``), and every other connection,
before and after, has none and pays nothing.

The callback runs inside OpenSSL (docs/architecture.rst, "fact-callbacks"): it formats a line
(pure computation) and records it in the connection's ``Watch``; the connection's greenlet
delivers the lines after the operation, to ``trace`` signal receivers or else to standard
error (``Watch.deliver_trace``).  Node prints OpenSSL's ``SSL_trace`` text, which the binding
does not export; these lines are greentls's own, shorter format.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, cast

from OpenSSL import SSL

from greentls._base.binding import ffi as _ffi
from greentls._parse.pskinfo import is_hello_retry_request

if TYPE_CHECKING:
    from greentls._base.binding import CData
    from greentls._engine.engine import TLSEngine

__all__ = ["MSG_CALLBACK", "describe", "PREFIX"]

#: The start of every trace line.
PREFIX = "greentls trace: "

# Content types (RFC 8446 section 5.1) that are protocol messages; OpenSSL's pseudo types for
# record headers (SSL3_RT_HEADER) and TLS 1.3 inner content types (0x101) are not.
_CHANGE_CIPHER_SPEC = 20
#: OpenSSL's SSL3_RT_HEADER: the callback's report of a record header.
_RECORD_HEADER = 0x100
_ALERT = 21
_HANDSHAKE = 22

#: Handshake message types (RFC 8446 section 4, RFC 5246 section 7.4, RFC 6066 section 8).
_HANDSHAKE_TYPES = {
    0: "HelloRequest", 1: "ClientHello", 2: "ServerHello", 3: "HelloVerifyRequest",
    4: "NewSessionTicket", 5: "EndOfEarlyData", 8: "EncryptedExtensions", 11: "Certificate",
    12: "ServerKeyExchange", 13: "CertificateRequest", 14: "ServerHelloDone",
    15: "CertificateVerify", 16: "ClientKeyExchange", 20: "Finished", 22: "CertificateStatus",
    24: "KeyUpdate", 25: "CompressedCertificate", 254: "MessageHash",
}

#: Alert descriptions (RFC 8446 section 6, RFC 7301 section 3.2).
_ALERTS = {
    0: "close_notify", 10: "unexpected_message", 20: "bad_record_mac", 21: "decryption_failed",
    22: "record_overflow", 30: "decompression_failure", 40: "handshake_failure",
    41: "no_certificate", 42: "bad_certificate", 43: "unsupported_certificate",
    44: "certificate_revoked", 45: "certificate_expired", 46: "certificate_unknown",
    47: "illegal_parameter", 48: "unknown_ca", 49: "access_denied", 50: "decode_error",
    51: "decrypt_error", 60: "export_restriction", 70: "protocol_version",
    71: "insufficient_security", 80: "internal_error", 86: "inappropriate_fallback",
    90: "user_canceled", 100: "no_renegotiation", 109: "missing_extension",
    110: "unsupported_extension", 111: "certificate_unobtainable", 112: "unrecognized_name",
    113: "bad_certificate_status_response", 114: "bad_certificate_hash_value",
    115: "unknown_psk_identity", 116: "certificate_required", 120: "no_application_protocol",
}

#: RFC 8446 section 4.1.3: a ServerHello with this random is a HelloRetryRequest.


def describe(sent: bool, content_type: int, message: bytes) -> str | None:
    """The trace line for one protocol message, or None for what is not one (record headers)."""
    arrow = "->" if sent else "<-"
    if content_type == _HANDSHAKE and message:
        name = _HANDSHAKE_TYPES.get(message[0], f"handshake type {message[0]}")
        if message[0] == 2 and is_hello_retry_request(message[4:]):
            name = "HelloRetryRequest"
        return f"{PREFIX}{arrow} {name} ({len(message)} bytes)"
    if content_type == _ALERT and len(message) >= 2:
        level = {1: "warning", 2: "fatal"}.get(message[0], f"level {message[0]}")
        return f"{PREFIX}{arrow} Alert {level} {_ALERTS.get(message[1], f'alert {message[1]}')}"
    if content_type == _CHANGE_CIPHER_SPEC:
        return f"{PREFIX}{arrow} ChangeCipherSpec"
    return None


@_ffi.callback("void (*)(int, int, int, const void *, size_t, SSL *, void *)")
def _on_message(write_p: int, _version: int, content_type: int, buf: CData, length: int, ssl: CData,
                _arg: CData) -> None:
    """OpenSSL's message callback, on traced connections only: describe and record; never
    blocks or switches."""
    if content_type == _RECORD_HEADER and not write_p and length >= 1 and _ffi.cast("unsigned char *", buf)[0] == \
            _CHANGE_CIPHER_SPEC:
        # OpenSSL 4 reports a received TLS 1.2 ChangeCipherSpec only by its record header (and
        # a TLS 1.3 one both ways): the header is the one sign of it in every version.
        content_type = _CHANGE_CIPHER_SPEC
    elif content_type not in (_HANDSHAKE, _ALERT) and not (content_type == _CHANGE_CIPHER_SPEC and write_p):
        return  # other record headers and inner content types: the most frequent calls
    conn = SSL.Connection._reverse_mapping.get(ssl)
    engine: TLSEngine | None = conn.get_app_data() if conn is not None else None
    record = engine.record if engine is not None else None
    add = getattr(record, "add_trace_line", None)
    if add is None:
        return
    line = describe(bool(write_p), content_type, bytes(_ffi.buffer(buf, length)))
    if line is not None:
        add(line)


#: The C callback a traced engine's connection is created with (``TLSEngine``); cffi's
#: decorator returns the C function pointer, whatever the decorated function's type says.
MSG_CALLBACK = cast("CData", _on_message)
