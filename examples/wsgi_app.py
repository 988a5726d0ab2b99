"""A WSGI "hello" app served over greentls, for clients with a certificate only.

    python examples/make_certs.py                # certificates in examples/certs/
    python examples/wsgi_app.py                  # https://localhost:8443/ (PORT=... to change)
    curl --cacert examples/certs/server-cert.pem \\
         --cert examples/certs/client-cert.pem --key examples/certs/client-key.pem \\
         https://localhost:8443/

The server asks for a client certificate and rejects a client without one it trusts (here the
client's self-signed certificate, as in Node's docs); the app greets the client by the subject
mod_ssl's ``SSL_CLIENT_S_DN`` gives it.  Any WSGI application (Flask, Django...) runs the same way.
"""
import os

from greentls.wsgi import WSGIServer

CERTS = os.environ.get("CERTS", os.path.join(os.path.dirname(__file__), "certs"))


def read(name: str) -> bytes:
    with open(os.path.join(CERTS, name), "rb") as f:
        return f.read()


def hello(environ, start_response):
    """Greet the authenticated client; the TLS facts come from mod_ssl's environ names."""
    body = (f"hello {environ['SSL_CLIENT_S_DN']}\n"
            f"verified: {environ['SSL_CLIENT_VERIFY']}, over {environ['SSL_PROTOCOL']} "
            f"with {environ['SSL_CIPHER']}\n").encode()
    start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8"),
                              ("Content-Length", str(len(body)))])
    return [body]


server = WSGIServer(
    ("127.0.0.1", int(os.environ.get("PORT", "8443"))), hello,
    key=read("server-key.pem"),
    cert=read("server-cert.pem"),
    request_cert=True,               # ask every client for a certificate...
    reject_unauthorized=True,        # ...and refuse the handshake without a trusted one
    ca=[read("client-cert.pem")],    # trust the client's self-signed certificate
)
server.start()
print("server bound", flush=True)
server.serve_forever()
