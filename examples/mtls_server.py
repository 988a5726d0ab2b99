"""Mutual TLS server: only clients with a certificate from our own CA get in.

    python examples/mtls_server.py                 # makes ./mtls-certs (CA, server, client) and listens on 8443
    python examples/mtls_client.py                 # in another terminal: authorized, greeted, echoed
    python examples/mtls_client.py --no-cert       # refused: the server requires a certificate

Environment: ``PORT`` (default 8443), ``MTLS_CERTS`` (the certificate folder, default ./mtls-certs;
made with trustme when it has no ca.pem yet).  Each handled client is printed as
``client <CN> authorized``; clients refused during the handshake as ``refused: <code>``.
"""
import os

import trustme

import greentls

CERTS = os.environ.get("MTLS_CERTS", "mtls-certs")


def make_certs(folder: str) -> None:
    """A CA, a server certificate for localhost and a client certificate, as PEM files."""
    os.makedirs(folder, exist_ok=True)
    ca = trustme.CA()
    server = ca.issue_cert("localhost", "127.0.0.1")
    client = ca.issue_cert("client@example.com", common_name="example client")
    ca.cert_pem.write_to_path(os.path.join(folder, "ca.pem"))
    for name, leaf in (("server", server), ("client", client)):
        leaf.private_key_pem.write_to_path(os.path.join(folder, f"{name}-key.pem"))
        leaf.cert_chain_pems[0].write_to_path(os.path.join(folder, f"{name}.pem"))


def path(name: str) -> "os.PathLike[str]":
    import pathlib
    return pathlib.Path(CERTS, name)  # PathLike: read from disk (str would be PEM content)


def on_secure_connection(tls: greentls.TLSSocket) -> None:
    cn = tls.get_peer_certificate().get("subject", {}).get("CN")
    print(f"client {cn} authorized" if tls.authorized else f"client unauthorized: {tls.authorization_error}",
          flush=True)
    tls.sendall(f"hello {cn}\n".encode())
    while data := tls.recv(65536):
        tls.sendall(data)


def on_client_error(server: greentls.Server, exception: Exception, tls_socket: object) -> None:
    print(f"refused: {getattr(exception, 'code', exception)}", flush=True)


if not os.path.exists(os.path.join(CERTS, "ca.pem")):
    make_certs(CERTS)
server = greentls.create_server(
    on_secure_connection,
    key=path("server-key.pem"),
    cert=path("server.pem"),
    ca=path("ca.pem"),          # trust only our CA for client certificates
    request_cert=True,          # ask for a client certificate ...
    reject_unauthorized=True,   # ... and refuse clients without a valid one
)
greentls.signals.tls_client_error.connect(on_client_error, sender=server)
server.listen(int(os.environ.get("PORT", "8443")), "127.0.0.1")
print("server bound", flush=True)
server.serve_forever()
