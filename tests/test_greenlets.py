"""Recycled connection greenlets (_greenlets.py): reused, yet each connection starts clean."""
from __future__ import annotations

import contextvars

import gevent
import gevent.event
import gevent.local
import pytest
from greenlet import getcurrent
from helpers import port_of, serving

import greentls
from greentls._net import greenlets as _greenlets
from greentls._net.greenlets import GreenletRecycler

REQUEST_ID: contextvars.ContextVar = contextvars.ContextVar("request_id", default=None)


def test_gevent_marks_greenlets_that_use_locals():
    """The import-time check passed, so this gevent version gets reuse at all."""
    assert _greenlets.REUSE_WORKS


def _run(recycler, function, *args):
    done = gevent.event.Event()

    def call():
        try:
            function(*args)
        finally:
            done.set()

    recycler(call)
    assert done.wait(5)


def test_a_finished_greenlet_serves_the_next_call_in_a_fresh_context():
    """The same greenlet serves the next call, which sees no contextvar of the last one."""
    recycler = GreenletRecycler()
    seen = []

    def first():
        REQUEST_ID.set("first")
        seen.append(getcurrent())

    def second():
        seen.append(getcurrent())
        seen.append(REQUEST_ID.get())

    _run(recycler, first)
    gevent.sleep(0)  # let the first greenlet park
    _run(recycler, second)
    assert seen[0] is seen[1]
    assert seen[2] is None


@pytest.mark.parametrize("leave", ["gevent.local", "attribute"])
def test_a_greenlet_with_locals_is_not_reused(leave):
    """A call that left gevent.local values (or greenlet attributes) ends its greenlet: the
    next call runs in a new one and sees none of them."""
    recycler = GreenletRecycler()
    local = gevent.local.local()
    seen = []

    def first():
        if leave == "gevent.local":
            local.user = "alice"
        else:
            getcurrent().note = "left behind"
        seen.append(getcurrent())

    def second():
        seen.append(getcurrent())
        seen.append((getattr(local, "user", None), getattr(getcurrent(), "note", None)))

    _run(recycler, first)
    gevent.sleep(0)
    assert seen[0].dead
    _run(recycler, second)
    assert seen[1] is not seen[0]
    assert seen[2] == (None, None)


def test_parked_greenlets_are_bounded_and_released():
    """At most max_idle greenlets park; release() ends them and stops further parking."""
    recycler = GreenletRecycler(max_idle=2)
    gate = gevent.event.Event()
    workers = [recycler(gate.wait) for _ in range(5)]
    gevent.sleep(0)
    gate.set()
    gevent.sleep(0.05)
    assert sum(not w.dead for w in workers) == 2
    recycler.release()
    gevent.sleep(0.05)
    assert all(w.dead for w in workers)
    late = recycler(lambda: None)
    gevent.sleep(0.05)
    assert late.dead  # finished and did not park


def test_an_error_is_reported_and_the_greenlet_goes_on():
    """An unhandled error goes to the hub's handle_error; the same greenlet serves on."""
    recycler = GreenletRecycler()
    hub = gevent.get_hub()
    reported = []
    original = hub.handle_error
    hub.handle_error = lambda context, kind, value, tb: reported.append(kind)
    try:
        def fail():
            raise ValueError("boom")

        worker = recycler(fail)
        gevent.sleep(0.05)
        assert reported == [ValueError]
        assert not worker.dead and recycler.parked == 1
        assert recycler(lambda: None) is worker
        gevent.sleep(0.05)
    finally:
        hub.handle_error = original


def test_a_parked_greenlet_that_is_killed_leaves_the_pool():
    """A stray kill (or a leaked gevent.Timeout) ends a parked greenlet; the next call gets a
    live one and runs."""
    recycler = GreenletRecycler()
    worker = recycler(lambda: None)
    gevent.sleep(0.05)
    assert recycler.parked == 1
    gevent.kill(worker)
    gevent.sleep(0.05)
    assert worker.dead and recycler.parked == 0
    ran = []
    _run(recycler, lambda: ran.append(getcurrent()))
    assert ran and ran[0] is not worker


def test_server_connections_do_not_see_each_others_state(server_options, client_options):
    """Through a real server: a handler's contextvar is gone for the next connection, which the
    same greenlet serves; a handler's gevent.local value is gone too (a new greenlet)."""
    local = gevent.local.local()
    seen = []

    def handler(tls):
        data = tls.recv(10)
        # Even reading a gevent.local gives this greenlet a dict of its own: only the last
        # connection reads it.
        user = getattr(local, "user", None) if data == b"R" else None
        seen.append((getcurrent(), REQUEST_ID.get(), user))
        REQUEST_ID.set("set by a handler")
        if data == b"L":
            local.user = "set by a handler"
        tls.sendall(data)

    with serving(handler, **server_options) as server:
        for message in (b"x", b"x", b"L", b"R"):
            tls = greentls.connect(port_of(server), "127.0.0.1", **client_options)
            tls.sendall(message)
            assert tls.recv(1) == message
            tls.close()
            gevent.sleep(0.05)
    assert [state[1:] for state in seen] == [(None, None)] * 4
    greenlets = [state[0] for state in seen]
    assert greenlets[0] is greenlets[1] is greenlets[2]  # reused while it had no locals
    assert greenlets[3] is not greenlets[2]              # the one with a local ended


def test_stop_kills_a_recycled_greenlet_mid_connection(server_options, client_options):
    """Server.stop(timeout) ends a handler that does not return, in a greenlet that already
    served a connection (gevent.kill on a raw greenlet)."""
    greenlets, ended = [], []

    def handler(tls):
        greenlets.append(getcurrent())
        if tls.recv(1) == b"s":
            try:
                gevent.sleep(30)
            finally:
                ended.append(True)

    with serving(handler, **server_options) as server:
        for message in (b"x", b"s"):
            tls = greentls.connect(port_of(server), "127.0.0.1", **client_options)
            tls.sendall(message)
            gevent.sleep(0.1)
            if message == b"x":
                tls.close()
                gevent.sleep(0.05)
        assert greenlets[0] is greenlets[1]
        server.stop(timeout=0.1)
        assert ended == [True]
        tls.close()


def test_capped_servers_keep_the_pool(server_options):
    """With max_connections the server still spawns through a gevent Pool (its cap)."""
    with serving(lambda tls: None, max_connections=2, **server_options) as server:
        assert server._stream_server.pool is not None
        assert server._stream_server.pool.size == 2


def test_max_idle_greenlets_zero_means_a_new_greenlet_each_time(server_options, client_options, monkeypatch):
    """Server.max_idle_greenlets = 0 turns reuse off."""
    monkeypatch.setattr(greentls.Server, "max_idle_greenlets", 0)
    greenlets = []

    def handler(tls):
        greenlets.append(getcurrent())
        tls.sendall(tls.recv(1))

    with serving(handler, **server_options) as server:
        for _ in range(2):
            tls = greentls.connect(port_of(server), "127.0.0.1", **client_options)
            tls.sendall(b"x")
            assert tls.recv(1) == b"x"
            tls.close()
            gevent.sleep(0.05)
    assert greenlets[0] is not greenlets[1]
