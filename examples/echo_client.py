"""The echo client from Node's tls docs (``tls.connect`` example), ported to greentls.

    python examples/echo_client.py            # connects to localhost:8000 (PORT=... to change)

Prints what the server sends; sends what you type (stdin) until end of input.
"""
import os
import sys

import gevent
from gevent import os as gos

import greentls

CERTS = os.environ.get("CERTS", os.path.join(os.path.dirname(__file__), "certs"))


def read(name: str) -> bytes:
    with open(os.path.join(CERTS, name), "rb") as f:
        return f.read()


def print_incoming(tls_socket: greentls.TLSSocket) -> None:
    while data := tls_socket.recv(65536):
        print(data.decode("utf8"), end="", flush=True)
    print("server ends connection", flush=True)


tls_socket = greentls.connect(
    int(os.environ.get("PORT", "8000")),
    # Necessary only if the server requires client certificate authentication.
    key=read("client-key.pem"),
    cert=read("client-cert.pem"),
    # Necessary only if the server uses a self-signed certificate.
    ca=[read("server-cert.pem")],
    # Necessary only if the server's cert isn't for "localhost".
    check_server_identity=lambda hostname, cert: None,
)
print("client connected", "authorized" if tls_socket.authorized else "unauthorized", flush=True)
reader = gevent.spawn(print_incoming, tls_socket)
gos.make_nonblocking(sys.stdin.fileno())
while line := gos.nb_read(sys.stdin.fileno(), 65536):  # process.stdin.pipe(socket)
    tls_socket.sendall(line)
reader.join(timeout=1.0)
tls_socket.close()
