"""The greentls server that ``benchmarks/tlsfuzzer.py`` runs tlsfuzzer's scripts against.

Run it by hand with (one ``--key``/``--cert`` pair per certificate; pass an ECDSA and an RSA
pair, since most TLS 1.3 scripts offer only RSA-PSS signatures)::

    .venv/bin/python benchmarks/tlsfuzzer_server.py --port 4433 \\
        --key ecdsa-key.pem --cert ecdsa-chain.pem --key rsa-key.pem --cert rsa-chain.pem

It prints ``listening <port>`` once it accepts connections (``--port 0`` picks a free port).
Every option is greentls's default (Node's): TLS 1.2 and 1.3, Node's cipher list, client
renegotiation within Node's limits, no client certificate.

What it says on a connection (``tlsfuzzer.py`` carries the same behaviour in JavaScript for
the Node reference server, so both answer the scripts alike):

* a request that starts with ``GET `` (the scripts send ``GET / HTTP/1.0`` ending in
  ``\\r\\n\\r\\n`` or ``\\n\\n``, sometimes split over records) gets ``RESPONSE`` in one write
  (one record), and the connection stays open for the next request;
* any other line is echoed in one write, including its ``\\n``; bytes without a newline are
  echoed once ``ECHO_FLUSH`` of them have piled up;
* at the client's close_notify (or its FIN) the handler returns and greentls closes cleanly:
  close_notify, then FIN.

``--bare`` serves the same answers from the same OpenSSL context (greentls builds it, with the
same options) but through plain pyOpenSSL on one blocking socket per thread, without
greentls's I/O: no ClientHello parser, no memory BIOs, no greenlets.  It tells a failure of
greentls's own layer from a behaviour of the OpenSSL that pyOpenSSL's wheel carries.
"""
from __future__ import annotations

import argparse
import socket
import sys
import threading
from pathlib import Path

from OpenSSL import SSL

import greentls

#: The reply to a ``GET`` request, 41 bytes (scripts that check the reply's size take it as
#: an option, e.g. ``test-record-size-limit.py --reply-AD-size 41``).
RESPONSE = b"HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nok\n"
#: Echo bytes that carry no newline once this many have arrived (one full record).
ECHO_FLUSH = 16384
#: Give up on a ``GET`` request whose header grows past this.
MAX_REQUEST = 1 << 20
_GET = b"GET "
_TERMINATORS = (b"\r\n\r\n", b"\n\n")


def replies(buffer: bytes) -> tuple[list[bytes], bytes]:
    """Split ``buffer`` (what the client sent so far) into the writes it calls for and the
    bytes kept for later (an unfinished request or line)."""
    out: list[bytes] = []
    while buffer:
        if buffer.startswith(_GET):
            ends = [i + len(t) for t in _TERMINATORS if (i := buffer.find(t)) >= 0]
            if not ends:
                if len(buffer) > MAX_REQUEST:
                    raise ValueError("request header too long")
                break
            out.append(RESPONSE)
            buffer = buffer[min(ends):]
        elif _GET.startswith(buffer):
            break  # "G", "GE", "GET": wait for the rest
        else:
            newline = buffer.find(b"\n")
            if newline >= 0:
                out.append(buffer[:newline + 1])
                buffer = buffer[newline + 1:]
            elif len(buffer) >= ECHO_FLUSH:
                out.append(buffer[:ECHO_FLUSH])
                buffer = buffer[ECHO_FLUSH:]
            else:
                break
    return out, buffer


def handle(tls_socket: greentls.TLSSocket) -> None:
    """Answer requests and echo lines until the client ends the connection."""
    pending = b""
    try:
        while data := tls_socket.recv(65536):
            writes, pending = replies(pending + data)
            for write in writes:
                tls_socket.sendall(write)
    except (OSError, greentls.TLSError, ValueError):
        pass  # a broken record, a reset: greentls already did what OpenSSL says to do


def handle_bare(context: SSL.Context, sock: socket.socket) -> None:
    """``handle`` on plain pyOpenSSL: handshake, answer, close_notify at the client's."""
    conn = SSL.Connection(context, sock)
    conn.set_accept_state()
    pending = b""
    try:
        conn.do_handshake()
        while True:
            try:
                data = conn.recv(65536)
            except SSL.ZeroReturnError:
                conn.shutdown()
                break
            if not data:
                break
            writes, pending = replies(pending + data)
            for write in writes:
                conn.sendall(write)
    except (OSError, SSL.Error, ValueError):
        # OpenSSL already sent its alert, if any.  Send FIN and drop what the client still
        # sends for a moment: closing with unread bytes would reset the connection, and the
        # reset can overtake the alert.
        try:
            sock.shutdown(socket.SHUT_WR)
            sock.settimeout(1.0)
            while sock.recv(65536):
                pass
        except OSError:
            pass
    finally:
        sock.close()


def serve_bare(listener: socket.socket, context: SSL.Context) -> None:
    """Accept forever, one thread per connection."""
    while True:
        sock, _ = listener.accept()
        threading.Thread(target=handle_bare, args=(context, sock), daemon=True).start()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4433)
    parser.add_argument("--key", action="append", required=True, type=Path,
                        help="a private key in PEM (repeat, in the order of --cert)")
    parser.add_argument("--cert", action="append", required=True, type=Path,
                        help="a certificate chain in PEM, leaf first (repeat)")
    parser.add_argument("--bare", action="store_true",
                        help="serve through plain pyOpenSSL instead of greentls (diagnosis)")
    args = parser.parse_args(argv)
    if len(args.key) != len(args.cert):
        parser.error("give one --key per --cert")
    if args.bare:
        context = greentls.create_secure_context(key=args.key, cert=args.cert)
        listener = socket.create_server((args.host, args.port))
        print(f"listening {listener.getsockname()[1]}", flush=True)
        try:
            serve_bare(listener, context.server_context(False, False))
        except KeyboardInterrupt:
            pass
        return 0
    server = greentls.create_server(handle, key=args.key, cert=args.cert)
    server.listen(args.port, args.host)
    print(f"listening {server.address()['port']}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
