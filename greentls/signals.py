"""greentls's events, as blinker signals (Node's ``EventEmitter`` events, docs/api/signals.rst).

Each signal is sent with the emitting object as ``sender``: ``secure_connection.connect(fn,
sender=server)`` hears one server, ``connect(fn)`` hears them all.  Receivers run in the
connection's greenlet and may block; they are never called from inside an OpenSSL callback
(docs/architecture.rst, "fact-callbacks").  A receiver that returns a value answers the question
the signal asks; one that raises ends that connection.

blinker holds receivers weakly by default: a function defined inside another function and
connected there disappears when the outer one returns.  Connect such closures with
``weak=False`` (or keep a reference).
"""
from __future__ import annotations

import logging
from typing import Any

from blinker import NamedSignal, Namespace

__all__ = [
    "secure_connection", "tls_client_error", "new_session", "resume_session", "ocsp_request",
    "secure_connect", "ocsp_response", "session", "keylog", "trace", "secure", "ask", "has_receivers",
]

log = logging.getLogger("greentls")
_signals = Namespace()

secure_connection = _signals.signal("secure_connection", doc="""\
Server: a client finished its handshake. kwargs: ``tls_socket``. Receivers run in the
connection's greenlet before the server's ``secure_connection_listener``.""")
tls_client_error = _signals.signal("tls_client_error", doc="""\
Server: a connection failed before ``secure_connection`` (bad hello, timeout, rejected
certificate, disconnect). kwargs: ``exception`` (a ``TLSError``), ``tls_socket``.""")
new_session = _signals.signal("new_session", doc="""\
Server: a new TLS session was created. kwargs: ``session_id: bytes``, ``session_data: bytes``.""")
resume_session = _signals.signal("resume_session", doc="""\
Server: a client asks to resume ``session_id: bytes``; answer with the ``session_data`` or None.
Needs an external session cache (``greentls.capabilities["external_session_cache"]``).""")
ocsp_request = _signals.signal("ocsp_request", doc="""\
Server: the client asked for certificate status. kwargs: ``certificate: bytes`` (DER),
``issuer: bytes or None`` (DER). Answer with a DER OCSP response to staple, or None.""")
secure_connect = _signals.signal("secure_connect", doc="""\
TLSSocket (client): the handshake finished and the peer was verified.""")
ocsp_response = _signals.signal("ocsp_response", doc="""\
TLSSocket (client with ``request_ocsp=True``): once per handshake; kwargs ``response: bytes or
None`` (None when nothing was stapled).""")
session = _signals.signal("session", doc="""\
TLSSocket (client): a resumable session arrived (TLS 1.3 sends tickets after the handshake).
kwargs: ``session: bytes``, usable as ``connect(session=...)``.""")
keylog = _signals.signal("keylog", doc="""\
TLSSocket (both sides): key material in NSS key log format. kwargs: ``line: bytes``.""")
trace = _signals.signal("trace", doc="""\
TLSSocket (both sides, once tracing is on: ``enable_trace``): a protocol message or alert was
sent or received. kwargs: ``line: str``, such as ``"greentls trace: <- ClientHello (512 bytes)"``.
Without receivers the lines go to standard error.""")
secure = _signals.signal("secure", doc="""\
SecurePair: the pair's handshake completed.""")


def has_receivers(signal: NamedSignal, sender: object) -> bool:
    """True when sending would reach a receiver (cheap check before building arguments)."""
    # blinker's has_receivers_for() stays True for a sender whose receivers were all
    # disconnected (it keeps the empty entry), so look at the receivers themselves.
    return bool(signal.receivers) and next(iter(signal.receivers_for(sender)), None) is not None


def ask(signal: NamedSignal, sender: object, **kwargs: Any) -> Any:
    """Send a question signal and return the answer (the first non-None value).

    Where several receivers answer, one answer is used and a warning is logged
    (docs/guides/signals.rst).
    """
    if not has_receivers(signal, sender):
        return None
    answers = [value for _receiver, value in signal.send(sender, **kwargs) if value is not None]
    if len(answers) > 1:
        log.warning("%d receivers answered %s; using the first answer", len(answers), signal.name)
    return answers[0] if answers else None
