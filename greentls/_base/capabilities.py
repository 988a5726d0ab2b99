"""What this installation's OpenSSL binding can do, probed once at import (docs/guides/sessions.rst).

Each entry is computed from the functions pyOpenSSL's cffi binding actually exports
(docs/architecture.rst, "fact-binding-gaps"), so a future binding that exports them turns the
feature on without a code change here being a lie: code that uses a capability checks this dict and
raises ``UnsupportedError`` with the reason when it is False.
"""
from __future__ import annotations

from greentls._base.binding import has as _has

__all__ = ["capabilities", "REASONS"]


#: Feature name -> available.  Read-only by convention; ``greentls.capabilities`` is this dict.
capabilities: dict[str, bool] = {
    # Node's newSession/resumeSession store needs SSL_CTX_sess_set_new_cb/get_cb and
    # SSL_CTX_add_session, which the binding does not export.
    "external_session_cache": _has("SSL_CTX_sess_set_get_cb", "SSL_CTX_sess_set_new_cb"),
    # Setting/reading ticket keys needs SSL_CTX_ctrl (SSL_CTRL_SET_TLSEXT_TICKET_KEYS) or the
    # ticket-key callback; neither is exported.
    "ticket_keys": _has("SSL_CTX_ctrl") or _has("SSL_CTX_set_tlsext_ticket_key_evp_cb"),
    # OpenSSL 3 deprecated engines and OpenSSL 4 removed them; the binding exports no ENGINE_*.
    "client_cert_engine": _has("ENGINE_by_id", "SSL_CTX_set_client_cert_engine"),
    # TLS 1.3 post-handshake client authentication (RFC 8446 section 4.6.2): the client offers
    # it with SSL_CTX_set_post_handshake_auth, the server asks with
    # SSL_verify_client_post_handshake.
    "post_handshake_auth": _has("SSL_CTX_set_post_handshake_auth", "SSL_verify_client_post_handshake"),
    # Node's getSharedSigalgs walks SSL_get_shared_sigalgs; the binding exports neither it nor
    # SSL_get_sigalgs, and the shared list is OpenSSL's own computation (peer list, local list,
    # security level, protocol version), which no other bound function reveals.
    "shared_sigalgs": _has("SSL_get_shared_sigalgs", "OBJ_nid2sn"),
    # TLS-PSK (Node's pskCallback): the context-level PSK callbacks and the identity hint.
    "psk": _has("SSL_CTX_set_psk_server_callback", "SSL_CTX_set_psk_client_callback",
                "SSL_CTX_use_psk_identity_hint"),
}

#: Why a capability is missing, for ``UnsupportedError`` messages.
REASONS = {
    "external_session_cache": (
        "pyOpenSSL's OpenSSL binding exports no session-cache callbacks "
        "(SSL_CTX_sess_set_new_cb, SSL_CTX_sess_set_get_cb, SSL_CTX_add_session), so a server "
        "cannot resume a session from an external store; sessions resume from the server's own "
        "cache and tickets (also across workers forked by serve_forever(workers=N))"),
    "ticket_keys": (
        "pyOpenSSL's OpenSSL binding exports neither SSL_CTX_ctrl nor a ticket-key callback, so "
        "session-ticket keys can be neither read nor set; workers forked by "
        "serve_forever(workers=N) share the keys of the context they inherit"),
    "client_cert_engine": (
        "OpenSSL engines are gone in OpenSSL 4 (deprecated since 3.0) and the binding exports "
        "no ENGINE_* functions; use a key in a PEM or PKCS#12 file"),
    "post_handshake_auth": (
        "pyOpenSSL's OpenSSL binding exports neither SSL_CTX_set_post_handshake_auth nor "
        "SSL_verify_client_post_handshake, so TLS 1.3 post-handshake client authentication "
        "cannot be offered or requested; ask for the client certificate in the handshake "
        "(request_cert=True)"),
    "psk": (
        "pyOpenSSL's OpenSSL binding exports no PSK callbacks (SSL_CTX_set_psk_server_callback, "
        "SSL_CTX_set_psk_client_callback), so pre-shared keys cannot be used; use certificates"),
    "shared_sigalgs": (
        "pyOpenSSL's OpenSSL binding exports neither SSL_get_shared_sigalgs nor SSL_get_sigalgs, "
        "so the signature algorithms both sides share cannot be read; choose them with the "
        "option sigalgs"),
}
