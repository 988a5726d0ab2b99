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

from greentls._base.binding import lib as _lib
from greentls._config.psk import MAX_IDENTITY, client_answer, is_psk_cipher
from greentls._parse.clienthello import ClientHelloError, ClientHelloParser
from greentls._parse.pskinfo import (
    CLIENT_HELLO,
    CLIENT_KEY_EXCHANGE,
    SERVER_HELLO,
    SERVER_HELLO_DONE,
    SERVER_KEY_EXCHANGE,
    HandshakeReader,
    first_vector,
    is_hello_retry_request,
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
    """A server connection's PSK keys, asked of ``ask(identity) -> bytes | None``.

    It asks as OpenSSL would (so the callback hears of no identity OpenSSL ignores): TLS 1.3
    hello identities only when the hello offers TLS 1.3, in order, stopping at the first that
    OpenSSL would try as a session ticket (longer than an identity may be); the identities of
    the second ClientHello after a HelloRetryRequest, which replace the first's.  Whether the
    PSK authenticated the client is read from what OpenSSL did (``authenticated``)."""

    __slots__ = ("_ask", "_tls13", "_record", "_conn", "_reader", "_sent", "_suite", "_sole", "_retry")

    def __init__(self, ask: Callable[[str], bytes | None], record: CallbackRecord, conn: SSL.Connection) -> None:
        self._ask = ask
        #: The serving context may negotiate TLS 1.3 (else OpenSSL ignores every pre_shared_key);
        #: told with the first ClientHello, once SNI chose the context.
        self._tls13 = True
        self._record = record
        self._conn = conn
        self._reader = HandshakeReader()
        #: The server's own flight: its ServerHello names the cipher suite (OpenSSL reports no
        #: current cipher before the handshake ends), or is a HelloRetryRequest.
        self._sent = HandshakeReader()
        self._suite: bytes | None = None
        #: TLS 1.3: the last ClientHello offered one identity, and it has a key.  Only then is
        #: a resumed handshake the external PSK's, not a session ticket's.
        self._sole = False
        #: A HelloRetryRequest went out and the second ClientHello was not read yet.
        self._retry = False

    def _key_for(self, identity: bytes) -> bool:
        """Ask for ``identity``'s key (once); True when there is one."""
        keys = self._record.psk_keys
        if keys is None:
            keys = self._record.psk_keys = {}
        if identity in keys:
            return True
        key = self._ask(identity.decode("utf-8"))
        if key is None:
            return False
        keys[identity] = key
        return True

    def on_hello(self, hello: ClientHello, tls13: bool | None = None) -> None:
        """TLS 1.3: the identities the client offers, in its order, until one has a key (as
        OpenSSL asks its callback).  ``tls13``: whether the serving context reaches TLS 1.3."""
        if tls13 is not None:
            self._tls13 = tls13
        self._sole = False
        if not self._tls13 or _TLS13 not in hello.supported_versions or not self._allowed_mode(hello.psk_modes):
            return  # OpenSSL ignores pre_shared_key below TLS 1.3, and without a mode it allows
        identities = hello.psk_identities
        for identity in identities:
            if not _askable(identity):
                return  # OpenSSL tries it as a ticket first, and stops there if it resumes
            if self._key_for(identity):
                self._sole = len(identities) == 1
                return

    def _allowed_mode(self, modes: bytes) -> bool:
        """psk_dhe_ke, or psk_ke (no key exchange) where SSL_OP_ALLOW_NO_DHE_KEX allows it."""
        if _PSK_DHE_KE in modes:
            return True
        return _PSK_KE in modes and bool(_lib.SSL_get_options(self._conn._ssl) & _OP_ALLOW_NO_DHE_KEX)

    def observe(self, data: bytes) -> None:
        """Bytes from the client, before OpenSSL reads them: the second ClientHello after a
        HelloRetryRequest, and a TLS 1.2 PSK ClientKeyExchange, which names the identity whose
        key OpenSSL is about to ask for."""
        for kind, body in self._reader.feed(data):
            if kind == CLIENT_HELLO and self._retry:
                self._retry = False
                self._record.psk_served = False  # only what OpenSSL does with this hello counts
                hello = _parse_hello(body)
                if hello is None:
                    self._sole = False
                else:
                    self.on_hello(hello)
            elif kind == CLIENT_KEY_EXCHANGE and self._suite is not None and is_psk_cipher(self._conn, self._suite):
                identity = first_vector(body)
                if identity is not None and _askable(identity):
                    self._key_for(identity)

    def observe_sent(self, data: bytes) -> None:
        """Bytes the server sent: its ServerHello names the cipher suite, or asks for another
        ClientHello (after which the client may send one ChangeCipherSpec first)."""
        for kind, body in self._sent.feed(data):
            if kind == SERVER_HELLO:
                if is_hello_retry_request(body):
                    self._retry = True
                    self._reader.skip_change_cipher_spec = True
                    self._sent.skip_change_cipher_spec = True
                else:
                    self._suite = server_hello_cipher(body)

    def authenticated(self, tls13: bool, resumed: bool) -> bool:
        """True when the client proved a key this server's callback gave: OpenSSL asked for a
        key since the last ClientHello and got one, and then a TLS 1.2 PSK cipher suite ran
        its full handshake, or a TLS 1.3 handshake resumed the client's only identity."""
        if not self._record.psk_served or self._retry:
            return False
        if tls13:
            return resumed and self._sole
        return self._suite is not None and is_psk_cipher(self._conn, self._suite)


_TLS13 = 0x0304
_PSK_KE, _PSK_DHE_KE = 0, 1
#: SSL_OP_ALLOW_NO_DHE_KEX, SSL_OP_BIT(10) in OpenSSL 3's ssl.h; not exported by the bindings.
_OP_ALLOW_NO_DHE_KEX = 1 << 10


def _askable(identity: bytes) -> bool:
    """An identity OpenSSL hands its PSK callback (at most 128 bytes, no NUL), in UTF-8 (so
    two different identities never reach the callback as one string)."""
    if not identity or len(identity) > MAX_IDENTITY or b"\0" in identity:
        return False
    try:
        identity.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _parse_hello(body: bytes) -> ClientHello | None:
    """A ClientHello handshake message's body, parsed (None if it is not one we can read)."""
    message = bytes([CLIENT_HELLO]) + len(body).to_bytes(3, "big") + body
    record = bytes([22, 3, 3]) + len(message).to_bytes(2, "big") + message
    try:
        return ClientHelloParser(max_size=len(record) + 5).feed(record)
    except ClientHelloError:
        return None


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
