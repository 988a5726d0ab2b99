"""The PSK fields of a TLS 1.2 handshake, read from its plaintext records as they arrive.

A ``psk_callback`` may block, so it cannot run inside OpenSSL's PSK callbacks (docs/architecture.rst,
"fact-callbacks").  Its answer must be ready before OpenSSL asks for it, and what the answer
depends on travels in the handshake before OpenSSL needs it:

* a server's key depends on the client's ``psk_identity``, the first field of every PSK
  ClientKeyExchange (RFC 4279 section 2, RFC 5489 section 2);
* a client's identity and key depend on the server's ``psk_identity_hint``, the first field of a
  PSK ServerKeyExchange, which the server sends before its ServerHelloDone (or omits).

TLS 1.3 carries the client's identities in the ClientHello's ``pre_shared_key`` extension
(``clienthello.py``), and a TLS 1.3 client has no hint.  ``HandshakeReader`` reassembles the
plaintext handshake messages of one direction; it stops at the first record that is not a
handshake record (ChangeCipherSpec, or TLS 1.3's encrypted records), so it costs nothing after
the handshake's plaintext part.
"""
from __future__ import annotations

__all__ = ["HandshakeReader", "first_vector", "CLIENT_HELLO", "CLIENT_KEY_EXCHANGE", "SERVER_HELLO",
           "SERVER_KEY_EXCHANGE", "SERVER_HELLO_DONE", "server_hello_cipher", "is_hello_retry_request"]

_HANDSHAKE_RECORD = 22
_CHANGE_CIPHER_SPEC = 20
CLIENT_HELLO = 1
SERVER_HELLO = 2
SERVER_KEY_EXCHANGE = 12
SERVER_HELLO_DONE = 14
CLIENT_KEY_EXCHANGE = 16
#: More buffered than this without a complete record or message: not TLS as we know it.
_LIMIT = 1 << 17


class HandshakeReader:
    """Plaintext handshake messages of one direction, as ``(type, body)`` pairs."""

    __slots__ = ("_records", "_messages", "done", "skip_change_cipher_spec")

    def __init__(self) -> None:
        self._records = b""
        self._messages = b""
        #: True once a record that is not a handshake record arrived (or the bytes are not TLS).
        self.done = False
        #: Set by the owner when one ChangeCipherSpec may come before more plaintext: a TLS 1.3
        #: client answering a HelloRetryRequest in middlebox compatibility mode (RFC 8446
        #: appendix D.4).  That record is skipped once; any other ends the reading.
        self.skip_change_cipher_spec = False

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        """Bytes as they came; returns the handshake messages they completed."""
        found: list[tuple[int, bytes]] = []
        if self.done:
            return found
        self._records += data
        while len(self._records) >= 5 and not self.done:
            length = int.from_bytes(self._records[3:5], "big")
            if len(self._records) < 5 + length:
                break
            kind, body = self._records[0], self._records[5:5 + length]
            self._records = self._records[5 + length:]
            if kind == _CHANGE_CIPHER_SPEC and self.skip_change_cipher_spec:
                self.skip_change_cipher_spec = False
                continue
            if kind != _HANDSHAKE_RECORD:
                self.done = True
                break
            self._messages += body
            while len(self._messages) >= 4:
                size = int.from_bytes(self._messages[1:4], "big")
                if len(self._messages) < 4 + size:
                    break
                found.append((self._messages[0], self._messages[4:4 + size]))
                self._messages = self._messages[4 + size:]
        if len(self._records) > _LIMIT or len(self._messages) > _LIMIT:
            self.done = True
        return found


def first_vector(body: bytes) -> bytes | None:
    """The ``opaque <0..2^16-1>`` vector a message begins with (a PSK ClientKeyExchange's
    ``psk_identity``, a PSK ServerKeyExchange's ``psk_identity_hint``); None if truncated."""
    if len(body) < 2:
        return None
    length = int.from_bytes(body[:2], "big")
    if len(body) < 2 + length:
        return None
    return body[2:2 + length]


#: A HelloRetryRequest is a ServerHello with this random (RFC 8446 section 4.1.3).
_HRR_RANDOM = bytes.fromhex("cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c")


def is_hello_retry_request(body: bytes) -> bool:
    """True for a ServerHello body that is a TLS 1.3 HelloRetryRequest."""
    return body[2:34] == _HRR_RANDOM


def server_hello_cipher(body: bytes) -> bytes | None:
    """The two bytes of the cipher suite a ServerHello selected (RFC 5246 section 7.4.1.3:
    version, 32 random bytes, session_id<0..32>, cipher_suite); None if truncated."""
    if len(body) < 35:
        return None
    session_id = body[34]
    start = 35 + session_id
    if len(body) < start + 2:
        return None
    return body[start:start + 2]
