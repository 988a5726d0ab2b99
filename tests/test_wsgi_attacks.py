"""The HTTP layer against a red team's findings: a trailer or chunk extension that never
ends, blank lines dripped to outlive keep_alive_timeout, an upload answered without being read,
and HTTP/1.0 clients that offer ALPN ``http/1.0``.  Each is answered as stated and the server
serves on."""
from __future__ import annotations

from collections.abc import Callable
from time import monotonic
from typing import Any

import gevent
import pytest
from gevent import ssl
from helpers import CURL, run
from test_wsgi_http import client_context, connect, hello, serve  # noqa: F401  (fixtures)


def reads_body(environ: dict, start_response: Callable) -> list:
    body = environ["wsgi.input"].read()
    start_response("200 OK", [("Content-Length", str(len(body)))])
    return [body]


def ignores_body(environ: dict, start_response: Callable) -> list:
    start_response("401 Unauthorized", [("Content-Length", "6")])
    return [b"denied"]


def _still_serves(connect: Any, port: int) -> None:
    other = connect(port)
    other.send(b"GET /ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    other.read_until_closed(5)
    assert b"200 OK" in other.received and other.received.endswith(b"hello /ok")


@pytest.mark.parametrize("tail", [b"0\r\nX-Trailer: ", b"2;ext="], ids=["trailer", "chunk-extension"])
def test_an_endless_trailer_or_chunk_extension_is_cut_off(serve, connect, tail):
    """After the head, httptools buffers a trailer field (and llhttp a chunk header) with no
    callback until it ends: bytes without progress are bounded as a head field is, 400."""
    port = serve(lambda environ, start_response: (reads_body if environ["PATH_INFO"] == "/up" else hello)(
        environ, start_response))
    client = connect(port)
    client.send(b"POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + tail)
    sent = 0
    began = monotonic()
    try:
        while sent < 4 << 20 and client.closed_at is None and monotonic() - began < 10:
            client.send(b"a" * 16384)
            sent += 16384
            client.read_until_closed(0.001)
    except OSError:
        pass
    client.read_until_closed(5)
    assert b"400 Bad Request" in client.received, client.received[:200]
    assert sent < 1 << 20, sent  # cut off near the field limit, not after megabytes
    _still_serves(connect, port)


def test_blank_lines_do_not_extend_keep_alive(serve, connect):
    """llhttp skips blank lines before a request line: dripping them must not restart the
    keep_alive_timeout, which counts from the end of the last answer."""
    port = serve(hello, keep_alive_timeout=1.0)
    client = connect(port)
    client.send(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n")
    began = monotonic()
    client.drip(b"\r\n" * 40, 0.1)
    assert client.read_until_closed(6)
    assert client.closed_at - began < 2.5, client.closed_at - began
    assert client.received.count(b"200 OK") == 1


def test_an_upload_answered_without_reading_it_reaches_a_client_that_sends_first(serve, ca):
    """An application that answers 401 to a 20 MiB upload without reading it: the answer says
    Connection: close and the server drains while the client (requests, which sends its whole
    body before reading) finishes, so the client gets the 401 instead of a reset."""
    import requests
    port = serve(ignores_body)
    ca_file = ca.cert_pem.bytes()
    import tempfile
    with tempfile.NamedTemporaryFile(suffix=".pem") as pem:
        pem.write(ca_file)
        pem.flush()

        def post() -> Any:
            return requests.post(f"https://localhost:{port}/up", data=b"x" * (20 << 20), verify=pem.name,
                                 timeout=30)
        response = gevent.get_hub().threadpool.apply(post)
    assert response.status_code == 401 and response.text == "denied"
    assert response.headers["Connection"] == "close"


def test_http10_clients_that_offer_alpn_http10_are_served(serve, need_curl, cert_files):
    """curl -0 offers ALPN http/1.0; the default offers it too (as nginx does)."""
    port = serve(hello)
    result = run([CURL, "-sS", "-0", "--cacert", cert_files["ca"], f"https://localhost:{port}/ten"], timeout=20)
    assert result.stdout == b"hello /ten"
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # gevent's: its handshake yields to the hub
    context.load_verify_locations(cafile=cert_files["ca"])
    context.set_alpn_protocols(["http/1.0"])
    from gevent import socket
    with socket.create_connection(("127.0.0.1", port)) as raw, \
            context.wrap_socket(raw, server_hostname="localhost") as tls:
        assert tls.selected_alpn_protocol() == "http/1.0"


def test_a_204_never_carries_content_length_and_a_str_body_is_a_500(serve, connect):
    def app(environ: dict, start_response: Callable) -> Any:
        if environ["PATH_INFO"] == "/204":
            start_response("204 No Content", [("Content-Length", "5")])
            return [b"hello"]
        start_response("200 OK", [("Content-Type", "text/plain")])
        return ["not bytes"]  # PEP 3333 wants bytes

    port = serve(app)
    client = connect(port)
    client.send(b"GET /204 HTTP/1.1\r\nHost: x\r\n\r\nGET /str HTTP/1.1\r\nHost: x\r\n\r\n")
    client.read_until_closed(5)
    head_204, _, rest = client.received.partition(b"\r\n\r\n")
    assert head_204.startswith(b"HTTP/1.1 204") and b"content-length" not in head_204.lower()
    assert rest.startswith(b"HTTP/1.1 500"), rest[:100]


def test_a_timeout_the_application_let_escape_is_its_500(serve, connect):
    """A gevent.Timeout started by the application and not caught is the application's error:
    500, logged, and the server serves on (pywsgi's answer too)."""
    def app(environ: dict, start_response: Callable) -> Any:
        if environ["PATH_INFO"] == "/late":
            with gevent.Timeout(0.01):
                gevent.sleep(1)
        return hello(environ, start_response)

    port = serve(app)
    client = connect(port)
    client.send(b"GET /late HTTP/1.1\r\nHost: x\r\n\r\n")
    client.read_until_closed(5)
    assert client.received.startswith(b"HTTP/1.1 500"), client.received[:100]
    _still_serves(connect, port)


def test_stop_closes_idle_keep_alive_connections_at_once(server_options, connect):
    """stop(timeout) does not wait out keep_alive_timeout for a connection idle between
    requests (nginx and Node close those at once)."""
    from greentls.wsgi import WSGIServer
    server = WSGIServer(("127.0.0.1", 0), hello, log=None, error_log=None, keep_alive_timeout=30.0,
                        **server_options)
    server.start()
    client = connect(server.address[1])
    client.send(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n")
    while b"hello /a" not in client.received:
        client.read_until_closed(0.05)
    began = monotonic()
    server.stop(timeout=20)
    assert monotonic() - began < 5
    assert client.read_until_closed(5)


# -- a second red team -------------------------------------------------------------------------------

def _routed(app: Callable) -> Callable:
    """``app``, except that ``/ok`` is ``hello`` (for ``_still_serves``)."""
    def route(environ: dict, start_response: Callable) -> Any:
        return (hello if environ["PATH_INFO"] == "/ok" else app)(environ, start_response)
    return route


def _environ_echo(environ: dict, start_response: Callable) -> list:
    """Answers the head the application saw and the body it read."""
    body = environ["wsgi.input"].read()
    seen = {name: value for name, value in environ.items() if name.startswith("HTTP_")}
    text = repr((sorted(seen.items()), environ["PATH_INFO"], environ["QUERY_STRING"], body)).encode()
    start_response("200 OK", [("Content-Length", str(len(text)))])
    return [text]


@pytest.mark.parametrize("split", [False, True], ids=["one-write", "trailers-later"])
def test_trailer_fields_never_reach_the_environ(serve, connect, split):
    """Trailer fields after a chunked body are dropped (RFC 9110 section 6.5.1 forbids merging
    them into the head): they used to be added to the request's headers, a second Host and a
    forged Authorization included, whenever they arrived with the body."""
    port = serve(_routed(_environ_echo))
    client = connect(port)
    head = (b"POST /t HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
            b"3\r\nabc\r\n0\r\n")
    trailers = b"Host: evil.example\r\nAuthorization: Bearer forged\r\nX-Forwarded-For: 6.6.6.6\r\n\r\n"
    if split:
        client.send(head)
        gevent.sleep(0.3)
        client.send(trailers)
    else:
        client.send(head + trailers)
    client.read_until_closed(5)
    assert b"200 OK" in client.received, client.received[:300]
    answer = client.received.split(b"\r\n\r\n", 1)[1]
    assert answer == repr(([("HTTP_CONNECTION", "close"), ("HTTP_HOST", "localhost"),
                            ("HTTP_TRANSFER_ENCODING", "chunked")],
                           "/t", "", b"abc")).encode()
    _still_serves(connect, port)


@pytest.mark.parametrize("upgrade", [b"websocket", b"h2c"])
@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_an_upgrade_request_keeps_its_body(serve, connect, upgrade, chunked):
    """The server ignores Upgrade (RFC 9110 section 7.8) and so serves the request whole: its
    body reaches wsgi.input (llhttp skipped it and the application read b""); the answer is
    the connection's last."""
    port = serve(_routed(reads_body))
    client = connect(port)
    framing = b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n" if chunked else \
        b"Content-Length: 5\r\n\r\nhello"
    after = b"GET /after HTTP/1.1\r\nHost: localhost\r\n\r\n" if upgrade == b"h2c" else \
        b"GET /again HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
    client.send(b"POST /u HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: " + upgrade
                + b"\r\n" + framing + after)
    assert client.read_until_closed(5)
    assert client.received.count(b"HTTP/1.1 ") == 1, client.received
    assert b"Connection: close" in client.received and client.received.endswith(b"\r\n\r\nhello")
    _still_serves(connect, port)


def test_an_expect_100_answer_without_reading_says_it_closes(serve, connect):
    """An application that answers a request which expects 100-continue without reading its
    body: the server never sent 100, so it cannot tell whether the body will come, and closes;
    the answer now says Connection: close (RFC 9112 section 9.6) instead of closing unannounced."""
    port = serve(_routed(ignores_body))
    client = connect(port)
    client.send(b"POST /e HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n")
    assert client.read_until_closed(5)
    assert client.received.startswith(b"HTTP/1.1 401") and b"\r\nConnection: close\r\n" in client.received
    assert b"100 Continue" not in client.received
    _still_serves(connect, port)


def test_request_target_edges(serve, connect):
    """A fragment (after '#') is neither path nor query, a '?' in it included; a request line
    of exactly limit_request_line bytes (4094, without its CRLF, as gunicorn counts) is served
    and one byte more is a 414; a method llhttp does not know is a 400, as Node answers it."""
    port = serve(_routed(_environ_echo))
    client = connect(port)
    client.send(b"GET /p#frag?x HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
    client.read_until_closed(5)
    assert client.received.endswith(repr(([("HTTP_CONNECTION", "close"), ("HTTP_HOST", "localhost")],
                                          "/p", "", b"")).encode()), client.received
    for method, extra, status in ((b"GET", 0, b"200"), (b"GET", 1, b"414"), (b"DELETE", 0, b"200"),
                                  (b"DELETE", 1, b"414")):
        target = b"/" + b"a" * (4094 - len(method) - 1 - len(b" HTTP/1.1") - 1 + extra)
        line = method + b" " + target + b" HTTP/1.1"
        assert len(line) == 4094 + extra
        client = connect(port)
        client.send(line + b"\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        client.read_until_closed(5)
        assert client.received.startswith(b"HTTP/1.1 " + status), (method, extra, client.received[:100])
    client = connect(port)
    client.send(b"BREW /pot HTTP/1.1\r\nHost: localhost\r\n\r\n" + b"GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n")
    client.read_until_closed(5)
    assert client.received.startswith(b"HTTP/1.1 400 Bad Request\r\n"), client.received
    _still_serves(connect, port)


def test_limit_request_field_size_counts_the_line_as_gunicorn(serve, connect):
    """limit_request_field_size counts a field line with its CRLF, as gunicorn's parser does: a
    50-byte limit serves "X-A: " plus 43 bytes and refuses 44 (431)."""
    port = serve(_routed(_environ_echo), limit_request_field_size=50)
    for size, status in ((43, b"200"), (44, b"431")):
        client = connect(port)
        client.send(b"GET / HTTP/1.1\r\nHost: localhost\r\nX-A: " + b"a" * size + b"\r\nConnection: close\r\n\r\n")
        client.read_until_closed(5)
        assert client.received.startswith(b"HTTP/1.1 " + status), (size, client.received[:80])
