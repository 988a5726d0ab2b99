"""What a finished connection can tell about itself (Node's ``TLSSocket`` getters).

One mixin, shared by ``TLSSocket`` and ``SecurePair.cleartext`` so both report alike; it reads
only the engine (``self._engine``) and never does I/O.
"""
from __future__ import annotations

import socket
from typing import TYPE_CHECKING, Any

from greentls._base.binding import ffi as _ffi, lib as _lib
from greentls._config import ciphers as _ciphers
from greentls._engine.state import State
from greentls._parse import certinfo as _certinfo

if TYPE_CHECKING:
    from cryptography import x509
    from OpenSSL import SSL

    from greentls._engine.engine import TLSEngine
    from greentls._parse.certinfo import CertDict
    from greentls._parse.keyinfo import EphemeralKeyInfo, ServerKeyExchangeSniffer

__all__ = ["ConnectionInfo", "client_random"]


class ConnectionInfo:
    """Read-only views of the negotiated connection, with Node's names and shapes."""

    _engine: TLSEngine
    #: A client's reader of the server's DH parameters (``_parse/keyinfo.py``), else None.
    _ske_sniffer: ServerKeyExchangeSniffer | None

    def get_cipher(self) -> dict[str, str | None] | None:
        """``{"name", "standardName", "version"}`` of the negotiated suite, or None before it."""
        conn = self._engine.conn
        name = conn.get_cipher_name()
        if name is None:
            return None
        return {"name": name, "standardName": _ciphers.standard_name(name),
                "version": conn.get_cipher_version()}

    def get_protocol(self) -> str | None:
        """``"TLSv1.3"``, ``"TLSv1.2"``...; ``"unknown"`` before the handshake; None when closed."""
        state = self._engine.state
        if state is State.CLOSED:
            return None
        if state is not State.OPEN and state is not State.CLOSING:
            return "unknown"
        return self._engine.conn.get_protocol_version_name()

    @property
    def alpn_protocol(self) -> str | None:
        """The protocol ALPN selected (RFC 7301), or None."""
        selected = self._engine.conn.get_alpn_proto_negotiated()
        return selected.decode("ascii", "replace") if selected else None

    def get_peer_certificate(self, detailed: bool = False) -> CertDict:
        """The peer's certificate in Node's shape; ``{}`` when there is none."""
        conn = self._engine.conn
        cert = conn.get_peer_certificate(as_cryptography=True)
        if cert is None:
            return {}
        if not detailed:
            return _certinfo.certificate_dict(cert)
        chain = conn.get_peer_cert_chain(as_cryptography=True) or [cert]
        if self._engine.server_side or chain[0] != cert:
            chain = [cert] + [c for c in chain if c != cert]
        return _certinfo.certificate_chain_dict(chain, _trust_store_certs(conn))

    def get_peer_x509_certificate(self) -> x509.Certificate | None:
        """The peer's certificate as a ``cryptography.x509.Certificate``, or None when it sent
        none (Node's ``getPeerX509Certificate()``).  Unverified: check ``authorized``."""
        return self._engine.conn.get_peer_certificate(as_cryptography=True)

    def get_x509_certificate(self) -> x509.Certificate | None:
        """This side's own certificate as a ``cryptography.x509.Certificate``, or None when it
        has none (Node's ``getX509Certificate()``)."""
        return self._engine.conn.get_certificate(as_cryptography=True)

    def getpeercert(self, binary_form: bool = False) -> Any:
        """``ssl.SSLSocket.getpeercert()``: None without a peer certificate; the DER bytes with
        ``binary_form``; else the stdlib's dict, which (as the stdlib) is ``{}`` when the
        certificate was not verified."""
        cert = self._engine.conn.get_peer_certificate(as_cryptography=True)
        if cert is None:
            return None
        if binary_form:
            from cryptography.hazmat.primitives.serialization import Encoding
            return cert.public_bytes(Encoding.DER)
        if not getattr(self, "authorized", False):
            return {}
        return _certinfo.getpeercert_dict(cert)

    def get_certificate(self) -> CertDict:
        """This side's own certificate in Node's shape; ``{}`` when there is none."""
        cert = self._engine.conn.get_certificate(as_cryptography=True)
        return _certinfo.certificate_dict(cert) if cert is not None else {}

    def get_session(self) -> bytes | None:
        """The current session as DER bytes (usable as ``connect(session=...)``), or None."""
        from greentls._config.sessions import current_session_bytes
        return current_session_bytes(self._engine.conn)

    def get_tls_ticket(self) -> bytes | None:
        """Client: the session ticket the server sent (RFC 5077 / RFC 8446 4.6.1), or None."""
        from greentls._config.sessions import ticket_from_der
        der = self.get_session()
        return ticket_from_der(der) if der and not self._engine.server_side else None

    def get_finished(self) -> bytes | None:
        """The Finished message this side sent in the last handshake, or None."""
        return self._engine.conn.get_finished()

    def get_peer_finished(self) -> bytes | None:
        """The Finished message the peer sent in the last handshake, or None."""
        return self._engine.conn.get_peer_finished()

    def get_ephemeral_key_info(self) -> EphemeralKeyInfo | None:
        """Client: the key exchange (``{"type", "name", "size"}``), ``{}``; server: None."""
        from greentls._parse.keyinfo import ephemeral_key_info
        return ephemeral_key_info(self._engine.conn, self._engine.server_side, self._ske_sniffer)

    def export_keying_material(self, length: int, label: str | bytes, context: bytes | None = None) -> bytes:
        """RFC 5705 keying material (Node's ``exportKeyingMaterial``)."""
        if isinstance(label, str):
            label = label.encode("ascii")
        return self._engine.export_keying_material(label, length, context)

    def cipher(self) -> tuple[str, str, int | None] | None:
        """``ssl.SSLSocket.cipher()``: (name, protocol version, secret bits), or None."""
        conn = self._engine.conn
        name = conn.get_cipher_name()
        if name is None:
            return None
        return (name, conn.get_protocol_version_name(), conn.get_cipher_bits())

    def version(self) -> str | None:
        """``ssl.SSLSocket.version()``: "TLSv1.3" etc., None before the handshake."""
        protocol = self.get_protocol()
        return None if protocol in (None, "unknown") else protocol

    def selected_alpn_protocol(self) -> str | None:
        """``ssl.SSLSocket.selected_alpn_protocol()``."""
        return self.alpn_protocol

    @property
    def server_hostname(self) -> str | None:
        """``ssl.SSLSocket.server_hostname``: the name a client asked for; None on servers."""
        return None if self._engine.server_side else getattr(self, "servername", None)

    def get_shared_sigalgs(self) -> list[str]:
        """The signature algorithms both sides accept, most preferred first, in Node's
        spellings (``"RSA-PSS+SHA256"``, ``"ECDSA+SHA384"``; Node's ``getSharedSigalgs()``).

        Raises ``UnsupportedError`` where the binding lacks ``SSL_get_shared_sigalgs``
        (``greentls.capabilities["shared_sigalgs"]``): the list is OpenSSL's own computation."""
        from greentls._base.capabilities import REASONS, capabilities
        if not capabilities["shared_sigalgs"]:
            from greentls._base.errors import UnsupportedError
            raise UnsupportedError(f"get_shared_sigalgs(): {REASONS['shared_sigalgs']}",
                                   reason="no SSL_get_shared_sigalgs")
        return _shared_sigalgs(self._engine.conn._ssl)

    def is_session_reused(self) -> bool:
        """True when the handshake resumed a session."""
        return bool(_lib.SSL_session_reused(self._engine.conn._ssl))


#: Node's prefixes for the signing key types (``GetSharedSigalgs`` in src/crypto/crypto_tls.cc);
#: any other type is named by its OpenSSL short name.
_SIG_PREFIXES = {"EVP_PKEY_RSA": "RSA", "EVP_PKEY_RSA_PSS": "RSA-PSS", "EVP_PKEY_DSA": "DSA",
                 "EVP_PKEY_EC": "ECDSA", "EVP_PKEY_ED25519": "Ed25519", "EVP_PKEY_ED448": "Ed448"}


def client_random(conn: SSL.Connection) -> bytes:
    """The 32 bytes of the ClientHello's random as OpenSSL holds them (zeros before one was
    read), with or without a session; pyOpenSSL's ``client_random()`` needs a session."""
    buffer = _ffi.new("unsigned char[]", 32)
    size = _lib.SSL_get_client_random(conn._ssl, buffer, 32)
    return bytes(_ffi.buffer(buffer, size))


def _nid_name(nid: int) -> str:
    from greentls._base.binding import NULL, c_string
    name = _lib.OBJ_nid2sn(nid)
    return "UNDEF" if name == NULL else c_string(name).decode("ascii", "replace")


def _shared_sigalgs(ssl: Any) -> list[str]:
    """Node's loop over ``SSL_get_shared_sigalgs(ssl, i, &sign, &hash, ...)``: "<key>+<hash>"."""
    from greentls._base.binding import NULL, ffi
    prefixes = {getattr(_lib, const): text for const, text in _SIG_PREFIXES.items() if hasattr(_lib, const)}
    sign, digest = ffi.new("int *"), ffi.new("int *")
    count = _lib.SSL_get_shared_sigalgs(ssl, 0, NULL, NULL, NULL, NULL, NULL)
    names = []
    for index in range(count):
        _lib.SSL_get_shared_sigalgs(ssl, index, sign, digest, NULL, NULL, NULL)
        names.append(f"{prefixes.get(sign[0]) or _nid_name(sign[0])}+{_nid_name(digest[0])}")
    return names


def _trust_store_certs(conn: SSL.Connection) -> list[x509.Certificate]:
    """Certificates of the verified chain past the presented one (Node completes the detailed
    chain from the trust store: the root a client sends rarely)."""
    try:
        verified = conn.get_verified_chain(as_cryptography=True)
    except Exception:  # no verification took place (VERIFY_NONE)
        return []
    return list(verified or [])


def address_dict(name: Any, sock: socket.socket) -> Any:
    """Node's ``address()`` shape for a socket name: a dict for TCP, the path for Unix."""
    if isinstance(name, (str, bytes)):
        return name.decode() if isinstance(name, bytes) else name
    family = "IPv6" if sock.family == socket.AF_INET6 else "IPv4"
    return {"address": name[0], "family": family, "port": name[1]}
