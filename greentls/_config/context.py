"""``SecureContext``: one OpenSSL context, built once and complete from Node's options.

pyOpenSSL refuses to change a context once a connection was made from it (docs/architecture.rst,
"fact-context-immutable"), so every option is applied here, at construction, and nothing mutates
``.context`` afterwards.
Per-connection policy (verify mode, ALPN list, SNI name, session) is set on each connection by
the engine instead.  The callbacks every context carries (ALPN selection) only read
per-connection state that the connection's greenlet prepared before OpenSSL runs them
(docs/architecture.rst, "fact-callbacks"): they never block and never switch greenlets.
"""
from __future__ import annotations

import hashlib
import logging
import os
import ssl as _stdlib_ssl
import sys
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import certifi
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from OpenSSL import SSL, crypto

from greentls._base.binding import c_string, ffi as _ffi, lib as _lib
from greentls._base.errors import TLSError, UnsupportedError
from greentls._config import ciphers as _ciphers
from greentls._config.defaults import DEFAULTS, Defaults
from greentls._config.ffdhe import FFDHE, group_for_rsa_bits
from greentls._config.keylog import install_if_logging_to_file
from greentls._config.keys import load_cert_chain, load_key, load_pfx, passphrase_bytes, public_der
from greentls._config.options import CONTEXT_OPTIONS, Options, check_bool, read_material_list, reject_unknown
from greentls._config.roots import default_override

if TYPE_CHECKING:
    import socket

    from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
    from OpenSSL.SSL import _NoOverlappingProtocols

    from greentls._base.binding import CData
    from greentls._engine.engine import TLSEngine
    from greentls._tls.socket import TLSSocket

__all__ = ["SecureContext", "create_secure_context"]

#: Node's version names (``tls.DEFAULT_MIN_VERSION`` spelling) -> OpenSSL protocol versions.
PROTOCOL_VERSIONS = {
    "TLSv1": SSL.TLS1_VERSION,
    "TLSv1.1": SSL.TLS1_1_VERSION,
    "TLSv1.2": SSL.TLS1_2_VERSION,
    "TLSv1.3": SSL.TLS1_3_VERSION,
}

#: ``secure_protocol`` method names, as Node accepts them (src/crypto/crypto_context.cc,
#: ``SecureContext::Init``): each maps to a (min, max) version pair; None means the default.
SECURE_PROTOCOLS: dict[str, tuple[str | None, str | None]] = {}
for _prefix, _versions in (("TLS", (None, None)), ("SSLv23", (None, None)),
                           ("TLSv1", ("TLSv1", "TLSv1")), ("TLSv1_1", ("TLSv1.1", "TLSv1.1")),
                           ("TLSv1_2", ("TLSv1.2", "TLSv1.2"))):
    for _role in ("", "_server", "_client"):
        SECURE_PROTOCOLS[f"{_prefix}{_role}_method"] = _versions

# OpenSSL 3 refuses client-initiated renegotiation unless this bit is set (docs/architecture.rst,
# "fact-renegotiation"); the bindings do not export it.  Node sets it too and enforces its own
# limit (renegotiation window).
OP_ALLOW_CLIENT_RENEGOTIATION = 0x100

# Node's default session id context is derived from the process's command line (lib/_tls_wrap.js,
# ``defaultSessionIdContext``), so every server of one program shares it: sessions resume across
# a program's servers but not into another program's.  Node sets it on servers only; so do we
# (it seeds the scope of ``SecureContext.server_context``): a client context has none.
DEFAULT_SESSION_ID_CONTEXT = hashlib.sha1(" ".join(sys.argv).encode()).hexdigest()[:32].encode()


_SSL_TLSEXT_ERR_OK: int = _lib.SSL_TLSEXT_ERR_OK


_SSL_TLSEXT_ERR_ALERT_FATAL: int = _lib.SSL_TLSEXT_ERR_ALERT_FATAL
#: RFC 6066 section 3: the alert for a server name the server will not serve.
_ALERT_UNRECOGNIZED_NAME = 112


def _resumed_tls12(ssl: CData) -> bool:
    return bool(_lib.SSL_session_reused(ssl)) and _lib.SSL_version(ssl) != _lib.TLS1_3_VERSION


@_ffi.callback("int (*)(SSL *, int *, void *)")
def _accept_servername(ssl: CData, alert: CData, _arg: CData) -> int:
    """OpenSSL's servername callback (run for every ClientHello, with or without SNI): accept
    the name the server's decisions were made for, refuse any other.

    The context for the name was chosen before OpenSSL read the hello (``_sni.py``), from our
    own parse.  Should OpenSSL read a different name from the same bytes, or accept a hello our
    parser could not read (so no decision ran), serving it would serve the default context to a
    name the SNI policy never saw: the hello is refused with ``unrecognized_name`` instead.
    Accepting also makes OpenSSL keep the name in the session (``final_server_name``), where
    ``SSL_get_servername`` finds it on a TLS 1.2 resumption.  Runs inside OpenSSL: it compares
    and records only (never blocks or switches)."""
    conn = SSL.Connection._reverse_mapping.get(ssl)
    engine: TLSEngine | None = conn.get_app_data() if conn is not None else None
    decision = engine.hello_decision if engine is not None else None
    if engine is None or decision is None:
        return _SSL_TLSEXT_ERR_OK
    raw = _lib.SSL_get_servername(ssl, _lib.TLSEXT_NAMETYPE_host_name)
    name = b"" if raw == _ffi.NULL else c_string(raw)
    if decision == name or (isinstance(decision, bytes) and _resumed_tls12(ssl)):
        # On a TLS 1.2 resumption OpenSSL reports the name stored in the session, which the
        # client may have changed: the session was made under this very OpenSSL context (it
        # resumes only under the session id context that made it, SecureContext.server_context),
        # so the trust decision stands, and the session's name is the one bound.
        return _SSL_TLSEXT_ERR_OK
    from greentls._parse.clienthello import ClientHelloError
    if isinstance(decision, bytes):
        why = (f"OpenSSL read the server name {name!r} where the server's decisions were made "
               f"for {decision!r}")
    else:
        why = "the server could not parse it, so its SNI and OCSP decisions could not run"
    engine.hello_refusal = ClientHelloError(f"ClientHello refused: {why}", reason=why)
    alert[0] = _ALERT_UNRECOGNIZED_NAME
    return _SSL_TLSEXT_ERR_ALERT_FATAL


def _alpn_select(conn: SSL.Connection, offered: list[bytes]) -> bytes | _NoOverlappingProtocols:
    """Server ALPN choice (RFC 7301 section 3.2): the server's own preference order.

    Runs inside OpenSSL: it only reads the list the connection's engine holds (an
    ``alpn_callback``'s answer is such a list of one, or none).  With no overlap it fails the
    handshake with ``no_application_protocol``, as Node does since v17, unless the engine's
    ``alpn_optional`` says to answer nothing (the stdlib's server).
    """
    engine: TLSEngine | None = conn.get_app_data()
    mine: list[bytes] | None = engine.alpn_protocols if engine is not None else None
    refusal = engine.alpn_refusal if engine is not None else None
    if not mine and refusal is None:
        return SSL.NO_OVERLAPPING_PROTOCOLS
    for protocol in mine or ():
        if protocol in offered:
            return protocol
    if refusal is not None:
        # An alpn_callback's answer, made in the connection's greenlet before OpenSSL read
        # the hello (TLSSocket._choose_alpn): this only reads it.
        raise refusal
    if engine is not None and engine.alpn_optional:
        return SSL.NO_OVERLAPPING_PROTOCOLS
    raise TLSError("no application protocol in common with the client (RFC 7301 section 3.2)",
                   code="ERR_SSL_NO_APPLICATION_PROTOCOL", reason="no application protocol")


#: Functions of the socket layer that ``SecureContext`` methods call.  Configuration sits below
#: sockets (layers import one way), so ``SecureContext.wrap_socket`` cannot import
#: ``TLSSocket``; the socket layer registers here when it is imported (``_tls/wrap.py``, which
#: the package imports).
_SOCKET_LAYER: dict[str, Callable[..., TLSSocket]] = {}


def register_socket_layer(**functions: Callable[..., TLSSocket]) -> None:
    """Called once by ``greentls._tls.wrap``: ``wrap_with_context`` for ``wrap_socket``."""
    _SOCKET_LAYER.update(functions)


#: ``ssl.SSLContext`` settings a ``SecureContext`` cannot take after it was built, and where
#: their Node equivalent goes instead.
_STDLIB_ONLY_SETTINGS = {
    "minimum_version": "build the context with Node's option min_version, e.g. "
                       "create_secure_context(min_version='TLSv1.2')",
    "maximum_version": "build the context with Node's option max_version, e.g. "
                       "create_secure_context(max_version='TLSv1.2')",
    "verify_flags": "pass certificate revocation lists with Node's option crl",
    "keylog_filename": "set SSLKEYLOGFILE in the environment, or connect to the keylog signal",
    "sni_callback": "pass sni_callback to create_server (or TLSSocket)",
    "post_handshake_auth": "build the context with the option post_handshake_auth, e.g. "
                           "create_secure_context(post_handshake_auth=True)",
    "hostname_checks_common_name": "greentls checks names as Node's check_server_identity does "
                                   "(subjectAltName; the common name only without one)",
    "security_level": "put @SECLEVEL=N in Node's option ciphers",
    "num_tickets": "TLS 1.3 session tickets are OpenSSL's default (two per handshake)",
    "protocol": "a SecureContext serves both roles; choose the versions with min_version and max_version",
}


class NodeOptions(dict[str, Any]):
    """``SecureContext.options``: the Node options the context was built from.

    ``ssl.SSLContext.options`` is an int of ``OP_*`` flags, and stdlib code does
    ``ctx.options |= ssl.OP_NO_TLSv1``; here that would fail with an unrelated error (or worse,
    look as if it worked), so combining these options with an int says what to do instead."""

    def _refuse(self, other: object) -> Any:
        if isinstance(other, int) and not isinstance(other, bool):
            raise TypeError("SecureContext.options holds Node's options, not ssl.SSLContext's OP_* "
                            "flags, and a built context cannot change: pass OpenSSL's SSL_OP_* bits as "
                            "secure_options=..., or min_version=/max_version= instead of OP_NO_TLSv1*, "
                            "to create_secure_context; or use greentls.SSLContext, whose options are "
                            "ssl.SSLContext's")
        return NotImplemented

    def __or__(self, other: Any) -> Any:
        refused = self._refuse(other)
        return super().__or__(other) if refused is NotImplemented else refused

    def __ior__(self, other: Any) -> Any:
        refused = self._refuse(other)
        return super().__ior__(other) if refused is NotImplemented else refused

    def __and__(self, other: Any) -> Any:
        return self._refuse(other)

    __rand__ = __and__

    def __ror__(self, other: Any) -> Any:
        return self._refuse(other)


log = logging.getLogger("greentls")


@dataclass(frozen=True)
class BuildInputs:
    """What a context's build reads besides its options, taken when the ``SecureContext`` is
    made (as Node reads its defaults in ``createSecureContext``): the ``DEFAULT_*`` settings,
    the default trust (``set_default_ca_certificates``, ``NODE_EXTRA_CA_CERTS``) and
    ``SSLKEYLOGFILE``.  Its server-side OpenSSL contexts, built later, use the same; caches of
    contexts compare it, so a change builds anew."""

    min_version: str
    max_version: str
    ciphers: str
    ecdh_curve: str
    trust: tuple[str, ...] | None
    extra_ca: str | None
    keylog_file: str | None


def build_inputs() -> BuildInputs:
    """The inputs in force now."""
    return BuildInputs(DEFAULTS.min_version, DEFAULTS.max_version, _ciphers.current_default(),
                       DEFAULTS.ecdh_curve, default_override(), os.environ.get("NODE_EXTRA_CA_CERTS"),
                       os.environ.get("SSLKEYLOGFILE"))


#: The options ``with_key_material`` takes (``set_key_cert``); the others stay the context's.
KEY_MATERIAL = frozenset({"key", "cert", "pfx", "passphrase"})


class SecureContext:
    """A complete, immutable TLS configuration (Node's ``SecureContext``).

    ``.context`` is the underlying ``OpenSSL.SSL.Context``.  Build one with
    ``create_secure_context(**options)``; the options are Node's ``tls.createSecureContext``
    options in snake_case.
    """

    #: False for a context made by ``with_key_material``: a ``pfx`` brings its key, certificate
    #: and chain but not its CA certificates as trust.
    _pfx_trust = True

    def __init__(self, **options: Any) -> None:
        # ``with_key_material``'s own two (private) arguments.
        inputs: BuildInputs | None = options.pop("_inputs", None)
        if options.pop("_pfx_trust", True) is False:
            self._pfx_trust = False
        reject_unknown(options, CONTEXT_OPTIONS, "create_secure_context")
        self.options: Options = NodeOptions(options)
        #: The defaults and default trust in force now, for every OpenSSL context built from it
        #: (a ``with_key_material`` context keeps those of the context it came from).
        self._inputs = inputs if inputs is not None else build_inputs()
        session_id = _session_id_context(self.options)
        # ``.context`` is the client side's, and has no session id context, as a Node client's:
        # OpenSSL copies a client's id into each session it makes and refuses a resumption
        # whose session carries another id (ATTEMPT_TO_REUSE_SESSION_IN_DIFFERENT_CONTEXT), so
        # an id here (the argv-derived default) would keep a session saved with get_session()
        # from resuming in another process, or on a client context of another id.  The id
        # guards a server's cache; a client offers only sessions it was handed.
        self.context: SSL.Context = _build(self.options, self._inputs, session_id=None,
                                           pfx_trust=self._pfx_trust)
        # Server connections use their own OpenSSL contexts, one per client-certificate policy
        # (``server_context``), whose session id contexts hash a random scope of this object:
        # no two SecureContexts share one, whatever their options.
        self._scope = hashlib.sha256(session_id + os.urandom(16)).digest()
        self._server_contexts: dict[tuple[bool, bool], SSL.Context] = {}
        self._lock = threading.Lock()
        #: ``SSL_CTX_set_timeout`` for server contexts built later (``_sessions.py``).
        self.session_timeout: int | None = None
        # stdlib-ssl compatibility: per-connection policy, so writable (docs/guides/stdlib.rst).
        self.check_hostname: bool = True
        self._verify_mode: _stdlib_ssl.VerifyMode = _stdlib_ssl.CERT_REQUIRED
        #: Whether ``verify_mode`` was assigned: a server socket then follows it (wrap.py).
        self.verify_mode_set = False

    @property
    def verify_mode(self) -> _stdlib_ssl.VerifyMode:
        """``ssl.SSLContext.verify_mode``.  A client verifies the server unless ``CERT_NONE``.
        A server socket from ``wrap_socket(server_side=True)`` follows it once assigned:
        ``CERT_REQUIRED`` asks for a client certificate and refuses a client without a valid
        one, ``CERT_OPTIONAL`` asks and lets ``authorized`` tell, ``CERT_NONE`` does not ask."""
        return self._verify_mode

    @verify_mode.setter
    def verify_mode(self, value: _stdlib_ssl.VerifyMode) -> None:
        self._verify_mode = _stdlib_ssl.VerifyMode(value)
        self.verify_mode_set = True

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "options" and "options" in self.__dict__:
            raise AttributeError("SecureContext.options cannot change once the context is built (it "
                                 "holds Node's options, not ssl.SSLContext's OP_* flags): build a new "
                                 "context, passing OpenSSL's SSL_OP_* bits as secure_options=...; or use "
                                 "greentls.SSLContext, whose options are ssl.SSLContext's")
        hint = _STDLIB_ONLY_SETTINGS.get(name)
        if hint is not None:
            # Never silently ignore a setting, security settings above all: a stdlib attribute
            # assigned here would change nothing on the wire.
            raise AttributeError(f"SecureContext does not honour ssl.SSLContext's {name!r} "
                                 f"(assigning it would change nothing): {hint}; or use greentls.SSLContext, "
                                 f"the stdlib's ssl.SSLContext on greentls, which takes it")
        object.__setattr__(self, name, value)

    #: stdlib code (http.client) switches TLS 1.3 post-handshake auth on where this is not None.
    #: A built context cannot change, so it reads None and stdlib code leaves it alone; the
    #: option ``post_handshake_auth`` sets it when the context is built (docs/guides/stdlib.rst).
    post_handshake_auth = None

    def set_alpn_protocols(self, protocols: Iterable[str | bytes]) -> None:
        """``ssl.SSLContext.set_alpn_protocols``: the ALPN list ``wrap_socket`` offers (a client) or
        selects from (a server).  Per connection in OpenSSL (``SSL_set_alpn_protos``), so allowed
        on this otherwise immutable context."""
        from greentls._config.options import normalize_alpn
        self.stdlib_alpn = normalize_alpn("protocols", list(protocols))

    stdlib_alpn: list[bytes] | None = None

    def wrap_socket(self, sock: socket.socket, server_side: bool = False, server_hostname: str | None = None,
                    do_handshake_on_connect: bool = True, suppress_ragged_eofs: bool = True,
                    **options: Any) -> TLSSocket:
        """``ssl.SSLContext.wrap_socket`` over this context: returns a ``TLSSocket`` (_stdlib.py)."""
        wrap_with_context = _SOCKET_LAYER.get("wrap_with_context")
        if wrap_with_context is None:  # only if greentls._tls.wrap was never imported
            raise RuntimeError("SecureContext.wrap_socket: import greentls first")
        return wrap_with_context(self, sock, server_side=server_side, server_hostname=server_hostname,
                                 do_handshake_on_connect=do_handshake_on_connect,
                                 suppress_ragged_eofs=suppress_ragged_eofs, **options)

    def with_key_material(self, material: Mapping[str, Any]) -> SecureContext:
        """This context with another key, certificate and chain (``TLSSocket.set_key_cert``, as
        Node's ``setKeyCert`` swaps only those): ``key``, ``cert``, ``pfx`` and ``passphrase``
        come from ``material``; every other option, and the defaults and default trust, stay
        the ones this context was built with.  A ``pfx`` here brings no trust: its CA
        certificates are only the chain.  Built on every call: files named by path are read
        again (a renewed certificate is served), and nothing accumulates."""
        given = {k: v for k, v in material.items() if k in KEY_MATERIAL}
        kept = {k: v for k, v in self.options.items() if k not in KEY_MATERIAL}
        derived = SecureContext(_inputs=self._inputs, _pfx_trust=False, **kept, **given)
        derived.session_timeout = self.session_timeout
        return derived

    def rebuilt(self, **changes: Any) -> SecureContext:
        """A new context from this one's options, ``changes`` replacing the ones given (what
        ``Server.reload`` installs): files named by ``pathlib.Path`` are read again, and the
        defaults and default trust are those in force now."""
        context = SecureContext(**{**self.options, **changes})
        context.session_timeout = self.session_timeout
        return context

    def allows_tls13(self) -> bool:
        """True when this context's version range reaches TLS 1.3 (as it was built), and its
        ``secure_options`` do not switch TLS 1.3 off (``SSL_OP_NO_TLSv1_3``)."""
        bits = self.options.get("secure_options")
        if isinstance(bits, int) and bits & SSL.OP_NO_TLSv1_3:
            return False
        return _version_range(self.options, self._inputs)[1] == "TLSv1.3"

    def server_context(self, request_cert: bool, reject_unauthorized: bool) -> SSL.Context:
        """The OpenSSL context a server connection with this client-certificate policy uses.

        OpenSSL resumes a session only under the session id context that made it (it checks
        ``sid_ctx`` for TLS 1.2 ids and tickets and for TLS 1.3 PSKs), so a session must never
        cross a change of trust: another SecureContext (another virtual host, trust store or
        certificate) or another ``request_cert``/``reject_unauthorized`` policy.  The bindings
        have ``SSL_CTX_set_session_id_context`` but not the per-connection
        ``SSL_set_session_id_context``, so each policy that asks for client certificates gets
        its own OpenSSL context, built once from the same options on first use (a ``Server``
        builds its own before it can fork workers, which must share ticket keys).  A client
        holding a session from elsewhere then gets a full handshake under this policy.
        """
        key = (True, bool(reject_unauthorized)) if request_cert else (False, False)
        context = self._server_contexts.get(key)
        if context is None:
            with self._lock:
                context = self._server_contexts.get(key)
                if context is None:
                    context = _build(self.options, self._inputs, session_id=self._scoped_id(key),
                                     pfx_trust=self._pfx_trust)
                    if self.session_timeout is not None:
                        context.set_timeout(self.session_timeout)
                    self._server_contexts[key] = context
        return context

    def server_contexts(self) -> list[SSL.Context]:
        """Every OpenSSL server context built so far."""
        return list(self._server_contexts.values())

    def _scoped_id(self, policy: tuple[bool, bool]) -> bytes:
        """32 bytes (SSL_MAX_SID_CTX_LENGTH): this context's scope and a client-cert policy."""
        return hashlib.sha256(self._scope + repr(policy).encode()).digest()

    def __repr__(self) -> str:
        return f"<greentls.SecureContext {sorted(self.options)}>"



def create_secure_context(**options: Any) -> SecureContext:
    """Build a ``SecureContext`` from Node's ``tls.createSecureContext`` options (snake_case)."""
    return SecureContext(**options)


def _build(options: Options, inputs: BuildInputs, *, session_id: bytes | None, pfx_trust: bool = True) -> SSL.Context:
    """Build and fully configure one ``SSL.Context`` from validated options; ``session_id``:
    the session id context of a server's context, None for the client's; ``pfx_trust``: the
    ``pfx``'s CA certificates are trusted (Node's ``LoadPKCS12``), not for ``set_key_cert``."""

    ctx = SSL.Context(SSL.TLS_METHOD)
    min_name, max_name = _version_range(options, inputs)
    ciphers = options.get("ciphers", inputs.ciphers)
    if not isinstance(ciphers, str):
        raise TypeError("option 'ciphers' must be a str in OpenSSL cipher-list syntax")
    if not _ciphers.split_cipher_string(ciphers)[0] and min_name != "TLSv1.3" and max_name == "TLSv1.3":
        # Only TLS 1.3 suites named: Node raises the floor to TLS 1.3 (secure-context.js,
        # configSecureContext), since no TLS 1.2 handshake could succeed.
        min_name = "TLSv1.3"
    ctx.set_min_proto_version(PROTOCOL_VERSIONS[min_name])
    ctx.set_max_proto_version(PROTOCOL_VERSIONS[max_name])
    # No TLS compression (CRIME); client renegotiation allowed so that Node's limit, not
    # OpenSSL 3's blanket refusal, governs it (docs/architecture.rst, "fact-renegotiation").
    ctx.set_options(SSL.OP_NO_COMPRESSION | OP_ALLOW_CLIENT_RENEGOTIATION)
    if options.get("honor_cipher_order") is not None and check_bool(
            "honor_cipher_order", options["honor_cipher_order"]):
        ctx.set_options(SSL.OP_CIPHER_SERVER_PREFERENCE)
    # Idle connections keep no read/write buffers: 57 -> 33 KiB per connection (docs/performance.rst).
    ctx.set_mode(SSL.MODE_RELEASE_BUFFERS)
    _apply_ciphers(ctx, ciphers)
    _apply_curves(ctx, options.get("ecdh_curve", inputs.ecdh_curve))
    _check_engine(options)
    _apply_secure_options(ctx, options)
    leaves = _apply_certificates(ctx, options)
    _apply_trust(ctx, options, inputs)
    if pfx_trust:
        _apply_pfx_trust(ctx, options)
    _apply_crl(ctx, options)
    _apply_partial_chain(ctx, options)
    _apply_dhparam(ctx, options, leaves)
    _apply_sigalgs(ctx, options)
    _apply_post_handshake_auth(ctx, options)
    if session_id is not None:
        ctx.set_session_id(session_id)
    ctx.set_session_cache_mode(SSL.SESS_CACHE_SERVER)
    ctx.set_alpn_select_callback(_alpn_select)
    _lib.SSL_CTX_set_tlsext_servername_callback(ctx._context, _accept_servername)
    # One raw status callback for both roles (_ocsp.py): pyOpenSSL's server and client OCSP
    # callbacks share this OpenSSL slot with incompatible return conventions.
    from greentls._config.ocsp import install_status_callback
    install_status_callback(ctx)
    # NSS key log lines: now for SSLKEYLOGFILE, else on the first keylog receiver (_keylog.py).
    install_if_logging_to_file(ctx)
    return ctx


def _version_range(options: Options, defaults: Defaults | BuildInputs) -> tuple[str, str]:
    protocol = options.get("secure_protocol")
    low = options.get("min_version")
    high = options.get("max_version")
    if protocol is not None:
        if not isinstance(protocol, str):
            raise TypeError("option 'secure_protocol' must be a str such as 'TLS_method'")
        if protocol.startswith(("SSLv2", "SSLv3")):
            raise ValueError(f"option 'secure_protocol': {protocol} is not supported (insecure)")
        if protocol not in SECURE_PROTOCOLS:
            raise ValueError(f"option 'secure_protocol': unknown method {protocol!r}")
        fixed_low, fixed_high = SECURE_PROTOCOLS[protocol]
        if fixed_low is not None and (low is not None or high is not None):
            raise ValueError("option 'secure_protocol' cannot be combined with min_version/max_version")
        low = low if fixed_low is None else fixed_low
        high = high if fixed_high is None else fixed_high
    low = defaults.min_version if low is None else low
    high = defaults.max_version if high is None else high
    for name, value in (("min_version", low), ("max_version", high)):
        if value not in PROTOCOL_VERSIONS:
            raise ValueError(f"option {name!r} must be one of {sorted(PROTOCOL_VERSIONS)}, got {value!r}")
    if PROTOCOL_VERSIONS[low] > PROTOCOL_VERSIONS[high]:
        raise ValueError(f"option 'min_version' ({low}) is above 'max_version' ({high})")
    return low, high


def _apply_ciphers(ctx: SSL.Context, ciphers: str) -> None:
    tls12, tls13 = _ciphers.split_cipher_string(ciphers)
    try:
        ctx.set_cipher_list(tls12.encode("ascii"))
    except SSL.Error as exc:
        if tls12:
            raise ValueError(f"option 'ciphers': no cipher matches {tls12!r}") from exc
    if tls13 is not None and not _lib.SSL_CTX_set_ciphersuites(ctx._context, tls13.encode("ascii")):
        _lib.ERR_clear_error()
        raise ValueError(f"option 'ciphers': no TLS 1.3 suite matches {tls13!r}")


def _apply_curves(ctx: SSL.Context, curves: object) -> None:
    if curves in (None, "auto"):
        return  # OpenSSL's defaults: X25519MLKEM768, X25519, P-256... (docs/architecture.rst, "fact-groups")
    if not isinstance(curves, str):
        raise TypeError("option 'ecdh_curve' must be 'auto' or a colon list such as 'P-256:X25519'")
    # pyOpenSSL's set_tmp_ecdh takes one curve only (docs/architecture.rst, "fact-groups").
    if not _lib.SSL_CTX_set1_curves_list(ctx._context, curves.encode("ascii")):
        _lib.ERR_clear_error()
        raise ValueError(f"option 'ecdh_curve': unknown or unsupported group in {curves!r}")


def _apply_certificates(ctx: SSL.Context, options: Options) -> list[x509.Certificate]:
    """Install every key with its certificate, one per key type, as Node allows RSA and ECDSA
    side by side: OpenSSL keeps one certificate slot per key type (``SSL_CTX_use_certificate``
    selects the slot from the certificate's key) and picks the slot the client's signature
    algorithms allow.  Chains: the bindings lack ``SSL_CTX_add1_chain_cert`` (per-slot chains),
    so intermediates go through ``add_extra_chain_cert``, which is context-wide: OpenSSL sends
    the extra certificates with whichever leaf it chose.  Returns the leaf certificates."""
    pairs: list[tuple[PrivateKeyTypes, x509.Certificate]] = []
    extras: list[x509.Certificate] = []
    if options.get("pfx") is not None:
        for key, leaf, extra in load_pfx(options):
            pairs.append((key, leaf))
            extras.extend(extra)
    keys = options.get("key")
    certs = options.get("cert")
    if keys is not None or certs is not None:
        if keys is None or certs is None:
            missing = "key" if keys is None else "cert"
            other = "cert" if missing == "key" else "key"
            raise ValueError(f"option {missing!r} is required when {other!r} is given")
        passphrase = passphrase_bytes(options)
        key_items = keys if isinstance(keys, (list, tuple)) else [keys]
        loaded_keys = [load_key(item, passphrase) for item in key_items]
        chains = [load_cert_chain(data) for data in read_material_list("cert", certs)]
        by_public: dict[bytes, list[x509.Certificate]] = {}
        for chain in chains:
            if not chain:
                raise ValueError("option 'cert': no certificate found")
            by_public.setdefault(public_der(chain[0].public_key()), chain)
        for key in loaded_keys:
            matching = by_public.get(public_der(key.public_key()))
            if matching is None:
                raise ValueError("option 'key': the private key does not match the certificate "
                                 "(key values mismatch)")
            pairs.append((key, matching[0]))
            extras.extend(matching[1:])
    seen = set()
    for key, leaf in pairs:
        if not isinstance(key, _SIGNING_KEYS):  # X25519, ML-KEM...: pyOpenSSL cannot install it
            raise TypeError(f"option 'key': {type(key).__name__} is not a key type pyOpenSSL can serve with")
        ctx.use_certificate(leaf)
        ctx.use_privatekey(key)
        try:
            ctx.check_privatekey()
        except SSL.Error as exc:
            raise ValueError("option 'key': the private key does not match the certificate "
                             "(key values mismatch)") from exc
    for intermediate in extras:
        der = intermediate.public_bytes(serialization.Encoding.DER)
        if der not in seen:
            seen.add(der)
            ctx.add_extra_chain_cert(intermediate)
    return [leaf for _, leaf in pairs]


#: The private key types ``SSL.Context.use_privatekey`` accepts (pyOpenSSL's ``_PrivateKey``).
_SIGNING_KEYS = (rsa.RSAPrivateKey, dsa.DSAPrivateKey, ec.EllipticCurvePrivateKey, ed25519.Ed25519PrivateKey,
                 ed448.Ed448PrivateKey)


def _store(ctx: SSL.Context) -> crypto.X509Store:
    """The context's trust store (never None for a context built here: SSL_CTX_new makes one)."""
    store = ctx.get_cert_store()
    if store is None:
        raise RuntimeError("OpenSSL context without a certificate store")
    return store


def _apply_pfx_trust(ctx: SSL.Context, options: Options) -> None:
    """Node's LoadPKCS12 also trusts the PKCS#12's extra (CA) certificates and names them as
    acceptable client issuers."""
    if options.get("pfx") is None:
        return
    store = _store(ctx)
    for _key, _leaf, extra in load_pfx(options):
        for cert in extra:
            try:
                store.add_cert(crypto.X509.from_cryptography(cert))
            except crypto.Error:
                pass  # already in the store
            ctx.add_client_ca(cert)


def _apply_crl(ctx: SSL.Context, options: Options) -> None:
    """``crl``: PEM CRLs added to the trust store with CRL_CHECK | CRL_CHECK_ALL, as Node's
    ``SecureContext::AddCRL`` sets them (src/crypto/crypto_context.cc)."""
    crl = options.get("crl")
    if crl is None:
        return
    store = _store(ctx)
    for data in read_material_list("crl", crl):
        blocks = [b"-----BEGIN X509 CRL-----" + part for part in data.split(b"-----BEGIN X509 CRL-----")[1:]]
        if not blocks:
            raise ValueError("option 'crl': no PEM X509 CRL found")
        for block in blocks:
            try:
                store.add_crl(x509.load_pem_x509_crl(block))
            except ValueError as exc:
                raise ValueError(f"option 'crl': not a PEM CRL ({exc})") from exc
    store.set_flags(crypto.X509StoreFlags.CRL_CHECK | crypto.X509StoreFlags.CRL_CHECK_ALL)


def _apply_partial_chain(ctx: SSL.Context, options: Options) -> None:
    """``allow_partial_trust_chain``: any certificate of the trust store, an intermediate CA in
    ``ca`` too, ends a chain as a trust anchor (``X509_V_FLAG_PARTIAL_CHAIN``), as Node's
    ``allowPartialTrustChain`` sets it on the context's store.  ``X509_STORE_set_flags`` adds
    to the flags already set (``crl``'s), it does not replace them."""
    value = options.get("allow_partial_trust_chain")
    if value is None or not check_bool("allow_partial_trust_chain", value):
        return
    _store(ctx).set_flags(crypto.X509StoreFlags.PARTIAL_CHAIN)


def _apply_dhparam(ctx: SSL.Context, options: Options, leaves: list[x509.Certificate]) -> None:
    """``dhparam``: finite-field DH parameters for DHE suites (TLS 1.2).  Node refuses groups
    under 1024 bits (``SecureContext::SetDHParam``: "DH parameter is less than 1024 bits") and
    warns under 2048; we refuse under 1024 too.  ``"auto"``: the RFC 7919 group sized to the
    RSA key's strength (DHE suites authenticate with RSA), as ``SSL_CTX_set_dh_auto`` would,
    which the binding lacks (``_config/ffdhe.py``)."""
    value = options.get("dhparam")
    if value is None:
        return
    if value == "auto":
        public = [leaf.public_key() for leaf in leaves]
        rsa_bits = [key.key_size for key in public if isinstance(key, rsa.RSAPublicKey)]
        data = FFDHE[group_for_rsa_bits(max(rsa_bits, default=2048))]
    else:
        (data,) = read_material_list("dhparam", value if not isinstance(value, list) else value[0])
    from greentls._base.binding import ffi
    bio = _lib.BIO_new_mem_buf(data, len(data))
    if bio == ffi.NULL:
        raise MemoryError("BIO_new_mem_buf")
    bio = ffi.gc(bio, _lib.BIO_free)
    dh_ptr = _lib.PEM_read_bio_DHparams(bio, ffi.NULL, ffi.NULL, ffi.NULL)
    if dh_ptr == ffi.NULL:
        _lib.ERR_clear_error()
        raise ValueError("option 'dhparam': not PEM DH parameters (OpenSSL could not read them)")
    dh_ptr = ffi.gc(dh_ptr, _lib.DH_free)
    # The binding exports no DH_bits/DH_get0_pqg and cryptography's FFDH loader warns of its
    # deprecation, so read the prime's size from the DER itself (PKCS #3 DHParameter).
    bits = _dh_prime_bits(data)
    if bits < 1024:
        raise ValueError(f"option 'dhparam': DH parameter is less than 1024 bits ({bits})")
    if not _lib.SSL_CTX_set_tmp_dh(ctx._context, dh_ptr):
        _lib.ERR_clear_error()
        raise ValueError("option 'dhparam': OpenSSL refused the DH parameters")


def _dh_prime_bits(pem: bytes) -> int:
    """Bits of ``p`` in a PEM ``DHParameter ::= SEQUENCE { prime INTEGER, base INTEGER, ... }``."""
    import base64
    body = pem.split(b"-----BEGIN DH PARAMETERS-----", 1)[1].split(b"-----END", 1)[0]
    der = base64.b64decode(b"".join(body.split()))

    def header(pos: int) -> tuple[int, int]:  # -> (content start, content length)
        length = der[pos + 1]
        if length < 0x80:
            return pos + 2, length
        count = length & 0x7F
        return pos + 2 + count, int.from_bytes(der[pos + 2:pos + 2 + count], "big")

    start, _ = header(0)  # SEQUENCE
    if der[start] != 0x02:
        raise ValueError("option 'dhparam': not PEM DH parameters")
    p_start, p_len = header(start)
    return int.from_bytes(der[p_start:p_start + p_len], "big").bit_length()


def _apply_sigalgs(ctx: SSL.Context, options: Options) -> None:
    """``sigalgs``: OpenSSL's colon list (``"ECDSA+SHA256:rsa_pss_rsae_sha256"``), set with
    ``SSL_CTX_set1_sigalgs_list`` as Node's ``SecureContext::SetSigalgs``."""
    value = options.get("sigalgs")
    if value is None:
        return
    if not isinstance(value, str) or not value:
        raise TypeError("option 'sigalgs' must be a non-empty str such as 'ECDSA+SHA256:RSA-PSS+SHA256'")
    if not _lib.SSL_CTX_set1_sigalgs_list(ctx._context, value.encode("ascii")):
        _lib.ERR_clear_error()
        raise ValueError(f"option 'sigalgs': unknown signature algorithm in {value!r}")


def _apply_post_handshake_auth(ctx: SSL.Context, options: Options) -> None:
    """``post_handshake_auth``: a client offers TLS 1.3 post-handshake authentication (the
    ClientHello's post_handshake_auth extension, RFC 8446 section 4.2.6) and answers a later
    CertificateRequest with the context's certificate.  A server context keeps the flag too,
    where OpenSSL ignores it: the server side reads the option itself (``TLSSocket``)."""
    value = options.get("post_handshake_auth")
    if value is None or not check_bool("post_handshake_auth", value):
        return
    from greentls._base.capabilities import REASONS, capabilities
    if not capabilities["post_handshake_auth"]:
        raise UnsupportedError(f"option 'post_handshake_auth': {REASONS['post_handshake_auth']}",
                               reason="no post-handshake authentication")
    _lib.SSL_CTX_set_post_handshake_auth(ctx._context, 1)


def _apply_secure_options(ctx: SSL.Context, options: Options) -> None:
    """``secure_options``: an ``SSL_OP_*`` bitmask passed to ``SSL_CTX_set_options``."""
    value = options.get("secure_options")
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise TypeError("option 'secure_options' must be a non-negative int (SSL_OP_* bitmask)")
    ctx.set_options(value)


def _check_engine(options: Options) -> None:
    if options.get("client_cert_engine") is not None:
        from greentls._base.capabilities import REASONS, capabilities
        if not capabilities["client_cert_engine"]:
            raise UnsupportedError(f"option 'client_cert_engine': {REASONS['client_cert_engine']}",
                                   reason="no OpenSSL engines")


def _apply_trust(ctx: SSL.Context, options: Options, inputs: BuildInputs) -> None:
    ca = options.get("ca")
    if ca is None:
        # Node trusts Mozilla's list by default; greentls uses certifi's copy of it (docs/api/options.rst),
        # plus NODE_EXTRA_CA_CERTS, unless set_default_ca_certificates replaced both (_config/roots.py).
        if inputs.trust is not None:
            store = _store(ctx)
            for pem in inputs.trust:
                # OpenSSL's own PEM reader: cryptography warns about roots that predate RFC 5280.
                store.add_cert(crypto.load_certificate(crypto.FILETYPE_PEM, pem.encode()))
            return
        ctx.load_verify_locations(certifi.where())
        if inputs.extra_ca:
            try:
                ctx.load_verify_locations(inputs.extra_ca)
            except (SSL.Error, OSError):
                log.warning("NODE_EXTRA_CA_CERTS=%s could not be read; its certificates are not trusted",
                            inputs.extra_ca)
        return
    store = _store(ctx)
    for data in read_material_list("ca", ca):
        try:
            certs = x509.load_pem_x509_certificates(data)
        except ValueError as exc:
            raise ValueError(f"option 'ca': not PEM certificates ({exc})") from exc
        for cert in certs:
            store.add_cert(crypto.X509.from_cryptography(cert))
        # Node also sends these as acceptable issuers in a CertificateRequest.
        for cert in certs:
            ctx.add_client_ca(cert)


def _session_id_context(options: Options) -> bytes:
    value = options.get("session_id_context")
    if value is None:
        return DEFAULT_SESSION_ID_CONTEXT
    if isinstance(value, str):
        value = value.encode("utf-8")
    if not isinstance(value, bytes) or not 0 < len(value) <= 32:
        raise ValueError("option 'session_id_context' must be 1 to 32 bytes (SSL_MAX_SID_CTX_LENGTH)")
    return value
