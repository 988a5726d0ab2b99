"""greentls: Node.js's ``tls`` module for blocking-style Python on gevent greenlets and pyOpenSSL.

One greenlet per connection; the API reference is in the docs (docs/api/).  Quick start::

    import greentls

    def echo(tls_socket):
        while data := tls_socket.recv(65536):
            tls_socket.sendall(data)

    server = greentls.create_server(echo, key=open("key.pem").read(), cert=open("cert.pem").read())
    server.listen(8443)
    server.serve_forever()
"""
from __future__ import annotations

import sys as _sys
import types as _types
from typing import TYPE_CHECKING, Any

from greentls import signals
from greentls._base.capabilities import capabilities
from greentls._base.errors import (
    CertificateError,
    HandshakeTimeoutError,
    RenegotiationError,
    TLSError,
    UnsupportedError,
)
from greentls._config.ciphers import default_ciphers as _default_ciphers, get_ciphers
from greentls._config.context import SecureContext, create_secure_context
from greentls._config.defaults import (
    DEFAULTS as _DEFAULTS,
    PACKAGE_ATTRIBUTES as _PACKAGE_ATTRIBUTES,
    Defaults as _Defaults,
)
from greentls._config.optiontable import add_option_docs as _add_option_docs
from greentls._config.roots import (
    get_ca_certificates,
    root_certificates as _root_certificates,
    set_default_ca_certificates,
)
from greentls._net.client import connect
from greentls._net.server import Server, create_server
from greentls._parse.identity import check_server_identity
from greentls._tls.socket import TLSSocket
from greentls._tls.wrap import wrap_socket
from greentls.signals import (
    keylog,
    new_session,
    ocsp_request,
    ocsp_response,
    resume_session,
    secure,
    secure_connect,
    secure_connection,
    session,
    tls_client_error,
    trace,
)

__version__ = "0.1.0"

# The docstrings help() and pydoc show list the options, from the one table of them.
_add_option_docs(create_secure_context, "context")
_add_option_docs(create_server, "context", "server")
_add_option_docs(connect, "context", "connect")
_add_option_docs(wrap_socket, "context", "wrap_socket")

# Node's tls.DEFAULT_* and tls.CLIENT_RENEG_*: package attributes that read and write
# ``DEFAULTS`` (greentls/_config/defaults.py), where the modules that use them read them when
# they are used, as Node does.
#
# * ``DEFAULT_CIPHERS``: the default cipher list (Node's); ``GREENTLS_CIPHER_LIST`` replaces it
#   at import, as ``node --tls-cipher-list`` does.  Read when a context is built.
# * ``DEFAULT_ECDH_CURVE``: read when a context is built (Node's ``tls.DEFAULT_ECDH_CURVE``).
# * ``DEFAULT_MIN_VERSION``/``DEFAULT_MAX_VERSION``: the protocol range a context allows unless
#   told otherwise (Node's defaults, TLSv1.2 and TLSv1.3).
# * ``CLIENT_RENEG_LIMIT``: client renegotiations allowed within ``CLIENT_RENEG_WINDOW``
#   seconds (3 in 600 s); read when a server connection starts.
_DEFAULTS.ciphers = _default_ciphers()

if TYPE_CHECKING:
    from greentls._app.sslobject import SSLObject
    from greentls._app.stdlib import (
        SSLContext,
        SSLSession,
        SSLSocket,
        create_default_context,
        extract_from_ssl,
        inject_into_ssl,
    )
    DEFAULT_CIPHERS: str
    DEFAULT_ECDH_CURVE: str
    DEFAULT_MIN_VERSION: str
    DEFAULT_MAX_VERSION: str
    CLIENT_RENEG_LIMIT: int
    CLIENT_RENEG_WINDOW: float


def _default_property(field: str) -> property:
    def get(_module: _types.ModuleType) -> object:
        value: object = getattr(_DEFAULTS, field)
        return _default_ciphers() if value is None and field == "ciphers" else value

    def set_(_module: _types.ModuleType, value: object) -> None:
        setattr(_DEFAULTS, field, value)

    def delete(_module: _types.ModuleType) -> None:  # back to the built-in default
        setattr(_DEFAULTS, field, getattr(_Defaults, field))

    return property(get, set_, delete)


class _Package(_types.ModuleType):
    """The ``greentls`` module's type: its DEFAULT_* attributes are ``DEFAULTS``'s fields."""

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | set(_PACKAGE_ATTRIBUTES))


#: Node's ``tls.rootCertificates``: Mozilla's roots (certifi's copy) as PEM strings, read on
#: first use.
_Package.root_certificates = property(lambda self: _root_certificates())  # type: ignore[attr-defined]

for _name, _field in _PACKAGE_ATTRIBUTES.items():
    setattr(_Package, _name, _default_property(_field))
_sys.modules[__name__].__class__ = _Package
del _name, _field

# Names that live in modules with heavier imports, loaded on first use.
_LAZY = {
    "SecurePair": "greentls._net.securepair",
    "CryptoStream": "greentls._net.securepair",
    "create_secure_pair": "greentls._net.securepair",
    "wsgi": "greentls.wsgi",
    # The stdlib's ssl.SSLContext, on greentls: imported on first use, so that a program that
    # monkey-patches with gevent first (gunicorn's workers do) subclasses the patched class
    # and gevent has no unpatched subclass to warn about.
    "SSLContext": "greentls._app.stdlib",
    "SSLSocket": "greentls._app.stdlib",
    "SSLSession": "greentls._app.stdlib",
    "create_default_context": "greentls._app.stdlib",
    "inject_into_ssl": "greentls._app.stdlib",
    "extract_from_ssl": "greentls._app.stdlib",
    "SSLObject": "greentls._app.sslobject",
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
    "root_certificates", "get_ca_certificates", "set_default_ca_certificates",
    "DEFAULT_CIPHERS", "DEFAULT_ECDH_CURVE", "DEFAULT_MIN_VERSION", "DEFAULT_MAX_VERSION",
    "CLIENT_RENEG_LIMIT", "CLIENT_RENEG_WINDOW", "create_secure_pair", "Server", "TLSSocket",
    "SecureContext", "SecurePair", "CryptoStream", "TLSError", "HandshakeTimeoutError",
    "CertificateError", "RenegotiationError", "UnsupportedError", "signals", "capabilities",
    "wrap_socket", "wsgi", "secure_connection", "tls_client_error", "new_session",
    "resume_session", "ocsp_request", "secure_connect", "ocsp_response", "session", "keylog",
    "trace", "secure", "SSLContext", "SSLSocket", "SSLObject", "SSLSession", "create_default_context",
    "inject_into_ssl", "extract_from_ssl",
]
