"""HTTP/1.1 for ``greentls.wsgi``: one connection's requests, answered by a WSGI application.

Theory of operation.  ``HTTPHandler.handle`` runs in the connection's greenlet.  llhttp (Node's
own parser, through ``httptools``; ``http_parse.Parsing`` holds its callbacks) is fed every
byte read from the ``TLSSocket``: a request whose head is complete is queued, and its body is
appended to that request's buffer as it is parsed.  The handler pops requests in order, so
several requests in one read (pipelining) are answered one after another, and a request read
while an earlier one is still being answered waits in the queue.  Body bytes are read only when
the application reads ``wsgi.input`` (that is when ``100 Continue`` goes out) or, after the
answer, to skip what the application left unread.  A parse error behind a queued request is
kept until that request is answered; then the refusal is sent and the connection closed, so
nothing after a malformed or ambiguous request is ever served (RFC 9112 section 6.3).

Timeouts use the transport's own per-operation timeout around each read (gevent arms a timer
only when a read actually has to wait, so a busy keep-alive connection pays nothing for them):
``headers_timeout`` and ``request_timeout`` from the request's first byte (the connection's
start for its first request), ``keep_alive_timeout`` while idle between requests.

The response's head is held until the first non-empty body chunk (or the end), then sent with
that chunk in one write: one TLS record and one system call for the usual small answer.

Answers leave in bursts: when other connections' events are already waiting in the hub's loop
iteration (libev's ``pendingcnt``), the handler lets those greenlets run before it writes its
head, so the requests that arrived together are all parsed and answered before the first answer
is written, the way an event-loop server answers them.  A client is then woken once for a burst
of answers instead of once per answer.  A connection alone in its iteration writes at once.
"""
from __future__ import annotations

import os
import sys
import traceback
from datetime import datetime
from email.utils import formatdate
from socket import SHUT_WR
from time import monotonic, time
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_to_bytes

import gevent
import httptools

from greentls._app.http_body import FileWrapper, Input
from greentls._app.http_parse import (
    HOP_BY_HOP,
    STATUS,
    TOKEN,
    ClientError,
    LimitPassed,
    Parsing,
    Refusal,
    Request,
    refusal_bytes,
)

if TYPE_CHECKING:
    from _typeshed import OptExcInfo

    from greentls._tls.socket import TLSSocket

__all__ = ["HTTPHandler", "FileWrapper"]

_RECV_SIZE = 65536
#: After the answer, at most this much of a body the application left unread is read and
#: dropped so that the connection can carry the next request; a longer rest closes it instead
#: (nginx reads and drops a refused body the same way, lingering_close).
_DISCARD_LIMIT = 1 << 20
#: A lingering close reads and drops at most this many bytes for at most this long (Apache's
#: lingering close waits 2 s; nginx's lingering_timeout is 5 s).
_LINGER_SECONDS = 2.0
_LINGER_BYTES = 1 << 20
#: The lingering close after answering a request whose body was left unread and too large to
#: drop in place (an upload answered 401 or 413 at once): long enough for a client that sends
#: its whole body before it reads (``requests``) to finish and read the answer, as nginx's
#: lingering_time (30 s) allows; bounded, so a client that sends forever is cut off.
_UNREAD_LINGER_BYTES = 256 << 20
_UNREAD_LINGER_SECONDS = 10.0
#: A body chunk at least this long is sent apart from its chunk-size line, not copied into it.
_SEPARATE_WRITE = 1 << 16
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_ERROR_BODY = b"Internal Server Error"
_ERROR_RESPONSE = (b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain\r\n"
                   b"Connection: close\r\nContent-Length: %d\r\n\r\n" % len(_ERROR_BODY)) + _ERROR_BODY
_PROTOCOLS = {"1.1": "HTTP/1.1", "1.0": "HTTP/1.0"}

# Response framing modes.
_NONE, _LENGTH, _CHUNKED, _UNTIL_CLOSE = 0, 1, 2, 3

#: Header name -> environ key (None: dropped), filled as names are met; bounded.
_KEYS: dict[bytes, str | None] = {b"Content-Type": "CONTENT_TYPE", b"Content-Length": "CONTENT_LENGTH"}
#: What a response header name is to the server, for names already checked to be tokens
#: (bounded): an ordinary field, Content-Length, Date, Connection, or another hop-by-hop field.
_KIND_FIELD, _KIND_LENGTH, _KIND_DATE, _KIND_CONNECTION, _KIND_HOP = range(5)
_NAME_KINDS: dict[str, int] = {}
_CACHE_MAX = 1024

_clock = {"date": (0, ""), "line": (0, ""), "log": (0, "")}


def _environ_key(name: bytes) -> str | None:
    """``HTTP_X_NAME`` for ``X-Name``; None for a name with ``_``: dropped, as pywsgi and
    gunicorn drop them, since ``X_Forwarded-For`` and ``X-Forwarded_For`` would share a key."""
    if b"_" in name:
        key = None
    else:
        key = name.decode("latin-1").upper().replace("-", "_")
        key = key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else "HTTP_" + key
    if len(_KEYS) < _CACHE_MAX:
        _KEYS[name] = key
    return key


def _name_kind(name: object) -> int:
    """Check a response header name (a token, RFC 9110 section 5.1) and say what it is."""
    if type(name) is not str or not TOKEN.fullmatch(name):
        raise ValueError(f"invalid response header name {name!r}")
    lowered = name.lower()
    kind = (_KIND_LENGTH if lowered == "content-length" else _KIND_DATE if lowered == "date"
            else _KIND_CONNECTION if lowered == "connection" else _KIND_HOP if lowered in HOP_BY_HOP
            else _KIND_FIELD)
    if len(_NAME_KINDS) < _CACHE_MAX:
        _NAME_KINDS[name] = kind
    return kind


def _http_date() -> str:
    """The Date field's value (RFC 9110 section 6.6.1), computed once a second."""
    now = int(time())
    second, text = _clock["date"]
    if second != now:
        text = formatdate(now, usegmt=True)
        _clock["date"] = (now, text)
    return text


def _date_line() -> str:
    """``Date: ...\\r\\n``, made once a second."""
    now = int(time())
    second, text = _clock["line"]
    if second != now:
        text = f"Date: {_http_date()}\r\n"
        _clock["line"] = (now, text)
    return text


def _log_time() -> str:
    """pywsgi's access-log time, ``datetime.now()`` to the second, computed once a second."""
    now = int(time())
    second, text = _clock["log"]
    if second != now:
        text = str(datetime.now().replace(microsecond=0))
        _clock["log"] = (now, text)
    return text


def _path_and_query(target: bytes) -> tuple[str, str]:
    """PATH_INFO (percent-decoded, then read as latin-1, PEP 3333) and QUERY_STRING."""
    if target == b"/":
        return "/", ""
    if target[:1] == b"/":
        # A fragment has no place in a request target (RFC 9112 section 3.2); what follows a
        # '#' is neither path nor query (RFC 3986 section 3.5), '?' included.
        path, _, query = target.partition(b"#")[0].partition(b"?")
    elif target == b"*":
        path, query = b"*", b""
    else:  # absolute-form (RFC 9112 section 3.2.2), or CONNECT's authority-form
        try:
            url = httptools.parse_url(target)
        except httptools.HttpParserInvalidURLError:
            return "", ""
        path, query = url.path or b"/", url.query or b""
    if b"%" in path:
        path = unquote_to_bytes(path)
    return path.decode("latin-1"), query.partition(b"#")[0].decode("latin-1")


def close_lingering(tls: TLSSocket, left: int = _LINGER_BYTES, seconds: float = _LINGER_SECONDS) -> None:
    """Close ``tls`` lingering: close_notify and FIN first, then read and drop what the client
    still sends, at most ``left`` bytes for ``seconds``, until it closes too, so that a client
    still sending reads our answer instead of meeting a reset (RFC 9112 section 9.6)."""
    if not tls.closed:
        try:
            tls.shutdown(SHUT_WR)
            tls.settimeout(None)
            with gevent.Timeout(seconds, False):  # type: ignore[arg-type]  # False: end silently
                while left > 0:
                    data = tls.recv(_RECV_SIZE)
                    if not data:
                        break
                    left -= len(data)
        except Exception:  # the client is gone or broke the stream: nothing to wait for
            pass
    tls.close()


_PID = [os.getpid()]


def _forked() -> None:
    _PID[0] = os.getpid()


os.register_at_fork(after_in_child=_forked)


def current_pid() -> int:
    """``os.getpid()`` without its system call (glibc does not cache it): asked per connection."""
    return _PID[0]


class IdleReaper:
    """Closes keep-alive connections idle past keep_alive_timeout, for one process.

    A timer per idle wait (what a socket timeout costs) is a gevent ``Timeout`` made, started
    and cancelled for every request of a busy keep-alive connection.  Instead a handler that
    starts waiting for its next request joins ``waiting`` with its deadline and leaves it when
    the wait ends, and one repeating timer closes the connections whose deadline passed (nginx
    keeps its keep-alive timers coarse the same way).  Memory is one set entry per idle
    connection; a sweep costs one look at each."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.waiting: set[HTTPHandler] = set()
        #: Set by ``drain``: no connection waits for another request.
        self.draining = False
        self.pid = current_pid()
        self._timer = self._start_timer(seconds)

    @staticmethod
    def _interval(seconds: float) -> float:
        # A quarter of the timeout, at most 0.25 s: a connection closes within 25 % (or 0.25 s)
        # of its time.
        return min(0.25, seconds / 4)

    def _start_timer(self, seconds: float) -> Any:
        interval = self._interval(seconds)
        timer = gevent.get_hub().loop.timer(interval, interval)
        timer.start(self._sweep)
        return timer

    def retime(self, seconds: float) -> None:
        """``keep_alive_timeout`` changed: later idle waits get ``seconds``; those waiting keep
        the deadline they started with, and are still closed when it passes."""
        if seconds != self.seconds:
            if self._interval(seconds) != self._interval(self.seconds):
                self._timer.stop()
                self._timer = self._start_timer(seconds)
            self.seconds = seconds

    def _sweep(self) -> None:
        now = monotonic()
        expired = [handler for handler in self.waiting if handler.idle_deadline <= now]
        for handler in expired:
            self.waiting.discard(handler)
            handler.idle_expired = True
            handler.tls._close_owned()  # wakes its wait with an error; no answer is due

    def stop(self) -> None:
        """Stop the timer (the server stopped)."""
        self._timer.stop()
        self.waiting.clear()

    def drain(self) -> None:
        """The server is stopping: close the connections idle between requests now (nginx
        and Node do), and end each other one's keep-alive once its answer is sent, instead of
        holding the stop until keep_alive_timeout."""
        self.draining = True
        self.close_idle()

    def close_idle(self) -> None:
        """Close the connections waiting for their next request now."""
        for handler in list(self.waiting):
            self.waiting.discard(handler)
            handler.idle_expired = True
            handler.tls._close_owned()


class HTTPHandler:
    """One connection's HTTP/1.1: requests parsed by llhttp, answered by the WSGI application.

    ``server`` is the ``WSGIServer``: its ``application``, ``limits``, logs and environ are
    read as the connection starts (the application as each request starts)."""

    def __init__(self, tls: TLSSocket, server: Any, base_environ: dict[str, Any],
                 reaper: IdleReaper | None = None) -> None:
        self.tls = tls
        self.server = server
        self.limits = server.limits
        self.environ = base_environ
        self.client = base_environ.get("REMOTE_ADDR") or "-"
        self.reaper = reaper
        #: For the reaper: when the idle wait in progress ends, and whether it ended so.
        self.idle_deadline = 0.0
        self.idle_expired = False
        self._access_log = server._access_log
        loop = gevent.get_hub().loop
        #: The hub's libev loop, for ``pendingcnt`` (``_send_head``); None on a loop without it.
        self._loop = loop if hasattr(loop, "pendingcnt") else None
        self._parsing = Parsing(self.limits)
        #: A refusal found behind the requests already queued: sent once they are answered.
        self._error: Refusal | None = None
        self._eof = False
        self._idle = tls.gettimeout()  # the Server's idle_timeout, if any
        self._linger = False
        #: (bytes, seconds) the lingering close reads and drops at most.
        self._linger_limits = (_LINGER_BYTES, _LINGER_SECONDS)
        #: When the last answer ended: keep_alive_timeout counts from it, whatever bytes that
        #: begin no request (blank lines, which llhttp skips) arrive meanwhile.
        self._idle_since = 0.0
        # The response in progress.
        self._request: Request | None = None
        self._status: str | None = None
        self._headers: list[tuple[str, str]] = []
        self._head_sent = False
        self._mode = _NONE
        self._left = 0
        self._sent = 0
        self._close = False
        self._continued = False
        #: None, or the status the request earns because its body failed (400, 408, 413).
        self._failure: int | None = None

    # -- the connection ----------------------------------------------------------------------

    def handle(self) -> None:
        """Serve requests until the connection ends; then close it (lingering after a refusal)."""
        try:
            self._serve()
        finally:
            self._parsing.close()
            self._close_connection()

    def _serve(self) -> None:
        queue = self._parsing.queue
        first_start: float | None = monotonic()
        while True:
            if not queue:
                if self._error is not None:
                    self._refuse(self._error)
                    return
                if self._eof or not self._read_head(first_start):
                    return
                continue
            first_start = None
            if not self._answer(queue.popleft()):
                return
            self._idle_since = monotonic()

    def _read_head(self, first_start: float | None) -> bool:
        """Read while no request is queued; False when the connection should end."""
        parsing = self._parsing
        limits = self.limits
        current = parsing.current
        data: bytes | None
        if current is not None or first_start is not None:
            start = current.start if current is not None else first_start
            assert start is not None
            bounds = [s for s in (limits.headers_timeout, limits.request_timeout) if s]
            deadline = start + min(bounds) if bounds else None
            try:
                data = self._recv(deadline)
            except _Expired:
                self._refuse(Refusal(408, "headers_timeout passed" if limits.headers_timeout == min(bounds)
                                     else "request_timeout passed"))
                return False
        elif self.reaper is not None:
            data = self._idle_recv(self.reaper, self._idle_since + self.reaper.seconds)
            if data is None:
                return False  # idle too long: closed without an answer, as Node does
        else:
            keep_alive = limits.keep_alive_timeout
            try:
                data = self._recv(self._idle_since + keep_alive if keep_alive else None, between=True)
            except _Expired:
                return False
        if not data:
            self._eof = True
            return False
        try:
            parsing.feed(data)
        except Refusal as refusal:
            if not parsing.queue:
                self._refuse(refusal)
                return False
            self._error = refusal
            last = parsing.queue[-1]
            if not last.complete:  # the refusal is about its body: it is that request's answer
                last.error = refusal
        return True

    def _idle_recv(self, reaper: IdleReaper, deadline: float) -> bytes | None:
        """Wait for the next request under the reaper's keep_alive_timeout, until ``deadline``;
        None if it passed."""
        if deadline <= monotonic() or reaper.draining:
            return None
        self.idle_deadline = deadline
        waiting = reaper.waiting
        waiting.add(self)
        try:
            return self.tls._recv_after_idle(_RECV_SIZE)
        except OSError:
            if self.idle_expired:
                return None
            raise
        finally:
            waiting.discard(self)

    def _recv(self, deadline: float | None, between: bool = False) -> bytes:
        """One read, bounded by ``deadline`` (``_Expired``) and by the Server's idle_timeout;
        ``between`` requests, it waits for the descriptor first (``_recv_after_idle``)."""
        tls = self.tls
        recv = tls._recv_after_idle if between else tls.recv
        if deadline is None:
            return recv(_RECV_SIZE)
        remaining = deadline - monotonic()
        if remaining <= 0:
            raise _Expired
        idle = self._idle
        if idle is not None and idle < remaining:
            return recv(_RECV_SIZE)  # idle_timeout ends this wait first
        tls.settimeout(remaining)
        try:
            return recv(_RECV_SIZE)
        except TimeoutError:
            raise _Expired from None
        finally:
            tls.settimeout(idle)

    def _refuse(self, refusal: Refusal) -> None:
        """Answer a request the server refuses (unless a response began) and close lingering."""
        self._linger = True
        self._log_error(f"(from {self.client}) {refusal}")
        if self._head_sent:
            return
        try:
            self.tls.sendall(refusal_bytes(refusal.status))
        except OSError:
            pass

    def _close_connection(self) -> None:
        """After a refusal, close lingering, as Apache and nginx do: a client still sending (a
        dripped body, pipelined requests) would otherwise meet a reset, and may drop our answer
        unread (RFC 9112 section 9.6).  So send close_notify and FIN, then read and drop what
        still comes, bounded in bytes and time, until the client closes too."""
        if self._linger:
            close_lingering(self.tls, *self._linger_limits)
        else:
            self.tls.close()

    # -- one request -----------------------------------------------------------------------------

    def _answer(self, request: Request) -> bool:
        """Run the application for ``request`` and send its answer; False to close."""
        self._request = request
        self._status = None
        self._head_sent = False
        self._sent = 0
        self._failure = None
        self._continued = False
        self._close = not request.keep_alive or request.upgrade
        began = time() if self._access_log is not None else 0.0
        environ = self._environ(request)
        try:
            result = self.server.application(environ, self._start_response)
            try:
                if self._failure is None:
                    self._send_result(result)
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
        except LimitPassed:
            if self._failure is None:
                raise
        except gevent.Timeout as exc:  # one the application started and let escape: its error
            if self._failure is None:
                self._application_error(exc)
        except OSError as exc:
            if self._failure is None and self._head_sent:
                raise  # the client went away while we sent
            if self._failure is None:
                self._application_error(exc)
        except Exception as exc:
            if self._failure is None:
                self._application_error(exc)
        failure = self._body_failure()
        if failure is not None:  # even if the application caught the error and carried on
            self._refuse(Refusal(failure, "the request body failed"))
            return False
        if self._access_log is not None:
            self._log_request(request, began)
        if self._close:
            return False
        self._head_sent = False  # a refusal from now on is the next request's answer
        return request.complete or self._skip_body(request)

    def _application_error(self, exc: BaseException) -> None:
        """An exception of the application: logged to error_log; a 500 if nothing was sent."""
        self._log_error(f"(from {self.client}) the application raised for "
                        f"{self._request_line(self._request)}\n"
                        + "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)).rstrip())
        self._close = True
        if not self._head_sent:
            self._status = "500 Internal Server Error"
            self._sent = len(_ERROR_BODY)
            self._head_sent = True
            self.tls.sendall(_ERROR_RESPONSE)

    def _skip_body(self, request: Request) -> bool:
        """Read and drop what the application left of the body, under request_timeout."""
        if request.complete:
            return True
        if request.expect and not self._continued:
            return False  # the client waits for 100 Continue: do not make it send the body
        if request.length is not None and request.length - request.received > _DISCARD_LIMIT:
            self._linger = True  # the answer said Connection: close (_send_head)
            return False
        try:
            complete = False
            while not complete:
                request.body.clear()
                if request.received > _DISCARD_LIMIT:
                    self._linger = True
                    return False
                complete = self._read_body(request)
        except (LimitPassed, ClientError):
            self._linger = True
            return False
        request.body.clear()
        return True

    def _read_body(self, request: Request) -> bool:
        """Read once more for ``request``'s body (``_Input``, ``_skip_body``); True once the
        body is complete."""
        if request.error is not None:
            self._failure = request.error.status
        if self._failure is not None:
            raise self._failed()
        if request.expect and not self._continued:
            self._continued = True
            if not self._head_sent:
                self.tls.sendall(_CONTINUE)
        timeout = self.limits.request_timeout
        try:
            data = self._recv(request.start + timeout if timeout else None)
        except _Expired:
            self._failure = 408
            raise self._failed() from None
        except TimeoutError:  # the Server's idle_timeout: the client sent nothing for that long
            self._failure = 408
            raise self._failed("idle_timeout") from None
        except OSError:
            self._failure = 400  # the peer left mid-body: no later request can follow it
            raise
        if not data:
            self._eof = True
            self._failure = 400
            raise self._failed()
        try:
            self._parsing.feed(data)
        except Refusal as refusal:
            if not request.complete:
                self._failure = refusal.status
                raise self._failed() from None
            self._error = refusal  # a later request is refused once this one is answered
        return request.complete

    def _body_failure(self) -> int | None:
        """``_failure`` as the body reads left it (a call, so that mypy does not keep the
        ``None`` that ``_answer`` assigned before running the application)."""
        return self._failure

    def _failed(self, limit: str = "request_timeout") -> BaseException:
        if self._failure == 408:
            return LimitPassed(None, limit)
        return ClientError(f"the request body failed ({self._failure})")

    # -- the environ -------------------------------------------------------------------------------

    def _environ(self, request: Request) -> dict[str, Any]:
        env = self.environ.copy()
        env["REQUEST_METHOD"] = request.method
        env["PATH_INFO"], env["QUERY_STRING"] = _path_and_query(request.target)
        env["RAW_URI"] = request.target.decode("latin-1")  # as the client sent it (gunicorn's name)
        env["SERVER_PROTOCOL"] = _PROTOCOLS[request.version]
        env["wsgi.input"] = Input(self, request)
        keys = _KEYS
        for name, value in request.headers:
            key = keys[name] if name in keys else _environ_key(name)
            if key is None:
                continue
            text = (value.rstrip(b" \t") if value[-1:] in (b" ", b"\t") else value).decode("latin-1")
            if key in env:
                # RFC 9110 section 5.3: repeated fields are one comma-separated list; cookies
                # are joined with "; " (RFC 6265 section 5.4).
                env[key] += ("; " if key == "HTTP_COOKIE" else ", ") + text
            else:
                env[key] = text
        return env

    # -- the response ---------------------------------------------------------------------------

    def _start_response(self, status: str, headers: list[tuple[str, str]],
                        exc_info: OptExcInfo | None = None) -> Any:
        """PEP 3333's start_response; returns the ``write`` callable."""
        if exc_info:
            try:
                if self._head_sent:
                    raise exc_info[1].with_traceback(exc_info[2])  # type: ignore[union-attr]
            finally:
                exc_info = None
        elif self._status is not None:
            raise AssertionError("start_response() called again without exc_info (PEP 3333)")
        if type(status) is not str or not STATUS.fullmatch(status):
            raise ValueError(f"start_response: invalid status {status!r}")
        if int(status[:3]) < 200:
            raise ValueError(f"start_response: a WSGI application cannot send {status!r}")
        if type(headers) is not list:
            raise TypeError(f"start_response: headers must be a list, got {type(headers).__name__}")
        self._status = status
        self._headers = headers
        return self._write

    def _write(self, data: bytes) -> None:
        """The ``write`` callable, and each chunk of the application's result."""
        if not self._head_sent:
            if self._status is None:
                raise AssertionError("the application sent a body before start_response()")
            self._send_head(data, None)
            return
        self._send_body(data)

    def _send_result(self, result: Any) -> None:
        if isinstance(result, list) and not self._head_sent and self._status is not None:
            if len(result) == 1:
                self._send_head(result[0], len(result[0]))
            else:
                # Every part is checked before the head goes: one that is not bytes earns a
                # 500, not a reply cut short of its Content-Length.
                parts = [part if type(part) is bytes else _as_bytes(part) for part in result]
                total = sum(len(part) for part in parts)
                if total < _SEPARATE_WRITE:  # head and body in one write (_send_body)
                    self._send_head(b"".join(parts), total)
                else:
                    self._send_head(parts[0], total)
                    for data in parts[1:]:
                        self._send_body(data)
        elif isinstance(result, FileWrapper) and not self._head_sent and self._status is not None:
            self._send_head(b"", result.remaining())
            for data in result:
                self._send_body(data)
        else:
            for data in result:
                if data:
                    self._write(data)
        self._finish()

    def _finish(self) -> None:
        if not self._head_sent:
            if self._status is None:
                raise AssertionError("the application returned without calling start_response()")
            self._send_head(b"", 0)
        if self._mode == _CHUNKED:
            self.tls.sendall(b"0\r\n\r\n")
        elif self._mode == _LENGTH and self._left > 0:
            self._log_error(f"(from {self.client}) the response is {self._left} bytes shorter "
                            "than its Content-Length; closing the connection")
            self._close = True

    def _send_head(self, first: bytes, total: int | None) -> None:
        """Send the head with ``first``, the body's first chunk; ``total`` is the body's length
        when the server knows it (the application's result is a list, or a regular file)."""
        status = self._status
        assert status is not None
        request = self._request
        assert request is not None
        if type(first) is not bytes:
            first = _as_bytes(first)  # before the head counts as sent: a str body earns a 500
        code = status[:3]
        lines = ["HTTP/1.1 ", status, "\r\n"]
        length: int | None = None
        date = False
        kinds = _NAME_KINDS
        for name, value in self._headers:
            kind = kinds.get(name) if type(name) is str else None
            if kind is None:
                kind = _name_kind(name)
            if type(value) is not str:
                raise TypeError(f"response header {name!r}: the value {value!r} is not a str")
            if "\r" in value or "\n" in value or "\x00" in value:
                raise ValueError(f"response header {name!r} has CR, LF or NUL in its value")
            if kind:
                if kind == _KIND_LENGTH:
                    if not value.isdigit() or length is not None:
                        raise ValueError(f"invalid response Content-Length {value!r}")
                    length = int(value)
                    if code == "204":
                        continue  # RFC 9110 section 8.6: never in a 204
                elif kind == _KIND_DATE:
                    date = True
                else:  # hop-by-hop: the server frames the response (PEP 3333)
                    if kind == _KIND_CONNECTION and "close" in value.lower():
                        self._close = True
                    continue
            lines.append(f"{name}: {value}\r\n")
        if not date:
            lines.append(_date_line())
        if request.method == "HEAD" or code in ("204", "304"):
            self._mode = _NONE
            if length is None and total is not None and code not in ("204", "304"):
                lines += ("Content-Length: ", str(total), "\r\n")
        elif length is not None:
            self._mode, self._left = _LENGTH, length
        elif total is not None:
            self._mode, self._left = _LENGTH, total
            lines += ("Content-Length: ", str(total), "\r\n")
        elif request.version == "1.1":
            self._mode = _CHUNKED
            lines.append("Transfer-Encoding: chunked\r\n")
        else:
            self._mode = _UNTIL_CLOSE  # HTTP/1.0 without a length: the close ends the body
            self._close = True
        if not self._close and not request.complete and (
                (request.expect and not self._continued)
                or request.length is None or request.length - request.received > _DISCARD_LIMIT):
            # The body is still arriving and may be more than we would read to drop it, or the
            # client waits for 100 Continue and may send it or not (RFC 9110 section 10.1.1):
            # say we close, so a client still sending reads this answer (and closes lingering).
            self._close = True
            self._linger = True
            self._linger_limits = (_UNREAD_LINGER_BYTES, _UNREAD_LINGER_SECONDS)
        if self._close:
            lines.append("Connection: close\r\n\r\n")
        elif request.version == "1.0":
            lines.append("Connection: keep-alive\r\n\r\n")
        else:
            lines.append("\r\n")
        head = "".join(lines).encode("latin-1")
        loop = self._loop
        if loop is not None and loop.pendingcnt:
            # Other connections' events are ready in this loop iteration: let their greenlets
            # run first, so that the answers leave together.  A client whose answers arrive in
            # a burst stays awake to read them; answers sent one at a time, each after another
            # request's work, wake it once each, and on loopback that wake-up is the sender's
            # CPU (about a fifth of a keep-alive request's cost; benchmarks/wsgi.py).
            gevent.sleep(0)
        self._head_sent = True
        if first:
            self._send_body(first, head)
        else:
            self.tls.sendall(head)

    def _send_body(self, data: bytes, head: bytes = b"") -> None:
        """Send one chunk of the body, framed by the response's mode, after ``head``."""
        if type(data) is not bytes:
            data = _as_bytes(data)
        size = len(data)
        mode = self._mode
        if mode == _LENGTH:
            if size > self._left:
                self._log_error(f"(from {self.client}) the application sent more than its "
                                "Content-Length; the rest is dropped and the connection closed")
                self._close = True
                data = data[:self._left]
                size = len(data)
            self._left -= size
        elif mode == _NONE:  # HEAD, 204, 304: nothing of the body is sent (nor logged as sent)
            if head:
                self.tls.sendall(head)
            return
        elif mode == _CHUNKED:
            if not size:
                if head:
                    self.tls.sendall(head)
                return
            if size >= _SEPARATE_WRITE:
                self.tls.sendall(head + b"%x\r\n" % size)
                self.tls.sendall(data)
                self.tls.sendall(b"\r\n")
                self._sent += size
                return
            data = b"%s%x\r\n%s\r\n" % (head, size, data)
            head = b""
        self._sent += size
        if head:
            if size >= _SEPARATE_WRITE:
                self.tls.sendall(head)
            else:
                data = head + data
        if data:
            self.tls.sendall(data)

    # -- logs --------------------------------------------------------------------------------------

    @staticmethod
    def _request_line(request: Request | None) -> str:
        if request is None:
            return ""
        return f"{request.method} {request.target.decode('latin-1')} HTTP/{request.version}"

    def _log_request(self, request: Request, began: float) -> None:
        """pywsgi's access-log line: ``client - - [time] "request line" status length seconds``."""
        log = self._access_log
        assert log is not None
        status = (self._status or "000").split()[0]
        log.write(f'{self.client} - - [{_log_time()}] "{self._request_line(request)}" {status} '
                  f'{self._sent or "-"} {time() - began:.6f}\n')

    def _log_error(self, message: str) -> None:
        try:
            self.server.error_log.write(message + "\n")
        except Exception:  # a broken error log must not break serving
            print(message, file=sys.stderr)


def _as_bytes(data: object) -> bytes:
    """A body chunk that is not ``bytes``: a bytes-like object is copied, anything else refused."""
    if not isinstance(data, (bytearray, memoryview)):
        raise TypeError(f"the application sent {type(data).__name__}, not bytes (PEP 3333)")
    return bytes(data)


class _Expired(Exception):
    """A deadline of ours passed while waiting for the client."""
