"""Legacy stdlib code on greentls: one changed line in the server, one in the client.

    python examples/make_certs.py           # once: examples/certs/ (CERTS=... to change)
    python examples/stdlib_legacy.py        # serves on PORT (default 8443), fetches from it

The server is ``http.server.ThreadingHTTPServer`` with the stdlib's HTTPS recipe
(``httpd.socket = context.wrap_socket(httpd.socket, server_side=True)``); its one greentls
line builds the context.  The client is ``requests``, unchanged; its one greentls line is
``greentls.inject_into_ssl()``, after which every ``ssl.SSLContext`` in the process (the ones
``requests``/``urllib3`` build for themselves included) is a ``greentls.SSLContext``.
Verification stays on: the client trusts the example's self-signed server certificate.
Prints what the server answered, then exits.
"""
import http.server
import os
import ssl
import threading

import requests

import greentls

CERTS = os.environ.get("CERTS", os.path.join(os.path.dirname(__file__), "certs"))
PORT = int(os.environ.get("PORT", "8443"))


class Hello(http.server.BaseHTTPRequestHandler):
    """A legacy handler: it sees the connection as an ``ssl.SSLSocket`` (greentls's)."""

    def do_GET(self) -> None:
        body = (f"hello {self.request.version()} from {type(self.request).__module__}."
                f"{type(self.request).__name__}\n").encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def serve() -> http.server.ThreadingHTTPServer:
    context = greentls.SSLContext(ssl.PROTOCOL_TLS_SERVER)  # the server's one line (was ssl.SSLContext)
    context.load_cert_chain(os.path.join(CERTS, "server-cert.pem"), os.path.join(CERTS, "server-key.pem"))
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", PORT), Hello)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd


def fetch() -> str:
    greentls.inject_into_ssl()  # the client's one line
    response = requests.get(f"https://localhost:{PORT}/", verify=os.path.join(CERTS, "server-cert.pem"),
                            timeout=10)
    response.raise_for_status()
    return response.text


if __name__ == "__main__":
    server = serve()
    try:
        print(fetch(), end="")
    finally:
        server.shutdown()
        server.server_close()
