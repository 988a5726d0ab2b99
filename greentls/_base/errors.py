"""The one exception hierarchy of greentls, and the one place pyOpenSSL errors become it.

Every error greentls raises is a ``TLSError``; ``TLSError`` subclasses ``ssl.SSLError`` (and so
``OSError``), so code written for the stdlib ``ssl`` module catches ours unchanged.  Each error
carries Node's error code in ``.code`` and a short ``.reason``; ``str()`` is the message.

Node forms protocol error codes from OpenSSL's reason string: ``"wrong version number"`` becomes
``ERR_SSL_WRONG_VERSION_NUMBER`` (src/crypto/crypto_util.cc, ``ThrowCryptoError``).  Certificate
verification errors carry OpenSSL's ``X509_V_ERR_*`` name without the prefix, as Node's
``authorizationError`` does (src/crypto/crypto_common.cc, ``X509ErrorCode``).
"""
from __future__ import annotations

import re
import ssl
from collections.abc import Callable
from typing import Any

from OpenSSL import SSL

__all__ = [
    "TLSError",
    "HandshakeTimeoutError",
    "CertificateError",
    "RenegotiationError",
    "HelloRefusedError",
    "UnsupportedError",
    "ZeroReturnError",
    "UnexpectedEOFError",
    "WantReadError",
    "WantWriteError",
]


class TLSError(ssl.SSLError):
    """A TLS failure: ``.code`` is Node's error code, ``.reason`` OpenSSL's reason (or ours)."""

    code: str
    reason: str  # never None: the message stands in for a missing reason

    def __init__(self, message: str, *, code: str = "ERR_SSL_UNKNOWN", reason: str | None = None):
        # OSError(a, b) would take ``a`` as an errno: pass the message only.
        super().__init__(message)
        self.code = code
        self.reason = reason if reason is not None else message
        self.library = "SSL"

    def __str__(self) -> str:
        return self.args[0] if self.args else ""

    def __reduce__(self) -> tuple[Callable[..., TLSError], tuple[type[TLSError], str, str, str]]:
        return (_rebuild, (type(self), str(self), self.code, self.reason))


def _rebuild(cls: type[TLSError], message: str, code: str, reason: str | None) -> TLSError:
    return cls(message, code=code, reason=reason)


class HandshakeTimeoutError(TLSError, TimeoutError):
    """The handshake did not finish within ``handshake_timeout`` (``ERR_TLS_HANDSHAKE_TIMEOUT``)."""

    def __init__(self, message: str = "TLS handshake timeout", *, code: str = "ERR_TLS_HANDSHAKE_TIMEOUT",
                 reason: str | None = None):
        super().__init__(message, code=code, reason=reason)


class CertificateError(TLSError, ssl.SSLCertVerificationError):
    """The peer's certificate failed verification or does not match the host name.

    ``code`` is OpenSSL's verify error name (``"CERT_HAS_EXPIRED"``) or
    ``"ERR_TLS_CERT_ALTNAME_INVALID"``; for the latter ``.host`` and ``.cert`` are set, as Node.
    """

    host: str | None
    cert: dict[str, Any] | None

    def __init__(self, message: str, *, code: str, reason: str | None = None,
                 host: str | None = None, cert: dict[str, Any] | None = None):
        super().__init__(message, code=code, reason=reason)
        self.host = host
        self.cert = cert
        # The stdlib's SSLCertVerificationError attributes, for code written against ``ssl``:
        # OpenSSL's X509_V_ERR_* number and its text (X509_verify_cert_error_string), or the
        # stdlib's words for a host name mismatch.
        self.verify_code = VERIFY_CODES.get(code, 0) if code != "ERR_TLS_CERT_ALTNAME_INVALID" else 62
        if code == "ERR_TLS_CERT_ALTNAME_INVALID" and host is not None:
            self.verify_message = f"Hostname mismatch, certificate is not valid for {host!r}."
        elif self.verify_code and (reason is None or reason == message):
            self.verify_message = _verify_text(self.verify_code) or (reason if reason is not None else message)
        else:
            self.verify_message = reason if reason is not None else message


class HelloRefusedError(TLSError):
    """A server's decision on the ClientHello refused it with a TLS alert (the stdlib's
    ``sni_callback`` returning an ``ALERT_DESCRIPTION_*``): the socket sends ``alert`` (its
    description byte) before it closes, as OpenSSL sends a servername callback's alert."""

    def __init__(self, message: str, *, alert: int, code: str = "ERR_SSL_SNI_CALLBACK_ALERT",
                 reason: str | None = None):
        super().__init__(message, code=code, reason=reason)
        self.alert = alert


class RenegotiationError(TLSError):
    """A renegotiation was refused: ``ERR_TLS_SESSION_ATTACK`` or ``ERR_TLS_RENEGOTIATION_DISABLED``."""


class UnsupportedError(TLSError):
    """A feature this installation's OpenSSL binding cannot provide; the message says why."""

    def __init__(self, message: str, *, code: str = "ERR_TLS_UNSUPPORTED", reason: str | None = None):
        super().__init__(message, code=code, reason=reason)


class _StdlibNumbered(TLSError):
    """An error the stdlib raises with an ``SSL_ERROR_*`` number as ``errno`` (its
    ``args`` are ``(errno, message)``, as the stdlib's)."""

    ssl_errno = 0

    def __init__(self, message: str, *, code: str = "ERR_SSL_UNKNOWN", reason: str | None = None):
        ssl.SSLError.__init__(self, self.ssl_errno, message)
        self.code = code
        self.reason = reason if reason is not None else message
        self.library = "SSL"

    def __str__(self) -> str:
        return str(self.strerror)


class ZeroReturnError(_StdlibNumbered, ssl.SSLZeroReturnError):
    """The peer closed the TLS connection (close_notify) where data or a handshake was
    expected: an ``ssl.SSLZeroReturnError`` (``errno`` ``ssl.SSL_ERROR_ZERO_RETURN``)."""

    ssl_errno = ssl.SSL_ERROR_ZERO_RETURN

    def __init__(self, message: str = "TLS/SSL connection has been closed (EOF)", *,
                 code: str = "ERR_SSL_ZERO_RETURN", reason: str | None = None):
        super().__init__(message, code=code, reason=reason)


class UnexpectedEOFError(_StdlibNumbered, ssl.SSLEOFError):
    """The transport ended without close_notify where the stdlib reports it: an
    ``ssl.SSLEOFError`` (``errno`` ``ssl.SSL_ERROR_EOF``)."""

    ssl_errno = ssl.SSL_ERROR_EOF

    def __init__(self, message: str = "EOF occurred in violation of protocol", *,
                 code: str = "ERR_SSL_UNEXPECTED_EOF_WHILE_READING", reason: str | None = None):
        super().__init__(message, code=code, reason=reason)


class WantReadError(_StdlibNumbered, ssl.SSLWantReadError):
    """An ``SSLObject`` needs more TLS bytes in its incoming BIO: an ``ssl.SSLWantReadError``."""

    ssl_errno = ssl.SSL_ERROR_WANT_READ

    def __init__(self, message: str = "The operation did not complete (read)", *,
                 code: str = "ERR_SSL_WANT_READ", reason: str | None = None):
        super().__init__(message, code=code, reason=reason)


class WantWriteError(_StdlibNumbered, ssl.SSLWantWriteError):
    """An ``SSLObject`` must have its outgoing BIO drained: an ``ssl.SSLWantWriteError``."""

    ssl_errno = ssl.SSL_ERROR_WANT_WRITE

    def __init__(self, message: str = "The operation did not complete (write)", *,
                 code: str = "ERR_SSL_WANT_WRITE", reason: str | None = None):
        super().__init__(message, code=code, reason=reason)


def _verify_text(code: int) -> str | None:
    """OpenSSL's text for an X509_V_ERR_* number (the stdlib's ``verify_message``)."""
    from greentls._base.binding import c_string, ffi, lib
    text = lib.X509_verify_cert_error_string(code)
    return c_string(text).decode("ascii", "replace") if text != ffi.NULL else None


# OpenSSL's X509_V_ERR_* values (include/openssl/x509_vfy.h.in); names without the prefix are
# what Node reports as ``authorizationError`` and error ``code``.
VERIFY_CODES = {
    "UNSPECIFIED": 1,
    "UNABLE_TO_GET_ISSUER_CERT": 2,
    "UNABLE_TO_GET_CRL": 3,
    "UNABLE_TO_DECRYPT_CERT_SIGNATURE": 4,
    "UNABLE_TO_DECRYPT_CRL_SIGNATURE": 5,
    "UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY": 6,
    "CERT_SIGNATURE_FAILURE": 7,
    "CRL_SIGNATURE_FAILURE": 8,
    "CERT_NOT_YET_VALID": 9,
    "CERT_HAS_EXPIRED": 10,
    "CRL_NOT_YET_VALID": 11,
    "CRL_HAS_EXPIRED": 12,
    "ERROR_IN_CERT_NOT_BEFORE_FIELD": 13,
    "ERROR_IN_CERT_NOT_AFTER_FIELD": 14,
    "ERROR_IN_CRL_LAST_UPDATE_FIELD": 15,
    "ERROR_IN_CRL_NEXT_UPDATE_FIELD": 16,
    "OUT_OF_MEM": 17,
    "DEPTH_ZERO_SELF_SIGNED_CERT": 18,
    "SELF_SIGNED_CERT_IN_CHAIN": 19,
    "UNABLE_TO_GET_ISSUER_CERT_LOCALLY": 20,
    "UNABLE_TO_VERIFY_LEAF_SIGNATURE": 21,
    "CERT_CHAIN_TOO_LONG": 22,
    "CERT_REVOKED": 23,
    "INVALID_CA": 24,
    "PATH_LENGTH_EXCEEDED": 25,
    "INVALID_PURPOSE": 26,
    "CERT_UNTRUSTED": 27,
    "CERT_REJECTED": 28,
    "SUBJECT_ISSUER_MISMATCH": 29,
    "AKID_SKID_MISMATCH": 30,
    "AKID_ISSUER_SERIAL_MISMATCH": 31,
    "KEYUSAGE_NO_CERTSIGN": 32,
    "UNABLE_TO_GET_CRL_ISSUER": 33,
    "UNHANDLED_CRITICAL_EXTENSION": 34,
    "KEYUSAGE_NO_CRL_SIGN": 35,
    "UNHANDLED_CRITICAL_CRL_EXTENSION": 36,
    "INVALID_NON_CA": 37,
    "PROXY_PATH_LENGTH_EXCEEDED": 38,
    "KEYUSAGE_NO_DIGITAL_SIGNATURE": 39,
    "PROXY_CERTIFICATES_NOT_ALLOWED": 40,
    "INVALID_EXTENSION": 41,
    "INVALID_POLICY_EXTENSION": 42,
    "NO_EXPLICIT_POLICY": 43,
    "DIFFERENT_CRL_SCOPE": 44,
    "UNSUPPORTED_EXTENSION_FEATURE": 45,
    "UNNESTED_RESOURCE": 46,
    "PERMITTED_VIOLATION": 47,
    "EXCLUDED_VIOLATION": 48,
    "SUBTREE_MINMAX": 49,
    "APPLICATION_VERIFICATION": 50,
    "UNSUPPORTED_CONSTRAINT_TYPE": 51,
    "UNSUPPORTED_CONSTRAINT_SYNTAX": 52,
    "UNSUPPORTED_NAME_SYNTAX": 53,
    "CRL_PATH_VALIDATION_ERROR": 54,
    "PATH_LOOP": 55,
    "HOSTNAME_MISMATCH": 62,
    "EMAIL_MISMATCH": 63,
    "IP_ADDRESS_MISMATCH": 64,
    "CA_KEY_TOO_SMALL": 67,
    "CA_MD_TOO_WEAK": 68,
    "EE_KEY_TOO_SMALL": 66,
    "INVALID_CALL": 69,
    "STORE_LOOKUP": 70,
    "NO_VALID_SCTS": 71,
    "OCSP_VERIFY_NEEDED": 73,
    "OCSP_VERIFY_FAILED": 74,
    "OCSP_CERT_UNKNOWN": 75,
    "INVALID_CA_ASN1_TIME": 78,
    "CA_CERT_MISSING_KEY_USAGE": 92,
}
VERIFY_NAMES = {value: name for name, value in VERIFY_CODES.items()}


def verify_code_name(code: int) -> str:
    """OpenSSL's X509_V_ERR_* name (without the prefix) for a verify result, as Node reports it."""
    return VERIFY_NAMES.get(code, "UNSPECIFIED" if code else "OK")


def code_from_reason(reason: str) -> str:
    """Node's error code for an OpenSSL reason string: ``"wrong version number"`` ->
    ``"ERR_SSL_WRONG_VERSION_NUMBER"`` (Node uppercases the reason, non-alphanumerics to ``_``)."""
    return "ERR_SSL_" + re.sub(r"[^A-Z0-9]+", "_", reason.upper()).strip("_")


def from_openssl(exc: Exception, *, during: str = "") -> TLSError:
    """Translate a pyOpenSSL ``SSL.Error`` (its error-queue tuples) into a ``TLSError``.

    pyOpenSSL's ``Error.args[0]`` is a list of ``(library, function, reason)`` tuples taken from
    OpenSSL's per-thread error queue; the first entry is the root cause.  The queue is never left
    to another greenlet: we translate right where the call failed (docs/architecture.rst,
    "fact-callbacks", "Errors").
    """
    entries = exc.args[0] if exc.args and isinstance(exc.args[0], list) else []
    reason = None
    for entry in entries:
        if isinstance(entry, tuple) and len(entry) >= 3 and entry[2]:
            reason = str(entry[2])
            break
    if reason is None:
        text = str(exc) or type(exc).__name__
        # SysCallError carries (errno, message); an unexpected EOF is the usual case here.
        if isinstance(exc, SSL.SysCallError):
            reason = "unexpected eof while reading"
            return TLSError(f"{during + ': ' if during else ''}connection closed by peer ({text})",
                            code="ECONNRESET", reason=reason)
        # SSL_ERROR_SSL with an empty error queue: OpenSSL failed the connection earlier and
        # the reason was taken then (TLSEngine.translate keeps it); never an empty code.
        return TLSError(f"{during + ': ' if during else ''}TLS protocol error (OpenSSL gave no "
                        f"reason: {text})", code=UNKNOWN_SSL_ERROR_CODE)
    message = f"{during}: {reason}" if during else reason
    return TLSError(message, code=code_from_reason(reason), reason=reason)


#: The code of an OpenSSL failure whose error queue held no reason.
UNKNOWN_SSL_ERROR_CODE = "ERR_SSL_PROTOCOL_ERROR"

#: Node's words (lib/_tls_wrap.js onSocketClose, code ECONNRESET) for a peer that left before
#: the handshake finished.
PEER_LEFT_DURING_HANDSHAKE = "Client network socket disconnected before secure TLS connection was established"
