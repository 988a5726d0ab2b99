"""The TLS engine: one pyOpenSSL ``Connection`` and its state, with no I/O of its own.

Theory of operation
-------------------
The engine is sans-I/O, as trio's ``SSLStream`` core and h11 are: the layer above moves bytes and
waits; the engine only says what it needs.  Every operation either completes or raises
``WantRead`` / ``WantWrite`` (pyOpenSSL's own exception classes, re-exported so the hot path pays
no translation), and the caller's pump then flushes ``outgoing_bytes()``, reads from its
transport into ``receive_bytes()``, and retries the same call with the same arguments (OpenSSL
may already have consumed part of a write: SSL_write(3) "must be repeated with the same
arguments").

Two transports, one engine:

* memory BIOs (the default): bytes in through ``receive_bytes``, bytes out through
  ``outgoing_bytes``.  A server engine made with ``parse_hello`` reads the whole ClientHello
  itself this way before OpenSSL sees a byte of it (below).
* socket BIO: a socket transport may call ``attach_fd(fd)`` after the handshake, or
  ``begin_on_fd(fd, hello)`` before it, when the ClientHello was looked at with ``MSG_PEEK``
  (parsed, or, for a server with nothing to decide, only its size checked) and is still in the
  socket for OpenSSL to read; OpenSSL then reads and writes the non-blocking descriptor itself and
  ``WantRead``/``WantWrite`` mean "wait until the descriptor is ready".  This measured 1.65x faster
  per round trip than memory BIOs (docs/architecture.rst, "Two transports"; docs/performance.rst):
  the cost is the number of Python calls per record, and this path needs one per read or write
  instead of three.

The ClientHello seam (servers)
------------------------------
OpenSSL's SNI, OCSP-status and session callbacks run inside OpenSSL, where a greenlet must never
block or switch (docs/architecture.rst, "fact-callbacks").  So a server engine that has such
decisions to make first feeds the client's bytes to our own ``ClientHelloParser`` (as Node's
``ClientHelloParser`` does) and withholds them from OpenSSL.
When the hello is complete ``do_handshake()`` raises ``HelloReady``; the connection's greenlet
then makes its blocking decisions (pick a context, fetch an OCSP response) and calls
``release_hello()``, after which OpenSSL sees the bytes and its callbacks only read the answers.
Bytes that are not a well-formed hello are released to OpenSSL unparsed, so the client gets
OpenSSL's own alert and the error carries OpenSSL's reason (``ERR_SSL_HTTP_REQUEST``...), as
with Node.

State is explicit (``State``); ``BROKEN`` is final, as in trio.
"""
from __future__ import annotations

import _thread
import sys
from collections.abc import Callable
from threading import Lock as _Lock
from typing import TYPE_CHECKING

from OpenSSL import SSL

from greentls._base.binding import ffi as _ffi, lib as _lib, take_errors
from greentls._base.errors import PEER_LEFT_DURING_HANDSHAKE, UNKNOWN_SSL_ERROR_CODE, TLSError, from_openssl
from greentls._config.verify import certificate_error_for
from greentls._engine.state import ALLOWED, State, advance, refusal
from greentls._parse.clienthello import ClientHello, ClientHelloError, ClientHelloParser, ClientHelloTooLargeError

if TYPE_CHECKING:
    import socket

    from _typeshed import WriteableBuffer

    from greentls._base.binding import CData
    from greentls._config.record import CallbackRecord

__all__ = ["TLSEngine", "State", "WantRead", "WantWrite", "HelloReady", "is_tls13"]

WantRead = SSL.WantReadError
WantWrite = SSL.WantWriteError

# One TLS record's worth of ciphertext (RFC 8446 section 5.2: 2^14 + 256); the memory BIO
# is drained in reads of this size.
_BIO_CHUNK = 65536
#: Scratch buffers for SSL_read/BIO_read, one pair per OS thread.  cffi releases the GIL around
#: every C call, so one buffer shared by two threads is written by both at once (seen: another
#: thread's bytes, "bad record mac").  Within a thread, greenlets share the pair safely: nothing
#: between the C call and the copy switches.  Keyed by the OS thread's ident: the unpatched
#: ``_thread.get_ident`` (gevent's monkey-patching makes it per greenlet), which is
#: ``pthread_self()``, not a system call as ``get_native_id`` is; bounded, since idents of
#: ended threads are reused or left behind (a thread holds its pair in a local during a call).
_THREAD_BUFFERS: dict[int, tuple[CData, CData]] = {}
_MAX_THREAD_BUFFERS = 64


def _os_thread_ident() -> Callable[[], int]:
    """``_thread.get_ident`` as it was before gevent's monkey-patching, if that already ran."""
    monkey = sys.modules.get("gevent.monkey")
    if monkey is not None:
        original: Callable[[], int] = monkey.get_original("_thread", "get_ident")
        return original
    return _thread.get_ident


_get_thread_ident = _os_thread_ident()


def _scratch() -> tuple[CData, CData]:
    """(outgoing, read) buffers of ``_BIO_CHUNK`` bytes for the calling OS thread."""
    key = _get_thread_ident()
    pair = _THREAD_BUFFERS.get(key)
    if pair is None:
        if len(_THREAD_BUFFERS) >= _MAX_THREAD_BUFFERS:
            _THREAD_BUFFERS.clear()
        pair = _THREAD_BUFFERS[key] = (_ffi.new("char[]", _BIO_CHUNK), _ffi.new("char[]", _BIO_CHUNK))
    return pair


_SSL_ERROR_WANT_READ: int = _lib.SSL_ERROR_WANT_READ
_TLS1_3_VERSION: int = _lib.TLS1_3_VERSION
#: SSL_OP_IGNORE_UNEXPECTED_EOF, SSL_OP_BIT(7) in OpenSSL 3+ include/openssl/ssl.h.in; not
#: exported by the bindings.
_OP_IGNORE_UNEXPECTED_EOF = 0x80


class HelloReady(Exception):
    """Raised by a server's ``do_handshake()`` once the whole ClientHello has been parsed.

    Not an error: the caller inspects ``engine.client_hello``, configures the engine, and calls
    ``release_hello()`` before calling ``do_handshake()`` again.
    """


class TLSEngine:
    """A TLS connection as a state machine over bytes (see the module docstring)."""

    __slots__ = ("conn", "server_side", "state", "client_hello", "alpn_protocols", "record",
                 "clean_close", "verify_error", "first_error", "hello_decision", "hello_refusal", "alpn_refusal",
                 "alpn_optional", "_parser", "_hello_held", "_attached", "_eof_fed", "_fd", "_fd_owner", "__weakref__")

    def __init__(self, context: SSL.Context, *, server_side: bool, parse_hello: bool = False,
                 msg_callback: CData | None = None) -> None:
        self.conn = SSL.Connection(context, None) if msg_callback is None else \
            _traced_connection(context, msg_callback)
        self.server_side = server_side
        self.state = State.NEW  # every later change goes through _move (state.py's table)
        #: The parsed ClientHello (servers that parse it), or None.
        self.client_hello: ClientHello | None = None
        #: This side's ALPN list: what a server selects from (read by the context's callback).
        #: Empty or None: a client's offer is ignored, unless ``alpn_refusal`` is set.
        self.alpn_protocols: list[bytes] | None = None
        #: Set: an offer this list does not match fails with this error (an ``alpn_callback``
        #: that refused, or has not answered yet), even when the list is empty.
        self.alpn_refusal: TLSError | None = None
        #: True: an offer ``alpn_protocols`` does not match gets no ALPN answer and the
        #: handshake goes on, as the stdlib's ``set_alpn_protocols`` server does; False (Node
        #: since v17): it fails with ``no_application_protocol``.
        self.alpn_optional = False
        #: What the OpenSSL callbacks record for the connection's greenlet (``_config/record.py``),
        #: set by the socket; never read by the engine itself.
        self.record: CallbackRecord | None = None
        #: True once the peer's close_notify arrived (a session stays resumable:
        #: docs/architecture.rst, "fact-unexpected-eof").
        self.clean_close = False
        #: (X509_V_ERR code, depth) recorded by an accepting verify callback (``_config/verify.py``).
        self.verify_error: tuple[int, int] | None = None
        #: The first OpenSSL error with a reason (``translate``).
        self.first_error: TLSError | None = None
        #: Servers whose decisions need the ClientHello: ``HELLO_UNDECIDED`` until they were
        #: made, then the server name they were made for (``b""``: none).  The servername
        #: callback (``_config/context.py``) refuses a hello whose name OpenSSL sees differently,
        #: or on which no decision ran.  None: nothing to decide.
        self.hello_decision: object = None
        #: Why that callback refused the hello (a ``ClientHelloError``), for ``translate``.
        self.hello_refusal: TLSError | None = None
        self._parser: ClientHelloParser | None = ClientHelloParser() if parse_hello and server_side else None
        self._hello_held = self._parser is not None
        self._attached = False
        self._eof_fed = False
        #: The attached descriptor and the socket object that owns it (``attach_fd``).
        self._fd = -1
        self._fd_owner: socket.socket | None = None
        if server_side:
            self.conn.set_accept_state()
        else:
            self.conn.set_connect_state()
        self.conn.set_app_data(self)

    def _move(self, new: State) -> None:
        """Change state, as ``state.TRANSITIONS`` allows."""
        self.state = advance(self.state, new)

    def fail(self) -> None:
        """The layer above gave up on the connection (a timeout, an abort): ``BROKEN``."""
        if self.state is not State.CLOSED:
            self._move(State.BROKEN)

    # -- configuration before the handshake --------------------------------------------------

    def set_context(self, context: SSL.Context) -> None:
        """Use another context (SNI) for this connection; only before OpenSSL saw the hello."""
        if self.state not in ALLOWED["configure"]:
            raise refusal("configure", self.state)
        self.conn.set_context(context)

    def switch_certificate(self, context: SSL.Context) -> None:
        """Use ``context``'s key, certificate and chain from now on (``set_key_cert``)."""
        if self.state not in ALLOWED["set_key_cert"]:
            raise refusal("set_key_cert", self.state)
        self.conn.set_context(context)

    def parse_hello_first(self) -> None:
        """Server, before any byte was fed: withhold the ClientHello (``HelloReady``) after all.

        For an engine made with ``parse_hello=False`` whose caller could not read the hello
        itself (``begin_on_fd``) and falls back to feeding bytes."""
        if self.state is not State.NEW or not self.server_side or self._parser is not None:
            raise TLSError("parse_hello_first: the engine already started", code="ERR_TLS_INTERNAL")
        self._parser = ClientHelloParser()
        self._hello_held = True

    def release_hello(self) -> None:
        """Hand the withheld ClientHello bytes to OpenSSL (after ``HelloReady``)."""
        if self._hello_held:
            assert self._parser is not None  # held only while a parser reads the hello
            self._hello_held = False
            data = self._parser.buffered
            self._parser = None
            if data:
                self.conn.bio_write(data)
            if self._eof_fed:
                self.conn.bio_shutdown()

    # -- memory-BIO transport ---------------------------------------------------------------

    def receive_bytes(self, data: bytes) -> None:
        """Bytes from the peer; ``b""`` means the transport reached end of file."""
        if not data:
            self._eof_fed = True
            if not self._hello_held:
                self.conn.bio_shutdown()
            return
        if self._hello_held:
            self._feed_parser(data)
        else:
            self.conn.bio_write(data)

    def outgoing_bytes(self) -> bytes:
        """TLS bytes waiting for the peer (``b""`` when none)."""
        if self._attached:
            return b""
        # BIO_read straight into the thread's scratch buffer: pyOpenSSL's bio_read allocates
        # 64 KiB per call and raises WantRead for an empty BIO (BIO_s_mem returns -1 with the
        # retry flag), and every flush ends with that empty read.
        buffer = _scratch()[0]
        count = _lib.BIO_read(self.conn._from_ssl, buffer, _BIO_CHUNK)
        if count <= 0:
            return b""
        data: bytes = _ffi.buffer(buffer, count)[:]
        return data

    def _feed_parser(self, data: bytes) -> None:
        assert self._parser is not None  # called only while the hello is held
        try:
            hello = self._parser.feed(data)
        except ClientHelloTooLargeError:
            self._move(State.BROKEN)
            raise
        except ClientHelloError:
            # Not a hello we understand: let OpenSSL judge the bytes, so the peer gets its
            # alert and the error its reason (ERR_SSL_HTTP_REQUEST, ...), as Node's does.
            self.release_hello()
            return
        if hello is not None:
            self.client_hello = hello

    # -- socket transport ------------------------------------------------------------------

    @property
    def attached(self) -> bool:
        """True once OpenSSL reads and writes a socket descriptor itself."""
        return self._attached

    def can_attach(self) -> bool:
        """True when switching to a descriptor loses nothing.

        The caller must first drain decrypted data until ``read`` raises ``WantRead`` (then
        OpenSSL has pulled every byte out of the incoming BIO: without read-ahead,
        ``ssl3_read_n`` only reports WANT_READ once ``BIO_read`` comes back empty) and flush
        ``outgoing_bytes()``; a partial record already read stays in OpenSSL's buffer.
        """
        return not self._attached and not self._hello_held and not self._eof_fed \
            and self.state is State.OPEN

    def begin_on_fd(self, fd: int, hello: ClientHello | None, owner: socket.socket) -> None:
        """Server: the ClientHello is still unread in the socket ``fd``, so OpenSSL can read it
        (and everything after) from the descriptor itself.

        Only before any byte was fed.  ``hello`` is the hello parsed from a ``MSG_PEEK``, whose
        ``HelloReady`` decisions the caller makes before calling ``do_handshake``; None when the
        caller decides nothing on it.
        """
        fed = self._parser is not None and self._parser.buffered
        if self.state is not State.NEW or not self.server_side or fed:
            raise TLSError("begin_on_fd: only for a server engine that was fed no bytes", code="ERR_TLS_INTERNAL")
        self.client_hello = hello
        self._parser = None
        self._hello_held = False
        self.attach_fd(fd, owner)

    def attach_fd(self, fd: int, owner: socket.socket) -> None:
        """Let OpenSSL use the non-blocking descriptor ``fd`` directly from now on.

        ``SSL_set_fd`` frees the memory BIOs; OpenSSL 3.2+ hands the new BIO to its record
        layer (``SSL_set0_rbio`` -> ``set1_bio``), so a partial record already read stays
        buffered.  The caller drains decrypted data and flushes outgoing bytes first.

        ``owner`` is the socket object that owns ``fd``: every later operation first checks that
        ``owner.fileno()`` is still ``fd``.  A descriptor number is reused as soon as it is
        closed, so an engine that outlived its socket (a file from ``makefile`` closed late, a
        server that closed the socket underneath) would otherwise read or write another
        connection's socket.
        """
        if self.state not in ALLOWED["attach"]:
            raise refusal("attach", self.state)
        if not _lib.SSL_set_fd(self.conn._ssl, fd):
            _lib.ERR_clear_error()
            raise TLSError("SSL_set_fd failed", code="ERR_SSL_SET_FD")
        # The BIOs pyOpenSSL kept pointers to were freed by SSL_set_bio: drop the pointers so
        # a stray bio_read/bio_write raises TypeError instead of touching freed memory.
        self.conn._into_ssl = None
        self.conn._from_ssl = None
        self._attached = True
        self._fd = fd
        self._fd_owner = owner

    def _descriptor_lost(self) -> bool:
        """True when attached to a descriptor its socket no longer owns (``attach_fd``); the
        connection is then broken, and nothing may touch the descriptor again."""
        if self.on_own_descriptor():
            return False
        self._move(State.BROKEN)
        return True

    def on_own_descriptor(self) -> bool:
        """False when attached to a descriptor its socket no longer owns: only looked at, so
        that the next operation reports it (``_lose_descriptor``) before anything waits on it."""
        owner = self._fd_owner
        return not self._attached or owner is None or owner.fileno() == self._fd

    def _lose_descriptor(self) -> TLSError:
        """The record path found its descriptor gone (``_descriptor_lost``, inlined there): the
        connection is broken; returns the error to raise."""
        self._move(State.BROKEN)
        return self._lost_error()

    def _lost_error(self) -> TLSError:
        return TLSError("the socket under this TLS connection was closed", code="EBADF",
                        reason="bad file descriptor")

    # -- the TLS operations ----------------------------------------------------------------

    def do_handshake(self) -> None:
        """Advance the handshake; returns when it is complete.

        Raises ``WantRead``/``WantWrite`` (pump and retry), ``HelloReady`` (servers: decide,
        ``release_hello()``, retry) or ``TLSError``.
        """
        if self.state is State.OPEN:
            return
        if self.state is State.NEW:
            self._move(State.HANDSHAKING)
        elif self.state is not State.HANDSHAKING:
            raise refusal("handshake", self.state)
        if self._attached and self._descriptor_lost():
            raise self._lost_error()
        if self._hello_held:
            if self.client_hello is None:
                if self._eof_fed:
                    self._move(State.BROKEN)
                    raise TLSError("socket hang up: the client closed before its ClientHello "
                                   "was complete", code="ECONNRESET", reason="socket hang up")
                raise WantRead()
            raise HelloReady()
        try:
            self.conn.do_handshake()
        except (WantRead, WantWrite):
            raise
        except SSL.Error as exc:
            self._move(State.BROKEN)
            raise self.translate(exc, "handshake") from exc
        except TLSError:  # raised by one of our callbacks, re-raised by pyOpenSSL
            self._move(State.BROKEN)
            raise
        self._move(State.OPEN)

    # The record path calls OpenSSL through the bindings directly: pyOpenSSL's recv/send
    # allocate a buffer per call and run a Python error check even after a success, which was
    # half the Python time of a 64-byte echo round trip (benchmarks/).  Only failures go
    # through pyOpenSSL's ``_raise_ssl_error``, so every exception stays pyOpenSSL's own.

    def read(self, size: int) -> bytes:
        """Decrypted bytes (at most ``size``); ``b""`` at the peer's end of the stream."""
        state = self.state
        if state is not _OPEN and state is not _CLOSING:
            raise refusal("read", state)
        if self._attached and self._fd_owner.fileno() != self._fd:  # type: ignore[union-attr]  # set with _attached
            raise self._lose_descriptor()
        ssl = self.conn._ssl
        buffer = _scratch()[1] if size <= _BIO_CHUNK else _ffi.new("char[]", size)
        count: int = _lib.SSL_read(ssl, buffer, size)
        if count > 0:
            data: bytes = _ffi.buffer(buffer, count)[:]
            return data
        self._read_ended(ssl, count)
        return b""

    def read_into(self, buffer: WriteableBuffer, size: int) -> int:
        """Like ``read`` into a writable buffer; returns the count (0 at the end)."""
        state = self.state
        if state is not _OPEN and state is not _CLOSING:
            raise refusal("read", state)
        if self._attached and self._fd_owner.fileno() != self._fd:  # type: ignore[union-attr]  # set with _attached
            raise self._lose_descriptor()
        ssl = self.conn._ssl
        count: int = _lib.SSL_read(ssl, _ffi.from_buffer(buffer, require_writable=True), size)
        if count > 0:
            return count
        self._read_ended(ssl, count)
        return 0

    def _read_ended(self, ssl: CData, count: int) -> None:
        """After a failed SSL_read: raise WantRead/WantWrite or the error; return at the end of
        the stream (the peer's close_notify, or an EOF without it)."""
        if _lib.SSL_get_error(ssl, count) == _SSL_ERROR_WANT_READ:
            raise WantRead()  # the common case, without pyOpenSSL's checks
        try:
            self.conn._raise_ssl_error(ssl, count)
        except SSL.ZeroReturnError:
            self.clean_close = True
        except SSL.SysCallError as exc:
            self._read_failed(exc)
        except (WantRead, WantWrite):
            raise
        except SSL.Error as exc:
            self._move(State.BROKEN)
            # A certificate the peer sent after the handshake (TLS 1.3 post-handshake
            # authentication) that failed verification: the verify code, as after a handshake.
            raise certificate_error_for(self.conn, self.translate(exc, "read")) from exc

    def _read_failed(self, exc: SSL.SysCallError) -> None:
        # An EOF without close_notify: reported as the end of the stream, like the stdlib's
        # suppress_ragged_eofs, but the session is not resumable (docs/architecture.rst,
        # "fact-unexpected-eof").
        if exc.args and exc.args[0] in (-1, 0):
            return
        self._move(State.BROKEN)
        raise TLSError(f"read failed: {exc.args[1] if len(exc.args) > 1 else exc}",
                       code="ECONNRESET", reason="connection reset") from exc

    def write(self, data: bytes | memoryview) -> int:
        """Encrypt some of ``data``; returns how many bytes OpenSSL took (never call with b"":
        a zero-length SSL_write is meaningless and pyOpenSSL treats it as an error)."""
        if self.state is not _OPEN:
            raise refusal("write", self.state)
        if self._attached and self._fd_owner.fileno() != self._fd:  # type: ignore[union-attr]  # set with _attached
            raise self._lose_descriptor()
        ssl = self.conn._ssl
        count: int = _lib.SSL_write(ssl, _ffi.from_buffer(data), len(data))
        if count > 0:
            return count
        try:
            self.conn._raise_ssl_error(ssl, count)
        except (WantRead, WantWrite):
            raise
        except SSL.SysCallError as exc:
            self._move(State.BROKEN)
            raise TLSError(f"write failed: {exc.args[1] if len(exc.args) > 1 else exc}",
                           code="EPIPE", reason="broken pipe") from exc
        except SSL.Error as exc:
            self._move(State.BROKEN)
            raise self.translate(exc, "write") from exc
        raise TLSError("SSL_write failed without an error", code="ERR_SSL_WRITE")

    def pending(self) -> int:
        """Decrypted bytes OpenSSL already holds (drain before waiting: docs/architecture.rst,
        "fact-drain"); 0 when the connection is not open for reading."""
        state = self.state
        if state is not _OPEN and state is not _CLOSING:
            return 0
        return self.conn.pending()

    def renegotiate(self) -> None:
        """TLS 1.2: start a renegotiation (``SSL_renegotiate``); ``renegotiation_step`` drives it."""
        if self.state not in ALLOWED["renegotiate"]:
            raise refusal("renegotiate", self.state)
        if is_tls13(self.conn):
            # Node: ERR_TLS_RENEGOTIATE ("Attempt to renegotiate TLS session failed").
            raise TLSError("TLS 1.3 has no renegotiation (RFC 8446 section 4.6.3 has key update)",
                           code="ERR_TLS_RENEGOTIATE")
        try:
            started = self.conn.renegotiate()
        except SSL.Error as exc:
            self._move(State.BROKEN)
            raise self.translate(exc, "renegotiation") from exc
        if not started:
            raise TLSError("Attempt to renegotiate TLS session failed", code="ERR_TLS_RENEGOTIATE")

    def renegotiation_step(self) -> bytes | None:
        """Advance a renegotiation: None once it is complete, else the application data that
        arrived meanwhile (possibly ``b""``); raises ``WantRead``/``WantWrite`` like any call."""
        if self.state not in ALLOWED["renegotiate"]:
            raise refusal("renegotiate", self.state)
        if self._attached and self._descriptor_lost():
            raise self._lost_error()
        try:
            self.conn.do_handshake()
            if not self.conn.renegotiate_pending():
                return None
            return self.conn.recv(_BIO_CHUNK)  # a server waits here for the client's new hello
        except (WantRead, WantWrite):
            raise
        except SSL.Error as exc:
            self._move(State.BROKEN)
            raise self.translate(exc, "renegotiation") from exc

    def request_client_certificate(self) -> None:
        """Server, TLS 1.3, after the handshake: queue a CertificateRequest (post-handshake
        authentication, RFC 8446 section 4.6.2; ``SSL_verify_client_post_handshake``), with
        the verify settings already on the connection.  ``post_handshake_step`` sends it; the
        client's Certificate, CertificateVerify and Finished are read, and the certificate
        verified, by later reads.  A refusal (not TLS 1.3, no post_handshake_auth extension
        from the client, a request already outstanding) raises ``TLSError`` and leaves the
        connection as it was."""
        if self.state not in ALLOWED["post_handshake_auth"]:
            raise refusal("ask for the client's certificate", self.state)
        ssl = self.conn._ssl
        if _lib.SSL_verify_client_post_handshake(ssl):
            self.verify_error = None  # the verdict to come is the new certificate's
            return
        raise from_openssl(SSL.Error(take_errors()), during="verify_client_post_handshake")

    def post_handshake_step(self) -> None:
        """Write the post-handshake messages OpenSSL queued (a CertificateRequest); raises
        ``WantRead``/``WantWrite`` like any call, ``TLSError`` when the connection failed."""
        if self.state not in ALLOWED["post_handshake_auth"]:
            raise refusal("ask for the client's certificate", self.state)
        if self._attached and self._descriptor_lost():
            raise self._lost_error()
        try:
            self.conn.do_handshake()
        except (WantRead, WantWrite):
            raise
        except SSL.Error as exc:
            self._move(State.BROKEN)
            raise self.translate(exc, "verify_client_post_handshake") from exc

    def keep_session_on_abrupt_close(self) -> None:
        """Server, after the handshake: a peer's TCP close without close_notify reads as a
        clean end, and the session stays resumable.

        Without this OpenSSL 3+ makes such an EOF a fatal error
        (SSL_R_UNEXPECTED_EOF_WHILE_READING), and a fatal error removes the session from the
        server cache (ssl3_send_alert), so a client that just closes its socket (Python's
        ``ssl`` without ``unwrap()``, sslyze, many browsers) could never resume by session id.
        Node never shows OpenSSL the EOF (its memory BIO only retries; TLSWrap ends the stream
        and SSL_shutdown follows), so its sessions survive.  RFC 5246 section 7.2.1 lets a
        session be resumed after an improper close.  Set only once the handshake is done, so
        handshake failures keep OpenSSL's specific codes."""
        if self.state is not _OPEN:
            raise refusal("established", self.state)
        _lib.SSL_set_options(self.conn._ssl, _OP_IGNORE_UNEXPECTED_EOF)

    def export_keying_material(self, label: bytes, length: int, context: bytes | None) -> bytes:
        """RFC 5705 / RFC 8446 section 7.5 keying material; only once the handshake is done."""
        if self.state not in ALLOWED["established"]:
            raise refusal("established", self.state)
        try:
            return bytes(self.conn.export_keying_material(label, length, context))
        except SSL.Error as exc:
            raise self.translate(exc, "export_keying_material") from exc

    def shutdown(self) -> bool:
        """Queue our close_notify (RFC 8446 section 6.1); True when both sides' are done."""
        if self.state in (State.BROKEN, State.CLOSED, State.NEW):
            return True
        if self._attached and self._descriptor_lost():
            return True  # nothing can be sent on a descriptor that is not ours any more
        self._move(State.CLOSING)
        try:
            return bool(self.conn.shutdown())
        except (WantRead, WantWrite):
            raise
        except SSL.Error as exc:
            self.translate(exc, "shutdown")  # keeps the reason for the next read (translate)
            _lib.ERR_clear_error()
            return True

    def close(self) -> None:
        """Forget the connection; OpenSSL's objects are freed with the last reference."""
        if self.state is not State.BROKEN:
            self._move(State.CLOSED)
        self.conn.set_app_data(None)
        self.record = None

    # -- errors ----------------------------------------------------------------------------

    def translate(self, exc: Exception, during: str) -> TLSError:
        """The one place a pyOpenSSL error becomes a ``TLSError`` (docs/architecture.rst, "Errors").

        OpenSSL reports a connection's fatal error once: a later call fails with an empty error
        queue (e.g. a read after SSL_shutdown met the peer's alert), so the first error with a
        reason is kept and given again instead of a reasonless one."""
        if isinstance(exc, SSL.SysCallError):
            detail = exc.args[1] if len(exc.args) > 1 else str(exc)
            if exc.args and exc.args[0] == -1:
                return TLSError("socket hang up: the peer closed the connection during the "
                                f"{during}", code="ECONNRESET", reason="socket hang up")
            return TLSError(f"{during} failed: {detail}", code="ECONNRESET", reason=str(detail))
        if self.hello_refusal is not None:
            return self.hello_refusal
        error = from_openssl(exc, during=during)
        if during == "handshake" and error.code == "ERR_SSL_UNEXPECTED_EOF_WHILE_READING":
            # OpenSSL 3+ met the peer's EOF mid-handshake (reading the descriptor, or a memory
            # BIO after bio_shutdown): Node's code and words for a peer that left.
            error = TLSError(PEER_LEFT_DURING_HANDSHAKE, code="ECONNRESET", reason="socket hang up")
        if error.code == UNKNOWN_SSL_ERROR_CODE:
            return self.first_error or error
        if self.first_error is None:
            self.first_error = error
        return error

    def forget_errors(self) -> None:
        """Let go of the errors kept to be given again (``translate``): a raised error's
        traceback holds the frames that hold this engine's owner.  For a connection that has
        ended and been reported."""
        self.first_error = self.hello_refusal = self.alpn_refusal = None


#: Held while a context carries a traced connection's message callback (``_traced_connection``).
_TRACE_LOCK = _Lock()


def _traced_connection(context: SSL.Context, msg_callback: CData) -> SSL.Connection:
    """A connection that reports its protocol messages to ``msg_callback`` (``_tls/trace.py``).

    The binding has only the context's ``SSL_CTX_set_msg_callback``, which OpenSSL copies into
    a connection when ``SSL_new`` makes it: set for this one creation and cleared at once, it
    reaches this connection only; the others made from the context carry no callback and pay
    nothing per record.  pyOpenSSL refuses to change a context that made a connection, but the
    setter only stores a pointer, read by ``SSL_new`` alone.  The lock keeps OS threads that
    trace from clearing it under each other; a thread that does not trace and makes a
    connection meanwhile gets the callback too, which ignores connections whose record does
    not trace."""
    with _TRACE_LOCK:
        _lib.SSL_CTX_set_msg_callback(context._context, msg_callback)
        try:
            return SSL.Connection(context, None)
        finally:
            _lib.SSL_CTX_set_msg_callback(context._context, _ffi.NULL)


#: ``TLSEngine.hello_decision`` of a server whose ClientHello decisions have not run yet.
HELLO_UNDECIDED = object()

# The states the record path compares against, by identity (no enum hashing per call).
_OPEN = State.OPEN
_CLOSING = State.CLOSING


def is_tls13(conn: SSL.Connection) -> bool:
    """The connection's version is TLS 1.3 (``SSL_version``: one C call, where pyOpenSSL's
    ``get_protocol_version_name`` builds and decodes a string)."""
    version: int = _lib.SSL_version(conn._ssl)
    return version == _TLS1_3_VERSION

