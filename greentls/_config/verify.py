"""Peer verification policy, as Node applies it after OpenSSL's chain check.

Node lets OpenSSL verify the chain, then decides itself (lib/_tls_wrap.js ``onConnectSecure``,
src/crypto/crypto_tls.cc ``VerifyError``): ``authorized`` and ``authorizationError`` come from
``SSL_get_verify_result``; a client then runs ``check_server_identity``.  When the peer must be
rejected we let OpenSSL abort the handshake itself (verify callback absent), so the peer gets a
proper alert; when it may pass, an accept-all callback lets the handshake finish and the result
is only reported.

Resumption keeps the verdict.  OpenSSL stores the connection's verify result in the session it
makes (``SSL_SESSION.verify_result``) and a resumed handshake reads it back, with the peer
certificate, from that session.  So the accept-all callback must leave OpenSSL's error in place
(Node's ``VerifyCallback`` only returns 1): pyOpenSSL's own callback wrapper resets the error to
``X509_V_OK`` when a callback accepts, which stored "OK" in the session and let a client with an
untrusted certificate resume as authorized.  Our callback is raw cffi and never touches the
error.  A peer that sent no certificate is never authorized, resumed or not (a TLS 1.3 resumption
proves only that the peer holds the session, not that it was ever authorized).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from OpenSSL import SSL

from greentls._base.binding import c_string, ffi as _ffi, lib as _lib
from greentls._base.errors import CertificateError, TLSError, verify_code_name

if TYPE_CHECKING:
    from greentls._base.binding import CData
    from greentls._engine.engine import TLSEngine

__all__ = ["configure_verify", "verify_result", "certificate_error_for"]


@_ffi.callback("int (*)(int, X509_STORE_CTX *)")
def _accept_keeping_error(ok: int, store: CData) -> int:
    """Raw verify callback that lets the handshake finish; the result is judged afterwards.

    It leaves the store's error as OpenSSL set it, so ``SSL_get_verify_result`` and the session
    made by this handshake carry the real verdict (see the module docstring).  It records the
    last error with its depth on the engine, where Node's naming needs the depth
    (``node_verify_code``).  Runs inside OpenSSL: reads and records only, never switches."""
    if not ok:
        ssl = _lib.X509_STORE_CTX_get_ex_data(store, _lib.SSL_get_ex_data_X509_STORE_CTX_idx())
        conn = SSL.Connection._reverse_mapping.get(ssl)
        engine: TLSEngine | None = conn.get_app_data() if conn is not None else None
        if engine is not None:
            engine.verify_error = (_lib.X509_STORE_CTX_get_error(store),
                                   _lib.X509_STORE_CTX_get_error_depth(store))
    return 1


@_ffi.callback("int (*)(int, X509_STORE_CTX *)")
def _keep_verdict(ok: int, store: CData) -> int:
    """Raw verify callback that changes nothing: OpenSSL's verdict stands.  Installed where a
    connection rejects unverified peers, because ``SSL_set_verify`` with no callback keeps the
    one set before: a connection that went from accepting (``_accept_keeping_error``) to
    rejecting, by a renegotiation, a post-handshake authentication or an SNI switch, would
    otherwise still accept any certificate."""
    return ok


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
    conn.set_verify(mode)
    _lib.SSL_set_verify(conn._ssl, mode, _keep_verdict if reject_unauthorized else _accept_keeping_error)


def verify_result(conn: SSL.Connection) -> str | None:
    """Node's ``authorizationError`` for a finished handshake, or None when authorized.

    Without a peer certificate Node reports ``UNABLE_TO_GET_ISSUER_CERT`` (the default that
    ``TLSWrap::VerifyError`` passes to crypto_common.cc ``VerifyPeerCertificate``; checked
    against Node v20 in tests/test_mtls.py).  Node treats a resumed TLS 1.3 session without a
    certificate as authorized; we do not: resuming never upgrades a verdict.  On a resumed
    session the peer certificate and the result are the creating handshake's, read back from
    the session by OpenSSL (the verify callback did not run, so nothing is recorded).
    """
    if conn.get_peer_certificate() is None:
        return "UNABLE_TO_GET_ISSUER_CERT"
    engine: TLSEngine | None = conn.get_app_data()
    recorded = getattr(engine, "verify_error", None)
    if recorded is not None:
        return node_verify_code(*recorded)
    code: int = _lib.SSL_get_verify_result(conn._ssl)
    return None if code == 0 else node_verify_code(code, _failed_depth(conn))


def _failed_depth(conn: SSL.Connection) -> int:
    """Where an aborted verification stopped: depth 0 when the peer sent its leaf alone."""
    chain = conn.get_peer_cert_chain()
    return 0 if chain is None or len(chain) <= 1 else 1


def certificate_error_for(conn: SSL.Connection, exc: TLSError) -> TLSError:
    """Turn OpenSSL's "certificate verify failed" into a ``CertificateError`` with the verify
    code's name (``CERT_HAS_EXPIRED``...), which is what Node reports as the error code."""
    if exc.reason and "certificate verify failed" in exc.reason:
        code: int = _lib.SSL_get_verify_result(conn._ssl)
        if code:
            name = node_verify_code(code, _failed_depth(conn))
            text = _lib.X509_verify_cert_error_string(code)
            message = c_string(text).decode("ascii", "replace") if text != _ffi.NULL else name
            return CertificateError(message, code=name, reason=message)
    return exc
