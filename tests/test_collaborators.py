"""Collaborators, not reach-ins: no module writes another object's private attributes; the
callback side of a connection reports through what its owner handed it (issue 15, part 4).

The scan is syntactic: an assignment (plain, augmented or annotated) to ``x._name`` where ``x``
is not ``self`` or ``cls``.  The few that remain are listed in ``ALLOWED`` with their reason.
"""
from __future__ import annotations

import ast
from pathlib import Path
from types import SimpleNamespace

from greentls._config.record import CallbackRecord
from greentls._io.transport import MemoryPump
from greentls._parse.keyinfo import ServerKeyExchangeSniffer

PACKAGE = Path(__file__).resolve().parent.parent / "greentls"

#: (module path, written expression): why the write stays.
ALLOWED = {
    # SSL_set_fd freed the BIOs pyOpenSSL points to; dropping its pointers makes a stray
    # bio_read fail instead of touching freed memory (a third-party object: no API for it).
    ("_engine/engine.py", "self.conn._into_ssl"): "pyOpenSSL",
    ("_engine/engine.py", "self.conn._from_ssl"): "pyOpenSSL",
    # new_socket, beside TLSSocket in its own module: the settings only connect() and
    # wrap_socket() give, which are no public constructor parameters.
    ("_tls/socket.py", "tls._identity_check"): "same module",
    ("_tls/socket.py", "tls._min_dh_size"): "same module",
    ("_tls/socket.py", "tls._handshake_on_connect"): "same module",
}


def _targets(node: ast.AST) -> list[ast.expr]:
    if isinstance(node, ast.Assign):
        return list(node.targets)
    if isinstance(node, (ast.AugAssign, ast.AnnAssign)):
        return [node.target]
    return []


def _flatten(target: ast.expr) -> list[ast.expr]:
    if isinstance(target, (ast.Tuple, ast.List)):
        return [leaf for element in target.elts for leaf in _flatten(element)]
    return [target]


def private_writes() -> list[tuple[str, str, int]]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            for target in (leaf for t in _targets(node) for leaf in _flatten(t)):
                if not isinstance(target, ast.Attribute):
                    continue
                name = target.attr
                if not name.startswith("_") or name.startswith("__"):
                    continue
                owner = target.value
                if isinstance(owner, ast.Name) and owner.id in ("self", "cls"):
                    continue
                found.append((path.relative_to(PACKAGE).as_posix(), ast.unparse(target), node.lineno))
    return found


def test_no_module_writes_another_objects_private_attributes():
    """Every write of a private attribute is to the writer's own object (or is listed)."""
    unexpected = [(module, expr, line) for module, expr, line in private_writes()
                  if (module, expr) not in ALLOWED]
    assert unexpected == [], "write through the owner's methods instead: " + repr(unexpected)


def test_allowed_writes_still_exist():
    """The exceptions are real (a stale entry would hide nothing but mislead)."""
    seen = {(module, expr) for module, expr, _ in private_writes()}
    assert set(ALLOWED) <= seen


class _Transport:
    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks

    def recv(self, size: int) -> bytes:
        return self.chunks.pop(0)

    def sendall(self, data: bytes) -> None:
        raise AssertionError("nothing to send")


def _engine() -> SimpleNamespace:
    received: list[bytes] = []
    return SimpleNamespace(received=received, receive_bytes=received.append, outgoing_bytes=lambda: b"")


def test_memory_pump_observer_sees_each_read_until_removed():
    """MemoryPump.observe(f) shows every chunk read to f before the engine; observe(None) stops."""
    engine = _engine()
    pump = MemoryPump(engine, _Transport([b"one", b"two", b"three"]))  # type: ignore[arg-type]
    seen: list[bytes] = []
    pump.observe(seen.append)
    pump.wait_readable()
    pump.wait_readable()
    pump.observe(None)
    pump.wait_readable()
    assert seen == [b"one", b"two"]
    assert engine.received == [b"one", b"two", b"three"]


def test_sniffer_observes_until_done():
    """The ServerKeyExchange reader, as a pump observer, ignores bytes once done."""
    sniffer = ServerKeyExchangeSniffer()
    # A handshake record holding a ServerKeyExchange whose dh_p is 0x80 (8 bits), then
    # ServerHelloDone: done after it.
    ske = b"\x0c\x00\x00\x03" + b"\x00\x01\x80"
    done = b"\x0e\x00\x00\x00"
    body = ske + done
    sniffer.observe(b"\x16\x03\x03" + len(body).to_bytes(2, "big") + body)
    assert sniffer.done and sniffer.dh_bits() == 8
    sniffer.observe(b"\x16\x03\x03\x00\x07" + b"\x0c\x00\x00\x03\x00\x01\xff")
    assert sniffer.dh_bits() == 8


def test_callback_record_reports_to_its_owner():
    """A key log line recorded inside OpenSSL calls the owner's report; taking empties it."""
    reports: list[None] = []
    record = CallbackRecord(sender=object(), report=lambda: reports.append(None))
    record.add_keylog_line(b"CLIENT_RANDOM a b")
    record.add_keylog_line(b"CLIENT_RANDOM c d")
    assert len(reports) == 2
    assert record.take_keylog_lines() == [b"CLIENT_RANDOM a b", b"CLIENT_RANDOM c d"]
    assert record.take_keylog_lines() == []
