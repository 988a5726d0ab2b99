"""allow_partial_trust_chain: an intermediate CA in ``ca`` ends the chain as a trust anchor."""
from __future__ import annotations

import json

import pytest
import trustme
from helpers import node_server, openssl, port_of, serving

import greentls

NODE_SERVER = """
const tls = require('tls');
const opts = JSON.parse(process.argv[2]);
const server = tls.createServer(opts, (s) => s.end('hello'));
server.listen(0, '127.0.0.1', () => console.log(server.address().port));
"""


@pytest.fixture(scope="module")
def chain() -> dict:
    """A root, an intermediate under it, and a server and client leaf under the intermediate."""
    root = trustme.CA()
    intermediate = root.create_child_ca()
    return {"root": root, "intermediate": intermediate,
            "server": intermediate.issue_cert("localhost", "127.0.0.1"),
            "client": intermediate.issue_cert("client@example.com", common_name="partial client")}


def _chain_pem(leaf: trustme.LeafCert) -> bytes:
    return b"".join(blob.bytes() for blob in leaf.cert_chain_pems)


def _connect(port: int, chain: dict, **options: object) -> greentls.TLSSocket:
    return greentls.connect(port, "127.0.0.1", servername="localhost",
                            ca=chain["intermediate"].cert_pem.bytes(), **options)


@pytest.mark.parametrize("version", ["TLSv1.2", "TLSv1.3"])
def test_client_refuses_intermediate_anchor_by_default(chain, need_node, version):
    """Without the option, a client trusting only the intermediate refuses the server, as OpenSSL
    wants a self-signed anchor."""
    opts = {"key": chain["server"].private_key_pem.bytes().decode(),
            "cert": _chain_pem(chain["server"]).decode()}
    with node_server(NODE_SERVER, json.dumps(opts)) as port:
        with pytest.raises(greentls.CertificateError) as info:
            _connect(port, chain, max_version=version)
    assert info.value.code == "UNABLE_TO_GET_ISSUER_CERT"


@pytest.mark.parametrize("version", ["TLSv1.2", "TLSv1.3"])
def test_client_accepts_intermediate_anchor_with_option(chain, need_node, version):
    """allow_partial_trust_chain=True: the intermediate in ``ca`` is an anchor; the server is
    authorized and its name still checked."""
    opts = {"key": chain["server"].private_key_pem.bytes().decode(),
            "cert": _chain_pem(chain["server"]).decode()}
    with node_server(NODE_SERVER, json.dumps(opts)) as port:
        sock = _connect(port, chain, max_version=version, allow_partial_trust_chain=True)
        try:
            assert sock.authorized and sock.authorization_error is None
            assert sock.recv(100) == b"hello"
        finally:
            sock.close()
        with pytest.raises(greentls.CertificateError) as info:
            greentls.connect(port, "127.0.0.1", servername="other.example",
                             ca=chain["intermediate"].cert_pem.bytes(), allow_partial_trust_chain=True)
    assert info.value.code == "ERR_TLS_CERT_ALTNAME_INVALID"


def test_partial_chain_does_not_trust_an_unrelated_chain(chain, need_node):
    """The flag shortens chains to what the store holds; it trusts nothing else: a server
    certificate from another CA is still refused."""
    other = trustme.CA().issue_cert("localhost", "127.0.0.1")
    opts = {"key": other.private_key_pem.bytes().decode(), "cert": _chain_pem(other).decode()}
    with node_server(NODE_SERVER, json.dumps(opts)) as port:
        with pytest.raises(greentls.CertificateError):
            _connect(port, chain, allow_partial_trust_chain=True)


def _client_verdicts(chain: dict, cert_files: dict, **options: object) -> list:
    """What a greentls server with request_cert and ``ca`` = the intermediate saw of an
    ``openssl s_client`` that sent the client leaf and intermediate."""
    seen: list = []

    def handler(sock: greentls.TLSSocket) -> None:
        seen.append((sock.authorized, sock.authorization_error))
        sock.sendall(b"ok\n")
        sock.close()

    server_leaf = chain["server"]
    with serving(handler, key=server_leaf.private_key_pem.bytes(), cert=_chain_pem(server_leaf),
                 ca=chain["intermediate"].cert_pem.bytes(), request_cert=True, reject_unauthorized=False,
                 **options) as server:
        openssl(["s_client", "-connect", f"127.0.0.1:{port_of(server)}", "-cert", cert_files["cert"],
                 "-key", cert_files["key"], "-brief"], input=b"")
    return seen


@pytest.fixture
def client_files(chain, tmp_path) -> dict:
    """The client leaf (with its intermediate) and key as files for openssl s_client."""
    cert, key = tmp_path / "client.pem", tmp_path / "client-key.pem"
    cert.write_bytes(_chain_pem(chain["client"]))
    key.write_bytes(chain["client"].private_key_pem.bytes())
    return {"cert": str(cert), "key": str(key)}


def test_server_refuses_intermediate_anchor_by_default(chain, client_files, need_openssl):
    """A server trusting only the intermediate does not authorize the client by default."""
    assert _client_verdicts(chain, client_files) == [(False, "UNABLE_TO_GET_ISSUER_CERT")]


def test_server_accepts_intermediate_anchor_with_option(chain, client_files, need_openssl):
    """With allow_partial_trust_chain the server authorizes the client's certificate."""
    assert _client_verdicts(chain, client_files, allow_partial_trust_chain=True) == [(True, None)]


def test_option_must_be_bool():
    """A non-bool value is refused, naming the option."""
    with pytest.raises(TypeError, match="allow_partial_trust_chain"):
        greentls.create_secure_context(allow_partial_trust_chain="yes")

