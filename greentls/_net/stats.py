"""What a server counts for its operators (``Server.stats()``), and how workers report theirs.

Counted since the server started: handshakes by protocol and whether they resumed a session,
failed connections by error code, how long handshakes took (a histogram with cumulative
buckets, as Prometheus keeps them), and the bytes that crossed the wire.  Counting costs one
dict update per handshake and, at each connection's end, the kernel's own byte counts
(``_io/wire.py``), so the hot read and write paths pay nothing.

With ``serve_forever(workers=N)`` each worker publishes a snapshot of its counts in shared
memory (``SharedSnapshots``, at most every ``PUBLISH_INTERVAL`` seconds and when it exits), and
the parent's ``stats()`` is the sum of its workers', those that exited included.
"""
from __future__ import annotations

import ctypes
import json
import math
from bisect import bisect_left
from multiprocessing.sharedctypes import RawArray
from typing import Any

__all__ = ["Stats", "SharedSnapshots", "HANDSHAKE_BUCKETS", "PUBLISH_INTERVAL"]

#: Upper bounds, in seconds, of the handshake-time histogram's buckets (then +Inf).
HANDSHAKE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
#: How often, at most, a worker republishes its snapshot for the parent.
PUBLISH_INTERVAL = 0.5
#: Bytes of shared memory per worker slot for its snapshot (JSON).
SNAPSHOT_BYTES = 16384

class Stats:
    """One process's counts."""

    __slots__ = ("handshakes", "client_errors", "buckets", "seconds_sum", "seconds_count",
                 "bytes_in", "bytes_out", "changes")

    def __init__(self) -> None:
        self.handshakes: dict[str, dict[str, int]] = {}
        self.client_errors: dict[str, int] = {}
        self.buckets = [0] * (len(HANDSHAKE_BUCKETS) + 1)  # per bucket, not cumulative
        self.seconds_sum = 0.0
        self.seconds_count = 0
        self.bytes_in = 0
        self.bytes_out = 0
        #: Bumped on every change, so a worker republishes only when something changed.
        self.changes = 0

    def handshake(self, protocol: str | None, resumed: bool, seconds: float) -> None:
        by_kind = self.handshakes.setdefault(protocol or "unknown", {"full": 0, "resumed": 0})
        by_kind["resumed" if resumed else "full"] += 1
        self.buckets[bisect_left(HANDSHAKE_BUCKETS, seconds)] += 1  # the first bound >= seconds
        self.seconds_sum += seconds
        self.seconds_count += 1
        self.changes += 1

    def client_error(self, code: str | None) -> None:
        key = code or "UNKNOWN"
        self.client_errors[key] = self.client_errors.get(key, 0) + 1
        self.changes += 1

    def transferred(self, bytes_in: int, bytes_out: int) -> None:
        self.bytes_in += bytes_in
        self.bytes_out += bytes_out
        self.changes += 1

    # -- snapshots, for workers and for stats() ----------------------------------------------

    def raw(self) -> dict[str, Any]:
        """A JSON-able copy of the counts (what a worker publishes)."""
        return {"handshakes": {k: dict(v) for k, v in self.handshakes.items()},
                "client_errors": dict(self.client_errors), "buckets": list(self.buckets),
                "seconds_sum": self.seconds_sum, "seconds_count": self.seconds_count,
                "bytes_in": self.bytes_in, "bytes_out": self.bytes_out}

    def add(self, raw: dict[str, Any]) -> None:
        """Add another process's published counts to these."""
        for protocol, kinds in raw.get("handshakes", {}).items():
            mine = self.handshakes.setdefault(protocol, {"full": 0, "resumed": 0})
            for kind, count in kinds.items():
                mine[kind] = mine.get(kind, 0) + int(count)
        for code, count in raw.get("client_errors", {}).items():
            self.client_errors[code] = self.client_errors.get(code, 0) + int(count)
        for i, count in enumerate(raw.get("buckets", [])[:len(self.buckets)]):
            self.buckets[i] += int(count)
        self.seconds_sum += float(raw.get("seconds_sum", 0.0))
        self.seconds_count += int(raw.get("seconds_count", 0))
        self.bytes_in += int(raw.get("bytes_in", 0))
        self.bytes_out += int(raw.get("bytes_out", 0))

    def report(self, connections: int) -> dict[str, Any]:
        """``Server.stats()``'s dict."""
        cumulative: dict[float, int] = {}
        running = 0
        for bound, count in zip((*HANDSHAKE_BUCKETS, math.inf), self.buckets, strict=True):
            running += count
            cumulative[bound] = running
        return {
            "connections": connections,
            "handshakes": {k: dict(v) for k, v in self.handshakes.items()},
            "client_errors": dict(self.client_errors),
            "handshake_seconds": {"buckets": cumulative, "sum": self.seconds_sum,
                                  "count": self.seconds_count},
            "bytes_in": self.bytes_in,
            "bytes_out": self.bytes_out,
        }


class SharedSnapshots:
    """Per-slot shared memory where forked workers publish ``Stats.raw()`` for the parent.

    Each slot is a sequence counter (odd while its worker writes), a length and JSON bytes; a
    reader that sees the counter change under it reads again, so it never takes half of two
    snapshots.  The parent keeps the last whole snapshot it read of each slot and answers with
    it while a slot is being written, or was left mid-write by a worker that was killed; a
    worker killed with SIGKILL loses at most its last ``PUBLISH_INTERVAL`` of counts."""

    def __init__(self, slots: int) -> None:
        self.slots = slots
        self._seq = RawArray(ctypes.c_longlong, slots)
        self._len = RawArray(ctypes.c_longlong, slots)
        self._data = RawArray(ctypes.c_char, slots * SNAPSHOT_BYTES)
        #: The parent's last whole read of each slot.
        self._last: dict[int, dict[str, Any]] = {}

    def publish(self, slot: int, raw: dict[str, Any]) -> None:
        data = json.dumps(raw, separators=(",", ":")).encode()
        if len(data) > SNAPSHOT_BYTES:  # absurdly many distinct error codes: keep the rest
            raw = dict(raw, client_errors={"TRUNCATED": sum(raw["client_errors"].values())})
            data = json.dumps(raw, separators=(",", ":")).encode()[:SNAPSHOT_BYTES]
        self._seq[slot] += 1
        start = slot * SNAPSHOT_BYTES
        ctypes.memmove(ctypes.addressof(self._data) + start, data, len(data))
        self._len[slot] = len(data)
        self._seq[slot] += 1

    def read(self, slot: int) -> dict[str, Any] | None:
        for _ in range(100):
            before = self._seq[slot]
            if before == 0:
                break
            if before % 2:
                continue
            length = self._len[slot]
            start = slot * SNAPSHOT_BYTES
            data = ctypes.string_at(ctypes.addressof(self._data) + start, length)
            if self._seq[slot] == before:
                try:
                    parsed: dict[str, Any] = json.loads(data)
                except ValueError:
                    break
                self._last[slot] = parsed
                return parsed
        return self._last.get(slot)

    def clear(self, slot: int) -> None:
        self._seq[slot] = 0
        self._len[slot] = 0
        self._last.pop(slot, None)
