"""The ephemeral key exchange of a finished handshake, in Node's shape.

Node reports ``getEphemeralKeyInfo()`` from ``SSL_get_peer_tmp_key`` (src/crypto/crypto_common.cc,
``GetEphemeralKey``); the binding lacks it (docs/architecture.rst, "fact-binding-gaps"), but
``SSL_get0_group_name`` is bound (``Connection.get_group_name()``), which names the negotiated
group for ECDHE, the TLS 1.3 finite-field groups and hybrids (docs/architecture.rst,
"fact-groups").  A TLS 1.2 DHE exchange with the server's own parameters (``dhparam``) has no group
name: its size is the bit length of the prime ``dh_p`` in the server's ServerKeyExchange (RFC 5246
section 7.4.3), which a client reads from the plaintext handshake records as they arrive
(``ServerKeyExchangeSniffer``): the client's handshake runs on memory BIOs, so the sniffer sees
only handshake bytes and costs nothing after it.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, TypedDict

from greentls._base.errors import TLSError
from greentls._parse.pskinfo import SERVER_HELLO_DONE, SERVER_KEY_EXCHANGE, HandshakeReader

if TYPE_CHECKING:
    from OpenSSL import SSL

__all__ = ["ephemeral_key_info", "check_min_dh_size", "ServerKeyExchangeSniffer", "EphemeralKeyInfo"]


class EphemeralKeyInfo(TypedDict, total=False):
    """Node's ``getEphemeralKeyInfo()`` object: ``type`` ("ECDH" or "DH"), ``name`` (ECDH
    only) and ``size`` in bits; empty without an ephemeral key."""

    type: str
    name: str
    size: int

class ServerKeyExchangeSniffer:
    """Reads the server's plaintext TLS 1.2 handshake records for its ServerKeyExchange."""

    __slots__ = ("_reader", "done", "server_key_exchange")

    def __init__(self) -> None:
        self._reader = HandshakeReader()
        self.done = False
        #: The ServerKeyExchange body, when the server sent one.
        self.server_key_exchange: bytes | None = None

    def observe(self, data: bytes) -> None:
        """A transport observer (``MemoryPump.observe``): bytes read from the server, until done."""
        if not self.done:
            self.feed(data)

    def feed(self, data: bytes) -> None:
        """Bytes from the server; stops at the first record that is not a handshake record
        (ChangeCipherSpec, or TLS 1.3's encrypted records) or at ServerHelloDone."""
        for kind, body in self._reader.feed(data):
            if kind == SERVER_KEY_EXCHANGE:
                self.server_key_exchange = body
            elif kind == SERVER_HELLO_DONE:
                self.done = True
                return
        if self._reader.done:
            self.done = True

    def dh_bits(self, after_hint: bool = False) -> int | None:
        """Bit length of ``dh_p`` (ServerDHParams: ``opaque dh_p<1..2^16-1>`` first; for
        DHE_PSK after the ``psk_identity_hint<0..2^16-1>``, RFC 4279 section 3)."""
        body = self.server_key_exchange
        if body and after_hint and len(body) >= 2:
            body = body[2 + int.from_bytes(body[:2], "big"):]
        if not body or len(body) < 2:
            return None
        length = int.from_bytes(body[:2], "big")
        return int.from_bytes(body[2:2 + length], "big").bit_length() or None

# OpenSSL group name -> (Node's name, size in bits).  Node names curves by their OpenSSL short
# name ("prime256v1", not "P-256") and reports X25519 as 253 bits and X448 as 448.
_EC_GROUPS = {
    "x25519": ("X25519", 253),
    "x448": ("X448", 448),
    "secp256r1": ("prime256v1", 256),
    "prime256v1": ("prime256v1", 256),
    "secp384r1": ("secp384r1", 384),
    "secp521r1": ("secp521r1", 521),
    "brainpoolp256r1": ("brainpoolP256r1", 256),
    "brainpoolp384r1": ("brainpoolP384r1", 384),
    "brainpoolp512r1": ("brainpoolP512r1", 512),
}
# Hybrid groups: the size of the classical part (docs/api/tlssocket.rst, get_ephemeral_key_info).
_HYBRID_CLASSICAL = {"x25519": 253, "secp256r1": 256, "secp384r1": 384, "x448": 448}


def ephemeral_key_info(conn: SSL.Connection, server_side: bool,
                       sniffer: ServerKeyExchangeSniffer | None = None) -> EphemeralKeyInfo | None:
    """Node's ``getEphemeralKeyInfo()``: None on a server, ``{}`` without an ephemeral key.
    ``sniffer`` is the client's, which saw the server's DH parameters (TLS 1.2 DHE)."""
    if server_side:
        return None
    name = conn.get_group_name()
    if not name:
        # Not ECDHE nor a named group: a server's own DH parameters, or no ephemeral key.
        cipher = conn.get_cipher_name() or ""
        if "PSK" in cipher and not cipher.startswith("DHE-PSK"):
            return {}  # plain PSK (or RSA-PSK): no ephemeral key; the exchange carries a hint
        dh_bits = sniffer.dh_bits(after_hint=cipher.startswith("DHE-PSK")) if sniffer is not None else None
        return {"type": "DH", "size": dh_bits} if dh_bits else {}
    key = name.lower()
    if key in _EC_GROUPS:
        node_name, size = _EC_GROUPS[key]
        return {"type": "ECDH", "name": node_name, "size": size}
    if key.startswith("ffdhe"):
        return {"type": "DH", "size": int(key[5:])}
    for classical, size in _HYBRID_CLASSICAL.items():
        if classical in key or (classical == "secp256r1" and "p256" in key) or \
                (classical == "secp384r1" and "p384" in key):
            return {"type": "ECDH", "name": name, "size": size}
    return {"type": "ECDH", "name": name, "size": 0}


def check_min_dh_size(info: EphemeralKeyInfo | None, min_dh_size: int) -> None:
    """Fail a client whose server used a DH group under ``min_dh_size`` bits, as Node does
    (lib/_tls_wrap.js ``onConnectSecure``: ``ERR_TLS_DH_PARAM_SIZE``); ``info`` is the
    client's ``get_ephemeral_key_info()``."""
    if info and info.get("type") == "DH" and info["size"] < min_dh_size:
        raise TLSError(f"DH parameter size {info['size']} is less than {min_dh_size}",
                       code="ERR_TLS_DH_PARAM_SIZE", reason="dh key too small")
