"""Peer verification policy, as Node applies it after OpenSSL's chain check.

Node lets OpenSSL verify the chain, then decides itself (lib/_tls_wrap.js ``onConnectSecure``,
src/crypto/crypto_tls.cc ``VerifyError``): ``authorized`` and ``authorizationError`` come from
``SSL_get_verify_result``; a client then runs ``check_server_identity``.  When the peer must be
rejected we let OpenSSL abort the handshake itself (verify callback absent), so the peer gets a
proper alert; when it may pass, an accept-all callback lets the handshake finish and the result
is only reported.
"""
from __future__ import annotations

from typing import Any, Optional

from OpenSSL import SSL
from OpenSSL._util import lib as _lib

from ._errors import CertificateError, TLSError, verify_code_name

__all__ = ["configure_verify", "verify_result", "certificate_error_for", "accept_any"]


def accept_any(_conn: Any, _cert: Any, _errno: int, _depth: int, _ok: int) -> bool:
    """Verify callback that lets the handshake finish; the result is judged afterwards.

    Runs inside OpenSSL; only returns (FACTS.md item 7)."""
    return True


def configure_verify(conn: SSL.Connection, *, server_side: bool, request_cert: bool,
                     reject_unauthorized: bool) -> None:
    """Set this connection's verify mode from Node's options (src/crypto/crypto_tls.cc,
    ``TLSWrap::SetVerifyMode``: a server with ``requestCert`` asks with SSL_VERIFY_PEER and,
    with ``rejectUnauthorized``, also SSL_VERIFY_FAIL_IF_NO_PEER_CERT)."""
    if server_side and not request_cert:
        conn.set_verify(SSL.VERIFY_NONE)
        return
    mode = SSL.VERIFY_PEER
    if server_side and reject_unauthorized:
        mode |= SSL.VERIFY_FAIL_IF_NO_PEER_CERT
    conn.set_verify(mode, None if reject_unauthorized else accept_any)


def verify_result(conn: SSL.Connection) -> Optional[str]:
    """Node's ``authorizationError`` for a finished handshake, or None when authorized.

    Without a peer certificate Node reports ``UNSPECIFIED``, except for a resumed TLS 1.3
    session, which proves the peer as a PSK does (crypto_common.cc ``VerifyPeerCertificate``).
    """
    if conn.get_peer_certificate() is None:
        if conn.get_protocol_version_name() == "TLSv1.3" and _lib.SSL_session_reused(conn._ssl):
            return None
        return "UNSPECIFIED"
    code = _lib.SSL_get_verify_result(conn._ssl)
    return None if code == 0 else verify_code_name(code)


def certificate_error_for(conn: SSL.Connection, exc: TLSError) -> TLSError:
    """Turn OpenSSL's "certificate verify failed" into a ``CertificateError`` with the verify
    code's name (``CERT_HAS_EXPIRED``...), which is what Node reports as the error code."""
    if exc.reason and "certificate verify failed" in exc.reason:
        code = _lib.SSL_get_verify_result(conn._ssl)
        if code:
            name = verify_code_name(code)
            text = _lib.X509_verify_cert_error_string(code)
            from OpenSSL._util import ffi
            message = ffi.string(text).decode("ascii", "replace") if text != ffi.NULL else name
            return CertificateError(message, code=name, reason=message)
    return exc
