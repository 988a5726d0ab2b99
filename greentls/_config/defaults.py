"""The process-wide defaults a program may change: Node's ``tls.DEFAULT_*`` and
``tls.CLIENT_RENEG_*``.

Node reads them when they are used, not when ``tls`` is loaded: ``tls.DEFAULT_CIPHERS`` is read
when a context is built, ``tls.CLIENT_RENEG_LIMIT`` when a server connection starts.  The package
attributes ``greentls.DEFAULT_CIPHERS`` and friends read and write the fields of ``DEFAULTS``
(``greentls/__init__.py``), so the modules that use a default read it here, at the time of use,
instead of importing the package that is still initialising.
"""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Defaults", "DEFAULTS", "PACKAGE_ATTRIBUTES"]


@dataclass
class Defaults:
    """The defaults themselves; ``None`` for ``ciphers`` means "compute it now" (the package
    sets it at import from ``GREENTLS_CIPHER_LIST`` or Node's list, ``ciphers.default_ciphers``)."""

    ciphers: str | None = None
    ecdh_curve: str = "auto"
    min_version: str = "TLSv1.2"
    max_version: str = "TLSv1.3"
    reneg_limit: int = 3
    reneg_window: float = 600.0


#: The one instance every module reads.
DEFAULTS = Defaults()

#: Package attribute -> field of ``DEFAULTS``.
PACKAGE_ATTRIBUTES = {
    "DEFAULT_CIPHERS": "ciphers",
    "DEFAULT_ECDH_CURVE": "ecdh_curve",
    "DEFAULT_MIN_VERSION": "min_version",
    "DEFAULT_MAX_VERSION": "max_version",
    "CLIENT_RENEG_LIMIT": "reneg_limit",
    "CLIENT_RENEG_WINDOW": "reneg_window",
}
