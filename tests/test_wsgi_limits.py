"""greentls.wsgi.WSGIServer's HTTP limits (Node's headersTimeout, requestTimeout and
keepAliveTimeout) and RFC 9112's framing rules, against a raw TLS client: the stdlib's ssl in
gevent's cooperative copy, since the server runs in this process too."""
from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator
from time import monotonic
from typing import Any

import gevent
import pytest
import trustme
from gevent import socket as gsocket, ssl
from helpers import serve_wsgi_cli

from greentls.wsgi import WSGIServer

SMUGGLED = b"GET /smuggled HTTP/1.1\r\nHost: localhost\r\n\r\n"


# -- a raw HTTP/1.1 client over TLS -------------------------------------------------------------

def parse_responses(data: bytes) -> list:
    """The complete responses in ``data`` as (status, body), framed by Content-Length."""
    responses = []
    while True:
        head, sep, rest = data.partition(b"\r\n\r\n")
        if not sep:
            return responses
        match = re.search(rb"(?im)^content-length:[ \t]*([0-9]+)", head)
        length = int(match.group(1)) if match else 0
        if len(rest) < length:
            return responses
        responses.append((int(head.split(b" ", 2)[1]), rest[:length]))
        data = rest[length:]


class RawClient:
    """One TLS connection that sends raw bytes and records what comes back."""

    def __init__(self, port: int, context: ssl.SSLContext) -> None:
        self.raw = gsocket.create_connection(("127.0.0.1", port))
        self.tls = context.wrap_socket(self.raw, server_hostname="localhost")
        self.received = b""
        self.closed_at: float | None = None
        self._dripper: gevent.Greenlet | None = None

    def send(self, data: bytes) -> None:
        self.tls.sendall(data)

    def drip(self, data: bytes, interval: float) -> None:
        """Send ``data`` one byte per ``interval`` in the background, until the server closes."""
        def run() -> None:
            for i in range(len(data)):
                try:
                    self.tls.sendall(data[i:i + 1])
                except OSError:
                    return
                gevent.sleep(interval)
        self._dripper = gevent.spawn(run)

    def _recv(self, wait: float) -> bytes | None:
        """Some bytes, b"" once the server closed (cleanly or not), None if ``wait`` passed."""
        data: bytes | None = None
        with gevent.Timeout(max(wait, 0.001), False):
            try:
                data = self.tls.recv(65536)
            except OSError:  # a reset after the server closed with our bytes unread
                data = b""
        if data == b"" and self.closed_at is None:
            self.closed_at = monotonic()
        return data

    def read_until_closed(self, wait: float) -> bool:
        """Read until the server closes (True) or ``wait`` seconds pass (False)."""
        deadline = monotonic() + wait
        while self.closed_at is None:
            data = self._recv(deadline - monotonic())
            if data is None:
                return False
            self.received += data
        return True

    def read_responses(self, count: int, wait: float) -> list:
        """Read until ``count`` whole responses came (or the server closed, or ``wait`` passed)."""
        deadline = monotonic() + wait
        while len(parse_responses(self.received)) < count and self.closed_at is None:
            data = self._recv(deadline - monotonic())
            if data is None:
                break
            self.received += data
        return parse_responses(self.received)

    def close(self) -> None:
        if self._dripper is not None:
            self._dripper.kill()
        self.tls.close()
        self.raw.close()


# -- fixtures and applications ------------------------------------------------------------------

@pytest.fixture(scope="module")
def client_context(ca: trustme.CA) -> ssl.SSLContext:
    """A cooperative stdlib client context that trusts the test CA."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(cadata=ca.cert_pem.bytes().decode())
    return context


@pytest.fixture
def serve(server_options: dict) -> Iterator[Callable[..., int]]:
    """Start a WSGIServer on 127.0.0.1 with an application and options; returns its port."""
    servers = []

    def start(app: Callable, **options: Any) -> int:
        server = WSGIServer(("127.0.0.1", 0), app, log=None, error_log=None, **server_options, **options)
        server.start()
        servers.append(server)
        return server.address[1]

    yield start
    for server in servers:
        server.stop(timeout=1)


@pytest.fixture
def connect(client_context: ssl.SSLContext) -> Iterator[Callable[[int], RawClient]]:
    """Open RawClients, all closed at the end of the test."""
    clients = []

    def open_client(port: int) -> RawClient:
        client = RawClient(port, client_context)
        clients.append(client)
        return client

    yield open_client
    for client in clients:
        client.close()


def recording_app(served: list) -> Callable:
    """An application that notes each path it answers and echoes ``path body``; like many real
    ones, it treats a body it cannot read as empty instead of failing."""
    def app(environ: dict, start_response: Callable) -> list:
        try:
            body = environ["wsgi.input"].read()
        except Exception:
            body = b""
        served.append(environ["PATH_INFO"])
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [environ["PATH_INFO"].encode() + b" " + body]
    return app


# -- framing: RFC 9112 section 6.3 -------------------------------------------------------------

def post(fields: bytes) -> bytes:
    """A POST head with extra header field lines."""
    return b"POST /a HTTP/1.1\r\nHost: localhost\r\n" + fields + b"\r\n\r\n"


AMBIGUOUS = {
    "length-and-chunked": post(b"Content-Length: 5\r\nTransfer-Encoding: chunked") + b"0\r\n\r\n" + SMUGGLED,
    "xchunked": post(b"Transfer-Encoding: xchunked") + SMUGGLED,
    "chunked-then-identity": post(b"Transfer-Encoding: chunked, identity") + SMUGGLED,
    "chunked-with-junk": post(b"Transfer-Encoding:  chunked junk") + SMUGGLED,
    "space-before-colon": post(b"Transfer-Encoding : chunked") + SMUGGLED,
    "two-lengths": post(b"Content-Length: 0\r\nContent-Length: %d" % len(SMUGGLED)) + SMUGGLED,
    "signed-length": post(b"Content-Length: +0") + SMUGGLED,
    "non-hex-chunk-size": post(b"Transfer-Encoding: chunked") + b"zz\r\n\r\n" + SMUGGLED,
    "empty-chunk-size": post(b"Transfer-Encoding: chunked") + b"\r\n" + SMUGGLED,
}


@pytest.mark.parametrize("request_bytes", AMBIGUOUS.values(), ids=AMBIGUOUS.keys())
def test_ambiguous_framing_is_refused_and_closed(request_bytes, serve, connect):
    """An ambiguous body length or a bad chunk size gets 400 and a close; the request smuggled
    behind it is never served."""
    served: list = []
    client = connect(serve(recording_app(served)))
    client.send(request_bytes)
    assert client.read_until_closed(3.0), client.received
    assert [status for status, _ in parse_responses(client.received)] == [400], client.received
    assert "/smuggled" not in served and b"/smuggled" not in client.received


@pytest.mark.parametrize("coding", [b"chunked", b"Chunked", b"\tCHUNKED "])
def test_chunked_body_is_read(coding, serve, connect):
    """A chunked body (extension, trailer, any case) reaches the application whole, and the
    request pipelined after it is served on the same connection."""
    served: list = []
    client = connect(serve(recording_app(served)))
    body = b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\n"
    client.send(post(b"Transfer-Encoding: " + coding) + body + b"GET /b HTTP/1.1\r\nHost: localhost\r\n\r\n")
    assert client.read_responses(2, 3.0) == [(200, b"/a hello world"), (200, b"/b ")]
    assert served == ["/a", "/b"]


def test_pipelined_requests_share_the_connection(serve, connect):
    """Two valid requests sent at once are both answered, in order, and the connection stays open."""
    served: list = []
    client = connect(serve(recording_app(served)))
    client.send(post(b"Content-Length: 3") + b"abc" + b"GET /b HTTP/1.1\r\nHost: localhost\r\n\r\n")
    assert client.read_responses(2, 3.0) == [(200, b"/a abc"), (200, b"/b ")]
    assert not client.read_until_closed(0.3)
    client.send(b"GET /c HTTP/1.1\r\nHost: localhost\r\n\r\n")
    assert client.read_responses(3, 3.0)[2] == (200, b"/c ")
    assert served == ["/a", "/b", "/c"]


# -- headers_timeout and keep_alive_timeout ------------------------------------------------------

HEAD = b"GET /slow HTTP/1.1\r\nHost: localhost\r\nX-Padding: " + b"x" * 100


@pytest.mark.parametrize("second", [False, True], ids=["first-request", "after-keep-alive"])
def test_dripped_head_is_closed_by_headers_timeout(second, serve, connect):
    """A head sent a byte at a time (each byte well within any idle limit) gets 408 and a close
    once headers_timeout passes, counted from the request's first byte."""
    served: list = []
    client = connect(serve(recording_app(served), headers_timeout=0.5))
    if second:
        client.send(b"GET /first HTTP/1.1\r\nHost: localhost\r\n\r\n")
        assert client.read_responses(1, 3.0) == [(200, b"/first ")]
        client.received = b""
        gevent.sleep(0.3)  # idle time before the head does not count against headers_timeout
    started = monotonic()
    client.drip(HEAD, 0.1)
    assert client.read_until_closed(3.0), client.received
    assert 0.4 <= client.closed_at - started < 1.5
    assert [status for status, _ in parse_responses(client.received)] == [408]
    assert "/slow" not in served


def test_silent_connection_is_closed_by_headers_timeout(serve, connect):
    """A connection that never sends a request is answered 408 and closed after headers_timeout."""
    client = connect(serve(recording_app([]), headers_timeout=0.5))
    started = monotonic()
    assert client.read_until_closed(3.0)
    assert 0.4 <= client.closed_at - started < 1.5
    assert [status for status, _ in parse_responses(client.received)] == [408]


def test_idle_keep_alive_connection_is_closed(serve, connect):
    """After a response, a connection that sends nothing more is closed, without an answer,
    once keep_alive_timeout passes."""
    client = connect(serve(recording_app([]), keep_alive_timeout=0.5))
    client.send(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
    assert client.read_responses(1, 3.0) == [(200, b"/ ")]
    answered = monotonic()
    assert client.read_until_closed(3.0)
    assert 0.4 <= client.closed_at - answered < 1.5
    assert parse_responses(client.received) == [(200, b"/ ")]


def test_changing_keep_alive_timeout_still_closes_connections_already_idle(server_options, client_context):
    """``limits`` replaced while a connection idles: that connection is still closed when its
    keep_alive_timeout passes (the reaper keeps it), and later ones get the new timeout."""
    import dataclasses

    server = WSGIServer(("127.0.0.1", 0), recording_app([]), log=None, error_log=None,
                        keep_alive_timeout=0.5, **server_options)
    server.start()
    try:
        port = server.address[1]
        first = RawClient(port, client_context)
        first.send(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        assert first.read_responses(1, 3.0) == [(200, b"/ ")]
        answered = monotonic()
        server.limits = dataclasses.replace(server.limits, keep_alive_timeout=1.0)
        second = RawClient(port, client_context)  # its connection starts under the new limits
        second.send(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        assert second.read_responses(1, 3.0) == [(200, b"/ ")]
        second_answered = monotonic()
        assert first.read_until_closed(3.0)
        assert 0.4 <= first.closed_at - answered < 1.5
        assert second.read_until_closed(4.0)
        assert 0.9 <= second.closed_at - second_answered < 2.0
        first.close()
        second.close()
    finally:
        server.stop(timeout=1)


# -- request_timeout ---------------------------------------------------------------------------------

def swallowing_app(served: list) -> Callable:
    """An application that catches everything, the limit's exception included, and answers 200."""
    def app(environ: dict, start_response: Callable) -> list:
        try:
            environ["wsgi.input"].read()
        except BaseException:
            pass
        served.append(environ["PATH_INFO"])
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"swallowed"]
    return app


@pytest.mark.parametrize("make_app", [recording_app, swallowing_app], ids=["reading-app", "swallowing-app"])
def test_slow_body_is_closed_by_request_timeout(make_app, serve, connect):
    """A body dripped slower than request_timeout allows gets 408 and a close, even when the
    application catches the timeout and tries to answer."""
    served: list = []
    client = connect(serve(make_app(served), headers_timeout=1.0, request_timeout=2.0))
    started = monotonic()
    client.send(post(b"Content-Length: 100"))
    client.drip(b"y" * 100, 0.1)
    assert client.read_until_closed(8.0), client.received
    assert 1.9 <= client.closed_at - started < 5.0
    assert [status for status, _ in parse_responses(client.received)] == [408]


def test_body_stalled_past_idle_timeout_is_a_408(serve, connect):
    """A body that stops arriving for the Server's idle_timeout (shorter than request_timeout)
    is a 408 and a close, as request_timeout's is: the client was too slow, its request was
    not malformed."""
    served: list = []
    client = connect(serve(recording_app(served), idle_timeout=0.5, headers_timeout=5.0, request_timeout=10.0))
    started = monotonic()
    client.send(post(b"Content-Length: 100") + b"y" * 10)
    assert client.read_until_closed(5.0), client.received
    assert 0.4 <= client.closed_at - started < 2.5
    assert [status for status, _ in parse_responses(client.received)] == [408]


def _list_app(parts: list) -> Callable:
    def app(environ: dict, start_response: Callable) -> list:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return list(parts)
    return app


def test_a_list_result_with_a_str_part_is_a_500(serve, connect):
    """A list result with a part that is not bytes is refused before its head goes: a 500,
    framed, instead of a 200 cut short of its Content-Length."""
    client = connect(serve(_list_app([b"fine ", "not bytes"])))
    client.send(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
    assert client.read_until_closed(5.0), client.received
    assert [status for status, _ in parse_responses(client.received)] == [500]


def test_a_list_result_arrives_whole(serve, connect):
    """A list result of several parts (bytes-like ones included) is one response with its
    Content-Length; a large one too."""
    big = [b"x" * 50_000, bytearray(b"y" * 50_000), memoryview(b"z" * 10)]
    client = connect(serve(lambda environ, start_response: _list_app(
        [b"a", bytearray(b"b"), b"c"] if environ["PATH_INFO"] == "/small" else big)(environ, start_response)))
    client.send(b"GET /small HTTP/1.1\r\nHost: localhost\r\n\r\nGET /big HTTP/1.1\r\nHost: localhost\r\n\r\n")
    assert client.read_responses(2, 5.0) == [(200, b"abc"), (200, b"x" * 50_000 + b"y" * 50_000 + b"z" * 10)]


def test_unread_slow_body_still_ends_at_request_timeout(serve, connect):
    """An application that answers without reading the body is answered, but the body's
    dripping still ends at request_timeout: the connection is closed then."""
    def ignoring_app(environ: dict, start_response: Callable) -> list:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ignored"]
    client = connect(serve(ignoring_app, headers_timeout=0.3, request_timeout=0.6))
    started = monotonic()
    client.send(post(b"Content-Length: 100"))
    client.drip(b"y" * 100, 0.1)
    assert client.read_until_closed(3.0), client.received
    assert 0.5 <= client.closed_at - started < 1.6
    assert parse_responses(client.received) == [(200, b"ignored")]


def test_slow_application_is_not_cut_by_request_timeout(serve, connect):
    """request_timeout bounds receiving the request, not the application's answer."""
    def slow_app(environ: dict, start_response: Callable) -> list:
        body = environ["wsgi.input"].read()
        gevent.sleep(0.8)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"late " + body]
    client = connect(serve(slow_app, headers_timeout=0.2, request_timeout=0.4))
    client.send(post(b"Content-Length: 2") + b"ok")
    assert client.read_responses(1, 3.0) == [(200, b"late ok")]


# -- options -------------------------------------------------------------------------------------

def test_limit_options_are_checked(server_options):
    """The limits take seconds (None or 0 disables one, as 0 in Node), headers_timeout cannot
    exceed request_timeout, bad values name the option, and unknown options still raise."""
    def make(**options: Any) -> WSGIServer:
        return WSGIServer(("127.0.0.1", 0), recording_app([]), **server_options, **options)

    limits = make().limits
    assert (limits.headers_timeout, limits.request_timeout, limits.keep_alive_timeout) == (60.0, 300.0, 5.0)
    limits = make(headers_timeout=None, request_timeout=0, keep_alive_timeout=math.inf).limits
    assert (limits.headers_timeout, limits.request_timeout, limits.keep_alive_timeout) == (None, None, None)
    assert make(request_timeout=30).limits.headers_timeout == 30.0  # Node: min(60 s, requestTimeout)
    for name in ("headers_timeout", "request_timeout", "keep_alive_timeout"):
        with pytest.raises(TypeError, match=name):
            make(**{name: "5"})
        with pytest.raises(TypeError, match=name):
            make(**{name: True})
        with pytest.raises(ValueError, match=name):
            make(**{name: -1})
        with pytest.raises(ValueError, match=name):
            make(**{name: math.nan})
    with pytest.raises(ValueError, match="headers_timeout"):
        make(headers_timeout=10, request_timeout=5)
    with pytest.raises(TypeError, match="keepalive_timeout"):
        make(keepalive_timeout=5)


def test_cli_serve_wsgi_takes_the_limits(cert_files, tmp_path, client_context):
    """``greentls serve --wsgi`` passes --headers-timeout (and its siblings) to the server: a
    silent connection is answered 408 once the short limit passes, not after 60 s."""
    source = ("def app(environ, start_response):\n"
              "    start_response('200 OK', [('Content-Type', 'text/plain')])\n"
              "    return [b'ok']\n")
    limits = ("--headers-timeout", "0.5", "--request-timeout", "1", "--keep-alive-timeout", "0.5")
    with serve_wsgi_cli(tmp_path, "limitsapp", source, cert_files, *limits) as port:
        client = RawClient(port, client_context)
        started = monotonic()
        assert client.read_until_closed(5.0)
        assert 0.4 <= client.closed_at - started < 3.0
        assert [status for status, _ in parse_responses(client.received)] == [408]
        client.close()


@pytest.mark.parametrize("hidden", [b"Content-Length: 35", b"Transfer-Encoding: chunked"])
def test_bare_cr_in_a_header_line_is_refused(hidden, serve, connect):
    """A bare CR inside a header line is no line end (RFC 9112 section 2.2): a framing field
    hidden behind one (``X-A: a\\rContent-Length: 35``) gets 400 and a close, and the request
    pipelined after it is never served (the stdlib parser would split the line there)."""
    served: list = []
    client = connect(serve(recording_app(served)))
    client.send(b"POST / HTTP/1.1\r\nHost: localhost\r\nX-A: a\r" + hidden + b"\r\n\r\n" + SMUGGLED)
    assert client.read_until_closed(5.0)
    assert [status for status, _ in parse_responses(client.received)] == [400]
    assert "/smuggled" not in served


def test_stop_ends_a_request_whose_body_is_still_arriving(server_options, client_context):
    """WSGIServer.stop(timeout=0) ends a connection whose handler waits in wsgi.input.read()
    (no request_timeout to end it), even though pywsgi holds a file on the socket and turns a
    kill into a 500: the client sees the close, and get_connections() drops to 0."""
    server = WSGIServer(("127.0.0.1", 0), recording_app([]), log=None, error_log=None,
                        headers_timeout=0, request_timeout=0, **server_options)
    server.start()
    client = RawClient(server.address[1], client_context)
    try:
        client.send(post(b"Content-Length: 100") + b"ab")
        with gevent.Timeout(5):
            while server.server.get_connections() < 1:
                gevent.sleep(0.01)
        gevent.sleep(0.2)  # the application is now waiting for the other 98 bytes
        started = monotonic()
        server.stop(timeout=0)
        assert server.server.get_connections() == 0
        assert client.read_until_closed(3.0)
        assert client.closed_at - started < 2.5
    finally:
        client.close()
