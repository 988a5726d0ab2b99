"""The spine against real peers: Node's tls, openssl s_client, curl and Python's ssl."""
from __future__ import annotations

import socket
import ssl

import gevent
import pytest
from helpers import CURL, echo, node, node_server, openssl, port_of, run, serving

import greentls

VERSIONS = ["TLSv1.2", "TLSv1.3"]

NODE_CLIENT = r"""
const tls = require('tls'); const fs = require('fs');
const [port, ca, version, payload] = process.argv.slice(2);
const s = tls.connect({port: +port, host: '127.0.0.1', servername: 'localhost', ca: fs.readFileSync(ca),
                       maxVersion: version, minVersion: version}, () => { s.write(payload); });
let got = '';
s.on('data', d => { got += d; if (got.length >= payload.length) {
  console.log(JSON.stringify({got, authorized: s.authorized, protocol: s.getProtocol(),
                              cipher: s.getCipher()})); s.end(); } });
s.on('error', e => { console.log(JSON.stringify({error: e.code || e.message})); process.exit(0); });
"""

NODE_ECHO_SERVER = r"""
const tls = require('tls'); const fs = require('fs');
const [key, cert, version] = process.argv.slice(2);
const srv = tls.createServer({key: fs.readFileSync(key), cert: fs.readFileSync(cert),
                              maxVersion: version}, s => s.pipe(s));
srv.listen(0, '127.0.0.1', () => console.log(srv.address().port));
"""


@pytest.mark.parametrize("version", VERSIONS)
def test_greentls_client_and_server_echo(version, server_options, client_options):
    """A greentls client and server echo over each TLS version and agree on it."""
    with serving(echo, max_version=version, **server_options) as server:
        with greentls.connect(port_of(server), "127.0.0.1", **client_options) as tls:
            tls.sendall(b"ping")
            assert tls.recv(10) == b"ping"
            assert tls.get_protocol() == version
            assert tls.authorized is True
            assert tls.authorization_error is None


@pytest.mark.parametrize("version", VERSIONS)
def test_node_client_against_greentls_server(version, need_node, server_options, cert_files):
    """Node's tls client verifies our certificate and gets its bytes echoed."""
    with serving(echo, **server_options) as server:
        result = node(NODE_CLIENT, port_of(server), cert_files["ca"], version, "hello from node")
    assert result["got"] == "hello from node"
    assert result["authorized"] is True
    assert result["protocol"] == version


@pytest.mark.parametrize("version", VERSIONS)
def test_greentls_client_against_node_server(version, need_node, cert_files, client_options):
    """Our client verifies a Node server and echoes through it."""
    with node_server(NODE_ECHO_SERVER, cert_files["key"], cert_files["cert"], version) as port:
        with greentls.connect(port, "localhost", **client_options) as tls:
            tls.sendall(b"x" * 100000)
            received = b""
            while len(received) < 100000:
                received += tls.recv(65536)
            assert received == b"x" * 100000
            assert tls.get_protocol() == version
            assert tls.authorized


@pytest.mark.parametrize("flag", ["-tls1_2", "-tls1_3"])
def test_openssl_s_client_against_greentls_server(flag, need_openssl, server_options, cert_files):
    """openssl s_client verifies the chain (return code 0) and gets its line echoed."""
    def echo_line(tls):
        line = b""
        while not line.endswith(b"\n"):
            chunk = tls.recv(100)
            if not chunk:
                break
            line += chunk
        tls.sendall(line)

    with serving(echo_line, **server_options) as server:
        result = openssl(["s_client", "-connect", f"127.0.0.1:{port_of(server)}", flag, "-CAfile",
                          cert_files["ca"], "-servername", "localhost", "-verify_return_error",
                          "-ign_eof"], input=b"hello openssl\n", timeout=20)
    out = result.stdout.decode(errors="replace")
    assert "Verify return code: 0 (ok)" in out
    assert "hello openssl" in out  # s_client prints only what the server sent


def test_curl_against_greentls_server(need_curl, server_options, cert_files):
    """curl verifies the server and reads an HTTP response written over a TLSSocket."""
    def http(tls):
        request = b""
        while b"\r\n\r\n" not in request:
            chunk = tls.recv(4096)
            if not chunk:
                return
            request += chunk
        body = b"hello curl\n"
        tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body))

    with serving(http, **server_options) as server:
        result = run([CURL, "-sS", "--cacert", cert_files["ca"], f"https://localhost:{port_of(server)}/"],
                     timeout=20)
    assert result.stdout == b"hello curl\n"


def test_python_ssl_client_against_greentls_server(server_options, cert_files):
    """The stdlib ssl module (in a thread, blocking) talks to a greentls server."""
    with serving(echo, **server_options) as server:
        port = port_of(server)
        context = ssl.create_default_context(cafile=cert_files["ca"])
        outcome = {}

        def client():
            with socket.create_connection(("127.0.0.1", port)) as raw:
                with context.wrap_socket(raw, server_hostname="localhost") as tls:
                    tls.sendall(b"stdlib")
                    outcome["echo"] = tls.recv(10)
                    outcome["version"] = tls.version()

        thread = gevent.get_hub().threadpool.spawn(client)
        thread.get(timeout=20)
    assert outcome == {"echo": b"stdlib", "version": "TLSv1.3"}


def test_greentls_client_against_python_ssl_server(server_cert, client_options):
    """Our client talks to a stdlib ssl server running in a thread."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_cert.configure_cert(context)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]

    def serve():
        conn, _ = listener.accept()
        with context.wrap_socket(conn, server_side=True) as tls:
            tls.sendall(tls.recv(100).upper())
            tls.recv(100)

    worker = gevent.get_hub().threadpool.spawn(serve)
    with greentls.connect(port, "localhost", **client_options) as tls:
        tls.sendall(b"shout")
        assert tls.recv(100) == b"SHOUT"
    worker.get(timeout=20)
    listener.close()


def test_two_hundred_concurrent_clients(server_options, client_options):
    """200 clients at once each get exactly their own bytes back through one server."""
    with serving(echo, **server_options) as server:
        port = port_of(server)

        def one(i):
            with greentls.connect(port, "127.0.0.1", **client_options) as tls:
                message = b"client %d " % i * 50
                tls.sendall(message)
                received = b""
                while len(received) < len(message):
                    received += tls.recv(65536)
                return received == message

        jobs = [gevent.spawn(one, i) for i in range(200)]
        gevent.joinall(jobs, timeout=60, raise_error=True)
    assert all(job.value for job in jobs)
