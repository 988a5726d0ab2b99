"""Mutual TLS client for examples/mtls_server.py: presents the client certificate it made.

    python examples/mtls_client.py                 # prints the server's greeting, echoes stdin
    python examples/mtls_client.py --no-cert       # connects without a certificate: refused

Environment: ``PORT`` (default 8443), ``MTLS_CERTS`` (default ./mtls-certs, as the server's).
"""
import os
import pathlib
import sys

import greentls

CERTS = pathlib.Path(os.environ.get("MTLS_CERTS", "mtls-certs"))

options = {"ca": CERTS / "ca.pem"}
if "--no-cert" not in sys.argv:
    options.update(key=CERTS / "client-key.pem", cert=CERTS / "client.pem")
try:
    tls = greentls.connect(int(os.environ.get("PORT", "8443")), "localhost", **options)
    print("client connected", "authorized" if tls.authorized else "unauthorized", flush=True)
    sys.stdout.write(tls.recv(65536).decode())  # the greeting (or, in TLS 1.3, the server's refusal)
    tls.sendall(sys.stdin.buffer.read())
    tls.shutdown(1)  # socket.SHUT_WR: close_notify, then read what the server still sends
    while data := tls.recv(65536):
        sys.stdout.write(data.decode())
    tls.close()
except (greentls.TLSError, OSError) as exc:
    # Without a certificate the server aborts the handshake (TLS 1.2) or, in TLS 1.3, right
    # after it, so the failure shows up at connect or at the first read.
    print(f"refused: {getattr(exc, 'code', None) or exc}", flush=True)
    sys.exit(1)
