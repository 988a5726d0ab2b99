"""``greentls.SSLObject``: the stdlib's ``ssl.SSLObject`` (``SSLContext.wrap_bio``) on greentls.

The caller moves TLS bytes: it writes what arrived from the peer into the ``incoming``
``ssl.MemoryBIO`` and sends what appears in ``outgoing``.  A call that needs more bytes from
the peer raises ``ssl.SSLWantReadError`` (greentls's ``WantReadError``), after putting whatever
this side must send into ``outgoing``; that is the contract asyncio's SSL transport, among
others, is written against.  The engine is the one ``TLSSocket`` uses, over its memory BIOs.
"""
from __future__ import annotations

import ssl as _ssl
from typing import TYPE_CHECKING, Any

from greentls._app.stdlib import (
    SSLContext,
    SSLSession,
    StdlibConnection,
    _encode_hostname,
    _StdlibPolicy,
    _verify_policy,
    configure_connection,
    stdlib_verify_message,
)
from greentls._base.errors import CertificateError, TLSError, UnexpectedEOFError, UnsupportedError, WantReadError
from greentls._config.verify import certificate_error_for, configure_verify, verify_result
from greentls._engine.engine import HelloReady, TLSEngine, WantRead, WantWrite
from greentls._engine.state import State
from greentls._parse.identity import is_ip_literal
from greentls._tls.inspect import ConnectionInfo

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer, WriteableBuffer

__all__ = ["SSLObject"]


class SSLObject(StdlibConnection, ConnectionInfo):
    """``ssl.SSLObject`` on greentls: TLS over two ``ssl.MemoryBIO`` objects.  Made by
    ``SSLContext.wrap_bio``."""

    authorized: bool = False
    authorization_error: str | None = None
    _ske_sniffer = None
    _incoming: _ssl.MemoryBIO
    _outgoing: _ssl.MemoryBIO
    _policy: _StdlibPolicy | None
    _request_cert: bool
    _reject: bool

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError(f"{type(self).__name__} does not have a public constructor. "
                        f"Instances are returned by SSLContext.wrap_bio().")

    @classmethod
    def _create(cls, incoming: _ssl.MemoryBIO, outgoing: _ssl.MemoryBIO, context: SSLContext,
                server_side: bool, server_hostname: str | bytes | None,
                session: SSLSession | None) -> SSLObject:
        if not isinstance(incoming, _ssl.MemoryBIO) or not isinstance(outgoing, _ssl.MemoryBIO):
            raise TypeError("incoming and outgoing must be ssl.MemoryBIO objects")
        if server_side:
            if server_hostname:
                raise ValueError("server_hostname can only be specified in client mode")
            if session is not None:
                raise ValueError("session can only be specified in client mode")
        if context.check_hostname and not server_side and not server_hostname:
            raise ValueError("check_hostname requires server_hostname")
        self: SSLObject = cls.__new__(cls)
        self._incoming = incoming
        self._outgoing = outgoing
        self._ssl_context = context
        self._wrapped_context = context
        self._server_side = server_side
        self._hostname = _encode_hostname(server_hostname)
        self._client_ciphers = None
        secure = context._secure_context()
        policy = secure.policy  # the settings taken with the built context (_Policy)
        if policy.psk_client is not None or policy.psk_server is not None:
            # Not silently ignored: the PSK readers ride on greentls's socket pumps, which an
            # SSLObject (the caller moves the bytes) does not have.
            raise UnsupportedError("SSLObject: set_psk_client_callback/set_psk_server_callback are not "
                                   "supported over MemoryBIO (wrap_bio); use wrap_socket",
                                   reason="psk over MemoryBIO")
        request_cert, reject = _verify_policy(policy, server_side)
        self._request_cert, self._reject = request_cert, reject
        openssl_context = secure.server_context(request_cert, reject) if server_side else secure.context
        self._engine = TLSEngine(openssl_context, server_side=server_side, parse_hello=server_side)
        self._engine.alpn_optional = True  # the stdlib's server answers no ALPN on no overlap
        self._policy = _StdlibPolicy(self) if server_side else None  # type: ignore[arg-type]
        conn = self._engine.conn
        configure_verify(conn, server_side=server_side, request_cert=request_cert, reject_unauthorized=reject)
        configure_connection(conn, policy, server_side, self._hostname)
        if server_side:
            self._engine.alpn_protocols = policy.alpn
        else:
            if policy.alpn:
                conn.set_alpn_protos(policy.alpn)
            if self._hostname and not is_ip_literal(self._hostname):
                conn.set_tlsext_host_name(self._hostname.encode("ascii"))
            self.session = session
        return self

    # -- moving bytes ----------------------------------------------------------------------------

    def _feed(self) -> None:
        data = self._incoming.read()
        if data:
            self._engine.receive_bytes(data)
        if self._incoming.eof:  # after its last bytes: they may be all the peer sent (tickets)
            self._engine.receive_bytes(b"")

    def _flush(self) -> None:
        engine = self._engine
        while data := engine.outgoing_bytes():
            self._outgoing.write(data)

    def _use_context(self, context: Any) -> None:
        """The SNI context chosen by ``sni_callback`` (through ``_StdlibPolicy``)."""
        policy = getattr(context, "policy", None) or self._ssl_context._secure_context().policy
        request_cert, reject = _verify_policy(policy, True)
        self._request_cert, self._reject = request_cert, reject
        self._engine.set_context(context.server_context(request_cert, reject))
        self._engine.alpn_protocols = policy.alpn
        configure_verify(self._engine.conn, server_side=True, request_cert=request_cert,
                         reject_unauthorized=reject)
        configure_connection(self._engine.conn, policy, True, None)

    def do_handshake(self) -> None:
        """Advance the handshake; ``ssl.SSLWantReadError`` until the peer's bytes complete it."""
        engine = self._engine
        if engine.state is State.OPEN:
            return
        self._feed()
        while True:
            try:
                engine.do_handshake()
                break
            except HelloReady:
                assert engine.client_hello is not None and self._policy is not None
                chosen = self._policy.context_for(self, engine.client_hello)  # type: ignore[arg-type]
                if chosen is not None:
                    self._use_context(chosen)
                engine.release_hello()
            except (WantRead, WantWrite):
                self._flush()
                raise WantReadError() from None
            except TLSError as exc:
                self._flush()  # the alert
                error = certificate_error_for(engine.conn, exc)
                if isinstance(error, CertificateError):
                    stdlib_verify_message(error, self._hostname, engine.conn)
                raise error from exc.__cause__
        self._flush()
        engine.client_hello = None
        if not self._server_side or self._request_cert:
            code = verify_result(engine.conn)
            self.authorized = code is None
            self.authorization_error = code

    def _ensure_open(self) -> None:
        if self._engine.state is State.NEW or self._engine.state is State.HANDSHAKING:
            self.do_handshake()

    def read(self, len: int = 1024, buffer: WriteableBuffer | None = None) -> Any:
        """Up to ``len`` decrypted bytes (or the count read into ``buffer``); b"" after the
        peer's close_notify; ``ssl.SSLEOFError`` if the incoming BIO ended without one."""
        self._ensure_open()
        engine = self._engine
        self._feed()
        if buffer is not None:
            view = memoryview(buffer).cast("B")
            size = len or view.nbytes
        else:
            size = len
        if size <= 0:
            return 0 if buffer is not None else b""
        try:
            data = engine.read(size)
        except (WantRead, WantWrite):
            self._flush()
            raise WantReadError() from None
        except CertificateError as exc:
            self._flush()
            raise exc
        self._flush()
        if not data and not engine.clean_close:
            raise UnexpectedEOFError()
        if buffer is not None:
            view[:data.__len__()] = data
            return data.__len__()
        return data

    def write(self, data: ReadableBuffer) -> int:
        """Encrypt ``data`` into the outgoing BIO; returns its length."""
        self._ensure_open()
        view = memoryview(data).cast("B")
        total = view.nbytes
        offset = 0
        while offset < total:
            try:
                offset += self._engine.write(view[offset:])
            except (WantRead, WantWrite):
                self._flush()
                raise WantReadError() from None
        self._flush()
        return total

    def pending(self) -> int:
        """Decrypted bytes readable without new input."""
        return self._engine.pending() if self._engine.state is State.OPEN else 0

    def unwrap(self) -> None:
        """Send close_notify; ``ssl.SSLWantReadError`` until the peer's has arrived."""
        engine = self._engine
        self._feed()
        try:
            done = engine.shutdown()
        except (WantRead, WantWrite):
            done = False
        self._flush()
        if not done:
            raise WantReadError()

    def verify_client_post_handshake(self) -> None:
        """TLS 1.3 post-handshake authentication on a memory BIO is not supported here."""
        raise UnsupportedError("SSLObject.verify_client_post_handshake is not supported; use SSLSocket",
                               reason="verify_client_post_handshake")

    def __repr__(self) -> str:
        side = "server" if self._server_side else "client"
        return f"<greentls.SSLObject {side} {self._engine.state.value}>"


SSLContext.sslobject_class = SSLObject
