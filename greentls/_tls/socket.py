"""``TLSSocket``: a blocking-style TLS socket for one greenlet (Node's ``tls.TLSSocket``).

A thin layer: the engine (``_engine/engine.py``) holds the TLS state, a pump (``_io/transport.py``) moves
bytes and waits.  Every public I/O method has the same shape: gate on the state, then loop
"call the engine; on WantRead/WantWrite let the pump wait; retry".  The handshake runs on
``do_handshake()`` or on the first I/O call.  A server over a gevent socket runs it on the
descriptor from the start (``_peek_hello``); otherwise it starts over memory BIOs (so a server
can read the ClientHello first) and, over a gevent socket, moves to the descriptor once complete.
"""
from __future__ import annotations

import errno
import logging
import socket as _socket
from collections.abc import Callable, Mapping
from time import monotonic
from typing import TYPE_CHECKING, Any, cast

from greentls import signals
from greentls._base.capabilities import REASONS, capabilities
from greentls._base.errors import (
    CertificateError,
    HelloRefusedError,
    TLSError,
    UnsupportedError,
    WantReadError,
    WantWriteError,
)
from greentls._config.context import SecureContext
from greentls._config.keylog import enable_if_wanted as enable_keylog_if_wanted
from greentls._config.ocsp import certificate_and_issuer, warn_if_undecodable
from greentls._config.options import CONTEXT_OPTIONS, check_bool, normalize_alpn, reject_unknown, split_options
from greentls._config.psk import (
    install_client as install_psk_client,
    install_server as install_psk_server,
    is_psk_cipher,
)
from greentls._config.verify import certificate_error_for, configure_verify, verify_result
from greentls._engine.engine import HELLO_UNDECIDED, HelloReady, TLSEngine, WantRead, WantWrite, is_tls13
from greentls._engine.state import State, refusal
from greentls._io.proxy import ProxyPolicy, ProxyProtocolError, read_header as read_proxy_header
from greentls._io.transport import (
    HANDSHAKE,
    READER,
    WRITER,
    DescriptorPump,
    MemoryPump,
    Pump,
    is_gevent_socket,
    retry,
)
from greentls._io.wire import wire_bytes
from greentls._parse.clienthello import (
    MAX_CLIENT_HELLO_SIZE,
    ClientHello,
    ClientHelloError,
    ClientHelloParser,
    ClientHelloTooLargeError,
)
from greentls._tls.inspect import ConnectionInfo, address_dict, client_random
from greentls._tls.policy import CallbackPolicy, HelloPolicy
from greentls._tls.psk import ClientPsk, ServerPsk
from greentls._tls.renegotiation import (
    NOT_OFFERED,
    PHA_DISABLED,
    Watch,
    explain_refusal,
    refuse_on_tls13,
    run_renegotiation,
)
from greentls._tls.trace import MSG_CALLBACK

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer, WriteableBuffer
    from OpenSSL import SSL

    from greentls._net.server import Server
    from greentls._parse.certinfo import CertDict
    from greentls._parse.keyinfo import ServerKeyExchangeSniffer

    #: ``connect()``'s ``check_server_identity(host, peer certificate)``: an error, or None.
    IdentityCheck = Callable[[str, CertDict], TLSError | None]

__all__ = ["TLSSocket", "new_socket"]

log = logging.getLogger("greentls")

# Largest plaintext handed to one SSL_write: a few records, so a memory-BIO write never buffers
# a whole large payload twice, while a descriptor write still fills the socket buffer.
_WRITE_CHUNK = 256 * 1024
_RECV_DEFAULT = 65536
#: The states the record path compares against, by identity: ``State.OPEN`` is an enum class
#: attribute lookup (about 180 ns on CPython 3.11), a module global about 16 ns.
_OPEN = State.OPEN
_CLOSING = State.CLOSING
#: The policy of a socket that decides nothing on the ClientHello.
_NO_DECISIONS = HelloPolicy()
#: One peek for a ClientHello to decide on: a whole record (2^14 + its 5-byte header) holds
#: every real hello; a longer one takes the memory-BIO seam, up to MAX_CLIENT_HELLO_SIZE.
_HELLO_PEEK = 16384 + 5
#: A plaintext record holding a fatal alert (RFC 8446 sections 5.1 and 6), less its description.
_ALERT_RECORD = b"\x15\x03\x03\x00\x02\x02"
#: The alert for a ClientHello larger than OpenSSL accepts.
_ILLEGAL_PARAMETER = 47
#: How much an oversized hello's sender may still send, and for how long, after our alert.
_DRAIN_BYTES = 1 << 20
_DRAIN_SECONDS = 1.0


class TLSSocket(ConnectionInfo):
    """A TLS connection over a connected socket or any duplex object (Node's ``TLSSocket``).

    Reads and writes block only the calling greenlet over a gevent (or monkey-patched) socket;
    one greenlet may read while another writes.
    """

    encrypted = True
    #: True when the peer's certificate verified (and, on a client, matched the host name).
    authorized: bool = False
    #: Why the peer is not authorized: OpenSSL's verify code name, or a CertificateError code.
    authorization_error: str | None = None
    #: The SNI name: requested by the client, or as the server received it.
    servername: str | None = None
    #: ``do_handshake_on_connect`` of ``wrap_socket`` (``_tls/wrap.py``, through ``new_socket``),
    #: for ``connect()``; a class default, so that other sockets store nothing for it.
    _handshake_on_connect: bool = True
    #: Client: a ``session`` to resume was offered (``_psk_authenticated``).
    _offered_session: bool = False
    #: Server: OpenSSL refused the ClientHello for its size and sent the alert itself.
    _openssl_alerted: bool = False

    def __init__(self, sock: Any, *, is_server: bool = False, server: Server | None = None,
                 request_cert: bool = False, reject_unauthorized: bool | None = None,
                 alpn_protocols: Any = None, sni_callback: Callable[[str], Any] | None = None,
                 session: bytes | None = None, request_ocsp: bool = False,
                 secure_context: SecureContext | None = None, servername: str | None = None,
                 hello_policy: HelloPolicy | None = None, proxy_policy: ProxyPolicy | None = None,
                 enable_trace: bool = False, psk_callback: Callable[[Any, str | None], Any] | None = None,
                 **context_options: Any) -> None:
        reject_unknown(context_options, CONTEXT_OPTIONS, "TLSSocket")
        if secure_context is None:  # a Server passes its own (its default context)
            secure_context = SecureContext(**split_options(context_options, CONTEXT_OPTIONS))
        elif not isinstance(secure_context, SecureContext):
            raise TypeError("option 'secure_context' must be a greentls.SecureContext")
        self._transport = sock
        self._is_server = bool(is_server)
        #: A server behind a balancer: who must send a PROXY header first (``_io/proxy.py``).
        self._proxy_policy = proxy_policy if is_server else None
        #: The balancer's address, once its PROXY header was read (``proxy``).
        self._proxy: dict[str, Any] | None = None
        #: The client's (address, port, family) from that header, if it named one.
        self._proxied: tuple[str, int, str] | None = None
        #: A server socket's (bytes in, bytes out) on the wire, taken as it closes (``_io/wire.py``).
        self._wire: tuple[int, int] | None = None
        #: Called once, with this socket, when its transport closes: its ``Server`` counts the
        #: connection out and frees its ``max_connections`` slot then, whoever closed it.
        self._on_close: Callable[[TLSSocket], object] | None = server._socket_closed if server is not None else None
        #: The handshake's set-up ran (``_run_handshake``): a later call resumes its loop.
        self._handshake_begun = False
        #: The transport's peer address once asked (``_peername``).
        self._peer: Any = None
        #: Who makes the server's decisions on the ClientHello (``policy.py``).
        self._hello_policy: HelloPolicy = hello_policy if hello_policy is not None else (
            getattr(server, "hello_policy", None) if server is not None else None) or (
            CallbackPolicy(sni_callback) if sni_callback is not None else _NO_DECISIONS)
        self.secure_context = secure_context
        self._request_cert = bool(request_cert)
        self._reject = True if reject_unauthorized is None else bool(reject_unauthorized)
        self._request_ocsp = bool(request_ocsp)
        self.authorized = False
        self.authorization_error: str | None = None
        self.servername: str | None = None
        self._closed = False
        self._io_refs = 0
        self._plain = b""
        self._handshake_error: BaseException | None = None
        #: Set by connect() and wrap_socket() (``new_socket``): (check_server_identity, host) run
        #: after the chain check.
        self._identity_check: tuple[IdentityCheck, str] | None = None
        self._min_dh_size = 0
        # A server over a gevent socket first peeks at the ClientHello (_peek_hello): its
        # engine parses no hello and its pump is chosen when the peek has answered.
        peeks = self._is_server and is_gevent_socket(sock)
        # Tracing is chosen when the connection is made: OpenSSL copies the message callback
        # into a connection only then (_tls/trace.py).
        traced = check_bool("enable_trace", enable_trace)
        if psk_callback is not None:
            if self._is_server:
                raise TypeError("option 'psk_callback' of a server socket is the Server's "
                                "(create_server(psk_callback=...))")
            if not callable(psk_callback):
                raise TypeError("option 'psk_callback' must be callable")
            if not capabilities["psk"]:
                raise UnsupportedError("psk_callback: " + REASONS["psk"])
            # Before SSL_new: OpenSSL copies the context's PSK callback into the connection.
            install_psk_client(self._openssl_context(secure_context))
        #: TLS-PSK in this greenlet (``_tls/psk.py``): a client's asker, or a server's.
        self._psk: ClientPsk | ServerPsk | None = None
        engine = TLSEngine(self._openssl_context(secure_context), server_side=self._is_server,
                           parse_hello=self._is_server and not peeks,
                           msg_callback=MSG_CALLBACK if traced else None)
        self._engine = engine
        #: Set when an OpenSSL callback recorded something (``_note_events``); checked after reads.
        self._events = False
        self._write_chunk = _WRITE_CHUNK
        self._ske_sniffer: ServerKeyExchangeSniffer | None = None
        #: What OpenSSL's callbacks record for this greenlet: key log lines, OCSP, tickets,
        #: renegotiations (``_tls/renegotiation.py``, ``_config/record.py``).
        self._watch = Watch(self, self._note_events, conn=engine.conn, is_server=self._is_server,
                            server=server)
        engine.record = self._watch
        self._watch.tracing = traced
        #: The connection was made with the message callback (``enable_trace``).
        self._traceable = traced
        #: How bytes move (_io/transport.py): None until the handshake of a server that peeks.
        self._pump: Pump | None = None if peeks else MemoryPump(engine, sock)
        # A Server hands over the list it normalized once (``Server.alpn_protocols``).
        alpn = alpn_protocols if server is not None and alpn_protocols is server.alpn_protocols \
            else normalize_alpn("alpn_protocols", alpn_protocols)
        configure_verify(engine.conn, server_side=self._is_server, request_cert=self._request_cert,
                         reject_unauthorized=self._reject)
        if self._is_server:
            engine.alpn_protocols = alpn
            if self._hello_policy.chooses_alpn():
                # Every ALPN offer is refused until the callback answered this connection's
                # hello (``_choose_alpn``): no hello is served without its decision.
                engine.alpn_refusal = TLSError(
                    "no application protocol: the alpn_callback was not asked about this ClientHello",
                    code="ERR_SSL_NO_APPLICATION_PROTOCOL", reason="no application protocol")
        else:
            self._setup_client(alpn, servername, session, psk_callback)

    def _openssl_context(self, context: SecureContext) -> SSL.Context:
        """The OpenSSL context this connection uses: on a server, the one bound to its
        client-certificate policy, so its sessions resume nowhere else (``server_context``)."""
        if self._is_server:
            built = context.server_context(self._request_cert, self._reject)
            # The PSK callback and hint go with each OpenSSL context this connection may use
            # (its first, an SNI answer's, set_key_cert's): OpenSSL copies them from it.
            if self._hello_policy.answers_psk():
                install_psk_server(built, self._hello_policy.psk_hint())
            return built
        return context.context

    def _use_context(self, context: SecureContext) -> None:
        """Server, before OpenSSL reads the ClientHello: serve with ``context`` (SNI)."""
        self._engine.set_context(self._openssl_context(context))
        self.secure_context = context

    def _setup_client(self, alpn: list[bytes] | None, servername: str | None, session: bytes | None,
                      psk_callback: Callable[[Any, str | None], Any] | None) -> None:
        conn = self._engine.conn
        if alpn:
            conn.set_alpn_protos(alpn)
        if servername:
            if not isinstance(servername, str):
                raise TypeError("option 'servername' must be a str")
            conn.set_tlsext_host_name(servername.encode("idna"))
            self.servername = servername
        self._offered_session = session is not None
        if session is not None:
            from greentls._config.sessions import apply_client_session
            apply_client_session(conn, session)
        if self._request_ocsp:
            conn.request_ocsp()
        # The DH size of a TLS 1.2 DHE exchange (get_ephemeral_key_info, min_dh_size) is read
        # from the server's plaintext handshake records (_parse/keyinfo.py); unhooked after it.
        from greentls._parse.keyinfo import ServerKeyExchangeSniffer
        self._ske_sniffer = ServerKeyExchangeSniffer()
        assert isinstance(self._pump, MemoryPump)  # a client never peeks: its pump is made at once
        if psk_callback is None:
            self._pump.observe(self._ske_sniffer.observe)
        else:
            self._psk = ClientPsk(self, psk_callback, self._watch, conn, self._ske_sniffer.observe)
            self._pump.observe(self._psk.observe)

    # -- the handshake ----------------------------------------------------------------------

    def do_handshake(self) -> None:
        """Run the handshake to completion (blocking this greenlet); raises ``TLSError``."""
        engine = self._engine
        if engine.state is _OPEN:
            return
        if self._handshake_error is not None:
            raise self._handshake_error
        if self._closed or (engine.state is not State.NEW and engine.state is not State.HANDSHAKING):
            raise TLSError("the socket is closed", code="ERR_SOCKET_CLOSED")
        try:
            self._run_handshake()
            self._after_handshake()
        except (WantReadError, WantWriteError):
            raise  # a non-blocking transport: call again once it is ready (the stdlib's way)
        except BaseException as exc:
            self._handshake_error = exc if isinstance(exc, TLSError) else None
            self._servername_from_openssl()  # for tls_client_error receivers
            try:
                if isinstance(exc, ClientHelloTooLargeError):
                    # OpenSSL's own alert already went when it refused the hello on the descriptor.
                    self._refuse_hello(None if self._openssl_alerted else _ILLEGAL_PARAMETER)
                elif isinstance(exc, HelloRefusedError):
                    # No timed drain: a thread server's accept loop waits for this handshake,
                    # and the hello is all the client should have sent.
                    self._refuse_hello(exc.alert, linger=False)
                elif isinstance(exc, TLSError) and exc.code == "ERR_PROXY_PROTOCOL":
                    # The ClientHello that followed a refused header: unread, it would turn
                    # the close into a reset, which the peer may take for a network fault.
                    self._discard_unread()
            finally:  # even if the handshake timer interrupts the drain
                self._abort()  # delivers the trace lines, the alert that ended it included
            raise

    def _release_error(self) -> None:
        """A server's connection whose handshake failed, once reported: let go of the error it
        kept for a second ``do_handshake()`` (and its engine's), since the error's traceback
        holds the frames that hold this socket, a cycle only the collector would free."""
        self._handshake_error = None
        self._engine.forget_errors()

    def enable_trace(self) -> None:
        """Trace this connection (Node's ``enableTrace()``): one line per handshake message,
        ChangeCipherSpec and alert, sent (``->``) or received (``<-``), to the ``trace``
        signal's receivers for this socket, or to standard error without any.

        OpenSSL takes the message callback into a connection only when the connection is made,
        and the binding has no per-connection setter: a connection is traceable only when made
        with ``enable_trace=True`` (the ``create_server`` option, or ``TLSSocket``'s keyword),
        which also starts tracing; here that is a no-op.  On any other connection it raises
        ``UnsupportedError`` with that reason."""
        if not self._traceable:
            raise UnsupportedError(
                "enable_trace(): this connection was made without tracing, and it cannot be added "
                "now: OpenSSL copies a context's message callback (SSL_CTX_set_msg_callback) into a "
                "connection only when the connection is created, and pyOpenSSL's binding has no "
                "SSL_set_msg_callback; make the connection with enable_trace=True "
                "(create_server(enable_trace=True), TLSSocket(sock, enable_trace=True))",
                reason="no SSL_set_msg_callback")
        self._watch.tracing = True

    def set_key_cert(self, context_or_options: SecureContext | Mapping[str, Any]) -> None:
        """Serve (or, on a client, answer certificate requests) with another key and certificate
        (Node's ``setKeyCert``): ``context_or_options`` is a ``SecureContext`` or a dict of its options
        with at least ``key`` and ``cert`` (or ``pfx``).  Only the key material is taken from it
        (``key``, ``cert`` with its chain, ``pfx``, ``passphrase``), as Node swaps only the key,
        certificate and chain: the connection keeps its own trust (``ca``, ``crl``), ciphers,
        versions and other settings, whatever the given context's are.

        It takes effect on the next handshake message that carries a certificate: this
        connection's handshake when called before it, a TLS 1.2 renegotiation, or, on a
        client, the answer to a TLS 1.3 post-handshake certificate request.  A TLS 1.3 server
        sends its certificate once: after its handshake this raises ``TLSError``
        ``ERR_TLS_SET_KEY_CERT_AFTER_HANDSHAKE`` rather than change nothing."""
        if isinstance(context_or_options, Mapping):
            given = dict(context_or_options)
        elif isinstance(context_or_options, SecureContext):
            given = dict(context_or_options.options)
        else:
            raise TypeError(f"set_key_cert: 'context' must be a SecureContext or a dict of its options, "
                            f"not {type(context_or_options).__name__}")
        if given.get("pfx") is None and (given.get("key") is None or given.get("cert") is None):
            raise ValueError("set_key_cert: the context has no key and certificate (give 'key' and "
                             "'cert', or 'pfx')")
        engine = self._engine
        if self._closed or engine.state in (State.CLOSED, State.BROKEN, State.CLOSING):
            raise TLSError("the socket is closed", code="ERR_SOCKET_CLOSED")
        if self._is_server and engine.state is _OPEN and is_tls13(engine.conn):
            raise TLSError("set_key_cert: a TLS 1.3 server sends its certificate once, in the handshake, "
                           "which is over", code="ERR_TLS_SET_KEY_CERT_AFTER_HANDSHAKE")
        # As Node's (which swaps only the SSL's key, certificate and chain): the connection keeps
        # its own trust (ca, crl, and the defaults it was built with), ciphers, versions and the
        # rest; only the key material changes, and a pfx's CA certificates are only its chain.
        chosen = self.secure_context.with_key_material(given)
        engine.switch_certificate(self._openssl_context(chosen))
        self.secure_context = chosen

    def _deliver_trace_quietly(self) -> None:
        """Deliver the last trace lines of a connection that is ending (a failed handshake,
        ``close``): a ``trace`` receiver that raises must not replace the reason it ends."""
        if self._watch.trace_lines is None:
            return
        try:
            self._watch.deliver_trace()
        except Exception:
            log.exception("a trace receiver failed")

    def _run_handshake(self) -> None:
        if self._handshake_begun:  # again, after a non-blocking transport's WantReadError
            return self._handshake_loop()
        engine = self._engine
        self._watch.handshake_starts()
        if self._proxy_policy is not None and self._proxy is None:
            self._read_proxy_header(self._proxy_policy)
        if not self._is_server:  # a server waits for the context SNI picks (HelloReady)
            enable_keylog_if_wanted(engine.conn)
            if isinstance(self._psk, ClientPsk) and self.secure_context.allows_tls13():
                # What OpenSSL asks for a TLS 1.3 ClientHello; a client that cannot speak TLS
                # 1.3 is asked only at a PSK server's ServerHelloDone, with its hint.
                self._psk.ask(None)
            self._handshake_begun = True
            return self._handshake_loop()
        if self._decides_on_hello():
            engine.hello_decision = HELLO_UNDECIDED  # until _on_client_hello ran
        policy = self._hello_policy
        if policy.answers_psk():
            # The client's PSK identity is read off the memory pump before OpenSSL gets it.
            self._psk = ServerPsk(lambda identity: policy.psk_for(self, identity), self._watch, engine.conn)
        if self._pump is None and (self._psk is not None or not self._peek_hello()):
            engine.parse_hello_first()
            self._pump = MemoryPump(engine, self._transport)
        if isinstance(self._psk, ServerPsk):
            # Over a gevent socket the pump was just made; over any other transport, at once.
            assert isinstance(self._pump, MemoryPump)  # a PSK server never begins on the descriptor
            self._pump.observe(self._psk.observe, self._psk.observe_sent)
        self._handshake_begun = True
        self._handshake_loop()

    def _read_proxy_header(self, policy: ProxyPolicy) -> None:
        """Take the balancer's PROXY header off the socket, before the ClientHello (under the
        server's handshake timer, which covers both)."""
        transport = self._transport
        try:
            balancer = self._peername()
        except OSError:  # gone already: a reset right after the connect
            raise ConnectionResetError(errno.ECONNRESET, "the peer left before its PROXY protocol header") from None
        if not policy.allows(balancer):
            raise TLSError(f"a connection from {balancer[0]}, which is not in proxy_allow_from, "
                           "where every peer must send a PROXY protocol header", code="ERR_PROXY_PROTOCOL")
        try:
            header = read_proxy_header(transport)
        except ProxyProtocolError as exc:
            raise TLSError(f"PROXY protocol: {exc}", code="ERR_PROXY_PROTOCOL") from None
        if isinstance(balancer, tuple):
            self._proxy = address_dict(balancer, transport)
        else:  # a Unix socket's peer: no port, and usually no name
            self._proxy = {"address": balancer or None, "port": None, "family": None}
        if header.source is not None and header.family is not None:
            self._proxied = (header.source[0], header.source[1], header.family)

    @property
    def proxy(self) -> dict[str, Any] | None:
        """The load balancer's ``{"address", "port", "family"}`` when it sent a PROXY protocol
        header (``create_server(proxy_protocol=True)``); None otherwise."""
        return self._proxy

    def _handshake_loop(self) -> None:
        engine = self._engine
        pump = self._pump
        assert pump is not None  # chosen by _run_handshake
        while True:
            try:
                retry(pump, HANDSHAKE, engine.do_handshake)
                break
            except HelloReady:  # a server's decisions on the ClientHello, in this greenlet
                assert engine.client_hello is not None  # HelloReady: the hello was parsed
                self._on_client_hello(engine.client_hello)
                engine.release_hello()
            except (WantReadError, WantWriteError):
                raise  # a non-blocking transport is not ready: not a failure (do_handshake)
            except TLSError as exc:
                self._flush_quietly()  # the alert tells the peer why (Twisted's rule)
                too_large = self._hello_too_large(exc)
                if too_large is not None:  # do_handshake drains what the peer still sends
                    self._openssl_alerted = True
                    raise too_large from exc
                if pump.attached:
                    self._discard_unread()
                raise certificate_error_for(engine.conn, exc) from exc.__cause__
        # The parsed ClientHello served its decisions; an idle connection need not keep its
        # lists (~3 KiB per connection, measured with tracemalloc).
        engine.client_hello = None

    def _hello_too_large(self, exc: TLSError) -> ClientHelloTooLargeError | None:
        """Server on the descriptor: OpenSSL refused the first ClientHello for its size (with
        the ``illegal_parameter`` alert our parser's refusal sends too): the parser's error.
        No ClientHello was read while the client random is still all zeros (OpenSSL's own
        copy: pyOpenSSL's ``client_random()`` is None before a session exists, which is also
        the case after a HelloRetryRequest); a later message over its size (a second hello, a
        client certificate) is OpenSSL's error as it stands."""
        if exc.code != "ERR_SSL_EXCESSIVE_MESSAGE_SIZE" or not self._is_server or not self._engine.attached:
            return None
        if any(client_random(self._engine.conn)):
            return None
        return ClientHelloTooLargeError(
            f"ClientHello larger than the {MAX_CLIENT_HELLO_SIZE} bytes of records allowed "
            f"(OpenSSL: {exc.reason})", reason=exc.reason)

    def _peek_hello(self) -> bool:
        """Server over a gevent socket: look at the ClientHello with ``MSG_PEEK`` and, when
        possible, run the whole handshake on the descriptor (``TLSEngine.begin_on_fd``): OpenSSL
        then reads the hello from the socket itself, and no handshake byte crosses a memory BIO
        or a Python send/recv.

        With nothing to decide on the hello (``_decides_on_hello``), nothing is peeked: as
        Node's TLSWrap, which starts its hello parser only for SNI, OCSP or session listeners,
        OpenSSL reads the hello unparsed, and judges whatever the bytes are.  Its own size limit
        is the parser's (``MAX_CLIENT_HELLO_SIZE``), and ``_hello_too_large`` gives its refusal
        the parser's error.  Otherwise one peek must hold the whole, well-formed hello, whose
        decisions are made here; returns False, having consumed nothing, when it does not (split
        over segments, malformed, or the peer closed), and the memory-BIO seam reads the same
        bytes."""
        sock = self._transport
        if not self._decides_on_hello():
            self._begin_on_descriptor(None)
            enable_keylog_if_wanted(self._engine.conn)
            return True
        try:
            data = sock.recv(_HELLO_PEEK, _socket.MSG_PEEK)
        except TimeoutError:
            raise  # the handshake timer (HandshakeTimeoutError) or the socket's timeout
        except OSError:
            return False  # a reset: the memory pump meets and reports it
        if not data:
            return False
        try:
            hello = ClientHelloParser().feed(data)
        except ClientHelloError:
            return False
        if hello is None:
            return False
        self._begin_on_descriptor(hello)
        self._on_client_hello(hello)
        return True

    def _begin_on_descriptor(self, hello: ClientHello | None) -> None:
        """The ClientHello stays in the socket: OpenSSL reads it, and all after, itself."""
        self._engine.begin_on_fd(self._transport.fileno(), hello, self._transport)
        self._pump = DescriptorPump(self._engine, self._transport)

    def _decides_on_hello(self) -> bool:
        """Server: True when something must see the ClientHello before OpenSSL does."""
        return self._hello_policy.decides()

    def _on_client_hello(self, hello: ClientHello) -> None:
        """Server: decisions that may block, made in this greenlet before OpenSSL reads the hello
        (docs/architecture.rst, "fact-callbacks"): the context for the requested name, and the OCSP
        staple, and the ALPN protocol when an ``alpn_callback`` picks it; then the key log callback
        on that context, before any secret is derived."""
        self.servername = hello.server_name
        if self._engine.hello_decision is not None:
            # The name every decision below is made for; OpenSSL must read the same one.
            self._engine.hello_decision = (hello.server_name or "").encode("latin-1")
        policy = self._hello_policy
        context = policy.context_for(self, hello)
        if context is not None:
            self._use_context(context)
        if hello.alpn_protocols is not None and policy.chooses_alpn():
            self._choose_alpn(policy, hello)
        if hello.status_request and policy.wants_staple(self):
            self._ask_staple(policy)
        if isinstance(self._psk, ServerPsk):
            self._psk.on_hello(hello, self.secure_context.allows_tls13())
        enable_keylog_if_wanted(self._engine.conn)  # on the context SNI chose

    def _choose_alpn(self, policy: HelloPolicy, hello: ClientHello) -> None:
        """Node's ``ALPNCallback``, asked only when the hello carried ALPN (RFC 7301 section
        3.1), with the name OpenSSL will read: its answer becomes the connection's list of one,
        which OpenSSL's select callback only reads (``_alpn_select``); None, or a protocol
        the client did not offer, records the refusal that callback raises instead
        (``no_application_protocol``)."""
        assert hello.alpn_protocols is not None
        offered = [protocol.decode("latin-1") for protocol in hello.alpn_protocols]
        answer = policy.alpn_for(self, hello.server_name, offered)
        if answer is not None and not isinstance(answer, str):
            raise TypeError(f"alpn_callback must return a str or None, not {type(answer).__name__}")
        engine = self._engine
        if answer is not None and answer in offered:
            engine.alpn_protocols = [answer.encode("latin-1")]
            engine.alpn_refusal = None
            return
        engine.alpn_protocols = None
        why = ("alpn_callback declined every protocol the client offered" if answer is None else
               f"alpn_callback chose {answer!r}, which the client did not offer ({offered!r})")
        engine.alpn_refusal = TLSError(f"no application protocol: {why}",
                                       code="ERR_TLS_ALPN_CALLBACK_REJECTED" if answer is None
                                       else "ERR_TLS_ALPN_CALLBACK_INVALID_RESULT",
                                       reason="no application protocol")

    def _ask_staple(self, policy: HelloPolicy) -> None:
        """Node's 'OCSPRequest', only when the ClientHello carried status_request (RFC 6066
        section 8): the policy answers for the certificate this connection will send; the
        status callback staples it (``_config/ocsp.py``)."""
        certificate, issuer = certificate_and_issuer(self._engine.conn, self.secure_context.options)
        if certificate is None:
            return
        answer = policy.staple_for(self, certificate, issuer)
        if answer is None:
            return
        if not isinstance(answer, (bytes, bytearray, memoryview)):
            raise TypeError("an ocsp_request receiver must answer DER bytes or None")
        self._watch.ocsp_staple = bytes(answer)
        warn_if_undecodable(self._watch.ocsp_staple, context=self.secure_context)

    def _after_handshake(self) -> None:
        self._servername_from_openssl()
        self._watch.established()  # before any application data is read (_maybe_attach)
        if not self._is_server and self._request_ocsp and signals.has_receivers(signals.ocsp_response, self):
            # Before the verdict and secure_connect: Node emits 'OCSPResponse' first.
            signals.ocsp_response.send(self, response=self._watch.ocsp_response)
        if not self._is_server or self._request_cert:
            self._judge_peer()
        if self._is_server:
            self._engine.keep_session_on_abrupt_close()
        self._maybe_attach()
        self._sniffing_done()
        self._watch.initial_handshake_done(self.is_session_reused)
        if self._events:
            self._handle_events()

    def _sniffing_done(self) -> None:
        """A client's handshake is over: its ServerKeyExchange reader has seen all it needs."""
        sniffer = self._ske_sniffer
        if sniffer is not None:
            sniffer.done = True
        pump = self._pump
        if (sniffer is not None or self._psk is not None) and isinstance(pump, MemoryPump):
            pump.observe(None)  # the memory pump stays: no observer on its reads

    def _note_events(self) -> None:
        """The watch's ``report``: an OpenSSL callback recorded something for this greenlet."""
        self._events = True

    def _handle_events(self) -> None:
        """Act, in this greenlet, on what the callbacks recorded (``Watch.deliver``)."""
        self._events = False
        watch = self._watch
        error = watch.deliver()
        if error is not None:
            self._abort()
            raise error
        if watch.pha_done:  # the client answered a post-handshake CertificateRequest
            watch.pha_done = False
            self._judge_peer()

    def _servername_from_openssl(self) -> None:
        """Server: the name OpenSSL received and bound, which wins over our own parse of the
        hello (on a TLS 1.2 resumption it is the session's name).  OpenSSL refuses a name with
        a NUL byte or over 255 bytes (tls_parse_ctos_server_name)."""
        if not self._is_server:
            return
        name = self._engine.conn.get_servername()
        if name:
            self.servername = name.decode("latin-1")  # as Node's getServername

    def _psk_authenticated(self) -> bool:
        """True when a pre-shared key authenticated the peer, which Node reports as authorized
        without a certificate: a TLS 1.2 PSK cipher suite, or a TLS 1.3 handshake that resumed
        the external PSK.  A ticket must never pass for one: a client counts it only when it
        offered no session to resume; a server only when the client offered one identity, and
        its callback keyed it (``ServerPsk.authenticated``)."""
        conn = self._engine.conn
        if isinstance(self._psk, ServerPsk):
            return self._psk.authenticated(is_tls13(conn), self.is_session_reused())
        if not isinstance(self._psk, ClientPsk) or self._watch.psk_answer is None:
            return False
        if is_tls13(conn):
            return not self._offered_session and self.is_session_reused()
        return is_psk_cipher(conn)

    def _judge_peer(self) -> None:
        """Set ``authorized``/``authorization_error`` as Node's ``onConnectSecure`` and
        ``onServerSocketSecure`` do; a socket that must reject raises (the handshake then fails
        and the socket is aborted).  On a server that is a resumed session whose handshake
        failed verification (a renegotiation or post-handshake authentication that let an
        unverified certificate in): OpenSSL refused every full handshake's failure already."""
        conn = self._engine.conn
        error: TLSError | None = None
        psk = self._psk_authenticated()
        code = None if psk else verify_result(conn)
        if code is not None:
            error = CertificateError(f"certificate verification failed: {code}", code=code)
        elif self._identity_check is not None and not (psk and is_tls13(conn)):
            # A TLS 1.3 external PSK handshake is a resumption, whose identity Node does not
            # check; a TLS 1.2 PSK server sent no certificate: the check must accept that.
            # A resumed session carries the peer's certificate: the name is checked again, so a
            # session made with reject_unauthorized=False never resumes into authorized=True.
            check, host = self._identity_check
            error = check(host, self.get_peer_certificate(detailed=True))
        self.authorized = error is None
        self.authorization_error = None if error is None else (getattr(error, "code", None) or str(error))
        if error is not None and self._reject and (
                not self._is_server or (self.is_session_reused() and conn.get_peer_certificate() is not None)):
            # A server refuses only a resumed session whose certificate failed: OpenSSL refused
            # any failure of a full handshake, and a certificate still to come (post-handshake
            # authentication) is judged when it comes.
            raise error
        if not self._is_server and self._min_dh_size:
            from greentls._parse.keyinfo import check_min_dh_size
            check_min_dh_size(self.get_ephemeral_key_info(), self._min_dh_size)

    def _maybe_attach(self) -> None:
        """Move to the descriptor pump (docs/architecture.rst, "Two transports") once nothing is
        left in the BIOs: decrypted bytes that arrived with the last flight are drained first
        (docs/architecture.rst, "fact-drain")."""
        engine = self._engine
        if engine.attached or not is_gevent_socket(self._transport):
            return
        assert self._pump is not None  # the handshake's
        chunks: list[bytes] = []
        while True:
            try:
                data = engine.read(_RECV_DEFAULT)
            except (WantRead, WantWrite):
                break
            if not data:  # the peer already closed: stay on the memory pump to report it
                self._plain = b"".join(chunks)
                self._pump.flush()
                return
            chunks.append(data)
        self._plain = b"".join(chunks)
        self._pump.flush()
        if engine.can_attach():
            engine.attach_fd(self._transport.fileno(), self._transport)
            self._pump = DescriptorPump(engine, self._transport)

    # -- reading ----------------------------------------------------------------------------

    def _ensure_open(self) -> None:
        engine = self._engine
        if engine.state is _OPEN:
            return
        if self._closed or engine.state in (State.CLOSED, State.BROKEN):
            raise TLSError("the socket is closed", code="ERR_SOCKET_CLOSED")
        if engine.state in (State.NEW, State.HANDSHAKING):
            self.do_handshake()

    def recv(self, bufsize: int = _RECV_DEFAULT, flags: int = 0) -> bytes:
        """Up to ``bufsize`` decrypted bytes; ``b""`` at the peer's end (clean or not)."""
        if flags:
            raise ValueError("non-zero flags not allowed in calls to recv() on TLSSocket")
        if self._plain:
            data, self._plain = self._plain[:bufsize], self._plain[bufsize:]
            return data
        state = self._engine.state
        if state is not _OPEN and state is not _CLOSING:
            # CLOSING: our close_notify went out (shutdown(SHUT_WR)); the peer may still send.
            self._ensure_open()
            # The handshake may have left decrypted bytes (_maybe_attach): the cast keeps mypy
            # from assuming self._plain is still the b"" of the test above.
            if cast("bytes", self._plain):
                return self.recv(bufsize)
        assert self._pump is not None  # open: the handshake chose it
        data = retry(self._pump, READER, self._engine.read, bufsize, before_read_wait=self._before_read_wait)
        if self._events:  # a ticket, a renegotiation: recorded by callbacks (_tls/renegotiation.py)
            self._handle_events()
        return data

    def _recv_after_idle(self, bufsize: int) -> bytes:
        """``recv`` for a reader that has taken everything and expects the peer to pause (an
        HTTP server between requests).  With nothing decrypted in hand and OpenSSL on the
        descriptor, it waits until the descriptor is readable before SSL_read: trying first
        would, on a connection between requests, cost a read failing with EAGAIN and a
        ``WantReadError`` each time.  OpenSSL reads one record at a time here (no read-ahead),
        so bytes it holds are decrypted ones (``pending``), never a whole record unread.  A
        descriptor the socket no longer owns is never waited on: ``recv`` reports it."""
        pump = self._pump
        engine = self._engine
        if pump is not None and pump.attached and not self._plain and not self._events \
                and engine.state is _OPEN and not engine.pending() and engine.on_own_descriptor():
            pump.wait_readable()
        return self.recv(bufsize)

    def _before_read_wait(self) -> None:
        if self._events:
            self._handle_events()

    read = recv

    def recv_into(self, buffer: WriteableBuffer, nbytes: int = 0, flags: int = 0) -> int:
        """Read into ``buffer``; returns the count (0 at the peer's end)."""
        if flags:
            raise ValueError("non-zero flags not allowed in calls to recv_into() on TLSSocket")
        view = memoryview(buffer).cast("B")
        if nbytes <= 0 or nbytes > len(view):
            # As the stdlib's SSLSocket (its _ssl read): 0, a negative count or one past the
            # buffer's end reads up to the buffer's length, never past it.
            nbytes = len(view)
        if self._plain or self._engine.state is not _OPEN:
            data = self.recv(nbytes)
            if self._closed and not data:
                return 0
            view[:len(data)] = data
            return len(data)
        assert self._pump is not None  # open: the handshake chose it
        count = retry(self._pump, READER, self._engine.read_into, view, nbytes,
                      before_read_wait=self._before_read_wait)
        if self._events:
            self._handle_events()
        return count

    # -- writing ----------------------------------------------------------------------------

    def send(self, data: ReadableBuffer, flags: int = 0) -> int:
        """Encrypt and send some of ``data``; returns how many bytes were taken."""
        if flags:
            raise ValueError("non-zero flags not allowed in calls to send() on TLSSocket")
        view = memoryview(data).cast("B")
        if not len(view):
            return 0
        self._ensure_writable()
        return self._write_some(view[:self._write_chunk])

    def sendall(self, data: ReadableBuffer, flags: int = 0) -> None:
        """Encrypt and send all of ``data``."""
        if flags:
            raise ValueError("non-zero flags not allowed in calls to sendall() on TLSSocket")
        offset = 0
        if type(data) is bytes and len(data) <= self._write_chunk and self._engine.state is _OPEN \
                and not self._events:
            # The common case, one SSL_write of a small bytes object: no views, no loop.
            if not data:
                return
            try:
                offset = self._engine.write(data)
            except (WantRead, WantWrite):
                pass  # nothing taken yet: the loop below retries with the same bytes
            else:
                pump = self._pump
                assert pump is not None  # open: the handshake chose it
                if not pump.attached:  # on the descriptor OpenSSL already wrote it
                    pump.flush()
                if offset == len(data):
                    return
        view = memoryview(data).cast("B")
        total = len(view)
        if not total:
            return
        self._ensure_writable()
        while offset < total:
            offset += self._write_some(view[offset:offset + self._write_chunk])

    write = sendall

    def _ensure_writable(self) -> None:
        if self._events:  # e.g. a renegotiation error seen by an earlier read (_tls/renegotiation.py)
            self._handle_events()
        if self._engine.state is not _OPEN:
            if self._closed or self._engine.state is _CLOSING:
                raise TLSError("cannot write after the TLS connection was shut down",
                               code="EPIPE", reason="write after end")
            self._ensure_open()

    def _write_some(self, chunk: memoryview) -> int:
        assert self._pump is not None  # open (_ensure_writable): the handshake chose it
        return retry(self._pump, WRITER, self._engine.write, chunk)

    # -- renegotiation and record size ------------------------------------------------------

    def renegotiate(self, reject_unauthorized: bool = True, request_cert: bool = False) -> None:
        """TLS 1.2: renegotiate, blocking until done (a server with ``request_cert=True`` asks
        for the client's certificate); TLS 1.3 raises ``TLSError`` ``ERR_TLS_RENEGOTIATE``,
        except on a server with ``request_cert=True`` whose context has
        ``post_handshake_auth=True`` and whose client offered it: that asks for the client's
        certificate after the handshake (``verify_client_post_handshake``) and blocks until
        the answer was read and judged.  Application data that arrives meanwhile is kept for
        the next read."""
        self._ensure_open()
        engine = self._engine
        if self._is_server and request_cert and is_tls13(engine.conn) and self._post_handshake_auth_allowed():
            try:
                self._request_client_certificate(bool(reject_unauthorized))
            except TLSError as exc:
                if exc.code != NOT_OFFERED:
                    raise
                raise TLSError("TLS 1.3 has no renegotiation, and the client did not offer "
                               "post-handshake authentication", code="ERR_TLS_RENEGOTIATE") from exc
            self._await_client_certificate()
            return
        refuse_on_tls13(engine.conn)
        self._reject = bool(reject_unauthorized)
        if self._is_server:
            self._request_cert = bool(request_cert)
        configure_verify(engine.conn, server_side=self._is_server, request_cert=self._request_cert,
                         reject_unauthorized=self._reject)
        pump = self._pump
        assert pump is not None  # open (_ensure_open): the handshake chose it
        plain = self._plain
        arrived = run_renegotiation(engine, pump, self._watch, full=self._is_server and bool(request_cert))
        self._plain = plain + arrived
        if not self._is_server or self._request_cert:
            self._judge_peer()  # as after the first handshake (Node's onhandshakedone)

    def verify_client_post_handshake(self) -> None:
        """Server, TLS 1.3: ask the client for its certificate now, after the handshake
        (post-handshake authentication, RFC 8446 section 4.6.2; ``ssl.SSLSocket``'s method).

        Sends a CertificateRequest and returns; the client's answer is read, and its
        certificate verified against the context's CAs, by this socket's next read (as with
        the stdlib), after which ``authorized``, ``authorization_error``, ``getpeercert()``
        and ``get_peer_certificate()`` describe the new certificate.  With
        ``reject_unauthorized`` (the default) a client that sends no certificate, or one that
        does not verify, fails the connection: that read raises (``CertificateError`` for a
        certificate that did not verify).  The read waits under the socket's timeout, as any.

        The server's context must allow it (``post_handshake_auth=True``) and the client must
        have offered it (a greentls client does with ``post_handshake_auth=True``, ``openssl
        s_client`` with ``-enable_pha``).  Raises ``TLSError`` otherwise:
        ``ERR_TLS_POST_HANDSHAKE_AUTH_DISABLED`` (the server's context does not allow it),
        ``ERR_SSL_EXTENSION_NOT_RECEIVED`` (the client did not offer it),
        ``ERR_SSL_WRONG_SSL_VERSION`` (not TLS 1.3), ``ERR_SSL_NOT_SERVER`` (a client socket),
        ``ERR_TLS_HANDSHAKE_NOT_DONE`` (before the handshake), ``ERR_SSL_REQUEST_SENT`` (the
        previous request is still unanswered)."""
        self._request_client_certificate(self._reject)

    def _post_handshake_auth_allowed(self) -> bool:
        """The server's context (the one SNI chose) was built with ``post_handshake_auth=True``."""
        return self.secure_context.options.get("post_handshake_auth") is True

    def _request_client_certificate(self, reject_unauthorized: bool) -> None:
        """``verify_client_post_handshake`` with ``reject_unauthorized`` for the answer."""
        if not capabilities["post_handshake_auth"]:
            raise UnsupportedError(f"verify_client_post_handshake: {REASONS['post_handshake_auth']}",
                                   reason="no post-handshake authentication")
        if not self._is_server:
            raise TLSError("verify_client_post_handshake: only a server asks for the peer's "
                           "certificate; this is a client socket", code="ERR_SSL_NOT_SERVER",
                           reason="not server")
        engine = self._engine
        if engine.state is not _OPEN:
            raise refusal("ask for the client's certificate", engine.state)
        if not is_tls13(engine.conn):
            raise TLSError(f"verify_client_post_handshake: post-handshake authentication is TLS 1.3's, "
                           f"and this connection is {engine.conn.get_protocol_version_name()}; a "
                           f"TLS 1.2 server asks with renegotiate(request_cert=True)",
                           code="ERR_SSL_WRONG_SSL_VERSION", reason="wrong ssl version")
        if not self._post_handshake_auth_allowed():
            raise TLSError("verify_client_post_handshake: the server's context was built without "
                           "post_handshake_auth=True, which allows it", code=PHA_DISABLED,
                           reason="post-handshake authentication disabled")
        conn = engine.conn
        # OpenSSL asks only with SSL_VERIFY_PEER set, and judges the answer by the mode then.
        configure_verify(conn, server_side=True, request_cert=True, reject_unauthorized=reject_unauthorized)
        try:
            engine.request_client_certificate()
        except TLSError as exc:
            configure_verify(conn, server_side=True, request_cert=self._request_cert,
                             reject_unauthorized=self._reject)
            raise explain_refusal(exc) from exc
        self._request_cert = True
        self._reject = reject_unauthorized
        self._watch.post_handshake_auth_requested()
        assert self._pump is not None  # open: the handshake chose it
        retry(self._pump, HANDSHAKE, engine.post_handshake_step)  # the CertificateRequest goes out

    def _await_client_certificate(self) -> None:
        """Read until the client's answer to a post-handshake CertificateRequest was processed
        and judged; application data read meanwhile is kept for the next read."""
        pump = self._pump
        assert pump is not None  # open: the handshake chose it
        chunks: list[bytes] = []
        try:
            while True:
                data = retry(pump, READER, self._read_until_answered, before_read_wait=self._before_read_wait)
                if data is None:
                    break
                if not data:
                    raise TLSError("the client closed the connection without answering the "
                                   "certificate request", code="ECONNRESET", reason="socket hang up")
                chunks.append(data)
        finally:
            self._plain += b"".join(chunks)
        if self._events:
            self._handle_events()

    def _read_until_answered(self) -> bytes | None:
        """One read while a post-handshake CertificateRequest is out: None once the client's
        answer was processed and nothing more is readable (rather than waiting for data the
        client may never send), else what ``read`` returns."""
        watch = self._watch
        if not watch.awaiting_answer():
            return None
        try:
            return self._engine.read(_RECV_DEFAULT)
        except WantRead:
            if not watch.awaiting_answer():  # this very read processed the answer
                return None
            raise

    def disable_renegotiation(self) -> None:
        """A later renegotiation by the peer fails this socket (``ERR_TLS_RENEGOTIATION_DISABLED``)."""
        self._watch.disabled = True

    def set_max_send_fragment(self, size: int) -> bool:
        """Records sent from now on carry at most ``size`` (512..16384) bytes of plaintext.

        ``SSL_set_max_send_fragment`` is not bound (docs/architecture.rst, "fact-binding-gaps");
        one ``SSL_write`` of at most ``size`` bytes makes records of at most ``size`` bytes, so
        writes are cut to it.
        """
        if isinstance(size, bool) or not isinstance(size, int):
            raise TypeError("set_max_send_fragment: 'size' must be an int")
        if not 512 <= size <= 16384:
            return False  # Node returns false for sizes OpenSSL refuses
        self._write_chunk = size
        return True

    # -- closing ----------------------------------------------------------------------------

    def shutdown(self, how: int = _socket.SHUT_RDWR) -> None:
        """``SHUT_WR``/``SHUT_RDWR`` send close_notify, then shut the transport down."""
        if how in (_socket.SHUT_WR, _socket.SHUT_RDWR):
            self._send_close_notify()
        shutdown = getattr(self._transport, "shutdown", None)
        if shutdown is not None:
            try:
                shutdown(how)
            except OSError:
                pass

    unwrap_shutdown = shutdown

    def unwrap(self) -> Any:
        """``ssl.SSLSocket.unwrap()``: exchange close_notify (RFC 8446 section 6.1), then return
        the transport for plain use; this ``TLSSocket`` is closed afterwards."""
        engine = self._engine
        if engine.state in (_OPEN, _CLOSING):
            assert self._pump is not None  # the handshake chose it
            while not retry(self._pump, HANDSHAKE, engine.shutdown):
                pass  # ours went out; the next call waits for the peer's close_notify
        transport = self._transport
        self._closed = True
        self._watch.close()
        engine.close()
        return transport

    def connect(self, address: Any) -> None:
        """``ssl.SSLSocket.connect``: connect the (unconnected) transport, then handshake unless
        it was wrapped with ``do_handshake_on_connect=False`` (``_tls/wrap.py``)."""
        self._transport.connect(address)
        if self._handshake_on_connect:
            self.do_handshake()

    def pending(self) -> int:
        """``ssl.SSLSocket.pending()``: decrypted bytes readable without waiting."""
        return len(self._plain) + (self._engine.pending() if self._engine.state is _OPEN else 0)

    def _send_close_notify(self) -> None:
        """Queue and send our close_notify once, without waiting for the peer's (Node's end());
        never mid-handshake, where OpenSSL refuses SSL_shutdown (docs/architecture.rst,
        "fact-shutdown-in-handshake")."""
        engine = self._engine
        if engine.state is not _OPEN:
            return
        assert self._pump is not None  # open: the handshake chose it
        try:
            engine.shutdown()
            self._pump.flush()
        except (WantRead, WantWrite):
            pass  # the socket buffer is full: the close_notify is not worth blocking for
        except OSError:
            pass

    def close(self) -> None:
        """Send close_notify if the handshake finished, then close the transport."""
        if self._closed:
            return
        self._closed = True
        if self._io_refs <= 0:
            self._real_close()

    def _close_owned(self) -> None:
        """The server's end of a connection: close now, even if files from ``makefile()``
        are still open (they then fail as on a closed socket).  The server closes the socket
        right after, so nothing may be left to send close_notify later, on a descriptor
        number that another connection may own by then."""
        self._io_refs = 0
        self._closed = True
        self._real_close()

    def _real_close(self) -> None:
        self._watch.close()
        self._send_close_notify()
        self._deliver_trace_quietly()  # the close_notify just sent
        self._engine.close()
        self._watch.end()
        self._psk = None  # it holds this socket (its callback's argument)
        self._close_transport()

    def _abort(self) -> None:
        """Close without close_notify (a failed or abandoned handshake)."""
        self._closed = True
        self._watch.close()
        self._engine.fail()
        self._engine.close()
        self._deliver_trace_quietly()  # while the watch still knows its sender (``end``)
        self._watch.end()
        self._psk = None
        self._close_transport()

    def _flush_quietly(self) -> None:
        try:
            assert self._pump is not None  # only _handshake_loop calls this
            self._pump.flush()
        except Exception:  # the peer is gone; nothing to tell it
            pass

    def _refuse_hello(self, description: int | None, linger: bool = True) -> None:
        """A ClientHello refused before OpenSSL answered it: send the fatal alert
        ``description`` (None: OpenSSL sent its own), in a plaintext record since no keys exist
        yet (RFC 8446 section 5.1), then FIN, then read and drop what the peer still sends
        (bounded in bytes and time): closing with unread bytes would send a reset, and a peer
        that meets the reset may never read the alert.  A hello larger than OpenSSL accepts
        gets ``illegal_parameter``, as OpenSSL answers it (SSL_R_EXCESSIVE_MESSAGE_SIZE)."""
        transport = self._transport
        try:
            if description is not None:
                transport.sendall(_ALERT_RECORD + bytes([description & 0xFF]))
            transport.shutdown(_socket.SHUT_WR)
            if not linger:  # only what has already arrived (the hello, on the descriptor path)
                self._discard_unread()
                return
            end = monotonic() + _DRAIN_SECONDS  # in all, not per read: a trickle cannot extend it
            left = _DRAIN_BYTES
            while left > 0:
                remaining = end - monotonic()
                if remaining <= 0:
                    return
                transport.settimeout(remaining)
                chunk = transport.recv(min(left, _RECV_DEFAULT))
                if not chunk:
                    return
                left -= len(chunk)
        except (OSError, AttributeError):  # gone, timed out, or a transport without these
            return

    def _discard_unread(self) -> None:
        """A handshake on the descriptor failed: read and drop what the peer sent that OpenSSL
        left unread (the rest of an HTTP request, say).  Closing a TCP socket with unread bytes
        sends a reset instead of a FIN (RFC 1122 section 4.2.2.13), and a peer that receives
        the reset may drop our alert unread.  The memory pump reads whole buffers anyway."""
        transport = self._transport
        if not is_gevent_socket(transport):
            return
        timeout = transport.gettimeout()
        transport.settimeout(0.0)  # a recv with nothing to read raises instead of waiting
        try:
            for _ in range(16):  # bounded: a peer that keeps sending gets its reset
                if not transport.recv(_RECV_DEFAULT):
                    return
        except OSError:  # nothing more (EAGAIN), or the peer is gone
            return
        finally:
            try:
                transport.settimeout(timeout)
            except OSError:
                pass

    def _close_transport(self) -> None:
        if self._is_server and self._wire is None:
            self._wire = wire_bytes(self._transport)  # the kernel's counts, while it has them
        if self._pump is not None:
            self._pump.close()  # wakes waiters and frees its watchers before the descriptor goes
        close = getattr(self._transport, "close", None)
        if close is not None:
            try:
                close()
            except OSError:
                pass
        on_close = self._on_close
        if on_close is not None:
            self._on_close = None
            on_close(self)

    def _decref_socketios(self) -> None:
        if self._io_refs > 0:
            self._io_refs -= 1
        if self._closed and self._io_refs <= 0:
            self._real_close()

    def makefile(self, mode: str = "r", buffering: int | None = None, *, encoding: str | None = None,
                 errors: str | None = None, newline: str | None = None) -> Any:
        """A file object over the decrypted stream, as ``socket.makefile``."""
        # The stdlib's own, which needs only what TLSSocket has (recv_into, send, _io_refs,
        # _decref_socketios); typeshed types its self as a socket.
        makefile: Callable[..., Any] = _socket.socket.makefile
        return makefile(self, mode, buffering, encoding=encoding, errors=errors, newline=newline)

    def __enter__(self) -> TLSSocket:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    # -- socket-like plumbing ----------------------------------------------------------------

    def fileno(self) -> int:
        """The transport's descriptor (-1 for a transport without one)."""
        fileno = getattr(self._transport, "fileno", None)
        return fileno() if fileno is not None else -1

    def settimeout(self, value: float | None) -> None:
        """Per-operation timeout of the transport (``socket.timeout`` when it passes)."""
        self._transport.settimeout(value)

    def gettimeout(self) -> float | None:
        """The transport's per-operation timeout."""
        gettimeout = getattr(self._transport, "gettimeout", None)
        return gettimeout() if gettimeout is not None else None

    def setblocking(self, flag: bool) -> None:
        """As ``socket.setblocking``."""
        self.settimeout(None if flag else 0.0)

    @property
    def _sock(self) -> Any:
        return self._transport

    @property
    def closed(self) -> bool:
        """True once ``close()`` was called."""
        return self._closed

    def address(self) -> Any:
        """The local address, as Node's ``address()``: ``{"address", "family", "port"}``."""
        return address_dict(self._transport.getsockname(), self._transport)

    @property
    def local_address(self) -> str | None:
        """Local IP address (Node's ``localAddress``)."""
        return self._name(self._transport.getsockname)[0]

    @property
    def local_port(self) -> int | None:
        """Local port (Node's ``localPort``)."""
        return self._name(self._transport.getsockname)[1]

    @property
    def remote_address(self) -> str | None:
        """Peer IP address (Node's ``remoteAddress``): behind a balancer that sent a PROXY
        protocol header, the client's from that header."""
        if self._proxied is not None:
            return self._proxied[0]
        return self._name(self._peername)[0]

    @property
    def remote_port(self) -> int | None:
        """Peer port (Node's ``remotePort``), the client's behind a PROXY header."""
        if self._proxied is not None:
            return self._proxied[1]
        return self._name(self._peername)[1]

    @property
    def remote_family(self) -> str | None:
        """``"IPv4"`` or ``"IPv6"`` (Node's ``remoteFamily``), the client's behind a PROXY header."""
        if self._proxied is not None:
            return self._proxied[2]
        family = getattr(self._transport, "family", None)
        names: dict[object, str] = {_socket.AF_INET: "IPv4", _socket.AF_INET6: "IPv6"}
        return names.get(family)

    def _accepted_from(self, address: tuple[Any, ...]) -> None:
        """Server: the peer address ``accept()`` returned, which ``_peername`` then gives."""
        self._peer = address

    def _peername(self) -> Any:
        """The transport's peer address, asked of the socket once (it cannot change)."""
        peer = self._peer
        if peer is None:
            peer = self._peer = self._transport.getpeername()
        return peer

    @staticmethod
    def _name(getter: Callable[[], Any]) -> tuple[str | None, int | None]:
        try:
            name = getter()
        except (OSError, AttributeError):
            return (None, None)
        return (name[0], name[1]) if isinstance(name, tuple) else (None, None)

    def __repr__(self) -> str:
        side = "server" if self._is_server else "client"
        return f"<greentls.TLSSocket {side} {self._engine.state.value}>"


def new_socket(sock: Any, *, identity_check: tuple[IdentityCheck, str] | None = None, min_dh_size: int = 0,
               handshake_on_connect: bool = True, **options: Any) -> TLSSocket:
    """``TLSSocket(sock, **options)`` with what only greentls's own constructors set, which are
    no ``TLSSocket`` parameters (docs/api/tlssocket.rst lists those): ``connect()``'s identity check
    ``(check_server_identity, host)``, run after the chain check, and its ``min_dh_size``
    (``_net/client.py``); ``wrap_socket``'s ``do_handshake_on_connect``, for a later
    ``connect()`` (``_tls/wrap.py``).  Internal: the one place outside ``TLSSocket`` that sets
    them, beside the class it configures."""
    tls = TLSSocket(sock, **options)
    tls._identity_check = identity_check
    tls._min_dh_size = min_dh_size
    if not handshake_on_connect:
        tls._handshake_on_connect = False
    return tls
