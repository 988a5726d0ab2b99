"""Unmodified stdlib code (http.client, urllib.request, smtplib) over greentls contexts."""
from __future__ import annotations

import http.client
import smtplib
import socket
import ssl
import textwrap
import urllib.error
import urllib.request

import gevent
import pytest
from helpers import CURL, PY, echo, node_server, port_of, run, serving

import greentls

NODE_HTTPS = r"""
const https = require('https'); const fs = require('fs');
const [key, cert, version] = process.argv.slice(2);
const srv = https.createServer({key: fs.readFileSync(key), cert: fs.readFileSync(cert), maxVersion: version},
  (req, res) => { res.setHeader('content-type', 'text/plain');
                  res.end('hello ' + req.method + ' ' + req.url + ' ' + req.socket.getProtocol()); });
srv.listen(0, '127.0.0.1', () => console.log(srv.address().port));
"""

VERSIONS = ["TLSv1.2", "TLSv1.3"]


@pytest.fixture
def node_https(need_node, cert_files, request):
    """A Node https server (TLS version from the test's parameter, else 1.3)."""
    version = getattr(request, "param", "TLSv1.3")
    with node_server(NODE_HTTPS, cert_files["key"], cert_files["cert"], version) as port:
        yield port, version


@pytest.mark.parametrize("node_https", VERSIONS, indirect=True)
def test_http_client_blocking(node_https, client_options):
    """http.client.HTTPSConnection with a greentls context gets a page over a blocking socket."""
    port, version = node_https
    ctx = greentls.create_secure_context(**client_options)
    conn = http.client.HTTPSConnection("localhost", port, context=ctx)
    conn.request("GET", "/path")
    response = conn.getresponse()
    assert response.status == 200
    assert response.read() == f"hello GET /path {version}".encode()
    assert isinstance(conn.sock, greentls.TLSSocket)
    assert conn.sock.version() == version
    assert conn.sock.get_peer_certificate()["subjectaltname"].startswith("DNS:localhost")
    assert ("DNS", "localhost") in conn.sock.getpeercert()["subjectAltName"]
    conn.close()


def test_urlopen(node_https, client_options):
    """urllib.request.urlopen(url, context=SecureContext) fetches from Node's https."""
    port, _ = node_https
    ctx = greentls.create_secure_context(**client_options)
    with urllib.request.urlopen(f"https://localhost:{port}/u", context=ctx, timeout=10) as response:
        assert response.read() == b"hello GET /u TLSv1.3"


def test_urlopen_monkey_patched_gevent(node_https, cert_files):
    """Under gevent.monkey.patch_all, urlopen over greentls yields to other greenlets."""
    port, _ = node_https
    script = textwrap.dedent("""
        from gevent import monkey; monkey.patch_all()
        import sys, urllib.request, gevent, greentls
        ctx = greentls.create_secure_context(ca=open(sys.argv[2], 'rb').read())
        ticks = []
        ticker = gevent.spawn(lambda: [ticks.append(gevent.sleep(0.001)) for _ in range(1000)])
        def fetch(i):
            with urllib.request.urlopen(f"https://localhost:{sys.argv[1]}/{i}", context=ctx) as r:
                return r.read().decode()
        jobs = [gevent.spawn(fetch, i) for i in range(5)]
        gevent.joinall(jobs, raise_error=True)
        ticker.kill()
        print(sorted(j.value for j in jobs), len(ticks) > 0)
    """)
    result = run([PY, "-c", script, str(port), cert_files["ca"]])
    out = result.stdout.decode()
    assert "hello GET /0 TLSv1.3" in out and "hello GET /4 TLSv1.3" in out
    assert out.strip().endswith("True")


def test_verify_mode_cert_none_skips_verification(node_https):
    """verify_mode=CERT_NONE (with check_hostname=False) accepts a server of an unknown CA."""
    port, _ = node_https
    ctx = greentls.create_secure_context()  # Mozilla's roots: the test CA is unknown
    with pytest.raises(urllib.error.URLError) as info:
        urllib.request.urlopen(f"https://localhost:{port}/", context=ctx, timeout=10)
    assert isinstance(info.value.reason, ssl.SSLCertVerificationError)  # as with the stdlib's ssl
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with urllib.request.urlopen(f"https://localhost:{port}/x", context=ctx, timeout=10) as response:
        assert response.read() == b"hello GET /x TLSv1.3"


def test_check_hostname_false_skips_host_check(node_https, client_options):
    """A name the certificate lacks fails the host check unless check_hostname is False."""
    port, _ = node_https
    ctx = greentls.create_secure_context(**client_options)
    with socket.create_connection(("127.0.0.1", port)) as raw:
        with pytest.raises(greentls.CertificateError) as info:
            ctx.wrap_socket(raw, server_hostname="other.example")
    assert info.value.code == "ERR_TLS_CERT_ALTNAME_INVALID"
    assert isinstance(info.value, ssl.SSLCertVerificationError)
    ctx.check_hostname = False
    with socket.create_connection(("127.0.0.1", port)) as raw:
        tls = ctx.wrap_socket(raw, server_hostname="other.example")
        assert tls.authorization_error is None or tls.authorization_error == "ERR_TLS_CERT_ALTNAME_INVALID"
        tls.sendall(b"GET /h HTTP/1.0\r\n\r\n")
        assert tls.makefile("rb").read().endswith(b"hello GET /h TLSv1.3")
        tls.close()


def test_check_hostname_needs_server_hostname(client_options):
    """As in the stdlib, check_hostname without server_hostname is a ValueError."""
    ctx = greentls.create_secure_context(**client_options)
    a, b = socket.socketpair()
    with a, b, pytest.raises(ValueError, match="server_hostname"):
        ctx.wrap_socket(a)


def test_stdlib_attributes(client_options):
    """The attributes stdlib code reads: check_hostname, verify_mode, post_handshake_auth."""
    ctx = greentls.create_secure_context(**client_options)
    assert ctx.check_hostname is True
    assert ctx.verify_mode == ssl.CERT_REQUIRED
    assert ctx.post_handshake_auth is None


def test_wrap_socket_one_call_and_unwrap(server_options, client_options):
    """greentls.wrap_socket on a gevent socket talks to a greentls server; unwrap() exchanges
    close_notify and hands back the socket for plain use."""
    def handler(tls):
        assert tls.recv(100) == b"secret"
        plain = tls.unwrap()
        plain.sendall(b"plain after TLS")

    with serving(handler, **server_options) as server:
        from gevent import socket as gsocket
        raw = gsocket.create_connection(("127.0.0.1", port_of(server)))
        tls = greentls.wrap_socket(raw, server_hostname="localhost", **client_options)
        assert tls.selected_alpn_protocol() is None
        assert tls.cipher()[1] == "TLSv1.3"
        tls.sendall(b"secret")
        plain = tls.unwrap()
        assert plain is raw
        data = b""
        while len(data) < 15:
            data += plain.recv(100)
        assert data == b"plain after TLS"
        plain.close()


def test_timeouts_raise_socket_timeout(server_options, client_options):
    """settimeout on the TLSSocket makes a silent peer raise socket.timeout (TimeoutError)."""
    def silent(tls):
        gevent.sleep(3)

    with serving(silent, **server_options) as server:
        tls = greentls.connect(port_of(server), "localhost", **client_options)
        tls.settimeout(0.2)
        assert tls.gettimeout() == 0.2
        with pytest.raises(socket.timeout):
            tls.recv(10)
        tls.close()


SMTP_GREETING = b"220 greentls.test ESMTP\r\n"


def smtp_handler(tls):
    """A tiny SMTP-over-TLS (RFC 8314 implicit TLS) server: enough for smtplib.sendmail."""
    f = tls.makefile("rb")
    tls.sendall(SMTP_GREETING)
    received = []
    while True:
        line = f.readline()
        if not line:
            return
        verb = line[:4].upper()
        if verb in (b"EHLO", b"HELO"):
            tls.sendall(b"250-greentls.test\r\n250 8BITMIME\r\n")
        elif verb == b"DATA":
            tls.sendall(b"354 go ahead\r\n")
            body = []
            while (line := f.readline()) not in (b".\r\n", b""):
                body.append(line)
            received.append(b"".join(body))
            tls.sendall(b"250 OK " + str(len(received[-1])).encode() + b" bytes\r\n")
        elif verb == b"QUIT":
            tls.sendall(b"221 bye\r\n")
            return
        else:
            tls.sendall(b"250 OK\r\n")


@pytest.mark.parametrize("version", VERSIONS)
def test_smtp_ssl(version, server_options, client_options):
    """smtplib.SMTP_SSL(context=SecureContext) sends mail to a greentls SMTP server; the client
    runs in a real thread with blocking sockets, the server in this thread's greenlets."""
    def client():
        ctx = greentls.create_secure_context(max_version=version, **client_options)
        with smtplib.SMTP_SSL("localhost", port, context=ctx, timeout=10) as smtp:
            errors = smtp.sendmail("a@example.com", ["b@example.com"], "Subject: hi\r\n\r\nbody\r\n")
            return errors, smtp.sock.version(), type(smtp.sock).__name__

    with serving(smtp_handler, **server_options) as server:
        port = port_of(server)
        errors, protocol, kind = gevent.get_hub().threadpool.apply(client)
    assert errors == {}
    assert protocol == version
    assert kind == "TLSSocket"


def test_set_alpn_protocols_used_by_wrap_socket(server_options, client_options):
    """ctx.set_alpn_protocols (as http.client and urllib3 call it) is offered by wrap_socket."""
    with serving(echo, alpn_protocols=["h2", "http/1.1"], **server_options) as server:
        ctx = greentls.create_secure_context(**client_options)
        ctx.set_alpn_protocols(["http/1.1"])
        from gevent import socket as gsocket
        with ctx.wrap_socket(gsocket.create_connection(("127.0.0.1", port_of(server))),
                             server_hostname="localhost") as tls:
            assert tls.selected_alpn_protocol() == "http/1.1"


@pytest.mark.parametrize("on_connect", [True, False])
def test_wrap_unconnected_socket_then_connect(on_connect, server_options, client_options):
    """As with the stdlib: wrap an unconnected socket, then connect() (handshaking at once
    unless do_handshake_on_connect=False, when the first I/O does it)."""
    from gevent import socket as gsocket
    with serving(echo, **server_options) as server:
        ctx = greentls.create_secure_context(**client_options)
        tls = ctx.wrap_socket(gsocket.socket(), server_hostname="localhost", do_handshake_on_connect=on_connect)
        assert tls.version() is None
        tls.connect(("127.0.0.1", port_of(server)))
        assert (tls.version() == "TLSv1.3") is on_connect
        tls.sendall(b"late")
        assert tls.recv(10) == b"late"
        assert tls.version() == "TLSv1.3"
        tls.close()


@pytest.mark.parametrize("mode", ["CERT_REQUIRED", "CERT_OPTIONAL", "CERT_NONE"])
def test_server_side_verify_mode_is_honoured(mode, need_curl, server_options, cert_files, ca):
    """ctx.verify_mode on a context used with wrap_socket(server_side=True) is the stdlib's
    server policy: CERT_REQUIRED refuses curl without a client certificate, CERT_OPTIONAL and
    CERT_NONE let it in; with a certificate, getpeercert() shows it unless CERT_NONE (not asked)."""
    from gevent import socket as gsocket
    context = greentls.create_secure_context(ca=ca.cert_pem.bytes(), **server_options)
    context.verify_mode = getattr(ssl, mode)
    listener = gsocket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    port = listener.getsockname()[1]
    seen: list = []

    def serve_one() -> None:
        raw, _ = listener.accept()
        try:
            tls = context.wrap_socket(raw, server_side=True)
        except OSError as exc:
            seen.append(("refused", getattr(exc, "code", None)))
            raw.close()
            return
        tls.recv(65536)
        seen.append(("served", tls.getpeercert(binary_form=True) is not None, tls.authorized))
        tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
        tls.close()

    def curl(*extra: str):
        server = gevent.spawn(serve_one)
        result = run([CURL, "-sS", "--max-time", "10", "--cacert", cert_files["ca"], *extra,
                      f"https://localhost:{port}/"], check=False)
        server.join(10)
        return result

    try:
        without = curl()
        with_cert = curl("--cert", cert_files["client_cert"], "--key", cert_files["client_key"])
    finally:
        listener.close()
    if mode == "CERT_REQUIRED":
        assert without.returncode != 0 and seen[0][0] == "refused"
    else:
        assert without.stdout == b"ok" and seen[0] == ("served", False, False)
    assert with_cert.stdout == b"ok"
    assert seen[1] == ("served", mode != "CERT_NONE", mode != "CERT_NONE")
