"""OCSP stapling (RFC 6066 section 8) on both sides, as Node's ``OCSPRequest``/``OCSPResponse``.

Theory of operation.  OpenSSL asks for (server) or hands over (client) the certificate status
from one per-context callback, ``SSL_CTX_set_tlsext_status_cb``.  pyOpenSSL wraps that slot
twice, ``set_ocsp_server_callback`` and ``set_ocsp_client_callback``, with incompatible return
conventions, and a greentls context may serve both roles.  So we install one raw cffi callback
that looks at the connection's role and:

* server: staples the answer the connection's greenlet computed beforehand and left in the
  connection's ``CallbackRecord`` (``_config/record.py``; the ``ocsp_request`` signal is sent
  from ``TLSSocket._ask_staple``, before OpenSSL reads the ClientHello: docs/architecture.rst,
  "fact-callbacks" and "fact-ocsp-der"), or declines (``SSL_TLSEXT_ERR_NOACK``);
* client: copies the stapled response (or notes that none came) into that record for
  ``ocsp_response``, which the socket sends after the handshake, before ``secure_connect``
  (Node emits 'OCSPResponse' first).

The callback never blocks and never switches greenlets.  OpenSSL calls it on a server only when
the ClientHello carried ``status_request``, and on a client only when it asked for status.
"""
from __future__ import annotations

import functools
import hashlib
import logging
import threading
import warnings
import weakref
from typing import TYPE_CHECKING

import certifi
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from OpenSSL import SSL

from greentls._base.binding import ffi as _ffi, lib as _lib
from greentls._config.options import Options

if TYPE_CHECKING:
    from greentls._base.binding import CData
    from greentls._config.record import CallbackRecord
    from greentls._engine.engine import TLSEngine

__all__ = ["install_status_callback", "certificate_and_issuer", "warn_if_undecodable"]

log = logging.getLogger("greentls")

# ssl/tls1.h: the server callback's answers.
_SSL_TLSEXT_ERR_OK = 0
_SSL_TLSEXT_ERR_NOACK = 3


def _engine_of(ssl: CData) -> TLSEngine | None:
    """The TLSEngine behind an ``SSL *`` (pyOpenSSL's own map; the engine is the app data; its
    ``record`` is the connection's ``CallbackRecord``)."""
    conn = SSL.Connection._reverse_mapping.get(ssl)
    engine: TLSEngine | None = conn.get_app_data() if conn is not None else None
    return engine


def _serve_staple(ssl: CData, record: CallbackRecord | None) -> int:
    staple = record.ocsp_staple if record is not None else None
    if not staple:
        return _SSL_TLSEXT_ERR_NOACK
    # OpenSSL takes ownership of the buffer and frees it with OPENSSL_free.
    buf = _lib.OPENSSL_malloc(len(staple))
    if buf == _ffi.NULL:
        return _SSL_TLSEXT_ERR_NOACK
    _ffi.memmove(buf, staple, len(staple))
    _lib.SSL_set_tlsext_status_ocsp_resp(ssl, _ffi.cast("unsigned char *", buf), len(staple))
    return _SSL_TLSEXT_ERR_OK


def _read_staple(ssl: CData, record: CallbackRecord | None) -> int:
    pointer = _ffi.new("unsigned char **")
    length: int = _lib.SSL_get_tlsext_status_ocsp_resp(ssl, pointer)
    response = None
    if length > 0 and pointer[0] != _ffi.NULL:
        response = bytes(_ffi.buffer(pointer[0], length))
    if record is not None:
        record.ocsp_response = response
    # Accept: as Node, judging the response is the application's business.
    return 1


@_ffi.callback("int (*)(SSL *, void *)")
def _status_callback(ssl: CData, _arg: CData) -> int:
    """Runs inside OpenSSL: reads or records bytes only (docs/architecture.rst, "fact-callbacks")."""
    try:
        engine = _engine_of(ssl)
        server_side = engine.server_side if engine is not None else False
        record = engine.record if engine is not None else None
        if server_side:
            return _serve_staple(ssl, record)
        return _read_staple(ssl, record)
    except Exception:  # an exception must not cross into OpenSSL
        log.exception("OCSP status callback failed")
        return _SSL_TLSEXT_ERR_NOACK


def install_status_callback(ctx: SSL.Context) -> None:
    """Install the one status callback on ``ctx``; it is a module global, so it outlives every
    context that points to it."""
    _lib.SSL_CTX_set_tlsext_status_cb(ctx._context, _status_callback)


# -- what the server asks its ocsp_request receivers about ----------------------------------------

def _der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


@functools.lru_cache(maxsize=1)
def _default_roots() -> tuple[x509.Certificate, ...]:
    with open(certifi.where(), "rb") as handle, warnings.catch_warnings():
        # A few of Mozilla's roots have serial numbers cryptography warns about.
        warnings.simplefilter("ignore")
        return tuple(x509.load_pem_x509_certificates(handle.read()))


def _candidates(options: Options) -> list[x509.Certificate]:
    """Certificates that may issue the leaf: the chain given with ``cert``/``pfx``, then the
    trust store (``ca``, or Mozilla's list when ``ca`` is not given)."""
    from greentls._config.keys import load_pfx
    from greentls._config.options import read_material_list
    found: list[x509.Certificate] = []
    if options.get("cert") is not None:
        for data in read_material_list("cert", options["cert"]):
            found.extend(x509.load_pem_x509_certificates(data)[1:])
    if options.get("pfx") is not None:
        for _key, _leaf, extra in load_pfx(options):
            found.extend(extra)
    if options.get("ca") is not None:
        for data in read_material_list("ca", options["ca"]):
            found.extend(x509.load_pem_x509_certificates(data))
    else:
        found.extend(_default_roots())
    return found


def _find_issuer(leaf: x509.Certificate, options: Options) -> bytes | None:
    for candidate in _candidates(options):
        if candidate.subject != leaf.issuer:
            continue
        try:
            leaf.verify_directly_issued_by(candidate)
        except Exception:  # another key type or a bad signature: not this one
            continue
        return _der(candidate)
    return None


def certificate_and_issuer(conn: SSL.Connection, options: Options) -> tuple[bytes | None, bytes | None]:
    """The DER of the certificate this server connection will present and of its issuer (found
    in the context's chain or trust store; None when not found), for ``ocsp_request``."""
    cert = conn.get_certificate()
    if cert is None:
        return None, None
    leaf = cert.to_cryptography()
    return _der(leaf), _find_issuer(leaf, options)


#: Digests of undecodable answers already reported by callers that name no context; bounded,
#: because a receiver may answer different garbage on every handshake.
_UNDECODABLE_DIGESTS_KEPT = 64

_warned_lock = threading.Lock()
_warned_contexts: weakref.WeakSet[object] = weakref.WeakSet()
_warned_digests: set[bytes] = set()


def warn_if_undecodable(staple: bytes, *, context: object = None) -> None:
    """OpenSSL 4.0 decodes the stapled bytes and silently sends nothing when they are not a DER
    ``OCSPResponse`` (OpenSSL 3.0 sent any bytes, as Node does): say so where it can be seen.

    Once per ``context`` (the SecureContext whose receivers answered, or any weakly referable
    object): any client that sends ``status_request`` makes the receiver answer, so a line
    per handshake would let clients flood the log.  Without ``context`` (or with one that
    cannot be weakly referenced), once per distinct answer, for at most
    ``_UNDECODABLE_DIGESTS_KEPT`` answers; later ones go to the debug level."""
    if context is not None and context in _warned_contexts:   # skip the parse too
        return
    from cryptography.x509 import ocsp
    try:
        ocsp.load_der_ocsp_response(staple)
        return
    except ValueError:
        pass
    level = _first_report(staple, context)
    if level is not None:
        log.log(level, "the ocsp_request answer is not a DER OCSPResponse; OpenSSL will not "
                "staple it (reported once, not per handshake)")


def _first_report(staple: bytes, context: object) -> int | None:
    """The level to report this undecodable answer at, or None when it was reported already.
    Checked again under the lock: two threads may have passed the unlocked check together."""
    with _warned_lock:
        if context is not None:
            if context in _warned_contexts:
                return None
            try:
                _warned_contexts.add(context)
                return logging.WARNING
            except TypeError:   # not weakly referable: the answer's digest decides instead
                pass
        digest = hashlib.sha256(staple).digest()
        if digest in _warned_digests:
            return None
        if len(_warned_digests) >= _UNDECODABLE_DIGESTS_KEPT:
            return logging.DEBUG   # the table stays full: the warnings so far have said it
        _warned_digests.add(digest)
        return logging.WARNING
