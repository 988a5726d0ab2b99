"""Descriptions of every greentls option, for the option tables of the API reference.

This is the docs' half of one agreement with the code.  The option *names* live in the
package, as the sets the entry points check keyword arguments against (``CONTEXT_OPTIONS`` and
friends, see ``SOURCES``); the descriptions live here until they move into the code.  The
``greentls_docs`` extension compares the two when a build starts and stops the build when an
option exists in the code without a row here, or a row here names an option the code does not
have.

Each table maps an option name to ``(type, default, meaning, Node's spelling)``.  The four
fields are reStructuredText inline markup; ``:opt:`name``` links to another option's row.
``"-"`` means "nothing to say" (no Node equivalent, or no default).
"""
from __future__ import annotations

#: Table key -> the name of the set in the package that lists the table's options.  The
#: extension looks the name up in every loaded ``greentls`` module, so it keeps working while
#: modules move; the set must exist in exactly one place (or be the same object everywhere).
SOURCES = {
    "context": "CONTEXT_OPTIONS",
    "server": "SERVER_OPTIONS",
    "connect": "CONNECT_OPTIONS",
    "wsgi": "_WSGI_OPTIONS",
    "wrap_socket": "_SOCKET_OPTIONS",
    "secure_pair": "_PAIR_OPTIONS",
}

#: Table key -> (title, who takes these options).
TITLES = {
    "context": ("Context options",
                ":func:`greentls.create_secure_context`, and through it "
                ":func:`~greentls.create_server`, :meth:`Server.set_secure_context "
                "<greentls.Server.set_secure_context>`, :meth:`Server.add_context "
                "<greentls.Server.add_context>` (as a dict), :func:`~greentls.connect`, "
                ":func:`~greentls.wrap_socket`, :class:`greentls.wsgi.WSGIServer`"),
    "server": ("Server options",
               ":func:`greentls.create_server` and :class:`greentls.wsgi.WSGIServer`, "
               "besides the context options"),
    "connect": ("Client options",
                ":func:`greentls.connect`, besides the context options"),
    "wsgi": ("WSGI server options",
             ":class:`greentls.wsgi.WSGIServer`, besides the context and server options"),
    "wrap_socket": ("wrap_socket options",
                    ":func:`greentls.wrap_socket`, besides the context options; "
                    ":meth:`SecureContext.wrap_socket <greentls.SecureContext.wrap_socket>` "
                    "takes the same, except ``context``"),
    "secure_pair": ("SecurePair options",
                    "the ``options`` dict of :func:`greentls.create_secure_pair` "
                    "(deprecated)"),
}

_MATERIAL = ("A ``str`` or ``bytes`` is the PEM text itself; an :class:`os.PathLike` "
             "(:class:`pathlib.Path`) is a file that is read")

CONTEXT = {
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
        "``str``", ":data:`greentls.DEFAULT_ECDH_CURVE` (``'auto'``)",
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
        "refused. ``'auto'`` raises :exc:`~greentls.UnsupportedError`.",
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
        "Scopes where a client's sessions can be offered. A server's connections always use "
        "session id contexts of their own, one per context and client-certificate policy "
        "(:ref:`security-sessions`).",
        "``sessionIdContext``"),
    "min_version": (
        "``str``", ":data:`greentls.DEFAULT_MIN_VERSION` (``'TLSv1.2'``)",
        "The lowest protocol version: ``'TLSv1'``, ``'TLSv1.1'``, ``'TLSv1.2'`` or "
        "``'TLSv1.3'``.",
        "``minVersion``"),
    "max_version": (
        "``str``", ":data:`greentls.DEFAULT_MAX_VERSION` (``'TLSv1.3'``)",
        "The highest protocol version; same names as :opt:`min_version`.",
        "``maxVersion``"),
    "sigalgs": (
        "``str``", "``None``",
        "Signature algorithms to offer and accept, in OpenSSL's colon list "
        "(``'ECDSA+SHA256:rsa_pss_rsae_sha256'``).",
        "``sigalgs``"),
}

SERVER = {
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
}

CONNECT = {
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
}

WSGI = {
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
    "log": (
        "file-like, :class:`logging.Logger` or ``None``", "``'default'`` (standard error)",
        "The access log, as for :class:`gevent.pywsgi.WSGIServer`.",
        "-"),
    "error_log": (
        "file-like, :class:`logging.Logger` or ``None``", "``'default'`` (standard error)",
        "The error log (also ``wsgi.errors``), as for :class:`gevent.pywsgi.WSGIServer`.",
        "-"),
}

WRAP_SOCKET = {
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

SECURE_PAIR = {
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

#: Table key -> its rows, in the order the tables appear.
TABLES = {
    "context": CONTEXT,
    "server": SERVER,
    "connect": CONNECT,
    "wsgi": WSGI,
    "wrap_socket": WRAP_SOCKET,
    "secure_pair": SECURE_PAIR,
}
