"""``create_server(proxy_protocol=True)``: behind HAProxy (``send-proxy`` and ``send-proxy-v2``)
the connection's remote address is the client's, and ``tls_socket.proxy`` the balancer's; a
missing, malformed, oversized, dripped-too-slowly or unauthorised header fails that one
connection with ``ERR_PROXY_PROTOCOL`` (or the handshake timeout) and the server serves on."""
from __future__ import annotations

import json
import socket
import ssl
import struct
import textwrap
import time

import gevent
import pytest
from gevent import subprocess
from helpers import debian_tool, free_port, port_of, serving

import greentls
from greentls import signals

V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"


def report(tls: greentls.TLSSocket) -> None:
    """Tell the client what the server saw."""
    tls.recv(100)
    tls.sendall(json.dumps({"address": tls.remote_address, "port": tls.remote_port,
                            "family": tls.remote_family, "proxy": tls.proxy}).encode())


def _client_ctx(ca_path: str) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=ca_path)
    return ctx


def _ask(port: int, ca_path: str, header: bytes = b"", drip: float = 0.0) -> tuple[dict, int]:
    """Connect (from a thread: the stdlib client blocks), send ``header``, handshake, and read
    the server's report; returns it and the client's own port."""
    def work() -> tuple[dict, int]:
        raw = socket.create_connection(("127.0.0.1", port), timeout=10)
        with raw:
            if drip:
                for byte in header:
                    raw.sendall(bytes([byte]))
                    time.sleep(drip)
            elif header:
                raw.sendall(header)
            own_port = raw.getsockname()[1]
            tls = _client_ctx(ca_path).wrap_socket(raw, server_hostname="localhost", do_handshake_on_connect=False)
            with tls:  # a handshake that fails inside the constructor would leak the SSLSocket
                tls.do_handshake()
                tls.sendall(b"?")
                data = b""
                while chunk := tls.recv(4096):
                    data += chunk
                return json.loads(data), own_port
    return gevent.get_hub().threadpool.apply(work)


def _client_hello() -> bytes:
    """A real ClientHello, from the stdlib's TLS over memory BIOs."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(incoming, outgoing, server_hostname="localhost")
    with pytest.raises(ssl.SSLWantReadError):
        obj.do_handshake()
    return outgoing.read()


def _fails(port: int, header: bytes) -> None:
    """A client that sends ``header`` then a ClientHello: the server refuses it, with no
    ServerHello, and ends the connection with a FIN: it reads the hello it will not answer
    first, since closing with it unread would send a reset (which used to be the answer)."""
    def work() -> tuple[bytes, OSError | None]:
        answer = b""
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
            try:
                raw.sendall(header + _client_hello())
                while chunk := raw.recv(4096):
                    answer += chunk
            except OSError as exc:
                return answer, exc
        return answer, None
    answer, error = gevent.get_hub().threadpool.apply(work)
    assert not answer.startswith(b"\x16"), answer[:20]  # no handshake record came back
    assert error is None, error  # a FIN, not a reset


@pytest.fixture
def errors():
    seen: list[str] = []

    def on_error(server, exception=None, tls_socket=None):
        seen.append(getattr(exception, "code", None))
    signals.tls_client_error.connect(on_error)
    yield seen
    signals.tls_client_error.disconnect(on_error)


def _wait_for(seen: list, n: int) -> None:
    with gevent.Timeout(10):
        while len(seen) < n:
            gevent.sleep(0.02)


def v2(command: int, family: int, body: bytes) -> bytes:
    return V2_SIGNATURE + bytes([command, family]) + struct.pack("!H", len(body)) + body


def test_v1_and_v2_headers_give_the_clients_address(server_options, cert_files):
    with serving(report, proxy_protocol=True, **server_options) as server:
        port = port_of(server)
        seen, client_port = _ask(port, cert_files["ca"], b"PROXY TCP4 192.0.2.7 198.51.100.1 56324 443\r\n")
        assert (seen["address"], seen["port"], seen["family"]) == ("192.0.2.7", 56324, "IPv4")
        assert seen["proxy"] == {"address": "127.0.0.1", "port": client_port, "family": "IPv4"}
        six = socket.inet_pton(socket.AF_INET6, "2001:db8::7") + socket.inet_pton(socket.AF_INET6, "2001:db8::1")
        seen, _ = _ask(port, cert_files["ca"], v2(0x21, 0x21, six + struct.pack("!HH", 4000, 8443)))
        assert (seen["address"], seen["port"], seen["family"]) == ("2001:db8::7", 4000, "IPv6")
        # UNKNOWN (v1) and LOCAL (v2, a health check) keep the connection's own endpoints.
        seen, client_port = _ask(port, cert_files["ca"], b"PROXY UNKNOWN\r\n")
        assert (seen["address"], seen["port"]) == ("127.0.0.1", client_port)
        seen, client_port = _ask(port, cert_files["ca"], v2(0x20, 0x00, b""))
        assert (seen["address"], seen["port"]) == ("127.0.0.1", client_port)
        assert seen["proxy"]["port"] == client_port


def test_without_the_option_nothing_changes(server_options, cert_files):
    with serving(report, **server_options) as server:
        seen, client_port = _ask(port_of(server), cert_files["ca"])
    assert (seen["address"], seen["port"], seen["proxy"]) == ("127.0.0.1", client_port, None)


@pytest.mark.parametrize(("header", "why"), [
    (b"", "no header: a ClientHello first"),
    (b"PROXY TCP4 192.0.2.700 198.51.100.1 1 2\r\n", "a bad address"),
    (b"PROXY TCP4 " + b"1" * 120, "a v1 line without its end"),
    (V2_SIGNATURE + b"\x21\x11\xff\xff", "an oversized v2 header"),
    (b"GET / HTTP/1.1\r\n\r\n", "HTTP"),
])
def test_bad_headers_fail_the_connection_and_the_server_serves_on(server_options, cert_files, errors, header, why):
    with serving(report, proxy_protocol=True, handshake_timeout=5, **server_options) as server:
        port = port_of(server)
        _fails(port, header)
        _wait_for(errors, 1)
        assert errors == ["ERR_PROXY_PROTOCOL"], why
        seen, _ = _ask(port, cert_files["ca"], b"PROXY TCP4 192.0.2.7 198.51.100.1 1 2\r\n")
        assert seen["address"] == "192.0.2.7"


def test_a_peer_outside_proxy_allow_from_is_refused(server_options, cert_files, errors):
    with serving(report, proxy_protocol=True, proxy_allow_from=["10.0.0.0/8", "192.0.2.1"],
                 **server_options) as server:
        _fails(port_of(server), b"PROXY TCP4 192.0.2.7 198.51.100.1 1 2\r\n")
        _wait_for(errors, 1)
    assert errors == ["ERR_PROXY_PROTOCOL"]


def test_a_dripped_header_is_read_whole_and_a_slow_one_times_out(server_options, cert_files, errors):
    header = b"PROXY TCP4 192.0.2.7 198.51.100.1 56324 443\r\n"
    with serving(report, proxy_protocol=True, handshake_timeout=1.5, **server_options) as server:
        port = port_of(server)
        seen, _ = _ask(port, cert_files["ca"], header, drip=0.005)
        assert seen["address"] == "192.0.2.7"
        # One byte every 0.1 s: the handshake timeout covers the header, so it ends the drip.
        with pytest.raises((ssl.SSLError, OSError)):
            _ask(port, cert_files["ca"], header, drip=0.1)
        _wait_for(errors, 1)
    assert errors == ["ERR_TLS_HANDSHAKE_TIMEOUT"]


def test_options_are_checked(server_options):
    with pytest.raises(TypeError, match="proxy_allow_from"):
        greentls.create_server(proxy_protocol=True, proxy_allow_from="127.0.0.1", **server_options)
    with pytest.raises(ValueError, match="not an IP address or CIDR block"):
        greentls.create_server(proxy_protocol=True, proxy_allow_from=["localhost"], **server_options)
    with pytest.raises(TypeError, match="proxy_protocol"):
        greentls.create_server(proxy_protocol="yes", **server_options)


def test_wsgi_remote_addr_comes_from_the_header(server_cert, cert_files):
    from greentls.wsgi import WSGIServer

    def app(environ, start_response):
        body = f"{environ['REMOTE_ADDR']} {environ['REMOTE_PORT']}".encode()
        start_response("200 OK", [("Content-Length", str(len(body)))])
        return [body]

    server = WSGIServer(("127.0.0.1", 0), app, proxy_protocol=True, log=None,
                        key=server_cert.private_key_pem.bytes(),
                        cert=b"".join(b.bytes() for b in server_cert.cert_chain_pems))
    server.start()
    try:
        def work() -> bytes:
            raw = socket.create_connection(("127.0.0.1", server.address[1]), timeout=10)
            raw.sendall(b"PROXY TCP6 2001:db8::7 2001:db8::1 4000 443\r\n")
            with _client_ctx(cert_files["ca"]).wrap_socket(raw, server_hostname="localhost") as tls:
                tls.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
                data = b""
                while chunk := tls.recv(4096):
                    data += chunk
                return data
        response = gevent.get_hub().threadpool.apply(work)
    finally:
        server.stop(timeout=0)
    assert response.endswith(b"2001:db8::7 4000"), response


HAPROXY_CONFIG = textwrap.dedent("""
    global
        log stderr format raw local0 err
    defaults
        mode tcp
        timeout connect 5s
        timeout client 10s
        timeout server 10s
    frontend v1
        bind 127.0.0.1:{v1}
        default_backend greentls_v1
    frontend v2
        bind 127.0.0.1:{v2}
        default_backend greentls_v2
    backend greentls_v1
        server s 127.0.0.1:{port} send-proxy
    backend greentls_v2
        server s 127.0.0.1:{port} send-proxy-v2
""")



def test_behind_haproxy(server_options, cert_files, tmp_path):
    haproxy = debian_tool("haproxy")
    if haproxy is None:
        pytest.skip("haproxy is not installed and cannot be (apt-get install haproxy)")
    with serving(report, proxy_protocol=True, **server_options) as server:
        ports = {"v1": free_port(), "v2": free_port(), "port": port_of(server)}
        config = tmp_path / "haproxy.cfg"
        config.write_text(HAPROXY_CONFIG.format(**ports))
        proc = subprocess.Popen([haproxy, "-f", str(config), "-db"], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        try:
            for front in ("v1", "v2"):
                with gevent.Timeout(10):
                    while True:
                        try:
                            socket.create_connection(("127.0.0.1", ports[front]), timeout=1).close()
                            break
                        except OSError:
                            gevent.sleep(0.05)
                seen, client_port = _ask(ports[front], cert_files["ca"])
                assert (seen["address"], seen["port"]) == ("127.0.0.1", client_port), (front, seen)
                assert seen["proxy"]["address"] == "127.0.0.1"
                assert seen["proxy"]["port"] != client_port  # HAProxy's own connection
        finally:
            proc.kill()
            proc.wait()


def test_a_unix_socket_balancer_is_trusted(server_options, cert_files, tmp_path):
    """HAProxy's ``server s unix@/path send-proxy-v2``: a Unix socket's peer is a local
    process, so it may send the header (it has no address to list in proxy_allow_from)."""
    path = str(tmp_path / "tls.sock")
    server = greentls.create_server(report, proxy_protocol=True, **server_options)
    server.listen(path=path)
    try:
        def work() -> dict:
            raw = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            raw.settimeout(10)
            with raw:
                raw.connect(path)
                four = socket.inet_aton("192.0.2.7") + socket.inet_aton("198.51.100.1")
                raw.sendall(v2(0x21, 0x11, four + struct.pack("!HH", 56324, 443)))
                tls = _client_ctx(cert_files["ca"]).wrap_socket(raw, server_hostname="localhost",
                                                               do_handshake_on_connect=False)
                with tls:
                    tls.do_handshake()
                    tls.sendall(b"?")
                    data = b""
                    while chunk := tls.recv(4096):
                        data += chunk
                    return json.loads(data)
        seen = gevent.get_hub().threadpool.apply(work)
    finally:
        server.stop(timeout=1)
    assert (seen["address"], seen["port"], seen["family"]) == ("192.0.2.7", 56324, "IPv4")
    assert seen["proxy"] == {"address": None, "port": None, "family": None}


def test_ipv4_mapped_allow_entries_match_ipv4_peers():
    from greentls._io.proxy import ProxyPolicy
    policy = ProxyPolicy(["::ffff:127.0.0.1", "::ffff:10.0.0.0/104"])
    assert policy.allows(("127.0.0.1", 1)) and policy.allows(("::ffff:127.0.0.1", 1, 0, 0))
    assert policy.allows(("10.9.8.7", 1)) and not policy.allows(("11.0.0.1", 1))
    assert not ProxyPolicy(["10.0.0.0/8"]).allows(("::1", 1, 0, 0))
