"""TLS-PSK in the connection's greenlet: asking ``psk_callback`` before OpenSSL needs its answer.

OpenSSL's PSK callbacks (``_config/psk.py``) run inside the handshake and only read what is
recorded here; these classes ask the user's callback, which may block, from the handshake bytes
that precede OpenSSL's question (``_parse/pskinfo.py``):

* ``ServerPsk``: the identities of a TLS 1.3 ClientHello (``on_hello``, from the parsed hello),
  and the identity of a TLS 1.2 PSK ClientKeyExchange (``observe``, on the memory pump, before
  OpenSSL reads those bytes).  A server with a ``psk_callback`` runs its handshake on memory
  BIOs for that reason; it moves to the descriptor once the handshake is over.
* ``ClientPsk``: once before the handshake with no hint (TLS 1.3 external PSK), and with the
  server's hint at a TLS 1.2 PSK server's ServerHelloDone (``observe``).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from greentls._config.psk import MAX_IDENTITY, client_answer, is_psk_cipher
from greentls._parse.pskinfo import (
    CLIENT_KEY_EXCHANGE,
    SERVER_HELLO,
    SERVER_HELLO_DONE,
    SERVER_KEY_EXCHANGE,
    HandshakeReader,
    first_vector,
    server_hello_cipher,
)

if TYPE_CHECKING:
    from OpenSSL import SSL

    from greentls._config.record import CallbackRecord
    from greentls._parse.clienthello import ClientHello

__all__ = ["ServerPsk", "ClientPsk"]


def _text(identity: bytes) -> str:
    return identity.decode("utf-8", "replace")  # as Node hands its callback a string


class ServerPsk:
    """A server connection's PSK keys, asked of ``ask(identity) -> bytes | None``."""

    __slots__ = ("_ask", "_record", "_conn", "_reader", "_sent", "_suite", "sole_identity_keyed")

    def __init__(self, ask: Callable[[str], bytes | None], record: CallbackRecord, conn: SSL.Connection) -> None:
        self._ask = ask
        self._record = record
        self._conn = conn
        self._reader = HandshakeReader()
        #: The server's own flight, for the cipher suite its ServerHello selected (OpenSSL
        #: reports no current cipher before the handshake ends).
        self._sent = HandshakeReader()
        self._suite: bytes | None = None
        #: TLS 1.3: the client offered one identity, and it has a key.  Only then can a
        #: resumed handshake be told from a ticket's: it resumed the external PSK.
        self.sole_identity_keyed = False

    def _key_for(self, identity: bytes) -> bool:
        """Ask for ``identity``'s key (once); True when there is one."""
        keys = self._record.psk_keys
        if keys is None:
            keys = self._record.psk_keys = {}
        if identity in keys:
            return True
        if not identity or len(identity) > MAX_IDENTITY or b"\0" in identity:
            return False  # OpenSSL never asks for it (a session ticket is longer)
        key = self._ask(_text(identity))
        if key is None:
            return False
        keys[identity] = key
        return True

    def on_hello(self, hello: ClientHello) -> None:
        """TLS 1.3: the identities the client offers, in its order, until one has a key (as
        OpenSSL asks its callback)."""
        for identity in hello.psk_identities:
            if self._key_for(identity):
                self.sole_identity_keyed = len(hello.psk_identities) == 1
                return

    def observe(self, data: bytes) -> None:
        """Bytes from the client, before OpenSSL reads them: a TLS 1.2 PSK ClientKeyExchange
        names the identity whose key OpenSSL is about to ask for."""
        for kind, body in self._reader.feed(data):
            if kind == CLIENT_KEY_EXCHANGE and self._suite is not None and is_psk_cipher(self._conn, self._suite):
                identity = first_vector(body)
                if identity is not None:
                    self._key_for(identity)

    def observe_sent(self, data: bytes) -> None:
        """Bytes the server sent: its ServerHello names the cipher suite."""
        for kind, body in self._sent.feed(data):
            if kind == SERVER_HELLO:
                self._suite = server_hello_cipher(body)

    def authenticated(self, tls13: bool, resumed: bool) -> bool:
        """True when the client proved a key this server's callback gave: a TLS 1.2 PSK
        cipher suite, or a TLS 1.3 handshake that resumed the client's only identity, keyed."""
        if tls13:
            return resumed and self.sole_identity_keyed
        return bool(self._record.psk_keys) and is_psk_cipher(self._conn)


class ClientPsk:
    """A client connection's PSK answer, asked of ``callback(tls_socket, hint)``."""

    __slots__ = ("_tls", "_callback", "_record", "_conn", "_reader", "_suite", "_hint", "_then")

    def __init__(self, tls: Any, callback: Callable[[Any, str | None], Any], record: CallbackRecord,
                 conn: SSL.Connection, then: Callable[[bytes], object] | None) -> None:
        self._tls = tls
        self._callback = callback
        self._record = record
        self._conn = conn
        self._reader = HandshakeReader()
        self._suite: bytes | None = None
        self._hint: bytes | None = None
        #: The observer this one stands in front of (the ServerKeyExchange sniffer).
        self._then = then

    def ask(self, hint: str | None) -> None:
        """Ask the callback; its answer is what OpenSSL's client callback hands over."""
        self._record.psk_answer = client_answer(self._callback(self._tls, hint))

    def observe(self, data: bytes) -> None:
        """Bytes from the server, before OpenSSL reads them: at a TLS 1.2 PSK server's
        ServerHelloDone, ask again with its hint (OpenSSL asks right after reading it)."""
        if self._then is not None:
            self._then(data)
        for kind, body in self._reader.feed(data):
            if kind == SERVER_HELLO:
                self._suite = server_hello_cipher(body)
            elif kind == SERVER_KEY_EXCHANGE:
                self._hint = first_vector(body)
            elif kind == SERVER_HELLO_DONE and self._suite is not None \
                    and is_psk_cipher(self._conn, self._suite):
                self.ask(_text(self._hint) if self._hint else None)
