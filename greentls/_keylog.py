"""Key log lines (NSS key log format) for the ``keylog`` signal and ``SSLKEYLOGFILE``.

OpenSSL calls ``SSL_CTX_set_keylog_callback``'s function with each secret line during the
handshake (pyOpenSSL ``Context.set_keylog_callback``: context-level, so it is installed on
every context ``_context._build`` makes).  Inside OpenSSL the callback only appends to the
file named by ``SSLKEYLOGFILE`` (as curl and browsers do: opened for append, one line each;
a plain file write does not switch greenlets) and records the line for the connection's
greenlet, which sends the ``keylog`` signal (FACTS.md item 7).  Nobody listening costs one
environment lookup and one receiver check per secret (five per TLS 1.3 handshake).
"""
from __future__ import annotations

import os
from typing import Any

from . import signals

__all__ = ["on_keylog"]


def on_keylog(conn: Any, line: bytes) -> None:
    """pyOpenSSL keylog callback: append to SSLKEYLOGFILE and record for the signal."""
    path = os.environ.get("SSLKEYLOGFILE")
    if path:
        try:
            with open(path, "ab") as log_file:
                log_file.write(line + b"\n")
        except OSError:
            pass  # like curl: an unwritable key log file is not the connection's failure
    engine = conn.get_app_data()
    tls = getattr(engine, "owner", None)
    if tls is not None and signals.has_receivers(signals.keylog, tls):
        tls._keylog_lines.append(line)
        tls._events = True
