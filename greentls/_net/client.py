"""``connect()``: open a TLS client connection (Node's ``tls.connect``).

Blocks the calling greenlet (only it) until the handshake is done and the server verified, then
sends ``secure_connect`` and returns the socket.  Verification follows Node's
``onConnectSecure`` (lib/_tls_wrap.js): OpenSSL's chain result first, then, unless the session
was resumed, ``check_server_identity(servername or host, peer certificate)``.
"""
from __future__ import annotations

import os
import socket as _stdlib_socket
import threading
from collections.abc import Callable
from typing import Any

from gevent import socket as gsocket

from greentls import signals
from greentls._config.context import BuildInputs, SecureContext, build_inputs
from greentls._config.options import (
    CONNECT_OPTIONS,
    CONTEXT_OPTIONS,
    Options,
    check_bool,
    check_seconds,
    reject_unknown,
    split_options,
)
from greentls._parse.identity import check_server_identity as _default_check_server_identity, is_ip_literal
from greentls._tls.socket import TLSSocket, new_socket

__all__ = ["connect"]


def _open_transport(port: object, host: str, path: str | None, lookup: Callable[[str], str] | None,
                    timeout: float | None) -> gsocket.socket:
    if path is not None:
        sock = gsocket.socket(_stdlib_socket.AF_UNIX, _stdlib_socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect(os.fspath(path))
        except BaseException:
            sock.close()
            raise
        return sock
    if port is None:
        raise TypeError("connect() needs 'port' (or 'path' or 'socket')")
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port <= 65535:
        raise ValueError(f"option 'port' must be an int in 1..65535, got {port!r}")
    address = lookup(host) if lookup is not None else host
    sock = gsocket.create_connection((address, port), timeout=timeout)
    sock.setsockopt(_stdlib_socket.IPPROTO_TCP, _stdlib_socket.TCP_NODELAY, 1)
    return sock


def connect(port: int | None = None, host: str | None = None, *, path: str | None = None,
            **options: Any) -> TLSSocket:
    """Connect, handshake and verify; returns the ``TLSSocket`` (the options: docs/api/options.rst)."""
    reject_unknown(options, CONNECT_OPTIONS | CONTEXT_OPTIONS, "connect")
    port = options.pop("port", port)
    host = options.pop("host", host) or "localhost"
    path = options.pop("path", path)
    timeout = check_seconds("timeout", options.pop("timeout", None), allow_none=True)
    reject = check_bool("reject_unauthorized", options.pop("reject_unauthorized", True))
    trace = check_bool("enable_trace", options.pop("enable_trace", False))
    identity = options.pop("check_server_identity", None) or _default_check_server_identity
    if not callable(identity):
        raise TypeError("option 'check_server_identity' must be callable")
    listener = options.pop("secure_connect_listener", None)
    psk_callback = options.get("psk_callback")
    if psk_callback is not None and not callable(psk_callback):
        raise TypeError("option 'psk_callback' must be callable")
    servername = options.pop("servername", None)
    if servername is None and not is_ip_literal(host):
        servername = host
    sock = options.pop("socket", None)
    lookup = options.pop("lookup", None)
    min_dh_size = options.pop("min_dh_size", 1024)
    if isinstance(min_dh_size, bool) or not isinstance(min_dh_size, int) or min_dh_size <= 0:
        raise ValueError("option 'min_dh_size' must be a positive int")
    context_options = split_options(options, CONTEXT_OPTIONS)
    secure_context = options.pop("secure_context", None) or _client_context(context_options)
    own_transport = sock is None
    if own_transport:
        sock = _open_transport(port, host, path, lookup, timeout)
    elif timeout is not None and hasattr(sock, "settimeout"):
        sock.settimeout(timeout)
    try:
        tls = new_socket(sock, is_server=False, reject_unauthorized=reject,
                         alpn_protocols=options.get("alpn_protocols"), servername=servername or None,
                         session=options.get("session"), request_ocsp=bool(options.get("request_ocsp")),
                         secure_context=secure_context, identity_check=(identity, servername or host),
                         min_dh_size=min_dh_size,
                         enable_trace=trace, psk_callback=psk_callback)
    except BaseException:
        if own_transport:
            sock.close()
        raise
    tls.do_handshake()
    if signals.has_receivers(signals.secure_connect, tls):
        signals.secure_connect.send(tls)
    if listener is not None:
        listener(tls)
    return tls


# Client contexts built from the same options are the same configuration: build each once.
# (Loading the default trust store alone costs milliseconds per context.)  Only options whose
# values are hashable content are cached; path-likes are re-read each time, as files may change.
#: Options key -> (the context, ``_build_settings()`` when it was built).
_CONTEXT_CACHE: dict[tuple[tuple[str, Any], ...], tuple[SecureContext, BuildInputs]] = {}
_CONTEXT_CACHE_SIZE = 64


_CONTEXT_CACHE_LOCK = threading.Lock()


def _client_context(options: Options) -> SecureContext:
    """The cached client context for ``options`` and the current defaults, built if needed.
    Safe across OS threads: the lock guards the table only, never a build (two threads that
    miss together may both build; the last stored wins, and both contexts are correct)."""
    try:
        key = tuple(sorted((k, _freeze(v)) for k, v in options.items()))
        hash(key)
    except TypeError:
        return SecureContext(**options)
    settings = _build_settings()
    with _CONTEXT_CACHE_LOCK:
        cached = _CONTEXT_CACHE.get(key)
    if cached is not None and cached[1] == settings:
        return cached[0]
    context = SecureContext(**options)
    with _CONTEXT_CACHE_LOCK:
        _CONTEXT_CACHE.pop(key, None)
        while len(_CONTEXT_CACHE) >= _CONTEXT_CACHE_SIZE:
            _CONTEXT_CACHE.pop(next(iter(_CONTEXT_CACHE)))
        _CONTEXT_CACHE[key] = (context, settings)
    return context


def _build_settings() -> BuildInputs:
    """What a context reads besides its options, when it is built: the DEFAULT_* settings, the
    default trust and SSLKEYLOGFILE (``BuildInputs``).  A change invalidates the cached contexts."""
    return build_inputs()


def _freeze(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    if isinstance(value, os.PathLike):
        raise TypeError("files are not cached")
    return value
