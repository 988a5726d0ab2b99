"""The request side of greentls's HTTP/1.1: llhttp's callbacks, the limits and RFC 9112's
framing rules (``greentls._app.http`` answers the requests).

llhttp (``httptools``) is strict by default and refuses most of what request smuggling needs:
``Content-Length`` beside ``Transfer-Encoding``, several ``Content-Length`` fields (even equal
ones, as Node does), a sign or junk in a length, a bare CR or an obs-fold in a field line, a
space before a field's colon, an invalid chunk size, a chunk size or length that overflows.
``check_head`` adds what llhttp accepts and we must not: a transfer coding other than a lone
``chunked`` (we could decode no other, so a server behind us could read the body otherwise),
``Transfer-Encoding`` in an HTTP/1.0 request (RFC 9112 section 6.1), an HTTP/1.1 request
without exactly one ``Host`` (RFC 9112 section 3.2), an ``Expect`` other than
``100-continue`` (417, RFC 9110 section 10.1.1).

Limits and their precedents (each refusal closes the connection):

* ``limit_request_line`` (4094 bytes, gunicorn's default): ``414`` (as gunicorn, Apache's
  LimitRequestLine and nginx's large_client_header_buffers answer);
* ``limit_request_fields`` (100, gunicorn's and Apache's LimitRequestFields): ``431`` (RFC 6585,
  as gunicorn and Node answer);
* ``limit_request_field_size`` (8190 bytes, gunicorn's and Apache's LimitRequestFieldSize;
  the field line with its CRLF, as gunicorn counts it): ``431``;
* ``limit_request_body`` (no limit by default; Apache's LimitRequestBody, nginx's
  client_max_body_size): ``413``.
"""
from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass
from time import monotonic

import gevent
import httptools

__all__ = ["HTTPLimits", "LimitPassed", "ClientError", "Refusal", "Request", "Parsing", "check_head",
           "refusal_bytes", "HOP_BY_HOP", "TOKEN", "STATUS"]

REASONS = {400: "Bad Request", 408: "Request Timeout", 413: "Content Too Large",
           414: "URI Too Long", 417: "Expectation Failed", 431: "Request Header Fields Too Large",
           505: "HTTP Version Not Supported"}
#: Hop-by-hop fields an application may not set (PEP 3333): the server frames the response
#: itself.  As gunicorn does, ``Connection: close`` is honoured and the rest dropped.
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization",
                        "te", "trailer", "trailers", "transfer-encoding", "upgrade"})
TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
STATUS = re.compile(r"[1-9][0-9][0-9] [^\r\n\x00]*")


_METHODS = {m.encode(): m for m in ("GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH")}


@dataclass(frozen=True)
class HTTPLimits:
    """The HTTP limits of a ``WSGIServer``: Node's timeouts in seconds and gunicorn's size
    limits in bytes or fields; ``None`` is no limit."""

    headers_timeout: float | None = 60.0
    request_timeout: float | None = 300.0
    keep_alive_timeout: float | None = 5.0
    limit_request_line: int | None = 4094
    limit_request_fields: int | None = 100
    limit_request_field_size: int | None = 8190
    limit_request_body: int | None = None


class LimitPassed(gevent.Timeout):
    """One of the HTTP limits passed.  A ``gevent.Timeout``, hence a ``BaseException``: an
    application's ``except Exception`` cannot swallow it and keep a slow client's request alive."""

    def __init__(self, seconds: float | None, limit: str) -> None:
        super().__init__(seconds)
        self.limit = limit

    def __str__(self) -> str:
        return f"{self.limit} passed"


class ClientError(OSError):
    """What ``wsgi.input`` raises for a body that failed: malformed, too large, or cut off."""


def refusal_bytes(status: int) -> bytes:
    """The whole answer to a refused request: no body, and the connection closes."""
    return (f"HTTP/1.1 {status} {REASONS[status]}\r\nContent-Type: text/plain\r\n"
            "Connection: close\r\nContent-Length: 0\r\n\r\n").encode("ascii")


class Refusal(Exception):
    """A request the server answers itself with a 4xx (or 505) and a close."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


# -- the parser's side: requests and their bodies ----------------------------------------------

class Request:
    """One request as parsed: its head, its body so far, and whether the body is complete."""

    __slots__ = ("method", "target", "version", "headers", "keep_alive", "body", "complete",
                 "length", "chunked", "expect", "upgrade", "start", "received", "trailers", "error")

    def __init__(self, start: float) -> None:
        self.start = start
        self.target = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.body = bytearray()
        self.complete = False
        self.received = 0
        self.method = ""
        self.version = "1.1"
        self.keep_alive = True
        self.length: int | None = None
        self.chunked = False
        self.expect = False
        #: Trailer fields seen after a chunked body: counted against the field limit, and
        #: dropped (RFC 9110 section 6.5.1 forbids merging them into the head; PEP 3333 has
        #: no place for them), as gunicorn drops them.
        self.trailers = 0
        self.upgrade = False
        #: Why the body cannot be read (it was malformed), once the parser said so.
        self.error: Refusal | None = None


#: What a request may send without the parser reporting progress when limit_request_field_size
#: is 0 (no limit on complete fields): Node caps chunk extensions at 16 KiB (CVE-2024-22019).
_UNSEEN_LIMIT = 1 << 16


class Parsing:
    """llhttp's callbacks: they build ``Request`` objects and check the limits and framing."""

    def __init__(self, limits: HTTPLimits) -> None:
        self.queue: deque[Request] = deque()
        self.current: Request | None = None
        self.line_limit: int = limits.limit_request_line or 0
        self.fields_limit: int = limits.limit_request_fields or 0
        self.field_limit: int = limits.limit_request_field_size or 0
        self.body_limit: int | None = limits.limit_request_body
        #: Bytes fed since the parser last reported progress (a field, body bytes, a message's
        #: start or end): bounds what it buffers unseen, a field in the head or the trailers,
        #: or a chunk header and its extensions, none of which reaches a callback until it ends.
        self.since_field = 0
        self.in_head = False
        self.parser: httptools.HttpRequestParser | None = httptools.HttpRequestParser(self)

    def close(self) -> None:
        """The connection ended: drop llhttp, whose callbacks are this object's methods (a
        reference cycle that only the garbage collector would otherwise free)."""
        self.parser = None

    def on_message_begin(self) -> None:
        self.current = Request(monotonic())
        self.in_head = True
        self.since_field = 0

    def on_url(self, url: bytes) -> None:
        request = self.current
        assert request is not None
        request.target += url
        if self.line_limit:
            parser = self.parser
            assert parser is not None  # llhttp calls back only while it is fed
            # The method, its space and " HTTP/1.1" (llhttp has read the method): the line's
            # length without its CRLF, as gunicorn counts it.
            if len(parser.get_method()) + len(request.target) + 10 > self.line_limit:
                raise Refusal(414, f"request line longer than {self.line_limit} bytes")

    def on_header(self, name: bytes, value: bytes) -> None:
        request = self.current
        assert request is not None
        headers = request.headers
        if self.in_head:
            headers.append((name, value))
        else:  # a trailer field: never part of the head the application sees
            request.trailers += 1
        self.since_field = 0
        if self.fields_limit and len(headers) + request.trailers > self.fields_limit:
            raise Refusal(431, f"more than {self.fields_limit} header fields")
        if self.field_limit and len(name) + len(value) + 4 > self.field_limit:  # ": " and CRLF, as gunicorn
            raise Refusal(431, f"a header field longer than {self.field_limit} bytes")

    def on_headers_complete(self) -> None:
        request = self.current
        assert request is not None
        self.in_head = False
        parser = self.parser
        assert parser is not None  # llhttp calls back only while it is fed
        method = parser.get_method()
        request.method = _METHODS.get(method) or method.decode("ascii")
        request.version = version = parser.get_http_version()
        if version != "1.1" and version != "1.0":
            raise Refusal(505, f"HTTP/{version} is not served")
        request.keep_alive = parser.should_keep_alive()
        request.upgrade = parser.should_upgrade()
        check_head(request, self.body_limit)
        self.queue.append(request)

    def on_body(self, body: bytes) -> None:
        request = self.current
        assert request is not None
        request.body += body
        request.received += len(body)
        self.since_field = 0
        if self.body_limit is not None and request.received > self.body_limit:
            raise Refusal(413, f"request body larger than {self.body_limit} bytes")

    def on_message_complete(self) -> None:
        request = self.current
        assert request is not None
        if request.upgrade and request.method != "CONNECT" and (request.chunked or request.length):
            # httptools has llhttp skip an Upgrade request's body and stop (HttpParserUpgrade);
            # WSGI ignores the Upgrade (RFC 9110 section 7.8), so the body is still to come:
            # ``feed`` reads it with a parser of its own (``_BodyOfUpgrade``).
            return
        self.end_message()

    def end_message(self) -> None:
        """The request in progress is complete (its body too)."""
        request = self.current
        assert request is not None
        request.complete = True
        self.current = None
        self.since_field = 0

    def feed(self, data: bytes) -> None:
        """Parse ``data``; a ``Refusal`` (ours or llhttp's) says why the stream is unusable."""
        if self.current is not None:
            # A request in progress: httptools gathers a field's pieces before it calls
            # on_header (in the head and in the trailers), and llhttp reads a chunk header and
            # its extensions without a callback, so any of them dripped without end would grow
            # (at a quadratic cost: httptools appends to a bytes object).  Bytes fed since the
            # parser last reported progress bound it, give or take one read.
            self.since_field += len(data)
        parser = self.parser
        if parser is None:
            raise Refusal(400, "the connection has ended")
        try:
            stopped_at = None
            try:
                parser.feed_data(data)
            except httptools.HttpParserUpgrade as upgrade:
                # An Upgrade or CONNECT request: WSGI cannot hand over the stream. Its head is
                # queued (answered normally, then the connection is closed); llhttp stops
                # there, before the body of an Upgrade request that has one.
                stopped_at = upgrade.args[0]
            if stopped_at is not None and self.current is not None:  # outside that except:
                self._read_body_apart(self.current, data[stopped_at:])  # no exception context
        except httptools.HttpParserError as exc:
            cause = exc.__context__
            if isinstance(cause, Refusal):  # raised by one of our callbacks
                raise cause from None
            raise Refusal(400, f"malformed request: {exc}") from None
        bound = self.field_limit or _UNSEEN_LIMIT
        if self.current is not None and self.since_field > bound + self.line_limit + 4:
            if self.in_head:
                raise Refusal(431, f"a header field longer than {bound} bytes")
            raise Refusal(400, f"a chunk header or trailer field longer than {bound} bytes")

    def _read_body_apart(self, request: Request, rest: bytes) -> None:
        """Parse the body of an Upgrade request that llhttp stopped before: a parser of its
        own gets a head that frames the body as the request's did, then the bytes after the
        request's head; its body callbacks are this request's.  The connection closes after
        the answer (an Upgrade request is the last), so nothing after the body is read."""
        framing = b"Transfer-Encoding: chunked" if request.chunked else b"Content-Length: %d" % (request.length or 0)
        self.parser = parser = httptools.HttpRequestParser(_BodyOfUpgrade(self))
        try:
            parser.feed_data(b"POST / HTTP/1.1\r\nHost: body\r\n" + framing + b"\r\n\r\n" + rest)
        except httptools.HttpParserUpgrade:
            pass  # another Upgrade or CONNECT after the body: never read (the connection closes)


class _BodyOfUpgrade:
    """llhttp's callbacks for an Upgrade request's body (``Parsing._read_body_apart``): the
    body goes to the request in progress; trailers, and whatever follows, are dropped."""

    def __init__(self, parsing: Parsing) -> None:
        self.parsing = parsing
        self.done = False

    def on_body(self, body: bytes) -> None:
        if not self.done:
            self.parsing.on_body(body)

    def on_message_complete(self) -> None:
        if not self.done:
            self.done = True
            self.parsing.end_message()


def check_head(request: Request, body_limit: int | None) -> None:
    """RFC 9112's framing rules that llhttp leaves to us, the body limit, and Expect."""
    coding = length = expect = None
    hosts = 0
    for name, value in request.headers:
        lowered = name.lower()
        if lowered == b"transfer-encoding":
            coding = value if coding is None else coding + b"," + value
        elif lowered == b"content-length":
            length = value
        elif lowered == b"expect":
            expect = value
        elif lowered == b"host":
            hosts += 1
    if coding is not None:
        if request.version == "1.0":
            # RFC 9112 section 6.1: Transfer-Encoding in an HTTP/1.0 message is faulty framing.
            raise Refusal(400, "Transfer-Encoding in an HTTP/1.0 request")
        if [c.strip(b" \t").lower() for c in coding.split(b",")] != [b"chunked"]:
            # RFC 9112 section 6.3 item 4: only chunked frames a request; llhttp accepts
            # "gzip, chunked", which we could not decode (nor could a server behind us agree).
            raise Refusal(400, f"unsupported Transfer-Encoding {coding.decode('latin-1')!r}")
        request.chunked = True
    elif length is not None:
        request.length = int(length)  # llhttp checked: digits only, one field, no overflow
        if body_limit is not None and request.length > body_limit:
            raise Refusal(413, f"request body larger than {body_limit} bytes")
    if request.version == "1.1" and hosts != 1:
        # RFC 9112 section 3.2: a request without Host, or with several, is a 400.
        raise Refusal(400, "an HTTP/1.1 request needs exactly one Host field")
    if expect is not None:
        if expect.lower() != b"100-continue":
            raise Refusal(417, f"unsupported Expect {expect.decode('latin-1')!r}")
        request.expect = request.version == "1.1"
