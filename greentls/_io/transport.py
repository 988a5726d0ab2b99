"""How a ``TLSSocket`` moves bytes and waits: the one pump that touches the transport.

The engine says what it needs (``WantRead``/``WantWrite``); this module does it:

* ``MemoryPump``: TLS bytes travel through the engine's memory BIOs; the pump writes them to the
  transport (``sendall``/``write``) and reads the transport (``recv``/``read``) into the engine.
  Used for client handshakes, for server handshakes whose ClientHello one peek could not
  take (``TLSSocket._peek_hello``), and throughout for transports that are not gevent sockets.  One
  greenlet reads while another writes (STYLE.md principle 9): reads and writes of the transport
  each take their own lock, and a greenlet that needs bytes while another is already reading waits
  for that read to finish and retries, as trio's ``SSLStream`` does, instead of reading twice.
* ``DescriptorPump``: over a gevent socket (after the handshake, or for a server's whole
  handshake), OpenSSL reads and writes the descriptor itself (FACTS.md item 13) and the pump
  only waits for readiness on the socket's own watchers, exactly as ``gevent.ssl`` does.
"""
from __future__ import annotations

from typing import Any, Callable

from gevent.lock import Semaphore
from gevent.socket import wait_read, wait_write

from greentls._engine.engine import TLSEngine

__all__ = ["MemoryPump", "DescriptorPump", "transport_functions"]

_RECV_SIZE = 65536


def transport_functions(transport: Any) -> tuple[Callable[[int], bytes], Callable[[bytes], Any]]:
    """``(recv, sendall)`` for a socket, or for any duplex object with ``read``/``write``."""
    if hasattr(transport, "recv") and hasattr(transport, "sendall"):
        return transport.recv, transport.sendall
    if hasattr(transport, "read") and hasattr(transport, "write"):
        return transport.read, transport.write
    raise TypeError("sock must be a connected socket or a duplex object with recv/sendall or read/write")


class MemoryPump:
    """Moves TLS bytes between an engine's memory BIOs and a transport."""

    __slots__ = ("engine", "_recv", "_send", "_read_lock", "_write_lock", "eof")

    attached = False

    def __init__(self, engine: TLSEngine, transport: Any) -> None:
        self.engine = engine
        self._recv, self._send = transport_functions(transport)
        self._read_lock = Semaphore()
        self._write_lock = Semaphore()
        self.eof = False

    def flush(self) -> None:
        """Send every TLS byte the engine has produced (alerts included, Twisted's rule)."""
        engine = self.engine
        out = engine.outgoing_bytes()
        if not out:
            return
        with self._write_lock:
            while out:
                self._send(out)
                out = engine.outgoing_bytes()

    def wait_readable(self) -> None:
        """The engine wants bytes: flush what it wrote, then read the transport once."""
        self.flush()
        if self._read_lock.locked():
            # Another greenlet is reading; its bytes will serve us too.  Wait, then retry.
            self._read_lock.wait()
            return
        with self._read_lock:
            data = self._recv(_RECV_SIZE)
            if not data:
                self.eof = True
            self.engine.receive_bytes(data)

    def wait_writable(self) -> None:
        """Memory BIOs never refuse a write; the engine only needs its output flushed."""
        self.flush()


class DescriptorPump:
    """Waits on a gevent socket while OpenSSL does the I/O on its descriptor."""

    __slots__ = ("engine", "_sock", "_fd")

    attached = True
    eof = False

    def __init__(self, engine: TLSEngine, sock: Any) -> None:
        self.engine = engine
        self._sock = sock
        self._fd = sock.fileno()

    def flush(self) -> None:
        """OpenSSL already wrote to the descriptor."""

    def wait_readable(self) -> None:
        """Block this greenlet until the socket is readable (honours the socket's timeout)."""
        sock = self._sock
        sock._wait(sock._read_event)

    def wait_writable(self) -> None:
        """Block this greenlet until the socket is writable (honours the socket's timeout)."""
        sock = self._sock
        sock._wait(sock._write_event)

    def wait_readable_fresh(self) -> None:
        """Wait for readability on a watcher of our own: used by a writer whose SSL_write needs
        to read (renegotiation), while the reader greenlet may hold the socket's watcher."""
        wait_read(self._fd, self._sock.gettimeout())

    def wait_writable_fresh(self) -> None:
        """Wait for writability on a watcher of our own (a reader whose SSL_read must write)."""
        wait_write(self._fd, self._sock.gettimeout())


def is_gevent_socket(transport: Any) -> bool:
    """True for a gevent socket (or a monkey-patched stdlib one): its descriptor is
    non-blocking and it has the readiness watchers the descriptor pump waits on."""
    return hasattr(transport, "_read_event") and hasattr(transport, "_wait") and hasattr(transport, "fileno")
