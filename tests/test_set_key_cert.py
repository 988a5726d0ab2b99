"""``TLSSocket.set_key_cert`` (Node's ``setKeyCert``): a server socket serves another
certificate, chain included, when called before its handshake; a client answers a TLS 1.3
post-handshake certificate request with the certificate it was given after its handshake; a
TLS 1.3 server after its handshake, and bad arguments, are refused by name."""
from __future__ import annotations

import socket
import ssl

import gevent
import pytest
import trustme
from gevent import socket as gsocket
from helpers import openssl, port_of, serving

import greentls


@pytest.fixture(scope="module")
def other() -> tuple[trustme.CA, trustme.LeafCert]:
    """A second identity: another CA (with an intermediate, so a chain must be sent) and a leaf."""
    root = trustme.CA()
    intermediate = root.create_child_ca()
    return root, intermediate.issue_cert("localhost", "127.0.0.1", common_name="other")


def _pem(leaf: trustme.LeafCert) -> dict:
    return {"key": leaf.private_key_pem.bytes(), "cert": b"".join(b.bytes() for b in leaf.cert_chain_pems)}


def _stdlib_client(port: int, ca: trustme.CA) -> dict:
    ctx = ssl.create_default_context()
    ca.configure_trust(ctx)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw, \
            ctx.wrap_socket(raw, server_hostname="localhost") as tls:
        cert = tls.getpeercert()
        tls.recv(10)
        return cert


def test_a_server_socket_serves_the_new_certificate_and_its_chain(server_options, other):
    """Called before the handshake: the stdlib client verifies the other CA's chain (which
    needs the intermediate the new context carries) and sees the other certificate."""
    root, leaf = other
    listener = gsocket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(5)
    port = listener.getsockname()[1]

    def serve() -> None:
        conn, _ = listener.accept()
        tls = greentls.TLSSocket(conn, is_server=True, **server_options)
        tls.set_key_cert(_pem(leaf))
        tls.do_handshake()
        tls.sendall(b"hi")
        tls.close()

    server = gevent.spawn(serve)
    try:
        cert = gevent.get_hub().threadpool.apply(_stdlib_client, (port, root))
        server.get(timeout=10)
    finally:
        listener.close()
    assert dict(pair[0] for pair in cert["subject"])["commonName"] == "other"


def test_a_client_answers_post_handshake_auth_with_the_new_certificate(server_options, client_options, other,
                                                                       ca, client_cert):
    """TLS 1.3: connected without a certificate, the client is given one; the server's
    post-handshake request is answered with it (and verified against the server's trust)."""
    seen: dict = {}

    def handler(tls: greentls.TLSSocket) -> None:
        tls.verify_client_post_handshake()
        tls.sendall(b"asked")
        seen["data"] = tls.recv(100)
        seen["peer"] = (tls.authorized, tls.get_peer_certificate()["subject"]["CN"])
        tls.sendall(b"done")

    options = {**server_options, "ca": ca.cert_pem.bytes(), "post_handshake_auth": True}
    with serving(handler, **options) as server:
        tls = greentls.connect(port_of(server), "127.0.0.1", servername="localhost", post_handshake_auth=True,
                               **client_options)
        tls.set_key_cert(_pem(client_cert))
        assert tls.recv(100) == b"asked"  # this read answers the request
        tls.sendall(b"hello")
        assert tls.recv(100) == b"done"
        tls.close()
    assert seen == {"data": b"hello", "peer": (True, "test client")}


def test_a_tls13_server_after_its_handshake_is_refused(server_options, client_options, other):
    errors: list = []

    def handler(tls: greentls.TLSSocket) -> None:
        try:
            tls.set_key_cert(_pem(other[1]))
        except greentls.TLSError as exc:
            errors.append(exc.code)
        tls.sendall(b"x")

    with serving(handler, **server_options) as server:
        tls = greentls.connect(port_of(server), "127.0.0.1", servername="localhost", **client_options)
        assert tls.recv(10) == b"x"
        tls.close()
    assert errors == ["ERR_TLS_SET_KEY_CERT_AFTER_HANDSHAKE"]


def test_bad_arguments_are_refused_by_name(server_options):
    a, b = socket.socketpair()
    with a, b:
        tls = greentls.TLSSocket(a, is_server=True, **server_options)
        with pytest.raises(TypeError, match="set_key_cert: 'context'"):
            tls.set_key_cert("cert.pem")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="no key and certificate"):
            tls.set_key_cert({"ca": server_options["cert"]})
        tls.close()
        with pytest.raises(greentls.TLSError, match="closed"):
            tls.set_key_cert(server_options)


def test_connect_can_trace(server_options, client_options):
    """connect(enable_trace=True): the client's handshake messages reach the trace signal."""
    lines: list = []

    def on_trace(sender, line=None):
        lines.append(line)
    greentls.signals.trace.connect(on_trace)
    try:
        with serving(lambda tls: tls.sendall(b"x"), **server_options) as server:
            tls = greentls.connect(port_of(server), "127.0.0.1", servername="localhost", enable_trace=True,
                                   **client_options)
            assert tls.recv(10) == b"x"
            tls.close()
    finally:
        greentls.signals.trace.disconnect(on_trace)
    assert any("-> ClientHello" in line for line in lines) and any("<- ServerHello" in line for line in lines)
    with pytest.raises(TypeError, match="enable_trace"):
        greentls.connect(1, "127.0.0.1", enable_trace="yes")


def _pfx(leaf: trustme.LeafCert, *cas: trustme.CA) -> bytes:
    """A PKCS#12 of ``leaf`` with ``cas`` as its extra certificates, unencrypted."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.serialization import pkcs12
    key = serialization.load_pem_private_key(leaf.private_key_pem.bytes(), None)
    cert = x509.load_pem_x509_certificate(leaf.cert_chain_pems[0].bytes())
    extra = [x509.load_pem_x509_certificate(blob.bytes()) for blob in leaf.cert_chain_pems[1:]]
    extra += [x509.load_pem_x509_certificate(ca.cert_pem.bytes()) for ca in cas]
    return pkcs12.serialize_key_and_certificates(b"id", key, cert, extra, serialization.NoEncryption())  # type: ignore[arg-type]


@pytest.mark.parametrize("as_context", [False, True], ids=["dict", "SecureContext"])
@pytest.mark.parametrize("material", ["pem", "pfx", "default-trust"])
def test_the_connection_keeps_its_trust(server_options, ca, client_cert, other, cert_files, tmp_path, as_context,
                                        material, restore_default):
    """Only the key material changes, as Node's setKeyCert swaps only key, certificate and
    chain: a server that trusts its own CA for client certificates still refuses a client whose
    certificate comes from the new identity's CA, and still accepts its own CA's client
    (``openssl s_client`` as the peer)."""
    root, leaf = other
    stranger = root.issue_cert("stranger@example.com")  # trusted by the new identity's CA only
    stranger_cert, stranger_key = tmp_path / "s-cert.pem", tmp_path / "s-key.pem"
    stranger_cert.write_bytes(b"".join(b.bytes() for b in stranger.cert_chain_pems))
    stranger_key.write_bytes(stranger.private_key_pem.bytes())
    listener = gsocket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(5)
    port = listener.getsockname()[1]
    verdicts: list = []
    # Its ca must not become ours, nor its pfx's CA certificates, nor trust made the process
    # default after the connection's context was built.
    new_identity = dict(_pem(leaf), ca=root.cert_pem.bytes()) if material != "pfx" else {"pfx": _pfx(leaf, root)}
    own = {"ca": ca.cert_pem.bytes()}
    if material == "default-trust":  # the server trusts the default roots: certifi's, then ours
        own = {}
        greentls.set_default_ca_certificates([ca.cert_pem.bytes().decode()])
    server_ctx = greentls.create_secure_context(**own, **server_options)
    if material == "default-trust":
        greentls.set_default_ca_certificates([root.cert_pem.bytes().decode()])  # for the clients, say

    def serve(count: int) -> None:
        for _ in range(count):
            conn, _ = listener.accept()
            tls = greentls.TLSSocket(conn, is_server=True, request_cert=True, reject_unauthorized=False,
                                     secure_context=server_ctx)
            tls.set_key_cert(greentls.create_secure_context(**new_identity) if as_context else new_identity)
            try:
                tls.do_handshake()
                verdicts.append((tls.authorized, tls.authorization_error))
                tls.sendall(b"hi")
            finally:
                tls.close()

    root_file = tmp_path / "root.pem"
    root_file.write_bytes(root.cert_pem.bytes())
    server = gevent.spawn(serve, 2)
    try:
        for cert, key in ((stranger_cert, stranger_key), (cert_files["client_cert"], cert_files["client_key"])):
            done = openssl(["s_client", "-connect", f"127.0.0.1:{port}", "-cert", str(cert), "-key", str(key),
                            "-CAfile", str(root_file), "-verify_return_error"])
            assert b"Verify return code: 0 (ok)" in done.stdout, done.stdout[-500:]  # the new identity
        server.get(timeout=20)
    finally:
        listener.close()
    assert verdicts[0][0] is False and verdicts[0][1] is not None, verdicts
    assert verdicts[1] == (True, None), verdicts
