"""``greentls.SSLContext``: the stdlib's ``ssl.SSLContext``, with greentls on the wire.

``SSLContext`` is a real ``ssl.SSLContext`` subclass.  Every setting goes first through the
stdlib's own C setter (so a wrong type or value fails exactly as it does with the stdlib, and
``get_ca_certs``/``cert_store_stats``/``get_ciphers`` answer as they would), and is recorded
here; the greentls ``SecureContext`` that connections use is rebuilt from the record when the
next connection needs it, and cached until the next change.  A setting that greentls cannot put
on the wire raises ``UnsupportedError`` at the call and is not applied.

The stdlib's Python-level property setters call ``super(SSLContext, SSLContext)`` through the
module global ``ssl.SSLContext``, which ``inject_into_ssl()`` replaces with this class; so
every such property is redefined here over the C descriptors of ``_ssl._SSLContext``, as
truststore does.

``SSLSocket`` is a ``TLSSocket``; what the stdlib does inside OpenSSL is done inside OpenSSL
here too: the host name is checked by OpenSSL's ``X509_VERIFY_PARAM_set1_host`` (the stdlib's
rules, ``hostname_checks_common_name`` included), a server's ``CERT_OPTIONAL`` verifies a
certificate when one is sent and lets a client without one in, and ``sni_callback`` runs in the
connection's thread or greenlet before OpenSSL reads the ClientHello.
"""
from __future__ import annotations

import _ssl as _cssl
import ipaddress
import os
import re
import socket as _socket
import ssl as _ssl
import sys
import threading
import warnings
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from OpenSSL import SSL, crypto

from greentls import signals
from greentls._base.binding import c_string, ffi as _ffi, lib as _lib
from greentls._base.capabilities import REASONS, capabilities
from greentls._base.errors import CertificateError, HelloRefusedError, UnexpectedEOFError, UnsupportedError
from greentls._config import ciphers as _ciphers
from greentls._config.context import SecureContext
from greentls._config.keylog import ignore_environment
from greentls._config.psk import MAX_IDENTITY, install_server as install_psk_server, server_key
from greentls._config.sessions import apply_client_session, session_id_from_der
from greentls._config.verify import configure_verify
from greentls._engine.state import State
from greentls._parse.identity import is_ip_literal
from greentls._tls.policy import HelloPolicy
from greentls._tls.socket import TLSSocket

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer, WriteableBuffer

    from greentls._engine.engine import TLSEngine
    from greentls._parse.clienthello import ClientHello

__all__ = ["SSLContext", "SSLSocket", "SSLSession", "create_default_context", "inject_into_ssl",
           "extract_from_ssl"]

#: The C type under ``ssl.SSLContext``: its descriptors validate and store every setting.
_C: Any = _cssl._SSLContext
#: The stdlib's own classes, kept before any injection.
_ORIGINAL_SSL_CONTEXT = _ssl.SSLContext
_ORIGINAL_CREATE_DEFAULT = _ssl.create_default_context

_VERSION_NAMES = {
    _ssl.TLSVersion.TLSv1: "TLSv1",
    _ssl.TLSVersion.TLSv1_1: "TLSv1.1",
    _ssl.TLSVersion.TLSv1_2: "TLSv1.2",
    _ssl.TLSVersion.TLSv1_3: "TLSv1.3",
    _ssl.TLSVersion.MINIMUM_SUPPORTED: "TLSv1",
    _ssl.TLSVersion.MAXIMUM_SUPPORTED: "TLSv1.3",
}
#: ``PROTOCOL_TLSv1*`` contexts speak one version (their min/max setters refuse to change).
_FIXED_PROTOCOLS = {
    getattr(_ssl, "PROTOCOL_TLSv1", -10): "TLSv1",
    getattr(_ssl, "PROTOCOL_TLSv1_1", -11): "TLSv1.1",
    getattr(_ssl, "PROTOCOL_TLSv1_2", -12): "TLSv1.2",
}

#: ``OP_*`` flags passed to OpenSSL as they are (the same SSL_OP_* bit in greentls's OpenSSL).
_PASSED_OPTIONS = ("OP_NO_TLSv1", "OP_NO_TLSv1_1", "OP_NO_TLSv1_2", "OP_NO_TLSv1_3", "OP_NO_TICKET",
                   "OP_CIPHER_SERVER_PREFERENCE", "OP_NO_RENEGOTIATION", "OP_IGNORE_UNEXPECTED_EOF",
                   "OP_LEGACY_SERVER_CONNECT", "OP_NO_SSLv3")
#: Flags greentls's contexts always have: clearing one cannot be honoured.
_ALWAYS_OPTIONS = {
    "OP_NO_COMPRESSION": "greentls never enables TLS compression (CRIME)",
    "OP_ENABLE_MIDDLEBOX_COMPAT": "pyOpenSSL's binding does not export SSL_OP_ENABLE_MIDDLEBOX_COMPAT, "
                                  "so OpenSSL's default (on) stays",
}
#: ``SSL_OP_ALL``'s bug workarounds, where both OpenSSLs give them the same bits.
_WORKAROUNDS = int(getattr(_ssl, "OP_ALL", 0)) & int(_lib.SSL_OP_ALL)

#: ``VERIFY_*`` flags -> the X509_V_FLAG_* bits greentls's OpenSSL gets.
_VERIFY_FLAG_BITS = {
    "VERIFY_CRL_CHECK_LEAF": int(_lib.X509_V_FLAG_CRL_CHECK),
    "VERIFY_CRL_CHECK_CHAIN": int(_lib.X509_V_FLAG_CRL_CHECK) | int(_lib.X509_V_FLAG_CRL_CHECK_ALL),
    "VERIFY_X509_STRICT": int(_lib.X509_V_FLAG_X509_STRICT),
    "VERIFY_ALLOW_PROXY_CERTS": int(_lib.X509_V_FLAG_ALLOW_PROXY_CERTS),
    "VERIFY_X509_PARTIAL_CHAIN": int(_lib.X509_V_FLAG_PARTIAL_CHAIN),
    # Always on in OpenSSL since 1.1.0 ("cannot be disabled"), with the stdlib as here.
    "VERIFY_X509_TRUSTED_FIRST": 0,
}

_HOSTFLAG_NEVER_CHECK_SUBJECT = int(_lib.X509_CHECK_FLAG_NEVER_CHECK_SUBJECT)
_HOSTFLAG_NO_PARTIAL_WILDCARDS = int(_lib.X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS)
#: OpenSSL's X509_V_ERR_HOSTNAME_MISMATCH and X509_V_ERR_IP_ADDRESS_MISMATCH.
_HOST_MISMATCH, _IP_MISMATCH = 62, 64

#: OpenSSL's default number of TLS 1.3 tickets a server sends (SSL_CTX_set_num_tickets is not bound).
_DEFAULT_NUM_TICKETS = 2

_keylog_lock = threading.Lock()
#: OpenSSL's SSL_VERIFY_POST_HANDSHAKE (8).
_VERIFY_POST_HANDSHAKE = int(getattr(_lib, "SSL_VERIFY_POST_HANDSHAKE", 8))


def _pha_supported() -> bool:
    """True where the binding can do TLS 1.3 post-handshake authentication."""
    return capabilities["post_handshake_auth"]


@dataclass(frozen=True)
class _Policy:
    """The per-connection settings of an ``SSLContext``, taken with its built context under
    its lock, so that a connection never combines one version of the settings with another
    (a thread that changes ``verify_mode`` while another connects)."""

    verify_mode: _ssl.VerifyMode
    check_hostname: bool
    host_flags: int
    post_handshake_auth: bool
    alpn: list[bytes] | None
    #: ``set_psk_client_callback``'s callback, or None.
    psk_client: Callable[[str | None], Any] | None = None
    #: ``set_psk_server_callback``'s (callback, identity_hint), or None.
    psk_server: tuple[Callable[[str | None], Any], str | None] | None = None


class _StdlibSecureContext(SecureContext):
    """A ``SecureContext`` whose every OpenSSL context (the client one and each server one
    ``server_context`` builds) also gets the stdlib-only settings ``configure`` applies:
    capath, CRLs, verify flags.  Applied before the context is handed out, so before any
    connection uses it (OpenSSL's rule for changing a context)."""

    #: The per-connection settings taken with it (``SSLContext._secure_context``).
    policy: _Policy

    def __init__(self, configure: Callable[[SSL.Context], None], **options: Any) -> None:
        super().__init__(**options)
        object.__setattr__(self, "_configure", configure)
        object.__setattr__(self, "_configured", {})
        object.__setattr__(self, "_configure_lock", threading.Lock())
        ignore_environment(self.context)  # the stdlib logs keys only to keylog_filename
        configure(self.context)

    def with_key_material(self, material: Any) -> SecureContext:
        """Refused: this context's trust and settings come from the ``ssl.SSLContext`` calls
        (``configure``), which a context rebuilt from options would not have."""
        raise UnsupportedError("set_key_cert on a socket of greentls.SSLContext: its settings come from "
                               "the ssl.SSLContext calls, which a rebuilt context would lose; use "
                               "SSLSocket.context = another greentls.SSLContext (before the handshake)",
                               reason="set_key_cert on the stdlib layer")

    def rebuilt(self, **changes: Any) -> SecureContext:
        """Refused, as ``with_key_material``: a context rebuilt from options would lose the
        ``ssl.SSLContext`` calls' settings (``Server.reload`` on such a server)."""
        raise UnsupportedError("reload of a server whose context is a greentls.SSLContext's: its settings "
                               "come from the ssl.SSLContext calls, which a context rebuilt from options "
                               "would lose; build a new server from the changed SSLContext",
                               reason="reload on the stdlib layer")

    def server_context(self, request_cert: bool, reject_unauthorized: bool) -> SSL.Context:
        key = (bool(request_cert), bool(reject_unauthorized))
        configured: dict[tuple[bool, bool], SSL.Context] = self._configured  # type: ignore[attr-defined]
        context = configured.get(key)
        if context is None:
            with self._configure_lock:  # type: ignore[attr-defined]
                context = configured.get(key)
                if context is None:
                    context = super().server_context(request_cert, reject_unauthorized)
                    ignore_environment(context)
                    self._configure(context)  # type: ignore[attr-defined]
                    configured[key] = context
        return context


class SSLSession:
    """A TLS session of a ``greentls.SSLSocket`` (the stdlib's ``ssl.SSLSession``): pass it as
    ``wrap_socket(session=...)`` or assign it to ``SSLSocket.session`` before the handshake.
    ``der`` is its DER form, which ``TLSSocket.get_session()`` returns too.  A session taken from
    a connection resumes only under that connection's ``SSLContext``, as the stdlib's; one made
    with ``SSLSession(der)`` (saved by another process, say) under any."""

    __slots__ = ("der", "id", "time", "timeout", "ticket_lifetime_hint", "has_ticket", "_context")

    def __init__(self, der: bytes, context: SSLContext | None = None) -> None:
        from greentls._config.sessions import _der_items, _session_fields, ticket_from_der
        if not isinstance(der, (bytes, bytearray, memoryview)):
            raise TypeError(f"SSLSession: 'der' must be bytes, not {type(der).__name__}")
        self.der = bytes(der)
        #: The ``SSLContext`` whose connection made it (None: made from DER, e.g. in another
        #: process, which the caller vouches for): like the stdlib's, it resumes only there.
        self._context = context
        try:
            #: The session id (bytes).
            self.id = session_id_from_der(self.der)
            fields = {tag: (start, end) for tag, start, end in _session_fields(self.der)}

            def explicit_int(tag: int) -> int:
                if tag not in fields:
                    return 0
                start, end = fields[tag]
                _inner, value_start, value_end = next(_der_items(self.der, start, end))
                return int.from_bytes(self.der[value_start:value_end], "big")

            #: When the session was made (seconds since the epoch).
            self.time = explicit_int(0xA1)
            #: How long it stays resumable, in seconds.
            self.timeout = explicit_int(0xA2)
            #: The ticket lifetime the server announced, in seconds.
            self.ticket_lifetime_hint = explicit_int(0xA9)
            #: True when the server sent a session ticket.
            self.has_ticket = ticket_from_der(self.der) is not None
        except (IndexError, StopIteration, ValueError, KeyError):
            raise ValueError("SSLSession: not a DER-encoded TLS session (SSL_SESSION_ASN1)") from None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SSLSession) and other.id == self.id

    def __hash__(self) -> int:
        return hash(self.id)

    def __repr__(self) -> str:
        return f"<greentls.SSLSession id={self.id.hex()[:16]}...>"


class SSLContext(_ssl.SSLContext):
    """``ssl.SSLContext`` on greentls: configure it with the stdlib's calls; its sockets are
    ``greentls.SSLSocket`` and its memory-BIO objects ``greentls.SSLObject``.

    Every setting applies to the connections made after it.  The settings the stdlib keeps
    inside OpenSSL are kept on this object and the greentls context is rebuilt from them when
    the next connection starts (once per change; any thread may use the context)."""

    sslsocket_class: Any = None  # set below to SSLSocket
    sslobject_class: Any = None  # set in greentls._app.sslobject

    def __new__(cls, protocol: int | None = None, *args: Any, **kwargs: Any) -> SSLContext:
        if protocol is None:
            warnings.warn("ssl.SSLContext() without protocol argument is deprecated.",
                          category=DeprecationWarning, stacklevel=2)
            protocol = _ssl.PROTOCOL_TLS
        self: SSLContext = _C.__new__(cls, protocol)
        return self

    def __init__(self, protocol: int | None = None, *args: Any, **kwargs: Any) -> None:
        self._lock = threading.RLock()
        self._built: _StdlibSecureContext | None = None
        self._chains: list[tuple[bytes, bytes, bytes | None]] = []
        #: Trusted certificates and CRLs, parsed when loaded.
        self._ca_data: list[list[crypto.X509 | x509.CertificateRevocationList]] = []
        self._capaths: list[str] = []
        self._ciphers: str | None = None
        self._alpn: list[bytes] | None = None
        self._ecdh_curve: str | None = None
        self._dhparam: bytes | None = None
        self._pha = False
        self._psk_client: Callable[[str | None], Any] | None = None
        self._psk_server: tuple[Callable[[str | None], Any], str | None] | None = None
        self._stats: dict[str, int] = dict.fromkeys(
            ("connect", "connect_good", "accept", "accept_good", "hits"), 0)
        try:  # get_ciphers() then lists what greentls offers by default (Node's list)
            _C.set_ciphers(self, _ciphers.split_cipher_string(_ciphers.current_default())[0])
        except (_ssl.SSLError, ValueError):
            pass

    # -- the cache ----------------------------------------------------------------------------

    def _changed(self) -> None:
        self._built = None

    def _secure_context(self) -> _StdlibSecureContext:
        """The greentls context for the current settings: built on first use after a change."""
        built = self._built
        if built is not None:
            return built
        with self._lock:
            if self._built is None:
                options, configure = self._snapshot()
                built = _StdlibSecureContext(configure, **options)
                object.__setattr__(built, "policy", _Policy(
                    self.verify_mode, self.check_hostname, int(_C._host_flags.__get__(self)),
                    bool(self.post_handshake_auth), list(self._alpn) if self._alpn else None,
                    self._psk_client, self._psk_server))
                self._built = built
            return self._built

    def _snapshot(self) -> tuple[dict[str, Any], Callable[[SSL.Context], None]]:
        """Node options and the OpenSSL-level extras for the current settings (under the lock)."""
        options: dict[str, Any] = {"ca": [], "secure_options": self._option_bits(int(self.options))}
        fixed = _FIXED_PROTOCOLS.get(int(_C.protocol.__get__(self)))
        if fixed is not None:
            options["min_version"] = options["max_version"] = fixed
        else:
            options["min_version"] = self._version_name("minimum_version", _C.minimum_version.__get__(self))
            options["max_version"] = self._version_name("maximum_version", _C.maximum_version.__get__(self))
        if self._chains:
            options["cert"] = [cert for cert, _key, _password in self._chains]
            options["key"] = [{"pem": key, "passphrase": password} for _cert, key, password in self._chains]
        if self._ciphers is not None:
            options["ciphers"] = self._ciphers
        if self._ecdh_curve is not None:
            options["ecdh_curve"] = self._ecdh_curve
        if self._dhparam is not None:
            options["dhparam"] = self._dhparam
        if self._pha and _pha_supported():
            options["post_handshake_auth"] = True
        flags = self._verify_bits(int(_C.verify_flags.__get__(self)))
        ca_data = list(self._ca_data)
        capaths = list(self._capaths)

        def configure(context: SSL.Context) -> None:
            store = context.get_cert_store()
            assert store is not None  # SSL_CTX_new makes one
            for data in ca_data:
                _add_trust(store, data)
            for path in capaths:
                context.load_verify_locations(None, path)
            if flags:
                store.set_flags(flags)

        return options, configure

    @staticmethod
    def _version_name(name: str, value: int) -> str:
        try:
            return _VERSION_NAMES[_ssl.TLSVersion(value)]
        except (KeyError, ValueError):
            raise UnsupportedError(f"SSLContext.{name}: {_ssl.TLSVersion(value).name} is not supported "
                                   f"by greentls (TLS 1.0 to 1.3 only)", reason=name) from None

    @staticmethod
    def _option_bits(value: int) -> int:
        """The SSL_OP_* bits for greentls's OpenSSL; raises ``UnsupportedError`` for a flag it
        cannot honour."""
        bits = 0
        left = value
        for name in _PASSED_OPTIONS:
            stdlib_bits = int(getattr(_ssl, name, 0))
            ours = getattr(_lib, "SSL_" + name, None)
            if stdlib_bits and value & stdlib_bits == stdlib_bits:
                if ours is None:
                    raise UnsupportedError(f"SSLContext.options: {name} is not available in greentls's "
                                           f"OpenSSL binding", reason=name)
                bits |= int(ours)
                left &= ~stdlib_bits
        for name, why in _ALWAYS_OPTIONS.items():
            stdlib_bits = int(getattr(_ssl, name, 0))
            if stdlib_bits and value & stdlib_bits != stdlib_bits:
                raise UnsupportedError(f"SSLContext.options: clearing {name} is not supported: {why}",
                                       reason=name)
            left &= ~stdlib_bits
        bits |= value & _WORKAROUNDS
        left &= ~_WORKAROUNDS
        if left:
            names = [flag.name for flag in _ssl.Options if flag.value & left] or [hex(left)]
            raise UnsupportedError(f"SSLContext.options: {', '.join(str(n) for n in names)} cannot be "
                                   f"honoured by greentls", reason="options")
        return bits

    @staticmethod
    def _verify_bits(value: int) -> int:
        bits = 0
        left = value
        for name, ours in _VERIFY_FLAG_BITS.items():
            stdlib_bits = int(getattr(_ssl, name))
            if value & stdlib_bits == stdlib_bits:
                bits |= ours
                left &= ~stdlib_bits
        if left:
            raise UnsupportedError(f"SSLContext.verify_flags: {hex(left)} cannot be honoured by greentls",
                                   reason="verify_flags")
        return bits

    def _set(self, descriptor: Any, value: Any, check: Callable[[], object] | None = None) -> None:
        """Set a C-level setting (the stdlib's validation), check that greentls can honour the
        result (else restore and raise), and drop the cached context."""
        with self._lock:
            old = descriptor.__get__(self)
            descriptor.__set__(self, value)
            if check is not None:
                try:
                    check()
                except UnsupportedError:
                    with warnings.catch_warnings():  # restoring is not the program's new setting
                        warnings.simplefilter("ignore", DeprecationWarning)
                        descriptor.__set__(self, old)
                    raise
            self._changed()

    # -- the stdlib's properties, over the C descriptors ----------------------------------------

    @property
    def options(self) -> _ssl.Options:
        """``OP_*`` flags (``ssl.Options``).  The protocol, ticket, cipher preference and
        renegotiation flags reach OpenSSL; clearing ``OP_NO_COMPRESSION`` raises
        ``UnsupportedError``."""
        return _ssl.Options(_C.options.__get__(self))

    @options.setter
    def options(self, value: int) -> None:
        self._set(_C.options, value, lambda: self._option_bits(int(_C.options.__get__(self))))

    @property  # type: ignore[override]
    def minimum_version(self) -> _ssl.TLSVersion:
        """The lowest TLS version (``ssl.TLSVersion``) a connection may use."""
        return _ssl.TLSVersion(_C.minimum_version.__get__(self))

    @minimum_version.setter
    def minimum_version(self, value: _ssl.TLSVersion) -> None:
        if value == _ssl.TLSVersion.SSLv3:
            raise UnsupportedError("SSLContext.minimum_version: SSLv3 is not supported by greentls",
                                   reason="minimum_version")
        self._set(_C.minimum_version, value,
                  lambda: self._version_name("minimum_version", _C.minimum_version.__get__(self)))

    @property  # type: ignore[override]
    def maximum_version(self) -> _ssl.TLSVersion:
        """The highest TLS version (``ssl.TLSVersion``) a connection may use."""
        return _ssl.TLSVersion(_C.maximum_version.__get__(self))

    @maximum_version.setter
    def maximum_version(self, value: _ssl.TLSVersion) -> None:
        self._set(_C.maximum_version, value,
                  lambda: self._version_name("maximum_version", _C.maximum_version.__get__(self)))

    @property  # type: ignore[override]
    def verify_mode(self) -> _ssl.VerifyMode:
        """``CERT_NONE``, ``CERT_OPTIONAL`` or ``CERT_REQUIRED``, on clients and servers."""
        return _ssl.VerifyMode(_C.verify_mode.__get__(self))

    @verify_mode.setter
    def verify_mode(self, value: _ssl.VerifyMode) -> None:
        self._set(_C.verify_mode, value)

    @property  # type: ignore[override]
    def verify_flags(self) -> _ssl.VerifyFlags:
        """``VERIFY_*`` flags for the certificate check (CRL checks, strict X.509, partial chains)."""
        return _ssl.VerifyFlags(_C.verify_flags.__get__(self))

    @verify_flags.setter
    def verify_flags(self, value: _ssl.VerifyFlags) -> None:
        self._set(_C.verify_flags, value, lambda: self._verify_bits(int(_C.verify_flags.__get__(self))))

    @property
    def check_hostname(self) -> bool:
        """Whether a client checks ``server_hostname`` against the certificate (OpenSSL's check)."""
        return bool(_C.check_hostname.__get__(self))

    @check_hostname.setter
    def check_hostname(self, value: bool) -> None:
        self._set(_C.check_hostname, value)

    @property
    def hostname_checks_common_name(self) -> bool:
        """Whether the host check falls back to the subject's common name without a DNS SAN."""
        return not int(_C._host_flags.__get__(self)) & _HOSTFLAG_NEVER_CHECK_SUBJECT

    @hostname_checks_common_name.setter
    def hostname_checks_common_name(self, value: bool) -> None:
        flags = int(_C._host_flags.__get__(self))
        flags = flags & ~_HOSTFLAG_NEVER_CHECK_SUBJECT if value else flags | _HOSTFLAG_NEVER_CHECK_SUBJECT
        self._set(_C._host_flags, flags)

    @property  # type: ignore[override]
    def post_handshake_auth(self) -> bool | None:
        """TLS 1.3 post-handshake client authentication; None where greentls cannot do it
        (the stdlib's spelling for "not available", which ``http.client`` checks)."""
        if not _pha_supported():
            return None
        return self._pha

    @post_handshake_auth.setter
    def post_handshake_auth(self, value: bool) -> None:
        _C.post_handshake_auth.__set__(self, value)  # the stdlib's type check
        if value and not _pha_supported():
            _C.post_handshake_auth.__set__(self, False)
            raise UnsupportedError("SSLContext.post_handshake_auth: this greentls build cannot do TLS 1.3 "
                                   "post-handshake authentication", reason="post_handshake_auth")
        with self._lock:
            self._pha = bool(value)
            self._changed()

    @property
    def num_tickets(self) -> int:
        """TLS 1.3 tickets a server sends per handshake: OpenSSL's 2 (other values raise
        ``UnsupportedError``: the binding lacks ``SSL_CTX_set_num_tickets``)."""
        return int(_C.num_tickets.__get__(self))

    @num_tickets.setter
    def num_tickets(self, value: int) -> None:
        def check() -> None:
            if int(_C.num_tickets.__get__(self)) != _DEFAULT_NUM_TICKETS:
                raise UnsupportedError("SSLContext.num_tickets: pyOpenSSL's binding does not export "
                                       "SSL_CTX_set_num_tickets; servers send OpenSSL's default of 2",
                                       reason="num_tickets")
        self._set(_C.num_tickets, value, check)

    @property
    def _msg_callback(self) -> Any:
        return None

    @_msg_callback.setter
    def _msg_callback(self, value: Any) -> None:
        if value is not None:
            raise UnsupportedError("SSLContext._msg_callback is not supported by greentls",
                                   reason="_msg_callback")

    # keylog_filename, sni_callback, security_level, protocol: the C attributes themselves
    # (validated and read back there); they take effect per connection in SSLSocket.

    def set_servername_callback(self, server_name_callback: Callable[..., Any] | None) -> None:
        """The legacy spelling of ``sni_callback``: the callback gets the server name as str."""
        if server_name_callback is None:
            self.sni_callback = None
            return
        if not callable(server_name_callback):
            raise TypeError("not a callable object")

        def shim(sslobj: Any, servername: str | None, sslctx: Any) -> Any:
            return server_name_callback(sslobj, servername, sslctx)

        self.sni_callback = shim

    # -- the stdlib's methods -------------------------------------------------------------------

    def load_cert_chain(self, certfile: Any, keyfile: Any = None, password: Any = None) -> None:
        """The certificate chain and key greentls serves (or presents as a client): PEM files, as
        the stdlib reads them; ``password`` is a str, bytes, or a callable returning one."""
        given: list[bytes] = []
        if callable(password):
            def asked() -> Any:
                answer = password()
                if isinstance(answer, str):
                    given.append(answer.encode("utf-8"))
                elif isinstance(answer, (bytes, bytearray)):
                    given.append(bytes(answer))
                return answer
            stdlib_password: Any = asked
        else:
            stdlib_password = password
        with self._lock:
            _C.load_cert_chain(self, certfile, keyfile, stdlib_password)
            with open(certfile, "rb") as f:
                cert = f.read()
            key = cert
            if keyfile is not None:
                with open(keyfile, "rb") as f:
                    key = f.read()
            if callable(password):
                secret = given[-1] if given else None
            elif isinstance(password, str):
                secret = password.encode("utf-8")
            elif password is not None:
                secret = bytes(password)
            else:
                secret = None
            self._chains.append((cert, key, secret))
            self._changed()

    def load_verify_locations(self, cafile: Any = None, capath: Any = None, cadata: Any = None) -> None:
        """Trust the CA certificates of ``cafile`` (PEM, with any CRLs), ``capath`` (a hashed
        directory, read when a certificate is checked) and ``cadata`` (PEM str or DER bytes)."""
        with self._lock:
            _C.load_verify_locations(self, cafile, capath, cadata)
            if cafile is not None:
                with open(cafile, "rb") as f:
                    self._ca_data.append(_parse_trust(f.read()))
            if capath is not None:
                self._capaths.append(os.fsdecode(capath))
            if cadata is not None:
                self._ca_data.append(_parse_trust(cadata.encode("ascii") if isinstance(cadata, str) else bytes(cadata)))
            self._changed()

    def set_default_verify_paths(self) -> None:
        """Trust the system's CA store (the stdlib's default paths, ``SSL_CERT_FILE`` and
        ``SSL_CERT_DIR`` included)."""
        with self._lock:
            _C.set_default_verify_paths(self)
            paths = _ssl.get_default_verify_paths()
            if paths.cafile and os.path.isfile(paths.cafile):
                with open(paths.cafile, "rb") as f:
                    self._ca_data.append(_parse_trust(f.read()))
            if paths.capath and os.path.isdir(paths.capath):
                self._capaths.append(paths.capath)
            self._changed()

    def set_ciphers(self, cipherlist: str) -> None:
        """TLS 1.2 cipher suites in OpenSSL syntax (TLS 1.3 suites stay OpenSSL's, as with the stdlib)."""
        with self._lock:
            _C.set_ciphers(self, cipherlist)
            # OpenSSL separates with ':', ',', ';' or spaces; TLS 1.3 suites (TLS_...) stay
            # OpenSSL's, as with the stdlib.
            kept = [part for part in re.split(r"[:,; ]+", cipherlist) if part and not part.startswith("TLS_")]
            self._ciphers = ":".join(kept)
            self._changed()

    def set_alpn_protocols(self, alpn_protocols: Iterable[str]) -> None:
        """The ALPN protocols a client offers or a server selects from (in preference order)."""
        protocols = []
        for protocol in alpn_protocols:
            encoded = bytes(protocol, "ascii")
            if len(encoded) == 0 or len(encoded) > 255:
                raise _ssl.SSLError("ALPN protocols must be 1 to 255 in length")
            protocols.append(encoded)
        with self._lock:
            _C._set_alpn_protocols(self, b"".join(bytes([len(p)]) + p for p in protocols))
            self._alpn = protocols or None
            self._changed()

    def set_psk_client_callback(self, callback: Callable[[str | None], Any] | None) -> None:
        """TLS-PSK on a client (the stdlib's, Python 3.13): ``callback(hint)`` returns
        ``(identity, psk)``; ``identity`` may be None (empty), ``psk`` is bytes (``b""``: no
        PSK).  ``None`` removes it.  As greentls's own ``psk_callback`` (docs: guides/psk), it
        runs in the connection's greenlet before OpenSSL needs the answer."""
        if callback is not None and not callable(callback):
            raise TypeError("callback must be callable or None")
        if self._server_side_only():
            raise NotImplementedError("Cannot add PSK client callback to a PROTOCOL_TLS_SERVER context")
        _check_psk_capability("set_psk_client_callback", callback)
        with self._lock:
            self._psk_client = callback
            self._changed()

    def set_psk_server_callback(self, callback: Callable[[str | None], Any] | None,
                                identity_hint: str | None = None) -> None:
        """TLS-PSK on a server (the stdlib's, Python 3.13): ``callback(identity)`` returns the
        key as bytes (``b""`` refuses); ``identity_hint`` goes to TLS 1.2 clients."""
        if callback is not None and not callable(callback):
            raise TypeError("callback must be callable or None")
        if identity_hint is not None and not isinstance(identity_hint, str):
            raise TypeError("identity_hint must be a str or None")
        if self._client_side_only():
            raise NotImplementedError("Cannot add PSK server callback to a PROTOCOL_TLS_CLIENT context")
        _check_psk_capability("set_psk_server_callback", callback)
        if identity_hint is not None and len(identity_hint.encode("utf-8")) > MAX_IDENTITY:
            # Where the stdlib's SSL_CTX_use_psk_identity_hint fails: at this call.
            raise _ssl.SSLError(f"identity_hint is longer than {MAX_IDENTITY} bytes in UTF-8")
        with self._lock:
            self._psk_server = None if callback is None else (callback, identity_hint)
            self._changed()

    def _server_side_only(self) -> bool:
        return int(_C.protocol.__get__(self)) == _ssl.PROTOCOL_TLS_SERVER

    def _client_side_only(self) -> bool:
        return int(_C.protocol.__get__(self)) == _ssl.PROTOCOL_TLS_CLIENT

    def set_npn_protocols(self, npn_protocols: Iterable[str]) -> None:
        """NPN is gone from OpenSSL 3 and from greentls: raises ``UnsupportedError``."""
        raise UnsupportedError("SSLContext.set_npn_protocols: NPN is not supported (use ALPN)",
                               reason="set_npn_protocols")

    def set_ecdh_curve(self, curve_name: str) -> None:
        """The one elliptic curve group used for key exchange (``"prime256v1"``...)."""
        with self._lock:
            _C.set_ecdh_curve(self, curve_name)
            self._ecdh_curve = os.fsdecode(curve_name)
            self._changed()

    def load_dh_params(self, path: Any) -> None:
        """Finite-field DH parameters (a PEM file) for TLS 1.2 DHE suites."""
        with self._lock:
            _C.load_dh_params(self, path)
            with open(path, "rb") as f:
                self._dhparam = f.read()
            self._changed()

    def session_stats(self) -> dict[str, int]:
        """Handshake counts of this context's sockets: ``connect``, ``connect_good``, ``accept``,
        ``accept_good`` and ``hits`` (resumed server handshakes).  OpenSSL's own counters
        (``SSL_CTX_sess_*``) are not exported by the binding, so its other keys are absent."""
        with self._lock:
            return dict(self._stats)

    def _count(self, key: str) -> None:
        with self._lock:
            self._stats[key] += 1

    def wrap_socket(self, sock: Any, server_side: bool = False, do_handshake_on_connect: bool = True,
                    suppress_ragged_eofs: bool = True, server_hostname: str | bytes | None = None,
                    session: Any = None) -> SSLSocket:
        """A ``greentls.SSLSocket`` over ``sock`` (which is detached, as the stdlib does)."""
        return SSLSocket._create(sock, self, bool(server_side), server_hostname,
                                 do_handshake_on_connect, suppress_ragged_eofs, session)

    def wrap_bio(self, incoming: _ssl.MemoryBIO, outgoing: _ssl.MemoryBIO,
                 server_side: bool = False, server_hostname: str | bytes | None = None,
                 session: Any = None) -> Any:
        """A ``greentls.SSLObject`` over two ``ssl.MemoryBIO`` (TLS bytes in and out)."""
        cls = SSLContext.sslobject_class
        if cls is None:  # greentls._app.sslobject sets it when imported (greentls imports it)
            import importlib
            cls = importlib.import_module("greentls._app.sslobject").SSLObject
        return cls._create(incoming, outgoing, self, bool(server_side), server_hostname, session)

    def __reduce__(self) -> Any:
        raise TypeError(f"cannot pickle {type(self).__name__!r} object")


def _parse_trust(data: bytes) -> list[crypto.X509 | x509.CertificateRevocationList]:
    """The certificates (PEM or concatenated DER) and PEM CRLs of ``data``, parsed once when
    they are loaded (the stdlib reads them at the call too)."""
    items: list[crypto.X509 | x509.CertificateRevocationList] = []
    with warnings.catch_warnings():  # a system store may hold certificates cryptography frowns on
        warnings.simplefilter("ignore")
        if b"-----BEGIN" in data:
            if b"CERTIFICATE-----" in data:
                items.extend(crypto.X509.from_cryptography(c) for c in x509.load_pem_x509_certificates(data))
            for part in data.split(b"-----BEGIN X509 CRL-----")[1:]:
                body = part.split(b"-----END X509 CRL-----")[0]
                items.append(x509.load_pem_x509_crl(b"-----BEGIN X509 CRL-----" + body + b"-----END X509 CRL-----\n"))
        else:
            from greentls._parse.certinfo import der_element
            pos = 0
            while pos < len(data):
                _tag, _start, end = der_element(data, pos)
                items.append(crypto.X509.from_cryptography(x509.load_der_x509_certificate(data[pos:end])))
                pos = end
    return items


def _add_trust(store: crypto.X509Store, items: list[crypto.X509 | x509.CertificateRevocationList]) -> None:
    for item in items:
        if isinstance(item, crypto.X509):
            try:
                store.add_cert(item)
            except crypto.Error:
                pass  # already trusted
        else:
            store.add_crl(item)


class _StdlibPolicy(HelloPolicy):
    """A server ``SSLSocket``'s decisions on the ClientHello: the stdlib's ``sni_callback``
    (it may block and may set ``ssl_socket.context``), and what ``shared_ciphers()`` reports."""

    def __init__(self, owner: SSLSocket) -> None:
        self._owner = weakref.ref(owner)

    def decides(self) -> bool:
        return True

    def _psk_server(self) -> tuple[Callable[[str | None], Any], str | None] | None:
        sock = self._owner()
        return sock._ssl_context._secure_context().policy.psk_server if sock is not None else None

    def answers_psk(self) -> bool:
        return self._psk_server() is not None

    def psk_for(self, tls: TLSSocket, identity: str) -> bytes | None:
        server = self._psk_server()
        if server is None:
            return None
        answer = server[0](identity)
        return server_key(answer) if answer else None  # b"": refused, as the stdlib's

    def psk_hint(self) -> str | None:
        server = self._psk_server()
        return server[1] if server is not None else None

    def context_for(self, tls: TLSSocket, hello: ClientHello) -> SecureContext | None:
        sock = self._owner()
        if sock is None:
            return None
        sock._offered(hello.cipher_suites)
        original = sock.context
        callback: Any = original.sni_callback
        if callback is not None:
            # The stdlib's rules: an exception ends the handshake with a handshake_failure
            # alert, an ALERT_DESCRIPTION_* with that alert, any other value with internal_error.
            try:
                alert = callback(sock, hello.server_name, original)
            except Exception as exc:
                raise HelloRefusedError(f"sni_callback raised {type(exc).__name__}: {exc}",
                                        alert=_ssl.ALERT_DESCRIPTION_HANDSHAKE_FAILURE,
                                        code="ERR_SSL_CALLBACK_FAILED", reason="callback failed") from exc
            if alert is not None:
                description = int(alert) if isinstance(alert, int) and 0 <= alert <= 255 \
                    else _ssl.ALERT_DESCRIPTION_INTERNAL_ERROR
                raise HelloRefusedError(f"sni_callback refused the connection (alert {alert!r})", alert=description,
                                        reason=f"sni_callback returned {alert!r}")
        current = sock.context  # set by the callback, or by the program before the handshake
        if current is sock._wrapped_context:
            return None
        return current._secure_context()


def _check_psk_capability(method: str, callback: object) -> None:
    """A PSK callback on a binding without OpenSSL's PSK callbacks: refused at the call."""
    if callback is not None and not capabilities["psk"]:
        raise UnsupportedError(f"{method}: {REASONS['psk']}", reason="no PSK callbacks in the binding")


def _stdlib_psk_client(callback: Callable[[str | None], Any]) -> Callable[[Any, str | None], Any]:
    """The stdlib's client PSK callback, ``(hint) -> (identity, psk)``, as greentls's."""
    def answer(tls: Any, hint: str | None) -> dict[str, Any] | None:
        result = callback(hint)
        if not isinstance(result, tuple) or len(result) != 2:
            raise TypeError("the PSK client callback must return (identity, psk)")
        identity, psk = result
        if not psk:
            return None
        return {"identity": identity or "", "psk": psk}
    return answer


def _verify_policy(context: _Policy, server_side: bool) -> tuple[bool, bool]:
    """(request_cert, reject_unauthorized) for ``verify_mode``: a client verifies unless
    ``CERT_NONE``; a server asks under ``CERT_OPTIONAL`` and ``CERT_REQUIRED``."""
    mode = context.verify_mode
    if server_side:
        return mode != _ssl.CERT_NONE, mode == _ssl.CERT_REQUIRED
    return False, mode != _ssl.CERT_NONE


@_ffi.callback("int (*)(int, X509_STORE_CTX *)")
def _openssl_verdict(ok: int, _store: Any) -> int:
    """A verify callback that changes nothing: OpenSSL's own verdict stands."""
    return ok


def configure_connection(conn: SSL.Connection, context: _Policy, server_side: bool,
                         hostname: str | None) -> None:
    """What the stdlib sets per connection inside OpenSSL: a server's ``CERT_OPTIONAL``
    (verify a certificate that is sent, admit a client without one) and a client's host check."""
    mode = context.verify_mode
    if server_side and mode == _ssl.CERT_OPTIONAL:
        # SSL_set_verify keeps the previous callback when given NULL: install one that keeps
        # OpenSSL's verdict, so a certificate that fails verification fails the handshake.
        _lib.SSL_set_verify(conn._ssl, SSL.VERIFY_PEER, _openssl_verdict)
    if server_side and mode != _ssl.CERT_NONE and context.post_handshake_auth:
        # The stdlib's server with post_handshake_auth asks TLS 1.3 clients for a certificate
        # only after the handshake (verify_client_post_handshake): SSL_VERIFY_POST_HANDSHAKE.
        verify = _lib.SSL_get_verify_mode(conn._ssl) | _VERIFY_POST_HANDSHAKE
        callback = _openssl_verdict if mode == _ssl.CERT_OPTIONAL else _ffi.NULL
        _lib.SSL_set_verify(conn._ssl, verify, callback)
    if server_side or hostname is None or not context.check_hostname or mode == _ssl.CERT_NONE:
        return
    param = _lib.SSL_get0_param(conn._ssl)
    flags = context.host_flags & (_HOSTFLAG_NEVER_CHECK_SUBJECT | _HOSTFLAG_NO_PARTIAL_WILDCARDS)
    _lib.X509_VERIFY_PARAM_set_hostflags(param, flags)
    if is_ip_literal(hostname):
        packed = ipaddress.ip_address(hostname.strip("[]")).packed
        ok = _lib.X509_VERIFY_PARAM_set1_ip(param, packed, len(packed))
    else:
        name = hostname.encode("ascii")
        ok = _lib.X509_VERIFY_PARAM_set1_host(param, name, len(name))
    if not ok:
        _lib.ERR_clear_error()
        raise ValueError(f"server_hostname: OpenSSL refused {hostname!r}")


def stdlib_verify_message(error: CertificateError, hostname: str | None,
                          conn: SSL.Connection | None = None) -> None:
    """The stdlib's ``verify_code`` and ``verify_message``: OpenSSL's own verify result (Node's
    code names may differ from it: ``code`` keeps Node's), and its words for a host mismatch."""
    result = int(_lib.SSL_get_verify_result(conn._ssl)) if conn is not None else 0
    if result:
        from greentls._base.errors import _verify_text
        error.verify_code = result
        error.verify_message = _verify_text(result) or error.verify_message
    if error.verify_code == _HOST_MISMATCH:
        error.verify_message = f"Hostname mismatch, certificate is not valid for {hostname!r}."
    elif error.verify_code == _IP_MISMATCH:
        error.verify_message = f"IP address mismatch, certificate is not valid for {hostname!r}."


class StdlibConnection:
    """What ``SSLSocket`` and ``SSLObject`` add to a connection, the stdlib's way."""

    _engine: TLSEngine
    _ssl_context: SSLContext
    #: The context it was wrapped with: a server serves another one set before its hello.
    _wrapped_context: SSLContext
    _server_side: bool
    _hostname: str | None
    _reject: bool
    _client_ciphers: tuple[int, ...] | None = None

    def _offered(self, cipher_suites: tuple[int, ...]) -> None:
        """The ClientHello's cipher suites (``shared_ciphers()``), told by the hello policy."""
        self._client_ciphers = cipher_suites

    @property
    def context(self) -> SSLContext:
        """The ``greentls.SSLContext`` of this connection; a server's ``sni_callback`` may set
        another one, whose certificate and settings then serve the connection."""
        return self._ssl_context

    @context.setter
    def context(self, value: SSLContext) -> None:
        if not isinstance(value, SSLContext):
            raise TypeError("The value must be a greentls.SSLContext")
        if not self._server_side and value is not self._ssl_context:
            raise UnsupportedError("SSLSocket.context: a client connection keeps the context it was "
                                   "wrapped with (its trust and verify settings are in place); wrap the "
                                   "socket with the other context instead")
        self._ssl_context = value

    def getpeercert(self, binary_form: bool = False) -> Any:
        """The stdlib's ``getpeercert()``: ``ValueError`` before the handshake; a client with
        ``CERT_NONE`` verified nothing, so its dict is ``{}``."""
        if self._engine.state in (State.NEW, State.HANDSHAKING):
            raise ValueError("handshake not done yet")
        if not binary_form and not self._server_side and not self._reject:
            return {} if self._engine.conn.get_peer_certificate() is not None else None
        return super().getpeercert(binary_form)  # type: ignore[misc]

    @property
    def server_side(self) -> bool:
        """True for the server end."""
        return self._server_side

    @property
    def server_hostname(self) -> str | None:
        """The ``server_hostname`` given to ``wrap_socket``/``wrap_bio`` (None on servers)."""
        return self._hostname

    @property
    def session(self) -> SSLSession | None:
        """The TLS session (``SSLSession``); a client may set one before its handshake."""
        from greentls._config.sessions import current_session_bytes
        der = current_session_bytes(self._engine.conn)
        return SSLSession(der, self._ssl_context) if der else None

    @session.setter
    def session(self, value: SSLSession | None) -> None:
        if value is None:
            return
        if not isinstance(value, SSLSession):
            raise TypeError("Value is not a SSLSession.")
        if self._server_side:
            raise ValueError("Cannot set session for server-side SSLSocket.")
        if self._engine.state is not State.NEW:
            raise ValueError("Cannot set session after handshake.")
        if value._context is not None and value._context is not self._ssl_context:
            # The stdlib's rule: a session resumes a handshake of its own context only, since
            # resuming skips the certificate check another context's trust would make.
            raise ValueError("Session refers to a different SSLContext.")
        apply_client_session(self._engine.conn, value.der)

    @property
    def session_reused(self) -> bool:
        """True when the handshake resumed a session."""
        return bool(_lib.SSL_session_reused(self._engine.conn._ssl))

    def get_channel_binding(self, cb_type: str = "tls-unique") -> bytes | None:
        """RFC 5929 ``tls-unique``: the first Finished message of the last handshake."""
        if cb_type not in _ssl.CHANNEL_BINDING_TYPES:
            raise ValueError("Unsupported channel binding type")
        conn = self._engine.conn
        if self.session_reused ^ (not self._server_side):
            return conn.get_finished()
        return conn.get_peer_finished()

    def shared_ciphers(self) -> list[tuple[str, str, int]] | None:
        """Server: the suites both the client offered and this server allows, as
        ``(name, protocol, secret bits)``; None on a client or before the handshake."""
        offered = self._client_ciphers
        if not self._server_side or offered is None:
            return None
        ssl = self._engine.conn._ssl
        allowed = set(self._engine.conn.get_cipher_list())
        shared = []
        for suite in offered:
            cipher = _lib.SSL_CIPHER_find(ssl, suite.to_bytes(2, "big"))
            if cipher == _ffi.NULL:
                continue
            name = c_string(_lib.SSL_CIPHER_get_name(cipher)).decode("ascii")
            if name in allowed:
                shared.append((name, c_string(_lib.SSL_CIPHER_get_version(cipher)).decode("ascii"),
                               int(_lib.SSL_CIPHER_get_bits(cipher, _ffi.NULL))))
        return shared

    def compression(self) -> str | None:
        """None: greentls never compresses (``OP_NO_COMPRESSION``)."""
        return None

    def selected_npn_protocol(self) -> None:
        """None: NPN is not supported."""
        return None

    def get_verified_chain(self) -> list[bytes]:
        """The chain OpenSSL verified, leaf first, as DER certificates ([] without one)."""
        try:
            chain = self._engine.conn.get_verified_chain(as_cryptography=True)
        except Exception:
            return []
        return [cert.public_bytes(Encoding.DER) for cert in chain or []]

    def get_unverified_chain(self) -> list[bytes]:
        """The certificates the peer sent, leaf first, as DER ([] without any)."""
        conn = self._engine.conn
        chain = list(conn.get_peer_cert_chain(as_cryptography=True) or [])
        peer = conn.get_peer_certificate(as_cryptography=True)
        if self._server_side and peer is not None and (not chain or chain[0] != peer):
            chain.insert(0, peer)
        return [cert.public_bytes(Encoding.DER) for cert in chain]


def check_session(session: SSLSession | None, context: SSLContext, server_side: bool) -> None:
    """The stdlib's checks of ``wrap_socket(session=...)``/``wrap_bio(session=...)``."""
    if session is None:
        return
    if not isinstance(session, SSLSession):
        raise TypeError("Value is not a SSLSession.")
    if server_side:
        raise ValueError("Cannot set session for server-side SSLSocket.")
    if session._context is not None and session._context is not context:
        raise ValueError("Session refers to a different SSLContext.")


def _encode_hostname(hostname: str | bytes | None) -> str | None:
    """The stdlib's ``SSLContext._encode_hostname``: an IDNA A-label str."""
    if not hostname:
        return None
    if isinstance(hostname, str):
        return hostname.encode("idna").decode("ascii")
    return hostname.decode("ascii")


def _detached(sock: Any) -> Any:
    """A new socket object on ``sock``'s descriptor, ``sock`` detached (the stdlib's rule: the
    wrapped socket owns the descriptor, and closing the original is harmless)."""
    if not (hasattr(sock, "detach") and hasattr(sock, "family") and hasattr(sock, "fileno")):
        return sock  # a duplex object: use it as it is
    if sock.type != _socket.SOCK_STREAM:
        raise NotImplementedError("only stream sockets are supported")
    fresh = type(sock)(sock.family, sock.type, sock.proto, fileno=sock.fileno())
    fresh.settimeout(sock.gettimeout())
    sock.detach()
    return fresh


class SSLSocket(StdlibConnection, TLSSocket, _ssl.SSLSocket):  # type: ignore[misc,override]
    """``ssl.SSLSocket`` on greentls: a ``TLSSocket`` (Node's getters, greentls's errors and
    timeouts) with every ``ssl.SSLSocket`` method and attribute.  Made by
    ``SSLContext.wrap_socket``; a wrapped listening socket's ``accept()`` returns
    ``(SSLSocket, address)``."""

    do_handshake_on_connect: bool
    suppress_ragged_eofs: bool
    _keylog_path = ""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError(f"{type(self).__name__} does not have a public constructor. "
                        f"Instances are returned by SSLContext.wrap_socket().")

    @classmethod
    def _create(cls, sock: Any, context: SSLContext, server_side: bool, server_hostname: str | bytes | None,
                do_handshake_on_connect: bool, suppress_ragged_eofs: bool,
                session: SSLSession | None) -> SSLSocket:
        # The stdlib's checks, in its order (Lib/ssl.py SSLSocket._create, then _ssl.c).
        if server_side:
            if server_hostname:
                raise ValueError("server_hostname can only be specified in client mode")
            if session is not None:
                raise ValueError("session can only be specified in client mode")
        if context.check_hostname and not server_hostname:
            raise ValueError("check_hostname requires server_hostname")
        if server_side and context.protocol == _ssl.PROTOCOL_TLS_CLIENT:
            raise _ssl.SSLError("Cannot create a server socket with a PROTOCOL_TLS_CLIENT context")
        if not server_side and context.protocol == _ssl.PROTOCOL_TLS_SERVER:
            raise _ssl.SSLError("Cannot create a client socket with a PROTOCOL_TLS_SERVER context")
        if session is not None and not isinstance(session, SSLSession):
            raise TypeError("Value is not a SSLSession.")
        hostname = _encode_hostname(server_hostname)
        transport = _detached(sock)
        try:
            self = cls._setup(transport, context, server_side, hostname, do_handshake_on_connect,
                              suppress_ragged_eofs, session)
        except BaseException:
            close = getattr(transport, "close", None)
            if close is not None:  # the descriptor is ours now (the stdlib's rule)
                close()
            raise
        if self.do_handshake_on_connect and _connected(transport):
            try:
                if self.gettimeout() == 0.0:
                    raise ValueError("do_handshake_on_connect should not be specified for non-blocking sockets")
                self.do_handshake()
            except BaseException:
                self.close()
                raise
        return self

    @classmethod
    def _setup(cls, transport: Any, context: SSLContext, server_side: bool, hostname: str | None,
               do_handshake_on_connect: bool, suppress_ragged_eofs: bool, session: SSLSession | None) -> SSLSocket:
        check_session(session, context, server_side)
        secure = context._secure_context()
        policy = secure.policy
        request_cert, reject = _verify_policy(policy, server_side)
        self: SSLSocket = cls.__new__(cls)
        self._ssl_context = context
        self._wrapped_context = context
        self._server_side = server_side
        self._hostname = hostname
        self.do_handshake_on_connect = bool(do_handshake_on_connect)
        self.suppress_ragged_eofs = bool(suppress_ragged_eofs)
        self._client_ciphers = None
        psk_callback = None
        if server_side and policy.psk_server is not None:
            # Before SSL_new: OpenSSL copies the context's PSK callback into the connection.
            install_psk_server(secure.server_context(request_cert, reject), policy.psk_server[1])
        elif not server_side and policy.psk_client is not None:
            psk_callback = _stdlib_psk_client(policy.psk_client)
        TLSSocket.__init__(self, transport, is_server=server_side, request_cert=request_cert,
                           reject_unauthorized=reject, alpn_protocols=policy.alpn, psk_callback=psk_callback,
                           servername=hostname if hostname and not is_ip_literal(hostname) else None,
                           session=session.der if session is not None else None, secure_context=secure,
                           hello_policy=_StdlibPolicy(self) if server_side else None)
        self._handshake_on_connect = self.do_handshake_on_connect
        self._engine.alpn_optional = True  # the stdlib's server answers no ALPN on no overlap
        configure_connection(self._engine.conn, policy, server_side, hostname)
        if context.keylog_filename:
            # Only there: a stdlib context's secrets never go to SSLKEYLOGFILE by themselves.
            self._keylog_path = os.fsdecode(context.keylog_filename)
            signals.keylog.connect(self._write_keylog, sender=self)
        return self

    def _write_keylog(self, sender: Any, line: bytes) -> None:
        with _keylog_lock, open(self._keylog_path, "ab") as f:
            f.write(line + b"\n")

    def _use_context(self, context: SecureContext) -> None:
        policy: _Policy = getattr(context, "policy", None) or self._ssl_context._secure_context().policy
        if self._server_side:  # the SNI context's own verify policy
            request_cert, reject = _verify_policy(policy, True)
            self._request_cert, self._reject = request_cert, reject
        super()._use_context(context)
        if self._server_side:
            self._engine.alpn_protocols = policy.alpn  # the SNI context's ALPN list
            configure_verify(self._engine.conn, server_side=True, request_cert=request_cert,
                             reject_unauthorized=reject)
            configure_connection(self._engine.conn, policy, True, None)

    def do_handshake(self, block: bool = False) -> None:
        """Run the handshake to completion; raises ``ssl.SSLError`` subclasses (greentls's)."""
        if self._engine.state is State.OPEN:
            return
        first = not self._handshake_counted  # once, though a non-blocking one takes calls
        side = "accept" if self._server_side else "connect"
        if first:
            self._handshake_counted = True
            self._ssl_context._count(side)
        try:
            super().do_handshake()
        except CertificateError as exc:
            stdlib_verify_message(exc, self._hostname, self._engine.conn)
            raise
        self._ssl_context._count(side + "_good")  # done, on this call or after WantRead ones
        if self._server_side and self.is_session_reused():
            self._ssl_context._count("hits")

    # -- sockets: the stdlib's members ---------------------------------------------------------

    def accept(self) -> tuple[SSLSocket, Any]:
        """Accept on a wrapped listening socket: ``(SSLSocket, address)``, the handshake done
        when ``do_handshake_on_connect`` (as the stdlib)."""
        newsock, address = self._transport.accept()
        conn = self._ssl_context.wrap_socket(newsock, server_side=True,
                                             do_handshake_on_connect=self.do_handshake_on_connect,
                                             suppress_ragged_eofs=self.suppress_ragged_eofs)
        return conn, address

    def connect_ex(self, address: Any) -> int:
        """``connect`` returning an errno instead of raising."""
        try:
            self.connect(address)
        except OSError as exc:
            return exc.errno or 1
        return 0

    def listen(self, backlog: int = 128) -> None:
        """Listen on the transport."""
        self._transport.listen(backlog)

    def bind(self, address: Any) -> None:
        """Bind the transport."""
        self._transport.bind(address)

    def getsockname(self) -> Any:
        """The transport's local address."""
        return self._transport.getsockname()

    def getpeername(self) -> Any:
        """The transport's peer address."""
        return self._transport.getpeername()

    def setsockopt(self, *args: Any) -> None:
        """``socket.setsockopt`` on the transport."""
        self._transport.setsockopt(*args)

    def getsockopt(self, *args: Any) -> Any:
        """``socket.getsockopt`` on the transport."""
        return self._transport.getsockopt(*args)

    @property
    def family(self) -> Any:
        """The transport's address family."""
        return self._transport.family

    @property
    def type(self) -> Any:
        """The transport's socket type."""
        return self._transport.type

    @property
    def proto(self) -> Any:
        """The transport's protocol number."""
        return self._transport.proto

    @property
    def timeout(self) -> float | None:
        """The transport's timeout (``socket.timeout``'s attribute form)."""
        return self.gettimeout()

    def getblocking(self) -> bool:
        """True unless the transport has a timeout of 0."""
        return self.gettimeout() != 0.0

    def detach(self) -> int:
        """Give up the descriptor without closing it (no close_notify); this socket is closed."""
        self._closed = True
        self._watch.close()
        self._engine.close()
        return int(self._transport.detach())

    def recv(self, bufsize: int = 65536, flags: int = 0) -> bytes:
        """Up to ``bufsize`` decrypted bytes; b"" at the end (an end without close_notify raises
        ``ssl.SSLEOFError`` when ``suppress_ragged_eofs`` is False)."""
        data = super().recv(bufsize, flags)
        if not data and bufsize:
            self._check_ragged_eof()
        return data

    def recv_into(self, buffer: WriteableBuffer, nbytes: int | None = None, flags: int = 0) -> int:
        """Read into ``buffer``; 0 at the end."""
        count = super().recv_into(buffer, nbytes or 0, flags)
        if not count:
            self._check_ragged_eof()
        return count

    def _check_ragged_eof(self) -> None:
        if not self.suppress_ragged_eofs and not self._engine.clean_close:
            raise UnexpectedEOFError("EOF occurred in violation of protocol")

    def read(self, len: int = 1024, buffer: WriteableBuffer | None = None) -> Any:  # type: ignore[override]
        """``ssl.SSLSocket.read``: bytes, or the count read into ``buffer``."""
        if buffer is not None:
            return self.recv_into(buffer, len)
        return self.recv(len)

    def write(self, data: ReadableBuffer) -> int:  # type: ignore[override]
        """``ssl.SSLSocket.write``: send all of ``data``; returns its length."""
        self.sendall(data)
        return memoryview(data).nbytes

    def recvfrom(self, buflen: int = 1024, flags: int = 0) -> tuple[bytes, Any]:
        """As ``recv``, with no address (a connected socket)."""
        return self.recv(buflen, flags), None

    def recvfrom_into(self, buffer: WriteableBuffer, nbytes: int | None = None, flags: int = 0) -> tuple[int, Any]:
        """As ``recv_into``, with no address."""
        return self.recv_into(buffer, nbytes, flags), None

    def sendto(self, data: Any, flags_or_addr: Any, addr: Any = None) -> int:
        """Refused, as the stdlib refuses it on a TLS socket."""
        raise ValueError(f"sendto not allowed on instances of {type(self).__name__}")

    def recvmsg(self, *args: Any, **kwargs: Any) -> Any:
        """Not available on TLS sockets (as the stdlib)."""
        raise NotImplementedError(f"recvmsg not allowed on instances of {type(self).__name__}")

    def recvmsg_into(self, *args: Any, **kwargs: Any) -> Any:
        """Not available on TLS sockets (as the stdlib)."""
        raise NotImplementedError(f"recvmsg_into not allowed on instances of {type(self).__name__}")

    def sendmsg(self, *args: Any, **kwargs: Any) -> Any:
        """Not available on TLS sockets (as the stdlib)."""
        raise NotImplementedError(f"sendmsg not allowed on instances of {type(self).__name__}")

    def sendfile(self, file: Any, offset: int = 0, count: int | None = None) -> int:
        """Send a file's bytes over TLS (read and encrypted; no kernel ``sendfile``): the
        stdlib's own fallback (``socket._sendfile_use_send``), as ``ssl.SSLSocket.sendfile``
        runs it, with its checks (binary file, ``count`` positive, a blocking socket) and the
        file left just past what was sent."""
        send_by_send: Callable[..., int] = _socket.socket._sendfile_use_send  # type: ignore[attr-defined]
        return send_by_send(self, file, offset, count)

    def dup(self) -> Any:
        """Refused, as the stdlib refuses it."""
        raise NotImplementedError(f"Can't dup() {type(self).__name__} instances")

    def unwrap(self) -> Any:
        """Exchange close_notify, then return the plain socket; as with the stdlib, that socket
        is this one's descriptor, which ``close()`` still closes."""
        plain = super().unwrap()
        self._unwrapped = plain
        return plain

    _unwrapped: Any = None
    #: The handshake was counted in ``session_stats()`` (its first ``do_handshake`` call).
    _handshake_counted = False

    def close(self) -> None:
        """Close (close_notify if the handshake finished); after ``unwrap()``, the plain socket."""
        super().close()
        if self._unwrapped is not None:
            self._unwrapped.close()

    def verify_client_post_handshake(self) -> None:
        """Server, TLS 1.3: ask a client that offered post-handshake authentication for its
        certificate (RFC 8446 section 4.6.2)."""
        method = getattr(TLSSocket, "verify_client_post_handshake", None)
        if method is None:
            raise UnsupportedError("verify_client_post_handshake: this greentls build cannot do TLS 1.3 "
                                   "post-handshake authentication", reason="verify_client_post_handshake")
        method(self)

    def __repr__(self) -> str:
        side = "server" if self._server_side else "client"
        return f"<greentls.SSLSocket {side} {self._engine.state.value}>"


SSLContext.sslsocket_class = SSLSocket


def _connected(sock: Any) -> bool:
    getpeername = getattr(sock, "getpeername", None)
    if getpeername is None:
        return True
    try:
        getpeername()
        return True
    except OSError:
        return False


def create_default_context(purpose: _ssl.Purpose = _ssl.Purpose.SERVER_AUTH, *, cafile: Any = None,
                           capath: Any = None, cadata: Any = None) -> SSLContext:
    """``ssl.create_default_context()`` on greentls: the stdlib's defaults (a client verifies
    against the system's CA store unless ``cafile``/``capath``/``cadata`` say otherwise)."""
    if not isinstance(purpose, _ssl._ASN1Object):
        raise TypeError(purpose)
    if purpose == _ssl.Purpose.SERVER_AUTH:
        context = SSLContext(_ssl.PROTOCOL_TLS_CLIENT)
        context.verify_mode = _ssl.CERT_REQUIRED
        context.check_hostname = True
    elif purpose == _ssl.Purpose.CLIENT_AUTH:
        context = SSLContext(_ssl.PROTOCOL_TLS_SERVER)
    else:
        raise ValueError(purpose)
    if cafile or capath or cadata:
        context.load_verify_locations(cafile, capath, cadata)
    elif context.verify_mode != _ssl.CERT_NONE:
        context.load_default_certs(purpose)
    if sys.version_info >= (3, 13):
        # Python 3.13's create_default_context checks X.509 strictly and trusts partial chains.
        context.verify_flags |= _ssl.VERIFY_X509_STRICT | _ssl.VERIFY_X509_PARTIAL_CHAIN
    if hasattr(context, "keylog_filename"):
        keylogfile = os.environ.get("SSLKEYLOGFILE")
        if keylogfile and not sys.flags.ignore_environment:
            context.keylog_filename = keylogfile
    return context


# -- inject_into_ssl ---------------------------------------------------------------------------

_injected: dict[tuple[object, str], object] = {}
_inject_lock = threading.Lock()


def _targets() -> list[tuple[object, str, object]]:
    """(module, attribute, replacement) for every place that holds ``ssl.SSLContext``."""
    targets: list[tuple[object, str, object]] = [(_ssl, "SSLContext", SSLContext)]
    urllib3_ssl = sys.modules.get("urllib3.util.ssl_")
    if urllib3_ssl is None:
        try:
            import urllib3.util.ssl_ as urllib3_ssl
        except ImportError:
            urllib3_ssl = None
    if urllib3_ssl is not None and hasattr(urllib3_ssl, "SSLContext"):
        targets.append((urllib3_ssl, "SSLContext", SSLContext))
    adapters = sys.modules.get("requests.adapters")
    if adapters is None:
        try:
            import requests.adapters as adapters
        except ImportError:
            adapters = None
    if adapters is not None and getattr(adapters, "_preloaded_ssl_context", None) is not None:
        # requests >= 2.32 builds one context at import and hands it to every verifying pool.
        preloaded = SSLContext(_ssl.PROTOCOL_TLS_CLIENT)
        import certifi
        preloaded.load_verify_locations(certifi.where())
        targets.append((adapters, "_preloaded_ssl_context", preloaded))
    return targets


def inject_into_ssl() -> None:
    """Make ``ssl.SSLContext`` this class process-wide (and so ``ssl.create_default_context()``,
    ``http.client``, ``urllib``, ``smtplib``, ``imaplib``, ``ftplib``, ``xmlrpc``,
    ``requests``/``urllib3`` and ``socketserver`` servers): their TLS runs on greentls."""
    with _inject_lock:
        for module, name, replacement in _targets():
            key = (module, name)
            if key not in _injected:
                _injected[key] = getattr(module, name)
            setattr(module, name, replacement)


def extract_from_ssl() -> None:
    """Undo ``inject_into_ssl()``: every replaced attribute gets its original object back."""
    with _inject_lock:
        for (module, name), original in _injected.items():
            setattr(module, name, original)
        _injected.clear()
