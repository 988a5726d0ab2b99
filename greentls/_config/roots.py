"""The certificates a context trusts when it is given no ``ca`` (Node's ``tls.rootCertificates``,
``tls.getCACertificates()``, ``tls.setDefaultCACertificates()``).

* ``root_certificates()``, "bundled": Mozilla's list as certifi ships it, as PEM strings (Node
  bundles the same list in its binary).
* "system": what the operating system's OpenSSL trusts (``SSL_CERT_FILE``/``SSL_CERT_DIR`` or
  the built-in paths ``ssl.get_default_verify_paths()`` names).
* "extra": the PEM file named by ``NODE_EXTRA_CA_CERTS``, as Node reads it (read when first
  asked; a missing or unreadable file gives none, as Node warns and goes on).
* "default": what a context without ``ca`` trusts: bundled plus extra, unless
  ``set_default_ca_certificates(certs)`` replaced it for contexts made afterwards.
"""
from __future__ import annotations

import os
import re
import ssl
import threading
from collections.abc import Iterable
from functools import lru_cache

import certifi
from OpenSSL import crypto

__all__ = ["root_certificates", "get_ca_certificates", "set_default_ca_certificates",
           "default_override", "CA_TYPES"]

CA_TYPES = ("default", "system", "bundled", "extra")
_PEM = re.compile(r"-----BEGIN CERTIFICATE-----\r?\n.+?\r?\n-----END CERTIFICATE-----", re.S)
_lock = threading.Lock()
#: set_default_ca_certificates's list, in a one-item box (None: the built-in default, bundled
#: plus extra).
_state: list[tuple[str, ...] | None] = [None]


def _split(text: str) -> tuple[str, ...]:
    return tuple(match.group(0).replace("\r\n", "\n") + "\n" for match in _PEM.finditer(text))


def _read(path: str) -> tuple[str, ...]:
    try:
        with open(path, encoding="ascii", errors="replace") as f:
            return _split(f.read())
    except OSError:
        return ()


@lru_cache(maxsize=1)
def root_certificates() -> tuple[str, ...]:
    """Mozilla's root certificates as certifi ships them, PEM strings (Node's ``rootCertificates``)."""
    return _read(certifi.where())


def _system() -> tuple[str, ...]:
    paths = ssl.get_default_verify_paths()
    cafile = os.environ.get(paths.openssl_cafile_env) or paths.cafile or paths.openssl_cafile
    capath = os.environ.get(paths.openssl_capath_env) or paths.capath or paths.openssl_capath
    found: dict[str, None] = {}
    if cafile:
        found.update(dict.fromkeys(_read(cafile)))
    if capath and os.path.isdir(capath):
        for name in sorted(os.listdir(capath)):
            # OpenSSL's hashed names (c_rehash): <8 hex digits>.<n>
            if re.fullmatch(r"[0-9a-f]{8}\.\d+", name):
                found.update(dict.fromkeys(_read(os.path.join(capath, name))))
    return tuple(found)


def _extra() -> tuple[str, ...]:
    path = os.environ.get("NODE_EXTRA_CA_CERTS")
    return _read(path) if path else ()


def get_ca_certificates(type: str = "default") -> list[str]:
    """The CA certificates of one store, as PEM strings: ``"default"``, ``"system"``,
    ``"bundled"`` or ``"extra"`` (Node's ``tls.getCACertificates(type)``)."""
    if not isinstance(type, str):
        raise TypeError(f"get_ca_certificates: 'type' must be a str, got {type!r}")
    if type == "bundled":
        return list(root_certificates())
    if type == "system":
        return list(_system())
    if type == "extra":
        return list(_extra())
    if type == "default":
        override = _state[0]
        if override is not None:
            return list(override)
        return list(dict.fromkeys(root_certificates() + _extra()))
    raise ValueError(f"get_ca_certificates: 'type' must be one of {', '.join(map(repr, CA_TYPES))}, "
                     f"got {type!r}")


def set_default_ca_certificates(certs: Iterable[str | bytes]) -> None:
    """Trust exactly ``certs`` (PEM strings) in contexts made from now on without ``ca``
    (Node's ``tls.setDefaultCACertificates``); contexts already made keep what they had."""
    if isinstance(certs, (str, bytes)):
        raise TypeError("set_default_ca_certificates: 'certs' must be a list of PEM strings, "
                        "not one string")
    checked: list[str] = []
    for index, cert in enumerate(certs):
        text = cert.decode("ascii") if isinstance(cert, bytes) else cert
        if not isinstance(text, str):
            raise TypeError(f"set_default_ca_certificates: certs[{index}] must be a PEM str, got {cert!r}")
        blocks = _split(text)
        if len(blocks) != 1:
            raise ValueError(f"set_default_ca_certificates: certs[{index}] is not one PEM certificate")
        try:
            # OpenSSL's own reader, as the contexts use: cryptography's warns about old roots.
            crypto.load_certificate(crypto.FILETYPE_PEM, blocks[0].encode())
        except crypto.Error as exc:
            raise ValueError(f"set_default_ca_certificates: certs[{index}] is not a certificate ({exc})") from None
        checked.append(blocks[0])
    with _lock:
        _state[0] = tuple(checked)


def default_override() -> tuple[str, ...] | None:
    """What ``set_default_ca_certificates`` set (None: the built-in default)."""
    return _state[0]
