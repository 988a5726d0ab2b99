"""ALPN on both sides: lists and wire format, alpn_protocol, no overlap as Node >= 17, real peers."""
from __future__ import annotations

import os
import socket
import sys

import gevent
import pytest
from gevent import subprocess
from helpers import CURL, echo, node, node_server, openssl, port_of, run, serving

import greentls
from greentls._config.options import normalize_alpn

VERSIONS = ["TLSv1.2", "TLSv1.3"]


def _connect(port: int, client_options: dict, **options):
    return greentls.connect(port, "127.0.0.1", servername="localhost", **client_options, **options)


def test_normalize_forms():
    """str and bytes lists and Node's wire-format bytes normalize alike; bad input names the option."""
    assert normalize_alpn("alpn_protocols", ["h2", b"http/1.1"]) == [b"h2", b"http/1.1"]
    assert normalize_alpn("alpn_protocols", b"\x02h2\x08http/1.1") == [b"h2", b"http/1.1"]
    with pytest.raises(ValueError, match="alpn_protocols"):
        normalize_alpn("alpn_protocols", b"\x05h2")
    with pytest.raises(TypeError, match="alpn_protocols"):
        normalize_alpn("alpn_protocols", "h2")


@pytest.mark.parametrize("version", VERSIONS)
def test_server_preference_both_sides(version, server_options, client_options):
    """The server picks by its own order (RFC 7301 3.2); both sides report alpn_protocol."""
    seen: list = []
    with serving(lambda tls: seen.append(tls.alpn_protocol), alpn_protocols=["h2", "http/1.1"],
                 max_version=version, **server_options) as server:
        tls = _connect(port_of(server), client_options, alpn_protocols=b"\x08http/1.1\x02h2")
        assert tls.alpn_protocol == "h2" and tls.selected_alpn_protocol() == "h2"
        tls.close()
        tls = _connect(port_of(server), client_options, alpn_protocols=["http/1.1", "spdy/3"])
        assert tls.alpn_protocol == "http/1.1"
        tls.close()
    assert seen == ["h2", "http/1.1"]


def test_server_without_alpn_ignores_client_list(server_options, client_options):
    """A server with no alpn_protocols ignores the client's offer: no protocol, no error."""
    seen: list = []
    with serving(lambda tls: seen.append(tls.alpn_protocol), **server_options) as server:
        tls = _connect(port_of(server), client_options, alpn_protocols=["h2"])
        assert tls.alpn_protocol is None
        tls.close()
    assert seen == [None]


@pytest.mark.parametrize("version", VERSIONS)
def test_no_overlap_greentls_both_sides(version, server_options, client_options):
    """No common protocol: the server fails with ERR_SSL_NO_APPLICATION_PROTOCOL and the client
    with ERR_SSL_TLSV1_ALERT_NO_APPLICATION_PROTOCOL (the codes a Node v20 pair reports)."""
    errors: list = []

    def on_error(sender, exception, tls_socket):
        errors.append(exception.code)

    greentls.tls_client_error.connect(on_error)
    try:
        with serving(echo, alpn_protocols=["h2"], max_version=version, **server_options) as server:
            with pytest.raises(greentls.TLSError) as info:
                _connect(port_of(server), client_options, alpn_protocols=["http/1.1"])
            gevent.sleep(0.1)
    finally:
        greentls.tls_client_error.disconnect(on_error)
    assert info.value.code == "ERR_SSL_TLSV1_ALERT_NO_APPLICATION_PROTOCOL"
    assert errors == ["ERR_SSL_NO_APPLICATION_PROTOCOL"]


NODE_ALPN_CLIENT = r"""
const tls = require('tls'); const fs = require('fs');
const [port, ca, protocols] = process.argv.slice(2);
const s = tls.connect({port: +port, host: '127.0.0.1', servername: 'localhost', ca: fs.readFileSync(ca),
                       ALPNProtocols: protocols.split(',')}, () => {
  console.log(JSON.stringify({alpn: s.alpnProtocol})); s.end(); });
s.on('error', e => { console.log(JSON.stringify({error: e.code})); process.exit(0); });
"""


def test_node_client(need_node, server_options, cert_files):
    """A Node client negotiates with our server, and gets Node's alert code when nothing overlaps."""
    with serving(echo, alpn_protocols=["h2", "http/1.1"], **server_options) as server:
        assert node(NODE_ALPN_CLIENT, port_of(server), cert_files["ca"], "http/1.1,h2") == {"alpn": "h2"}
        assert node(NODE_ALPN_CLIENT, port_of(server), cert_files["ca"], "foo") == \
            {"error": "ERR_SSL_TLSV1_ALERT_NO_APPLICATION_PROTOCOL"}


NODE_ALPN_SERVER = r"""
const tls = require('tls'); const fs = require('fs');
const [key, cert, protocols] = process.argv.slice(2);
const opts = {key: fs.readFileSync(key), cert: fs.readFileSync(cert)};
if (protocols) opts.ALPNProtocols = protocols.split(',');
const srv = tls.createServer(opts, s => { s.write(String(s.alpnProtocol)); s.end(); });
srv.listen(0, '127.0.0.1', () => console.log(srv.address().port));
"""


def test_node_server(need_node, client_options, cert_files):
    """Against a Node server: our client reads its choice, and fails with its alert on no overlap."""
    with node_server(NODE_ALPN_SERVER, cert_files["key"], cert_files["cert"], "h2,http/1.1") as port:
        tls = _connect(port, client_options, alpn_protocols=["http/1.1", "h2"])
        assert tls.alpn_protocol == "h2"
        assert tls.recv(10) == b"h2"
        tls.close()
        with pytest.raises(greentls.TLSError) as info:
            _connect(port, client_options, alpn_protocols=["spdy/3"])
        assert info.value.code == "ERR_SSL_TLSV1_ALERT_NO_APPLICATION_PROTOCOL"
    with node_server(NODE_ALPN_SERVER, cert_files["key"], cert_files["cert"], "") as port:
        tls = _connect(port, client_options, alpn_protocols=["h2"])
        assert tls.alpn_protocol is None  # a Node server without ALPNProtocols ignores the offer
        tls.close()


@pytest.mark.parametrize(("offer", "expected"), [("http/1.1,h2", "h2"), ("http/1.1", "http/1.1")])
def test_openssl_alpn(need_openssl, offer, expected, server_options, cert_files):
    """openssl s_client -alpn reads the protocol our server chose."""
    with serving(echo, alpn_protocols=["h2", "http/1.1"], **server_options) as server:
        out = openssl(["s_client", "-connect", f"127.0.0.1:{port_of(server)}", "-servername", "localhost",
                       "-alpn", offer, "-CAfile", cert_files["ca"]]).stdout.decode()
    assert f"ALPN protocol: {expected}" in out


def test_openssl_no_overlap_alert(need_openssl, server_options, cert_files):
    """openssl s_client sees alert 120 (no_application_protocol) when nothing overlaps."""
    with serving(echo, alpn_protocols=["h2"], **server_options) as server:
        result = openssl(["s_client", "-connect", f"127.0.0.1:{port_of(server)}", "-alpn", "foo",
                          "-CAfile", cert_files["ca"]])
    assert b"alert number 120" in result.stderr or b"no application protocol" in result.stderr


def _http_handler(tls):
    """Answer one HTTP/1.1 request with the negotiated protocol as the body."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = tls.recv(4096)
        if not chunk:
            return
        data += chunk
    body = str(tls.alpn_protocol).encode()
    tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body))


@pytest.mark.parametrize(("flag", "expected"), [("--http1.1", b"ALPN: server accepted http/1.1"),
                                           ("--http2", b"ALPN: server accepted h2")])
def test_curl_offers(need_curl, flag, expected, server_options, cert_files):
    """curl's --http1.1 and --http2 offers get the server's choice from its list."""
    with serving(_http_handler, alpn_protocols=["h2", "http/1.1"], **server_options) as server:
        result = run([CURL, "-sv", flag, "--cacert", cert_files["ca"], "--max-time", "5",
                      f"https://localhost:{port_of(server)}/"], check=False)
    assert expected in result.stderr, result.stderr[-1500:]
    if flag == "--http1.1":
        assert result.stdout == b"http/1.1"


def test_example_runs():
    """examples/alpn_server.py runs as its docstring says and prints what it shows."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    result = subprocess.run([sys.executable, os.path.join(here, "examples", "alpn_server.py")], timeout=60,
                            env=dict(os.environ, PORT=str(port)), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert result.returncode == 0, result.stderr[-2000:]
    for expected in [b"offer ['http/1.1', 'h2']: h2", b"offer ['http/1.1']: http/1.1",
                     b"refused (ERR_SSL_TLSV1_ALERT_NO_APPLICATION_PROTOCOL)"]:
        assert expected in result.stdout, result.stdout
