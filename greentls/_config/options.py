"""Option checking shared by every public entry point.

Options are keyword arguments (docs/api/options.rst); an unknown option raises ``TypeError`` naming
it, a wrong type or value raises ``TypeError``/``ValueError`` whose message names the option.  Key
material (``key cert ca pfx crl dhparam``) is content when ``str``/``bytes`` and a file when
``os.PathLike``; a list mixes them.
"""
from __future__ import annotations

import difflib
import os
from collections.abc import Iterable, Mapping
from typing import Any, TypeAlias, TypeVar

from greentls._config.optiontable import names as option_names

_T = TypeVar("_T")

#: Node's options as keyword arguments: values of many types, each checked where it is used
#: (the functions below), so ``Any`` is the honest value type.
Options: TypeAlias = dict[str, Any]

#: The option names the entry points accept are the rows of the option table
#: (``_config/optiontable.py``), which also gives the docs, the docstrings and the
#: unknown-option errors their text: one source.
#: Options of ``create_secure_context`` (Node's ``tls.createSecureContext``).
CONTEXT_OPTIONS = option_names("context")
#: Options a ``Server`` takes besides the context options.
SERVER_OPTIONS = option_names("server")
#: Options ``connect()`` takes besides the context options.
CONNECT_OPTIONS = option_names("connect")


def reject_unknown(options: Mapping[str, Any], allowed: Iterable[str], where: str) -> None:
    """Raise ``TypeError`` naming the first option not in ``allowed``, the closest valid name
    (``difflib``: "did you mean 'cert'?") and every valid one."""
    allowed = allowed if isinstance(allowed, (set, frozenset)) else frozenset(allowed)
    for name in options:
        if name not in allowed:
            close = difflib.get_close_matches(str(name), sorted(allowed), n=1, cutoff=0.6)
            suggestion = f" (did you mean {close[0]!r}?)" if close else ""
            raise TypeError(f"{where}() got an unexpected option {name!r}{suggestion}; "
                            f"valid options: {', '.join(sorted(allowed))}")


def split_options(options: Mapping[str, Any], names: Iterable[str]) -> Options:
    """Return the items of ``options`` whose key is in ``names`` (and drop ``None`` values)."""
    return {k: v for k, v in options.items() if k in names and v is not None}


def check_type(name: str, value: object, types: type[_T] | tuple[type[_T], ...], what: str) -> _T:
    """Raise ``TypeError`` naming the option when ``value`` is not an instance of ``types``."""
    if not isinstance(value, types):
        raise TypeError(f"option {name!r} must be {what}, not {type(value).__name__}")
    return value


def check_bool(name: str, value: object) -> bool:
    """A boolean option (Node accepts only booleans for these)."""
    return check_type(name, value, bool, "a bool")


def check_seconds(name: str, value: object, *, allow_none: bool = False) -> float | None:
    """A time in seconds (times are seconds as float, never milliseconds: docs/api/options.rst)."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"option {name!r} must be a number of seconds, not {type(value).__name__}")
    if value < 0 or value != value:
        raise ValueError(f"option {name!r} must be >= 0 seconds, got {value!r}")
    return float(value)


def _as_list(value: object) -> list[object]:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def read_material(name: str, value: object) -> bytes:
    """One item of key material as bytes: ``str``/``bytes`` is the content, a path-like is read."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, str):
        if "-----BEGIN" not in value and len(value) < 4096 and os.path.isfile(value):
            # A str is the PEM text itself (Node's rule for strings); a file name passed as
            # one would otherwise fail later as "not PEM" with no hint why.
            raise ValueError(f"option {name!r}: the str {value!r} is not PEM text but names a file; "
                             f"a str is the key material itself: pass pathlib.Path({value!r}) to read the file")
        return value.encode("utf-8")
    if isinstance(value, os.PathLike):
        try:
            with open(value, "rb") as f:
                return f.read()
        except OSError as exc:
            raise ValueError(f"option {name!r}: cannot read {os.fspath(value)!r}: {exc.strerror}") from exc
    raise TypeError(
        f"option {name!r} must be str, bytes, os.PathLike or a list of them, not {type(value).__name__}")


def read_material_list(name: str, value: object) -> list[bytes]:
    """Every item of a key-material option (a single item or a list) as bytes."""
    return [read_material(name, item) for item in _as_list(value)]


def normalize_alpn(name: str, value: object) -> list[bytes] | None:
    """ALPN protocols from a list of ``str``/``bytes`` or Node's wire format (length-prefixed bytes)."""
    if value is None:
        return None
    if isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value)
        protocols, i = [], 0
        while i < len(data):
            length = data[i]
            if length == 0 or i + 1 + length > len(data):
                raise ValueError(f"option {name!r}: malformed ALPN wire-format bytes at offset {i}")
            protocols.append(data[i + 1:i + 1 + length])
            i += 1 + length
        return protocols
    if not isinstance(value, (list, tuple)):
        raise TypeError(f"option {name!r} must be a list of str/bytes or wire-format bytes")
    protocols = []
    for item in value:
        protocol = item.encode("ascii") if isinstance(item, str) else item
        if not isinstance(protocol, (bytes, bytearray)) or not 0 < len(protocol) < 256:
            raise ValueError(f"option {name!r}: each protocol must be 1 to 255 bytes, got {protocol!r}")
        protocols.append(bytes(protocol))
    return protocols
