"""``greentls.wsgi.WSGIServer``: any WSGI application over greentls (API.md, ``greentls.wsgi``).

gevent's ``pywsgi.WSGIHandler`` speaks HTTP/1.1 on a socket-like object (``makefile``,
``sendall``, ``close``).  Here the greentls ``Server`` accepts and handshakes (with its handshake
timeout, SNI, ALPN, client certificates: FACTS.md item 11 is why gevent's ``ssl_args`` are not
used), and its ``secure_connection_listener`` runs the pywsgi handler over the ``TLSSocket``.
Each request's environ carries mod_ssl's names (httpd's ``modules/ssl/ssl_engine_vars.c``):
``HTTPS``, ``SSL_PROTOCOL``, ``SSL_CIPHER``, ``SSL_TLS_SNI``, ``SSL_CLIENT_VERIFY``,
``SSL_CLIENT_S_DN``, ``SSL_CLIENT_I_DN``, ``SSL_CLIENT_CERT``; and ``greentls.socket``.

Usage::

    from greentls.wsgi import WSGIServer
    WSGIServer(("127.0.0.1", 8443), app, key=key_pem, cert=cert_pem).serve_forever()
"""
from __future__ import annotations

import os
import socket as _socket
from typing import Any, Callable, Optional

from cryptography.hazmat.primitives import serialization
from gevent import pywsgi

from ._options import CONTEXT_OPTIONS, SERVER_OPTIONS, reject_unknown
from ._server import Server
from ._socket import TLSSocket

__all__ = ["WSGIServer", "WSGIHandler", "ssl_environ"]

#: Options of WSGIServer besides create_server's: pywsgi's loggers.
_WSGI_OPTIONS = frozenset({"log", "error_log"})


def ssl_environ(tls: TLSSocket) -> dict:
    """mod_ssl's environment variables for one connection (computed once per connection)."""
    cipher = tls.get_cipher() or {}
    env = {"HTTPS": "on", "SSL_PROTOCOL": tls.get_protocol(), "SSL_CIPHER": cipher.get("name"),
           "greentls.socket": tls}
    if tls.servername:
        env["SSL_TLS_SNI"] = tls.servername
    cert = tls._engine.conn.get_peer_certificate(as_cryptography=True)
    if cert is None:
        env["SSL_CLIENT_VERIFY"] = "NONE"
        return env
    # mod_ssl: SUCCESS, or FAILED:<reason> when SSLVerifyClient optional let it through.
    env["SSL_CLIENT_VERIFY"] = "SUCCESS" if tls.authorized else f"FAILED:{tls.authorization_error}"
    # mod_ssl's default DN format is RFC 2253 (LegacyDNStringFormat off); RFC 4514 replaced it.
    env["SSL_CLIENT_S_DN"] = cert.subject.rfc4514_string()
    env["SSL_CLIENT_I_DN"] = cert.issuer.rfc4514_string()
    env["SSL_CLIENT_CERT"] = cert.public_bytes(serialization.Encoding.PEM).decode("ascii")
    env["SSL_CLIENT_M_SERIAL"] = format(cert.serial_number, "X")
    return env


class _HandlerSocket:
    """What pywsgi's handler holds: the ``TLSSocket`` minus ``_sock``.

    ``WSGIHandler.handle`` reads and closes ``socket._sock`` when it exists (a Python 2 relic);
    on a ``TLSSocket`` that is the raw TCP socket, which must never be read or closed under TLS.
    """

    _sock = None

    def __init__(self, tls: TLSSocket) -> None:
        self._tls = tls

    def __getattr__(self, name: str) -> Any:
        return getattr(self._tls, name)


class WSGIHandler(pywsgi.WSGIHandler):
    """pywsgi's handler with the connection's TLS facts in every environ."""

    ssl_env: dict = {}

    def get_environ(self) -> dict:
        env = super().get_environ()
        env.update(self.ssl_env)
        return env


class _PywsgiSide(pywsgi.WSGIServer):
    """pywsgi's server object as its handlers need it (environ, application, logs); it never
    binds or accepts: the greentls Server does."""


class _TLSServer(Server):
    """The greentls Server of a WSGIServer: ``listen()`` without arguments binds the
    WSGIServer's listener (so ``serve_forever(workers=N)`` binds the right address)."""

    _wsgi: "WSGIServer"

    def listen(self, port: Optional[int] = None, host: Optional[str] = None, backlog: Optional[int] = None,
               *, path: Optional[str] = None) -> Server:
        if port is None and host is None and path is None:
            return self._wsgi._listen(backlog)
        return Server.listen(self, port or 0, host, backlog, path=path)


class WSGIServer:
    """Serve a WSGI application over greentls, as ``gevent.pywsgi.WSGIServer`` does over TCP.

    ``listener`` is ``(host, port)`` or a Unix socket path; ``options`` are ``create_server``'s
    (``alpn_protocols`` defaults to ``["http/1.1"]``) plus pywsgi's ``log`` and ``error_log``.
    """

    handler_class = WSGIHandler

    def __init__(self, listener: Any, application: Callable, **options: Any) -> None:
        reject_unknown(options, CONTEXT_OPTIONS | SERVER_OPTIONS | _WSGI_OPTIONS, "WSGIServer")
        if not callable(application):
            raise TypeError("WSGIServer: 'application' must be callable")
        if isinstance(listener, (str, os.PathLike)):
            self._path: Optional[str] = os.fspath(listener)
            self._host, self._port = None, None
        elif isinstance(listener, tuple) and len(listener) == 2:
            self._path = None
            self._host, self._port = listener
        else:
            raise TypeError("WSGIServer: 'listener' must be (host, port) or a Unix socket path")
        self.application = application
        log = options.pop("log", "default")
        error_log = options.pop("error_log", "default")
        options.setdefault("alpn_protocols", ["http/1.1"])
        self._pywsgi = _PywsgiSide(("127.0.0.1", 0), application, log=log, error_log=error_log,
                                   environ={"wsgi.url_scheme": "https", "HTTPS": "on"})
        self.server: Server = _TLSServer(self._serve_connection, **options)
        self.server._wsgi = self

    # -- lifecycle -----------------------------------------------------------------------

    def _listen(self, backlog: Optional[int] = None) -> Server:
        if self._path is not None:
            Server.listen(self.server, backlog=backlog, path=self._path)
            self._pywsgi.environ.setdefault("SERVER_NAME", "")
            self._pywsgi.environ.setdefault("SERVER_PORT", "")
            return self.server
        Server.listen(self.server, self._port or 0, self._host, backlog)
        host, port = self.address
        if "SERVER_NAME" not in self._pywsgi.environ:
            try:
                name = _socket.getfqdn(host)  # as pywsgi's update_environ
            except OSError:
                name = str(host)
            self._pywsgi.environ["SERVER_NAME"] = name
        self._pywsgi.environ["SERVER_PORT"] = str(port)
        return self.server

    def start(self) -> None:
        """Bind and start accepting in the background."""
        if not self.server.listening:
            self._listen()

    def serve_forever(self) -> None:
        """Start if needed, then block until stopped."""
        self.start()
        self.server.serve_forever()

    def stop(self, timeout: Optional[float] = None) -> None:
        """Stop accepting; wait up to ``timeout`` for requests in progress, then close the rest."""
        self.server.stop(timeout)

    close = stop

    @property
    def address(self) -> Any:
        """pywsgi's ``(host, port)`` (the bound port once started), or the Unix socket path."""
        address = self.server.address()
        if address is None:
            return self._path if self._path is not None else (self._host, self._port)
        if isinstance(address, str):
            return address
        return (address["address"], address["port"])

    @property
    def log(self) -> Any:
        """pywsgi's access log object."""
        return self._pywsgi.log

    @property
    def error_log(self) -> Any:
        """pywsgi's error log object (``wsgi.errors``)."""
        return self._pywsgi.error_log

    # -- one connection --------------------------------------------------------------------

    def _serve_connection(self, tls: TLSSocket) -> None:
        """The greentls Server's listener: pywsgi's keep-alive loop over this TLSSocket."""
        address = (tls.remote_address, tls.remote_port) if tls.remote_address is not None else ""
        handler = self.handler_class(_HandlerSocket(tls), address, self._pywsgi)
        handler.ssl_env = ssl_environ(tls)
        handler.handle()

    def __enter__(self) -> "WSGIServer":
        self.start()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.stop(timeout=0)

    def __repr__(self) -> str:
        return f"<greentls.wsgi.WSGIServer {self.address!r}>"
