"""Code nobody here wrote, over greentls.SSLContext, verification on: the stdlib's clients
(http.client, urllib, smtplib, imaplib, ftplib, xmlrpc, asyncio), requests and urllib3, and
servers built on socketserver; peers are Node, curl, openssl and the stdlib's own ssl.
inject_into_ssl() puts all of them on greentls without a change to their code."""
from __future__ import annotations

import asyncio
import contextlib
import ftplib
import hashlib
import http.client
import http.server
import imaplib
import os
import smtplib
import socket
import socketserver
import ssl
import subprocess as std_subprocess
import sys
import textwrap
import threading
import urllib.request
import xmlrpc.client
import xmlrpc.server
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import urllib3
from helpers import CURL, NODE, PY, node_server, run

import greentls

NODE_HTTPS = r"""
const https = require('https'); const fs = require('fs');
const [key, cert] = process.argv.slice(2);
const srv = https.createServer({key: fs.readFileSync(key), cert: fs.readFileSync(cert)},
  (req, res) => { let body = ''; req.on('data', d => body += d);
                  req.on('end', () => { res.setHeader('content-type', 'text/plain');
                    res.end(req.method + ' ' + req.url + ' ' + req.socket.getProtocol() + ' ' + body); }); });
srv.listen(0, '127.0.0.1', () => console.log(srv.address().port));
"""


@pytest.fixture
def node_https(need_node, cert_files) -> Iterator[int]:
    with node_server(NODE_HTTPS, cert_files["key"], cert_files["cert"]) as port:
        yield port


@pytest.fixture
def injected() -> Iterator[None]:
    greentls.inject_into_ssl()
    try:
        yield
    finally:
        greentls.extract_from_ssl()


def client_ctx(cert_files: dict) -> greentls.SSLContext:
    return greentls.create_default_context(cafile=cert_files["ca"])


def server_ctx(cert_files: dict) -> greentls.SSLContext:
    ctx = greentls.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert_files["cert"], cert_files["key"])
    return ctx


# -- clients --------------------------------------------------------------------------------------

def test_http_client(node_https, cert_files):
    """http.client.HTTPSConnection(context=greentls ctx) against Node's https."""
    conn = http.client.HTTPSConnection("localhost", node_https, context=client_ctx(cert_files), timeout=10)
    conn.request("POST", "/h", body=b"abc")
    assert conn.getresponse().read() == b"POST /h TLSv1.3 abc"
    assert isinstance(conn.sock, greentls.SSLSocket)
    conn.close()


def test_urllib_request(node_https, cert_files):
    """urllib.request.urlopen(context=greentls ctx) against Node's https."""
    with urllib.request.urlopen(f"https://localhost:{node_https}/u", context=client_ctx(cert_files),
                                timeout=10) as response:
        assert response.read() == b"GET /u TLSv1.3 "


def test_requests_adapter(node_https, cert_files):
    """requests with an HTTPAdapter handing urllib3 a greentls context; an unknown CA fails verification."""
    from requests.adapters import HTTPAdapter

    class GreenAdapter(HTTPAdapter):
        def __init__(self, context: ssl.SSLContext) -> None:
            self.context = context
            super().__init__()

        def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
            kwargs["ssl_context"] = self.context
            super().init_poolmanager(*args, **kwargs)

    with requests.Session() as session:
        session.mount("https://", GreenAdapter(client_ctx(cert_files)))
        response = session.post(f"https://localhost:{node_https}/r", data=b"xyz", verify=cert_files["ca"], timeout=10,
                                stream=True)
        assert isinstance(response.raw._connection.sock, greentls.SSLSocket)
        assert response.content == b"POST /r TLSv1.3 xyz"
    with requests.Session() as session:
        session.mount("https://", GreenAdapter(greentls.SSLContext(ssl.PROTOCOL_TLS_CLIENT)))
        with pytest.raises(requests.exceptions.SSLError):
            session.get(f"https://localhost:{node_https}/", verify=True, timeout=10)


def test_requests_injected(node_https, cert_files, injected, monkeypatch):
    """After inject_into_ssl(), plain requests.get(verify=ca) runs on greentls; without the CA it
    fails verification."""
    seen: list = []
    original = greentls.SSLSocket._create.__func__  # type: ignore[attr-defined]

    def spy(cls, *args, **kwargs):
        seen.append(args[1])  # the context
        return original(cls, *args, **kwargs)

    monkeypatch.setattr(greentls.SSLSocket, "_create", classmethod(spy))
    response = requests.get(f"https://localhost:{node_https}/i", verify=cert_files["ca"], timeout=10)
    assert response.text == "GET /i TLSv1.3 "
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(f"https://localhost:{node_https}/", timeout=10)  # certifi's roots only
    assert len(seen) == 2 and all(isinstance(c, greentls.SSLContext) for c in seen)


def test_urllib3_poolmanager(node_https, cert_files):
    """urllib3.PoolManager(ssl_context=greentls ctx), verifying."""
    with urllib3.PoolManager(ssl_context=client_ctx(cert_files), ca_certs=cert_files["ca"]) as pool:
        response = pool.request("GET", f"https://localhost:{node_https}/p", timeout=10)
        assert response.data == b"GET /p TLSv1.3 "


class _LineServer:
    """A tiny line protocol server on an OS thread, TLS by the stdlib's own ssl: ``script`` is
    called with (reader, writer, upgrade) per connection; upgrade() wraps for STARTTLS."""

    def __init__(self, cert_files: dict, script: Any, implicit_tls: bool) -> None:
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(cert_files["cert"], cert_files["key"])
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.script = script
        self.implicit = implicit_tls
        self.log: list = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        raw, _ = self.listener.accept()
        sock = self.context.wrap_socket(raw, server_side=True) if self.implicit else raw
        state = {"sock": sock}

        def upgrade() -> None:
            state["sock"] = self.context.wrap_socket(state["sock"], server_side=True)

        try:
            self.script(state, upgrade, self.log)
        except Exception as exc:  # the test looks at the log
            self.log.append(repr(exc))
        finally:
            state["sock"].close()

    def close(self) -> None:
        self.thread.join(10)
        self.listener.close()


def _readline(state: dict) -> bytes:
    line = b""
    while not line.endswith(b"\n"):
        chunk = state["sock"].recv(1)
        if not chunk:
            break
        line += chunk
    return line


def _smtp_script(state: dict, upgrade: Any, log: list) -> None:
    def send(text: str) -> None:
        state["sock"].sendall(text.encode() + b"\r\n")

    send("220 test ESMTP")
    while line := _readline(state):
        command = line.decode().strip()
        log.append(command.split(" ")[0].upper())
        verb = command.split(" ")[0].upper()
        if verb == "EHLO":
            send("250-test\r\n250 STARTTLS" if not isinstance(state["sock"], ssl.SSLSocket) else "250 test")
        elif verb == "STARTTLS":
            send("220 go ahead")
            upgrade()
            log.append(state["sock"].version())
        elif verb == "NOOP":
            send("250 ok")
        elif verb == "QUIT":
            send("221 bye")
            return


@pytest.mark.parametrize("mode", ["SMTP_SSL", "starttls"])
def test_smtplib(mode, cert_files):
    """smtplib.SMTP_SSL and SMTP.starttls(context=greentls ctx) against a stdlib-ssl SMTP server."""
    server = _LineServer(cert_files, _smtp_script, implicit_tls=mode == "SMTP_SSL")
    try:
        ctx = client_ctx(cert_files)
        if mode == "SMTP_SSL":
            client = smtplib.SMTP_SSL("localhost", server.port, context=ctx, timeout=10)
        else:
            client = smtplib.SMTP("localhost", server.port, timeout=10)
            client.ehlo()
            client.starttls(context=ctx)
        assert isinstance(client.sock, greentls.SSLSocket)
        assert client.noop()[0] == 250
        client.quit()
    finally:
        server.close()
    assert "NOOP" in server.log and "QUIT" in server.log
    if mode == "starttls":
        assert "TLSv1.3" in server.log


def _imap_script(state: dict, upgrade: Any, log: list) -> None:
    sock = state["sock"]
    sock.sendall(b"* OK [CAPABILITY IMAP4rev1] test ready\r\n")
    while line := _readline(state):
        tag, command = line.decode().strip().split(" ", 2)[:2]
        log.append(command.upper())
        if command.upper() == "CAPABILITY":
            sock.sendall(f"* CAPABILITY IMAP4rev1\r\n{tag} OK CAPABILITY completed\r\n".encode())
        elif command.upper() == "LOGIN":
            sock.sendall(f"{tag} OK LOGIN completed\r\n".encode())
        elif command.upper() == "NOOP":
            sock.sendall(f"{tag} OK NOOP completed\r\n".encode())
        elif command.upper() == "LOGOUT":
            sock.sendall(f"* BYE\r\n{tag} OK LOGOUT completed\r\n".encode())
            return
        else:
            sock.sendall(f"{tag} BAD unknown\r\n".encode())


def test_imaplib(cert_files):
    """imaplib.IMAP4_SSL(ssl_context=greentls ctx) against a stdlib-ssl IMAP responder."""
    server = _LineServer(cert_files, _imap_script, implicit_tls=True)
    try:
        client = imaplib.IMAP4_SSL("localhost", server.port, ssl_context=client_ctx(cert_files), timeout=10)
        assert isinstance(client.sock, greentls.SSLSocket)
        assert client.login("user", "pass")[0] == "OK"
        assert client.noop()[0] == "OK"
        client.logout()
    finally:
        server.close()
    assert server.log[-3:] == ["LOGIN", "NOOP", "LOGOUT"]


def test_ftplib_ftp_tls(cert_files, tmp_path):
    """ftplib.FTP_TLS(context=greentls ctx) against pyftpdlib's TLS_FTPHandler: a protected (PROT P)
    upload and download, the data connection resuming the control connection's session."""
    import warnings
    with warnings.catch_warnings():  # pyftpdlib imports asyncore, deprecated in Python 3.11
        warnings.simplefilter("ignore", DeprecationWarning)
        from pyftpdlib.authorizers import DummyAuthorizer
        from pyftpdlib.handlers import TLS_FTPHandler
        from pyftpdlib.servers import ThreadedFTPServer

    root = tmp_path / "ftp"
    root.mkdir()
    authorizer = DummyAuthorizer()
    authorizer.add_user("user", "12345", str(root), perm="elradfmw")

    class Handler(TLS_FTPHandler):
        pass

    Handler.authorizer = authorizer
    Handler.certfile = cert_files["cert"]
    Handler.keyfile = cert_files["key"]
    Handler.tls_control_required = True
    Handler.tls_data_required = True
    Handler.log_prefix = ""
    import logging
    logging.getLogger("pyftpdlib").setLevel(logging.WARNING)
    server = ThreadedFTPServer(("127.0.0.1", 0), Handler)
    port = server.address[1]
    thread = threading.Thread(target=server.serve_forever, kwargs={"timeout": 0.2}, daemon=True)
    thread.start()
    payload = os.urandom(200_000)
    try:
        ftp = ftplib.FTP_TLS(context=client_ctx(cert_files), timeout=10)
        ftp.connect("localhost", port)
        ftp.login("user", "12345")
        ftp.prot_p()
        assert isinstance(ftp.sock, greentls.SSLSocket)
        import io
        ftp.storbinary("STOR data.bin", io.BytesIO(payload))
        got = bytearray()
        ftp.retrbinary("RETR data.bin", got.extend)
        ftp.quit()
    finally:
        server.close_all()
        thread.join(5)
    stored = (root / "data.bin").read_bytes()
    assert (len(stored), len(got)) == (len(payload), len(payload))
    assert bytes(got) == payload and stored == payload


def test_xmlrpc_both_ways(cert_files):
    """xmlrpc.client.ServerProxy(context=greentls ctx) calls a SimpleXMLRPCServer whose socket is
    wrapped by greentls.SSLContext (so both ends are greentls, neither end's code ours)."""
    server = xmlrpc.server.SimpleXMLRPCServer(("127.0.0.1", 0), logRequests=False)
    server.register_function(lambda a, b: a + b, "add")
    server.socket = server_ctx(cert_files).wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        proxy = xmlrpc.client.ServerProxy(f"https://localhost:{server.server_address[1]}/",
                                          context=client_ctx(cert_files))
        assert proxy.add(2, 40) == 42
        # and the stdlib's own client against the greentls server
        std = xmlrpc.client.ServerProxy(f"https://localhost:{server.server_address[1]}/",
                                        context=ssl.create_default_context(cafile=cert_files["ca"]))
        assert std.add("a", "b") == "ab"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_asyncio_over_sslobject(node_https, cert_files):
    """asyncio's SSL transport drives greentls.SSLObject (wrap_bio) against Node's https."""
    ctx = client_ctx(cert_files)

    async def fetch() -> bytes:
        reader, writer = await asyncio.open_connection("localhost", node_https, ssl=ctx)
        assert isinstance(writer.get_extra_info("ssl_object"), greentls.SSLObject)
        writer.write(b"GET /a HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        data = await reader.read()
        writer.close()
        try:
            await writer.wait_closed()
        except (ssl.SSLError, ConnectionError):
            pass
        return data

    assert asyncio.run(fetch()).endswith(b"GET /a TLSv1.3 ")


def test_sslobject_pair_by_hand(cert_files):
    """Two SSLObjects over MemoryBIOs: handshake, data both ways, close_notify, WantRead errors."""
    server = server_ctx(cert_files).wrap_bio(ssl.MemoryBIO(), ssl.MemoryBIO(), server_side=True)
    client = client_ctx(cert_files).wrap_bio(ssl.MemoryBIO(), ssl.MemoryBIO(), server_hostname="localhost")

    def pump() -> None:
        client._incoming.write(server._outgoing.read())
        server._incoming.write(client._outgoing.read())

    for _ in range(10):
        done = 0
        for end in (client, server):
            try:
                end.do_handshake()
                done += 1
            except ssl.SSLWantReadError:
                pass
        pump()
        if done == 2:
            break
    assert client.version() == server.version() == "TLSv1.3"
    assert client.getpeercert()["subjectAltName"][0] == ("DNS", "localhost")
    assert client.write(b"ping") == 4
    pump()
    assert server.read(10) == b"ping"
    with pytest.raises(ssl.SSLWantReadError):
        server.read(10)
    with pytest.raises(ssl.SSLWantReadError):
        client.unwrap()
    pump()
    assert server.read(10) == b""  # the client's close_notify


# -- servers --------------------------------------------------------------------------------------

class _Hello(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        body = f"hello {self.request.version()} {type(self.request).__name__}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        data = self.rfile.read(int(self.headers["Content-Length"]))
        body = hashlib.sha256(data).hexdigest().encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@contextlib.contextmanager
def https_server(ctx: ssl.SSLContext) -> Iterator[int]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
    httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)  # the tutorial recipe
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        yield httpd.server_address[1]
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def test_threading_http_server_with_curl_node_openssl(cert_files, need_curl, need_node, need_openssl):
    """ThreadingHTTPServer with httpd.socket = ctx.wrap_socket(..., server_side=True): curl, Node and
    openssl s_client (verifying) get pages; the handler sees a greentls.SSLSocket."""
    with https_server(server_ctx(cert_files)) as port:
        result = run([CURL, "-sS", "--max-time", "10", "--cacert", cert_files["ca"], f"https://localhost:{port}/"])
        assert result.stdout == b"hello TLSv1.3 SSLSocket"
        script = r"""
        const https = require('https'); const fs = require('fs'); const [port, ca] = process.argv.slice(2);
        https.get({host: 'localhost', port, ca: fs.readFileSync(ca), maxVersion: 'TLSv1.2'}, res => {
          let b = ''; res.on('data', d => b += d); res.on('end', () => console.log(JSON.stringify(b))); });
        """
        out = run([NODE, "-e", script, "--", "[eval]", str(port), cert_files["ca"]]).stdout.decode().strip()
        assert out == '"hello TLSv1.2 SSLSocket"'
        result = run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-servername", "localhost",
                      "-verify_return_error", "-CAfile", cert_files["ca"], "-quiet"],
                     input=b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n", check=False)
        assert result.stdout.endswith(b"hello TLSv1.3 SSLSocket"), result


def test_threading_http_server_payload_integrity_over_threads(cert_files):
    """Eight client threads POST 512 KiB each to the thread-per-connection server; every digest matches."""
    with https_server(server_ctx(cert_files)) as port:
        ctx = client_ctx(cert_files)
        results: dict = {}

        def post(i: int) -> None:
            data = os.urandom(512 * 1024)
            conn = http.client.HTTPSConnection("localhost", port, context=ctx, timeout=20)
            conn.request("POST", "/", body=data)
            results[i] = conn.getresponse().read().decode() == hashlib.sha256(data).hexdigest()
            conn.close()

        threads = [threading.Thread(target=post, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    assert results == dict.fromkeys(range(8), True)


def test_socketserver_thread_per_connection_with_requests(cert_files):
    """socketserver.ThreadingTCPServer + StreamRequestHandler on a greentls-wrapped socket echoes
    lines for several clients (requests is not needed: the stdlib's ssl and greentls clients)."""
    class Echo(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            while line := self.rfile.readline():
                self.wfile.write(line.upper())

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Echo)
    server.daemon_threads = True
    server.socket = server_ctx(cert_files).wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        for ctx in (client_ctx(cert_files), ssl.create_default_context(cafile=cert_files["ca"])):
            with socket.create_connection(server.server_address) as raw, \
                    ctx.wrap_socket(raw, server_hostname="localhost") as tls:
                f = tls.makefile("rwb")
                for word in (b"one\n", b"two\n"):
                    f.write(word)
                    f.flush()
                    assert f.readline() == word.upper()
                f.close()
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_monkey_patched_gevent_program(cert_files):
    """A gevent program (monkey.patch_all, then inject_into_ssl): ThreadingHTTPServer serves and
    urllib fetches concurrently, verifying; a ticker greenlet keeps running meanwhile."""
    script = textwrap.dedent("""
        from gevent import monkey; monkey.patch_all()
        import sys, ssl, threading, http.server, urllib.request, gevent, greentls
        greentls.inject_into_ssl()
        cert, key, ca = sys.argv[1:4]
        class H(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                gevent.sleep(0.05)
                body = (self.path + " " + type(self.request).__name__).encode()
                self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers()
                self.wfile.write(body)
            def log_message(self, *a): pass
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(cert, key)
        httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        port = httpd.server_address[1]
        ticks = []
        ticker = gevent.spawn(lambda: [ticks.append(gevent.sleep(0.005)) for _ in range(10000)])
        client = ssl.create_default_context(cafile=ca)
        fetch = lambda i: urllib.request.urlopen(f"https://localhost:{port}/{i}", context=client).read().decode()
        jobs = [gevent.spawn(fetch, i) for i in range(10)]
        gevent.joinall(jobs, raise_error=True)
        ticker.kill()
        print(type(client).__module__, sorted(j.value for j in jobs)[0], len(ticks) > 5)
        httpd.shutdown()
    """)
    result = run([PY, "-c", script, cert_files["cert"], cert_files["key"], cert_files["ca"]], timeout=60)
    assert result.stdout.decode().split() == ["greentls._app.stdlib", "/0", "SSLSocket", "True"]


# -- inject_into_ssl -------------------------------------------------------------------------------

def test_inject_and_extract_restore_exactly():
    """inject_into_ssl swaps ssl.SSLContext (and urllib3's and requests' references);
    extract_from_ssl puts back the very same objects; both are idempotent."""
    from requests import adapters
    from urllib3.util import ssl_ as urllib3_ssl
    before = (ssl.SSLContext, urllib3_ssl.SSLContext, getattr(adapters, "_preloaded_ssl_context", None),
              ssl.create_default_context)
    greentls.inject_into_ssl()
    greentls.inject_into_ssl()
    try:
        assert ssl.SSLContext is greentls.SSLContext and urllib3_ssl.SSLContext is greentls.SSLContext
        assert isinstance(ssl.create_default_context(), greentls.SSLContext)
        assert isinstance(ssl._create_unverified_context(), greentls.SSLContext)
        if before[2] is not None:
            assert isinstance(adapters._preloaded_ssl_context, greentls.SSLContext)
        # the stdlib's property setters go through the module global: no recursion once injected
        ctx = ssl.create_default_context()
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
        ctx.verify_flags |= ssl.VERIFY_X509_STRICT
        assert ctx.minimum_version == ssl.TLSVersion.TLSv1_3
    finally:
        greentls.extract_from_ssl()
        greentls.extract_from_ssl()
    after = (ssl.SSLContext, urllib3_ssl.SSLContext, getattr(adapters, "_preloaded_ssl_context", None),
             ssl.create_default_context)
    assert all(a is b for a, b in zip(before, after, strict=True))
    assert type(ssl.create_default_context()) is ssl.SSLContext


def test_injected_http_client_default_context(node_https, cert_files, injected, monkeypatch):
    """Injected: http.client with no context (the stdlib's default, SSL_CERT_FILE trusted) is greentls."""
    monkeypatch.setenv("SSL_CERT_FILE", cert_files["ca"])
    conn = http.client.HTTPSConnection("localhost", node_https, timeout=10)
    conn.request("GET", "/default")
    assert conn.getresponse().read() == b"GET /default TLSv1.3 "
    assert isinstance(conn.sock, greentls.SSLSocket)
    conn.close()


def test_injected_stdlib_only_child_process(cert_files, node_https):
    """A program that only calls inject_into_ssl() and then uses urllib as usual (no context
    argument at all) verifies against SSL_CERT_FILE, on greentls."""
    script = textwrap.dedent("""
        import sys, urllib.request, greentls
        greentls.inject_into_ssl()
        with urllib.request.urlopen(f"https://localhost:{sys.argv[1]}/child") as r:
            name = type(r.fp.raw._sock).__name__
            print(r.read().decode(), name)
    """)
    env = dict(os.environ, SSL_CERT_FILE=cert_files["ca"])
    result = std_subprocess.run([sys.executable, "-c", script, str(node_https)], capture_output=True, env=env,
                                timeout=30, check=False)
    assert result.stdout.decode().split() == ["GET", "/child", "TLSv1.3", "SSLSocket"], result.stderr


def test_asyncio_server_over_sslobject(cert_files, need_curl):
    """asyncio.start_server(ssl=greentls ctx): server-side SSLObjects, curl verifying, SNI callback heard."""
    ctx = server_ctx(cert_files)
    names: list = []
    ctx.sni_callback = lambda obj, name, context: names.append((type(obj).__name__, name))

    async def main() -> bytes:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readuntil(b"\r\n\r\n")
            version = writer.get_extra_info("ssl_object").version()
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\nConnection: close\r\n\r\n" + version.encode())
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=ctx)
        port = server.sockets[0].getsockname()[1]
        proc = await asyncio.create_subprocess_exec(
            CURL, "-sS", "--max-time", "10", "--cacert", cert_files["ca"], f"https://localhost:{port}/",
            stdout=asyncio.subprocess.PIPE)
        out, _ = await proc.communicate()
        server.close()
        await server.wait_closed()
        return out

    assert asyncio.run(main()) == b"TLSv1.3"
    assert names == [("SSLObject", "localhost")]
