"""TLS sessions as bytes, as Node hands them around (docs/architecture.rst, "fact-sessions-as-bytes",
"fact-unexpected-eof", "fact-ticket-keys-fork").

pyOpenSSL's ``Session`` has no bytes form and ``Connection.set_session`` takes only a session of
the very same context (docs/architecture.rst, "fact-sessions-as-bytes"), while Node's ``session``
option is DER bytes usable with any client context.  ``i2d_SSL_SESSION``/``d2i_SSL_SESSION``/
``SSL_set_session`` are bound, and a session decoded afresh belongs to no context's cache, so any
client ``SSL`` may offer it.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from OpenSSL import SSL

from greentls._base.binding import ffi as _ffi, lib as _lib
from greentls._parse.certinfo import der_element

if TYPE_CHECKING:
    from greentls._base.binding import CData
    from greentls._config.context import SecureContext

__all__ = ["apply_client_session", "current_session_bytes", "session_id_from_der", "ticket_from_der",
           "without_id_context"]


def apply_client_session(conn: SSL.Connection, session: object) -> None:
    """Offer the DER session ``session`` (from ``get_session()``) on a client connection."""
    if not isinstance(session, (bytes, bytearray, memoryview)):
        raise TypeError("option 'session' must be bytes from get_session() or the 'session' signal")
    data = without_id_context(bytes(session))
    buf = _ffi.new("unsigned char[]", data)
    pointer = _ffi.new("unsigned char **", buf)
    ssl_session = _lib.d2i_SSL_SESSION(_ffi.NULL, pointer, len(data))
    if ssl_session == _ffi.NULL:
        _lib.ERR_clear_error()
        raise ValueError("option 'session': not a DER-encoded TLS session")
    try:
        if not _lib.SSL_set_session(conn._ssl, ssl_session):
            _lib.ERR_clear_error()
            raise ValueError("option 'session': OpenSSL refused the session")
    finally:
        _lib.SSL_SESSION_free(ssl_session)  # SSL_set_session took its own reference


#: ``session_id_context [4] EXPLICIT OCTET STRING`` of OpenSSL's ``SSL_SESSION_ASN1`` (ssl/ssl_asn1.c).
_ID_CONTEXT_TAG = 0xA4


def _der_length(length: int) -> bytes:
    if length < 0x80:
        return bytes([length])
    body = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def without_id_context(der: bytes) -> bytes:
    """``der`` without the session id context the client that made it had.

    A client context has none (``SecureContext``, as Node's), but a session saved by a greentls
    before that carries its program's argv-derived id, and OpenSSL's client refuses to resume a
    session whose id is not its own (ATTEMPT_TO_REUSE_SESSION_IN_DIFFERENT_CONTEXT: a fatal
    handshake error, not a fallback to a full handshake).  The id is the client's own guard; the
    server checks its own id, in its own cache or ticket, whatever the client holds, so dropping
    it changes nothing the server decides.  Bytes that do not parse are returned as they are,
    for OpenSSL to refuse (``apply_client_session``)."""
    try:
        tag, start, end = der_element(der, 0)
        if tag != 0x30 or end > len(der):
            return der
        kept, pos, found = [], start, False
        while pos < end:
            item_tag, _value_start, item_end = der_element(der, pos)
            if item_end > end:
                return der
            if item_tag == _ID_CONTEXT_TAG:
                found = True
            else:
                kept.append(der[pos:item_end])
            pos = item_end
    except IndexError:
        return der
    if not found:
        return der
    body = b"".join(kept)
    return b"\x30" + _der_length(len(body)) + body + der[end:]


def current_session_bytes(conn: SSL.Connection) -> bytes | None:
    """DER bytes of the connection's current session, or None."""
    return session_to_bytes(_lib.SSL_get_session(conn._ssl))


def _der_items(data: bytes, start: int, end: int) -> Iterator[tuple[int, int, int]]:
    """Yield (tag, value_start, value_end) of the DER items in ``data[start:end]``."""
    pos = start
    while pos < end:
        tag, value_start, value_end = der_element(data, pos)
        yield tag, value_start, value_end
        pos = value_end


def _session_fields(der: bytes) -> list[tuple[int, int, int]]:
    """The items of OpenSSL's ``SSL_SESSION_ASN1`` SEQUENCE (ssl/ssl_asn1.c)."""
    tag, start, end = next(_der_items(der, 0, len(der)))
    if tag != 0x30:
        raise ValueError("not a DER SSL_SESSION")
    return list(_der_items(der, start, end))


def session_id_from_der(der: bytes) -> bytes:
    """The session id of a DER session: the fourth field, ``session_id OCTET STRING``
    (ssl/ssl_asn1.c; SSL_SESSION_get_id is not bound: docs/architecture.rst, "fact-binding-gaps")."""
    _tag, start, end = _session_fields(der)[3]
    return der[start:end]


def ticket_from_der(der: bytes) -> bytes | None:
    """The session ticket a client holds (``tlsext_tick``, ``[10] EXPLICIT OCTET STRING`` in
    ssl/ssl_asn1.c; SSL_SESSION_get0_ticket is not bound), or None."""
    for tag, start, end in _session_fields(der):
        if tag == 0xAA:
            _inner, vstart, vend = next(_der_items(der, start, end))
            return der[vstart:vend]
    return None


#: Node's default ``sessionTimeout`` (doc/api/tls.md, ``tls.createServer``): 300 seconds.
DEFAULT_SESSION_TIMEOUT = 300


def apply_session_timeout(context: SecureContext, seconds: float | None, *, explicit: bool) -> None:
    """Set how long the server's sessions stay resumable (``SSL_CTX_set_timeout``).

    A context cannot change once a connection was made from it and ``SSL_SESSION_set_timeout`` is
    not bound (docs/architecture.rst, "fact-context-immutable", "fact-binding-gaps"), so the
    timeout is set on the contexts the server uses before their first connection; an explicit
    ``session_timeout`` with a ``secure_context``
    that already served raises instead of being silently ignored.
    """
    value = DEFAULT_SESSION_TIMEOUT if seconds is None else max(1, int(seconds))
    context.session_timeout = value  # for the server contexts it builds later
    try:
        for server_context in context.server_contexts():
            server_context.set_timeout(value)
    except ValueError as exc:
        if explicit:
            raise ValueError("option 'session_timeout': the secure_context was already used "
                             "for a connection, and a context cannot change after that; pass "
                             "a secure_context that has not served yet (a new "
                             "create_secure_context()), or leave session_timeout out") from exc


def session_to_bytes(ssl_session: CData) -> bytes | None:
    """DER bytes of an ``SSL_SESSION*`` (docs/architecture.rst, "fact-sessions-as-bytes"), or None."""
    if ssl_session == _ffi.NULL:
        return None
    length: int = _lib.i2d_SSL_SESSION(ssl_session, _ffi.NULL)
    if length <= 0:
        return None
    buf = _ffi.new("unsigned char[]", length)
    pointer = _ffi.new("unsigned char **", buf)
    _lib.i2d_SSL_SESSION(ssl_session, pointer)
    return bytes(_ffi.buffer(buf, length))
