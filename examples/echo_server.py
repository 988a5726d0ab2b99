"""The echo server from Node's tls docs (``tls.createServer`` example), ported to greentls.

    python examples/make_certs.py
    python examples/echo_server.py            # listens on port 8000 (PORT=... to change)
    python examples/echo_client.py            # in another terminal

It asks for a client certificate (``request_cert``) and trusts the client's self-signed one,
greets each client, then echoes what it sends.
"""
import os

import greentls

CERTS = os.environ.get("CERTS", os.path.join(os.path.dirname(__file__), "certs"))


def read(name: str) -> bytes:
    with open(os.path.join(CERTS, name), "rb") as f:
        return f.read()


def on_secure_connection(tls_socket: greentls.TLSSocket) -> None:
    print("server connected", "authorized" if tls_socket.authorized else "unauthorized", flush=True)
    tls_socket.sendall(b"welcome!\n")
    while data := tls_socket.recv(65536):  # socket.pipe(socket)
        tls_socket.sendall(data)


server = greentls.create_server(
    on_secure_connection,
    key=read("server-key.pem"),
    cert=read("server-cert.pem"),
    # This is necessary only if using client certificate authentication.
    request_cert=True,
    # This is necessary only if the client uses a self-signed certificate.
    ca=[read("client-cert.pem")],
)
server.listen(int(os.environ.get("PORT", "8000")))
print("server bound", flush=True)
server.serve_forever()
