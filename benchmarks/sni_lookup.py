"""SNI selection cost as the number of ``add_context`` entries grows: ``python benchmarks/sni_lookup.py``.

Node scans its ``_contexts`` list newest-first with one regex per entry (lib/_tls_wrap.js,
``SNICallback``), O(n) per handshake.  greentls's ``SNITable`` keeps exact names and ``*.suffix``
wildcards in dicts, so a lookup costs the same at 10, 1,000 and 10,000 entries.  This prints,
per table size, the mean time of one lookup (exact hit, wildcard hit, miss) through
``Server.add_context``'s table, next to a Node-style regex scan of the same entries.
"""
from __future__ import annotations

import re
import time
import timeit

from greentls._net.sni import SNITable

SIZES = (10, 1_000, 10_000)


def node_scan(entries: list, servername: str):
    """Node's SNICallback: newest first, first regex that matches."""
    for pattern, context in reversed(entries):
        if pattern.match(servername):
            return context
    return None


def build(size: int) -> tuple[SNITable, list]:
    table, entries = SNITable(), []
    context = object()  # the table stores references; one object stands for every context
    for i in range(size):
        name = f"host{i}.example.com" if i % 2 else f"*.zone{i}.example.com"
        table.add(name, context)
        escaped = re.escape(name).replace(r"\*", "[^.]*")
        entries.append((re.compile(f"^{escaped}$"), context))
    return table, entries


def per_call(fn, number: int) -> float:
    return min(timeit.repeat(fn, number=number, repeat=5)) / number * 1e6


def main() -> None:
    print(f"{'entries':>8} {'exact µs':>9} {'wildcard µs':>12} {'miss µs':>8} {'node-scan miss µs':>18}")
    for size in SIZES:
        table, entries = build(size)
        exact = f"host{size - 1 if size % 2 == 0 else size - 2}.example.com"
        wild = "www.zone0.example.com"  # the oldest entry: worst case for a newest-first scan
        assert table.lookup(exact) is not None and table.lookup(wild) is not None
        # Each lambda is timed within its own iteration, so the late binding B023 warns of is moot.
        results = [per_call(lambda: table.lookup(exact), 20000),  # noqa: B023
                   per_call(lambda: table.lookup(wild), 20000),  # noqa: B023
                   per_call(lambda: table.lookup("nobody.invalid"), 20000),  # noqa: B023
                   per_call(lambda: node_scan(entries, "nobody.invalid"), max(1, 200000 // size))]  # noqa: B023
        print(f"{size:>8} {results[0]:>9.3f} {results[1]:>12.3f} {results[2]:>8.3f} {results[3]:>18.1f}")


if __name__ == "__main__":
    started = time.monotonic()
    main()
    print(f"({time.monotonic() - started:.1f} s)")
