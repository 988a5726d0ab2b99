"""alpn_callback (Node's ALPNCallback): the server's ALPN choice made by a callback that may
block, run in the connection's greenlet before OpenSSL reads the ClientHello."""
from __future__ import annotations

import time

import gevent
import pytest
from helpers import CURL, echo, node, openssl, port_of, run, serving

import greentls

VERSIONS = ["TLSv1.2", "TLSv1.3"]

NODE_CLIENT = r"""
const tls = require('tls'); const fs = require('fs');
const [port, ca, protocols, servername, version] = process.argv.slice(2);
const opts = {port: +port, host: '127.0.0.1', servername, ca: fs.readFileSync(ca), maxVersion: version};
if (protocols) opts.ALPNProtocols = protocols.split(',');
const s = tls.connect(opts, () => { console.log(JSON.stringify({alpn: s.alpnProtocol})); s.end(); });
s.on('error', e => { console.log(JSON.stringify({error: e.code})); process.exit(0); });
"""


def _node_client(port: int, cert_files: dict, protocols: str, servername: str = "localhost",
                 version: str = "TLSv1.3") -> dict:
    return node(NODE_CLIENT, port, cert_files["ca"], protocols, servername, version)


@pytest.mark.parametrize("version", VERSIONS)
def test_node_client_gets_the_callbacks_choice(need_node, version, server_options, cert_files):
    """The callback sees the SNI name and the client's protocols in its order; its choice is
    what a Node client reads as alpnProtocol."""
    calls: list = []

    def choose(servername, protocols):
        calls.append((servername, protocols))
        return protocols[-1]

    with serving(echo, alpn_callback=choose, max_version=version, **server_options) as server:
        assert _node_client(port_of(server), cert_files, "http/1.1,h2,spdy/3", version=version) == \
            {"alpn": "spdy/3"}
    assert calls == [("localhost", ["http/1.1", "h2", "spdy/3"])]


@pytest.mark.parametrize("answer", [None, "h3"])
def test_none_or_unoffered_fails_with_no_application_protocol(need_node, answer, server_options,
                                                             cert_files, client_errors):
    """None, or a protocol the client did not offer, fails the handshake with the
    no_application_protocol alert, which Node reports as ERR_SSL_TLSV1_ALERT_NO_APPLICATION_PROTOCOL."""
    with serving(echo, alpn_callback=lambda name, protocols: answer, **server_options) as server:
        assert _node_client(port_of(server), cert_files, "h2,http/1.1") == \
            {"error": "ERR_SSL_TLSV1_ALERT_NO_APPLICATION_PROTOCOL"}
        gevent.sleep(0.1)
        # The server serves on: a client that offers nothing is not asked, and succeeds.
        assert _node_client(port_of(server), cert_files, "") == {"alpn": False}
    assert len(client_errors) == 1
    expected = "ERR_TLS_ALPN_CALLBACK_REJECTED" if answer is None else "ERR_TLS_ALPN_CALLBACK_INVALID_RESULT"
    assert client_errors[0].code == expected
    assert "alpn_callback" in str(client_errors[0])


def test_not_asked_without_alpn(server_options, client_options):
    """A client that offers no ALPN is served without the callback (as Node) and has no protocol."""
    calls: list = []
    with serving(echo, alpn_callback=lambda *args: calls.append(args), **server_options) as server:
        tls = greentls.connect(port_of(server), "127.0.0.1", servername="localhost", **client_options)
        assert tls.alpn_protocol is None
        tls.close()
    assert calls == []


@pytest.mark.parametrize(("offer", "expected"), [("http/1.1,h2", "h2"), ("http/1.1", "http/1.1")])
def test_openssl_s_client_alpn(need_openssl, offer, expected, server_options, cert_files):
    """openssl s_client -alpn reads the callback's choice."""
    def prefer_h2(servername, protocols):
        return "h2" if "h2" in protocols else protocols[0]

    with serving(echo, alpn_callback=prefer_h2, **server_options) as server:
        out = openssl(["s_client", "-connect", f"127.0.0.1:{port_of(server)}", "-servername", "localhost",
                       "-alpn", offer, "-CAfile", cert_files["ca"]]).stdout.decode()
    assert f"ALPN protocol: {expected}" in out


def test_openssl_s_client_sees_alert_120(need_openssl, server_options, cert_files):
    """A refusal is alert 120 (no_application_protocol) on the wire."""
    with serving(echo, alpn_callback=lambda name, protocols: None, **server_options) as server:
        result = openssl(["s_client", "-connect", f"127.0.0.1:{port_of(server)}", "-alpn", "h2",
                          "-CAfile", cert_files["ca"]])
    assert b"alert number 120" in result.stderr or b"no application protocol" in result.stderr


def _http_handler(tls):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = tls.recv(4096)
        if not chunk:
            return
        data += chunk
    body = str(tls.alpn_protocol).encode()
    tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body))


@pytest.mark.parametrize(("flag", "expected"), [("--http1.1", b"ALPN: server accepted http/1.1"),
                                           ("--http2", b"ALPN: server accepted http/1.1")])
def test_curl(need_curl, flag, expected, server_options, cert_files):
    """curl --http1.1 and --http2: a callback that serves only HTTP/1.1 picks it from both offers."""
    offers: list = []

    def http11_only(servername, protocols):
        offers.append(protocols)
        return "http/1.1" if "http/1.1" in protocols else None

    with serving(_http_handler, alpn_callback=http11_only, **server_options) as server:
        result = run([CURL, "-sv", flag, "--cacert", cert_files["ca"], "--max-time", "5",
                      f"https://localhost:{port_of(server)}/"], check=False)
    assert expected in result.stderr, result.stderr[-1500:]
    assert result.stdout == b"http/1.1"
    assert offers == [["h2", "http/1.1"] if flag == "--http2" else ["http/1.1"]]


def test_callback_may_block_without_holding_others(server_options, client_options):
    """A callback that blocks (gevent.sleep) delays only its own connection: several
    handshakes whose callbacks sleep 0.3 s each finish together."""
    def slow(servername, protocols):
        gevent.sleep(0.3)
        return protocols[0]

    with serving(echo, alpn_callback=slow, **server_options) as server:
        def one():
            tls = greentls.connect(port_of(server), "127.0.0.1", servername="localhost",
                                   alpn_protocols=["h2"], **client_options)
            protocol = tls.alpn_protocol
            tls.close()
            return protocol

        started = time.monotonic()
        jobs = [gevent.spawn(one) for _ in range(4)]
        gevent.joinall(jobs, timeout=5, raise_error=True)
        elapsed = time.monotonic() - started
    assert [job.value for job in jobs] == ["h2"] * 4
    assert elapsed < 1.1, elapsed  # one after another: 1.2 s or more


def test_raising_callback_fails_that_connection_only(server_options, client_options, client_errors):
    """An exception from the callback fails that connection (tls_client_error gets a TLSError
    naming it) and the server serves the next one."""
    def picky(servername, protocols):
        if protocols == ["boom"]:
            raise LookupError("no such tenant")
        return protocols[0]

    with serving(echo, alpn_callback=picky, **server_options) as server:
        with pytest.raises((greentls.TLSError, OSError)):
            greentls.connect(port_of(server), "127.0.0.1", servername="localhost", alpn_protocols=["boom"],
                             **client_options)
        gevent.sleep(0.1)
        tls = greentls.connect(port_of(server), "127.0.0.1", servername="localhost", alpn_protocols=["h2"],
                               **client_options)
        assert tls.alpn_protocol == "h2"
        tls.close()
    assert len(client_errors) == 1 and isinstance(client_errors[0], greentls.TLSError)
    assert "LookupError('no such tenant')" in str(client_errors[0])


def test_callback_catching_exception_cannot_disable_the_handshake_timeout(server_options, client_options,
                                                                          client_errors):
    """A callback that swallows every Exception while it blocks still loses the connection at
    handshake_timeout: HandshakeTimeoutError, and the server serves on."""
    def stubborn(servername, protocols):
        if protocols != ["stall"]:
            return protocols[0]
        for _ in range(50):
            try:
                gevent.sleep(10)
            except Exception:
                pass
        return protocols[0]

    with serving(echo, alpn_callback=stubborn, handshake_timeout=0.3, **server_options) as server:
        started = time.monotonic()
        with pytest.raises((greentls.TLSError, OSError)):
            greentls.connect(port_of(server), "127.0.0.1", servername="localhost", alpn_protocols=["stall"],
                             timeout=5, **client_options)
        assert time.monotonic() - started < 2.5
        gevent.sleep(0.2)
        tls = greentls.connect(port_of(server), "127.0.0.1", servername="localhost", alpn_protocols=["h2"],
                               **client_options)
        assert tls.alpn_protocol == "h2"
        tls.close()
    assert [type(error) for error in client_errors] == [greentls.HandshakeTimeoutError]


def test_servername_is_the_one_sni_chose(server_options, client_options, server_cert):
    """With an sni_callback, the ALPN callback sees the same name the SNI decision used."""
    names: list = []
    with serving(echo, sni_callback=lambda name: names.append(("sni", name)),
                 alpn_callback=lambda name, protocols: names.append(("alpn", name)) or protocols[0],
                 **server_options) as server:
        tls = greentls.connect(port_of(server), "127.0.0.1", servername="localhost", alpn_protocols=["h2"],
                               **client_options)
        tls.close()
        tls = greentls.connect(port_of(server), "127.0.0.1", servername="", alpn_protocols=["h2"],
                               check_server_identity=lambda host, cert: None, **client_options)
        tls.close()
    assert names == [("sni", "localhost"), ("alpn", "localhost"), ("alpn", None)]


def test_with_alpn_protocols_is_refused(server_options):
    """Node's ERR_TLS_ALPN_CALLBACK_WITH_PROTOCOLS: both options at once raise TypeError naming both."""
    with pytest.raises(TypeError, match=r"alpn_callback.*alpn_protocols"):
        greentls.create_server(alpn_callback=lambda name, protocols: None, alpn_protocols=["h2"],
                               **server_options)
    with pytest.raises(TypeError, match="alpn_callback"):
        greentls.create_server(alpn_callback="h2", **server_options)


def test_non_str_answer_fails_the_connection(server_options, client_options, client_errors):
    """An answer that is neither str nor None fails that connection with a TypeError naming the callback."""
    with serving(echo, alpn_callback=lambda name, protocols: b"h2", **server_options) as server:
        with pytest.raises((greentls.TLSError, OSError)):
            greentls.connect(port_of(server), "127.0.0.1", servername="localhost", alpn_protocols=["h2"],
                             **client_options)
        gevent.sleep(0.1)
    assert len(client_errors) == 1
    assert "TypeError('alpn_callback must return a str or None" in str(client_errors[0])


class _Dribble:
    """A client transport that sends in 64-byte pieces with pauses, so that the server's first
    look at the ClientHello sees only part of it (the memory-buffer seam)."""

    def __init__(self, sock):
        self._sock = sock

    def sendall(self, data):
        for start in range(0, len(data), 64):
            self._sock.sendall(data[start:start + 64])
            gevent.sleep(0.005)

    def recv(self, size):
        return self._sock.recv(size)

    def close(self):
        self._sock.close()


def test_split_hello_still_asks_the_callback(server_options, client_options):
    """A ClientHello split over many segments goes through the callback too (never served
    without its decision)."""
    from gevent import socket as gsocket
    calls: list = []

    def choose(name, protocols):
        calls.append(protocols)
        return "h2"

    with serving(echo, alpn_callback=choose, **server_options) as server:
        transport = _Dribble(gsocket.create_connection(("127.0.0.1", port_of(server))))
        tls = greentls.TLSSocket(transport, servername="localhost", alpn_protocols=["http/1.1", "h2"],
                                 **client_options)
        tls.do_handshake()
        assert tls.alpn_protocol == "h2"
        tls.close()
    assert calls == [["http/1.1", "h2"]]


def test_non_ascii_protocol_round_trips(server_options, client_options):
    """Protocol names are bytes on the wire; each byte is one character (latin-1), both ways."""
    seen: list = []
    with serving(echo, alpn_callback=lambda name, protocols: seen.append(protocols) or protocols[0],
                 **server_options) as server:
        tls = greentls.connect(port_of(server), "127.0.0.1", servername="localhost",
                               alpn_protocols=[b"\xff\x00x"], **client_options)
        assert tls._engine.conn.get_alpn_proto_negotiated() == b"\xff\x00x"
        tls.close()
    assert seen == [["\xff\x00x"]]


@pytest.mark.parametrize("version", VERSIONS)
def test_asked_again_on_resumption(version, server_options, client_options):
    """A resumed handshake negotiates ALPN afresh, so the callback is asked again."""
    calls: list = []
    with serving(echo, alpn_callback=lambda name, protocols: calls.append(1) or protocols[0],
                 max_version=version, **server_options) as server:
        first = greentls.connect(port_of(server), "127.0.0.1", servername="localhost", alpn_protocols=["h2"],
                                 **client_options)
        first.sendall(b"x")
        first.recv(10)
        session = first.get_session()
        first.close()
        again = greentls.connect(port_of(server), "127.0.0.1", servername="localhost", alpn_protocols=["h2"],
                                 session=session, **client_options)
        assert again.is_session_reused() and again.alpn_protocol == "h2"
        again.close()
    assert len(calls) == 2


def test_hello_retry_request_keeps_the_choice(server_options, client_options):
    """TLS 1.3 HelloRetryRequest (the server wants another key share): the second ClientHello
    goes to OpenSSL directly and gets the choice made on the first."""
    calls: list = []
    with serving(echo, alpn_callback=lambda name, protocols: calls.append(1) or "h2", ecdh_curve="P-384",
                 **server_options) as server:
        tls = greentls.connect(port_of(server), "127.0.0.1", servername="localhost",
                               alpn_protocols=["http/1.1", "h2"], **client_options)
        assert tls.alpn_protocol == "h2" and tls.get_protocol() == "TLSv1.3"
        tls.close()
    assert calls == [1]
