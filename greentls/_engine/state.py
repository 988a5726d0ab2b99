"""The engine's states, where each may go next, and which operations each allows.

One table, as h11's ``_state.py`` keeps one: ``TLSEngine`` changes state only through
``advance`` (which refuses a move the table does not list) and checks ``ALLOWED`` before every
operation (``refusal`` says why one is refused); the record path (``read``, ``read_into``,
``write``) tests the same sets inline, by identity, and ``tests/test_state.py`` pins them.
``TLSSocket`` reads the engine's state and gets the engine's refusals, so the facade and the
engine cannot disagree about what a closed or broken connection may still do.

::

    NEW --> HANDSHAKING --> OPEN --> CLOSING --> CLOSED
     |           |            |         |
     +-----------+------------+---------+-----> BROKEN (final: a fatal error was seen)

``CLOSING``: our close_notify went out (``shutdown``); the peer may still send, so reads go on.
``close()`` moves any state but ``BROKEN`` to ``CLOSED``; ``BROKEN`` stays, as in trio, so a
later call reports a broken connection rather than a clean close.
"""
from __future__ import annotations

import enum

from greentls._base.errors import TLSError

__all__ = ["State", "TRANSITIONS", "ALLOWED", "advance", "refusal"]


class State(enum.Enum):
    """Where a connection is; every public method checks it first."""

    NEW = "new"
    HANDSHAKING = "handshaking"
    OPEN = "open"
    CLOSING = "closing"
    BROKEN = "broken"
    CLOSED = "closed"

    # Members are singletons compared by identity: hash them so too.  Enum's own __hash__ is a
    # Python function (hash of the name), run by every state-table lookup.
    __hash__ = object.__hash__


_ALL = frozenset(State)

#: Where each state may go next.
TRANSITIONS: dict[State, frozenset[State]] = {
    State.NEW: frozenset({State.HANDSHAKING, State.BROKEN, State.CLOSED}),
    State.HANDSHAKING: frozenset({State.OPEN, State.BROKEN, State.CLOSED}),
    State.OPEN: frozenset({State.CLOSING, State.BROKEN, State.CLOSED}),
    State.CLOSING: frozenset({State.BROKEN, State.CLOSED}),
    State.BROKEN: frozenset(),
    State.CLOSED: frozenset(),
}

#: Which states each engine operation may run in.  ``handshake`` in ``OPEN`` returns at once;
#: ``shutdown`` in ``NEW``, ``BROKEN`` and ``CLOSED`` has nothing to send and reports done.
ALLOWED: dict[str, frozenset[State]] = {
    "handshake": frozenset({State.NEW, State.HANDSHAKING, State.OPEN}),
    "read": frozenset({State.OPEN, State.CLOSING}),
    "write": frozenset({State.OPEN}),
    "renegotiate": frozenset({State.OPEN}),
    # A server's CertificateRequest after the TLS 1.3 handshake (RFC 8446 section 4.6.2).
    "post_handshake_auth": frozenset({State.OPEN}),
    "shutdown": _ALL,
    # What the handshake established: keying material, the session, the peer's certificate.
    "established": frozenset({State.OPEN, State.CLOSING}),
    # Choosing the context (SNI) is only possible before OpenSSL has read the ClientHello.
    "configure": frozenset({State.NEW, State.HANDSHAKING}),
    # Another key and certificate (setKeyCert): for this handshake, a renegotiation, or a
    # client's answer to a post-handshake certificate request.
    "set_key_cert": frozenset({State.NEW, State.HANDSHAKING, State.OPEN}),
    # Handing OpenSSL the descriptor: before the handshake (begin_on_fd) or once it is done.
    "attach": frozenset({State.NEW, State.OPEN}),
}


def advance(current: State, new: State) -> State:
    """``new`` if the table allows moving there from ``current`` (or it is ``current``)."""
    if new is current or new in TRANSITIONS[current]:
        return new
    raise TLSError(f"internal error: a TLS connection cannot go from {current.value} to {new.value}",
                   code="ERR_TLS_INTERNAL")


def refusal(operation: str, state: State) -> TLSError:
    """The error for ``operation`` refused in ``state``, in the socket's words (Node's codes)."""
    if state is State.BROKEN:
        return TLSError(f"cannot {operation}: the TLS connection failed earlier", code="ERR_SOCKET_CLOSED",
                        reason="the socket is closed")
    if state is State.CLOSED:
        return TLSError("the socket is closed", code="ERR_SOCKET_CLOSED")
    if state is State.CLOSING and operation == "write":
        return TLSError("cannot write after the TLS connection was shut down", code="EPIPE",
                        reason="write after end")
    if state is State.CLOSING:
        return TLSError(f"cannot {operation} after the TLS connection was shut down",
                        code="ERR_SOCKET_CLOSED", reason="the socket is shut down")
    if state in (State.NEW, State.HANDSHAKING) and operation == "established":
        # Node's words and code (crypto_tls.cc, ExportKeyingMaterial and friends).
        return TLSError("TLS socket connection must be securely established", code="ERR_TLS_INVALID_STATE")
    if state in (State.NEW, State.HANDSHAKING):
        return TLSError(f"cannot {operation} before the TLS handshake is complete",
                        code="ERR_TLS_HANDSHAKE_NOT_DONE", reason="handshake not done")
    return TLSError(f"cannot {operation} in state {state.value}", code="ERR_TLS_INTERNAL")
