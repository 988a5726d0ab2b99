"""How a ``TLSSocket`` moves bytes and waits: the one pump that touches the transport.

The engine says what it needs (``WantRead``/``WantWrite``); this module does it:

* ``MemoryPump``: TLS bytes travel through the engine's memory BIOs; the pump writes them to the
  transport (``sendall``/``write``) and reads the transport (``recv``/``read``) into the engine.
  Used for client handshakes, for server handshakes whose ClientHello one peek could not
  take (``TLSSocket._peek_hello``), and throughout for transports that are not gevent sockets.  One
  greenlet reads while another writes (docs/api/tlssocket.rst): reads and writes of the transport
  each take their own lock, and a greenlet that needs bytes while another is already reading waits
  for that read to finish and retries, as trio's ``SSLStream`` does, instead of reading twice.
* ``DescriptorPump``: over a gevent socket (after the handshake, or for a server's whole
  handshake), OpenSSL reads and writes the descriptor itself (docs/architecture.rst,
  "Two transports"; docs/performance.rst) and the pump only waits for readiness on the socket's
  watchers it owns on the descriptor.
"""
from __future__ import annotations

import errno
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from gevent import get_hub, socket as gsocket
from gevent.lock import Semaphore
from gevent.socket import wait

from greentls._base.errors import WantReadError, WantWriteError
from greentls._engine.engine import TLSEngine, WantRead, WantWrite

__all__ = ["MemoryPump", "DescriptorPump", "Pump", "retry", "READER", "WRITER", "HANDSHAKE",
           "transport_functions"]

_RECV_SIZE = 65536
#: libev/libuv event masks for an io watcher.
_READ, _WRITE = 1, 2


def _closed_error() -> OSError:
    """What a greenlet waiting on a closed socket gets, as gevent's own close gives it."""
    return OSError(errno.EBADF, "File descriptor was closed in another greenlet")

_T = TypeVar("_T")

#: Who calls ``retry``, which decides which watcher a wait uses: a reader whose SSL_read must
#: write, or a writer whose SSL_write must read (a renegotiation, a key update), waits on a
#: watcher of its own, since the other greenlet may be parked on the socket's (gevent lets one
#: greenlet wait on a watcher at a time).
READER = "reader"
WRITER = "writer"
HANDSHAKE = "handshake"


class Pump(Protocol):
    """What ``retry`` needs of a pump: flush the engine's output, and wait for the transport."""

    attached: bool

    def flush(self) -> None: ...
    def wait_readable(self) -> None: ...
    def wait_writable(self) -> None: ...
    def wait_readable_fresh(self) -> None: ...
    def wait_writable_fresh(self) -> None: ...
    def close(self) -> None: ...


def retry(pump: Pump, role: str, operation: Callable[..., _T], *args: Any,
          before_read_wait: Callable[[], None] | None = None) -> _T:
    """Call ``operation(*args)`` until it completes: the one loop every TLS operation runs in,
    as trio's ``SSLStream._retry`` is.

    On ``WantRead`` the pump flushes what the engine wrote and waits for (or reads) the
    transport; on ``WantWrite`` it waits until the transport takes more.  The same call is then
    made again with the same arguments, as SSL_read(3)/SSL_write(3) require.  After success the
    pump flushes, so nothing OpenSSL wrote (a handshake flight, a ticket acknowledgement, a key
    update) is left behind.  ``before_read_wait`` runs before each wait for bytes (events the
    OpenSSL callbacks recorded).  Any other exception is the operation's, already translated
    (engine errors are ``TLSError``; ``HelloReady`` is the caller's to handle).

    The wait happens outside the ``except`` clause: a greenlet parked inside it would keep the
    exception, its traceback and pyOpenSSL's frame alive for as long as the connection idles.
    """
    while True:
        try:
            result = operation(*args)
        except WantRead:
            wants_read = True
        except WantWrite:
            wants_read = False
        else:
            if not pump.attached:  # OpenSSL already wrote a descriptor pump's bytes itself
                pump.flush()
            return result
        if wants_read:
            if before_read_wait is not None:
                before_read_wait()
            if role is WRITER and pump.attached:
                pump.wait_readable_fresh()
            else:
                pump.wait_readable()
        elif role is READER and pump.attached:
            pump.wait_writable_fresh()
        else:
            pump.wait_writable()


def transport_functions(transport: Any) -> tuple[Callable[[int], bytes], Callable[[bytes], Any]]:
    """``(recv, sendall)`` for a socket, or for any duplex object with ``read``/``write``."""
    if hasattr(transport, "recv") and hasattr(transport, "sendall"):
        return transport.recv, transport.sendall
    if hasattr(transport, "read") and hasattr(transport, "write"):
        return transport.read, transport.write
    raise TypeError("sock must be a connected socket or a duplex object with recv/sendall or read/write")


class MemoryPump:
    """Moves TLS bytes between an engine's memory BIOs and a transport."""

    __slots__ = ("engine", "_recv", "_transport_recv", "_send", "_sent", "_read_lock", "_write_lock", "eof",
                 "_transport")

    attached = False

    def __init__(self, engine: TLSEngine, transport: Any) -> None:
        self.engine = engine
        self._transport = transport
        self._transport_recv, self._send = transport_functions(transport)
        #: What ``wait_readable`` calls: the transport's own read, or that read with an
        #: observer behind it (``observe``).  Swapped rather than tested on each read, so that a
        #: pump nobody observes pays nothing for the hook.
        self._recv: Callable[[int], bytes] = self._transport_recv
        #: Shown every chunk sent (``observe``), or None.
        self._sent: Callable[[bytes], object] | None = None
        self._read_lock = Semaphore()
        self._write_lock = Semaphore()
        self.eof = False

    def observe(self, observer: Callable[[bytes], object] | None,
                sent: Callable[[bytes], object] | None = None) -> None:
        """Show every chunk read from the transport to ``observer`` before the engine gets it
        (the client's ``ServerKeyExchangeSniffer``), and every chunk sent to ``sent``; ``None``
        stops.  At most one observer of each."""
        recv = self._transport_recv
        self._sent = sent
        if observer is None:
            self._recv = recv
            return

        def observed_recv(size: int) -> bytes:
            data = recv(size)
            observer(data)
            return data

        self._recv = observed_recv

    def flush(self) -> None:
        """Send every TLS byte the engine has produced (alerts included, Twisted's rule)."""
        engine = self.engine
        out = engine.outgoing_bytes()
        if not out:
            return
        gettimeout = getattr(self._transport, "gettimeout", None)
        send = self._send_unblocked if gettimeout is not None and gettimeout() == 0.0 else self._send
        with self._write_lock:
            while out:
                if self._sent is not None:
                    self._sent(out)
                send(out)
                out = engine.outgoing_bytes()

    def _send_unblocked(self, data: bytes) -> None:
        """``sendall`` on a non-blocking socket: its ``sendall`` fails part way and does not
        say how much went, and the engine's bytes are already taken (losing some would corrupt
        the stream).  So ``send`` what the socket takes and wait for room for the rest: the
        wait is a plain ``select`` (gevent's, once monkey-patched)."""
        import select

        view = memoryview(data)
        while view:
            try:
                view = view[self._transport.send(view):]
            except BlockingIOError:
                select.select([], [self._transport], [])

    def wait_readable(self) -> None:
        """The engine wants bytes: flush what it wrote, then read the transport once.  A
        non-blocking transport with nothing to read raises ``WantReadError`` (the stdlib's
        ``ssl.SSLWantReadError``): call again when it is readable."""
        self.flush()
        if self._read_lock.locked():
            # Another greenlet is reading; its bytes will serve us too.  Wait, then retry.
            self._read_lock.wait()
            return
        with self._read_lock:
            try:
                data = self._recv(_RECV_SIZE)
            except BlockingIOError:
                raise WantReadError() from None
            if not data:
                self.eof = True
            self.engine.receive_bytes(data)

    def wait_writable(self) -> None:
        """Memory BIOs never refuse a write; the engine only needs its output flushed."""
        self.flush()

    # Memory BIOs have no watchers to share: the fresh waits are the plain ones.
    wait_readable_fresh = wait_readable
    wait_writable_fresh = wait_writable

    def close(self) -> None:
        """Nothing to release: the transport's own close wakes its readers."""


class DescriptorPump:
    """Waits on a gevent socket while OpenSSL does the I/O on its descriptor.

    It owns two readiness watchers on the descriptor, made once (the writable one on the first
    wait for it: most connections never make one), and waits on them with
    gevent's public ``gevent.socket.wait`` (with the socket's timeout).  ``wait_read``, a new
    watcher per wait, costs 25 % more time per round trip; the socket's own watchers would
    need gevent's private ``socket._wait``.  ``close()`` (the ``TLSSocket`` calls it before it
    closes the transport) wakes whoever waits, with EBADF, as closing a gevent socket does (on
    those two watchers, or on one made for a single wait, ``_wait_fresh``), and releases the
    watchers before the descriptor number can be reused."""

    __slots__ = ("engine", "_sock", "_fd", "_readable", "_writable", "_fresh")

    attached = True
    eof = False

    def __init__(self, engine: TLSEngine, sock: gsocket.socket) -> None:
        self.engine = engine
        self._sock = sock
        self._fd = sock.fileno()
        loop = get_hub().loop
        self._readable = loop.io(self._fd, _READ)
        #: Made on the first wait for writability: most connections never wait to write.
        self._writable: Any = None
        #: The watchers of the waits in progress on watchers of their own (``_wait_fresh``);
        #: None until the first.
        self._fresh: set[Any] | None = None

    def flush(self) -> None:
        """OpenSSL already wrote to the descriptor."""

    def wait_readable(self) -> None:
        """Block this greenlet until the socket is readable (honours the socket's timeout; a
        non-blocking socket, timeout 0, raises ``WantReadError`` instead, as the stdlib's)."""
        if self._fd < 0:  # closed: a closed watcher would never wake
            raise _closed_error()
        timeout = self._sock.gettimeout()
        if timeout == 0.0:
            raise WantReadError()
        wait(self._readable, timeout)

    def wait_writable(self) -> None:
        """Block this greenlet until the socket is writable (honours the socket's timeout; a
        non-blocking socket raises ``WantWriteError``)."""
        if self._fd < 0:  # closed: no watcher on a number that may be reused, or a closed one
            raise _closed_error()
        timeout = self._sock.gettimeout()
        if timeout == 0.0:
            raise WantWriteError()
        writable = self._writable
        if writable is None:
            writable = self._writable = get_hub().loop.io(self._fd, _WRITE)
        wait(writable, timeout)

    def wait_readable_fresh(self) -> None:
        """Wait for readability on a watcher of our own: used by a writer whose SSL_write needs
        to read (renegotiation), while the reader greenlet may hold the socket's watcher."""
        self._wait_fresh(_READ)

    def wait_writable_fresh(self) -> None:
        """Wait for writability on a watcher of our own (a reader whose SSL_read must write)."""
        self._wait_fresh(_WRITE)

    def _wait_fresh(self, events: int) -> None:
        """Wait on a new watcher, as ``wait_read``/``wait_write`` do, but one ``close()`` can
        find: a greenlet parked there wakes (EBADF) when the connection closes, instead of
        waiting until its timeout, or for ever, on a descriptor that is gone."""
        if self._fd < 0:
            raise _closed_error()
        timeout = self._sock.gettimeout()
        if timeout == 0.0:
            raise WantReadError() if events == _READ else WantWriteError()
        watcher = get_hub().loop.io(self._fd, events)
        fresh = self._fresh
        if fresh is None:
            fresh = self._fresh = set()
        fresh.add(watcher)
        try:
            wait(watcher, timeout)
        finally:
            fresh.discard(watcher)
            watcher.close()

    def close(self) -> None:
        """Wake any greenlet waiting on the watchers (EBADF), then release them."""
        hub = get_hub()
        watchers = [self._readable, *(self._fresh or ())]
        if self._writable is not None:
            watchers.append(self._writable)
        for watcher in watchers:
            # ``callback`` is set while a greenlet waits (gevent's watcher interface; the type
            # stubs omit it): throw into that greenlet, and close the watcher after.
            if getattr(watcher, "callback", None) is not None:
                hub.cancel_wait(watcher, _closed_error(), True)
            else:
                watcher.close()
        self._fd = -1  # no watcher is made after this (the number may be reused)


def is_gevent_socket(transport: Any) -> bool:
    """True for a gevent socket (or a monkey-patched stdlib one, which is the same class): its
    descriptor is non-blocking, so OpenSSL may read and write it while the pump waits."""
    return isinstance(transport, gsocket.socket)
