"""ALPN: the server offers h2 and http/1.1 and answers in the protocol each client chose.

    python examples/alpn_server.py            # serves, connects three clients, prints, exits
    python examples/alpn_server.py --serve    # keeps serving on PORT (default 8443); try
    curl -k --http1.1 https://127.0.0.1:8443/      (and: openssl s_client -alpn h2 ...)

The server's order decides (RFC 7301 section 3.2); a client that offers nothing the server
speaks is refused with the no_application_protocol alert, as Node does since v17.
"""
import os
import sys

import trustme

import greentls

PORT = int(os.environ.get("PORT", "8443"))


def handle(tls_socket: greentls.TLSSocket) -> None:
    if tls_socket.alpn_protocol == "h2":
        # A real server would speak HTTP/2 here (e.g. with the h2 package); this one names the choice.
        tls_socket.sendall(b"negotiated h2\n")
        return
    request = b""
    while b"\r\n\r\n" not in request:
        chunk = tls_socket.recv(4096)
        if not chunk:
            return
        request += chunk
    body = f"negotiated {tls_socket.alpn_protocol}\n".encode()
    tls_socket.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s"
                       % (len(body), body))


def main() -> None:
    ca = trustme.CA()
    leaf = ca.issue_cert("localhost", "127.0.0.1")
    server = greentls.create_server(handle, key=leaf.private_key_pem.bytes(),
                                    cert=leaf.cert_chain_pems[0].bytes(), alpn_protocols=["h2", "http/1.1"])
    server.listen(PORT, "127.0.0.1")
    print(f"listening on 127.0.0.1:{PORT}", flush=True)
    if "--serve" in sys.argv:
        server.serve_forever()
        return
    for offer in (["http/1.1", "h2"], ["http/1.1"], ["spdy/3"]):
        try:
            tls = greentls.connect(PORT, "127.0.0.1", ca=ca.cert_pem.bytes(), alpn_protocols=offer)
        except greentls.TLSError as exc:
            print(f"offer {offer}: refused ({exc.code})", flush=True)
            continue
        if tls.alpn_protocol == "http/1.1":
            tls.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        reply = b""
        while chunk := tls.recv(4096):
            reply += chunk
        print(f"offer {offer}: {tls.alpn_protocol}, server says {reply.splitlines()[-1].decode()!r}", flush=True)
        tls.close()
    server.stop(timeout=1)


if __name__ == "__main__":
    main()
