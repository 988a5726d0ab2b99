"""Ask for a client certificate after the handshake, by renegotiation (TLS 1.2).

    python examples/make_certs.py
    python examples/renegotiate_client_cert.py

A server accepts anyone, and only when a client asks for "/private" renegotiates with
``request_cert=True`` (a full handshake that sends a CertificateRequest), then looks at the
certificate.  TLS 1.3 has no renegotiation (``renegotiate()`` raises ``ERR_TLS_RENEGOTIATE``),
so both sides here stay at TLS 1.2.
"""
import os

import greentls

CERTS = os.environ.get("CERTS", os.path.join(os.path.dirname(__file__), "certs"))


def read(name: str) -> bytes:
    with open(os.path.join(CERTS, name), "rb") as f:
        return f.read()


def handle(tls_socket: greentls.TLSSocket) -> None:
    request = tls_socket.recv(100)
    print("server: before:", tls_socket.get_peer_certificate() or "no client certificate", flush=True)
    if request == b"/private":
        tls_socket.renegotiate(request_cert=True)
        subject = tls_socket.get_peer_certificate().get("subject", {})
        print("server: after renegotiation:", subject.get("CN"),
              "authorized" if tls_socket.authorized else tls_socket.authorization_error, flush=True)
    tls_socket.sendall(b"here you are")


server = greentls.create_server(handle, key=read("server-key.pem"), cert=read("server-cert.pem"),
                                ca=[read("client-cert.pem")], max_version="TLSv1.2")
server.listen(0, "127.0.0.1")

client = greentls.connect(server.address()["port"], "localhost", ca=[read("server-cert.pem")],
                          key=read("client-key.pem"), cert=read("client-cert.pem"),
                          check_server_identity=lambda hostname, cert: None)
client.sendall(b"/private")
print("client got:", client.recv(100).decode(), flush=True)  # this read answers the renegotiation
client.close()
server.stop(timeout=1)
