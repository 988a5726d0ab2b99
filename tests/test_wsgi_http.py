"""greentls.wsgi's HTTP/1.1 layer (llhttp): PEP 3333's environ and response rules, pipelining,
chunked framing both ways, 100-continue, HEAD, the size limits, hostile inputs, application
errors, and real clients (curl, requests, wsgiref.validate, Flask)."""
from __future__ import annotations

import hashlib
import io
import json
import re
import sys
import textwrap
from collections.abc import Callable
from time import monotonic
from typing import Any
from wsgiref.validate import validator

import gevent
import pytest
from gevent import ssl, subprocess
from helpers import CURL, PY, run
from test_wsgi_limits import SMUGGLED, RawClient, parse_responses

from greentls.wsgi import WSGIServer

GET = b"GET %s HTTP/1.1\r\nHost: localhost\r\n\r\n"


@pytest.fixture(scope="module")
def client_context(ca: Any) -> ssl.SSLContext:
    """A cooperative stdlib client context that trusts the test CA."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(cadata=ca.cert_pem.bytes().decode())
    return context


@pytest.fixture
def connect(client_context: ssl.SSLContext) -> Any:
    """Open RawClients (test_wsgi_limits's raw TLS client), all closed at the end of the test."""
    clients = []

    def open_client(port: int) -> RawClient:
        client = RawClient(port, client_context)
        clients.append(client)
        return client

    yield open_client
    for client in clients:
        client.close()


@pytest.fixture
def serve(server_options: dict) -> Any:
    """Start a WSGIServer on 127.0.0.1 (no logs unless the test passes some); returns its port."""
    servers = []

    def start(app: Callable, **options: Any) -> int:
        options = {"log": None, "error_log": None, **server_options, **options}
        server = WSGIServer(("127.0.0.1", 0), app, **options)
        server.start()
        servers.append(server)
        return server.address[1]

    yield start
    for server in servers:
        server.stop(timeout=1)


def read_until(client: RawClient, end: bytes, wait: float = 3.0) -> bytes:
    """Read until what came ends with ``end`` (or the server closed, or ``wait`` passed)."""
    deadline = monotonic() + wait
    while not client.received.endswith(end) and client.closed_at is None and monotonic() < deadline:
        client.read_until_closed(0.05)
    return client.received


def hello(environ: dict, start_response: Callable) -> list:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"hello " + environ["PATH_INFO"].encode("latin-1")]


def streaming(environ: dict, start_response: Callable) -> Any:
    start_response("200 OK", [("Content-Type", "text/plain")])
    yield b"one "
    yield b""
    yield b"two"


def dechunk(body: bytes) -> tuple[bytes, bytes]:
    """A chunked body decoded, and what follows it."""
    out = b""
    while True:
        size_line, _, body = body.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            assert body.startswith(b"\r\n"), body
            return out, body[2:]
        out += body[:size]
        assert body[size:size + 2] == b"\r\n"
        body = body[size + 2:]


def head_of(data: bytes) -> tuple[int, dict, bytes]:
    """Status, lower-cased header fields and the rest of one response."""
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    fields = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        fields[name.strip().lower()] = value.strip()
    return int(lines[0].split()[1]), fields, rest


def statuses(client: RawClient) -> list[int]:
    return [status for status, _ in parse_responses(client.received)]


# -- PEP 3333 ------------------------------------------------------------------------------------

def test_environ_follows_pep_3333(serve, connect):
    """The environ: methods, latin-1 PATH_INFO from percent-escapes, raw QUERY_STRING, joined
    repeated fields, cookies joined with '; ', no field with '_', and the wsgi.* values."""
    seen: dict = {}

    def app(environ: dict, start_response: Callable) -> list:
        seen.update(environ)
        start_response("200 OK", [])
        return [environ["wsgi.input"].read()]

    client = connect(serve(app))
    client.send(b"POST /caf%C3%A9/x%2Fy?q=%20a&b HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/x\r\n"
                b"Content-Length: 3\r\nX-Multi: a\r\nX-Multi: b \r\nCookie: c=1\r\nCookie: d=2\r\n"
                b"X_Spoofed: 1\r\nAccept: \xe9\r\n\r\nabc")
    assert client.read_responses(1, 3.0) == [(200, b"abc")]
    assert seen["REQUEST_METHOD"] == "POST" and seen["SCRIPT_NAME"] == ""
    assert seen["PATH_INFO"] == "/caf\xc3\xa9/x/y"  # bytes read as latin-1, as PEP 3333 says
    assert seen["QUERY_STRING"] == "q=%20a&b"
    assert seen["CONTENT_TYPE"] == "text/x" and seen["CONTENT_LENGTH"] == "3"
    assert "HTTP_CONTENT_LENGTH" not in seen and "HTTP_CONTENT_TYPE" not in seen
    assert seen["HTTP_X_MULTI"] == "a, b" and seen["HTTP_COOKIE"] == "c=1; d=2"
    assert seen["HTTP_ACCEPT"] == "\xe9"
    assert not [k for k in seen if "SPOOFED" in k]
    assert seen["SERVER_PROTOCOL"] == "HTTP/1.1" and seen["SERVER_PORT"] == str(client.tls.getpeername()[1])
    assert seen["SERVER_NAME"]
    assert seen["REMOTE_ADDR"] == "127.0.0.1" and seen["REMOTE_PORT"] == str(client.tls.getsockname()[1])
    assert seen["wsgi.version"] == (1, 0) and seen["wsgi.url_scheme"] == "https"
    assert seen["wsgi.multithread"] is False and seen["wsgi.multiprocess"] is False
    assert seen["wsgi.run_once"] is False and seen["wsgi.input_terminated"] is True
    assert callable(seen["wsgi.file_wrapper"]) and hasattr(seen["wsgi.errors"], "write")
    assert seen["HTTPS"] == "on" and seen["SSL_PROTOCOL"] in ("TLSv1.2", "TLSv1.3")
    assert seen["greentls.socket"].alpn_protocol is None or seen["greentls.socket"].alpn_protocol == "http/1.1"


def test_absolute_form_target(serve, connect):
    """A request in absolute form (RFC 9112 section 3.2.2) gets the path and query of its URL."""
    client = connect(serve(hello))
    client.send(b"GET https://localhost/abs?x=1 HTTP/1.1\r\nHost: localhost\r\n\r\n")
    assert client.read_responses(1, 3.0) == [(200, b"hello /abs")]


def test_wsgiref_validator_passes(serve, connect):
    """wsgiref.validate wrapping an application finds nothing wrong with the server (a
    warning is an error here): reads, readline, iteration, write(), close()."""
    def app(environ: dict, start_response: Callable) -> Any:
        body = environ["wsgi.input"].read(4)
        line = environ["wsgi.input"].readline()
        rest = list(environ["wsgi.input"])
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        write(b"w:")
        return [body, b"|", line, b"|", b"".join(rest)]

    client = connect(serve(validator(app)))
    body = b"abcdef\nline2\nline3\n"
    client.send(b"POST /v HTTP/1.1\r\nHost: localhost\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    client.send(GET % b"/again")
    read_until(client, b"0\r\n\r\n", 1.0)
    read_until(client, b"0\r\n\r\n")
    status, fields, rest = head_of(client.received)
    assert status == 200 and fields["transfer-encoding"] == "chunked"
    decoded, after = dechunk(rest)
    assert decoded == b"w:abcd|ef\n|line2\nline3\n"
    assert head_of(after)[0] == 200


def test_write_callable_and_exc_info(serve, connect):
    """start_response again with exc_info before the head is sent replaces the response; a
    second call without exc_info is an error (500); exc_info after the head re-raises."""
    def app(environ: dict, start_response: Callable) -> Any:
        path = environ["PATH_INFO"]
        start_response("200 OK", [("Content-Type", "text/plain")])
        if path == "/replace":
            try:
                raise KeyError("x")
            except KeyError:
                start_response("503 Busy", [("Content-Length", "4")], sys.exc_info())
            return [b"busy"]
        if path == "/twice":
            start_response("201 Created", [])
            return [b"never"]
        return [b"ok"]

    client = connect(serve(app))
    client.send(GET % b"/replace")
    assert client.read_responses(1, 3.0) == [(503, b"busy")]
    client.send(GET % b"/twice")
    assert client.read_until_closed(3.0)
    assert statuses(client) == [503, 500]
    assert b"never" not in client.received


def test_error_after_the_head_closes_the_connection(serve, connect):
    """An exception after the head went out cannot become a 500: the connection is closed
    without the chunked terminator, so the client knows the body is cut."""
    def app(environ: dict, start_response: Callable) -> Any:
        start_response("200 OK", [])
        yield b"partial"
        raise RuntimeError("boom")

    log = io.StringIO()
    client = connect(serve(app, error_log=log))
    client.send(GET % b"/")
    assert client.read_until_closed(3.0)
    assert b"7\r\npartial\r\n" in client.received and not client.received.endswith(b"0\r\n\r\n")
    assert "RuntimeError: boom" in log.getvalue()


def test_raising_application_gets_500_and_server_serves_on(serve, connect):
    """An exception of the application is a 500, its traceback goes to error_log with the
    client's address, and the server answers the next connection."""
    def app(environ: dict, start_response: Callable) -> list:
        if environ["PATH_INFO"] == "/boom":
            raise ValueError("the app broke")
        return hello(environ, start_response)

    log = io.StringIO()
    port = serve(app, error_log=log)
    client = connect(port)
    client.send(GET % b"/boom")
    assert client.read_until_closed(3.0)
    assert parse_responses(client.received) == [(500, b"Internal Server Error")]
    assert "ValueError: the app broke" in log.getvalue() and "127.0.0.1" in log.getvalue()
    again = connect(port)
    again.send(GET % b"/ok")
    assert again.read_responses(1, 3.0) == [(200, b"hello /ok")]


@pytest.mark.parametrize("bad", [("X-A", "a\r\nSet-Cookie: evil=1"), ("X A", "v"), ("X-A", "a\x00")])
def test_response_header_injection_is_refused(bad, serve, connect):
    """A response field with CR, LF or NUL in its value, or a name that is no token, is the
    application's error (500): no header is split into two."""
    def app(environ: dict, start_response: Callable) -> list:
        start_response("200 OK", [bad])
        return [b"x"]

    client = connect(serve(app))
    client.send(GET % b"/")
    assert client.read_until_closed(3.0)
    assert statuses(client) == [500] and b"evil" not in client.received


def test_access_log_line_is_pywsgi_s(serve, connect):
    """The access log line is pywsgi's: client - - [time] "request line" status length seconds."""
    log = io.StringIO()
    port = serve(hello, log=log)
    client = connect(port)
    client.send(GET % b"/logged?x=1")
    client.read_responses(1, 3.0)
    gevent.sleep(0.05)
    line = log.getvalue()
    assert re.fullmatch(r'127\.0\.0\.1 - - \[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\] "GET /logged\?x=1 HTTP/1\.1" '
                        r'200 13 \d+\.\d{6}\n', line), line


# -- framing ---------------------------------------------------------------------------------------

def test_pipelined_requests_are_answered_in_order(serve, connect):
    """Five requests in one write (GET, HEAD, POST with a body, chunked POST, GET) get five
    answers, in order, on one connection."""
    def app(environ: dict, start_response: Callable) -> list:
        body = environ["wsgi.input"].read()
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [environ["REQUEST_METHOD"].encode() + b" " + environ["PATH_INFO"].encode() + b" " + body]

    client = connect(serve(app))
    client.send(GET % b"/1" + b"HEAD /2 HTTP/1.1\r\nHost: localhost\r\n\r\n"
                + b"POST /3 HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\n\r\nhi"
                + b"POST /4 HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nyo\r\n0\r\n\r\n"
                + GET % b"/5")
    deadline = monotonic() + 3
    while not client.received.endswith(b"GET /5 ") and monotonic() < deadline:
        client.read_until_closed(0.1)
    data = client.received
    assert data.count(b"HTTP/1.1 200 OK") == 5
    bodies = [b"GET /1 ", b"POST /3 hi", b"POST /4 yo", b"GET /5 "]
    positions = [data.index(body) for body in bodies]
    assert positions == sorted(positions)
    assert b"HEAD /2" not in data  # HEAD: the head only


def test_head_keeps_the_headers_and_sends_no_body(serve, connect):
    """HEAD gets GET's head (Content-Length included) and no body; the connection carries the
    next request."""
    client = connect(serve(hello))
    client.send(b"HEAD /h HTTP/1.1\r\nHost: localhost\r\n\r\n" + GET % b"/g")
    client.read_responses(2, 3.0)
    status, fields, rest = head_of(client.received)
    assert status == 200 and fields["content-length"] == str(len(b"hello /h"))
    assert rest.startswith(b"HTTP/1.1 200 OK") and rest.endswith(b"hello /g")


def test_chunked_response_and_http10_close_delimited(serve, connect):
    """Without a Content-Length an HTTP/1.1 answer is chunked (empty chunks skipped); an
    HTTP/1.0 one ends with the connection."""
    port = serve(streaming)
    client = connect(port)
    client.send(GET % b"/")
    read_until(client, b"0\r\n\r\n")
    client.send(GET % b"/")
    read_until(client, b"\r\n\r\n3\r\ntwo\r\n0\r\n\r\n")
    status, fields, rest = head_of(client.received)
    assert status == 200 and fields["transfer-encoding"] == "chunked" and "content-length" not in fields
    body, after = dechunk(rest)
    assert body == b"one two" and after.startswith(b"HTTP/1.1 200")
    old = connect(port)
    old.send(b"GET / HTTP/1.0\r\n\r\n")
    assert old.read_until_closed(3.0)
    status, fields, rest = head_of(old.received)
    assert "transfer-encoding" not in fields and fields["connection"] == "close" and rest == b"one two"


def test_http10_keep_alive_when_asked(serve, connect):
    """An HTTP/1.0 request with Connection: keep-alive keeps its connection when the length
    is known, and its answer says keep-alive."""
    client = connect(serve(hello))
    client.send(b"GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    assert client.read_responses(1, 3.0) == [(200, b"hello /a")]
    assert head_of(client.received)[1]["connection"] == "keep-alive"
    client.send(b"GET /b HTTP/1.0\r\n\r\n")
    assert client.read_until_closed(3.0)
    assert parse_responses(client.received)[1] == (200, b"hello /b")


def test_application_content_length_mismatch_closes(serve, connect):
    """An answer shorter than its Content-Length closes the connection (its framing is lost);
    a longer one is cut at the length, and closes too."""
    def app(environ: dict, start_response: Callable) -> list:
        start_response("200 OK", [("Content-Length", "5")])
        return [b"abc"] if environ["PATH_INFO"] == "/short" else [b"abcdefgh"]

    port = serve(app, error_log=None)
    for path, body in ((b"/short", b"abc"), (b"/long", b"abcde")):
        client = connect(port)
        client.send(GET % path + GET % b"/next")
        assert client.read_until_closed(3.0)
        assert client.received.endswith(b"\r\n\r\n" + body) and client.received.count(b"HTTP/1.1") == 1


# -- 100-continue ----------------------------------------------------------------------------------

def test_100_continue_only_when_the_body_is_read(serve, connect):
    """``Expect: 100-continue``: nothing is sent before the application reads the body; its
    first read sends ``100 Continue``; an application that answers without reading gets its
    answer out and the connection closed, the body never asked for."""
    def app(environ: dict, start_response: Callable) -> list:
        if environ["PATH_INFO"] == "/read":
            gevent.sleep(0.3)
            body = environ["wsgi.input"].read()
        else:
            body = b"unread"
        start_response("200 OK", [])
        return [body]

    port = serve(app)
    client = connect(port)
    client.send(b"POST /read HTTP/1.1\r\nHost: localhost\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n")
    assert not client.read_until_closed(0.2) and client.received == b""
    deadline = monotonic() + 3
    while b"\r\n\r\n" not in client.received and monotonic() < deadline:
        client.read_until_closed(0.1)
    assert client.received == b"HTTP/1.1 100 Continue\r\n\r\n"
    client.received = b""
    client.send(b"body")
    assert client.read_responses(1, 3.0) == [(200, b"body")]
    other = connect(port)
    other.send(b"POST /no HTTP/1.1\r\nHost: localhost\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n")
    assert other.read_until_closed(3.0)
    assert parse_responses(other.received) == [(200, b"unread")] and b"100 Continue" not in other.received


def test_curl_expect_100_continue(need_curl, cert_files, serve):
    """curl's ``Expect: 100-continue`` upload (with a 10 s expect timeout) finishes at once:
    the 100 came when the application read the body."""
    def app(environ: dict, start_response: Callable) -> list:
        body = environ["wsgi.input"].read()
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [hashlib.sha256(body).hexdigest().encode()]

    port = serve(app)
    data = b"z" * 300_000
    started = monotonic()
    result = run([CURL, "-sS", "--max-time", "20", "--expect100-timeout", "10", "-H", "Expect: 100-continue",
                  "--cacert", cert_files["ca"], "--data-binary", "@-", f"https://localhost:{port}/up"], input=data)
    assert result.stdout == hashlib.sha256(data).hexdigest().encode()
    assert monotonic() - started < 5


# -- limits ----------------------------------------------------------------------------------------

LIMIT_CASES = {
    "request-line-414": ({}, b"GET /" + b"a" * 5000 + b" HTTP/1.1\r\nHost: localhost\r\n\r\n", 414),
    "fields-431": ({}, b"GET / HTTP/1.1\r\nHost: localhost\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(101))
                   + b"\r\n", 431),
    "field-size-431": ({}, b"GET / HTTP/1.1\r\nHost: localhost\r\nX-Big: " + b"v" * 9000 + b"\r\n\r\n", 431),
    "body-length-413": ({"limit_request_body": 10},
                        b"POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 11\r\n\r\n" + b"x" * 11, 413),
    "body-chunked-413": ({"limit_request_body": 10}, b"POST / HTTP/1.1\r\nHost: localhost\r\n"
                         b"Transfer-Encoding: chunked\r\n\r\n6\r\nxxxxxx\r\n6\r\nxxxxxx\r\n0\r\n\r\n", 413),
    "smaller-line-limit-414": ({"limit_request_line": 100}, b"GET /" + b"a" * 100 + b" HTTP/1.1\r\n"
                               b"Host: localhost\r\n\r\n", 414),
    "smaller-fields-431": ({"limit_request_fields": 2}, b"GET / HTTP/1.1\r\nHost: localhost\r\nA: 1\r\nB: 2\r\n\r\n",
                           431),
}


@pytest.mark.parametrize("case", LIMIT_CASES.values(), ids=LIMIT_CASES.keys())
def test_limits_answer_their_status_and_the_server_serves_on(case, serve, connect):
    """Each limit passed gets its status (414, 431, 413) and a close, the request is never
    served, and the next connection is answered."""
    options, request, status = case
    served: list = []

    def app(environ: dict, start_response: Callable) -> list:
        environ["wsgi.input"].read()
        served.append(environ["PATH_INFO"])
        return hello(environ, start_response)

    port = serve(app, **options)
    client = connect(port)
    client.send(request + SMUGGLED)
    assert client.read_until_closed(3.0)
    assert statuses(client) == [status], client.received[:200]
    assert served == []
    again = connect(port)
    again.send(GET % b"/fine")
    assert again.read_responses(1, 3.0) == [(200, b"hello /fine")]


def test_limits_within_bounds_are_served(serve, connect):
    """At the limits (100 fields, a field of 8190 bytes, a body at the limit) the request is served."""
    client = connect(serve(hello, limit_request_body=5))
    fields = b"".join(b"X-%d: v\r\n" % i for i in range(97))
    client.send(b"POST / HTTP/1.1\r\nHost: localhost\r\nX-Big: " + b"v" * 8181 + b"\r\n" + fields
                + b"Content-Length: 5\r\n\r\nabcde")
    assert client.read_responses(1, 3.0) == [(200, b"hello /")]


def test_limit_options_checked(server_options):
    """The size limits take an int >= 0 or None (0 and None: no limit); others are refused by name."""
    server = WSGIServer(("127.0.0.1", 0), hello, limit_request_line=0, limit_request_body=1000, **server_options)
    assert server.limits.limit_request_line is None and server.limits.limit_request_body == 1000
    assert server.limits.limit_request_fields == 100 and server.limits.limit_request_field_size == 8190
    for name in ("limit_request_line", "limit_request_fields", "limit_request_field_size", "limit_request_body"):
        with pytest.raises(TypeError, match=name):
            WSGIServer(("127.0.0.1", 0), hello, **{name: "5"}, **server_options)
        with pytest.raises(ValueError, match=name):
            WSGIServer(("127.0.0.1", 0), hello, **{name: -1}, **server_options)


def test_dripped_field_is_cut(serve, connect):
    """A field dripped without end is refused (431) once it passes the field limit, before
    headers_timeout: httptools gathers a field's pieces, so the server counts them itself."""
    client = connect(serve(hello, limit_request_field_size=200, limit_request_line=100))
    client.send(b"GET / HTTP/1.1\r\nHost: localhost\r\nX-Long: ")
    for _ in range(40):
        client.send(b"v" * 10)
        gevent.sleep(0.005)
    assert client.read_until_closed(3.0)
    assert statuses(client) == [431]


# -- hostile inputs --------------------------------------------------------------------------------

def post(fields: bytes, version: bytes = b"1.1") -> bytes:
    return b"POST /a HTTP/" + version + b"\r\nHost: localhost\r\n" + fields + b"\r\n\r\n"


HOSTILE = {
    "obs-fold": post(b"X-A: a\r\n folded"),
    "te-in-http10": post(b"Transfer-Encoding: chunked", b"1.0") + b"0\r\n\r\n",
    "gzip-chunked": post(b"Transfer-Encoding: gzip, chunked") + b"0\r\n\r\n",
    "chunked-twice": post(b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked") + b"0\r\n\r\n",
    "equal-lengths-twice": post(b"Content-Length: 3\r\nContent-Length: 3") + b"abc",
    "chunk-size-overflow": post(b"Transfer-Encoding: chunked") + b"f" * 20 + b"\r\n",
    "chunk-size-space": post(b"Transfer-Encoding: chunked") + b"3 \r\nabc\r\n0\r\n\r\n",
    "chunk-lf-only": post(b"Transfer-Encoding: chunked") + b"3\nabc\n0\n\n",
    "length-overflow": post(b"Content-Length: 99999999999999999999999"),
    "nul-in-field": post(b"X-A: a\x00b"),
    "no-host": b"GET / HTTP/1.1\r\n\r\n",
    "two-hosts": b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
    "space-in-name": post(b"X A: b"),
    "http2-preface": b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    "http-1.2": b"GET / HTTP/1.2\r\nHost: localhost\r\n\r\n",
    "lower-case-method": b"get / HTTP/1.1\r\nHost: localhost\r\n\r\n",
    "bare-lf-lines": b"GET / HTTP/1.1\nHost: localhost\n\n",
    "expect-other": post(b"Expect: something"),
}
HOSTILE_STATUS = {"http-1.2": 400, "expect-other": 417}


@pytest.mark.parametrize("name", HOSTILE.keys())
def test_hostile_input_is_refused_and_closed(name, serve, connect):
    """Each hostile or ambiguous head gets its 4xx and a close; the request smuggled behind it
    is never served, and the server answers the next connection."""
    served: list = []

    def app(environ: dict, start_response: Callable) -> list:
        try:
            environ["wsgi.input"].read()
        except Exception:
            pass
        served.append(environ["PATH_INFO"])
        return hello(environ, start_response)

    port = serve(app)
    client = connect(port)
    client.send(HOSTILE[name] + SMUGGLED)
    assert client.read_until_closed(3.0), client.received
    assert statuses(client) == [HOSTILE_STATUS.get(name, 400)], client.received
    assert "/smuggled" not in served and b"/smuggled" not in client.received
    again = connect(port)
    again.send(GET % b"/fine")
    assert again.read_responses(1, 3.0) == [(200, b"hello /fine")]


def test_bad_request_behind_a_good_one(serve, connect):
    """A malformed request pipelined behind a good one: the good one is answered, then 400 and
    a close; nothing after the bad one is served."""
    served: list = []

    def app(environ: dict, start_response: Callable) -> list:
        served.append(environ["PATH_INFO"])
        return hello(environ, start_response)

    client = connect(serve(app))
    client.send(GET % b"/good" + post(b"Content-Length: 1\r\nContent-Length: 2") + b"ab" + SMUGGLED)
    assert client.read_until_closed(3.0)
    assert statuses(client) == [200, 400] and served == ["/good"]


def test_upgrade_request_is_answered_then_closed(serve, connect):
    """An Upgrade request is answered as a plain request (WSGI cannot hand the stream over),
    then the connection is closed: the bytes after it are not HTTP to us."""
    served: list = []

    def app(environ: dict, start_response: Callable) -> list:
        served.append(environ["PATH_INFO"])
        return hello(environ, start_response)

    client = connect(serve(app))
    client.send(b"GET /ws HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
                + SMUGGLED)
    assert client.read_until_closed(3.0)
    assert parse_responses(client.received) == [(200, b"hello /ws")] and served == ["/ws"]


def test_slowloris_drippers_do_not_stall_others(serve, connect):
    """Twenty clients dripping their heads after the handshake do not delay a normal request,
    and each dripper gets 408 once headers_timeout passes."""
    port = serve(hello, headers_timeout=1.0)
    drippers = [connect(port) for _ in range(20)]
    for client in drippers:
        client.drip(b"GET / HTTP/1.1\r\nHost: localhost\r\nX-Slow: " + b"x" * 200, 0.05)
    gevent.sleep(0.2)
    normal = connect(port)
    started = monotonic()
    normal.send(GET % b"/quick")
    assert normal.read_responses(1, 3.0) == [(200, b"hello /quick")]
    assert monotonic() - started < 0.5
    for client in drippers:
        assert client.read_until_closed(3.0)
        assert statuses(client) == [408]


# -- files ---------------------------------------------------------------------------------------

def test_file_wrapper_sends_the_file_with_its_length(serve, connect, tmp_path):
    """wsgi.file_wrapper sends a 3 MB file whole, with its size as Content-Length (no chunks)."""
    path = tmp_path / "big.bin"
    data = bytes(range(256)) * 12_000
    path.write_bytes(data)

    def app(environ: dict, start_response: Callable) -> Any:
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return environ["wsgi.file_wrapper"](open(path, "rb"))

    client = connect(serve(app))
    client.send(GET % b"/file")
    assert client.read_responses(1, 10.0) == [(200, data)]
    assert head_of(client.received)[1]["content-length"] == str(len(data))


# -- real clients and frameworks -----------------------------------------------------------------

SLEEPY = textwrap.dedent("""
    from gevent import monkey; monkey.patch_all()
    import sys, time
    from pathlib import Path
    from greentls.wsgi import WSGIServer
    def app(environ, start_response):
        time.sleep(1)
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return [b'slept']
    server = WSGIServer(('127.0.0.1', 0), app, log=None, key=Path(sys.argv[1]), cert=Path(sys.argv[2]))
    server.start()
    print(server.address[1], flush=True)
    server.serve_forever()
""")


def test_three_sleeping_requests_overlap_when_monkey_patched(need_curl, cert_files):
    """With gevent's monkey-patching, three concurrent ``time.sleep(1)`` requests take under 1.5 s."""
    proc = subprocess.Popen([PY, "-c", SLEEPY, cert_files["key"], cert_files["cert"]], stdout=subprocess.PIPE)
    try:
        with gevent.Timeout(20, AssertionError("the server did not start")):
            port = int(proc.stdout.readline())
        url = f"https://localhost:{port}/"
        started = monotonic()
        fetches = [gevent.spawn(run, [CURL, "-sS", "--max-time", "20", "--cacert", cert_files["ca"], url])
                   for _ in range(3)]
        assert [f.get(timeout=30).stdout for f in fetches] == [b"slept"] * 3
        assert monotonic() - started < 1.5
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()


def flask_app() -> Any:
    import flask
    app = flask.Flask("greentls_test")

    @app.route("/hello/<name>")
    def greet(name: str) -> Any:
        return flask.jsonify(hello=name, scheme=flask.request.scheme, verify=flask.request.environ["SSL_CLIENT_VERIFY"])

    @app.route("/echo", methods=["POST"])
    def echo() -> Any:
        return flask.jsonify(got=flask.request.get_json(), length=flask.request.content_length)

    @app.route("/stream")
    def stream() -> Any:
        return flask.Response((b"%d," % i for i in range(5)), mimetype="text/plain")

    @app.route("/missing")
    def missing() -> Any:
        flask.abort(404)

    return app


def test_flask_through_curl(need_curl, cert_files, serve):
    """A Flask application through curl: routing, JSON in and out, a streamed (chunked) answer,
    a 404, all on a verified TLS connection."""
    port = serve(flask_app())
    base = f"https://localhost:{port}"
    common = [CURL, "-sS", "--max-time", "20", "--cacert", cert_files["ca"]]
    assert json.loads(run([*common, f"{base}/hello/ada"]).stdout) == {"hello": "ada", "scheme": "https",
                                                                       "verify": "NONE"}
    echoed = json.loads(run([*common, "-H", "Content-Type: application/json", "-d", '{"a": [1, 2]}',
                             f"{base}/echo"]).stdout)
    assert echoed == {"got": {"a": [1, 2]}, "length": 13}
    assert run([*common, f"{base}/stream"]).stdout == b"0,1,2,3,4,"
    assert run([*common, "-o", "/dev/null", "-w", "%{http_code}", f"{base}/missing"]).stdout == b"404"


REQUESTS_CLIENT = textwrap.dedent("""
    import json, sys, requests
    base, ca = sys.argv[1], sys.argv[2]
    with requests.Session() as s:  # verify per call: REQUESTS_CA_BUNDLE would override s.verify
        out = [s.get(base + '/hello/bob', verify=ca).json(), s.post(base + '/echo', json={'x': 'y'}, verify=ca).json(),
               s.get(base + '/stream', verify=ca).text, s.get(base + '/missing', verify=ca).status_code,
               s.get(base + '/hello/again', verify=ca).json()['hello']]
    print(json.dumps(out))
""")


def test_flask_through_requests(cert_files, serve):
    """A Flask application through ``requests`` on one keep-alive session."""
    port = serve(flask_app())
    result = run([PY, "-c", REQUESTS_CLIENT, f"https://localhost:{port}", cert_files["ca"]])
    assert json.loads(result.stdout) == [{"hello": "bob", "scheme": "https", "verify": "NONE"},
                                         {"got": {"x": "y"}, "length": 10}, "0,1,2,3,4,", 404, "again"]


def test_nothing_after_connection_close_is_served(serve, connect):
    """A request with ``Connection: close`` is the last: one pipelined after it is not served."""
    served: list = []

    def app(environ: dict, start_response: Callable) -> list:
        served.append(environ["PATH_INFO"])
        return hello(environ, start_response)

    client = connect(serve(app))
    client.send(b"GET /last HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n" + GET % b"/after")
    assert client.read_until_closed(3.0)
    assert parse_responses(client.received) == [(200, b"hello /last")] and served == ["/last"]
    assert head_of(client.received)[1]["connection"] == "close"


def test_pywsgi_handler_still_selectable(need_curl, cert_files, server_options):
    """``handler_class = greentls.wsgi.WSGIHandler`` runs connections through gevent's pywsgi
    handler instead (for pywsgi handler subclasses, such as WebSocket upgrade handlers)."""
    from greentls.wsgi import HTTPHandler, WSGIHandler

    assert WSGIServer.handler_class is HTTPHandler
    server = WSGIServer(("127.0.0.1", 0), hello, log=None, **server_options)
    server.handler_class = WSGIHandler
    server.start()
    try:
        result = run([CURL, "-sS", "-i", "--max-time", "20", "--cacert", cert_files["ca"],
                      f"https://localhost:{server.address[1]}/old"])
        assert result.stdout.endswith(b"hello /old") and b"Date:" in result.stdout
    finally:
        server.stop(timeout=1)


def test_size_limits_refused_on_the_pywsgi_handler(server_options):
    """The pywsgi handler has its own parser: a size limit passed with it raises
    UnsupportedError naming the option instead of being ignored."""
    from greentls import UnsupportedError
    from greentls.wsgi import WSGIHandler

    server = WSGIServer(("127.0.0.1", 0), hello, limit_request_body=10, **server_options)
    server.handler_class = WSGIHandler
    with pytest.raises(UnsupportedError, match="limit_request_body"):
        server.start()


def test_a_burst_of_pipelined_requests_is_answered(serve, connect):
    """2,000 requests in one write (far more than one read holds) are all answered."""
    client = connect(serve(hello))
    gevent.spawn(client.send, GET % b"/" * 2000)
    deadline = monotonic() + 10
    while client.received.count(b"HTTP/1.1 200 OK") < 2000 and monotonic() < deadline:
        client.read_until_closed(0.1)
    assert client.received.count(b"HTTP/1.1 200 OK") == 2000


@pytest.mark.parametrize("framing", ["length", "chunked"])
def test_a_large_body_in_the_head_s_read(framing, serve, connect):
    """A head and 200 KB of body in one write (a body of 20,000 tiny chunks when chunked) are
    read whole, and the request behind them is served: body bytes never count against the
    field size limits."""
    def app(environ: dict, start_response: Callable) -> list:
        body = environ["wsgi.input"].read()
        start_response("200 OK", [])
        return [hashlib.sha256(body).hexdigest().encode()]

    client = connect(serve(app))
    body = b"b" * 200_000 if framing == "length" else b"a" * 20_000
    if framing == "length":
        head = b"POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: %d\r\n\r\n" % len(body)
        wire = body
    else:
        head = b"POST / HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
        wire = b"1\r\na\r\n" * 20_000 + b"0\r\n\r\n"
    gevent.spawn(client.send, head + wire + GET % b"/next")
    assert client.read_responses(2, 10.0)[0] == (200, hashlib.sha256(body).hexdigest().encode())


def test_requests_that_arrive_together_are_answered_together(serve, connect):
    """Requests of three connections that are ready in the same loop iteration all reach the
    application before the first answer is written (the answers leave in one burst); one
    connection alone is answered at once."""
    events: list[tuple[str, str]] = []

    class Body:
        def __init__(self, path: str) -> None:
            self.path = path

        def __iter__(self) -> Any:
            yield b"ok"

        def close(self) -> None:  # after the answer was written
            events.append(("sent", self.path))

    def app(environ: dict, start_response: Callable) -> Body:
        events.append(("app", environ["PATH_INFO"]))
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
        return Body(environ["PATH_INFO"])

    port = serve(app)
    clients = [connect(port) for _ in range(3)]
    gevent.sleep(0.2)  # every server greenlet now waits for its first request
    for number, client in enumerate(clients):
        client.send(GET % b"/%d" % number)  # no yield in between: one loop iteration sees all
    for client in clients:
        read_until(client, b"ok")
    assert all(client.received.endswith(b"\r\n\r\nok") for client in clients)
    assert [kind for kind, _ in events[:3]] == ["app", "app", "app"], events
    assert sorted(path for kind, path in events if kind == "sent") == ["/0", "/1", "/2"]
    events.clear()
    clients[0].received = b""
    clients[0].send(GET % b"/alone")
    read_until(clients[0], b"ok")
    assert events == [("app", "/alone"), ("sent", "/alone")]


def test_raw_uri_is_the_target_as_sent(serve, connect):
    """RAW_URI (gunicorn's name) is the request target as the client sent it, percent-escapes
    included, while PATH_INFO is decoded (the gunicorn worker used to rebuild it from PATH_INFO,
    turning %2F into /)."""
    def app(environ: dict, start_response: Callable) -> list:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [f"{environ['RAW_URI']}|{environ['PATH_INFO']}".encode()]

    client = connect(serve(app))
    client.send(GET % b"/a%2Fb?x=%41")
    assert read_until(client, b"/a/b").endswith(b"/a%2Fb?x=%41|/a/b")


@pytest.mark.parametrize("keep_alive_timeout", [5.0, None])
def test_keep_alive_waits_for_the_next_request_before_reading(keep_alive_timeout, serve, connect,
                                                              monkeypatch):
    """Between requests the handler waits for the descriptor before SSL_read: no read that
    fails with EAGAIN (a WantReadError) per request on an idle keep-alive connection, with the
    idle reaper (a keep_alive_timeout) or without one.  Pipelined requests, and a record
    holding more than one read takes, are still all answered."""
    from OpenSSL.SSL import WantReadError

    from greentls._engine.engine import TLSEngine

    failed = []
    real_read = TLSEngine.read

    def counting_read(self: TLSEngine, size: int) -> bytes:
        try:
            return real_read(self, size)
        except WantReadError:
            failed.append(size)
            raise

    monkeypatch.setattr(TLSEngine, "read", counting_read)
    client = connect(serve(hello, keep_alive_timeout=keep_alive_timeout))
    client.send(GET % b"/first")
    assert client.read_responses(1, 5.0) == [(200, b"hello /first")]
    failed.clear()  # the first read may come before the request: that wait is not an idle one
    for number in range(5):
        gevent.sleep(0.02)
        client.received = b""
        client.send(GET % b"/%d" % number)
        assert client.read_responses(1, 5.0) == [(200, b"hello /%d" % number)]
    assert failed == []
    client.received = b""
    client.send(GET % b"/a" + GET % b"/b" + GET % b"/c")
    assert [body for _, body in client.read_responses(3, 5.0)] == [b"hello /a", b"hello /b", b"hello /c"]
