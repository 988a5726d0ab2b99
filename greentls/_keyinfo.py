"""The ephemeral key exchange of a finished handshake, in Node's shape.

Node reports ``getEphemeralKeyInfo()`` from ``SSL_get_peer_tmp_key`` (src/crypto/crypto_common.cc,
``GetEphemeralKey``); the binding lacks it (FACTS.md item 4), but ``SSL_get0_group_name`` is bound
(``Connection.get_group_name()``), which names the negotiated group for ECDHE, the TLS 1.3
finite-field groups and hybrids (FACTS.md item 5).
"""
from __future__ import annotations

from typing import Any, Optional

from ._errors import TLSError

__all__ = ["ephemeral_key_info", "check_min_dh_size"]

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
# Hybrid groups: the size of the classical part (API.md).
_HYBRID_CLASSICAL = {"x25519": 253, "secp256r1": 256, "secp384r1": 384, "x448": 448}


def ephemeral_key_info(conn: Any, server_side: bool) -> Optional[dict]:
    """Node's ``getEphemeralKeyInfo()``: None on a server, ``{}`` without an ephemeral key."""
    if server_side:
        return None
    name = conn.get_group_name()
    if not name:
        dh_bits = getattr(conn, "_greentls_dh_bits", None)
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


def check_min_dh_size(tls: Any, min_dh_size: int) -> None:
    """Fail a client whose server used a DH group under ``min_dh_size`` bits, as Node does
    (lib/_tls_wrap.js ``onConnectSecure``: ``ERR_TLS_DH_PARAM_SIZE``)."""
    info = ephemeral_key_info(tls._engine.conn, False)
    if info and info.get("type") == "DH" and info["size"] < min_dh_size:
        raise TLSError(f"DH parameter size {info['size']} is less than {min_dh_size}",
                       code="ERR_TLS_DH_PARAM_SIZE", reason="dh key too small")
