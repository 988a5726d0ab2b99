"""One server, two host names, two certificates (SNI), as Node's ``server.addContext``.

    python examples/sni_server.py            # serves, connects a client per name, prints, exits
    python examples/sni_server.py --serve    # keeps serving on PORT (default 8443); try
    openssl s_client -connect 127.0.0.1:8443 -servername shop.example.com

Certificates come from a throw-away test CA (``trustme``).  ``api.example.com`` has an exact
entry, every ``*.example.com`` name gets the wildcard certificate, other names the default.
"""
import os
import sys

import trustme

import greentls

PORT = int(os.environ.get("PORT", "8443"))


def options_for(ca: trustme.CA, name: str) -> dict:
    leaf = ca.issue_cert(name)
    return {"key": leaf.private_key_pem.bytes(), "cert": leaf.cert_chain_pems[0].bytes()}


def greet(tls_socket: greentls.TLSSocket) -> None:
    tls_socket.sendall(f"hello, {tls_socket.servername}\n".encode())


def main() -> None:
    ca = trustme.CA()
    server = greentls.create_server(greet, **options_for(ca, "localhost"))
    server.add_context("*.example.com", options_for(ca, "*.example.com"))
    server.add_context("api.example.com", greentls.create_secure_context(**options_for(ca, "api.example.com")))
    server.listen(PORT, "127.0.0.1")
    print(f"listening on 127.0.0.1:{PORT}", flush=True)
    if "--serve" in sys.argv:
        server.serve_forever()
        return
    for name in ("api.example.com", "shop.example.com", "localhost"):
        tls = greentls.connect(PORT, "127.0.0.1", servername=name, ca=ca.cert_pem.bytes())
        san = tls.get_peer_certificate()["subjectaltname"]
        print(f"{name}: certificate {san}, server says {tls.recv(100).decode().strip()!r}", flush=True)
        tls.close()
    server.stop(timeout=1)


if __name__ == "__main__":
    main()
