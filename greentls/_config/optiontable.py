"""The table of every option: its name, type, default, meaning and Node's spelling.

This is the one description of the options.  The sets the entry points check keyword arguments
against are the keys of these tables, the documentation's option tables (docs/api/options.rst)
are rendered from them, and the docstrings of the entry points list them
(``add_option_docs``), so ``help(greentls.create_server)`` shows the same text.

The text fields are reStructuredText inline markup, as the documentation renders them;
``:opt:`name``` refers to another option's row (``:opt:`table.name``` to a row of a given
table) and ``"-"`` means "nothing to say" (no default, or no Node equivalent).  ``plain()``
turns a field into the plain text a docstring shows.
"""
from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from typing import NamedTuple, TypeVar

from greentls._config.defaults import Defaults

__all__ = ["Option", "TABLES", "TITLES", "CONTEXT", "SERVER", "CONNECT", "WSGI", "WRAP_SOCKET",
           "SECURE_PAIR", "names", "plain", "option_docs", "add_option_docs", "OPTIONS_HEADING"]


class Option(NamedTuple):
    """One row of an option table."""

    name: str
    type: str
    default: str
    meaning: str
    node: str


_Rows = dict[str, tuple[str, str, str, str]]

_MATERIAL = ("A ``str`` or ``bytes`` is the PEM text itself; an :class:`os.PathLike` "
             "(:class:`pathlib.Path`) is a file that is read")

_CONTEXT: _Rows = {
    "pfx": (
        "``bytes``, path, ``{'buf': ..., 'passphrase': ...}``, or a list of them",
        "``None``",
        "PKCS#12 bundles, each with a private key and its certificate; extra certificates in "
        "a bundle become intermediates, trusted issuers and acceptable client-certificate "
        "issuers, as in Node. A path is read as a file.",
        "``pfx``"),
    "key": (
        "``str``, ``bytes``, path, ``{'pem': ..., 'passphrase': ...}``, or a list of them",
        "``None``",
        "PEM private keys. " + _MATERIAL + ". A list holds several keys (RSA and ECDSA side "
        "by side); each must match one certificate of :opt:`cert`. Requires :opt:`cert`.",
        "``key``"),
    "passphrase": (
        "``str`` or ``bytes``", "``None``",
        "Decrypts an encrypted :opt:`key` or :opt:`pfx`; a dict item's own ``passphrase`` "
        "wins over it.",
        "``passphrase``"),
    "cert": (
        "``str``, ``bytes``, path, or a list of them", "``None``",
        "PEM certificate chains, leaf first, then its intermediates. " + _MATERIAL + ". "
        "Intermediates are sent with whichever leaf OpenSSL picks "
        "(:ref:`limits <limits-several-keys>`). Requires :opt:`key`.",
        "``cert``"),
    "ca": (
        "``str``, ``bytes``, path, or a list of them",
        "Mozilla's roots (``certifi``)",
        "PEM certificates to trust instead of the default roots. " + _MATERIAL + ". A server "
        "also names them as acceptable issuers when it asks for a client certificate.",
        "``ca``"),
    "ciphers": (
        "``str``", ":data:`greentls.DEFAULT_CIPHERS`",
        "OpenSSL cipher-list syntax; TLS 1.3 suite names (``TLS_AES_128_GCM_SHA256``) may be "
        "mixed in and are split out. Naming only TLS 1.3 suites raises the minimum version to "
        "TLS 1.3, as Node does.",
        "``ciphers``"),
    "honor_cipher_order": (
        "``bool``", "``False``",
        "A server picks the cipher by its own order instead of the client's.",
        "``honorCipherOrder``"),
    "ecdh_curve": (
        "``str``", f":data:`greentls.DEFAULT_ECDH_CURVE` (``{Defaults.ecdh_curve!r}``)",
        "``'auto'`` keeps OpenSSL's default groups; otherwise a colon list such as "
        "``'X25519:P-256'``.",
        "``ecdhCurve``"),
    "client_cert_engine": (
        "``str``", "``None``",
        "An OpenSSL engine for the client certificate. Raises "
        ":exc:`~greentls.UnsupportedError`: the OpenSSL that greentls runs on has no engines.",
        "``clientCertEngine``"),
    "crl": (
        "``str``, ``bytes``, path, or a list of them", "``None``",
        "PEM certificate revocation lists; given any, every certificate of the peer's chain is "
        "checked against them.",
        "``crl``"),
    "dhparam": (
        "``str``, ``bytes`` or path", "``None``",
        "PEM Diffie-Hellman parameters for TLS 1.2 DHE suites; a group under 1024 bits is "
        "refused. ``'auto'``: the RFC 7919 group (ffdhe2048 to ffdhe8192) sized to the RSA "
        "key's strength, as Node's ``'auto'``.",
        "``dhparam``"),
    "secure_options": (
        "``int``", "``None``",
        "A bitmask of OpenSSL ``SSL_OP_*`` flags, added to greentls's own.",
        "``secureOptions``"),
    "secure_protocol": (
        "``str``", "``None``",
        "An OpenSSL method name, as Node accepts it: ``'TLS_method'``, ``'TLSv1_2_method'``, "
        "``'TLSv1_2_server_method'`` ... A fixed-version method pins both ends of the version "
        "range and cannot be combined with :opt:`min_version` or :opt:`max_version`; SSL 2 "
        "and SSL 3 are refused.",
        "``secureProtocol``"),
    "session_id_context": (
        "``str`` or ``bytes`` (1 to 32 bytes)",
        "derived from the program's command line, as Node does",
        "Used by servers only, as in Node: a client's sessions resume from any process and "
        "any client context. A server's connections use session id contexts of their own, "
        "one per context and client-certificate policy (:ref:`security-sessions`).",
        "``sessionIdContext``"),
    "min_version": (
        "``str``", f":data:`greentls.DEFAULT_MIN_VERSION` (``{Defaults.min_version!r}``)",
        "The lowest protocol version: ``'TLSv1'``, ``'TLSv1.1'``, ``'TLSv1.2'`` or "
        "``'TLSv1.3'``.",
        "``minVersion``"),
    "max_version": (
        "``str``", f":data:`greentls.DEFAULT_MAX_VERSION` (``{Defaults.max_version!r}``)",
        "The highest protocol version; same names as :opt:`min_version`.",
        "``maxVersion``"),
    "sigalgs": (
        "``str``", "``None``",
        "Signature algorithms to offer and accept, in OpenSSL's colon list "
        "(``'ECDSA+SHA256:rsa_pss_rsae_sha256'``).",
        "``sigalgs``"),
    "post_handshake_auth": (
        "``bool``", "``False``",
        "TLS 1.3 post-handshake authentication. A client offers it, so that a server may ask "
        "for its certificate after the handshake; a server allows it, so that "
        "``verify_client_post_handshake()`` can ask then.",
        "- (greentls-only, as :attr:`ssl.SSLContext.post_handshake_auth`)"),
    "allow_partial_trust_chain": (
        "``bool``", "``False``",
        "Accept a certificate of the trust store (:opt:`ca`, or the default roots) as the "
        "end of the peer's chain even when it is an intermediate CA, not a self-signed root "
        "(OpenSSL's ``X509_V_FLAG_PARTIAL_CHAIN``). Applies to both sides: a client's check "
        "of the server and a server's check of client certificates.",
        "``allowPartialTrustChain``"),
}

_SERVER: _Rows = {
    "handshake_timeout": (
        "seconds (``float``)", "``120.0``",
        "A handshake not finished by then ends the connection and sends "
        ":data:`~greentls.signals.tls_client_error` with "
        ":exc:`~greentls.HandshakeTimeoutError`. ``0`` means no limit.",
        "``handshakeTimeout`` (milliseconds)"),
    "request_cert": (
        "``bool``", "``False``",
        "Ask each client for a certificate.",
        "``requestCert``"),
    "reject_unauthorized": (
        "``bool``", "``True``",
        "With :opt:`request_cert <server.request_cert>`, refuse a client whose certificate is "
        "missing or does not verify against :opt:`ca`. ``False`` lets it in with "
        ":attr:`~greentls.TLSSocket.authorized` false and the reason in "
        ":attr:`~greentls.TLSSocket.authorization_error`.",
        "``rejectUnauthorized``"),
    "alpn_protocols": (
        "list of ``str``/``bytes``, or wire-format ``bytes``", "``None``",
        "ALPN protocols the server accepts, in its order of preference; a client that offers "
        "none of them gets a ``no_application_protocol`` alert.",
        "``ALPNProtocols``"),
    "alpn_callback": (
        "callable ``(servername, protocols) -> str | None``", "``None``",
        "Chooses the ALPN protocol of each client that offers some: ``servername`` is the SNI "
        "name OpenSSL reads (or ``None``), ``protocols`` the client's list of ``str``, in its "
        "order. Returning ``None``, or a protocol the client did not offer, fails the "
        "handshake with a ``no_application_protocol`` alert. It runs in the connection's "
        "greenlet and may block; an exception it raises fails that connection "
        "(:data:`~greentls.signals.tls_client_error`). Cannot be combined with "
        ":opt:`alpn_protocols <server.alpn_protocols>` (:exc:`TypeError`).",
        "``ALPNCallback`` (which takes ``{servername, protocols}``)"),
    "sni_callback": (
        "callable ``(servername) -> SecureContext | dict | None``", "``None``",
        "Picks the context for the name a client asked for; a dict is built into a context "
        "(once per distinct contents). It runs in the connection's greenlet and may block. "
        "When given, it replaces the :meth:`~greentls.Server.add_context` table.",
        "``SNICallback`` (which takes a callback instead of returning)"),
    "session_timeout": (
        "seconds", "``300``",
        "How long the server's sessions stay resumable. It cannot change once a context has "
        "served a connection.",
        "``sessionTimeout``"),
    "ticket_keys": (
        "48 ``bytes``", "``None``",
        "Session-ticket keys. Raises :exc:`~greentls.UnsupportedError` on this binding "
        "(:ref:`sessions-limits`).",
        "``ticketKeys``"),
    "secure_context": (
        ":class:`~greentls.SecureContext`", "``None``",
        "Serve with this context; the context options are then not used.",
        "``secureContext``"),
    "max_connections": (
        "``int`` (> 0)", "``None`` (no cap)",
        "Concurrent connections at most; accepting pauses while the server is full. "
        "Connections then run in new greenlets (no recycling).",
        "``server.maxConnections`` (which drops the extra connections instead)"),
    "idle_timeout": (
        "seconds", "``None`` (no limit)",
        "After the handshake, a read or write that waits this long for the peer raises "
        ":exc:`TimeoutError` in the handler; an unhandled one ends the connection.",
        "``server.timeout`` (advisory in Node)"),
    "enable_trace": (
        "``bool``", "``False``",
        "Trace every connection from its first message: one line per handshake message, "
        "ChangeCipherSpec and alert, both ways, to the :data:`~greentls.signals.trace` "
        "receivers or to standard error (:meth:`TLSSocket.enable_trace "
        "<greentls.TLSSocket.enable_trace>`). Connections made without it cannot be traced.",
        "``enableTrace``"),
    "psk_callback": (
        "callable ``(tls_socket, identity) -> bytes | None``", "``None``",
        "TLS-PSK: the pre-shared key for the identity a client names (a ``str``), or ``None`` "
        "to refuse it; for TLS 1.2 PSK cipher suites (name them in :opt:`ciphers`, e.g. "
        "``\"PSK-AES128-GCM-SHA256\"``) and TLS 1.3 external PSKs (which use "
        "``TLS_AES_128_GCM_SHA256``). It runs in the connection's greenlet, before OpenSSL "
        "needs the key, and may block; an exception fails that connection. Such a server's "
        "handshakes run on memory BIOs (:doc:`/guides/psk`).",
        "``pskCallback``"),
    "psk_identity_hint": (
        "``str``", "``None``",
        "Sent to TLS 1.2 PSK clients, which hand it to their callback; needs "
        ":opt:`psk_callback <server.psk_callback>`.",
        "``pskIdentityHint``"),
    "proxy_protocol": (
        "``bool``", "``False``",
        "Behind a load balancer: every connection from an address in "
        ":opt:`proxy_allow_from <server.proxy_allow_from>` must begin with a PROXY protocol "
        "header (v1 or v2, HAProxy's specification), read under "
        ":opt:`handshake_timeout <server.handshake_timeout>` before the ClientHello. "
        ":attr:`~greentls.TLSSocket.remote_address` and its port and family are then the "
        "client's, and :attr:`~greentls.TLSSocket.proxy` the balancer's. A missing, malformed "
        "or oversized header, or a connection from elsewhere, fails with "
        "``ERR_PROXY_PROTOCOL``.",
        "none (greentls-only; Node has no PROXY protocol)"),
    "proxy_allow_from": (
        "list of IP addresses or CIDR blocks (``str``)", "``('127.0.0.1', '::1')``",
        "The balancers that connect to this server; with "
        ":opt:`proxy_protocol <server.proxy_protocol>` only. IPv4 clients of a dual-stack "
        "listener match their IPv4 entries.",
        "none (greentls-only)"),
}

_CONNECT: _Rows = {
    "host": (
        "``str``", "``'localhost'``",
        "Host to connect to; also the name checked against the server's certificate.",
        "``host``"),
    "port": (
        "``int``", "-",
        "Port to connect to; also the first positional argument.",
        "``port``"),
    "path": (
        "``str`` or path", "``None``",
        "Connect to this Unix socket instead of :opt:`host <connect.host>` and "
        ":opt:`port <connect.port>`.",
        "``path``"),
    "socket": (
        "a connected socket, or any object with ``recv``/``sendall`` or ``read``/``write``",
        "``None``",
        "Run TLS over this transport instead of opening a connection.",
        "``socket``"),
    "reject_unauthorized": (
        "``bool``", "``True``",
        "Raise :exc:`~greentls.CertificateError` when the server's certificate does not "
        "verify or does not match the name. ``False`` returns the socket with "
        ":attr:`~greentls.TLSSocket.authorized` false and the reason in "
        ":attr:`~greentls.TLSSocket.authorization_error`.",
        "``rejectUnauthorized``"),
    "alpn_protocols": (
        "list of ``str``/``bytes``, or wire-format ``bytes``", "``None``",
        "ALPN protocols to offer, in order of preference.",
        "``ALPNProtocols``"),
    "servername": (
        "``str``", "the host, unless it is an IP address",
        "Server name to send (SNI) and to check the certificate against.",
        "``servername``"),
    "check_server_identity": (
        "callable ``(hostname, cert) -> Exception | None``",
        ":func:`greentls.check_server_identity`",
        "Checks the verified certificate (a detailed "
        ":meth:`~greentls.TLSSocket.get_peer_certificate` dict) against the name; a returned "
        "exception fails the connection. Not run when a session is resumed.",
        "``checkServerIdentity``"),
    "session": (
        "``bytes``", "``None``",
        "A session to resume: bytes from :meth:`~greentls.TLSSocket.get_session` or the "
        ":data:`~greentls.signals.session` signal.",
        "``session``"),
    "min_dh_size": (
        "``int``", "``1024``",
        "Fail with ``ERR_TLS_DH_PARAM_SIZE`` when a TLS 1.2 DHE server uses a smaller group.",
        "``minDHSize``"),
    "secure_context": (
        ":class:`~greentls.SecureContext`", "``None``",
        "Use this context instead of building one from the context options.",
        "``secureContext``"),
    "lookup": (
        "callable ``(host) -> address``", "``None`` (the resolver)",
        "Resolves :opt:`host <connect.host>`; it returns the address rather than calling back.",
        "``lookup``"),
    "request_ocsp": (
        "``bool``", "``False``",
        "Ask the server to staple an OCSP response; the answer comes as the "
        ":data:`~greentls.signals.ocsp_response` signal.",
        "``requestOCSP``"),
    "timeout": (
        "seconds", "``None``",
        "Socket timeout for connecting, the handshake and every later read or write "
        "(:exc:`TimeoutError` when it passes).",
        "``timeout`` (advisory in Node)"),
    "secure_connect_listener": (
        "callable ``(tls_socket)``", "``None``",
        "Called once the connection is verified, after the "
        ":data:`~greentls.signals.secure_connect` receivers.",
        "the ``callback`` argument of ``tls.connect``"),
    "enable_trace": (
        "``bool``", "``False``",
        "Trace the connection from its first message, as the server option does "
        "(:meth:`TLSSocket.enable_trace <greentls.TLSSocket.enable_trace>`).",
        "``enableTrace``"),
    "psk_callback": (
        "callable ``(tls_socket, hint) -> {\"psk\": bytes, \"identity\": str} | None``", "``None``",
        "TLS-PSK: the identity and pre-shared key to offer. Asked once before the handshake "
        "with ``hint=None`` (a TLS 1.3 external PSK, with ``TLS_AES_128_GCM_SHA256``), and "
        "again with the server's hint (a ``str`` or ``None``) when a TLS 1.2 server picks a PSK "
        "cipher suite (name them in :opt:`ciphers`). A PSK server sends no certificate, so "
        "pass a :opt:`check_server_identity <connect.check_server_identity>` that accepts "
        "that, as in Node. It runs in the connection's greenlet and may block.",
        "``pskCallback``"),
}

_WSGI: _Rows = {
    "headers_timeout": (
        "seconds", "``60.0``, or :opt:`request_timeout <wsgi.request_timeout>` if smaller",
        "The request head must arrive within it, counted from the request's first byte; a "
        "``408`` answers a late one. ``0`` or ``None``: no limit. It may not exceed "
        ":opt:`request_timeout <wsgi.request_timeout>`.",
        "``http.Server`` ``headersTimeout``"),
    "request_timeout": (
        "seconds", "``300.0``",
        "The whole request, body included, must arrive within it; a ``408`` answers a late "
        "one when no response has begun. ``0`` or ``None``: no limit.",
        "``http.Server`` ``requestTimeout``"),
    "keep_alive_timeout": (
        "seconds", "``5.0``",
        "How long an idle connection waits for its next request before it is closed, "
        "without an answer. ``0`` or ``None``: no limit.",
        "``http.Server`` ``keepAliveTimeout``"),
    "limit_request_line": (
        "``int`` (bytes) or ``None``", "``4094``",
        "The longest request line; a longer one is answered ``414`` and the connection closed. "
        "``0`` or ``None``: no limit.",
        "- (gunicorn's ``limit_request_line``)"),
    "limit_request_fields": (
        "``int`` or ``None``", "``100``",
        "The most header fields a request may have; more are answered ``431``. ``0`` or "
        "``None``: no limit.",
        "- (gunicorn's ``limit_request_fields``)"),
    "limit_request_field_size": (
        "``int`` (bytes) or ``None``", "``8190``",
        "The longest header field line; a longer one is answered ``431``. ``0`` or ``None``: "
        "no limit.",
        "- (gunicorn's ``limit_request_field_size``)"),
    "limit_request_body": (
        "``int`` (bytes) or ``None``", "``None`` (no limit)",
        "The largest request body; a larger one is answered ``413``. ``0`` or ``None``: no "
        "limit.",
        "- (Apache's ``LimitRequestBody``)"),
    "log": (
        "file-like, :class:`logging.Logger` or ``None``", "``'default'`` (standard error)",
        "The access log, as for :class:`gevent.pywsgi.WSGIServer`.",
        "-"),
    "error_log": (
        "file-like, :class:`logging.Logger` or ``None``", "``'default'`` (standard error)",
        "The error log (also ``wsgi.errors``), as for :class:`gevent.pywsgi.WSGIServer`.",
        "-"),
}

_WRAP_SOCKET: _Rows = {
    "context": (
        ":class:`~greentls.SecureContext`", "``None``",
        "The configuration; without it the context options build one. Not combinable with "
        "context options.",
        "-"),
    "server_side": (
        "``bool``", "``False``",
        "Be the server of the handshake.",
        "``isServer`` of ``new tls.TLSSocket``"),
    "server_hostname": (
        "``str``", "``None``",
        "Client: the name to send (SNI, unless it is an IP address) and to check the "
        "certificate against. Required while the context's ``check_hostname`` is true.",
        "``servername``"),
    "do_handshake_on_connect": (
        "``bool``", "``True``",
        "Handshake at once when the socket is connected (else on the first I/O or "
        ":meth:`~greentls.TLSSocket.do_handshake`).",
        "-"),
    "suppress_ragged_eofs": (
        "``bool``", "``True``",
        "An end without close_notify reads as ``b''``. ``False`` raises "
        ":exc:`~greentls.UnsupportedError`.",
        "-"),
    "request_cert": (
        "``bool``", "``False``",
        "Server: ask the client for a certificate.",
        "``requestCert``"),
    "reject_unauthorized": (
        "``bool``", "``True``",
        "Server with :opt:`request_cert <wrap_socket.request_cert>`: refuse a client without "
        "a valid certificate. A client follows the context's ``verify_mode``.",
        "``rejectUnauthorized``"),
    "alpn_protocols": (
        "list of ``str``/``bytes``", "what ``set_alpn_protocols()`` set on the context",
        "ALPN protocols to offer (client) or accept (server).",
        "``ALPNProtocols``"),
}

_SECURE_PAIR: _Rows = {
    "alpn_protocols": (
        "list of ``str``/``bytes``", "``None``",
        "As :opt:`the client option <connect.alpn_protocols>`, or on a server pair as "
        ":opt:`the server option <server.alpn_protocols>`.",
        "``ALPNProtocols``"),
    "servername": (
        "``str``", "``None``",
        "Client pair: the server name to send.",
        "``servername``"),
    "session": (
        "``bytes``", "``None``",
        "Client pair: a session to resume.",
        "``session``"),
    "sni_callback": (
        "callable ``(servername) -> SecureContext | dict | None``", "``None``",
        "Server pair: picks the context for the requested name.",
        "``SNICallback``"),
    "request_ocsp": (
        "``bool``", "``False``",
        "Client pair: ask for a stapled OCSP response.",
        "``requestOCSP``"),
}


#: Table key -> its rows, in the order the documentation shows them.
TABLES: dict[str, dict[str, Option]] = {
    key: {name: Option(name, *fields) for name, fields in rows.items()}
    for key, rows in (("context", _CONTEXT), ("server", _SERVER), ("connect", _CONNECT),
                      ("wsgi", _WSGI), ("wrap_socket", _WRAP_SOCKET),
                      ("secure_pair", _SECURE_PAIR))
}
del _CONTEXT, _SERVER, _CONNECT, _WSGI, _WRAP_SOCKET, _SECURE_PAIR

CONTEXT = TABLES["context"]
SERVER = TABLES["server"]
CONNECT = TABLES["connect"]
WSGI = TABLES["wsgi"]
WRAP_SOCKET = TABLES["wrap_socket"]
SECURE_PAIR = TABLES["secure_pair"]

#: Table key -> the table's title, as the documentation's headings and the docstrings use it.
TITLES = {
    "context": "Context options",
    "server": "Server options",
    "connect": "Client options",
    "wsgi": "WSGI server options",
    "wrap_socket": "wrap_socket options",
    "secure_pair": "SecurePair options",
}


def names(*tables: str) -> frozenset[str]:
    """The option names of the given tables together: what an entry point taking them accepts."""
    return frozenset(name for table in tables for name in TABLES[table])


# -- plain text, for docstrings ----------------------------------------------------------------

#: ``:role:`text <target>```, ``:role:`~a.b.c``` and ``:role:`target```.
_ROLE = re.compile(r":(?P<role>[a-z]+):`(?P<body>[^`]+)`")
_LITERAL = re.compile(r"``(.+?)``")


def _role_text(match: re.Match[str]) -> str:
    role, body = match.group("role"), match.group("body")
    explicit = re.fullmatch(r"(.+?)\s*<([^>]+)>", body)
    if explicit:
        text = explicit.group(1)
        return f"{text} in the docs" if role == "ref" else text
    if role == "ref":
        return "the docs"
    if role == "opt":
        return body.split(".")[-1]
    target = body.lstrip("~!")
    short = target.split(".")[-1] if body.startswith("~") else target
    return short + "()" if role in ("func", "meth") else short


def plain(text: str) -> str:
    """A table field as plain text: roles become their text, literals lose their quotes."""
    return _LITERAL.sub(r"\1", _ROLE.sub(_role_text, text))


def _wrap(text: str, indent: str, width: int = 88) -> list[str]:
    """Greedy word wrap (textwrap costs more at import than this table needs)."""
    lines: list[str] = []
    line = ""
    for word in text.split():
        if line and len(indent) + len(line) + 1 + len(word) > width:
            lines.append(indent + line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    if line:
        lines.append(indent + line)
    return lines


#: The line that starts the option list of a docstring (the docs' extension replaces what follows
#: it with links to the option tables).
OPTIONS_HEADING = "Options (keyword arguments):"

_blocks: dict[str, str] = {}


def _block(table: str) -> str:
    """One table as docstring text, made once per table."""
    block = _blocks.get(table)
    if block is None:
        lines = [f"{TITLES[table]}:"]
        for name in sorted(TABLES[table]):
            row = TABLES[table][name]
            facts = f"{plain(row.type)}; default: {plain(row.default)}"
            if row.node.startswith("- "):  # no Node option; what it is instead
                facts += f"; not in Node: {plain(row.node[2:]).strip('()')}"
            elif row.node != "-":
                facts += f"; Node: {plain(row.node)}"
            lines.append(f"    {name} ({facts})")
            lines.extend(_wrap(plain(row.meaning), " " * 8))
        block = _blocks[table] = "\n".join(lines)
    return block


def option_docs(*tables: str) -> str:
    """The option list of a docstring: the heading, then every row of ``tables``."""
    return "\n\n".join([OPTIONS_HEADING, *(_block(table) for table in tables)])


_F = TypeVar("_F", bound=Callable[..., object])


def add_option_docs(function: _F, *tables: str) -> _F:
    """Append the option list of ``tables`` to the docstring of ``function`` (a function or a
    class) and return it; a docstring ``python -OO`` dropped stays ``None``."""
    if function.__doc__ is not None:
        function.__doc__ = inspect.cleandoc(function.__doc__) + "\n\n" + option_docs(*tables) + "\n"
    return function
