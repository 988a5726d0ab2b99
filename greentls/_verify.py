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

from ._engine import is_tls13
from ._errors import CertificateError, TLSError, verify_code_name

__all__ = ["configure_verify", "verify_result", "certificate_error_for", "accept_any"]


def accept_any(conn: Any, _cert: Any, errno: int, depth: int, _ok: int) -> bool:
    """Verify callback that lets the handshake finish; the result is judged afterwards.

    pyOpenSSL resets the store's error to X509_V_OK when a callback accepts, so
    ``SSL_get_verify_result`` would read OK: the callback records the error itself (the last
    one, as OpenSSL's own ``ctx->error`` would hold).  Runs inside OpenSSL; only records
    (FACTS.md item 7)."""
    if errno:
        engine = conn.get_app_data()
        if engine is not None:
            engine.verify_error = (errno, depth)
    return True


def node_verify_code(code: int, depth: int) -> str:
    """The verify error name Node reports for OpenSSL's ``code`` at chain ``depth``.

    Node's OpenSSL 3.0 reports a lone leaf whose issuer is unknown as
    ``UNABLE_TO_VERIFY_LEAF_SIGNATURE`` ("unable to verify the first certificate"); OpenSSL 4,
    ours, reports ``UNABLE_TO_GET_ISSUER_CERT_LOCALLY`` at depth 0 for the same chain."""
    if code == 20 and depth == 0:
        return "UNABLE_TO_VERIFY_LEAF_SIGNATURE"
    return verify_code_name(code)


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

    Without a peer certificate Node reports ``UNABLE_TO_GET_ISSUER_CERT`` (the default that
    ``TLSWrap::VerifyError`` passes to crypto_common.cc ``VerifyPeerCertificate``; checked
    against Node v20 in tests/test_mtls.py), except for a resumed TLS 1.3 session, which
    proves the peer as a PSK does.
    """
    if conn.get_peer_certificate() is None:
        if is_tls13(conn) and _lib.SSL_session_reused(conn._ssl):
            return None
        return "UNABLE_TO_GET_ISSUER_CERT"
    engine = conn.get_app_data()
    recorded = getattr(engine, "verify_error", None)
    if recorded is not None:
        return node_verify_code(*recorded)
    code = _lib.SSL_get_verify_result(conn._ssl)
    return None if code == 0 else node_verify_code(code, _failed_depth(conn))


def _failed_depth(conn: SSL.Connection) -> int:
    """Where an aborted verification stopped: depth 0 when the peer sent its leaf alone."""
    chain = conn.get_peer_cert_chain()
    return 0 if chain is None or len(chain) <= 1 else 1


def certificate_error_for(conn: SSL.Connection, exc: TLSError) -> TLSError:
    """Turn OpenSSL's "certificate verify failed" into a ``CertificateError`` with the verify
    code's name (``CERT_HAS_EXPIRED``...), which is what Node reports as the error code."""
    if exc.reason and "certificate verify failed" in exc.reason:
        code = _lib.SSL_get_verify_result(conn._ssl)
        if code:
            name = node_verify_code(code, _failed_depth(conn))
            text = _lib.X509_verify_cert_error_string(code)
            from OpenSSL._util import ffi
            message = ffi.string(text).decode("ascii", "replace") if text != ffi.NULL else name
            return CertificateError(message, code=name, reason=message)
    return exc
