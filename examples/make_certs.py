"""Make the self-signed certificates the echo examples use (as Node's docs do with openssl).

    python examples/make_certs.py [FOLDER]

Writes server-key.pem, server-cert.pem, client-key.pem, client-cert.pem, server.pfx and
client.pfx (PKCS#12, passphrase "sample") into FOLDER (default: examples/certs/).
"""
import os
import sys

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from greentls._app.cli import self_signed_pem


def main(folder: str) -> None:
    os.makedirs(folder, exist_ok=True)
    for role, names in (("server", ("localhost", "127.0.0.1")), ("client", ("client.example",))):
        key_pem, cert_pem = self_signed_pem(names)
        with open(os.path.join(folder, f"{role}-key.pem"), "wb") as f:
            f.write(key_pem)
        with open(os.path.join(folder, f"{role}-cert.pem"), "wb") as f:
            f.write(cert_pem)
        key = serialization.load_pem_private_key(key_pem, None)
        cert = x509.load_pem_x509_certificate(cert_pem)
        pfx = pkcs12.serialize_key_and_certificates(
            role.encode(), key, cert, None, serialization.BestAvailableEncryption(b"sample"))
        with open(os.path.join(folder, f"{role}.pfx"), "wb") as f:
            f.write(pfx)
    print(f"certificates written to {folder}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "certs"))
