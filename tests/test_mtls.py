"""Mutual TLS and verify results (request_cert, reject_unauthorized, crl) against real peers."""
from __future__ import annotations

import datetime
import json

import gevent
import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from helpers import echo, free_port, node, node_server, openssl, port_of, serving

import greentls

pytestmark = pytest.mark.usefixtures("need_node")

NODE_CLIENT = r"""
const tls = require('tls');
const [port, opts] = [Number(process.argv[2]), JSON.parse(process.argv[3])];
const s = tls.connect(Object.assign({port, host: '127.0.0.1'}, opts), () => {
  s.write('hi');
  s.once('data', (d) => { console.log(JSON.stringify({authorized: s.authorized,
      authorizationError: s.authorizationError || null, echo: d.toString()})); s.end(); });
});
s.on('error', (e) => { console.log(JSON.stringify({error: e.code || e.message})); });
"""

NODE_MTLS_SERVER = r"""
const tls = require('tls');
const opts = JSON.parse(process.argv[2]);
const server = tls.createServer(opts, (s) => {
  const c = s.getPeerCertificate();
  s.end(JSON.stringify({authorized: s.authorized, authorizationError: s.authorizationError || null,
                        cn: c && c.subject ? c.subject.CN : null}));
});
server.listen(0, '127.0.0.1', () => console.log(server.address().port));
"""


def chain_pem(leaf: trustme.LeafCert) -> str:
    return "".join(b.bytes().decode() for b in leaf.cert_chain_pems)


def leaf_options(leaf: trustme.LeafCert) -> dict:
    return {"key": leaf.private_key_pem.bytes(), "cert": chain_pem(leaf).encode()}


class Recorder:
    """A server handler recording each client's verify result, then echoing."""

    def __init__(self) -> None:
        self.seen: list = []

    def __call__(self, sock) -> None:
        self.seen.append({"authorized": sock.authorized, "error": sock.authorization_error,
                          "cn": sock.get_peer_certificate().get("subject", {}).get("CN")})
        echo(sock)


def node_client(port: int, **options) -> dict:
    return node(NODE_CLIENT, port, json.dumps(options))


@pytest.mark.parametrize("version", ["TLSv1.2", "TLSv1.3"])
def test_node_client_with_certificate_authorized(server_options, client_cert, ca, version):
    """A Node client presenting a certificate from the trusted CA is authorized by the server."""
    rec = Recorder()
    with serving(rec, request_cert=True, ca=ca.cert_pem.bytes(), max_version=version, **server_options) as server:
        out = node_client(port_of(server), ca=ca.cert_pem.bytes().decode(), servername="localhost",
                          key=client_cert.private_key_pem.bytes().decode(), cert=chain_pem(client_cert))
    assert out == {"authorized": True, "authorizationError": None, "echo": "hi"}
    assert rec.seen == [{"authorized": True, "error": None, "cn": "test client"}]


@pytest.mark.parametrize("version", ["TLSv1.2", "TLSv1.3"])
def test_node_client_without_certificate_refused(server_options, ca, version):
    """With reject_unauthorized, a Node client without a certificate is refused and never handled."""
    rec, errors = Recorder(), []
    with serving(rec, request_cert=True, ca=ca.cert_pem.bytes(), max_version=version, **server_options) as server:
        greentls.signals.tls_client_error.connect(lambda s, **kw: errors.append(kw["exception"]), sender=server,
                                                  weak=False)
        out = node_client(port_of(server), ca=ca.cert_pem.bytes().decode(), servername="localhost")
    assert "error" in out or out.get("echo") is None
    assert rec.seen == [] and errors


def test_node_client_without_certificate_allowed_unauthorized(server_options, ca):
    """request_cert without reject_unauthorized: the client is handled, unauthorized,
    UNABLE_TO_GET_ISSUER_CERT (as Node)."""
    rec = Recorder()
    with serving(rec, request_cert=True, reject_unauthorized=False, ca=ca.cert_pem.bytes(),
                 **server_options) as server:
        out = node_client(port_of(server), ca=ca.cert_pem.bytes().decode(), servername="localhost")
    assert out["echo"] == "hi"
    assert rec.seen == [{"authorized": False, "error": "UNABLE_TO_GET_ISSUER_CERT", "cn": None}]


def test_node_server_reports_same_for_no_certificate(server_cert, ca):
    """A Node server with requestCert and no client certificate reports UNABLE_TO_GET_ISSUER_CERT (the reference)."""
    opts = {"key": server_cert.private_key_pem.bytes().decode(), "cert": chain_pem(server_cert),
                "ca": ca.cert_pem.bytes().decode(), "requestCert": True, "rejectUnauthorized": False}
    with node_server(NODE_MTLS_SERVER, json.dumps(opts)) as port:
        sock = greentls.connect(port, "127.0.0.1", servername="localhost", ca=ca.cert_pem.bytes())
        report = json.loads(_read_all(sock))
    assert report == {"authorized": False, "authorizationError": "UNABLE_TO_GET_ISSUER_CERT", "cn": None}


def _read_all(sock) -> bytes:
    chunks = []
    while True:
        data = sock.recv(65536)
        if not data:
            break
        chunks.append(data)
    sock.close()
    return b"".join(chunks)


@pytest.mark.parametrize("version", ["TLSv1.2", "TLSv1.3"])
def test_greentls_client_certificate_to_node_server(server_cert, client_cert, ca, version):
    """A greentls client's certificate is authorized by a Node server with requestCert."""
    opts = {"key": server_cert.private_key_pem.bytes().decode(), "cert": chain_pem(server_cert),
                "ca": ca.cert_pem.bytes().decode(), "requestCert": True, "rejectUnauthorized": True}
    with node_server(NODE_MTLS_SERVER, json.dumps(opts)) as port:
        sock = greentls.connect(port, "127.0.0.1", servername="localhost", ca=ca.cert_pem.bytes(),
                                max_version=version, **leaf_options(client_cert))
        assert sock.authorized
        report = json.loads(_read_all(sock))
    assert report == {"authorized": True, "authorizationError": None, "cn": "test client"}


def test_openssl_s_client_with_certificate(server_options, cert_files, ca, need_openssl):
    """openssl s_client -cert/-key is authorized by a greentls server with request_cert."""
    rec = Recorder()
    with serving(rec, request_cert=True, ca=ca.cert_pem.bytes(), **server_options) as server:
        result = openssl(["s_client", "-connect", f"127.0.0.1:{port_of(server)}", "-CAfile", cert_files["ca"],
                          "-cert", cert_files["client_cert"], "-key", cert_files["client_key"], "-brief"],
                         input=b"ping\n")
    assert b"CONNECTION ESTABLISHED" in result.stderr, result.stderr
    assert rec.seen == [{"authorized": True, "error": None, "cn": "test client"}]


def _crl(ca: trustme.CA, revoked: trustme.LeafCert) -> bytes:
    """A CRL signed by the test CA that revokes ``revoked``."""
    ca_key = serialization.load_pem_private_key(ca.private_key_pem.bytes(), None)
    ca_cert = x509.load_pem_x509_certificate(ca.cert_pem.bytes())
    leaf = x509.load_pem_x509_certificate(revoked.cert_chain_pems[0].bytes())
    now = datetime.datetime.now(datetime.timezone.utc)
    entry = x509.RevokedCertificateBuilder().serial_number(leaf.serial_number).revocation_date(now).build()
    crl = (x509.CertificateRevocationListBuilder().issuer_name(ca_cert.subject).last_update(now)
           .next_update(now + datetime.timedelta(days=1)).add_revoked_certificate(entry)
           .sign(ca_key, hashes.SHA256()))
    return crl.public_bytes(serialization.Encoding.PEM)


@pytest.mark.parametrize("version", ["TLSv1.2", "TLSv1.3"])
def test_revoked_client_certificate(server_options, client_cert, ca, version):
    """With crl, a revoked client certificate reports CERT_REVOKED, and is refused when rejecting."""
    crl = _crl(ca, client_cert)
    client = {"ca": ca.cert_pem.bytes().decode(), "servername": "localhost",
                  "key": client_cert.private_key_pem.bytes().decode(), "cert": chain_pem(client_cert)}
    rec = Recorder()
    with serving(rec, request_cert=True, reject_unauthorized=False, ca=ca.cert_pem.bytes(), crl=crl,
                 max_version=version, **server_options) as server:
        node_client(port_of(server), **client)
    assert rec.seen == [{"authorized": False, "error": "CERT_REVOKED", "cn": "test client"}]
    rec, errors = Recorder(), []
    with serving(rec, request_cert=True, ca=ca.cert_pem.bytes(), crl=crl, max_version=version,
                 **server_options) as server:
        greentls.signals.tls_client_error.connect(lambda s, **kw: errors.append(kw["exception"]),
                                                  sender=server, weak=False)
        out = node_client(port_of(server), **client)
    assert rec.seen == [] and "echo" not in out
    assert errors


def test_crl_does_not_refuse_others(server_options, client_cert, ca):
    """A CRL revoking another certificate leaves this client authorized (the check is real, not blanket)."""
    other = ca.issue_cert("other@example.com")
    rec = Recorder()
    with serving(rec, request_cert=True, ca=ca.cert_pem.bytes(), crl=_crl(ca, other), **server_options) as server:
        node_client(port_of(server), ca=ca.cert_pem.bytes().decode(), servername="localhost",
                    key=client_cert.private_key_pem.bytes().decode(), cert=chain_pem(client_cert))
    assert rec.seen == [{"authorized": True, "error": None, "cn": "test client"}]


def _self_signed() -> dict:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
            .sign(key, hashes.SHA256()))
    return {"key": key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption()),
            "cert": cert.public_bytes(serialization.Encoding.PEM)}


def _cases(ca: trustme.CA) -> dict:
    now = datetime.datetime.now(datetime.timezone.utc)
    expired = ca.issue_cert("localhost", not_before=now - datetime.timedelta(days=10),
                            not_after=now - datetime.timedelta(days=1))
    return {"CERT_HAS_EXPIRED": (leaf_options(expired), "localhost", ca),
            "DEPTH_ZERO_SELF_SIGNED_CERT": (_self_signed(), "localhost", ca),
            "UNABLE_TO_VERIFY_LEAF_SIGNATURE": (leaf_options(trustme.CA().issue_cert("localhost")), "localhost", ca),
            "ERR_TLS_CERT_ALTNAME_INVALID": (leaf_options(ca.issue_cert("localhost")), "example.org", ca)}


@pytest.mark.parametrize("code", ["CERT_HAS_EXPIRED", "DEPTH_ZERO_SELF_SIGNED_CERT",
                                  "UNABLE_TO_VERIFY_LEAF_SIGNATURE", "ERR_TLS_CERT_ALTNAME_INVALID"])
def test_client_verify_codes_match_node(ca, code):
    """A greentls client reports the same verify code as a Node client for the same server certificate."""
    options, servername, trusted = _cases(ca)[code]
    with serving(echo, **options) as server:
        port = port_of(server)
        out = node_client(port, ca=trusted.cert_pem.bytes().decode(), servername=servername)
        with pytest.raises(greentls.CertificateError) as info:
            greentls.connect(port, "127.0.0.1", servername=servername, ca=trusted.cert_pem.bytes())
        sock = greentls.connect(port, "127.0.0.1", servername=servername, ca=trusted.cert_pem.bytes(),
                                reject_unauthorized=False)
        soft = (sock.authorized, sock.authorization_error)
        sock.close()
    assert out == {"error": code}
    assert info.value.code == code
    assert soft == (False, code)


@pytest.mark.parametrize("code", ["CERT_HAS_EXPIRED", "DEPTH_ZERO_SELF_SIGNED_CERT",
                                  "UNABLE_TO_VERIFY_LEAF_SIGNATURE"])
def test_server_verify_codes_match_node(server_options, ca, code, server_cert):
    """A greentls server reports a bad client certificate's code as a Node server does."""
    options, _, trusted = _cases(ca)[code]
    client = {"ca": ca.cert_pem.bytes().decode(), "servername": "localhost",
                  "key": options["key"].decode(), "cert": options["cert"].decode()}
    rec = Recorder()
    with serving(rec, request_cert=True, reject_unauthorized=False, ca=trusted.cert_pem.bytes(),
                 **server_options) as server:
        node_client(port_of(server), **client)
    opts = {"key": server_cert.private_key_pem.bytes().decode(), "cert": chain_pem(server_cert),
                "ca": trusted.cert_pem.bytes().decode(), "requestCert": True, "rejectUnauthorized": False}
    with node_server(NODE_MTLS_SERVER, json.dumps(opts)) as port:
        sock = greentls.connect(port, "127.0.0.1", servername="localhost", ca=ca.cert_pem.bytes(), **options)
        report = json.loads(_read_all(sock))
    assert report["authorizationError"] == code
    assert rec.seen[0]["authorized"] is False and rec.seen[0]["error"] == code



def test_mtls_examples(tmp_path):
    """examples/mtls_server.py and mtls_client.py run as their docstrings say: in with a cert, out without."""
    import os
    import sys

    from gevent import subprocess
    examples = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")
    env = dict(os.environ, PORT=str(free_port()), MTLS_CERTS=str(tmp_path / "certs"))
    proc = subprocess.Popen([sys.executable, os.path.join(examples, "mtls_server.py")], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        with gevent.Timeout(20, AssertionError("example server did not start")):
            assert proc.stdout.readline() == b"server bound\n", proc.stderr.read()
        client = [sys.executable, os.path.join(examples, "mtls_client.py")]
        good = subprocess.run(client, env=env, input=b"echo me\n", stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, timeout=30)
        assert good.returncode == 0, good.stderr.decode()
        assert good.stdout.decode() == "client connected authorized\nhello example client\necho me\n"
        bad = subprocess.run([*client, "--no-cert"], env=env, input=b"x\n", stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, timeout=30)
        assert bad.returncode == 1 and b"refused" in bad.stdout, bad.stdout + bad.stderr
        with gevent.Timeout(10, AssertionError("server did not report the clients")):
            assert proc.stdout.readline() == b"client example client authorized\n"
            assert proc.stdout.readline().startswith(b"refused: ")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        proc.stdout.close()
        proc.stderr.close()


def test_client_crl_refuses_revoked_server(ca):
    """A client's crl refuses a revoked server certificate with CERT_REVOKED, as a Node client does."""
    revoked = ca.issue_cert("localhost", "127.0.0.1")
    crl = _crl(ca, revoked)
    with serving(echo, **leaf_options(revoked)) as server:
        port = port_of(server)
        out = node_client(port, ca=ca.cert_pem.bytes().decode(), servername="localhost", crl=crl.decode())
        with pytest.raises(greentls.CertificateError) as info:
            greentls.connect(port, "127.0.0.1", servername="localhost", ca=ca.cert_pem.bytes(), crl=crl)
        fine = greentls.connect(port, "127.0.0.1", servername="localhost", ca=ca.cert_pem.bytes())
        assert fine.authorized
        fine.close()
    assert out == {"error": "CERT_REVOKED"}
    assert info.value.code == "CERT_REVOKED"
