"""The one door to OpenSSL's raw functions: pyOpenSSL's cffi binding (``OpenSSL._util``).

pyOpenSSL wraps only part of what its binding exports; greentls calls some of the rest
directly (the record path without per-call allocations, session DER, the servername and
status callbacks, post-handshake details).  Every such call goes through ``lib`` and ``ffi``
from this module, so there is one place that says which binding greentls depends on, and one
place to probe it: ``has`` answers whether the binding exports functions, which is how
``capabilities`` (``_base/capabilities.py``) decides what this installation can do.  Nothing
else in the package imports ``OpenSSL._util``; a test enforces it (``tests/test_layers.py``).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from OpenSSL._util import ffi as _ffi, lib as _lib

if TYPE_CHECKING:
    from typing import TypeAlias

    from _cffi_backend import FFI  # typeshed's types-cffi; the binding's ffi is one at run time

    #: A C value or pointer as cffi hands it to Python (``SSL *``, ``X509_STORE_CTX *``...).
    CData: TypeAlias = FFI.CData

__all__ = ["ffi", "lib", "has", "NULL", "c_string", "take_errors"]

#: cffi's FFI object of the binding: ``new``, ``buffer``, ``from_buffer``, ``callback``, ``NULL``.
ffi: FFI = _ffi
#: The binding's library: OpenSSL's functions and constants, as cffi exports them.  ``Any``: a
#: compiled cffi library's attributes are made from C declarations and have no Python types.
lib: Any = _lib
#: The NULL pointer.
NULL: FFI.CData = _ffi.NULL


def has(*names: str) -> bool:
    """True when the binding exports every one of ``names`` (functions or constants)."""
    return all(hasattr(_lib, name) for name in names)


def c_string(pointer: CData) -> bytes:
    """``ffi.string`` of a ``char *``: bytes (cffi returns ``str`` only for ``wchar_t *``, which
    OpenSSL never hands out)."""
    return cast("bytes", _ffi.string(pointer))


def take_errors() -> list[tuple[str, str, str]]:
    """Empty this thread's OpenSSL error queue into ``(library, function, reason)`` tuples, the
    shape of pyOpenSSL's ``SSL.Error.args[0]`` (what ``errors.from_openssl`` reads): for a
    raw call that failed, whose error pyOpenSSL's ``SSL_get_error`` path would misreport (it
    asks the connection's last I/O state first, and may answer WANT_READ)."""
    entries: list[tuple[str, str, str]] = []
    while True:
        code = _lib.ERR_get_error()
        if code == 0:
            return entries
        library = _lib.ERR_lib_error_string(code)
        reason = _lib.ERR_reason_error_string(code)
        entries.append((c_string(library).decode("ascii", "replace") if library != _ffi.NULL else "", "",
                        c_string(reason).decode("ascii", "replace") if reason != _ffi.NULL else ""))
