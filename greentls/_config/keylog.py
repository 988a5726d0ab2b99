"""Key log lines (NSS key log format) for the ``keylog`` signal and ``SSLKEYLOGFILE``.

OpenSSL calls ``SSL_CTX_set_keylog_callback``'s function with each secret line during the
handshake (pyOpenSSL ``Context.set_keylog_callback``: context-level).  Inside OpenSSL the
callback only appends to the file named by ``SSLKEYLOGFILE`` (as curl and browsers do: opened
for append, one line each; a plain file write does not switch greenlets) and records the line
for the connection's greenlet, which sends the ``keylog`` signal (docs/architecture.rst,
"fact-callbacks").

The callback is installed on a context when it is built while ``SSLKEYLOGFILE`` is set
(``install_if_logging_to_file``: the variable is read when a context is made, as curl reads it
when it starts), or the first time a handshake on it starts while a ``keylog`` receiver
listens (``enable_if_wanted``): OpenSSL reads ``ctx->keylog_callback`` when it logs a secret,
so a connection already made picks it up.  Until then nobody listening costs nothing: five
Python callbacks per TLS 1.3 handshake were 3 % of a resumed handshake's server CPU, and an
``os.environ`` lookup per connection another 1 %.
"""
from __future__ import annotations

import os
import weakref
from typing import TYPE_CHECKING

from OpenSSL.SSL import Connection, Context

from greentls import signals
from greentls._base.binding import c_string, ffi as _ffi, lib as _lib

if TYPE_CHECKING:
    from greentls._base.binding import CData
    from greentls._engine.engine import TLSEngine

__all__ = ["on_keylog", "enable_if_wanted", "install_if_logging_to_file", "ignore_environment"]

#: pyOpenSSL contexts that have the callback (a context is never un-installed).
_installed: weakref.WeakSet[Context] = weakref.WeakSet()
#: Contexts whose secrets never go to SSLKEYLOGFILE (a stdlib ``SSLContext``'s: the stdlib logs
#: only to ``keylog_filename``, which ``create_default_context`` fills from the variable).
_environment_ignored: weakref.WeakSet[Context] = weakref.WeakSet()


def ignore_environment(context: Context) -> None:
    """Never write ``context``'s secrets to ``SSLKEYLOGFILE`` (the ``keylog`` signal still gets them)."""
    _environment_ignored.add(context)


def enable_if_wanted(conn: Connection) -> None:
    """Install the key log callback on ``conn``'s context if a ``keylog`` receiver wants the
    lines; call before the handshake derives any secret."""
    if signals.keylog.receivers:
        _install(conn.get_context())


def install_if_logging_to_file(context: Context) -> None:
    """A context being built: install the callback now if ``SSLKEYLOGFILE`` names a file."""
    if os.environ.get("SSLKEYLOGFILE"):
        _install(context)


def _install(context: Context) -> None:
    if context not in _installed:
        # pyOpenSSL refuses to change a context that made a connection (its guard against
        # threads racing on SSL_CTX settings); here one thread owns every context, and
        # SSL_CTX_set_keylog_callback only stores a function pointer, so set it directly.
        _lib.SSL_CTX_set_keylog_callback(context._context, _raw_keylog_callback)
        _installed.add(context)


@_ffi.callback("void (*)(const SSL *, const char *)")
def _raw_keylog_callback(ssl: CData, line: CData) -> None:
    connection = Connection._reverse_mapping.get(ssl)
    if connection is not None:
        on_keylog(connection, c_string(line))


def on_keylog(conn: Connection, line: bytes) -> None:
    """pyOpenSSL keylog callback: append to SSLKEYLOGFILE and record for the signal."""
    path = os.environ.get("SSLKEYLOGFILE")
    if path and conn.get_context() not in _environment_ignored:
        try:
            with open(path, "ab") as log_file:
                log_file.write(line + b"\n")
        except OSError:
            pass  # like curl: an unwritable key log file is not the connection's failure
    engine: TLSEngine | None = conn.get_app_data()
    record = engine.record if engine is not None else None
    if record is not None and signals.has_receivers(signals.keylog, record.sender):
        record.add_keylog_line(line)
