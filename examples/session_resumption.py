"""Session resumption, as Node's ``session`` event and ``session`` option do it.

    python examples/make_certs.py
    python examples/session_resumption.py     # TLS=TLSv1.2 to try session ids/tickets of 1.2

Runs a greentls server in this process, connects once keeping the session the ``session``
signal delivers (TLS 1.3 tickets arrive after the handshake, during a read), closes cleanly
(only a clean close leaves a session resumable), then connects again with that session and
prints whether it was resumed.  The server prints each ``new_session``.
"""
import os

import greentls

CERTS = os.environ.get("CERTS", os.path.join(os.path.dirname(__file__), "certs"))
VERSION = os.environ.get("TLS", "TLSv1.3")


def read(name: str) -> bytes:
    with open(os.path.join(CERTS, name), "rb") as f:
        return f.read()


def reply(tls_socket: greentls.TLSSocket) -> None:
    tls_socket.sendall(b"hello " + tls_socket.recv(100))


def on_new_session(server, session_id: bytes, session_data: bytes) -> None:
    print(f"server: new session {session_id.hex()[:16]}... ({len(session_data)} bytes)", flush=True)


def fetch(port: int, session: bytes | None = None) -> bytes:
    """One connection; returns the newest session the server gave us."""
    sessions = []
    tls_socket = greentls.connect(port, "localhost", ca=[read("server-cert.pem")], session=session,
                                  max_version=VERSION,
                                  check_server_identity=lambda hostname, cert: None)
    greentls.session.connect(lambda sender, session: sessions.append(session), sender=tls_socket,
                             weak=False)
    tls_socket.sendall(b"client")
    while data := tls_socket.recv(100):  # reads the tickets too, and the server's close_notify
        print("client got:", data.decode(), flush=True)
    print("client: reused" if tls_socket.is_session_reused() else "client: new session",
          tls_socket.version(), flush=True)
    tls_socket.close()
    return sessions[-1] if sessions else tls_socket.get_session()


server = greentls.create_server(reply, key=read("server-key.pem"), cert=read("server-cert.pem"))
greentls.new_session.connect(on_new_session, sender=server)
server.listen(0, "127.0.0.1")
port = server.address()["port"]
saved = fetch(port)
fetch(port, session=saved)
server.stop(timeout=1)
