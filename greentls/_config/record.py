"""What OpenSSL's callbacks on one connection leave for its greenlet (docs/architecture.rst, "fact-callbacks").

A callback runs inside OpenSSL, so it may only record: the key log callback (``keylog.py``)
adds a line, the OCSP status callback (``ocsp.py``) reads the staple to send or keeps the
response that came.  They find the record through the engine (``TLSEngine.record``), and tell
the socket that something waits by calling ``report``, a function the socket handed over when
it made the record; the socket's greenlet acts on it later (``_tls/renegotiation.py``).  The
record never touches the socket, and no callback touches anything but its record.

``_tls/renegotiation.py``'s ``Watch`` extends this record with what the info callback sees, so
one object per connection holds all of it.
"""
from __future__ import annotations

from collections.abc import Callable

__all__ = ["CallbackRecord"]


#: The sender of a record whose connection ended: no receiver is connected to it.
_ENDED = object()


def _ignore() -> None:
    """The report of a record whose connection ended."""


class CallbackRecord:
    """One connection's record of its OpenSSL callbacks; read and emptied in its greenlet."""

    __slots__ = ("sender", "report", "keylog_lines", "ocsp_staple", "ocsp_response", "psk_keys", "psk_answer",
                 "psk_served")

    def __init__(self, sender: object, report: Callable[[], None]) -> None:
        #: Whose signals these are (the TLSSocket): a callback records a key log line only if a
        #: ``keylog`` receiver listens to this sender.
        self.sender = sender
        #: Tells the owner that something was recorded; the owner then reads the record.
        self.report = report
        #: Key log lines not yet signalled; None until the first (most connections have none).
        self.keylog_lines: list[bytes] | None = None
        #: Server: the OCSP response to staple, decided before OpenSSL reads the ClientHello.
        self.ocsp_staple: bytes | None = None
        #: Client: the stapled response that came (None: none did).
        self.ocsp_response: bytes | None = None
        #: Server: identity -> key, as its ``psk_callback`` answered in the greenlet (``psk.py``).
        self.psk_keys: dict[bytes, bytes] | None = None
        #: Client: (identity, key), as its ``psk_callback`` answered in the greenlet.
        self.psk_answer: tuple[bytes, bytes] | None = None
        #: Server: OpenSSL asked for a key and got one, since the last ClientHello.
        self.psk_served = False

    def end(self) -> None:
        """The connection is closed and OpenSSL's callbacks can no longer find this record:
        let go of the owner (it holds this record, so the pair is a reference cycle that only
        the garbage collector would otherwise free, a server's every connection)."""
        self.sender = _ENDED
        self.report = _ignore

    def add_keylog_line(self, line: bytes) -> None:
        """Inside OpenSSL: keep a key log line for the ``keylog`` signal."""
        if self.keylog_lines is None:
            self.keylog_lines = [line]
        else:
            self.keylog_lines.append(line)
        self.report()

    def take_keylog_lines(self) -> list[bytes]:
        """In the connection's greenlet: the lines recorded since the last call."""
        lines, self.keylog_lines = self.keylog_lines, None
        return lines if lines is not None else []
