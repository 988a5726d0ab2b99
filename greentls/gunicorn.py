"""``greentls.gunicorn.Worker``: gunicorn's worker processes, serving over greentls.

Run it as gunicorn runs any worker class::

    gunicorn -k greentls.gunicorn.Worker --certfile cert.pem --keyfile key.pem app:app

Each worker monkey-patches with gevent (as gunicorn's ``gevent`` worker does), builds its TLS
configuration from gunicorn's own settings (``certfile``, ``keyfile``, ``ca_certs``,
``cert_reqs``, ``ciphers``, ``ssl_version``, ``suppress_ragged_eofs``,
``do_handshake_on_connect`` and the ``ssl_context`` server hook) and serves every listener
gunicorn hands it with a ``greentls.wsgi.WSGIServer``: greentls's handshake timeout, SNI and
client verification, and greentls's WSGI environ (``HTTPS``, ``SSL_PROTOCOL``,
``SSL_CLIENT_VERIFY`` and mod_ssl's other names).  greentls's own options come from the
``greentls_options`` dict of the gunicorn configuration file (see ``GREENTLS_OPTIONS``).

A gunicorn setting is honoured or refused: one this worker cannot honour (HTTP/2, gunicorn's
parser limits, ...) stops gunicorn at start with ``greentls.UnsupportedError`` naming it.

This module imports gunicorn; ``import greentls`` never imports it.
"""
from __future__ import annotations

import datetime
import gc
import os
import ssl
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gevent
import gevent.event
from gevent import hub, monkey, socket as gsocket
from gunicorn.config import Config  # type: ignore[import-untyped]  # gunicorn ships no types
from gunicorn.workers.base import Worker as _GunicornWorker  # type: ignore[import-untyped]

from greentls import signals
from greentls._base.errors import TLSError, UnsupportedError
from greentls._config.context import SecureContext
from greentls._config.options import CONTEXT_OPTIONS, SERVER_OPTIONS
from greentls.wsgi import FileWrapper, HTTPLimits, WSGIServer

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

    from greentls._tls.socket import TLSSocket

__all__ = ["Worker", "GREENTLS_OPTIONS", "CONFIG_VARIABLE", "server_options"]

#: The configuration-file variable that carries greentls's own options.
CONFIG_VARIABLE = "greentls_options"

#: gunicorn settings this worker sets on the greentls server itself, and the greentls
#: option each becomes; ``greentls_options`` may not set these options a second time.
_GUNICORN_OWNS = {
    "cert": "certfile", "key": "keyfile", "ca": "ca_certs", "ciphers": "ciphers",
    "request_cert": "cert_reqs", "reject_unauthorized": "cert_reqs",
    "max_connections": "worker_connections", "keep_alive_timeout": "keepalive",
    "log": "accesslog", "error_log": "errorlog", "secure_context": "ssl_context",
    # gunicorn's request limits, with its names and meanings (0: no limit); greentls answers
    # an overlong request line 414 where gunicorn answers 400.
    "limit_request_line": "limit_request_line", "limit_request_fields": "limit_request_fields",
    "limit_request_field_size": "limit_request_field_size",
}
#: Options of ``greentls_options`` that are not ``WSGIServer`` keyword arguments.
_EXTRA_OPTIONS = frozenset({"sni_contexts", "ocsp_response"})


def _limit_names() -> frozenset[str]:
    return frozenset(field.name for field in fields(HTTPLimits))


#: Every key ``greentls_options`` accepts: ``WSGIServer``'s options (``create_server``'s and
#: the HTTP limits) that no gunicorn setting already gives, plus ``sni_contexts`` (hostname ->
#: context options or a ``SecureContext``, as ``Server.add_context`` takes them) and
#: ``ocsp_response`` (``callable(certificate, issuer) -> bytes or None``, answering
#: ``ocsp_request``).
GREENTLS_OPTIONS = frozenset((CONTEXT_OPTIONS | SERVER_OPTIONS | _limit_names() | _EXTRA_OPTIONS)
                             - set(_GUNICORN_OWNS))

#: gunicorn settings whose meaning lives in gunicorn's own HTTP layer or in a protocol
#: greentls's WSGI server does not speak: their default values are what this worker does,
#: any other value is refused (with the reason).
_REFUSED_UNLESS_DEFAULT = {
    "http_protocols": "WSGI is HTTP/1.1 here; HTTP/2 ('h2') is not served",
    "http2_cleartext": "HTTP/2 is not served",
    "protocol": "only HTTP is served (not uwsgi)",
    "proxy_protocol": ("gunicorn reads the PROXY header inside TLS; greentls reads it before the "
                       "handshake, where a balancer sends it: set greentls_options['proxy_protocol'] "
                       "instead"),
    "permit_obsolete_folding": "greentls's HTTP layer refuses folded header lines",
    "permit_unconventional_http_method": "greentls's HTTP layer has its own method rules",
    "permit_unconventional_http_version": "greentls's HTTP layer has its own version rules",
    "casefold_http_method": "greentls's HTTP layer passes the method as sent",
    "strip_header_spaces": "greentls's HTTP layer has its own header rules",
    "header_map": "greentls's HTTP layer has its own header rules",
    "tmp_upload_dir": "request bodies are not spooled to disk",
    "forwarder_headers": "the environ's SCRIPT_NAME and PATH_INFO are the request's, never a header's",
    "root_path": "SCRIPT_NAME is the request's (mount the application with a WSGI middleware)",
}

_TLS_VERSION_NAMES = {
    ssl.TLSVersion.TLSv1: "TLSv1", ssl.TLSVersion.TLSv1_1: "TLSv1.1",
    ssl.TLSVersion.TLSv1_2: "TLSv1.2", ssl.TLSVersion.TLSv1_3: "TLSv1.3",
}
#: gunicorn's deprecated ``ssl_version`` (an ``ssl.PROTOCOL_*``): the versions it pins.
_SSL_VERSIONS: dict[int, tuple[str, str] | None] = {
    int(ssl.PROTOCOL_TLS): None, int(ssl.PROTOCOL_TLS_SERVER): None,
    int(getattr(ssl, "PROTOCOL_TLSv1", 3)): ("TLSv1", "TLSv1"),
    int(getattr(ssl, "PROTOCOL_TLSv1_1", 4)): ("TLSv1.1", "TLSv1.1"),
    int(getattr(ssl, "PROTOCOL_TLSv1_2", 5)): ("TLSv1.2", "TLSv1.2"),
}
#: ``ssl.OP_*`` bits that stand for protocol versions (mapped to min_version/max_version).
_VERSION_BITS = {
    ssl.OP_NO_TLSv1: ("min", "TLSv1.1"), ssl.OP_NO_TLSv1_1: ("min", "TLSv1.2"),
    ssl.OP_NO_TLSv1_2: ("min", "TLSv1.3"), ssl.OP_NO_TLSv1_3: ("max", "TLSv1.2"),
}
_ALL_VERSION_BITS = ssl.OP_NO_TLSv1 | ssl.OP_NO_TLSv1_1 | ssl.OP_NO_TLSv1_2 | ssl.OP_NO_TLSv1_3
_VERSION_ORDER = ["TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"]


# -- the ssl_context hook --------------------------------------------------------------------

if TYPE_CHECKING:
    _MixinBase = ssl.SSLContext
else:
    _MixinBase = object


class _HookContextMixin(_MixinBase):
    """What ``default_ssl_context_factory()`` returns to gunicorn's ``ssl_context`` hook: a real
    ``ssl.SSLContext`` set up as gunicorn's own factory sets it up, which also records the
    calls whose effect cannot be read back from a stdlib context (the certificate chain, the
    cipher string, ALPN, curves, DH parameters, the trust store's source).  What the hook then
    sets is translated to greentls options by ``_translate``; a setting with no translation
    raises ``UnsupportedError`` naming it."""

    _greentls: dict[str, Any]
    _baseline: dict[str, Any]
    # The methods below call ssl.SSLContext's through super(): the class is made by
    # _hook_context_class() on whatever ssl.SSLContext is when it is needed, since gevent's
    # monkey-patching replaces the stdlib's class (and a subclass made before would recurse).

    def _record(self, name: str, value: Any) -> None:
        if not hasattr(self, "_greentls"):
            self._greentls = {}
        self._greentls[name] = value

    def _start_recording(self) -> None:
        """Forget what was recorded, and take the settings now as the baseline the hook starts from."""
        self._greentls = {}

    def _take_baseline(self) -> None:
        self._baseline = _snapshot(self)

    def load_cert_chain(self, certfile: Any, keyfile: Any = None, password: Any = None) -> None:
        super().load_cert_chain(certfile, keyfile, password)
        self._record("cert", Path(os.fsdecode(certfile)))
        self._record("key", Path(os.fsdecode(keyfile if keyfile is not None else certfile)))
        if callable(password):
            password = password()
        if isinstance(password, (bytes, bytearray)):
            password = bytes(password).decode("utf-8")
        self._record("passphrase", password)

    def load_verify_locations(self, cafile: Any = None, capath: Any = None, cadata: Any = None) -> None:
        if capath is not None:
            raise UnsupportedError("ssl_context: load_verify_locations(capath=...) is not supported "
                                   "(greentls needs the CA certificates themselves: use cafile or cadata)")
        super().load_verify_locations(cafile, capath, cadata)
        # Recorded as given: get_ca_certs() would leave out trusted certificates that are no
        # CA (a self-signed client certificate trusted as itself).
        sources = list(getattr(self, "_greentls", {}).get("ca", []))
        if cafile is not None:
            sources.append(Path(os.fsdecode(cafile)))
        if isinstance(cadata, str):
            sources.append(cadata)
        elif cadata is not None:
            sources.extend(_der_to_pem(bytes(cadata)))
        self._record("ca", sources)

    def load_default_certs(self, purpose: ssl.Purpose = ssl.Purpose.SERVER_AUTH) -> None:
        super().load_default_certs(purpose)
        self._record("default_ca", True)

    def set_default_verify_paths(self) -> None:
        super().set_default_verify_paths()
        self._record("default_ca", True)

    def set_ciphers(self, cipherlist: str, /) -> None:
        super().set_ciphers(cipherlist)
        self._record("ciphers", cipherlist)

    def set_alpn_protocols(self, alpn_protocols: Iterable[str]) -> None:
        protocols = list(alpn_protocols)
        super().set_alpn_protocols(protocols)
        self._record("alpn_protocols", protocols)

    def set_npn_protocols(self, npn_protocols: Iterable[str]) -> None:
        raise UnsupportedError("ssl_context: set_npn_protocols is not supported (NPN is obsolete; use ALPN)")

    def set_ecdh_curve(self, name: str, /) -> None:
        super().set_ecdh_curve(name)
        self._record("ecdh_curve", name)

    def load_dh_params(self, path: str, /) -> None:
        super().load_dh_params(path)
        self._record("dhparam", Path(os.fsdecode(path)))

    def set_servername_callback(self, server_name_callback: Any) -> None:
        raise UnsupportedError("ssl_context: set_servername_callback/sni_callback is not supported "
                               "here; give greentls_options['sni_contexts'] or "
                               "greentls_options['sni_callback'] in the gunicorn config file")


def _der_to_pem(data: bytes) -> list[str]:
    """``cadata`` as DER: one or more certificates, back to back, as PEM strings."""
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding
    pems = []
    while data:
        # A DER SEQUENCE: 0x30, then its length (short or long form).
        if len(data) < 2 or data[0] != 0x30:
            raise ValueError("ssl_context: load_verify_locations(cadata=...) is not DER certificates")
        if data[1] < 0x80:
            end = 2 + data[1]
        else:
            count = data[1] & 0x7F
            end = 2 + count + int.from_bytes(data[2:2 + count], "big")
        cert = x509.load_der_x509_certificate(data[:end])
        pems.append(cert.public_bytes(Encoding.PEM).decode("ascii"))
        data = data[end:]
    return pems


_HOOK_CLASSES: dict[type, type] = {}


def _hook_context_class() -> type[ssl.SSLContext]:
    """The recording context class over the current ``ssl.SSLContext`` (gevent's once patched)."""
    base = ssl.SSLContext
    cls = _HOOK_CLASSES.get(base)
    if cls is None:
        cls = _HOOK_CLASSES[base] = type("SSLContext", (_HookContextMixin, base),
                                         {"__module__": __name__, "__doc__": _HookContextMixin.__doc__})
    return cls


def _snapshot(ctx: ssl.SSLContext) -> dict[str, Any]:
    """The settings of a stdlib context that can be read back."""
    return {"verify_mode": ctx.verify_mode, "options": int(ctx.options),
            "minimum_version": ctx.minimum_version, "maximum_version": ctx.maximum_version,
            "verify_flags": int(ctx.verify_flags), "post_handshake_auth": ctx.post_handshake_auth,
            "num_tickets": ctx.num_tickets, "sni_callback": ctx.sni_callback,
            "keylog_filename": ctx.keylog_filename}


def _default_factory(cfg: Config) -> Callable[[], ssl.SSLContext]:
    """gunicorn's ``default_ssl_context_factory`` (gunicorn/sock.py), on a recording context."""
    def default_ssl_context_factory() -> ssl.SSLContext:
        ctx: Any = _hook_context_class()(ssl.PROTOCOL_TLS_SERVER)
        ctx._start_recording()
        # ssl.create_default_context(Purpose.CLIENT_AUTH, cafile=...), then gunicorn's calls.
        if cfg.ca_certs:
            ctx.load_verify_locations(cafile=cfg.ca_certs)
        ctx.load_cert_chain(certfile=cfg.certfile, keyfile=cfg.keyfile)
        ctx.verify_mode = cfg.cert_reqs
        if cfg.ciphers:
            ctx.set_ciphers(cfg.ciphers)
        ctx._take_baseline()
        return ctx  # type: ignore[no-any-return]
    return default_ssl_context_factory


def _version_name(version: ssl.TLSVersion, setting: str) -> str | None:
    if version in (ssl.TLSVersion.MINIMUM_SUPPORTED, ssl.TLSVersion.MAXIMUM_SUPPORTED):
        return None
    try:
        return _TLS_VERSION_NAMES[version]
    except KeyError:
        raise UnsupportedError(f"ssl_context: {setting}={version!r} is not supported") from None


def _translate(ctx: Any) -> dict[str, Any]:
    """The greentls options that serve what the hook's context says, or UnsupportedError."""
    recorded = dict(ctx._greentls)
    base, now = ctx._baseline, _snapshot(ctx)
    for name in ("verify_flags", "post_handshake_auth", "num_tickets", "keylog_filename"):
        if now[name] != base[name]:
            raise UnsupportedError(f"ssl_context: setting {name!r} on the context is not supported "
                                   "by greentls.gunicorn.Worker")
    if now["sni_callback"] is not None:
        ctx.set_servername_callback(now["sni_callback"])  # raises, naming it
    options: dict[str, Any] = {"cert": recorded["cert"], "key": recorded["key"]}
    if recorded.get("passphrase") is not None:
        options["passphrase"] = recorded["passphrase"]
    for name in ("ciphers", "alpn_protocols", "ecdh_curve", "dhparam"):
        if name in recorded:
            options[name] = recorded[name]
    # Trust: the CA certificates loaded into the context (cafile, cadata).
    cas: list[Any] = list(recorded.get("ca", []))
    if recorded.get("default_ca"):
        cas.extend(_default_roots())
    options.update(_verify_options(ssl.VerifyMode(now["verify_mode"])))
    if options["request_cert"]:
        if not cas:
            raise ValueError("cert_reqs asks for client certificates but no CA is loaded to verify "
                             "them (gunicorn's context would refuse every certificate): set ca_certs")
        options["ca"] = cas
    elif cas:
        options["ca"] = cas  # unused without client certificates, as with the stdlib
    # Versions: minimum/maximum_version, and the OP_NO_TLSv1* bits of options.
    low = _version_name(now["minimum_version"], "minimum_version")
    high = _version_name(now["maximum_version"], "maximum_version")
    bits = int(now["options"])
    for bit, (side, version) in _VERSION_BITS.items():
        if bits & bit:
            if side == "min" and (low is None or _VERSION_ORDER.index(version) > _VERSION_ORDER.index(low)):
                low = version
            if side == "max" and (high is None or _VERSION_ORDER.index(version) < _VERSION_ORDER.index(high)):
                high = version
    if low is not None and (low != _version_name(base["minimum_version"], "minimum_version")
                            or bits & ~base["options"] & _ALL_VERSION_BITS):
        # Only what the hook changed: the stdlib's own minimum (TLS 1.2) is greentls's default.
        options["min_version"] = low
    if high is not None:
        options["max_version"] = high
    # The stdlib's server contexts prefer the server's cipher order (OP_CIPHER_SERVER_PREFERENCE).
    options["honor_cipher_order"] = bool(bits & ssl.OP_CIPHER_SERVER_PREFERENCE)
    version_bits = _ALL_VERSION_BITS
    added = bits & ~base["options"] & ~version_bits & ~ssl.OP_CIPHER_SERVER_PREFERENCE
    removed = base["options"] & ~bits & ~version_bits & ~ssl.OP_CIPHER_SERVER_PREFERENCE
    if removed:
        raise UnsupportedError(f"ssl_context: clearing {ssl.Options(removed)!r} from 'options' is not "
                               "supported (greentls only adds OpenSSL option bits)")
    if added:
        options["secure_options"] = added
    return options


def _default_roots() -> list[str]:
    """greentls's default trust store (Mozilla's list, as certifi ships it), for a hook's
    ``load_default_certs()``."""
    import certifi
    return [certifi.contents()]


def _hook_options(cfg: Config) -> dict[str, Any]:
    """Call gunicorn's ``ssl_context`` hook and translate what it returns."""
    factory = _default_factory(cfg)
    result = cfg.ssl_context(cfg, factory)
    if isinstance(result, SecureContext):
        # Served as it is; client certificates are asked for as cert_reqs says.
        return {"secure_context": result, **_verify_options(ssl.VerifyMode(cfg.cert_reqs))}
    if isinstance(result, _HookContextMixin) and isinstance(result, ssl.SSLContext):
        return _translate(result)
    import greentls
    stdlib_class = getattr(greentls, "SSLContext", None)
    if stdlib_class is not None and isinstance(result, stdlib_class):
        return _from_greentls_ssl_context(result)
    raise UnsupportedError(
        f"ssl_context: the hook returned {type(result).__name__!s}, not the context that "
        "default_ssl_context_factory() made: greentls cannot read the certificate and key back "
        "from another ssl.SSLContext; configure the context default_ssl_context_factory() returns "
        "(or return a greentls.SSLContext or greentls.SecureContext)")


def _verify_options(mode: ssl.VerifyMode) -> dict[str, bool]:
    """A server's ``verify_mode`` as greentls's request_cert and reject_unauthorized."""
    return {"request_cert": mode != ssl.CERT_NONE, "reject_unauthorized": mode == ssl.CERT_REQUIRED}


def _from_greentls_ssl_context(ctx: Any) -> dict[str, Any]:
    """Serve a ``greentls.SSLContext`` the hook built: its greentls context, its verify mode
    and ALPN list; its per-connection settings that a greentls server cannot take are refused."""
    build = getattr(ctx, "_secure_context", None)
    if build is None:
        raise UnsupportedError("ssl_context: this greentls.SSLContext cannot be served by "
                               "greentls.gunicorn.Worker; configure default_ssl_context_factory()'s")
    if ctx.sni_callback is not None:
        raise UnsupportedError("ssl_context: sni_callback on the context is not supported here; give "
                               "greentls_options['sni_contexts'] or greentls_options['sni_callback']")
    if ctx.post_handshake_auth:
        raise UnsupportedError("ssl_context: setting 'post_handshake_auth' on the context is not "
                               "supported by greentls.gunicorn.Worker")
    options: dict[str, Any] = {"secure_context": build(), **_verify_options(ssl.VerifyMode(ctx.verify_mode))}
    alpn = getattr(ctx, "_alpn", None)
    if alpn:
        options["alpn_protocols"] = [bytes(protocol).decode("ascii") for protocol in alpn]
    return options


# -- gunicorn settings -> WSGIServer options -------------------------------------------------

def _config_file_options(cfg: Config) -> dict[str, Any]:
    """The ``greentls_options`` dict of the gunicorn configuration file ({} without one).

    gunicorn skips the names of a configuration file it does not know; it loads a file as
    the module ``__config__`` (``python:NAME`` as module NAME), kept in ``sys.modules``, which a
    reload (SIGHUP) loads afresh, so the workers forked after it read the new values."""
    location = cfg.config or ""
    module = None
    if location.startswith("python:"):
        module = sys.modules.get(location[len("python:"):])
    else:
        module = sys.modules.get("__config__")
    value = getattr(module, CONFIG_VARIABLE, None) if module is not None else None
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise TypeError(f"gunicorn config: {CONFIG_VARIABLE!r} must be a dict, got {type(value).__name__}")
    return dict(value)


def _check_greentls_options(options: Mapping[str, Any]) -> None:
    for name in options:
        if name in _GUNICORN_OWNS:
            raise ValueError(f"gunicorn config: {CONFIG_VARIABLE}[{name!r}] is set by gunicorn's "
                             f"{_GUNICORN_OWNS[name]!r} setting; set that instead")
        if name not in GREENTLS_OPTIONS:
            raise TypeError(f"gunicorn config: unknown {CONFIG_VARIABLE} key {name!r}; valid keys: "
                            + ", ".join(sorted(GREENTLS_OPTIONS)))
    sni = options.get("sni_contexts")
    if sni is not None and not isinstance(sni, Mapping):
        raise TypeError(f"gunicorn config: {CONFIG_VARIABLE}['sni_contexts'] must be a dict of "
                        "hostname -> context options (or SecureContext)")
    ocsp = options.get("ocsp_response")
    if ocsp is not None and not callable(ocsp):
        raise TypeError(f"gunicorn config: {CONFIG_VARIABLE}['ocsp_response'] must be callable")


def _check_settings(cfg: Config) -> None:
    if not cfg.certfile:
        raise ValueError("greentls.gunicorn.Worker serves TLS only: set certfile and keyfile "
                         "(--certfile FILE --keyfile FILE)")
    defaults = Config()
    for name, reason in _REFUSED_UNLESS_DEFAULT.items():
        if name in cfg.settings and getattr(cfg, name) != getattr(defaults, name):
            raise UnsupportedError(f"gunicorn setting {name!r}={getattr(cfg, name)!r} is not supported "
                                   f"by greentls.gunicorn.Worker: {reason}")
    if not cfg.suppress_ragged_eofs:
        raise UnsupportedError("gunicorn setting 'suppress_ragged_eofs'=False is not supported by "
                               "greentls.gunicorn.Worker: greentls reads a TLS end without "
                               "close_notify as the end of the stream")


def _ssl_version_options(cfg: Config) -> dict[str, Any]:
    """gunicorn's deprecated ``ssl_version`` (which gunicorn 21 and later ignore, with a
    warning): pinned to that one version, as gunicorn before 21 did; SSLv3, a client-only
    protocol or an unknown name is refused."""
    value = getattr(cfg, "ssl_version", ssl.PROTOCOL_TLS)
    version: int | None = None
    if isinstance(value, str):
        name = value.strip().upper().replace("TLSV", "TLSv").replace("SSLV", "SSLv")
        constant = getattr(ssl, "PROTOCOL_" + name, None)
        version = None if constant is None else int(constant)
    elif isinstance(value, int):
        version = int(value)
    if version not in _SSL_VERSIONS:
        raise UnsupportedError(f"gunicorn setting 'ssl_version'={value!r} is not supported by "
                               "greentls.gunicorn.Worker (TLS, SSLv23, TLS_SERVER, TLSv1, TLSv1_1 and "
                               "TLSv1_2 are; or set minimum_version in the ssl_context hook)")
    pinned = _SSL_VERSIONS[version]
    return {} if pinned is None else {"min_version": pinned[0], "max_version": pinned[1]}


def server_options(cfg: Config) -> dict[str, Any]:
    """The ``WSGIServer`` options (and the worker's extras) for gunicorn configuration ``cfg``.

    Raises ``greentls.UnsupportedError`` naming a setting that cannot be honoured, ``TypeError``
    or ``ValueError`` for bad ``greentls_options``, and whatever building the TLS context raises
    (a missing file, a key that does not match its certificate)."""
    _check_settings(cfg)
    extra = _config_file_options(cfg)
    _check_greentls_options(extra)
    options = _hook_options(cfg)
    pinned = _ssl_version_options(cfg)
    for name, value in pinned.items():
        if name in options and options[name] != value:
            raise ValueError(f"gunicorn setting 'ssl_version' pins {value}, but the ssl_context hook "
                             f"sets {name}={options[name]!r}")
        options[name] = value
    options["max_connections"] = cfg.worker_connections
    for name in ("limit_request_line", "limit_request_fields", "limit_request_field_size"):
        options[name] = getattr(cfg, name)
    if cfg.keepalive > 0:
        options["keep_alive_timeout"] = float(cfg.keepalive)
    for name, value in extra.items():
        if name in options and options[name] != value:
            raise ValueError(f"gunicorn config: {CONFIG_VARIABLE}[{name!r}] conflicts with the "
                             "ssl_context hook, which sets it too")
        options[name] = value
    return options


# -- the application, wrapped for gunicorn's bookkeeping -------------------------------------

class _RequestView:
    """What gunicorn's hooks and access log read of a request (``method``, ``uri``, ``path``,
    ``query``, ``version``, ``headers`` as (NAME, value) pairs, ``scheme``), from its environ."""

    __slots__ = ("method", "uri", "path", "query", "version", "headers", "scheme")

    def __init__(self, environ: WSGIEnvironment) -> None:
        self.method = environ.get("REQUEST_METHOD", "")
        self.path = environ.get("PATH_INFO", "")
        self.query = environ.get("QUERY_STRING", "")
        self.uri = environ.get("RAW_URI", "")
        protocol = str(environ.get("SERVER_PROTOCOL", "HTTP/1.1"))
        try:
            self.version = tuple(int(part) for part in protocol.split("/", 1)[1].split("."))
        except (IndexError, ValueError):
            self.version = (1, 1)
        headers = []
        for key, value in environ.items():
            if key.startswith("HTTP_"):
                headers.append((key[5:].replace("_", "-"), value))
            elif key in ("CONTENT_TYPE", "CONTENT_LENGTH") and value:
                headers.append((key.replace("_", "-"), value))
        self.headers = headers
        self.scheme = "https"


class _ResponseView:
    """What gunicorn's access log and ``post_request`` hook read of a response."""

    __slots__ = ("status", "headers", "sent", "response_length", "status_code")

    def __init__(self) -> None:
        self.status: str | None = None
        self.headers: list[tuple[str, str]] = []
        self.sent = 0
        self.response_length: int | None = None
        self.status_code: int | None = None


def _front_end(environ: WSGIEnvironment) -> str:
    """The address of the peer that sent the request over TCP: the balancer when it sent a
    PROXY protocol header (``REMOTE_ADDR`` is then the client it names), which is what
    gunicorn's ``forwarded_allow_ips`` is about."""
    tls = environ.get("greentls.socket")
    proxy = getattr(tls, "proxy", None)
    if proxy is not None and proxy.get("address"):
        return str(proxy["address"])
    return str(environ.get("REMOTE_ADDR", ""))


def _forwarded_trust(cfg: Config) -> Callable[[str], bool]:
    """gunicorn's ``forwarded_allow_ips``: whether a peer address may set the scheme headers
    (``*`` trusts all; an address that is no IP, a Unix socket's, is trusted, as in gunicorn)."""
    import ipaddress
    entries = [str(entry).strip() for entry in cfg.forwarded_allow_ips]
    if "*" in entries:
        return lambda address: True
    networks = [ipaddress.ip_network(entry, strict=False) for entry in entries if entry]

    def trusted(address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return True
        return any(ip in network for network in networks)
    return trusted


def _scheme_from_headers(environ: WSGIEnvironment, headers: Mapping[str, str]) -> str | None:
    """gunicorn's ``secure_scheme_headers``: the scheme a trusted front end's headers give, or
    None; ValueError when they contradict each other."""
    scheme = None
    for key, secure_value in headers.items():
        value = environ.get(key)
        if value is None:
            continue
        this = "https" if value.strip() == secure_value else "http"
        if scheme is not None and this != scheme:
            raise ValueError("Contradictory scheme headers")
        scheme = this
    return scheme


def _raw_uri(environ: WSGIEnvironment) -> str:
    from urllib.parse import quote
    uri = environ.get("REQUEST_URI") or quote(environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", ""))
    query = environ.get("QUERY_STRING")
    if query and "?" not in uri:
        uri = f"{uri}?{query}"
    return str(uri)


class _Logged:
    """The application's response iterable; ``close()`` ends the request's bookkeeping."""

    def __init__(self, result: Iterable[bytes], done: Callable[[], None], resp: _ResponseView) -> None:
        self._result = result
        self._done = done
        self._resp = resp

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._result:
            self._resp.sent += len(chunk)
            yield chunk

    def close(self) -> None:
        try:
            close = getattr(self._result, "close", None)
            if close is not None:
                close()
        finally:
            self._done()


class _LoggedFile(_Logged, FileWrapper):
    """A ``wsgi.file_wrapper`` response, still a ``FileWrapper`` (so a regular file is sent with
    its size as the Content-Length), with ``_Logged``'s counting and bookkeeping.  Only the
    wrapped object's own methods are used: an application's subclass need not have called
    ``FileWrapper.__init__``."""

    def remaining(self) -> int | None:
        result = self._result
        assert isinstance(result, FileWrapper)  # made only for one (``application``)
        return result.remaining()


class _LoggedList(list):  # type: ignore[type-arg]
    """A list response, still a list (so it is sent with a Content-Length); ``close()`` ends the
    request's bookkeeping, with the byte count known up front."""

    def __init__(self, result: list[bytes], done: Callable[[], None], resp: _ResponseView) -> None:
        super().__init__(result)
        resp.sent += sum(len(chunk) for chunk in result)
        self._done = done

    def close(self) -> None:
        self._done()


# -- the worker ------------------------------------------------------------------------------

class Worker(_GunicornWorker):  # type: ignore[misc]  # gunicorn's class is untyped
    """gunicorn's worker class for greentls: ``gunicorn -k greentls.gunicorn.Worker``.

    Serves each of gunicorn's listeners with a ``greentls.wsgi.WSGIServer`` in a gevent
    monkey-patched process, heartbeats to the arbiter once a second, drains in-flight requests
    for up to ``graceful_timeout`` on SIGTERM (or after ``max_requests``), leaves at once on
    SIGQUIT/SIGINT, logs each request through gunicorn's access log, and calls gunicorn's
    ``pre_request``/``post_request`` hooks with a view of the request."""

    #: The ``WSGIServer`` of each listener, once the worker runs.
    servers: list[WSGIServer]
    # gunicorn's own attributes (its class is untyped).
    sockets: list[Any]
    wsgi: WSGIApplication
    alive: bool
    nr: int
    max_requests: int

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._wake = _Wake()

    @classmethod
    def check_config(cls, cfg: Config, log: Any) -> None:
        """gunicorn's start-up check (run by the arbiter): build the options once, so a setting
        that cannot be honoured stops gunicorn before any worker forks (gunicorn prints the
        reason as ``Error: ...``)."""
        try:
            options = server_options(cfg)
            # Build it (not listening): a key that does not match, a bad SNI entry or option
            # value fails here, once, rather than in every worker.
            _build_server(("127.0.0.1", 0), _no_app, options)
        except (TLSError, TypeError, ValueError, OSError) as exc:
            raise RuntimeError(f"greentls.gunicorn.Worker: {type(exc).__name__}: {exc}") from exc

    def patch(self) -> None:
        """Monkey-patch with gevent (as gunicorn's gevent worker), and take the listening
        sockets over as gevent sockets."""
        # The recording context class check_config made in the arbiter subclasses the stdlib's
        # SSLContext; forget it, so gevent finds no unpatched subclass to warn about.
        _HOOK_CLASSES.clear()
        gc.collect()
        monkey.patch_all()
        self.sockets = [gsocket.socket(s.FAMILY, gsocket.SOCK_STREAM, fileno=s.sock.detach())
                        for s in self.sockets]

    def init_process(self) -> None:
        """Patch, reinitialise gevent's hub after the fork, then gunicorn's own set-up."""
        self.patch()
        hub.reinit()
        super().init_process()

    def notify(self) -> None:
        """Heartbeat to the arbiter; leave when the arbiter is gone (the parent changed)."""
        super().notify()
        if self.ppid != os.getppid():
            self.log.info("Parent changed, shutting down: %s", self)
            sys.exit(0)

    def handle_quit(self, sig: int, frame: Any) -> None:
        """SIGQUIT/SIGINT: leave at once (in a greenlet: gunicorn's handler sleeps)."""
        gevent.spawn(super().handle_quit, sig, frame)

    def handle_usr1(self, sig: int, frame: Any) -> None:
        """SIGUSR1: reopen the log files (in a greenlet, as gunicorn's gevent worker)."""
        gevent.spawn(super().handle_usr1, sig, frame)

    def load_wsgi(self) -> None:
        """Load the application, wrapped for gunicorn's request bookkeeping."""
        super().load_wsgi()
        self.wsgi = self._wrap(self.wsgi)

    def _wrap(self, app: WSGIApplication) -> WSGIApplication:
        cfg, log = self.cfg, self.log
        close_always = cfg.keepalive <= 0  # gunicorn: keepalive 0 turns keep-alive off
        scheme_headers = {"HTTP_" + name.upper().replace("-", "_"): value
                          for name, value in (cfg.secure_scheme_headers or {}).items()}
        trusted = _forwarded_trust(cfg)

        def application(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
            self.nr += 1
            if self.nr >= self.max_requests and self.alive:
                log.info("Autorestarting worker after current request.")
                self.alive = False
                self._stop_accepting()
            started = time.time()
            if "RAW_URI" not in environ:  # greentls's HTTP layer sets it from the request target
                environ["RAW_URI"] = _raw_uri(environ)
            if scheme_headers and trusted(_front_end(environ)):
                try:
                    scheme = _scheme_from_headers(environ, scheme_headers)
                except ValueError as exc:  # gunicorn's InvalidSchemeHeaders: 400
                    body = str(exc).encode()
                    start_response("400 Bad Request", [("Content-Type", "text/plain"),
                                                       ("Content-Length", str(len(body)))])
                    return [body]
                if scheme is not None:
                    environ["wsgi.url_scheme"] = scheme
            req = _RequestView(environ)
            resp = _ResponseView()
            cfg.pre_request(self, req)

            def recording_start_response(status: str, headers: list[tuple[str, str]],
                                         exc_info: Any = None) -> Callable[[bytes], object]:
                if close_always or not self.alive:
                    # As gunicorn: no keep-alive when it is off, nor once the worker is leaving.
                    headers = [(k, v) for k, v in headers if k.lower() != "connection"]
                    headers.append(("Connection", "close"))
                resp.status, resp.headers = status, headers
                try:
                    resp.status_code = int(status.split(None, 1)[0])
                except ValueError:
                    resp.status_code = None
                write = start_response(status, headers, exc_info)

                def counting_write(data: bytes) -> object:
                    resp.sent += len(data)
                    return write(data)
                return counting_write

            def done() -> None:
                resp.response_length = resp.sent
                try:
                    log.access(resp, req, environ, datetime.timedelta(seconds=time.time() - started))
                finally:
                    cfg.post_request(self, req, environ, resp)

            try:
                result = app(environ, recording_start_response)
            except BaseException:
                resp.status = resp.status or "500 Internal Server Error"
                done()
                raise
            if type(result) is list:
                # Kept a list, so the HTTP layer still frames it with a Content-Length.
                return _LoggedList(result, done, resp)
            if isinstance(result, FileWrapper):  # and a file wrapper, with its file's size
                return _LoggedFile(result, done, resp)
            return _Logged(result, done, resp)

        return application

    def _make_server(self, sock: Any, options: Mapping[str, Any]) -> WSGIServer:
        return _build_server(sock, self.wsgi, options, error_log=self.log.error_log)

    def run(self) -> None:
        """Serve until told to stop, heartbeating; then drain for up to graceful_timeout."""
        options = server_options(self.cfg)
        self.servers = [self._make_server(sock, options) for sock in self.sockets]
        for server in self.servers:
            server.start()
        beat = min(1.0, self.timeout) if self.timeout else 1.0
        while self.alive:
            self.notify()
            self._wake.wait(beat)
        self._drain()

    def handle_exit(self, sig: int, frame: Any) -> None:
        """SIGTERM: stop accepting now, then drain (gunicorn's graceful shutdown)."""
        super().handle_exit(sig, frame)
        self._wake.set()

    def _stop_accepting(self) -> None:
        """Stop accepting on every listener (requests in flight go on) and wake the run loop."""
        for server in getattr(self, "servers", ()):
            server.server.close()
            server.close_idle_connections()  # idle keep-alive connections need not hold the drain
        self._wake.set()

    def _drain(self) -> None:
        self._stop_accepting()
        deadline = time.monotonic() + self.cfg.graceful_timeout
        last_beat = 0.0
        while any(server.server.get_connections() for server in self.servers):
            now = time.monotonic()
            if now >= deadline:
                self.log.warning("Worker graceful timeout (pid:%s)", self.pid)
                break
            if now - last_beat >= 1.0:
                self.notify()
                last_beat = now
            gevent.sleep(0.05)
        for server in self.servers:
            server.stop(timeout=0)


def _no_app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    """The application of check_config's trial server, which never serves."""
    start_response("503 Service Unavailable", [])
    return [b""]


def _build_server(listener: Any, app: WSGIApplication, options: Mapping[str, Any],
                  error_log: Any = None) -> WSGIServer:
    """A WSGIServer for ``options`` (server_options' result), with the worker's extras applied."""
    options = dict(options)
    sni = options.pop("sni_contexts", None) or {}
    ocsp = options.pop("ocsp_response", None)
    server = WSGIServer(listener, app, log=None, error_log=error_log, **options)
    for hostname, context in sni.items():
        server.server.add_context(hostname, context)
    if ocsp is not None:
        def answer(sender: Any, certificate: bytes, issuer: bytes | None, **_: Any) -> bytes | None:
            return ocsp(certificate, issuer)  # type: ignore[no-any-return]
        # A strong reference: the receiver lives as long as the worker's server.
        signals.ocsp_request.connect(answer, sender=server.server, weak=False)
    if options.get("request_cert") and not options.get("reject_unauthorized"):
        # gunicorn's CERT_OPTIONAL (the stdlib's): a client may send no certificate, but one
        # it sends must verify; the stdlib fails such a handshake, here the connection ends
        # before a request is read.
        signals.secure_connection.connect(_refuse_unverified, sender=server.server)
    return server


class _Wake:
    """A wake-up for the run loop, made on first use (after the fork and gevent's reinit)."""

    def __init__(self) -> None:
        self._event: gevent.event.Event | None = None

    def _get(self) -> gevent.event.Event:
        if self._event is None:
            self._event = gevent.event.Event()
        return self._event

    def set(self) -> None:
        self._get().set()

    def wait(self, timeout: float) -> None:
        self._get().wait(timeout)


def _refuse_unverified(sender: Any, tls_socket: TLSSocket, **_: Any) -> None:
    """``secure_connection`` receiver for CERT_OPTIONAL: end a connection whose client sent a
    certificate that failed verification."""
    if not tls_socket.authorized and tls_socket.get_peer_x509_certificate() is not None:
        raise TLSError(f"client certificate refused: {tls_socket.authorization_error}",
                       code=str(tls_socket.authorization_error))
