"""TLS-PSK: a server and a client that authenticate each other with a pre-shared key, no
certificate checked, over TLS 1.2 (a PSK cipher suite, with an identity hint) and TLS 1.3
(an external PSK).

    python examples/psk.py            # serves, connects a client per version, prints, exits

The server's psk_callback looks the client's identity up (it may block: it runs in the
connection's greenlet); the client's psk_callback answers the identity and key to offer.
"""
import trustme

import greentls

KEYS = {"sensor-17": bytes.fromhex("7e3a9c41d2b85f06a1c4e98b0d3f5a27")}


def key_for(tls_socket: greentls.TLSSocket, identity: str) -> bytes | None:
    return KEYS.get(identity)  # None: unknown identity, refused


def handle(tls_socket: greentls.TLSSocket) -> None:
    tls_socket.sendall(f"hello {tls_socket.get_protocol()}\n".encode())
    tls_socket.close()


def main() -> None:
    # The server keeps a certificate for clients that bring no PSK; PSK handshakes never send it.
    leaf = trustme.CA().issue_cert("localhost")
    server = greentls.create_server(
        handle, key=leaf.private_key_pem.bytes(), cert=leaf.cert_chain_pems[0].bytes(),
        psk_callback=key_for, psk_identity_hint="sensors",
        # PSK cipher suites are named explicitly (TLS 1.2); a TLS 1.3 external PSK is for SHA-256.
        ciphers="TLS_AES_128_GCM_SHA256:ECDHE-PSK-AES128-CBC-SHA256:PSK-AES128-GCM-SHA256")
    server.listen(0, "127.0.0.1")
    port = server.address()["port"]

    def offer(tls_socket: greentls.TLSSocket, hint: str | None) -> dict:
        print(f"  client asked, hint={hint!r}")
        return {"identity": "sensor-17", "psk": KEYS["sensor-17"]}

    for version in ("TLSv1.2", "TLSv1.3"):
        client = greentls.connect(port, "127.0.0.1", psk_callback=offer, min_version=version,
                                  max_version=version,
                                  ciphers="TLS_AES_128_GCM_SHA256:ECDHE-PSK-AES128-CBC-SHA256",
                                  # No certificate comes with a PSK: accept that, as in Node.
                                  check_server_identity=lambda host, cert: None)
        print(client.recv(100).decode().strip(), "| authorized:", client.authorized,
              "| cipher:", client.get_cipher()["name"])
        client.close()
    server.close()


if __name__ == "__main__":
    main()
