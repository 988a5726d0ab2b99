"""greentls: Node.js's ``tls`` module for blocking-style Python on gevent greenlets and pyOpenSSL.

One greenlet per connection; the contract is API.md.  Quick start::

    import greentls

    def echo(tls_socket):
        while data := tls_socket.recv(65536):
            tls_socket.sendall(data)

    server = greentls.create_server(echo, key=open("key.pem").read(), cert=open("cert.pem").read())
    server.listen(8443)
    server.serve_forever()
"""
from __future__ import annotations

from typing import Any

from . import signals
from ._capabilities import capabilities
from ._ciphers import default_ciphers as _default_ciphers, get_ciphers
from ._client import connect
from ._context import SecureContext, create_secure_context
from ._errors import (CertificateError, HandshakeTimeoutError, RenegotiationError, TLSError,
                      UnsupportedError)
from ._identity import check_server_identity
from ._server import Server, create_server
from ._socket import TLSSocket
from .signals import (keylog, new_session, ocsp_request, ocsp_response, resume_session, secure,
                      secure_connect, secure_connection, session, tls_client_error)

__version__ = "0.1.0"

#: The default cipher list (Node's); ``GREENTLS_CIPHER_LIST`` replaces it at import, as
#: ``node --tls-cipher-list`` does.  Read when a context is built.
DEFAULT_CIPHERS: str = _default_ciphers()
#: Read when a context is built (Node's ``tls.DEFAULT_ECDH_CURVE``).
DEFAULT_ECDH_CURVE: str = "auto"
#: Lowest protocol version a context allows unless told otherwise (Node's default).
DEFAULT_MIN_VERSION: str = "TLSv1.2"
#: Highest protocol version a context allows unless told otherwise.
DEFAULT_MAX_VERSION: str = "TLSv1.3"
#: Client renegotiations allowed within ``CLIENT_RENEG_WINDOW`` seconds; read when a server
#: connection starts (Node's ``tls.CLIENT_RENEG_LIMIT``).
CLIENT_RENEG_LIMIT: int = 3
#: The renegotiation window in seconds (Node's ``tls.CLIENT_RENEG_WINDOW``, 600 s).
CLIENT_RENEG_WINDOW: float = 600.0

# Names that live in modules with heavier imports, loaded on first use.
_LAZY = {
    "SecurePair": "._securepair",
    "CryptoStream": "._securepair",
    "create_secure_pair": "._securepair",
    "wrap_socket": "._stdlib",
    "wsgi": ".wsgi",
}


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'greentls' has no attribute {name!r}")
    import importlib
    module = importlib.import_module(module_name, __name__)
    value = module if name == "wsgi" else getattr(module, name)
    globals()[name] = value
    return value


__all__ = [
    "create_secure_context", "create_server", "connect", "check_server_identity", "get_ciphers",
    "DEFAULT_CIPHERS", "DEFAULT_ECDH_CURVE", "DEFAULT_MIN_VERSION", "DEFAULT_MAX_VERSION",
    "CLIENT_RENEG_LIMIT", "CLIENT_RENEG_WINDOW", "create_secure_pair", "Server", "TLSSocket",
    "SecureContext", "SecurePair", "CryptoStream", "TLSError", "HandshakeTimeoutError",
    "CertificateError", "RenegotiationError", "UnsupportedError", "signals", "capabilities",
    "wrap_socket", "wsgi", "secure_connection", "tls_client_error", "new_session",
    "resume_session", "ocsp_request", "secure_connect", "ocsp_response", "session", "keylog",
    "secure",
]
