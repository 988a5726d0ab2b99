"""What crossed the wire on a TCP socket, as the kernel counted it (``Server.stats()``'s bytes).

Linux's ``TCP_INFO`` has ``tcpi_bytes_received`` and ``tcpi_bytes_acked``; the bytes written but
not yet acknowledged are still in the send queue (``SIOCOUTQ``), so the bytes sent are their sum.
One ``getsockopt`` and one ``ioctl`` per connection, taken just before its descriptor closes:
the reads and writes of the connection pay nothing.  Elsewhere (a Unix socket, a platform
without ``TCP_INFO``) the counts are 0.
"""
from __future__ import annotations

import fcntl
import socket as _socket
import struct
from typing import Any

__all__ = ["wire_bytes"]

_TCP_INFO = getattr(_socket, "TCP_INFO", None)
#: struct tcp_info up to tcpi_bytes_received: tcpi_bytes_acked at 120, tcpi_bytes_received at 128.
_TCP_INFO_SIZE = 136
_BYTES = struct.Struct("=QQ")
_SIOCOUTQ = 0x5411  # TIOCOUTQ: bytes in the send queue, sent or not, not yet acknowledged
_INT = struct.Struct("i")


def wire_bytes(sock: Any) -> tuple[int, int]:
    """``(bytes_in, bytes_out)`` of a TCP socket so far (0s if unknown)."""
    if _TCP_INFO is None or getattr(sock, "family", None) not in (_socket.AF_INET, _socket.AF_INET6):
        return (0, 0)
    try:
        info = sock.getsockopt(_socket.IPPROTO_TCP, _TCP_INFO, _TCP_INFO_SIZE)
    except (OSError, AttributeError, ValueError):
        return (0, 0)
    if len(info) < _TCP_INFO_SIZE:
        return (0, 0)
    acked, received = _BYTES.unpack_from(info, 120)
    try:
        queued = _INT.unpack(fcntl.ioctl(sock.fileno(), _SIOCOUTQ, b"\0" * _INT.size))[0]
    except (OSError, AttributeError, ValueError):
        queued = 0
    return (received, acked + max(queued, 0))
