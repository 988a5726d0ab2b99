"""Server Name Indication: which context serves which requested host name.

Node keeps ``server.addContext`` entries in a list and scans it newest-first with a regex per
entry (lib/_tls_wrap.js, ``Server.prototype.addContext`` and ``SNICallback``): ``*`` becomes
``[^.]*`` (any run of characters but a dot, possibly empty), the regex has no ``i`` flag so
matching is case-sensitive (as in Node: ``addContext("Example.com")`` does not serve
``example.com``), and the newest matching entry wins.
A scan per handshake is O(n) in the entries; we keep the same semantics in O(1) for the forms
servers use (exact names, and ``*.`` followed by a suffix), and scan only entries with a ``*``
elsewhere.

An ``sni_callback`` may answer the same options dict on every hello: the context it describes
is built once and reused while the dict is unchanged (``ContextCache``).  Building one costs a
key load and a certificate check (tens of milliseconds of CPU with RSA), so building per
handshake would let a few hellos a second saturate a core; reusing it also lets sessions made
under it resume, since a session resumes only under the context that made it.
"""
from __future__ import annotations

import re

from greentls._config.cache import CONTEXT_CACHE_SIZE, ContextCache, context_from_answer
from greentls._config.context import SecureContext

__all__ = ["SNITable", "ContextCache", "context_from_answer", "CONTEXT_CACHE_SIZE"]


class SNITable:
    """Host-name patterns -> contexts, newest match first, O(1) for exact and ``*.suffix``."""

    __slots__ = ("_exact", "_wildcard", "_patterns", "_sequence")

    def __init__(self) -> None:
        self._exact: dict[str, tuple[int, SecureContext]] = {}
        self._wildcard: dict[str, tuple[int, SecureContext]] = {}
        self._patterns: list[tuple[int, re.Pattern[str], SecureContext]] = []
        self._sequence = 0

    def __len__(self) -> int:
        return len(self._exact) + len(self._wildcard) + len(self._patterns)

    def add(self, hostname: str, context: SecureContext) -> None:
        """Serve ``hostname`` (which may hold ``*`` wildcards) with ``context``."""
        if not isinstance(hostname, str) or not hostname:
            raise TypeError("add_context: 'hostname' must be a non-empty str")
        self._sequence += 1
        name = hostname
        if "*" not in name:
            self._exact[name] = (self._sequence, context)
        elif name.startswith("*.") and "*" not in name[2:]:
            self._wildcard[name[2:]] = (self._sequence, context)
        else:
            escaped = re.escape(name).replace(r"\*", "[^.]*")
            self._patterns.append((self._sequence, re.compile(escaped), context))

    def lookup(self, servername: str | None) -> SecureContext | None:
        """The newest context whose pattern matches ``servername``, or None."""
        if not servername or not len(self):
            return None
        name = servername
        best = self._exact.get(name)
        dot = name.find(".")
        if dot >= 0:
            # "*." + suffix: the star covers the first label, which holds no dot by construction.
            candidate = self._wildcard.get(name[dot + 1:])
            if candidate is not None and (best is None or candidate[0] > best[0]):
                best = candidate
        for sequence, pattern, context in reversed(self._patterns):
            if best is not None and sequence < best[0]:
                break
            if pattern.fullmatch(name):
                best = (sequence, context)
                break
        return best[1] if best is not None else None
