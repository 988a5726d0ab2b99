"""``greentls.wsgi.WSGIServer``: any WSGI application over greentls.

The greentls ``Server`` accepts and handshakes (with its handshake timeout, SNI, ALPN, client
certificates), and its ``secure_connection_listener`` runs the connection's HTTP/1.1 over the
``TLSSocket``: ``HTTPHandler`` (``greentls._app.http``), on llhttp, Node's own parser, through
``httptools``.  Keep-alive, pipelining, chunked requests and responses, ``100-continue``,
``HEAD`` and ``wsgi.file_wrapper`` are served; ambiguous or malformed requests are refused.
Setting ``handler_class`` to a ``gevent.pywsgi.WSGIHandler`` subclass (``WSGIHandler`` here,
or a WebSocket handler built on pywsgi's) runs the connection through pywsgi instead.

Each request's environ carries mod_ssl's names (httpd's ``modules/ssl/ssl_engine_vars.c``):
``HTTPS``, ``SSL_PROTOCOL``, ``SSL_CIPHER``, ``SSL_TLS_SNI``, ``SSL_CLIENT_VERIFY``,
``SSL_CLIENT_S_DN``, ``SSL_CLIENT_I_DN``, ``SSL_CLIENT_CERT``; and ``greentls.socket``.

HTTP limits, as Node's ``http.Server`` has them (seconds here; ``None`` or ``0`` disables one):

* ``headers_timeout`` (60): the request head must arrive within it, counted from the request's
  first byte (from the connection's start for its first request);
* ``request_timeout`` (300): the whole request, body included, from the same start; the time
  the application spends answering is not counted once the body has been read;
* ``keep_alive_timeout`` (5): how long an idle connection waits for its next request.

A head or body limit passed is answered ``408`` (when nothing of a response was sent yet) and
closes the connection; an idle keep-alive connection is closed without an answer.  A request
whose body length is ambiguous (RFC 9112 section 6.3) is answered ``400`` and its connection is
closed, so no request smuggled after it is ever read.  The size limits are gunicorn's and
Apache's (``limit_request_line`` 4094 -> 414, ``limit_request_fields`` 100 and
``limit_request_field_size`` 8190 -> 431, ``limit_request_body`` -> 413;
``greentls._app.http_parse`` gives their precedents).

Usage::

    from greentls.wsgi import WSGIServer
    WSGIServer(("127.0.0.1", 8443), app, key=key_pem, cert=cert_pem).serve_forever()
"""
from __future__ import annotations

import math
import os
import re
import socket as _socket
from collections.abc import Callable, Mapping
from time import monotonic
from typing import TYPE_CHECKING, Any, Literal, cast

from cryptography.hazmat.primitives import serialization
from gevent import pywsgi

from greentls._app.http import FileWrapper, HTTPHandler, IdleReaper, close_lingering, current_pid
from greentls._app.http_parse import HTTPLimits, LimitPassed
from greentls._base.errors import UnsupportedError
from greentls._config.options import CONTEXT_OPTIONS, SERVER_OPTIONS, check_seconds, normalize_alpn, reject_unknown
from greentls._net.server import Server
from greentls._tls.socket import TLSSocket

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication, WSGIEnvironment
    from gevent.pywsgi import _LogOutputStream

__all__ = ["WSGIServer", "HTTPHandler", "WSGIHandler", "HTTPLimits", "LimitPassed", "FileWrapper", "ssl_environ"]

#: The HTTP limits of WSGIServer (HTTPLimits has their defaults).
_SIZE_OPTIONS = ("limit_request_line", "limit_request_fields", "limit_request_field_size", "limit_request_body")
_LIMIT_OPTIONS = frozenset({"headers_timeout", "request_timeout", "keep_alive_timeout", *_SIZE_OPTIONS})
#: Options of WSGIServer besides create_server's: pywsgi's loggers and the HTTP limits.
_WSGI_OPTIONS = frozenset({"log", "error_log"}) | _LIMIT_OPTIONS

#: pywsgi's exception for a request body it cannot parse; it answers 400 and closes for it.
_InvalidClientInput: type[OSError] = pywsgi._InvalidClientInput  # type: ignore[attr-defined]  # private: not in the stubs

#: Answers sent when the request is refused (status, headers); no body, and the connection closes.
_REFUSALS = {
    400: ("400 Bad Request", (("Content-Type", "text/plain"), ("Connection", "close"), ("Content-Length", "0"))),
    408: ("408 Request Timeout", (("Content-Type", "text/plain"), ("Connection", "close"), ("Content-Length", "0"))),
}
_HEAD_TIMEOUT_RESPONSE = b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
#: Statuses that refuse a request the client may still be sending: the connection is closed
#: with a lingering close (see ``_HandlerSocket.close``).
_LINGER_STATUSES = frozenset({"400", "408", "413", "414", "431"})
_DIGITS = re.compile(r"[0-9]+")


def ssl_environ(tls: TLSSocket) -> dict[str, object]:
    """mod_ssl's environment variables for one connection (computed once per connection)."""
    cipher = tls.get_cipher() or {}
    env: dict[str, object] = {"HTTPS": "on", "SSL_PROTOCOL": tls.get_protocol(), "SSL_CIPHER": cipher.get("name"),
                              "greentls.socket": tls}
    if tls.servername:
        env["SSL_TLS_SNI"] = tls.servername
    cert = tls.get_peer_x509_certificate()
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


# -- limits ------------------------------------------------------------------------------------

def _limit_option(options: dict[str, Any], name: str, default: float | None) -> float | None:
    """Pop one limit from ``options``: seconds >= 0, where ``None``, ``0`` (Node's way to
    disable one) and infinity all mean no limit."""
    if name not in options:
        return default
    value = check_seconds(name, options.pop(name), allow_none=True)
    return value if value and math.isfinite(value) else None


def _size_option(options: dict[str, Any], name: str, default: int | None) -> int | None:
    """Pop one size limit from ``options``: an int >= 0, where ``None`` and ``0`` mean no limit."""
    if name not in options:
        return default
    value = options.pop(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"option {name!r} must be an int or None, got {type(value).__name__}")
    if value < 0:
        raise ValueError(f"option {name!r} must be >= 0, got {value!r}")
    return value or None


def _http_limits(options: dict[str, Any]) -> HTTPLimits:
    """Pop and check the limit options from ``options``."""
    request = _limit_option(options, "request_timeout", 300.0)
    # Node's headersTimeout defaults to the smaller of 60 s and requestTimeout, and must not
    # exceed requestTimeout: the head is part of the request that requestTimeout bounds.
    headers = _limit_option(options, "headers_timeout", min(60.0, request) if request else 60.0)
    keep_alive = _limit_option(options, "keep_alive_timeout", 5.0)
    if headers and request and headers > request:
        raise ValueError(f"option 'headers_timeout' must be <= 'request_timeout' ({request!r}), got {headers!r}")
    defaults = HTTPLimits()
    sizes = {name: _size_option(options, name, getattr(defaults, name)) for name in _SIZE_OPTIONS}
    return HTTPLimits(headers, request, keep_alive, **sizes)


# -- request framing (RFC 9112 section 6) ------------------------------------------------------

class _BadFraming(ValueError):
    """The request's body length is ambiguous; pywsgi answers a ValueError from its head
    parser with 400 and closes the connection."""


class _StrictLines:
    """The request head's reader, refusing a bare CR inside a line.

    The stdlib's header parser splits lines at a lone CR too, so ``X-A: a\rContent-Length: 35``
    would hide a framing field from a front end that (as RFC 9112 section 2.2 requires) does not
    treat a bare CR as a line end: request smuggling.  RFC 9112 lets the recipient reject such a
    message or replace each bare CR with SP; we reject (400 and close)."""

    __slots__ = ("_fp",)

    def __init__(self, fp: Any) -> None:
        self._fp = fp

    def readline(self, size: int = -1) -> bytes:
        line: bytes = self._fp.readline(size)
        content = line[:-2] if line.endswith(b"\r\n") else line[:-1] if line.endswith(b"\n") else line
        if b"\r" in content:
            raise _BadFraming("a bare CR in a header line")
        return line

    def __getattr__(self, name: str) -> Any:
        return getattr(self._fp, name)


def _before_http11(version: str) -> bool:
    """True for HTTP/1.0 and 0.9 (pywsgi has already checked the version's syntax)."""
    return tuple(int(part) for part in version[5:].split(".")) < (1, 1)


def _check_transfer_encoding(values: list[str], version: str) -> None:
    """Only a lone ``chunked`` is a transfer coding we can frame a request by."""
    if _before_http11(version):
        # RFC 9112 section 6.1: Transfer-Encoding in an HTTP/1.0 message means faulty framing.
        raise _BadFraming(f"Transfer-Encoding in an {version} request")
    codings = [item.strip(" \t").lower() for item in ",".join(values).split(",")]
    if codings != ["chunked"]:
        # RFC 9112 section 6.3 item 4: chunked must be the final coding, else the length cannot
        # be known and the server must answer 400 and close.  pywsgi decodes nothing but
        # chunked, so every other list ("xchunked", "chunked, identity", "gzip, chunked", a
        # doubled chunked) is refused: another server on the path may read it differently.
        raise _BadFraming(f"unsupported Transfer-Encoding {', '.join(values)!r}")


def _content_length(values: list[str]) -> str:
    """The one length ``Content-Length`` field lines give, as digits."""
    items = {item.strip(" \t") for item in ",".join(values).split(",")}
    if len(items) != 1 or not _DIGITS.fullmatch(next(iter(items))):
        # RFC 9112 section 6.3 item 5: an invalid Content-Length (differing values, a sign,
        # junk) is a 400 and a close.  Repeated identical values are one length (RFC 9110
        # section 8.6 lets a recipient collapse them).
        raise _BadFraming(f"invalid Content-Length {', '.join(values)!r}")
    return str(int(next(iter(items))))


def _check_framing(headers: pywsgi.OldMessage, version: str) -> None:
    """Refuse a head whose body length is ambiguous, and normalise the framing fields so pywsgi
    (which looks only at the first of each) reads exactly what was checked."""
    if headers.defects or headers.get_payload():
        # A line that is no field (``Transfer-Encoding : chunked``, a leading fold) ends the
        # stdlib's header parse silently; RFC 9112 sections 5.1 and 5.2 make such a head a 400.
        raise _BadFraming("malformed header section")
    codings = headers.get_all("Transfer-Encoding")
    lengths = headers.get_all("Content-Length")
    if codings is not None and lengths is not None:
        # RFC 9112 section 6.3 item 3: both fields are a smuggling attempt as often as not; the
        # server may drop Content-Length but must close afterwards; Node refuses outright.
        raise _BadFraming("both Content-Length and Transfer-Encoding")
    if codings is not None:
        _check_transfer_encoding(codings, version)
        headers.replace_header("Transfer-Encoding", "chunked")
    elif lengths is not None:
        length = _content_length(lengths)
        del headers["Content-Length"]
        headers["Content-Length"] = length


# -- the request body under request_timeout ----------------------------------------------------

class _LimitedInput(pywsgi.Input):
    """pywsgi's ``wsgi.input`` with request_timeout applied to each read until the body is
    complete.  Once the body failed (too slow, or malformed) it stays failed: the position in
    the stream is unknown, so nothing more is read from it and the connection must close."""

    __slots__ = ("deadline", "failure")

    def __init__(self, plain: pywsgi.Input, deadline: float | None) -> None:
        super().__init__(plain.rfile, plain.content_length, socket=plain.socket,
                         chunked_input=plain.chunked_input)
        self.deadline = deadline
        #: None, or the status the request earns: 408 (too slow) or 400 (malformed).
        self.failure: int | None = None

    def read(self, length: int | None = None) -> bytes:
        return self._guarded(pywsgi.Input.read, length)

    def readline(self, size: int | None = None) -> bytes:
        return self._guarded(pywsgi.Input.readline, size)

    def _discard(self) -> None:
        """The rest of the body after the application, still under request_timeout."""
        if self.failure is not None:
            return
        try:
            super()._discard()  # type: ignore[misc]  # pywsgi.Input's own method, absent from the stubs
        except LimitPassed:
            pass  # recorded in self.failure; the handler closes the connection

    def complete(self) -> bool:
        """Whether the whole body has been read (reads then return b"" without waiting)."""
        if self.chunked_input:
            return self.chunk_length == 0
        return self.content_length is None or self.position >= self.content_length

    def _guarded(self, method: Callable[..., bytes], size: int | None) -> bytes:
        if self.failure is not None:
            raise self._failed()
        if self.deadline is None or self.complete():
            return self._parsed(method, size)
        remaining = self.deadline - monotonic()
        if remaining <= 0:
            self.failure = 408
            raise self._failed()
        timer = LimitPassed(remaining, "request_timeout")
        timer.start()
        try:
            return self._parsed(method, size)
        except LimitPassed as passed:
            if passed is timer:
                self.failure = 408
            raise
        finally:
            timer.close()

    def _parsed(self, method: Callable[..., bytes], size: int | None) -> bytes:
        try:
            return method(self, size)
        except _InvalidClientInput:
            self.failure = 400
            raise
        except ValueError:
            # pywsgi's chunk parser lets int('', 16) escape for an empty chunk-size line; that
            # is an invalid chunk size like any other (RFC 9112 section 7.1).
            if not self.chunked_input:
                raise
            self.failure = 400
            self._chunked_input_error = True
            raise _InvalidClientInput("invalid chunk size") from None
        except OSError:
            self.failure = 400  # the peer left mid-body: no later request can follow it
            raise

    def _failed(self) -> BaseException:
        if self.failure == 408:
            return LimitPassed(None, "request_timeout")
        return _InvalidClientInput("the request body was malformed")


class _HandlerSocket:
    """What pywsgi's handler holds: the ``TLSSocket`` minus ``_sock``.

    ``WSGIHandler.handle`` reads and closes ``socket._sock`` when it exists (a Python 2 relic);
    on a ``TLSSocket`` that is the raw TCP socket, which must never be read or closed under TLS.
    """

    _sock = None

    def __init__(self, tls: TLSSocket) -> None:
        self._tls = tls
        #: Set by the handler when it refused a request the client may still be sending.
        self.linger = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._tls, name)

    def close(self) -> None:
        """Close the connection; after a refusal, close lingering, as Apache and nginx do.

        A client still sending its request (a dripped body, a pipelined request) has bytes
        in flight.  Closing with them unread makes the kernel answer with a reset, and a
        client that meets the reset may drop our 400/408 unread (RFC 9112 section 9.6).  So
        send close_notify and FIN first, then read and drop what still comes, bounded in
        bytes and time, until the client closes too."""
        if self.linger:
            close_lingering(self._tls)  # its default bounds (_app/http.py)
        else:
            self._tls.close()


# -- the handler -------------------------------------------------------------------------------

class WSGIHandler(pywsgi.WSGIHandler):
    """pywsgi's handler with the connection's TLS facts in every environ, Node's HTTP timeouts
    and RFC 9112's framing rules: the connection handler when ``WSGIServer.handler_class`` is
    set to it (or to another ``pywsgi.WSGIHandler`` subclass).  The size limits
    (``limit_request_*``) are those of pywsgi's parser here."""

    #: What pywsgi calls the socket: here the connection's ``_HandlerSocket``.
    socket: _HandlerSocket  # type: ignore[assignment]  # the stub says a gevent socket
    ssl_env: Mapping[str, object] = {}
    limits: HTTPLimits = HTTPLimits()
    #: When the current request began: its first byte, or the connection's start for the first.
    _request_start = 0.0
    #: Whether a request was answered on this connection (keep_alive_timeout then applies).
    _answered = False
    _head_timer: LimitPassed | None = None

    def handle(self) -> None:
        self._request_start = monotonic()
        super().handle()

    # -- the head: keep_alive_timeout, then headers_timeout ----------------------------------

    def handle_one_request(self) -> tuple[str, bytes] | Literal[True] | None:
        if self.rfile.closed:
            return None
        if self._answered and not self._await_next_request():
            return None
        self._answered = True
        timer = self._head_timer = self._start_head_timer()
        try:
            result = super().handle_one_request()
            if isinstance(result, tuple) and str(result[0])[:3] in _LINGER_STATUSES:
                self.socket.linger = True  # pywsgi refused the head (400, 414, ...)
            return result
        except LimitPassed as passed:
            if passed is not timer:
                raise
            self.log_error("(from %s) %s", self.client_address, passed)
            self.close_connection = True
            self.socket.linger = True
            return ("408", _HEAD_TIMEOUT_RESPONSE)  # pywsgi's handle() sends it and closes
        finally:
            timer.close()
            self._head_timer = None

    def _await_next_request(self) -> bool:
        """Wait up to keep_alive_timeout for the next request's first byte (already there when
        pipelined); False when none comes and the connection should just be closed, as Node
        closes an idle keep-alive socket without an answer."""
        timer = LimitPassed(self.limits.keep_alive_timeout, "keep_alive_timeout")
        timer.start()
        try:
            first = self.rfile.peek(1)
        except LimitPassed as passed:
            if passed is not timer:
                raise
            return False
        except OSError:
            return False
        finally:
            timer.close()
        self._request_start = monotonic()
        return bool(first)

    def _start_head_timer(self) -> LimitPassed:
        """One timer for the head: headers_timeout, or request_timeout if that comes first."""
        limits = self.limits
        bounds = [(s, name) for s, name in ((limits.headers_timeout, "headers_timeout"),
                                            (limits.request_timeout, "request_timeout")) if s]
        if not bounds:
            return LimitPassed(None, "headers_timeout")
        seconds, name = min(bounds)
        timer = LimitPassed(max(0.0, seconds - (monotonic() - self._request_start)), name)
        timer.start()
        return timer

    def MessageClass(self, *args: Any) -> pywsgi.OldMessage:  # pywsgi's name
        # pywsgi's read_request parses the fields here, then drops Content-Length when it sees
        # chunked: the framing must be judged in between, on the fields as they came.
        if args:
            args = (_StrictLines(args[0]), *args[1:])
        headers = super().MessageClass(*args)
        if not headers.status:  # a line too long: pywsgi itself answers 400
            # read_request set the version from the request line before it parses the fields.
            _check_framing(headers, cast("str", self.request_version))
        return headers

    # The stub says read_request returns the message; pywsgi's returns True (or raises).
    def read_request(self, raw_requestline: str) -> bool:  # type: ignore[override]
        result = cast("bool", super().read_request(raw_requestline))
        if self._head_timer is not None:
            self._head_timer.close()  # the head is in: headers_timeout is met
        return result

    # -- the body: request_timeout -------------------------------------------------------------

    def get_environ(self) -> WSGIEnvironment:
        env = super().get_environ()
        env.update(self.ssl_env)
        timeout = self.limits.request_timeout
        plain = cast("pywsgi.Input", self.wsgi_input)  # set by handle_one_request before this
        limited = _LimitedInput(plain, self._request_start + timeout if timeout else None)
        if env.get("wsgi.input") is self.wsgi_input:  # not an upgrade, which gets the raw stream
            env["wsgi.input"] = limited
        self.wsgi_input = limited
        return env

    def _body_failure(self) -> int | None:
        return getattr(self.wsgi_input, "failure", None)

    def run_application(self) -> None:
        try:
            super().run_application()
        except LimitPassed:
            if self._body_failure() is None:
                raise
        failure = self._body_failure()
        if failure is not None:  # even if the application caught the error and carried on
            self._refuse(failure)

    def process_result(self) -> None:
        if self._body_failure() is not None:
            return  # the request is answered 400 or 408, not with what the application made of it
        super().process_result()

    def handle_one_response(self) -> None:
        super().handle_one_response()
        if self._body_failure() is not None:
            # Also when the body failed only while pywsgi discarded it after the response.
            self.close_connection = True

    def _refuse(self, status_code: int) -> None:
        """Answer 400/408 if no response has begun (Node's rule too), and close either way."""
        self.close_connection = True
        self.socket.linger = True
        if self.headers_sent:
            return
        status, headers = _REFUSALS[status_code]
        try:
            self.start_response(status, list(headers))
            self.write(b"")
        except OSError:
            pass


class _PywsgiSide(pywsgi.WSGIServer):
    """pywsgi's server object as its handlers need it (environ, application, logs); it never
    binds or accepts: the greentls Server does."""


class _TLSServer(Server):
    """The greentls Server of a WSGIServer: ``listen()`` without arguments binds the
    WSGIServer's listener (so ``serve_forever(workers=N)`` binds the right address)."""

    def __init__(self, wsgi: WSGIServer, secure_connection_listener: Callable[[TLSSocket], Any],
                 **options: Any) -> None:
        super().__init__(secure_connection_listener, **options)
        self._wsgi = wsgi

    def listen(self, port: int | None = None, host: str | None = None, backlog: int | None = None,
               *, path: str | None = None, sock: _socket.socket | Any = None) -> Server:
        if port is None and host is None and path is None and sock is None:
            return self._wsgi._listen(backlog)
        return Server.listen(self, port or 0, host, backlog, path=path, sock=sock)


#: The ALPN protocols a WSGI server can serve: HTTP/1.x.  Another (h2, whose client sends
#: the HTTP/2 preface next, or spdy/3.1, h3, acme-tls/1...) would fail every request.
_HTTP1_PROTOCOLS = ("http/1.1", "http/1.0")


def _http1_only(callback: Any) -> Any:
    """An ``alpn_callback`` that may choose only HTTP/1.x (``_HTTP1_PROTOCOLS``)."""
    if not callable(callback):
        return callback  # Server's own check names the option

    def choose(servername: str | None, protocols: list[str]) -> str | None:
        answer = callback(servername, protocols)
        if answer is not None and answer not in _HTTP1_PROTOCOLS:
            raise ValueError(f"WSGIServer: alpn_callback chose {answer!r} (WSGI applications speak "
                             "HTTP/1.x: 'http/1.1' or 'http/1.0')")
        return cast("str | None", answer)
    return choose


class WSGIServer:
    """Serve a WSGI application over greentls, as ``gevent.pywsgi.WSGIServer`` does over TCP.

    ``listener`` is ``(host, port)``, a Unix socket path, or a bound socket; ``options`` are ``create_server``'s
    (``alpn_protocols`` defaults to ``["http/1.1", "http/1.0"]``, as nginx's), pywsgi's ``log`` and ``error_log``, and
    Node's ``headers_timeout``, ``request_timeout`` and ``keep_alive_timeout`` (seconds; see the
    module's docstring), kept in ``limits`` (an ``HTTPLimits``, read as each connection starts).
    """

    #: The connection handler: ``HTTPHandler`` (llhttp), or a ``gevent.pywsgi.WSGIHandler``
    #: subclass such as ``WSGIHandler``, which runs the connection through pywsgi instead.
    handler_class: type[HTTPHandler] | type[pywsgi.WSGIHandler] = HTTPHandler

    def __init__(self, listener: tuple[str, int] | str | os.PathLike[str] | _socket.socket,
                 application: WSGIApplication, **options: Any) -> None:
        reject_unknown(options, CONTEXT_OPTIONS | SERVER_OPTIONS | _WSGI_OPTIONS, "WSGIServer")
        if not callable(application):
            raise TypeError("WSGIServer: 'application' must be callable")
        self._sock: Any = None
        self._path: str | None = None
        if hasattr(listener, "accept") and hasattr(listener, "fileno"):
            self._sock = listener  # a bound socket (stdlib or gevent), as pywsgi also takes
            self._path = None
            self._host, self._port = None, None
        elif isinstance(listener, (str, os.PathLike)):
            self._path = os.fspath(listener)
            self._host, self._port = None, None
        elif isinstance(listener, tuple) and len(listener) == 2:
            self._path = None
            self._host, self._port = listener
        else:
            raise TypeError("WSGIServer: 'listener' must be (host, port), a Unix socket path "
                            "or a bound socket")
        self.application = application
        #: The size limits passed explicitly: the pywsgi handler cannot honour them.
        self._size_options = sorted(name for name in _SIZE_OPTIONS if name in options)
        self.limits = _http_limits(options)
        log = options.pop("log", "default")
        error_log = options.pop("error_log", "default")
        if options.get("alpn_callback") is None:
            options.setdefault("alpn_protocols", ["http/1.1", "http/1.0"])  # as nginx offers
        else:
            options["alpn_callback"] = _http1_only(options["alpn_callback"])
        offered = normalize_alpn("alpn_protocols", options.get("alpn_protocols")) or []
        others = [name for name in (p.decode("ascii", "replace") for p in offered) if name not in _HTTP1_PROTOCOLS]
        if others:
            # WSGI is HTTP/1.x: a client that negotiated h2 sends the HTTP/2 preface next.
            raise ValueError(f"WSGIServer: option 'alpn_protocols' cannot offer {', '.join(map(repr, others))} "
                             "(WSGI applications speak HTTP/1.x); offer ['http/1.1', 'http/1.0']")
        self._pywsgi = _PywsgiSide(("127.0.0.1", 0), application, log=log, error_log=error_log,
                                   environ={"wsgi.url_scheme": "https", "HTTPS": "on"})
        #: The access log when it writes somewhere (pywsgi's ``log=None`` is a no-op object).
        self._access_log = None if log is None else self._pywsgi.log
        self._reaper: IdleReaper | None = None
        self.server: Server = _TLSServer(self, self._serve_connection, **options)

    # -- lifecycle -----------------------------------------------------------------------

    def _listen(self, backlog: int | None = None) -> Server:
        if self._size_options and issubclass(self.handler_class, pywsgi.WSGIHandler):
            # Never silently ignore a setting: pywsgi's parser has its own, fixed limits.
            raise UnsupportedError(f"WSGIServer: option {self._size_options[0]!r} is not honoured by the "
                                   f"pywsgi handler_class {self.handler_class.__name__}; use HTTPHandler")
        if self._path is not None:
            Server.listen(self.server, backlog=backlog, path=self._path)
            self._pywsgi.environ.setdefault("SERVER_NAME", "")
            self._pywsgi.environ.setdefault("SERVER_PORT", "")
            return self.server
        if self._sock is not None:
            Server.listen(self.server, backlog=backlog, sock=self._sock)
            if self._sock.family == _socket.AF_UNIX:
                self._pywsgi.environ.setdefault("SERVER_NAME", "")
                self._pywsgi.environ.setdefault("SERVER_PORT", "")
                return self.server
        else:
            Server.listen(self.server, self._port or 0, self._host, backlog)
        bound = self.server.address()  # Node's {"address", "family", "port"}
        host, port = bound["address"], bound["port"]
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

    def serve_forever(self, workers: int = 1) -> None:
        """Start if needed, then block until stopped; ``workers > 1`` forks that many worker
        processes that accept on the shared socket (``Server.serve_forever``)."""
        self.start()
        self.server.serve_forever(workers=workers)

    def stop(self, timeout: float | None = None) -> None:
        """Stop accepting; close the connections idle between requests; wait up to ``timeout``
        for requests in progress (their connections then close), then close the rest."""
        if self._reaper is not None and self._reaper.pid == current_pid():
            self._reaper.drain()  # and no connection starts waiting for another request
        self.server.stop(timeout)
        if self._reaper is not None and self._reaper.pid == current_pid():
            self._reaper.stop()
            self._reaper = None

    close = stop

    def close_idle_connections(self) -> None:
        """Close the connections idle between requests now (Node's
        ``server.closeIdleConnections()``); those answering a request go on."""
        if self._reaper is not None and self._reaper.pid == current_pid():
            self._reaper.close_idle()

    @property
    def address(self) -> str | tuple[str | None, int | None]:
        """pywsgi's ``(host, port)`` (the bound port once started), or the Unix socket path."""
        address = self.server.address()
        if address is None:
            return self._path if self._path is not None else (self._host, self._port)
        if isinstance(address, str):
            return address
        return (address["address"], address["port"])

    @property
    def log(self) -> _LogOutputStream:
        """pywsgi's access log object."""
        return self._pywsgi.log

    @property
    def error_log(self) -> _LogOutputStream:
        """pywsgi's error log object (``wsgi.errors``)."""
        return self._pywsgi.error_log

    # -- one connection --------------------------------------------------------------------

    def _serve_connection(self, tls: TLSSocket) -> None:
        """The greentls Server's listener: the handler's keep-alive loop over this TLSSocket."""
        handler_class = self.handler_class
        if not issubclass(handler_class, pywsgi.WSGIHandler):
            environ = dict(self._pywsgi.environ)
            environ["wsgi.file_wrapper"] = FileWrapper
            environ["wsgi.input_terminated"] = True
            # The client's address: behind a balancer, the PROXY header's (TLSSocket.proxy).
            client, port = tls.remote_address, tls.remote_port
            if client is not None:
                environ["REMOTE_ADDR"], environ["REMOTE_PORT"] = client, str(port)
            environ.update(ssl_environ(tls))
            handler_class(tls, self, environ, self._idle_reaper()).handle()
            return
        address = (tls.remote_address, tls.remote_port) if tls.remote_address is not None else ""
        # pywsgi takes any socket-like object and a (host, port) address; the stub narrows both.
        handler: Any = handler_class(_HandlerSocket(tls), address, self._pywsgi)  # type: ignore[arg-type]
        handler.ssl_env = ssl_environ(tls)
        handler.limits = self.limits
        handler.handle()

    def _idle_reaper(self) -> IdleReaper | None:
        """This process's reaper of idle keep-alive connections (a forked worker makes its own)."""
        seconds = self.limits.keep_alive_timeout
        if not seconds or self.server.idle_timeout:
            return None  # no limit, or the Server's idle_timeout bounds every wait anyway
        reaper = self._reaper
        if reaper is None or reaper.pid != current_pid():
            reaper = self._reaper = IdleReaper(seconds)
        elif reaper.seconds != seconds:  # the limits changed: the reaper keeps its connections
            reaper.retime(seconds)
        return reaper

    def __enter__(self) -> WSGIServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop(timeout=0)

    def __repr__(self) -> str:
        return f"<greentls.wsgi.WSGIServer {self.address!r}>"
