"""The default trust (Node's ``tls.rootCertificates``, ``getCACertificates``,
``setDefaultCACertificates``): the stores as PEM strings, and a replaced default that real
handshakes (a Node server) honour in contexts made afterwards."""
from __future__ import annotations

import pytest
import trustme
from cryptography import x509

import greentls
from greentls._config import roots


def test_root_certificates_is_mozillas_list_as_pem(monkeypatch):
    monkeypatch.delenv("NODE_EXTRA_CA_CERTS", raising=False)
    certs = greentls.root_certificates
    assert isinstance(certs, tuple) and len(certs) > 100
    assert all(c.startswith("-----BEGIN CERTIFICATE-----\n") and c.endswith("-----END CERTIFICATE-----\n")
               for c in certs)
    x509.load_pem_x509_certificate(certs[0].encode())
    assert greentls.get_ca_certificates("bundled") == list(certs)
    assert greentls.get_ca_certificates() == list(certs)  # without NODE_EXTRA_CA_CERTS


def test_extra_and_system(monkeypatch, tmp_path):
    ca = trustme.CA()
    path = tmp_path / "extra.pem"
    ca.cert_pem.write_to_path(str(path))
    monkeypatch.setenv("NODE_EXTRA_CA_CERTS", str(path))
    assert greentls.get_ca_certificates("extra") == [ca.cert_pem.bytes().decode()]
    assert greentls.get_ca_certificates("default")[-1] == ca.cert_pem.bytes().decode()
    monkeypatch.setenv("NODE_EXTRA_CA_CERTS", str(tmp_path / "missing.pem"))
    assert greentls.get_ca_certificates("extra") == []
    system = greentls.get_ca_certificates("system")
    assert isinstance(system, list)
    for pem in system[:3]:
        x509.load_pem_x509_certificate(pem.encode())


@pytest.mark.parametrize(("arg", "error"), [(3, TypeError), ("nope", ValueError)])
def test_get_ca_certificates_refuses(arg, error):
    with pytest.raises(error, match="'type'"):
        greentls.get_ca_certificates(arg)


def test_set_default_refuses_bad_input(restore_default):
    with pytest.raises(TypeError, match="not one string"):
        greentls.set_default_ca_certificates("-----BEGIN CERTIFICATE-----")
    with pytest.raises(ValueError, match=r"certs\[0\] is not one PEM certificate"):
        greentls.set_default_ca_certificates(["hello"])
    with pytest.raises(TypeError, match=r"certs\[1\]"):
        greentls.set_default_ca_certificates([trustme.CA().cert_pem.bytes().decode(), 7])
    assert roots.default_override() is None  # nothing half-applied


NODE_SERVER = """
const tls = require('tls');
const [key, cert] = process.argv.slice(2);
const server = tls.createServer({key, cert}, (s) => { s.end('hi'); });
server.listen(0, '127.0.0.1', () => console.log(server.address().port));
"""


def test_set_default_applies_to_new_contexts(restore_default, need_node, server_cert, ca, monkeypatch):
    from helpers import node_server
    monkeypatch.delenv("NODE_EXTRA_CA_CERTS", raising=False)
    key = server_cert.private_key_pem.bytes().decode()
    cert = "".join(b.bytes().decode() for b in server_cert.cert_chain_pems)
    with node_server(NODE_SERVER, key, cert) as port:
        # Without ca, the bundled roots do not trust the test CA.
        with pytest.raises(greentls.TLSError):
            greentls.connect(port, "127.0.0.1", servername="localhost")
        greentls.set_default_ca_certificates([ca.cert_pem.bytes().decode()])
        assert greentls.get_ca_certificates() == [ca.cert_pem.bytes().decode()]
        tls = greentls.connect(port, "127.0.0.1", servername="localhost")
        try:
            assert tls.authorized and tls.recv(10) == b"hi"
        finally:
            tls.close()


def _authorized(port: int, ca: trustme.CA, client: trustme.LeafCert, servername: str = "localhost") -> bool:
    tls = greentls.connect(port, "127.0.0.1", servername=servername, ca=ca.cert_pem.bytes(),
                           key=client.private_key_pem.bytes(), cert=client.cert_chain_pems[0].bytes())
    try:
        return tls.recv(10) == b"yes"
    finally:
        tls.close()


def _says_authorized(tls):
    tls.sendall(b"yes" if tls.authorized else b"no")


def test_server_side_trust_follows_the_default_for_contexts_made_after(restore_default, monkeypatch, ca,
                                                                       server_cert):
    """Client certificates checked against the default trust (request_cert without ca): an
    sni_callback dict answer built before set_default_ca_certificates is not reused after it,
    and a SecureContext made before keeps the trust it was made with, on both sides."""
    from helpers import port_of, serving
    monkeypatch.delenv("NODE_EXTRA_CA_CERTS", raising=False)
    client_ca = trustme.CA()
    client = client_ca.issue_cert("client.example")
    key, cert = server_cert.private_key_pem.bytes(), server_cert.cert_chain_pems[0].bytes()
    answer = {"key": key, "cert": cert}
    earlier = greentls.create_secure_context(key=key, cert=cert)
    with serving(_says_authorized, key=key, cert=cert, request_cert=True, reject_unauthorized=False,
                 sni_callback=lambda name: answer) as server, \
            serving(_says_authorized, secure_context=earlier, request_cert=True,
                    reject_unauthorized=False) as made_before:
        assert not _authorized(port_of(server), ca, client)
        greentls.set_default_ca_certificates([client_ca.cert_pem.bytes().decode()])
        assert _authorized(port_of(server), ca, client)
        assert not _authorized(port_of(made_before), ca, client)
