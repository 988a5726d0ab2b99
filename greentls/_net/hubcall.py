"""Calling a server from another OS thread: its loop, events and greenlets belong to the thread
whose gevent hub runs it (gevent refuses a switch from any other), while any thread may call a
public method (docs/security.rst, "Threads").  ``call_in_hub`` runs
the call in a new greenlet of the server's hub and blocks the calling OS thread until it is
done, as ``gevent.threadpool`` does the other way round."""
from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, TypeVar

import gevent
from gevent.hub import Hub

__all__ = ["call_in_hub", "is_foreign"]

_T = TypeVar("_T")


def _original(module: str, name: str) -> Any:
    """``module.name`` as it was before gevent's monkey-patching: taken at import, either
    before any patching (the object itself) or after it (gevent keeps the original)."""
    monkey = sys.modules.get("gevent.monkey")
    if monkey is not None:
        return monkey.get_original(module, name)
    return getattr(__import__(module), name)


_get_ident: Callable[[], int] = _original("_thread", "get_ident")
_allocate_lock: Callable[[], Any] = _original("_thread", "allocate_lock")


def is_foreign(hub: Hub | None) -> bool:
    """True when the calling OS thread is not ``hub``'s (None: no hub yet, nothing to ask)."""
    return hub is not None and hub.thread_ident != _get_ident()


def call_in_hub(hub: Hub, function: Callable[..., _T], *args: Any) -> _T:
    """Run ``function(*args)`` in a greenlet of ``hub``'s thread; block this OS thread (a real
    lock, whatever monkey-patching did) until it returns, then return or raise its outcome."""
    done = _allocate_lock()
    done.acquire()
    outcome: list[tuple[bool, Any]] = []

    def run() -> None:
        try:
            outcome.append((True, function(*args)))
        except BaseException as exc:  # handed to the calling thread, which raises it
            outcome.append((False, exc))
        finally:
            done.release()

    hub.loop.run_callback_threadsafe(lambda: gevent.spawn(run))
    while not done.acquire(timeout=1.0):
        if hub.thread_ident not in sys._current_frames():
            # Its thread ended (serve_forever returned, say): nothing will ever run the call.
            raise RuntimeError("the server's thread has ended: its hub cannot run this call")
    ok, value = outcome[0]
    if ok:
        return value  # type: ignore[no-any-return]
    raise value
