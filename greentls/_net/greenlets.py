"""Connection greenlets that are reused, as a thread pool reuses its threads.

gevent's ``StreamServer`` spawns a new ``gevent.Greenlet`` for every connection.  Making and
ending one costs more than its Python suggests: CPython 3.11+ gives each new greenlet its own
frame data stack, a 16 KiB chunk that is ``mmap``-ed when its first frame is pushed and
``munmap``-ed when it ends, and the greenlet's first switch builds its C stack from scratch.
For short connections that was about 9 % of a resumed handshake's server CPU (benchmarks/,
``strace -k`` showed one mmap/munmap pair per connection).  ``GreenletRecycler`` is the spawn
callable the server hands ``StreamServer``: a greenlet that finished a connection parks and
serves the next one.

A reused greenlet must look new to each connection.  Each connection runs in a fresh, empty
``contextvars.Context``, as a new greenlet starts.  ``gevent.local.local`` (and a monkey-patched
``threading.local``) keeps its values by greenlet, so a greenlet that has any is not reused: it
ends, and its values with it, as before.  gevent marks such a greenlet itself: a local stores a
weak reference under ``_gevent_local_localimpl_<id>`` in the greenlet's ``__dict__``
(``gevent/local.py``), so a greenlet whose ``__dict__`` is not empty is never parked.  That
reads gevent's behaviour, so it is checked once at import (``_locals_mark_greenlets``); where
the check fails, every connection gets a new greenlet as before.
"""
from __future__ import annotations

import contextvars
import sys
from collections.abc import Callable

import gevent.local
from gevent.hub import get_hub
from greenlet import GreenletExit, getcurrent, greenlet as RawGreenlet

__all__ = ["GreenletRecycler", "REUSE_WORKS"]

#: Parked greenlets kept at most: enough for bursts, bounded memory (~20 KiB each, mostly
#: the frame data stack) once a burst of connections is over.
MAX_IDLE = 128


def _locals_mark_greenlets() -> bool:
    """True when using a ``gevent.local`` leaves a mark in the greenlet's ``__dict__``."""
    local = gevent.local.local()
    marked = []

    def probe() -> None:
        local.value = 1
        marked.append(bool(getcurrent().__dict__))

    try:
        RawGreenlet(probe).switch()
    except Exception:
        return False
    return marked == [True]


REUSE_WORKS = _locals_mark_greenlets()


class GreenletRecycler:
    """``StreamServer`` spawn callable: ``recycler(function, *args)`` runs the call in a parked
    greenlet when one is idle, else in a new one; either way from the hub's next loop pass, as
    ``gevent.spawn_raw`` does.  ``release()`` ends the parked ones (the server closed)."""

    def __init__(self, max_idle: int = MAX_IDLE) -> None:
        self._idle: list[RawGreenlet] = []
        self._max_idle = max_idle if REUSE_WORKS else 0

    @property
    def parked(self) -> int:
        """Greenlets waiting for a connection."""
        return len(self._idle)

    def __call__(self, function: Callable[..., object], *args: object) -> RawGreenlet:
        """Called by ``StreamServer`` (in the hub) for each accepted connection."""
        hub = get_hub()
        idle = self._idle
        worker = None
        while idle:
            worker = idle.pop()
            if not worker.dead:
                break
            worker = None
        if worker is None:
            worker = RawGreenlet(self._serve, parent=hub)
        hub.loop.run_callback(worker.switch, function, args)
        return worker

    def _serve(self, function: Callable[..., object], args: tuple[object, ...]) -> None:
        """The greenlet's whole life: serve a call, park, serve the next, until it must end."""
        current = getcurrent()
        idle = self._idle
        while True:
            try:
                contextvars.Context().run(function, *args)
            except GreenletExit:
                return
            except BaseException:  # as gevent reports a greenlet's unhandled error
                get_hub().handle_error(current, *sys.exc_info())
            del function, args  # the finished call's objects must not live on while parked
            if current.__dict__ or len(idle) >= self._max_idle:
                return  # it has gevent.local values (or attributes): they end with it
            idle.append(current)
            # Parked: the next connection arrives as switch(function, args) from __call__.
            # Anything else (release()'s GreenletExit, a stray kill or a handler's leaked
            # gevent.Timeout) ends this greenlet, and it leaves the idle list.
            try:
                function, args = get_hub().switch()
            except BaseException:
                if current in idle:
                    idle.remove(current)
                return

    def release(self) -> None:
        """End every parked greenlet (from the hub's next loop pass); from now on a greenlet
        that finishes its connection ends instead of parking."""
        self._max_idle = 0
        idle, self._idle = self._idle, []
        loop = get_hub().loop
        for worker in idle:
            loop.run_callback(worker.throw, GreenletExit)
