"""TLS-PSK (Node's ``pskCallback`` and ``pskIdentityHint``): OpenSSL's side.

Theory of operation.  OpenSSL asks for a pre-shared key from inside the handshake, through the
callbacks set here, and those run inside OpenSSL: they may not block or switch greenlets
(docs/architecture.rst, "fact-callbacks").  The user's ``psk_callback`` may block, so the
connection's greenlet asks it first, from what the handshake already carried, and the OpenSSL
callbacks only read the answer out of the connection's ``CallbackRecord``:

* a server asks for the key of each identity the client names: in a TLS 1.3 ClientHello's
  ``pre_shared_key`` extension (when the hello is parsed, ``HelloReady``), or in a TLS 1.2
  PSK ClientKeyExchange, read off the memory pump before OpenSSL gets it
  (``_parse/pskinfo.py``).  ``psk_keys`` maps identity -> key;
* a client asks once before its ClientHello (``hint`` None: what OpenSSL asks for a TLS 1.3
  external PSK), and again with the server's hint when a TLS 1.2 server selected a PSK cipher
  suite, before OpenSSL reads the ServerHelloDone.  ``psk_answer`` is (identity, key).

OpenSSL copies a context's PSK callbacks into each connection it creates (``SSL_new``), and the
binding has no per-connection setter, so the callbacks are set on the OpenSSL context itself
and stay there.  A connection with no answer gets none (0: no PSK), so another user of the same
context is refused a PSK handshake, never given one.  With a PSK callback set OpenSSL also
enables the PSK cipher suites a cipher list names; the default list names none.
"""
from __future__ import annotations

import threading
import weakref
from typing import TYPE_CHECKING, Any, cast

from OpenSSL import SSL

from greentls._base.binding import ffi as _ffi, lib as _lib

if TYPE_CHECKING:
    from greentls._base.binding import CData
    from greentls._config.record import CallbackRecord

__all__ = ["install_server", "install_client", "server_key", "client_answer", "is_psk_cipher",
           "MAX_IDENTITY", "MAX_KEY"]

#: OpenSSL's PSK_MAX_IDENTITY_LEN and PSK_MAX_PSK_LEN (ssl/ssl_local.h).
MAX_IDENTITY = 128
MAX_KEY = 512


def _record_of(ssl: CData) -> CallbackRecord | None:
    conn = SSL.Connection._reverse_mapping.get(ssl)
    engine = conn.get_app_data() if conn is not None else None
    return getattr(engine, "record", None)


@_ffi.callback("unsigned int(SSL *, char *, unsigned char *, unsigned int)")
def _server_callback(ssl: CData, identity: CData, psk: CData, max_psk_len: int) -> int:
    """Inside OpenSSL (server): the key the greenlet already chose for ``identity``, or 0."""
    try:
        record = _record_of(ssl)
        if record is None or not record.psk_keys or identity == _ffi.NULL:
            return 0
        keys = record.psk_keys
        name = cast("bytes", _ffi.string(identity))  # a char *: bytes
        key = keys.get(name)
        if not key or len(key) > max_psk_len:
            return 0
        _ffi.memmove(psk, key, len(key))
        record.psk_served = True
        return len(key)
    except Exception:  # never into OpenSSL: no key, and the handshake fails
        return 0


@_ffi.callback("unsigned int(SSL *, char *, char *, unsigned int, unsigned char *, unsigned int)")
def _client_callback(ssl: CData, hint: CData, identity: CData, max_identity_len: int, psk: CData,
                     max_psk_len: int) -> int:
    """Inside OpenSSL (client): the identity and key the greenlet already chose, or 0."""
    try:
        record = _record_of(ssl)
        answer = record.psk_answer if record is not None else None
        if answer is None:
            return 0
        name, key = answer
        if len(name) > max_identity_len or not key or len(key) > max_psk_len:
            return 0
        _ffi.memmove(identity, name + b"\0", len(name) + 1)
        _ffi.memmove(psk, key, len(key))
        return len(key)
    except Exception:
        return 0


#: Contexts with the server callback -> the hint they send; contexts with the client callback.
#: A context is set up once (a connection through an SNI context asks again each time), under
#: a lock, since OS threads may make connections from one context.
_servers: weakref.WeakKeyDictionary[SSL.Context, str | None] = weakref.WeakKeyDictionary()
_clients: weakref.WeakSet[SSL.Context] = weakref.WeakSet()
_lock = threading.Lock()


def install_server(context: SSL.Context, hint: str | None) -> None:
    """Let connections made from ``context`` take a PSK (and send ``hint`` in TLS 1.2)."""
    with _lock:
        if context in _servers and _servers[context] == hint:
            return
        ctx = context._context
        _lib.SSL_CTX_set_psk_server_callback(ctx, _server_callback)
        # None clears a hint set before (OpenSSL takes NULL for none), so it is never kept.
        encoded = _ffi.NULL if hint is None else hint.encode("utf-8")
        if not _lib.SSL_CTX_use_psk_identity_hint(ctx, encoded):
            _lib.ERR_clear_error()
            raise ValueError(f"option 'psk_identity_hint': OpenSSL refused {hint!r} "
                             f"(at most {MAX_IDENTITY} bytes)")
        _servers[context] = hint


def install_client(context: SSL.Context) -> None:
    """Let connections made from ``context`` offer a PSK."""
    with _lock:
        if context not in _clients:
            _lib.SSL_CTX_set_psk_client_callback(context._context, _client_callback)
            _clients.add(context)


def server_key(answer: Any) -> bytes | None:
    """A server ``psk_callback``'s answer checked: the key as bytes, or None (no key)."""
    if answer is None:
        return None
    if not isinstance(answer, (bytes, bytearray, memoryview)):
        raise TypeError(f"psk_callback must return bytes or None, not {type(answer).__name__}")
    key = bytes(answer)
    if not 0 < len(key) <= MAX_KEY:
        raise ValueError(f"psk_callback returned a key of {len(key)} bytes (1 to {MAX_KEY})")
    return key


def client_answer(answer: Any) -> tuple[bytes, bytes] | None:
    """A client ``psk_callback``'s answer checked: (identity, key), or None (no PSK)."""
    if answer is None:
        return None
    if not isinstance(answer, dict) or "psk" not in answer or "identity" not in answer:
        raise TypeError('psk_callback must return {"psk": bytes, "identity": str} or None')
    identity, key = answer["identity"], answer["psk"]
    if not isinstance(identity, str):
        raise TypeError(f"psk_callback: 'identity' must be a str, not {type(identity).__name__}")
    if not isinstance(key, (bytes, bytearray, memoryview)):
        raise TypeError(f"psk_callback: 'psk' must be bytes, not {type(key).__name__}")
    name = identity.encode("utf-8")
    if len(name) > MAX_IDENTITY or "\0" in identity:
        raise ValueError(f"psk_callback: 'identity' must be at most {MAX_IDENTITY} bytes in UTF-8, without NUL")
    key = bytes(key)
    if not 0 < len(key) <= MAX_KEY:
        raise ValueError(f"psk_callback: 'psk' is {len(key)} bytes (1 to {MAX_KEY})")
    return name, key


def is_psk_cipher(conn: SSL.Connection, suite: bytes | None = None) -> bool:
    """True when the cipher suite (the connection's current one, or ``suite``'s two bytes as a
    ServerHello names it) is a PSK suite."""
    ssl = conn._ssl
    cipher = _lib.SSL_get_current_cipher(ssl) if suite is None else \
        _lib.SSL_CIPHER_find(ssl, _ffi.new("unsigned char[]", suite))
    if cipher == _ffi.NULL:
        return False
    name = _ffi.string(_lib.SSL_CIPHER_get_name(cipher))
    return b"PSK" in name
