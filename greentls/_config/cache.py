"""SecureContexts built once from options dicts: what an ``sni_callback`` or ``add_context``
answered, cached by the dict's contents (``ContextCache``).  Building a context parses its key
and certificates, milliseconds of CPU (an RSA key: ~60 ms), so a dict answer per hello must not
build one per handshake."""
from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Hashable

from greentls._config.context import SecureContext, build_inputs
from greentls._config.options import Options

__all__ = ["CONTEXT_CACHE_SIZE", "ContextCache", "context_from_answer"]

#: How many contexts built from dict answers are kept (least recently used go first): bounded,
#: because the servername that picks an answer is the client's to choose.
CONTEXT_CACHE_SIZE = 128


class _Uncacheable(Exception):
    """An answer holds a value whose contents cannot be snapshotted (build it every time)."""


def _snapshot(value: object) -> Hashable:
    """A hashable, canonical picture of an option value's contents, equal exactly when two
    values would build the same context.  Each part names its type, so ``True`` and ``1`` (or
    ``"x"`` and ``b"x"``, which mean different things to some options) never collide."""
    if isinstance(value, dict):
        return ("dict", frozenset((key, _snapshot(item)) for key, item in value.items()))
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, tuple(_snapshot(item) for item in value))
    if isinstance(value, (bytes, bytearray, memoryview)):
        return ("bytes", bytes(value))
    if isinstance(value, os.PathLike):
        return ("path", os.fspath(value), _file_identity(value))
    if value is None or isinstance(value, (str, int, float)):
        return (type(value).__name__, value)
    try:
        hash(value)
    except TypeError:
        raise _Uncacheable(type(value).__name__) from None
    # Some other hashable object: equal by its own rules (the key keeps it alive, so an
    # identity-hashed object's id cannot be reused by another while the entry lives).
    return (type(value).__name__, value)


def _file_identity(path: os.PathLike[str] | os.PathLike[bytes]) -> tuple[int, int, int, int] | None:
    """What says a key-material file changed: a file rewritten in place changes its mtime or
    size, one replaced by a rename its inode.  None when it cannot be read (the build then
    raises, and failures are never cached)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size)


def _detached(value: object) -> object:
    """A copy of an answer's containers and byte buffers, so that mutating the caller's dict
    (or a list or buffer inside it) later cannot change what a cached context holds in
    ``.options`` (``server_context`` builds from them later, OCSP reads the chain there)."""
    if isinstance(value, dict):
        return {key: _detached(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_detached(item) for item in value]
    if isinstance(value, tuple):
        return tuple(_detached(item) for item in value)
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    return value


class ContextCache:
    """SecureContexts built from options dicts, by a snapshot of the dict's contents, LRU.

    The key is the contents, not the dict's identity: a dict mutated in place no longer
    matches and builds anew, and an equal dict (a callback that makes a fresh literal per
    hello) reuses the context.  ``os.PathLike`` values count with their file's stat, so a
    certificate file replaced on disk builds a new context at the next hello.  Safe across OS
    threads: the lock guards the table only, never a build, so it is never held while a
    greenlet could switch; two threads missing together may both build, and the first
    stored wins, so every later hello gets one object.
    """

    def __init__(self, maxsize: int = CONTEXT_CACHE_SIZE) -> None:
        if maxsize < 1:
            raise ValueError("ContextCache: 'maxsize' must be at least 1")
        self.maxsize = maxsize
        self._entries: OrderedDict[Hashable, SecureContext] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def get(self, options: Options) -> SecureContext:
        """The context ``options`` describe: the cached one, or a new one (then cached)."""
        # Key and build from one private copy, so they agree even if the caller's dict
        # changes meanwhile (another thread may hold it).
        own = {key: _detached(item) for key, item in options.items()}
        try:
            # The defaults and default trust in force count too: a context built before
            # set_default_ca_certificates() (or a DEFAULT_* change) is not what a new one is.
            key = (_snapshot(own), build_inputs())
        except _Uncacheable:
            return SecureContext(**own)
        with self._lock:
            context = self._entries.get(key)
            if context is not None:
                self._entries.move_to_end(key)
                return context
        return self._store(key, SecureContext(**own))   # may raise: nothing is stored then

    def _store(self, key: Hashable, built: SecureContext) -> SecureContext:
        with self._lock:
            context = self._entries.setdefault(key, built)
            self._entries.move_to_end(key)
            while len(self._entries) > self.maxsize:
                self._entries.popitem(last=False)
            return context


#: The process's cache for dict answers (of ``sni_callback`` and ``add_context``).
_contexts = ContextCache()


def context_from_answer(answer: object, cache: ContextCache | None = None) -> SecureContext | None:
    """A ``SecureContext`` from what an ``sni_callback`` or ``add_context`` was given:
    a ``SecureContext``, a dict of its options (built once per distinct contents, in ``cache``
    or the process's cache), or None (the default context)."""
    if answer is None or isinstance(answer, SecureContext):
        return answer
    if isinstance(answer, dict):
        return (cache if cache is not None else _contexts).get(answer)
    raise TypeError(f"an SNI context must be a SecureContext, a dict of its options or None, "
                    f"not {type(answer).__name__}")
