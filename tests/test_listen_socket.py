"""A server accepts on a socket it is handed (Node's ``server.listen(handle)``), as a process
manager such as gunicorn hands its workers their listening sockets."""
from __future__ import annotations

import socket
import ssl
import threading

import pytest
import trustme

import greentls
from greentls.wsgi import WSGIServer


@pytest.fixture(scope="module")
def pki():
    ca = trustme.CA()
    return ca, ca.issue_cert("localhost", "127.0.0.1")


def _client(ca: trustme.CA, port: int, payload: bytes) -> bytes:
    ctx = ssl.create_default_context()
    ca.configure_trust(ctx)
    with socket.create_connection(("127.0.0.1", port)) as raw, \
            ctx.wrap_socket(raw, server_hostname="localhost") as tls:
        tls.sendall(payload)
        data = b""
        while chunk := tls.recv(4096):  # until the server closes
            data += chunk
        return data


@pytest.mark.parametrize("kind", ["stdlib", "gevent"])
def test_server_accepts_on_a_handed_socket(pki, kind):
    ca, leaf = pki
    import gevent.socket
    module = socket if kind == "stdlib" else gevent.socket
    sock = module.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = greentls.create_server(lambda tls: (tls.sendall(tls.recv(100)), tls.close()),
                                    key=leaf.private_key_pem.bytes(), cert=leaf.cert_chain_pems[0].bytes())
    server.listen(sock=sock)
    try:
        assert server.address()["port"] == port
        result: list[bytes] = []
        thread = threading.Thread(target=lambda: result.append(_client(ca, port, b"ping")))
        thread.start()
        import gevent
        while thread.is_alive():
            gevent.sleep(0.01)
        assert result == [b"ping"]
    finally:
        server.close()


def test_listen_refuses_sock_with_an_address(pki):
    _, leaf = pki
    server = greentls.create_server(key=leaf.private_key_pem.bytes(), cert=leaf.cert_chain_pems[0].bytes())
    with socket.socket() as sock:
        with pytest.raises(ValueError, match="'sock'"):
            server.listen(8443, sock=sock)
        with pytest.raises(TypeError, match=r"'sock' must be a socket\.socket"):
            server.listen(sock="127.0.0.1:8443")  # type: ignore[arg-type]
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with udp, pytest.raises(ValueError, match="SOCK_STREAM"):
        server.listen(sock=udp)


def test_wsgi_server_takes_a_bound_socket(pki):
    ca, leaf = pki
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]

    def app(environ, start_response):
        start_response("200 OK", [("Content-Length", "2")])
        return [environ["SERVER_PORT"].encode()[:0] + b"ok"]

    server = WSGIServer(sock, app, key=leaf.private_key_pem.bytes(), cert=leaf.cert_chain_pems[0].bytes())
    server.start()
    try:
        assert server.address == ("127.0.0.1", port)
        result: list[bytes] = []
        request = b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
        thread = threading.Thread(target=lambda: result.append(_client(ca, port, request)))
        thread.start()
        import gevent
        while thread.is_alive():
            gevent.sleep(0.01)
        assert result and result[0].startswith(b"HTTP/1.1 200")
    finally:
        server.stop(timeout=0)
