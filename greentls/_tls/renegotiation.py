"""What happens on a connection after (and between) handshakes: renegotiation, its limit,
session tickets and key log lines, noticed through OpenSSL's info callback.

Theory of operation.  OpenSSL calls the info callback on every handshake state change and
alert, never per application record, so it costs nothing on the hot path.  The callback runs
inside OpenSSL (docs/architecture.rst, "fact-callbacks"): it only records (a count, a flag, a
snapshot of the session's DER, which is pure computation) in the connection's ``Watch`` and calls
the ``report`` function the socket gave it, which sets one flag of the socket's.  The
connection's greenlet checks that flag after its reads and handshakes and does the rest there
(``Watch.deliver``): sends the ``session``, ``new_session`` and ``keylog`` signals, and hands back
the renegotiation error the socket then raises, so errors after the handshake are raised by the
handler's next I/O call (docs/guides/security-defaults.rst).

Renegotiation limit, as Node's ``onhandshakestart`` (lib/_tls_wrap.js): the initial handshake is
not counted; each client renegotiation is, and the count starts over at one when
``CLIENT_RENEG_WINDOW`` seconds passed since the previous handshake; the renegotiation that
makes it exceed ``CLIENT_RENEG_LIMIT`` fails the socket with ``ERR_TLS_SESSION_ATTACK`` (so
with the defaults three renegotiations pass and the fourth fails).  Here a gevent timer,
restarted at each renegotiation (started, not waited on, inside the callback: no switch), ends
the window.  OpenSSL 3+ only lets a client renegotiate because the context sets
SSL_OP_ALLOW_CLIENT_RENEGOTIATION (docs/architecture.rst, "fact-renegotiation"); each
renegotiation shows as one ``SSL_CB_HANDSHAKE_START``.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import gevent
from OpenSSL import SSL

from greentls import signals
from greentls._base.errors import RenegotiationError, TLSError
from greentls._config.defaults import DEFAULTS
from greentls._config.record import CallbackRecord
from greentls._config.sessions import current_session_bytes, session_id_from_der
from greentls._engine.engine import is_tls13
from greentls._io.transport import HANDSHAKE, Pump, retry

if TYPE_CHECKING:
    from gevent._types import _TimerWatcher

    from greentls._engine.engine import TLSEngine

__all__ = ["Watch", "refuse_on_tls13", "run_renegotiation", "explain_refusal", "PHA_DISABLED", "NOT_OFFERED"]

_CB_LOOP = SSL.SSL_CB_LOOP
_CB_HANDSHAKE_START = SSL.SSL_CB_HANDSHAKE_START
_CB_HANDSHAKE_DONE = SSL.SSL_CB_HANDSHAKE_DONE
# OpenSSL's state names (ssl/statem/statem_lib.c, SSL_state_string_long).
_CLIENT_READ_TICKET = b"SSLv3/TLS read server session ticket"
_SERVER_WROTE_TICKET = b"SSLv3/TLS write session ticket"
_SERVER_READ_FINISHED = b"SSLv3/TLS read finished"
# SSL_OP_NO_SESSION_RESUMPTION_ON_RENEGOTIATION, SSL_OP_BIT(16) in include/openssl/ssl.h.in;
# not exported by the bindings (like SSL_OP_ALLOW_CLIENT_RENEGOTIATION,
# docs/architecture.rst, "fact-renegotiation").
_OP_NO_SESSION_RESUMPTION_ON_RENEGOTIATION = 0x00010000


def _no_info(_conn: SSL.Connection, _where: int, _ret: int) -> None:
    """The info callback of a connection whose watch ended."""


class Watch(CallbackRecord):
    """The callback record of one connection (``_config/record.py``), with what OpenSSL's info
    callback sees; read only in its greenlet.  The socket makes it, and learns that something
    was recorded through ``report``; the watch itself never touches the socket."""

    __slots__ = ("conn", "is_server", "server", "handshakes", "renegotiations", "window_timer", "limit",
                 "window", "disabled", "error", "tickets_read", "client_sessions", "ticket_pending",
                 "last_session", "hold_session", "server_sessions", "last_state", "in_handshake",
                 "started", "pha_pending", "pha_done", "tracing", "trace_lines", "__weakref__")

    def __init__(self, sender: object, report: Callable[[], None], *, conn: SSL.Connection,
                 is_server: bool, server: object) -> None:
        super().__init__(sender, report)
        #: The connection watched; ``sender`` (the TLSSocket) sends the ``session`` and
        #: ``keylog`` signals, ``server`` (its Server, or None) ``new_session``.
        self.conn = conn
        self.is_server = is_server
        self.server = server
        #: Handshakes started, the initial one included.
        self.handshakes = 0
        #: Client renegotiations in the current window (Node's ``handshakes``).
        self.renegotiations = 0
        self.window_timer: _TimerWatcher | None = None
        # Read when the connection starts (docs/api/constants.rst): users may change them at any time.
        self.limit = DEFAULTS.reneg_limit
        self.window = DEFAULTS.reneg_window
        self.disabled = False
        self.error: TLSError | None = None
        self.tickets_read = 0
        #: Client, TLS 1.3: the session of each ticket, as it was processed.
        self.client_sessions: list[bytes | None] = []
        #: Client, TLS 1.3: a ticket is being read; its session is not taken yet.
        self.ticket_pending = False
        #: Client: the last session sent (a session is announced once).
        self.last_session: bytes | None = None
        self.hold_session = False
        #: Server, TLS 1.3: DER snapshots of the session after each ticket was written.
        self.server_sessions: list[bytes | None] = []
        self.last_state = b""
        #: True while a renegotiation we asked for runs (it is not the peer's doing).
        self.in_handshake = False
        #: True once OpenSSL's info callback is installed (``start``).
        self.started = False
        #: Server, TLS 1.3: a CertificateRequest went out after the handshake and the client's
        #: answer has not been read yet (``post_handshake_auth_requested``).
        self.pha_pending = False
        #: Server: the client's answer was read; the socket judges the new certificate.
        self.pha_done = False
        #: ``enable_trace()``: record a line per protocol message (``_tls/trace.py``).
        self.tracing = False
        #: Trace lines not yet delivered; None until the first.
        self.trace_lines: list[str] | None = None

    def start(self) -> None:
        """Install the info callback on the connection (once).

        pyOpenSSL makes a cffi callback per connection and OpenSSL calls it about 17 times per
        TLS 1.3 handshake, all in Python; so a server installs it only where it is needed
        (``handshake_starts``, ``established``)."""
        if not self.started:
            self.started = True
            self.conn.set_info_callback(self._on_info)

    def end(self) -> None:
        """The connection is closed: also take back the info callback, which the connection
        holds and which holds this watch (a reference cycle otherwise)."""
        super().end()
        if self.started:
            self.conn.set_info_callback(_no_info)

    # -- inside OpenSSL: record only (docs/architecture.rst, "fact-callbacks") ----------------

    def _on_info(self, conn: SSL.Connection, where: int, _ret: int) -> None:
        if where & _CB_HANDSHAKE_START:
            self._on_handshake_start(conn)
        if where & (_CB_LOOP | _CB_HANDSHAKE_DONE):
            self._on_state(conn)

    def _on_handshake_start(self, conn: SSL.Connection) -> None:
        if is_tls13(conn) and self.handshakes:
            return  # post-handshake messages of TLS 1.3 are no renegotiation
        self.handshakes += 1
        if self.handshakes == 1 or self.in_handshake:
            return
        if self.disabled:
            self._fail(RenegotiationError("TLS session renegotiation disabled for this socket",
                                          code="ERR_TLS_RENEGOTIATION_DISABLED"))
        elif self.is_server:
            self._count_client_renegotiation()

    def _count_client_renegotiation(self) -> None:
        # Node's onhandshakestart: a renegotiation that starts CLIENT_RENEG_WINDOW seconds or
        # more after the previous handshake counts as the first again; the one that makes the
        # count exceed CLIENT_RENEG_LIMIT fails.  The window is a gevent timer restarted at
        # each renegotiation (started, not waited on: no switch inside OpenSSL).
        self.renegotiations += 1
        if self.window_timer is not None:
            self.window_timer.close()
        self.window_timer = gevent.get_hub().loop.timer(self.window)
        self.window_timer.start(self._end_window)
        if self.renegotiations > self.limit:
            self._fail(RenegotiationError("TLS session renegotiation attack detected",
                                          code="ERR_TLS_SESSION_ATTACK"))

    def _end_window(self) -> None:
        assert self.window_timer is not None  # the timer that fired (close() stops it first)
        self.window_timer.close()
        self.window_timer = None
        self.renegotiations = 0

    def _on_state(self, conn: SSL.Connection) -> None:
        state = conn.get_state_string()
        if self.pha_pending and state == _SERVER_READ_FINISHED:
            # The client's Certificate (and CertificateVerify) were processed, its Finished
            # read: the post-handshake authentication is over (OpenSSL sends no
            # SSL_CB_HANDSHAKE_DONE for it).
            self.pha_pending = False
            self.pha_done = True
            self.report()
        # The ticket's session (with its fresh id) was built while writing it; OpenSSL's
        # ssl_update_cache calls Node's newSession once per TLS 1.3 ticket.
        if self.last_state == _SERVER_WROTE_TICKET and is_tls13(conn) \
                and signals.has_receivers(signals.new_session, self.server):
            self.server_sessions.append(current_session_bytes(conn))
            self.report()
        if self.last_state == _CLIENT_READ_TICKET and is_tls13(conn):
            # Leaving the state: the ticket was processed and its session replaced s->session
            # (tls_process_new_session_ticket); the next ticket would replace it in turn, so keep
            # each one, as Node emits 'session' per ticket.  (TLS 1.2: initial_handshake_done.)
            self.client_sessions.append(current_session_bytes(conn))
            self.ticket_pending = False
            self.report()
        if state == _CLIENT_READ_TICKET and is_tls13(conn):
            # Entering the state: OpenSSL may stop for more bytes before processing the ticket,
            # and no callback follows the last one; deliver looks at the session after.
            self.ticket_pending = True
            self.report()
        self.last_state = state

    def add_trace_line(self, line: str) -> None:
        """Inside OpenSSL (the message callback): keep a trace line for the greenlet."""
        if not self.tracing:
            return  # a connection made while another was being traced (engine.py)
        if self.trace_lines is None:
            self.trace_lines = [line]
        else:
            self.trace_lines.append(line)
        self.report()

    def _fail(self, error: TLSError) -> None:
        if self.error is None:
            self.error = error
        self.report()

    # -- in the connection's greenlet -----------------------------------------------------------

    def close(self) -> None:
        """Stop the window timer (the connection ended)."""
        if self.window_timer is not None:
            self.window_timer.close()
            self.window_timer = None

    def post_handshake_auth_requested(self) -> None:
        """Server: a CertificateRequest is on its way after the TLS 1.3 handshake; watch for
        the end of the client's answer (``_on_state``)."""
        self.pha_pending = True
        self.pha_done = False
        self.start()

    def awaiting_answer(self) -> bool:
        """Server: a post-handshake CertificateRequest is out, its answer not read yet."""
        return self.pha_pending

    def handshake_starts(self) -> None:
        """The handshake starts: install the info callback if anything must be seen during it.

        A client always watches (tickets, the server's renegotiation requests).  A server needs
        it during the handshake only to snapshot the session of each TLS 1.3 ticket it writes
        for the ``new_session`` signal; otherwise ``established`` decides."""
        if not self.is_server or signals.has_receivers(signals.new_session, self.server):
            self.start()

    def established(self) -> None:
        """The initial handshake is done; called before any application data is read.

        TLS 1.3 has no renegotiation (RFC 8446 section 4.1.2: a ClientHello after the handshake
        is an unexpected_message), so a TLS 1.3 server needs no callback; a TLS 1.2 server
        starts watching now; the initial handshake is the one it did not see."""
        if self.started:
            return
        if not is_tls13(self.conn):
            self.handshakes = 1
            self.start()

    def initial_handshake_done(self, session_reused: Callable[[], bool]) -> None:
        """The initial handshake finished: record the TLS 1.2 session for announcing (TLS 1.3
        tickets come in their own messages and are recorded as they are written or read);
        ``session_reused`` is the socket's ``is_session_reused``, asked only for TLS 1.2."""
        conn = self.conn
        if not is_tls13(conn) and not session_reused():
            if self.is_server:
                if signals.has_receivers(signals.new_session, self.server):
                    self.server_sessions.append(current_session_bytes(conn))
                    self.report()
            else:
                self.tickets_read += 1
                self.report()
        if not self.is_server:
            # connect() returns only after the handshake, so a receiver for this very socket
            # can only be connected afterwards: hold a session nobody heard until the first read.
            self.hold_session = True

    def deliver_trace(self) -> None:
        """In the connection's greenlet: hand the trace lines recorded so far to the ``trace``
        receivers of the socket, or, with none, write them to standard error (as Node)."""
        lines, self.trace_lines = self.trace_lines, None
        if not lines:
            return
        if signals.has_receivers(signals.trace, self.sender):
            for line in lines:
                signals.trace.send(self.sender, line=line)
            return
        import sys
        sys.stderr.write("".join(line + "\n" for line in lines))

    def deliver(self) -> TLSError | None:
        """In the connection's greenlet, after ``report``: send the signals for what the
        callbacks recorded (module docstring); returns the error that must fail the socket."""
        if self.trace_lines is not None:
            self.deliver_trace()
        for line in self.take_keylog_lines():
            signals.keylog.send(self.sender, line=line)
        sessions, self.server_sessions = self.server_sessions, []
        for der in sessions:
            # OpenSSL's ssl_update_cache skips sessions without an id (a TLS 1.2 server that
            # issues a ticket sends none), so Node's newSession never hears them either.
            if der and session_id_from_der(der):
                signals.new_session.send(self.server, session_id=session_id_from_der(der), session_data=der)
        if self.tickets_read or self.client_sessions:
            self._deliver_client_sessions()
        return self.error

    def _deliver_client_sessions(self) -> None:
        """Send the ``session`` signal once per session that arrived (Node: once per ticket)."""
        held, self.tickets_read = self.tickets_read, 0
        arrived, self.client_sessions = self.client_sessions, []
        if held:  # TLS 1.2: the handshake's own session
            arrived.append(current_session_bytes(self.conn))
        if self.ticket_pending:
            current = current_session_bytes(self.conn)
            if current != (arrived[-1] if arrived else self.last_session):
                arrived.append(current)
                self.ticket_pending = False
            else:
                self.report()  # not processed yet: look again after the next read
        if not signals.has_receivers(signals.session, self.sender):
            if self.hold_session:  # keep them for a receiver connected after connect()
                self.client_sessions = arrived
                self.report()
            elif arrived:
                self.last_session = arrived[-1]
            self.hold_session = False
            return
        self.hold_session = False
        for der in arrived:
            if der and der != self.last_session:
                self.last_session = der
                signals.session.send(self.sender, session=der)


#: ``verify_client_post_handshake`` on a server whose context was not built with
#: ``post_handshake_auth=True`` (as ``ERR_TLS_RENEGOTIATION_DISABLED`` names a refused
#: renegotiation).
PHA_DISABLED = "ERR_TLS_POST_HANDSHAKE_AUTH_DISABLED"
#: OpenSSL's refusal when the client sent no post_handshake_auth extension
#: (SSL_R_EXTENSION_NOT_RECEIVED, translated as every OpenSSL reason is).
NOT_OFFERED = "ERR_SSL_EXTENSION_NOT_RECEIVED"

#: What OpenSSL's refusals of SSL_verify_client_post_handshake mean, in the user's terms.
_PHA_REFUSALS = {
    NOT_OFFERED: "the client did not offer post-handshake authentication (its ClientHello has no "
                 "post_handshake_auth extension; a greentls client offers it with "
                 "post_handshake_auth=True, openssl s_client with -enable_pha)",
    "ERR_SSL_REQUEST_SENT": "a certificate request is already out and the client's answer has not "
                            "been read yet (the next read takes it)",
    "ERR_SSL_REQUEST_PENDING": "a certificate request is already waiting to be sent",
    "ERR_SSL_INVALID_CONFIG": "the connection's verify mode does not ask for a certificate",
}


def explain_refusal(error: TLSError) -> TLSError:
    """OpenSSL's refusal of a post-handshake CertificateRequest (already translated), with a
    message that says what it means; same code and reason."""
    meaning = _PHA_REFUSALS.get(error.code)
    if meaning is None:
        return error
    return TLSError(f"verify_client_post_handshake: {meaning}", code=error.code, reason=error.reason)


def refuse_on_tls13(conn: SSL.Connection) -> None:
    """``renegotiate()`` on a TLS 1.3 connection: Node's ``ERR_TLS_RENEGOTIATE``."""
    if is_tls13(conn):
        # Node: ERR_TLS_RENEGOTIATE ("Attempt to renegotiate TLS session failed").
        raise TLSError("TLS 1.3 has no renegotiation (RFC 8446 section 4.6.3 has key update)",
                       code="ERR_TLS_RENEGOTIATE")


def run_renegotiation(engine: TLSEngine, pump: Pump, watch: Watch, full: bool) -> bytes:
    """Run a TLS 1.2 renegotiation to completion from either side (RFC 5246 section 7.4.1.1,
    RFC 5746), blocking this greenlet, with the verify settings already on the connection;
    ``full`` refuses resumption (a server asking for a client certificate).  Returns the
    application data that arrived meanwhile, for the next read."""
    if full:
        # A resumed (abbreviated) handshake sends no CertificateRequest: make this one full
        # (OpenSSL honours the option for a renegotiation SSL_renegotiate started).
        engine.conn.set_options(_OP_NO_SESSION_RESUMPTION_ON_RENEGOTIATION)
    chunks: list[bytes] = []
    watch.in_handshake = True
    try:
        engine.renegotiate()
        # Until OpenSSL no longer has one pending.
        while True:
            data = retry(pump, HANDSHAKE, engine.renegotiation_step)
            if data is None:
                break
            if data:
                chunks.append(data)
    finally:
        watch.in_handshake = False
    return b"".join(chunks)
