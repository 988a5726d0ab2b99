"""OCSP stapling: ocsp_request on the server, ocsp_response on the client, with real peers."""
from __future__ import annotations

import datetime
import os
import socket
import sys
import time

import gevent
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp
from gevent import subprocess
from helpers import echo, node, node_server, openssl, port_of, serving

import greentls

VERSIONS = ["TLSv1.2", "TLSv1.3"]


def build_response(certificate: bytes, issuer: bytes, ca) -> bytes:
    """A GOOD OCSP response for ``certificate``, signed by the trustme CA."""
    cert = x509.load_der_x509_certificate(certificate)
    issuer_cert = x509.load_der_x509_certificate(issuer)
    key = serialization.load_pem_private_key(ca.private_key_pem.bytes(), password=None)
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = ocsp.OCSPResponseBuilder().add_response(
        cert=cert, issuer=issuer_cert, algorithm=hashes.SHA1(), cert_status=ocsp.OCSPCertStatus.GOOD,
        this_update=now, next_update=now + datetime.timedelta(days=1), revocation_time=None,
        revocation_reason=None).responder_id(ocsp.OCSPResponderEncoding.HASH, issuer_cert)
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


@pytest.fixture
def stapler(ca):
    """Connect an ocsp_request receiver that staples a fresh signed response; yields its calls."""
    calls: list = []

    def receiver(sender, certificate, issuer):
        calls.append((sender, certificate, issuer))
        return build_response(certificate, issuer, ca)

    greentls.ocsp_request.connect(receiver)
    yield calls
    greentls.ocsp_request.disconnect(receiver)


def _openssl_status(port: int, version: str, ca_path: str) -> str:
    flag = "-tls1_3" if version == "TLSv1.3" else "-tls1_2"
    result = openssl(["s_client", "-connect", f"127.0.0.1:{port}", "-servername", "localhost", "-status",
                      "-CAfile", ca_path, flag], input=b"")
    return result.stdout.decode(errors="replace")


@pytest.mark.parametrize("version", VERSIONS)
def test_openssl_status_receives_staple(need_openssl, version, stapler, server_options, server_cert, ca,
                                        cert_files):
    """openssl s_client -status receives the stapled, CA-signed response (TLS 1.2 and 1.3)."""
    with serving(echo, max_version=version, ca=ca.cert_pem.bytes(), **server_options) as server:
        out = _openssl_status(port_of(server), version, cert_files["ca"])
    assert "OCSP Response Status: successful" in out, out
    assert "Cert Status: good" in out, out
    (sender, certificate, issuer), = stapler
    assert sender is server
    assert x509.load_der_x509_certificate(certificate) == \
        x509.load_pem_x509_certificate(server_cert.cert_chain_pems[0].bytes())
    assert x509.load_der_x509_certificate(issuer).subject == \
        x509.load_pem_x509_certificate(ca.cert_pem.bytes()).subject


def test_no_request_without_status_request(need_openssl, stapler, ca, server_options, cert_files):
    """A client that does not ask for status causes no ocsp_request and gets no staple."""
    with serving(echo, ca=ca.cert_pem.bytes(), **server_options) as server:
        result = openssl(["s_client", "-connect", f"127.0.0.1:{port_of(server)}", "-CAfile",
                          cert_files["ca"]], input=b"")
    assert b"Verify return code: 0" in result.stdout
    assert stapler == []


def test_issuer_none_when_not_in_chain_or_store(ca, client_options):
    """The issuer is None when the context's chain and trust store lack it."""
    seen: list = []

    def receiver(sender, certificate, issuer):
        seen.append(issuer)
        return None

    greentls.ocsp_request.connect(receiver)
    try:
        leaf = ca.issue_cert("localhost")
        options = {"key": leaf.private_key_pem.bytes(), "cert": leaf.cert_chain_pems[0].bytes(),
                   "ca": trustme_other_ca_pem()}
        with serving(echo, **options) as server:
            tls = greentls.connect(port_of(server), "127.0.0.1", servername="localhost",
                                   request_ocsp=True, **client_options)
            tls.close()
    finally:
        greentls.ocsp_request.disconnect(receiver)
    assert seen == [None]


def trustme_other_ca_pem() -> bytes:
    """A CA that did not issue the test leaf."""
    import trustme
    return trustme.CA().cert_pem.bytes()


NODE_OCSP_CLIENT = r"""
const tls = require('tls'); const fs = require('fs');
const [port, ca, version] = process.argv.slice(2);
const events = [];
const s = tls.connect({port: +port, host: '127.0.0.1', servername: 'localhost', ca: fs.readFileSync(ca),
                       requestOCSP: true, maxVersion: version, minVersion: version});
s.on('OCSPResponse', r => events.push(['ocsp', r ? r.toString('base64') : null]));
s.on('secureConnect', () => { events.push(['secure', s.authorized]); s.end(); });
s.on('close', () => console.log(JSON.stringify(events)));
s.on('error', e => { console.log(JSON.stringify({error: e.code})); process.exit(0); });
"""


@pytest.mark.parametrize("version", VERSIONS)
def test_node_client_receives_staple(need_node, version, ca, server_options, cert_files):
    """A Node client with requestOCSP gets 'OCSPResponse' with our staple before 'secureConnect'."""
    answers: list = []

    def receiver(sender, certificate, issuer):
        answers.append(build_response(certificate, issuer, ca))
        return answers[-1]

    greentls.ocsp_request.connect(receiver)
    try:
        with serving(echo, ca=ca.cert_pem.bytes(), **server_options) as server:
            events = node(NODE_OCSP_CLIENT, port_of(server), cert_files["ca"], version)
    finally:
        greentls.ocsp_request.disconnect(receiver)
    import base64
    assert events[0][0] == "ocsp" and base64.b64decode(events[0][1]) == answers[0]
    assert events[1] == ["secure", True]
    assert ocsp.load_der_ocsp_response(answers[0]).certificate_status == ocsp.OCSPCertStatus.GOOD


@pytest.mark.parametrize("version", VERSIONS)
def test_greentls_client_ocsp_response_order(version, stapler, ca, server_options, client_options):
    """greentls's client gets ocsp_response (the staple) once, before secure_connect."""
    events: list = []

    def on_response(sender, response):
        events.append(("ocsp", response))

    greentls.ocsp_response.connect(on_response)
    try:
        with serving(echo, max_version=version, ca=ca.cert_pem.bytes(), **server_options) as server:
            tls = greentls.connect(port_of(server), "127.0.0.1", servername="localhost", request_ocsp=True,
                                   secure_connect_listener=lambda s: events.append(("secure", None)),
                                   **client_options)
            tls.close()
    finally:
        greentls.ocsp_response.disconnect(on_response)
    assert [kind for kind, _ in events] == ["ocsp", "secure"]
    assert ocsp.load_der_ocsp_response(events[0][1]).response_status == ocsp.OCSPResponseStatus.SUCCESSFUL


def test_greentls_client_none_when_nothing_stapled(ca, server_options, client_options):
    """With no ocsp_request receiver the client's ocsp_response carries None."""
    got: list = []

    def on_response(sender, response):
        got.append(response)

    greentls.ocsp_response.connect(on_response)
    try:
        with serving(echo, ca=ca.cert_pem.bytes(), **server_options) as server:
            greentls.connect(port_of(server), "127.0.0.1", servername="localhost", request_ocsp=True,
                             **client_options).close()
    finally:
        greentls.ocsp_response.disconnect(on_response)
    assert got == [None]


def test_slow_receiver_does_not_stall_others(ca, server_options, client_options):
    """A receiver sleeping 200 ms for one client does not delay 20 other clients' handshakes."""
    calls: list = []

    def receiver(sender, certificate, issuer):
        calls.append(1)
        if len(calls) == 1:  # the first client's answer is slow to fetch
            gevent.sleep(0.2)
        return build_response(certificate, issuer, ca)

    def client(port):
        greentls.connect(port, "127.0.0.1", servername="localhost", request_ocsp=True,
                         **client_options).close()
        return time.monotonic()

    greentls.ocsp_request.connect(receiver)
    try:
        with serving(echo, ca=ca.cert_pem.bytes(), **server_options) as server:
            start = time.monotonic()
            slow = gevent.spawn(client, port_of(server))
            while not calls:
                gevent.sleep(0.005)  # the slow client's greenlet is now inside the receiver
            fast = [gevent.spawn(client, port_of(server)) for _ in range(20)]
            gevent.joinall([*fast, slow], raise_error=True)
    finally:
        greentls.ocsp_request.disconnect(receiver)
    assert slow.value - start >= 0.2
    # Every other handshake finished while the slow receiver still slept.
    assert max(g.value for g in fast) < slow.value


NODE_STAPLING_SERVER = r"""
const tls = require('tls'); const fs = require('fs');
const [key, cert, staple] = process.argv.slice(2);
const srv = tls.createServer({key: fs.readFileSync(key), cert: fs.readFileSync(cert)}, s => s.end());
srv.on('OCSPRequest', (certificate, issuer, cb) => cb(null, fs.readFileSync(staple)));
srv.listen(0, '127.0.0.1', () => console.log(srv.address().port));
"""


def test_greentls_client_against_node_stapling_server(need_node, tmp_path, ca, server_cert, cert_files,
                                                      client_options):
    """greentls's request_ocsp client receives what a Node server's 'OCSPRequest' handler staples."""
    leaf = x509.load_pem_x509_certificate(server_cert.cert_chain_pems[0].bytes())
    issuer = x509.load_pem_x509_certificate(ca.cert_pem.bytes())
    staple = build_response(leaf.public_bytes(serialization.Encoding.DER),
                            issuer.public_bytes(serialization.Encoding.DER), ca)
    (tmp_path / "staple.der").write_bytes(staple)
    got: list = []

    def on_response(sender, response):
        got.append((sender, response))

    greentls.ocsp_response.connect(on_response)
    try:
        with node_server(NODE_STAPLING_SERVER, cert_files["key"], cert_files["cert"],
                         tmp_path / "staple.der") as port:
            tls = greentls.connect(port, "127.0.0.1", servername="localhost", request_ocsp=True,
                                   **client_options)
            tls.close()
    finally:
        greentls.ocsp_response.disconnect(on_response)
    assert got == [(tls, staple)]


def test_example_runs():
    """examples/ocsp_stapling.py runs as its docstring says and prints what it shows."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    result = subprocess.run([sys.executable, os.path.join(here, "examples", "ocsp_stapling.py")], timeout=60,
                            env=dict(os.environ, PORT=str(port)), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert result.returncode == 0, result.stderr[-2000:]
    for expected in [b'client got a stapled response: GOOD']:
        assert expected in result.stdout, result.stdout
