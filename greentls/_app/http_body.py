"""The request body and the file wrapper of greentls's HTTP/1.1 (``greentls._app.http``):
``wsgi.input`` and ``wsgi.file_wrapper``."""
from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from typing import TYPE_CHECKING, BinaryIO

if TYPE_CHECKING:
    from greentls._app.http import HTTPHandler
    from greentls._app.http_parse import Request

__all__ = ["Input", "FileWrapper"]

#: wsgi.file_wrapper reads a file in blocks of this size (each goes out as 16 KiB TLS records).
_FILE_BLOCK = 1 << 18


class Input:
    """``wsgi.input``: the request's body, read from the connection as the application asks.

    Reads end at the body's end (``wsgi.input_terminated``).  Once reading failed (too slow,
    malformed, too large) every later read fails the same way: the connection's position is
    lost, and the handler answers the request with the refusal instead of the application's
    answer, even if the application caught the error."""

    __slots__ = ("_handler", "_request")

    def __init__(self, handler: HTTPHandler, request: Request) -> None:
        self._handler = handler
        self._request = request

    def read(self, size: int | None = -1) -> bytes:
        """Up to ``size`` bytes of the body (all that is left when ``size`` is -1 or None)."""
        size = -1 if size is None or size < 0 else size
        request = self._request
        body = request.body
        while not request.complete and (size < 0 or len(body) < size):
            self._handler._read_body(request)
        if size < 0 or size >= len(body):
            data = bytes(body)
            body.clear()
            return data
        data = bytes(body[:size])
        del body[:size]
        return data

    def readline(self, size: int | None = -1) -> bytes:
        """One line of the body, with its ``\\n``, at most ``size`` bytes."""
        size = -1 if size is None or size < 0 else size
        request = self._request
        body = request.body
        scanned = 0  # bytes of the buffer already searched: each read searches only what it added
        while True:
            end = body.find(b"\n", scanned)
            if end >= 0 and (size < 0 or end < size):
                return self.read(end + 1)
            if request.complete or 0 <= size <= len(body):
                return self.read(size)
            scanned = len(body)
            self._handler._read_body(request)

    def readlines(self, hint: int | None = -1) -> list[bytes]:
        """The remaining lines (at least ``hint`` bytes of them, when given)."""
        lines = []
        total = 0
        for line in self:
            lines.append(line)
            total += len(line)
            if hint is not None and 0 < hint <= total:
                break
        return lines

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        line = self.readline()
        if not line:
            raise StopIteration
        return line


class FileWrapper:
    """``wsgi.file_wrapper``: a file sent in large blocks (PEP 3333's optional extension).

    A zero-copy ``sendfile`` needs kernel TLS, which pyOpenSSL cannot drive: each block is read
    and encrypted in user space.  A regular file's size from its position becomes the
    response's Content-Length when the application set none (no chunked framing)."""

    def __init__(self, filelike: BinaryIO, blksize: int = _FILE_BLOCK) -> None:
        self.filelike = filelike
        self.blksize = blksize

    def __iter__(self) -> Iterator[bytes]:
        read = self.filelike.read
        while True:
            block = read(self.blksize)
            if not block:
                return
            yield block

    def close(self) -> None:
        """Close the file (PEP 3333: the server calls it after the response)."""
        close = getattr(self.filelike, "close", None)
        if close is not None:
            close()

    def remaining(self) -> int | None:
        """Bytes from the file's position to its end, for a regular file; else None."""
        try:
            info = os.fstat(self.filelike.fileno())
            if not stat.S_ISREG(info.st_mode):
                return None
            return max(0, info.st_size - self.filelike.tell())
        except (AttributeError, OSError, ValueError):
            return None
