"""The decisions a server makes on a ClientHello, as an object the server passes down.

OpenSSL's SNI and status callbacks run inside OpenSSL, where a greenlet must never block or
switch, so a server that must choose a context by name or fetch an OCSP staple decides in the
connection's greenlet, on greentls's own parse of the hello, before OpenSSL reads it (the
engine's ClientHello seam).  What to decide is the server's business; when to ask, and applying
the answers to the connection, is the socket's.  ``HelloPolicy`` is the interface between them:
``TLSSocket`` asks its policy and applies what it answers, and never reaches into a server.
``Server`` has its own (``_net/server.py``); a standalone server socket with an ``sni_callback``
gets ``CallbackPolicy``.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from greentls._config.cache import context_from_answer
from greentls._config.context import SecureContext

if TYPE_CHECKING:
    from greentls._parse.clienthello import ClientHello
    from greentls._tls.socket import TLSSocket

__all__ = ["HelloPolicy", "CallbackPolicy"]


class HelloPolicy:
    """Decides nothing: OpenSSL reads the hello unparsed and the socket's context serves."""

    def decides(self) -> bool:
        """True when something must see the ClientHello before OpenSSL does."""
        return False

    def context_for(self, tls: TLSSocket, hello: ClientHello) -> SecureContext | None:
        """The context to serve this hello with (may block), or None for the socket's own."""
        return None

    def wants_staple(self, tls: TLSSocket) -> bool:
        """True when ``staple_for`` should be asked (the hello carried status_request)."""
        return False

    def chooses_alpn(self) -> bool:
        """True when ``alpn_for`` picks the ALPN protocol of each hello that offers some (an
        ``alpn_callback``) instead of a list of protocols; ``decides`` must then be True."""
        return False

    def alpn_for(self, tls: TLSSocket, servername: str | None, protocols: list[str]) -> str | None:
        """The protocol to select among ``protocols`` (the client's, in its order) for the
        name OpenSSL will read (may block), or None to refuse them all."""
        return None

    def staple_for(self, tls: TLSSocket, certificate: bytes, issuer: bytes | None) -> bytes | None:
        """The OCSP response to staple for ``certificate`` (may block), or None."""
        return None

    def answers_psk(self) -> bool:
        """True when ``psk_for`` gives pre-shared keys (a ``psk_callback``); the handshake then
        runs on memory BIOs, where the client's identity is read before OpenSSL asks."""
        return False

    def psk_for(self, tls: TLSSocket, identity: str) -> bytes | None:
        """The pre-shared key for the client's ``identity`` (may block), or None for none."""
        return None

    def psk_hint(self) -> str | None:
        """The ``psk_identity_hint`` a TLS 1.2 server sends."""
        return None


class CallbackPolicy(HelloPolicy):
    """A server ``TLSSocket`` of its own (no ``Server``) with an ``sni_callback``."""

    __slots__ = ("_callback",)

    def __init__(self, sni_callback: Callable[[str], Any]) -> None:
        self._callback = sni_callback

    def decides(self) -> bool:
        return True

    def context_for(self, tls: TLSSocket, hello: ClientHello) -> SecureContext | None:
        if not hello.server_name:
            return None
        return context_from_answer(self._callback(hello.server_name))
