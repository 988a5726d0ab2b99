"""Pre-forked workers: ``Server.serve_forever(workers=N)`` (Node's ``cluster`` for a TLS server).

The parent has bound the listening socket and built every context (the default one and those given
to ``add_context``) before it forks, so every worker holds a copy of the same ``SSL_CTX`` and with
it the same session-ticket keys: OpenSSL draws them in ``SSL_CTX_new`` (docs/architecture.rst,
"fact-ticket-keys-fork"), which is what Node's cluster workers achieve by sharing ``ticketKeys``.
Workers accept on the shared socket; the parent stops its own accept loop (the socket stays open
for later workers) and only supervises:

* a worker that exits is replaced; one that dies within ``QUICK_DEATH`` seconds of its start
  makes the next start wait (exponential back-off up to ``MAX_BACKOFF``), so a worker that
  crashes at once cannot fork-bomb the machine;
* SIGTERM/SIGINT: every worker gets SIGTERM and runs ``Server.stop(DRAIN_TIMEOUT)`` (stop
  accepting, let connections end, close the rest at the deadline); the parent waits for them,
  closes its own socket and returns from ``serve_forever``;
* SIGHUP, or ``Server.set_secure_context()`` called in the parent: certificate rotation as a
  rolling restart, as nginx reloads.  The parent runs the reload hook (the CLI re-reads its
  ``--cert``/``--key`` files), which builds the new default context *in the parent*, forks a
  fresh set of workers from it (they share the new context's ticket keys), then lets the old
  workers drain.  No connection is dropped; sessions made before the rotation do not resume
  after it (a new ``SSL_CTX`` has new ticket keys).

Fork rules (gevent): ``gevent.os.fork_gevent`` forks and reinitialises the hub in the child,
without the child watcher that ``gevent.fork`` registers (the supervisor reaps children itself
with ``waitpid``).  Everything the parent's hub had is copied into the child, so the child
cancels the parent's signal watchers, and the supervisor keeps no greenlet of its own: it runs
in the greenlet that called ``serve_forever``, which in the child becomes the worker and never
returns (it leaves with ``os._exit``).

Open connections are counted per worker in an anonymous shared-memory array created before the
first fork; the parent's ``get_connections()`` returns the sum.
"""
from __future__ import annotations

import ctypes
import errno
import logging
import os
import signal
import time
from collections.abc import Callable
from multiprocessing.sharedctypes import RawArray
from typing import TYPE_CHECKING, TypeAlias

import gevent
from gevent.event import Event
from gevent.os import fork_gevent

from greentls._net.stats import PUBLISH_INTERVAL, SharedSnapshots, Stats

if TYPE_CHECKING:
    from greentls._net.server import Server

#: The shared open-connection counts, one slot per worker ("q": a C long long).
Counts: TypeAlias = "ctypes.Array[ctypes.c_longlong]"

__all__ = ["serve_with_workers", "Supervisor", "DRAIN_TIMEOUT", "parent_only"]

log = logging.getLogger("greentls")

#: Seconds a stopping worker lets its connections run before it closes them.
DRAIN_TIMEOUT = 30.0
#: A worker that dies sooner than this after its start counts as crashing at startup.
QUICK_DEATH = 1.0
#: Back-off bounds (seconds) between starts of a worker that keeps crashing at startup.
MIN_BACKOFF = 0.1
MAX_BACKOFF = 10.0
#: How often the supervisor reaps children and checks its flags (seconds).
POLL = 0.05


def serve_with_workers(server: Server, workers: int, *, drain_timeout: float | None = None,
                       reload: Callable[[], object] | None = None) -> None:
    """Fork ``workers`` processes that accept on ``server``'s socket; supervise them until the
    server is closed or the parent gets SIGTERM/SIGINT; then drain them and return.

    ``reload`` is what SIGHUP runs before the workers roll (the CLI re-reads its certificate
    files and calls ``server.set_secure_context``); without it they roll with the contexts the
    server has."""
    Supervisor(server, workers, drain_timeout, reload=reload).run()


class _Worker:
    """The parent's record of one child."""

    def __init__(self, pid: int, slot: int, generation: int) -> None:
        self.pid = pid
        self.slot = slot
        self.generation = generation
        self.started = time.monotonic()
        self.retiring = False


class Supervisor:
    """Forks, watches, replaces and stops the workers of one ``Server`` (runs in the parent)."""

    def __init__(self, server: Server, workers: int,
                 drain_timeout: float | None = None, *, reload: Callable[[], object] | None = None) -> None:
        self.server = server
        self.size = workers
        self.drain_timeout = drain_timeout or DRAIN_TIMEOUT
        self.reload = reload
        self.parent_pid = os.getpid()
        # Twice the workers plus spare: during a rolling restart old and new sets coexist.
        self.counts: Counts = RawArray("q", max(4 * workers, 8))
        #: Each worker's published counts (Server.stats), by slot; and those of workers gone.
        self.snapshots = SharedSnapshots(len(self.counts))
        self.retired = Stats()
        self.children: dict[int, _Worker] = {}
        self.generation = 0
        self.backoff = 0.0
        self.next_start = 0.0
        self.stopping = False
        self.roll_requested = False
        self.wake = Event()
        self._watchers: list[gevent.signal_handler[...]] = []

    # -- the parent's loop ------------------------------------------------------------------

    def run(self) -> None:
        """Supervise until stopped; returns in the parent only."""
        server = self.server
        server._accept_loop().stop_accepting()     # keep the socket open for the workers
        server._supervised_by(self)
        self._install_signals()
        try:
            for _ in range(self.size):
                self._spawn()
            while not self.stopping and server.listening:
                self.wake.wait(POLL)
                self.wake.clear()
                self._reap()
                if self.roll_requested:
                    self._roll()
                self._replace_missing()
            self._stop_all()
        finally:
            for watcher in self._watchers:
                watcher.cancel()
            server._supervised_by(None)
            server.close()

    def _install_signals(self) -> None:
        self._watchers = [gevent.signal_handler(signal.SIGTERM, self._on_stop, "SIGTERM"),
                          gevent.signal_handler(signal.SIGINT, self._on_stop, "SIGINT"),
                          gevent.signal_handler(signal.SIGHUP, self._on_hup)]

    def _on_stop(self, name: str) -> None:
        log.info("greentls: %s: stopping %d workers (drain deadline %.0fs)", name,
                 len(self.children), self.drain_timeout)
        self.stopping = True
        self.wake.set()

    def _on_hup(self) -> None:
        hook = self.reload
        if hook is None:
            log.warning("greentls: SIGHUP: this server has no reload hook; restarting its "
                        "workers with the contexts it has")
            self.request_roll()
            return
        try:
            hook()     # normally calls set_secure_context(), which requests the roll
        except Exception:
            log.exception("greentls: SIGHUP: the reload hook raised; the workers keep the old "
                          "certificates")
            return
        self.request_roll()

    def request_roll(self) -> None:
        """Replace every worker by one forked from the parent's current contexts."""
        self.roll_requested = True
        self.wake.set()

    # -- forking ----------------------------------------------------------------------------

    def _free_slot(self) -> int:
        used = {w.slot for w in self.children.values()}
        for slot in range(len(self.counts)):
            if slot not in used:
                return slot
        raise RuntimeError("no free worker slot")

    def _spawn(self) -> None:
        slot = self._free_slot()
        self.counts[slot] = 0
        self.snapshots.clear(slot)
        pid = fork_gevent()
        if pid == 0:
            self._become_worker(slot)     # never returns
        self.children[pid] = _Worker(pid, slot, self.generation)
        log.info("greentls: worker %d started (pid %d)", slot, pid)

    def _become_worker(self, slot: int) -> None:
        code = 1
        try:
            for watcher in self._watchers:    # the parent's, copied by fork
                watcher.cancel()
            for close in list(_PARENT_ONLY):  # the parent's servers (metrics), copied by fork
                try:
                    close()
                except Exception:
                    log.exception("greentls: worker: closing a parent-only service raised")
            _WorkerProcess(self.server, self.parent_pid, self.counts, slot,
                           self.drain_timeout, self.snapshots).run()
            code = 0
        except BaseException:
            log.exception("greentls: worker (pid %d) failed", os.getpid())
        finally:
            logging.shutdown()
            os._exit(code)

    # -- reaping and replacing --------------------------------------------------------------

    def _reap(self) -> None:
        while self.children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            worker = self.children.pop(pid, None)
            if worker is None:
                continue      # some other child of this process (not ours to judge)
            self.counts[worker.slot] = 0
            final = self.snapshots.read(worker.slot)  # its counts outlive it
            if final is not None:
                self.retired.add(final)
            self.snapshots.clear(worker.slot)
            if worker.retiring or self.stopping:
                log.info("greentls: worker %d (pid %d) %s", worker.slot, pid, _describe(status))
                continue
            self._crashed(worker, status)

    def _crashed(self, worker: _Worker, status: int) -> None:
        uptime = time.monotonic() - worker.started
        if uptime < QUICK_DEATH:
            self.backoff = min(MAX_BACKOFF, max(MIN_BACKOFF, self.backoff * 2))
        else:
            self.backoff = 0.0
        self.next_start = time.monotonic() + self.backoff
        log.error("greentls: worker %d (pid %d) %s after %.1fs; starting a replacement in %.1fs",
                  worker.slot, worker.pid, _describe(status), uptime, self.backoff)

    def _active(self) -> int:
        return sum(1 for w in self.children.values() if not w.retiring)

    def _replace_missing(self) -> None:
        while self._active() < self.size and not self.stopping and time.monotonic() >= self.next_start:
            self._spawn()

    def _roll(self) -> None:
        self.roll_requested = False
        old = [w for w in self.children.values() if not w.retiring]
        for w in old:
            w.retiring = True
        self.generation += 1
        self.next_start = 0.0
        for _ in range(self.size):
            self._spawn()
        log.info("greentls: rolling restart: %d new workers; draining %d old ones",
                 self.size, len(old))
        for w in old:
            _kill(w.pid, signal.SIGTERM)

    # -- stopping ---------------------------------------------------------------------------

    def _stop_all(self) -> None:
        self.stopping = True
        for worker in list(self.children.values()):
            _kill(worker.pid, signal.SIGTERM)
        # A worker closes what is left at its drain deadline and then has 1 s more (Server.stop).
        deadline = time.monotonic() + self.drain_timeout + 5.0
        while self.children and time.monotonic() < deadline:
            gevent.sleep(POLL)
            self._reap()
        for worker in list(self.children.values()):
            log.error("greentls: worker %d (pid %d) did not stop in time; killing it",
                      worker.slot, worker.pid)
            _kill(worker.pid, signal.SIGKILL)
        while self.children:
            gevent.sleep(POLL)
            self._reap()

    def total_connections(self) -> int:
        """Open connections summed over every worker (for the parent's ``get_connections()``)."""
        return sum(int(self.counts[w.slot]) for w in list(self.children.values()))

    def total_stats(self) -> Stats:
        """Counts summed over every worker, live and gone (for the parent's ``stats()``)."""
        total = Stats()
        total.add(self.retired.raw())
        for worker in list(self.children.values()):
            raw = self.snapshots.read(worker.slot)
            if raw is not None:
                total.add(raw)
        return total

    def in_parent(self) -> bool:
        """True in the process that forked the workers."""
        return os.getpid() == self.parent_pid


class _WorkerProcess:
    """One worker: accept on the inherited socket, count connections, drain on SIGTERM."""

    def __init__(self, server: Server, parent_pid: int, counts: Counts, slot: int,
                 drain_timeout: float, snapshots: SharedSnapshots) -> None:
        self.server = server
        self.snapshots = snapshots
        self.parent_pid = parent_pid
        self.counts = counts
        self.slot = slot
        self.drain_timeout = drain_timeout
        self.done = Event()
        self.draining = False

    def run(self) -> None:
        server = self.server
        counts = server._become_worker(self.counts, self.slot)  # only the parent unlinks a Unix path
        signal.signal(signal.SIGINT, signal.SIG_IGN)     # a terminal's ^C reaches the parent
        signal.signal(signal.SIGHUP, signal.SIG_IGN)     # rotation is the parent's business
        gevent.signal_handler(signal.SIGTERM, self._drain_soon)
        gevent.spawn(self._watch_parent)
        publisher = gevent.spawn(self._publish_stats, counts)
        server._accept_loop().start_accepting()
        self.done.wait()
        publisher.kill()
        self.snapshots.publish(self.slot, counts.raw())  # the last word, read when it is reaped

    def _drain_soon(self) -> None:
        if not self.draining:
            self.draining = True
            gevent.spawn(self._drain)

    def _drain(self) -> None:
        try:
            self.server.stop(self.drain_timeout)
        finally:
            self.done.set()

    def _publish_stats(self, counts: Stats) -> None:
        """Republish this worker's counts for the parent whenever they changed."""
        seen = -1
        while True:
            if counts.changes != seen:
                seen = counts.changes
                self.snapshots.publish(self.slot, counts.raw())
            gevent.sleep(PUBLISH_INTERVAL)

    def _watch_parent(self) -> None:
        """An orphaned worker (the parent was killed) drains and leaves rather than serve on."""
        while not self.draining:
            if os.getppid() != self.parent_pid:
                log.error("greentls: worker (pid %d): the supervisor is gone; stopping", os.getpid())
                self._drain_soon()
                return
            gevent.sleep(1.0)


#: What a forked worker closes first: services of the parent (``parent_only``).
_PARENT_ONLY: list[Callable[[], object]] = []


def parent_only(close: Callable[[], object]) -> None:
    """Register ``close`` to run in every worker forked from now on, before it accepts: for a
    service the parent runs (a metrics endpoint) whose listening socket and greenlets a fork
    copies.  Everything else the parent started before forking runs in each worker as well."""
    _PARENT_ONLY.append(close)


def _kill(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except OSError as exc:
        if exc.errno != errno.ESRCH:
            raise


def _describe(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"was killed by {signal.Signals(os.WTERMSIG(status)).name}"
    return f"exited with status {os.WEXITSTATUS(status)}"
