"""OCSP stapling: the server staples a signed "good" status for its certificate.

    python examples/ocsp_stapling.py          # serves, connects a client, prints, exits
    python examples/ocsp_stapling.py --serve  # keeps serving on PORT (default 8443); try
    openssl s_client -connect 127.0.0.1:8443 -status

The ``ocsp_request`` receiver runs in the connection's greenlet only when the client asked for
status; it may block (a real one would fetch from the CA's responder, e.g. with urllib over
gevent).  Here the test CA signs the answer itself with ``cryptography``'s OCSP builder, and
caches it per certificate as a real server should.
"""
import datetime
import os
import sys

import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

import greentls

PORT = int(os.environ.get("PORT", "8443"))


def make_responder(ca: trustme.CA):
    """An ocsp_request receiver answering from a cache filled by signing with the CA's key."""
    key = serialization.load_pem_private_key(ca.private_key_pem.bytes(), password=None)
    cache: dict = {}

    def on_ocsp_request(server, certificate: bytes, issuer):
        if issuer is None:
            return None  # cannot name the issuer: staple nothing
        if certificate not in cache:
            cert, issuer_cert = x509.load_der_x509_certificate(certificate), x509.load_der_x509_certificate(issuer)
            now = datetime.datetime.now(datetime.timezone.utc)
            response = ocsp.OCSPResponseBuilder().add_response(
                cert=cert, issuer=issuer_cert, algorithm=hashes.SHA1(), cert_status=ocsp.OCSPCertStatus.GOOD,
                this_update=now, next_update=now + datetime.timedelta(hours=12), revocation_time=None,
                revocation_reason=None).responder_id(ocsp.OCSPResponderEncoding.HASH, issuer_cert)
            cache[certificate] = response.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)
        return cache[certificate]

    return on_ocsp_request


def main() -> None:
    ca = trustme.CA()
    leaf = ca.issue_cert("localhost", "127.0.0.1")
    # The issuer is looked up in the chain and the trust store (``ca``) of the server's context.
    server = greentls.create_server(lambda tls: tls.sendall(b"stapled\n"), key=leaf.private_key_pem.bytes(),
                                    cert=leaf.cert_chain_pems[0].bytes(), ca=ca.cert_pem.bytes())
    responder = make_responder(ca)
    greentls.ocsp_request.connect(responder, sender=server)  # keep `responder` referenced (blinker: weak)
    server.listen(PORT, "127.0.0.1")
    print(f"listening on 127.0.0.1:{PORT}", flush=True)
    if "--serve" in sys.argv:
        server.serve_forever()
        return

    def on_ocsp_response(tls_socket, response):
        status = ocsp.load_der_ocsp_response(response).certificate_status.name if response else None
        print(f"client got a stapled response: {status}", flush=True)

    greentls.ocsp_response.connect(on_ocsp_response)
    tls = greentls.connect(PORT, "127.0.0.1", ca=ca.cert_pem.bytes(), request_ocsp=True)
    print(f"server says {tls.recv(100).decode().strip()!r}", flush=True)
    tls.close()
    server.stop(timeout=1)


if __name__ == "__main__":
    main()
