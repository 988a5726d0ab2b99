"""``SecurePair`` and ``CryptoStream``: Node's deprecated ``tls.createSecurePair`` (DEP0064), working.

Theory of operation
-------------------
A pair is a ``TLSSocket`` whose transport is not a socket but two in-memory pipes, so it runs on
the same engine and the same memory pump as every ``TLSSocket`` (docs/architecture.rst,
"The layers": the pair is a thin layer that moves bytes, not a copy of the pump):

* ``pair.cleartext`` (a ``CleartextStream``) *is* that ``TLSSocket``: ``recv``, ``sendall``,
  ``get_peer_certificate``, ``get_cipher``... all inherited.
* ``pair.encrypted`` (an ``EncryptedStream``) is the other end of the pipes: what the engine
  writes for the peer is read from it, and the peer's TLS bytes are written into it.

The handshake starts at once in the pair's own greenlet (Node's SecurePair starts it when it is
made: a client's ClientHello is ready on ``encrypted`` straight away); when it completes the pair
sends ``secure`` from that greenlet (docs/api/securepair.rst).  Cleartext I/O before then waits for
it.  ``bytes_written`` on both streams counts the TLS bytes, record framing included, that the
pair has produced for the transport (Node's ``CryptoStream.bytesWritten``).
"""
from __future__ import annotations

import socket as _socket
import warnings
from typing import TYPE_CHECKING, Any

import gevent
from gevent.event import Event

from greentls import signals
from greentls._base.errors import TLSError
from greentls._config.context import SecureContext
from greentls._config.options import Options
from greentls._engine.state import State
from greentls._tls.socket import TLSSocket

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer

__all__ = ["SecurePair", "CryptoStream", "CleartextStream", "EncryptedStream", "create_secure_pair"]

#: Node's deprecation text (lib/tls.js, DEP0064), naming the replacement.
DEPRECATION = "tls.createSecurePair() is deprecated. Please use tls.TLSSocket instead " \
              "(greentls.create_secure_pair is deprecated: use greentls.TLSSocket)."

#: ``options`` a pair passes on to its TLSSocket (Node passes them to ``new TLSSocket``).
_PAIR_OPTIONS = frozenset("alpn_protocols servername session sni_callback request_ocsp".split())


class _Pipe:
    """One direction of TLS bytes: a buffer that readers wait on (greenlet-blocking)."""

    __slots__ = ("_buffer", "_eof", "_ready")

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._eof = False
        self._ready = Event()

    def write(self, data: bytes) -> None:
        if self._eof:
            return  # the reading side has ended (closed or aborted): bytes are dropped, as a
            # closed socket drops what arrives (copiers need not race the close)
        if data:
            self._buffer += data
            self._ready.set()

    def end(self) -> None:
        """No more bytes: readers get ``b""`` once the buffer is drained."""
        self._eof = True
        self._ready.set()

    def read(self, size: int, timeout: float | None = None) -> bytes:
        while not self._buffer and not self._eof:
            self._ready.clear()
            if not self._ready.wait(timeout):
                raise TimeoutError("timed out")
        chunk = bytes(self._buffer[:size])
        del self._buffer[:size]
        return chunk


class _PairTransport:
    """The cleartext side's transport: ``recv`` reads the peer's bytes, ``sendall`` queues ours.

    Called only by the TLSSocket's memory pump (``_transport.MemoryPump``)."""

    def __init__(self) -> None:
        self.inbound = _Pipe()    # from the peer, fed through pair.encrypted.sendall
        self.outbound = _Pipe()   # for the peer, read through pair.encrypted.recv
        self.bytes_written = 0
        self._timeout: float | None = None

    def recv(self, size: int) -> bytes:
        return self.inbound.read(size, self._timeout)

    def sendall(self, data: ReadableBuffer) -> None:
        data = bytes(data)
        self.bytes_written += len(data)
        self.outbound.write(data)

    def shutdown(self, how: int) -> None:
        if how in (_socket.SHUT_WR, _socket.SHUT_RDWR):
            self.outbound.end()
        if how in (_socket.SHUT_RD, _socket.SHUT_RDWR):
            self.inbound.end()

    def close(self) -> None:
        self.outbound.end()
        self.inbound.end()

    def settimeout(self, value: float | None) -> None:
        self._timeout = value

    def gettimeout(self) -> float | None:
        return self._timeout


class CryptoStream:
    """A stream of a ``SecurePair`` (Node's ``CryptoStream``); see the two subclasses."""

    _pair: SecurePair

    @property
    def pair(self) -> SecurePair:
        """The pair this stream belongs to."""
        return self._pair

    @property
    def bytes_written(self) -> int:
        """TLS bytes (framing included) the pair has produced for the transport so far."""
        return self._pair._transport.bytes_written


class CleartextStream(CryptoStream, TLSSocket):
    """``pair.cleartext``: a ``TLSSocket`` over the pair's encrypted side."""

    def __init__(self, pair: SecurePair, transport: _PairTransport, **tls_options: Any) -> None:
        self._pair = pair
        TLSSocket.__init__(self, transport, **tls_options)

    def do_handshake(self) -> None:
        """Wait for the pair's handshake (run by the pair's greenlet); raises its error."""
        pair = self._pair
        if gevent.getcurrent() is pair._handshaker:
            TLSSocket.do_handshake(self)
            return
        pair._done.wait()
        if pair.error is not None:
            raise pair.error
        if self._engine.state is not State.OPEN:
            TLSSocket.do_handshake(self)  # raises "the socket is closed" as any TLSSocket does

    def _ensure_open(self) -> None:
        if self._engine.state is not State.OPEN and gevent.getcurrent() is not self._pair._handshaker:
            self.do_handshake()  # waits for the pair's handshake; raises its error
        TLSSocket._ensure_open(self)

    def __repr__(self) -> str:
        return f"<greentls.CleartextStream of {self._pair!r}>"


class EncryptedStream(CryptoStream):
    """``pair.encrypted``: TLS bytes.  ``sendall``/``write`` feed bytes from the peer;
    ``recv``/``read`` return TLS bytes for the peer (``b""`` once the pair has ended)."""

    def __init__(self, pair: SecurePair, transport: _PairTransport) -> None:
        self._pair = pair
        self._transport = transport

    def sendall(self, data: ReadableBuffer) -> None:
        """TLS bytes received from the peer; ``b""`` is the peer's end of stream."""
        if not data:
            self._transport.inbound.end()
            return
        self._transport.inbound.write(bytes(data))

    write = sendall

    def end(self) -> None:
        """The peer's transport ended (no more TLS bytes will come)."""
        self._transport.inbound.end()

    def recv(self, bufsize: int = 65536) -> bytes:
        """Block this greenlet until TLS bytes for the peer are ready; ``b""`` at the end."""
        return self._transport.outbound.read(bufsize)

    read = recv

    def __repr__(self) -> str:
        return f"<greentls.EncryptedStream of {self._pair!r}>"


class SecurePair:
    """A TLS engine between two streams (Node's ``SecurePair``); deprecated, use ``TLSSocket``.

    ``cleartext`` and ``encrypted`` as in the module docstring; ``secure`` is sent (sender=the
    pair) when the handshake completes; ``error`` holds the handshake's failure, if any.
    """

    def __init__(self, context: SecureContext | Options | None = None, is_server: bool = False,
                 request_cert: bool = False, reject_unauthorized: bool = False, options: Options | None = None,
                 *, _warn: bool = True) -> None:
        if _warn:
            warnings.warn(DEPRECATION, DeprecationWarning, stacklevel=2)
        options = dict(options or {})
        for name in options:
            if name not in _PAIR_OPTIONS:
                raise TypeError(f"create_secure_pair() got an unexpected option {name!r}")
        self.server = bool(is_server)
        self.error: BaseException | None = None
        self._transport = _PairTransport()
        self._done = Event()
        self._handshaker: gevent.Greenlet[[], None] | None = None
        self.cleartext = CleartextStream(
            self, self._transport, is_server=self.server, secure_context=_context(context),
            request_cert=bool(request_cert), reject_unauthorized=bool(reject_unauthorized), **options)
        self.encrypted = EncryptedStream(self, self._transport)
        self._handshaker = gevent.spawn(self._handshake)

    def _handshake(self) -> None:
        """Runs in the pair's greenlet: the handshake, then the ``secure`` signal."""
        try:
            TLSSocket.do_handshake(self.cleartext)
        except BaseException as exc:  # kept for the cleartext's next call (Node's 'error')
            self.error = self.error or exc
            return
        finally:
            self._done.set()
        if signals.has_receivers(signals.secure, self):
            signals.secure.send(self)

    @property
    def secured(self) -> bool:
        """True once the handshake completed."""
        return self._done.is_set() and self.error is None

    def wait(self, timeout: float | None = None) -> bool:
        """Block this greenlet until the handshake ended; True when it succeeded."""
        self._done.wait(timeout)
        return self.secured

    def destroy(self) -> None:
        """Abandon the pair: both streams end (Node's ``destroy()``)."""
        if self._handshaker is not None and not self._done.is_set():
            self._handshaker.kill(block=False)
            self.error = self.error or TLSError("the pair was destroyed", code="ERR_SOCKET_CLOSED")
            self._done.set()
        self.cleartext.close()

    def __repr__(self) -> str:
        side = "server" if self.server else "client"
        return f"<greentls.SecurePair {side} {self.cleartext._engine.state.value}>"


def _context(context: SecureContext | Options | None) -> SecureContext:
    if context is None:
        return SecureContext()
    if isinstance(context, SecureContext):
        return context
    if isinstance(context, dict):
        return SecureContext(**context)
    raise TypeError("create_secure_pair: 'context' must be a SecureContext, a dict of its options, or None")


def create_secure_pair(context: SecureContext | Options | None = None, is_server: bool = False,
                       request_cert: bool = False, reject_unauthorized: bool = False,
                       options: Options | None = None) -> SecurePair:
    """Deprecated (Node's DEP0064): warns ``DeprecationWarning``; use ``TLSSocket`` over any
    duplex object instead.  Returns a working ``SecurePair``."""
    warnings.warn(DEPRECATION, DeprecationWarning, stacklevel=2)
    return SecurePair(context, is_server, request_cert, reject_unauthorized, options, _warn=False)
