"""`greentls serve` in one process (no --workers): SIGHUP reloads --cert/--key from disk and
never ends the process; with --self-signed it says there is nothing to reload and serves on."""
from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Iterator
from typing import Any

import gevent
import pytest
import trustme
from cryptography import x509
from gevent import subprocess
from helpers import free_port

import greentls

GREENTLS = [sys.executable, "-m", "greentls"]

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGHUP"), reason="no SIGHUP on this platform")



class Served:
    """A running `greentls serve` and what it writes to stderr."""

    def __init__(self, proc: Any, port: int) -> None:
        self.proc = proc
        self.port = port

    def hup_and_wait_for(self, text: str) -> list:
        """Send SIGHUP and read stderr until a line holds ``text``; returns the lines read."""
        self.proc.send_signal(signal.SIGHUP)
        lines: list = []
        with gevent.Timeout(20, AssertionError(f"no {text!r} on stderr; got {lines!r}")):
            while not lines or text not in lines[-1]:
                line = self.proc.stderr.readline().decode(errors="replace")
                assert line, f"greentls serve ended (status {self.proc.wait()}); stderr: {lines!r}"
                lines.append(line)
        return lines

    def serial(self) -> int:
        """Handshake and echo once; the serial number of the certificate the server presented."""
        with greentls.connect(self.port, "127.0.0.1", servername="localhost",
                              reject_unauthorized=False, timeout=10) as tls:
            tls.sendall(b"still here")
            assert tls.recv(100) == b"still here"
            return x509.load_der_x509_certificate(tls.get_peer_certificate()["raw"]).serial_number


@contextlib.contextmanager
def serve(*args: str) -> Iterator[Served]:
    """Start `greentls serve` on a free port; wait for its "serving" line (the SIGHUP handler
    is installed before it is printed)."""
    port = free_port()
    proc = subprocess.Popen([*GREENTLS, "serve", "--port", str(port), *args],
                            stderr=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        with gevent.Timeout(20, AssertionError("greentls serve did not start")):
            line = proc.stderr.readline().decode()
        assert f"TLS echo server on 127.0.0.1:{port}" in line, line
        yield Served(proc, port)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        proc.stdout.close()
        proc.stderr.close()


def install(folder: Any, leaf: trustme.LeafCert) -> int:
    """Write ``leaf``'s chain and key as cert.pem/key.pem (aside, then renamed over the old
    files, as certificate tools do); returns its serial number."""
    chain = b"".join(blob.bytes() for blob in leaf.cert_chain_pems)
    for name, data in (("cert.pem", chain), ("key.pem", leaf.private_key_pem.bytes())):
        (folder / "incoming").write_bytes(data)
        os.replace(folder / "incoming", folder / name)
    return x509.load_pem_x509_certificate(chain).serial_number


def test_sighup_reloads_the_certificate_files(tmp_path, ca):
    """SIGHUP: the process lives and serves; after the files are replaced, a SIGHUP makes new
    connections see the new certificate."""
    first = install(tmp_path, ca.issue_cert("localhost"))
    with serve("--cert", str(tmp_path / "cert.pem"), "--key", str(tmp_path / "key.pem")) as served:
        assert served.serial() == first
        served.hup_and_wait_for("SIGHUP: reloaded")
        assert served.proc.poll() is None
        assert served.serial() == first
        second = install(tmp_path, ca.issue_cert("localhost"))
        assert second != first
        lines = served.hup_and_wait_for("SIGHUP: reloaded")
        assert format(second, "X") in lines[-1]
        assert served.serial() == second
        assert served.proc.poll() is None


def test_sighup_with_broken_files_keeps_the_old_certificate(tmp_path, ca):
    """A reload that fails (the key file is not a key) is logged; the old certificate stays."""
    first = install(tmp_path, ca.issue_cert("localhost"))
    with serve("--cert", str(tmp_path / "cert.pem"), "--key", str(tmp_path / "key.pem")) as served:
        (tmp_path / "key.pem").write_bytes(b"not a key")
        served.hup_and_wait_for("failed; still serving the old certificate")
        assert served.proc.poll() is None
        assert served.serial() == first


def test_sighup_with_self_signed_keeps_serving():
    """--self-signed has no files: a SIGHUP says so and the same certificate keeps serving."""
    with serve("--self-signed") as served:
        before = served.serial()
        served.hup_and_wait_for("nothing to reload")
        served.hup_and_wait_for("nothing to reload")
        assert served.proc.poll() is None
        assert served.serial() == before
