"""``Server``: accept TLS connections, one greenlet each (Node's ``tls.Server``).

Built on gevent's ``StreamServer`` for accepting (its accept loop already backs off on EMFILE and
friends: ``BaseServer._do_read`` pauses accepting from ``min_delay`` up to ``max_delay``), but
never with its ``ssl_args``, which have no handshake timeout (docs/architecture.rst,
"fact-gevent-ssl-args").  Each connection runs ``_serve_connection`` in its own greenlet: handshake
under a gevent timer, then the ``secure_connection`` receivers, then the listener, then always a
clean close (gevent's handler-then-close rule).  A peer's fault is remote: it becomes
``tls_client_error`` and the server serves on (docs/architecture.rst, "One server connection").
"""
from __future__ import annotations

import errno
import logging
import os
import socket as _stdlib_socket
from collections.abc import Callable
from time import monotonic
from typing import TYPE_CHECKING, Any, cast

import gevent
from gevent import socket as gsocket
from gevent.event import Event
from gevent.pool import Pool
from gevent.server import StreamServer

from greentls import signals
from greentls._base.capabilities import REASONS, capabilities
from greentls._base.errors import PEER_LEFT_DURING_HANDSHAKE, HandshakeTimeoutError, TLSError, UnsupportedError
from greentls._config.context import SecureContext
from greentls._config.options import (
    CONTEXT_OPTIONS,
    SERVER_OPTIONS,
    Options,
    check_bool,
    check_seconds,
    normalize_alpn,
    reject_unknown,
    split_options,
)
from greentls._config.psk import install_server as install_psk_server, server_key
from greentls._config.sessions import apply_session_timeout
from greentls._io.proxy import ProxyPolicy
from greentls._net.greenlets import MAX_IDLE, GreenletRecycler
from greentls._net.hubcall import call_in_hub, is_foreign
from greentls._net.sni import ContextCache, SNITable, context_from_answer
from greentls._net.stats import Stats
from greentls._tls.inspect import address_dict
from greentls._tls.policy import HelloPolicy
from greentls._tls.socket import TLSSocket

if TYPE_CHECKING:
    from gevent._types import _TimerWatcher
    from greenlet import greenlet

    from greentls._net.workers import Counts, Supervisor
    from greentls._parse.clienthello import ClientHello

__all__ = ["Server", "create_server"]

log = logging.getLogger("greentls")

#: Node's default listen backlog (lib/net.js ``backlog = 511``).
DEFAULT_BACKLOG = 511


#: ``proxy_allow_from``'s default: balancers on this machine only.
DEFAULT_PROXY_ALLOW_FROM = ("127.0.0.1", "::1")


class Server:
    """A TLS server (Node's ``tls.Server``); ``create_server`` returns one.

    ``secure_connection_listener(tls_socket)`` is each connection's handler: it runs in the
    connection's greenlet after the ``secure_connection`` receivers; when it returns the
    connection is closed cleanly.

    Robustness bounds: ``handshake_timeout`` (seconds, default 120) closes a connection whose
    handshake has not finished and sends ``tls_client_error`` (``ERR_TLS_HANDSHAKE_TIMEOUT``);
    ``idle_timeout`` (seconds, default None) is set as the connection's socket timeout after the
    handshake, so a handler's ``recv``/``sendall`` raises ``socket.timeout`` when the peer has
    been silent that long, and the connection is closed; ``max_connections`` caps concurrent
    connections (a gevent ``Pool``: accepting pauses while it is full).

    Behind a load balancer, ``proxy_protocol=True`` makes every connection from an address in
    ``proxy_allow_from`` (IPs or CIDR blocks; default this machine's loopback addresses) begin
    with a PROXY protocol header (v1 or v2), read under ``handshake_timeout`` before the
    ClientHello; the socket's ``remote_address``/``remote_port``/``remote_family`` are then the
    client's and ``tls_socket.proxy`` the balancer's.  A connection from elsewhere, or whose
    header is missing, malformed or too large, fails with ``ERR_PROXY_PROTOCOL``.

    Without ``max_connections``, a connection's greenlet parks when its connection ends and
    serves a later one (``_net/greenlets.py``): each connection runs in a fresh ``contextvars``
    context, and a greenlet that used a ``gevent.local`` is never reused, but state a handler
    keys by greenlet identity itself (``id(getcurrent())``, a ``gevent.Timeout`` it started and
    never cancelled) outlives its connection.  Set ``max_idle_greenlets = 0`` (on the class or
    the instance, before ``listen``) for a new greenlet per connection.
    """

    #: Greenlets parked for reuse at most (0: a new greenlet for every connection).
    max_idle_greenlets: int = MAX_IDLE
    #: Seconds each worker of ``serve_forever(workers=N)`` lets its connections drain when it
    #: stops; None: ``_net/workers.py``'s ``DRAIN_TIMEOUT`` (the tests shorten it).
    _drain_timeout: float | None = None

    def __init__(self, secure_connection_listener: Callable[[TLSSocket], Any] | None = None,
                 **options: Any) -> None:
        reject_unknown(options, CONTEXT_OPTIONS | SERVER_OPTIONS, "create_server")
        if secure_connection_listener is not None and not callable(secure_connection_listener):
            raise TypeError("secure_connection_listener must be callable")
        self._listener_fn = secure_connection_listener
        secure_context = options.get("secure_context")
        if secure_context is not None and not isinstance(secure_context, SecureContext):
            raise TypeError("option 'secure_context' must be a greentls.SecureContext")
        self._default_context = secure_context or SecureContext(**split_options(options, CONTEXT_OPTIONS))
        self.handshake_timeout = check_seconds("handshake_timeout", options.get("handshake_timeout", 120.0))
        self.idle_timeout = check_seconds("idle_timeout", options.get("idle_timeout"), allow_none=True)
        self.request_cert = check_bool("request_cert", options.get("request_cert", False))
        self.reject_unauthorized = check_bool("reject_unauthorized", options.get("reject_unauthorized", True))
        self.alpn_protocols = normalize_alpn("alpn_protocols", options.get("alpn_protocols"))
        #: Node's ``ALPNCallback``: ``(servername, protocols) -> str | None``, asked in the
        #: connection's greenlet for each hello that offers ALPN (``ServerHelloPolicy``).
        self.alpn_callback: Callable[[str | None, list[str]], str | None] | None = options.get("alpn_callback")
        if self.alpn_callback is not None:
            if not callable(self.alpn_callback):
                raise TypeError("option 'alpn_callback' must be callable")
            if options.get("alpn_protocols") is not None:
                # Node: ERR_TLS_ALPN_CALLBACK_WITH_PROTOCOLS, a TypeError.
                raise TypeError("options 'alpn_callback' and 'alpn_protocols' are mutually exclusive "
                                "(ERR_TLS_ALPN_CALLBACK_WITH_PROTOCOLS): the callback chooses among "
                                "the client's protocols itself")
        #: Node's ``enableTrace`` server option: every connection is traced from its first
        #: message (``TLSSocket.enable_trace``).
        self.enable_trace = check_bool("enable_trace", options.get("enable_trace", False))
        self.sni_callback = options.get("sni_callback")
        if self.sni_callback is not None and not callable(self.sni_callback):
            raise TypeError("option 'sni_callback' must be callable")
        self.max_connections = options.get("max_connections")
        if self.max_connections is not None and (isinstance(self.max_connections, bool) or
                                                 not isinstance(self.max_connections, int) or
                                                 self.max_connections < 1):
            raise ValueError("option 'max_connections' must be a positive int")
        if options.get("ticket_keys") is not None:
            self.set_ticket_keys(options["ticket_keys"])
        #: Node's ``pskCallback``: ``(tls_socket, identity) -> bytes | None``, asked in the
        #: connection's greenlet before OpenSSL needs the key (``_tls/psk.py``).
        self.psk_callback: Callable[[TLSSocket, str], Any] | None = options.get("psk_callback")
        if self.psk_callback is not None and not callable(self.psk_callback):
            raise TypeError("option 'psk_callback' must be callable")
        if self.psk_callback is not None and not capabilities["psk"]:
            raise UnsupportedError("psk_callback: " + REASONS["psk"])
        #: Node's ``pskIdentityHint``: sent in a TLS 1.2 PSK ServerKeyExchange.
        self.psk_identity_hint: str | None = options.get("psk_identity_hint")
        if self.psk_identity_hint is not None:
            if not isinstance(self.psk_identity_hint, str):
                raise TypeError("option 'psk_identity_hint' must be a str")
            if self.psk_callback is None:
                raise ValueError("option 'psk_identity_hint' needs a psk_callback")
        self.proxy_protocol = check_bool("proxy_protocol", options.get("proxy_protocol", False))
        if "proxy_allow_from" in options and not self.proxy_protocol:
            raise ValueError("option 'proxy_allow_from' needs proxy_protocol=True")
        #: Who must send a PROXY protocol header first (``_io/proxy.py``); None: nobody.
        self.proxy_policy: ProxyPolicy | None = ProxyPolicy(
            options.get("proxy_allow_from", DEFAULT_PROXY_ALLOW_FROM)) if self.proxy_protocol else None
        self.session_timeout = check_seconds("session_timeout", options.get("session_timeout"), allow_none=True)
        apply_session_timeout(self._default_context, self.session_timeout,
                              explicit=self.session_timeout is not None)
        self._prepare_context(self._default_context)
        self._sni = SNITable()
        #: Contexts built from dict answers of sni_callback/add_context, per server (_net/sni.py).
        self._answer_contexts = ContextCache()
        #: The decisions this server makes on each ClientHello (SNI, OCSP), which its
        #: connections' sockets ask for (``ServerHelloPolicy``).
        self.hello_policy: HelloPolicy = ServerHelloPolicy(self)
        self._connections: dict[TLSSocket, greenlet] = {}
        #: Connections whose greenlet has not finished with them: a receiver may go on after
        #: its socket closed, which ``_connections`` (the open ones) no longer counts.
        #: ``_all_ended`` (serve_forever, close callbacks, stop) waits for these.
        self._serving: dict[TLSSocket, greenlet] = {}
        self._stream_server: StreamServer | None = None
        self._hub: Any = None
        #: The ``max_connections`` pool, if any (its slots are freed as sockets close).
        self._pool: Pool | None = None
        self._recycler: GreenletRecycler | None = None
        self._listen_socket: gsocket.socket | None = None
        self._unix_path: str | None = None
        self._closed = False
        #: Set while the server is closed (``close``), cleared by ``listen``.
        self._closed_event = Event()
        self._all_ended = Event()
        self._all_ended.set()
        self._close_callbacks: list[Callable[[], Any]] = []
        # serve_forever(workers=N) (_net/workers.py): the parent's Supervisor; in a worker, the
        # shared-memory counter array and this worker's slot in it.
        self._workers: Supervisor | None = None
        self._count_slot: tuple[Counts, int] | None = None
        #: What stats() reports (_net/stats.py).
        self._stats = Stats()

    # -- listening --------------------------------------------------------------------------

    def listen(self, port: int | None = 0, host: str | None = None, backlog: int | None = None,
               *, path: str | None = None,
               sock: _stdlib_socket.socket | gsocket.socket | None = None) -> Server:
        """Bind (TCP, or a Unix socket at ``path``) and accept in the background; returns self.

        ``sock`` is an already bound stream socket to accept on instead (Node's
        ``server.listen(handle)``), such as one that a process manager like gunicorn hands its
        workers; the server takes it over and closes it when it closes.
        """
        if self._stream_server is not None:
            raise TLSError("the server is already listening", code="ERR_SERVER_ALREADY_LISTEN")
        self._check_session_capabilities()
        backlog = DEFAULT_BACKLOG if backlog is None else backlog
        if sock is not None:
            if port or host is not None or path is not None:
                raise ValueError("listen(): give 'sock' or an address ('port', 'host', 'path'), not both")
            sock = self._adopt(sock)
        else:
            sock = self._bind_unix(path) if path is not None else self._bind_tcp(port or 0, host)
        sock.listen(backlog)
        self._listen_socket = sock
        # A Pool when connections are capped (accepting pauses while it is full), else parked
        # greenlets serve new connections (_net/greenlets.py: 9 % of a short connection's CPU).
        if self.max_connections:
            self._pool = Pool(self.max_connections)
            spawn: Any = self._pool
        else:
            spawn = self._recycler = GreenletRecycler(self.max_idle_greenlets)
        self._stream_server = StreamServer(sock, self._serve_connection, spawn=spawn)
        self._hub = gevent.get_hub()  # whose thread close() and stop() run in (_net/hubcall.py)
        self._closed = False
        self._closed_event.clear()
        self._stream_server.start()
        return self

    @staticmethod
    def _adopt(sock: object) -> gsocket.socket:
        if not isinstance(sock, (_stdlib_socket.socket, gsocket.socket)):
            raise TypeError(f"listen(): 'sock' must be a socket.socket, got {type(sock).__name__}")
        if sock.type != _stdlib_socket.SOCK_STREAM:
            raise ValueError("listen(): 'sock' must be a stream (SOCK_STREAM) socket")
        if type(sock).__module__.startswith("gevent"):
            return sock
        # A stdlib socket would block the hub: take its descriptor over into a gevent socket.
        return gsocket.socket(sock.family, sock.type, sock.proto, fileno=sock.detach())

    def _check_session_capabilities(self) -> None:
        if not capabilities["external_session_cache"] and signals.has_receivers(signals.resume_session, self):
            raise UnsupportedError("resume_session has receivers for this server, but "
                                   + REASONS["external_session_cache"])

    @staticmethod
    def _bind_tcp(port: int, host: str | None) -> gsocket.socket:
        if not isinstance(port, int) or isinstance(port, bool) or not 0 <= port <= 65535:
            raise ValueError(f"option 'port' must be an int in 0..65535, got {port!r}")
        address: tuple[Any, ...]
        if host is None:
            family, address = (_stdlib_socket.AF_INET6, ("::", port)) if _stdlib_socket.has_ipv6 \
                else (_stdlib_socket.AF_INET, ("0.0.0.0", port))
        else:
            info = _stdlib_socket.getaddrinfo(host, port, 0, _stdlib_socket.SOCK_STREAM)[0]
            family, address = info[0], info[4]
        sock = gsocket.socket(family, _stdlib_socket.SOCK_STREAM)
        sock.setsockopt(_stdlib_socket.SOL_SOCKET, _stdlib_socket.SO_REUSEADDR, 1)
        # Accepted sockets inherit TCP_NODELAY on Linux; every anchor server sets it (bench/).
        sock.setsockopt(_stdlib_socket.IPPROTO_TCP, _stdlib_socket.TCP_NODELAY, 1)
        if family == _stdlib_socket.AF_INET6 and host is None:
            sock.setsockopt(_stdlib_socket.IPPROTO_IPV6, _stdlib_socket.IPV6_V6ONLY, 0)
        try:
            sock.bind(address)
        except OSError:
            sock.close()
            raise
        return sock

    def _bind_unix(self, path: str) -> gsocket.socket:
        path = os.fspath(path)
        sock = gsocket.socket(_stdlib_socket.AF_UNIX, _stdlib_socket.SOCK_STREAM)
        try:
            sock.bind(path)
        except OSError:
            sock.close()
            raise
        self._unix_path = path
        return sock

    def address(self) -> Any:
        """``{"address", "family", "port"}`` for TCP, the path for a Unix socket; None before listen."""
        if self._listen_socket is None:
            return None
        if self._unix_path is not None:
            return self._unix_path
        return address_dict(self._listen_socket.getsockname(), self._listen_socket)

    @property
    def listening(self) -> bool:
        """True while accepting connections."""
        return self._stream_server is not None and not self._closed

    # -- one connection ---------------------------------------------------------------------

    def _serve_connection(self, sock: gsocket.socket, address: object) -> None:
        """Runs in the connection's greenlet: handshake, receivers, listener, clean close."""
        started = monotonic()
        tls = TLSSocket(sock, is_server=True, server=self, request_cert=self.request_cert,
                        reject_unauthorized=self.reject_unauthorized, alpn_protocols=self.alpn_protocols,
                        hello_policy=self.hello_policy, secure_context=self._default_context,
                        proxy_policy=self.proxy_policy, enable_trace=self.enable_trace)
        if isinstance(address, tuple):  # accept() named the peer: no getpeername() later
            tls._accepted_from(address)
        self._connections[tls] = gevent.getcurrent()
        self._serving[tls] = gevent.getcurrent()
        self._all_ended.clear()
        self._publish_count()
        stats = self._stats
        try:
            error = self._handshake(tls, sock)
            if error is None:
                stats.handshake(tls.get_protocol(), tls.is_session_reused(), monotonic() - started)
                self._run_handlers(tls, address)
        finally:
            tls._close_owned()  # counted out (_socket_closed) unless a handler closed it first
            self._served(tls)
        if error is not None:
            self._client_error(tls, error, address)
            # The error's traceback holds the handshake's frames, and through them this one:
            # neither this frame nor the socket (which kept its error for a second
            # do_handshake()) may keep the error, so that reference counting, not the
            # collector, frees a refused client.  Receivers are handed the error itself.
            tls._release_error()
            error = None

    def _handshake(self, tls: TLSSocket, sock: gsocket.socket) -> BaseException | None:
        """Run the handshake under ``handshake_timeout``; returns the client's error, or None.

        The timer raises ``_HandshakeExpired``, a ``BaseException``, and shuts the socket down:
        an ``sni_callback`` or ``ocsp_request`` receiver that catches ``Exception`` (or even
        swallows the expiry) cannot keep the handshake alive, since every later read then
        meets the end of the stream.  It becomes ``HandshakeTimeoutError`` only here."""
        deadline = _Deadline(self.handshake_timeout, sock)
        try:
            tls.do_handshake()
        except _HandshakeExpired:
            pass
        except Exception as exc:
            if not deadline.expired:
                # Returned from the except clause, so that this frame (which the traceback
                # keeps) holds no reference to it: no cycle per failed handshake.
                return exc
        finally:
            deadline.cancel()
        return HandshakeTimeoutError("TLS handshake timeout") if deadline.expired else None

    def _client_error(self, tls: TLSSocket, exc: BaseException, address: object = None) -> None:
        """Report a failed handshake, after its socket was closed and counted out.

        The receivers run in a greenlet of their own, outside the ``max_connections`` pool: one
        that blocks holds neither a slot nor a descriptor, and ``stop()`` does not wait for it."""
        error = exc if isinstance(exc, TLSError) else _remote_error(exc)
        self._stats.client_error(getattr(error, "code", None))
        if signals.has_receivers(signals.tls_client_error, self):
            gevent.spawn(self._send_client_error, tls, error)
        else:
            log.debug("TLS client error from %s: %s (%s)", _peer(address), error, getattr(error, "code", None))

    def _send_client_error(self, tls: TLSSocket, error: TLSError) -> None:
        try:
            signals.tls_client_error.send(self, exception=error, tls_socket=tls)
        except Exception:
            log.exception("a tls_client_error receiver raised")

    def _run_handlers(self, tls: TLSSocket, address: object = None) -> None:
        if self.idle_timeout:
            # idle_timeout: each read or write of the handler waits at most this long for the
            # peer, then raises socket.timeout (TimeoutError) and the connection is closed
            # (Node's server.timeout / socket.setTimeout, but enforced rather than advisory).
            # A handler may call tls.settimeout() itself to change it.
            tls.settimeout(self.idle_timeout)
        try:
            if signals.has_receivers(signals.secure_connection, self):
                signals.secure_connection.send(self, tls_socket=tls)
            if self._listener_fn is not None:
                self._listener_fn(tls)
        except (TLSError, OSError) as exc:
            log.debug("connection from %s ended: %s", _peer(address), exc)
        except Exception:
            log.exception("a secure_connection handler raised; closing the connection from %s",
                          _peer(address))

    def _prepare_context(self, context: SecureContext) -> None:
        """Build the OpenSSL context this server's connections will use with ``context`` now,
        not on the first connection: workers forked later then share its session cache and
        ticket keys (docs/architecture.rst, "fact-ticket-keys-fork")."""
        built = context.server_context(self.request_cert, self.reject_unauthorized)
        if self.psk_callback is not None:
            install_psk_server(built, self.psk_identity_hint)

    def _publish_count(self) -> None:
        if self._count_slot is not None:     # a worker: tell the parent (_net/workers.py)
            counts, slot = self._count_slot
            counts[slot] = len(self._connections)

    def _socket_closed(self, tls: TLSSocket) -> None:
        """A connection's socket closed, by the server or by a receiver or listener that may
        go on running (one that blocks): from now on it is not counted, and its
        ``max_connections`` slot is free (its greenlet leaves the pool early).  A close from
        another OS thread is counted in the server's."""
        if is_foreign(self._hub):
            self._hub.loop.run_callback_threadsafe(self._socket_closed, tls)
            return
        if tls not in self._connections:  # a TLSSocket(server=...) made by hand: not ours
            return
        self._stats.transferred(*(tls._wire or (0, 0)))
        greenlet = self._connections.pop(tls)
        if self._pool is not None and greenlet in self._pool.greenlets:  # once: the pool's own
            self._pool.discard(greenlet)  # link would release the slot again at its end
        self._publish_count()

    def _served(self, tls: TLSSocket) -> None:
        """The connection's greenlet is done with it (its socket is closed by now)."""
        self._serving.pop(tls, None)
        if not self._serving:
            self._all_ended.set()
            if self._closed:
                self._run_close_callbacks()

    # -- closing ----------------------------------------------------------------------------

    def close(self, callback: Callable[[], Any] | None = None) -> Server:
        """Stop accepting now; ``callback()`` runs when the last connection has ended.  From
        another OS thread, it runs in the server's thread, and returns when it has."""
        if is_foreign(self._hub) and not (self._closed and not self._serving):
            return call_in_hub(self._hub, self.close, callback)
        if callback is not None:
            self._close_callbacks.append(callback)
        if not self._closed:
            self._closed = True
            self._closed_event.set()
            if self._stream_server is not None:
                self._stream_server.close()
            if self._recycler is not None:
                self._recycler.release()
            if self._unix_path is not None:
                try:
                    os.unlink(self._unix_path)
                except OSError:
                    pass
        if not self._serving:
            self._all_ended.set()
            self._run_close_callbacks()
        return self

    def _run_close_callbacks(self) -> None:
        callbacks, self._close_callbacks = self._close_callbacks, []
        for callback in callbacks:
            try:
                callback()
            except Exception:
                log.exception("a close callback raised")

    def stop(self, timeout: float | None = None) -> None:
        """Close, wait up to ``timeout`` seconds for connections to end, then close the rest
        (close_notify where the handshake finished) and end their greenlets.  From another OS
        thread, it runs in the server's thread while the calling thread waits."""
        if is_foreign(self._hub) and not (self._closed and not self._serving):
            return call_in_hub(self._hub, self.stop, timeout)
        self.close()
        self._all_ended.wait(timeout)
        for tls, greenlet in list(self._serving.items()):
            # Close now, even if a makefile() file still holds the socket (pywsgi's rfile): a
            # greenlet blocked reading it then wakes to an error, where a kill alone can be
            # swallowed (pywsgi turns any exception of the application into a 500).  A
            # receiver that closed its socket and went on is ended too.
            tls._close_owned()
            gevent.kill(greenlet)  # a gevent Greenlet (Pool) or a recycled raw greenlet
        self._all_ended.wait(1.0)

    def serve_forever(self, workers: int = 1) -> None:
        """Listen if needed, then block until the server is closed and its last connection ended.

        ``workers > 1`` forks that many worker processes that accept on the shared socket."""
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ValueError("serve_forever: 'workers' must be a positive int")
        if self._stream_server is None:
            self.listen()
        if workers > 1:
            from greentls._net.workers import serve_with_workers
            serve_with_workers(self, workers, drain_timeout=self._drain_timeout)
            return
        while True:
            self._closed_event.wait()
            if not self._serving:
                return
            self._all_ended.wait()  # then look again: listen() may have opened it anew

    # -- for serve_forever(workers=N): what _net/workers.py asks of its server --------------

    def _accept_loop(self) -> StreamServer:
        """The accept loop ``listen`` made, which the workers share; raises before ``listen``."""
        if self._stream_server is None:
            raise RuntimeError("serve_forever(workers=N) on a server that is not listening")
        return self._stream_server

    def _supervised_by(self, supervisor: Supervisor | None) -> None:
        """The parent: ``supervisor`` runs the workers (None: no longer), and
        ``get_connections()`` and ``set_secure_context()`` go through it.  When it ends, the
        workers' counts become the server's own, so ``stats()`` keeps them."""
        if supervisor is None and self._workers is not None:
            self._stats = self._totals(self._workers)
        self._workers = supervisor

    def _become_worker(self, counts: Counts, slot: int) -> Stats:
        """A forked worker: publish its open connections in ``counts[slot]`` for the parent;
        it has no supervisor of its own, and leaves a Unix socket's path to the parent.
        Returns the worker's own, fresh, counts, which it publishes (``_net/stats.py``)."""
        self._workers = None
        self._count_slot = (counts, slot)
        self._unix_path = None
        self._stats = Stats()
        return self._stats

    # -- connections and contexts ----------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        """What this server counted since it started, for operators: ``connections`` (open),
        ``handshakes`` (``{protocol: {"full": n, "resumed": n}}``), ``client_errors``
        (``{code: n}``), ``handshake_seconds`` (``{"buckets": {upper_bound: cumulative count},
        "sum": seconds, "count": n}``, the last bound ``math.inf``), and ``bytes_in`` /
        ``bytes_out`` (TCP bytes of connections that ended, as the kernel counted them; 0 on
        Unix sockets).  With ``serve_forever(workers=N)`` the parent's are its workers' sums,
        at most half a second old (``_net/stats.py``)."""
        if self._workers is not None and self._workers.in_parent():
            return self._totals(self._workers).report(self.get_connections())
        return self._stats.report(len(self._connections))

    def _totals(self, supervisor: Supervisor) -> Stats:
        """The workers' counts and the parent's own (what it served before it forked them)."""
        total = supervisor.total_stats()
        total.add(self._stats.raw())
        return total

    def get_connections(self) -> int:
        """Open connections (handshaking or established); with workers, the parent sums them."""
        if self._workers is not None and self._workers.in_parent():
            return self._workers.total_connections()
        return len(self._connections)

    @property
    def connections(self) -> int:
        """Deprecated spelling of ``get_connections()`` (Node's ``server.connections``)."""
        import warnings
        warnings.warn("Server.connections is deprecated; use get_connections()", DeprecationWarning,
                      stacklevel=2)
        return len(self._connections)

    def add_context(self, hostname: str, context: SecureContext | Options) -> None:
        """Serve ``hostname`` (``"*.example.com"`` allowed) with ``context`` (a SecureContext or a
        dict of its options); the newest matching entry wins."""
        built = context_from_answer(context, self._answer_contexts)
        if built is None:
            raise TypeError("add_context: 'context' must be a SecureContext or a dict of its options")
        self._prepare_context(built)
        self._sni.add(hostname, built)

    def set_secure_context(self, **options: Any) -> None:
        """Replace the default context for new connections (certificate rotation); connections
        already made keep theirs."""
        self._install(SecureContext(**options))  # first: a failure leaves the old one serving

    def _install(self, context: SecureContext) -> None:
        apply_session_timeout(context, self.session_timeout, explicit=False)
        self._prepare_context(context)
        self._default_context = context
        if self._workers is not None and self._workers.in_parent():
            # Workers hold copies of the old context: fork new ones from this one (_net/workers.py).
            self._workers.request_roll()

    def reload(self, **context_options: Any) -> None:
        """Rebuild the default context for new connections from its options, with
        ``context_options`` replacing the ones given (a certificate rotation: SIGHUP).

        Options given as ``pathlib.Path`` are read again, so ``reload()`` with no arguments
        picks up certificate and key files replaced on disk.  Connections already made keep
        their context; under ``serve_forever(workers=N)`` the workers are replaced by ones
        forked from the new context.  A failure (a bad new key, say) raises and leaves the
        old context serving.  A server made with ``secure_context=`` rebuilds from that
        context's options, its ``ca`` and ``crl`` included."""
        self._install(self._default_context.rebuilt(**context_options))

    def get_ticket_keys(self) -> bytes:
        """The 48 bytes of session-ticket keys (Node's ``getTicketKeys``)."""
        raise UnsupportedError("get_ticket_keys: " + REASONS["ticket_keys"])

    def set_ticket_keys(self, keys: bytes) -> None:
        """Set the 48 bytes of session-ticket keys (Node's ``setTicketKeys``)."""
        if not isinstance(keys, (bytes, bytearray)) or len(keys) != 48:
            raise TypeError("ticket keys must be 48 bytes")
        raise UnsupportedError("set_ticket_keys: " + REASONS["ticket_keys"])

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.stop(timeout=0)


class ServerHelloPolicy(HelloPolicy):
    """A ``Server``'s decisions on each ClientHello, made in the connection's greenlet before
    OpenSSL reads the hello (``_tls/policy.py``): the context for the requested name (its
    ``sni_callback``, else its ``add_context`` table), and the staple its ``ocsp_request``
    receivers answer, and the ALPN protocol its ``alpn_callback`` picks."""

    __slots__ = ("_server",)

    def __init__(self, server: Server) -> None:
        self._server = server

    def decides(self) -> bool:
        server = self._server
        return (server.sni_callback is not None or len(server._sni) > 0 or server.alpn_callback is not None
                or server.psk_callback is not None or signals.has_receivers(signals.ocsp_request, server))

    def chooses_alpn(self) -> bool:
        return self._server.alpn_callback is not None

    def alpn_for(self, tls: TLSSocket, servername: str | None, protocols: list[str]) -> str | None:
        callback = self._server.alpn_callback
        return callback(servername, protocols) if callback is not None else None

    def context_for(self, tls: TLSSocket, hello: ClientHello) -> SecureContext | None:
        server, name = self._server, hello.server_name
        if not name:
            return None
        if server.sni_callback is not None:
            context = context_from_answer(server.sni_callback(name), server._answer_contexts)
        else:
            context = server._sni.lookup(name)
        if context is not None:
            apply_session_timeout(context, server.session_timeout, explicit=False)
        return context

    def wants_staple(self, tls: TLSSocket) -> bool:
        return signals.has_receivers(signals.ocsp_request, self._server)

    def staple_for(self, tls: TLSSocket, certificate: bytes, issuer: bytes | None) -> bytes | None:
        # What the receivers must answer; TLSSocket._ask_staple checks it.
        return cast("bytes | None", signals.ask(signals.ocsp_request, self._server,
                                                certificate=certificate, issuer=issuer))

    def answers_psk(self) -> bool:
        return self._server.psk_callback is not None

    def psk_for(self, tls: TLSSocket, identity: str) -> bytes | None:
        callback = self._server.psk_callback
        return server_key(callback(tls, identity)) if callback is not None else None

    def psk_hint(self) -> str | None:
        return self._server.psk_identity_hint


class _HandshakeExpired(BaseException):
    """The handshake timer fired (``_Deadline``); not an ``Exception``, so that application
    code catching ``Exception`` in an SNI or OCSP callback lets it through."""


#: After the handshake deadline, how often the timer throws again (seconds).
_DEADLINE_REPEAT = 1.0


class _Deadline:
    """``handshake_timeout`` for one connection's greenlet.

    A gevent ``Timeout`` can be caught and forgotten by the code it interrupts; this one also
    shuts the socket down when it fires, so the handshake cannot go on after it."""

    __slots__ = ("expired", "_sock", "_timer")

    def __init__(self, seconds: float | None, sock: gsocket.socket) -> None:
        self.expired = False
        self._sock = sock
        self._timer: _TimerWatcher | None = None
        if seconds:
            # Fires at the deadline, then again every second until cancelled: a callback that
            # swallows the first throw and blocks on something else is interrupted again.
            self._timer = gevent.get_hub().loop.timer(seconds, _DEADLINE_REPEAT)
            self._timer.start(self._expire, gevent.getcurrent())

    def _expire(self, greenlet: greenlet) -> None:
        """Runs in the hub when the time is up: mark, cut the transport, interrupt."""
        self.expired = True
        try:
            # Whatever waits on the socket wakes to the end of the stream, and nothing more
            # is read or sent on it.
            self._sock.shutdown(_stdlib_socket.SHUT_RDWR)
        except OSError:
            pass
        greenlet.throw(_HandshakeExpired())

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.close()
            self._timer = None


def _peer(address: object) -> str:
    """The client's address for a log line: ``host:port``, ``[v6]:port``, or the Unix path."""
    if isinstance(address, tuple) and len(address) >= 2:
        host = str(address[0])
        return f"[{host}]:{address[1]}" if ":" in host else f"{host}:{address[1]}"
    return str(address) if address else "a Unix socket client"


def _remote_error(exc: BaseException) -> TLSError:
    """A non-TLS failure of a client (reset, timeout) as a ``TLSError`` with Node's code."""
    if isinstance(exc, (gevent.Timeout, TimeoutError)):
        return HandshakeTimeoutError("TLS handshake timeout")
    if isinstance(exc, OSError) and exc.errno is not None:
        code = errno.errorcode.get(exc.errno, "ECONNRESET")
        return TLSError(f"{PEER_LEFT_DURING_HANDSHAKE} ({os.strerror(exc.errno)})", code=code,
                        reason=str(exc))
    return TLSError(f"TLS handshake failed: {exc!r}", code="ERR_TLS_HANDSHAKE", reason=str(exc))


def create_server(secure_connection_listener: Callable[[TLSSocket], Any] | None = None,
                  **options: Any) -> Server:
    """Create a ``Server`` (Node's ``tls.createServer``); call ``listen()`` to start it."""
    return Server(secure_connection_listener, **options)
