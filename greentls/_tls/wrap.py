"""Drop-in use by code written for the stdlib ``ssl`` module (docs/guides/stdlib.rst).

``http.client``, ``urllib.request`` and ``smtplib`` take an ``ssl.SSLContext`` and call
``context.wrap_socket(sock, server_hostname=host)`` on a connected plain socket, then use the
result as an ``ssl.SSLSocket`` (``makefile``, ``sendall``, ``getpeercert``, ``close``).  Here a
``SecureContext`` plays the context and a ``TLSSocket`` the socket.  The stdlib's policy
attributes are honoured as it defines them (Lib/ssl.py, ``SSLContext``): a client verifies the
peer unless ``verify_mode`` is ``CERT_NONE`` and checks ``server_hostname`` unless
``check_hostname`` is False.  A plain blocking socket blocks its thread (the memory pump reads
it with ``recv``); a gevent or monkey-patched socket blocks only the calling greenlet.
"""
from __future__ import annotations

import ssl as _ssl
from typing import Any

from greentls._config.context import SecureContext, register_socket_layer
from greentls._config.options import CONTEXT_OPTIONS, Options, reject_unknown, split_options
from greentls._parse.identity import check_server_identity, is_ip_literal
from greentls._tls.socket import TLSSocket, new_socket

__all__ = ["wrap_socket", "wrap_with_context"]

#: ``wrap_socket`` options that are not context options.
_SOCKET_OPTIONS = frozenset(
    "context server_side server_hostname do_handshake_on_connect suppress_ragged_eofs "
    "request_cert reject_unauthorized alpn_protocols".split())


def wrap_socket(sock: Any, **options: Any) -> TLSSocket:
    """Wrap a connected socket in a ``TLSSocket``, as ``ssl.SSLContext.wrap_socket`` does.

    ``context`` (a ``SecureContext``) or the context options build the configuration;
    ``server_side``, ``server_hostname``, ``do_handshake_on_connect`` and
    ``suppress_ragged_eofs`` mean what they mean to the stdlib; a server may also pass Node's
    ``request_cert``/``reject_unauthorized``, and either side ``alpn_protocols``.
    """
    reject_unknown(options, _SOCKET_OPTIONS | CONTEXT_OPTIONS, "wrap_socket")
    context = options.pop("context", None)
    if context is None:
        context = SecureContext(**split_options(options, CONTEXT_OPTIONS))
    elif not isinstance(context, SecureContext):
        raise TypeError("option 'context' must be a greentls.SecureContext")
    elif split_options(options, CONTEXT_OPTIONS):
        raise TypeError("wrap_socket(): context options cannot be combined with 'context'")
    return wrap_with_context(context, sock, **{k: v for k, v in options.items() if k in _SOCKET_OPTIONS})


def wrap_with_context(context: SecureContext, sock: Any, server_side: bool = False,
                      server_hostname: str | None = None, do_handshake_on_connect: bool = True,
                      suppress_ragged_eofs: bool = True, **node_options: Any) -> TLSSocket:
    """``SecureContext.wrap_socket``: the stdlib signature over a greentls context."""
    if not suppress_ragged_eofs:
        # TLSSocket reports an EOF without close_notify as b"" (docs/guides/stdlib.rst), which is
        # what the stdlib does with suppress_ragged_eofs=True; the strict mode has no equivalent
        # here.
        from greentls._base.errors import UnsupportedError
        raise UnsupportedError("wrap_socket: suppress_ragged_eofs=False is not supported: "
                               "greentls reports an unclean end as b'' like the stdlib default")
    on_connect = bool(do_handshake_on_connect)  # also for a later tls.connect()
    if server_side:
        tls = _server_socket(context, sock, node_options, on_connect)
    else:
        tls = _client_socket(context, sock, server_hostname, node_options, on_connect)
    if do_handshake_on_connect and _is_connected(sock):
        tls.do_handshake()
    return tls


def _server_socket(context: SecureContext, sock: Any, node_options: Options, on_connect: bool) -> TLSSocket:
    request_cert = bool(node_options.get("request_cert", False))
    reject = node_options.get("reject_unauthorized")
    if context.verify_mode_set and "request_cert" not in node_options:
        # The stdlib's server policy, once the program set it (a SecureContext's default,
        # CERT_REQUIRED, is a client's and does not ask clients for certificates):
        # CERT_REQUIRED asks and refuses a client without a valid certificate, CERT_OPTIONAL
        # asks and lets `authorized` tell, CERT_NONE does not ask.
        request_cert = context.verify_mode != _ssl.CERT_NONE
        if reject is None:
            reject = context.verify_mode == _ssl.CERT_REQUIRED
    return new_socket(sock, is_server=True, secure_context=context,
                      request_cert=request_cert,
                      reject_unauthorized=reject,
                      alpn_protocols=node_options.get("alpn_protocols", context.stdlib_alpn),
                      handshake_on_connect=on_connect)


def _client_socket(context: SecureContext, sock: Any, server_hostname: str | None,
                   node_options: Options, on_connect: bool) -> TLSSocket:
    verify = context.verify_mode != _ssl.CERT_NONE
    check_hostname = verify and bool(context.check_hostname)
    if check_hostname and not server_hostname:
        # The stdlib's own rule (Lib/ssl.py, SSLSocket._create).
        raise ValueError("check_hostname requires server_hostname")
    servername = server_hostname if server_hostname and not is_ip_literal(server_hostname) else None
    identity_check = (check_server_identity, server_hostname) if check_hostname and server_hostname else None
    return new_socket(sock, is_server=False, secure_context=context, reject_unauthorized=verify,
                      servername=servername,
                      alpn_protocols=node_options.get("alpn_protocols", context.stdlib_alpn),
                      identity_check=identity_check, handshake_on_connect=on_connect)


def _is_connected(sock: Any) -> bool:
    getpeername = getattr(sock, "getpeername", None)
    if getpeername is None:
        return True  # a duplex object: assume it is connected
    try:
        getpeername()
        return True
    except OSError:
        return False


register_socket_layer(wrap_with_context=wrap_with_context)
