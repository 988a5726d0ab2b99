"""Shared test helpers: real peers (node, openssl, curl) run as gevent subprocesses, so the
server greenlets under test keep running while a peer talks to them."""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import sys
from collections.abc import Iterator
from typing import Any

import gevent
from gevent import subprocess

import greentls

NODE = shutil.which("node")
OPENSSL = shutil.which("openssl")
CURL = shutil.which("curl")
HERE = os.path.dirname(os.path.abspath(__file__))


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now (for a server in another process)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def run(args: list, *, input: bytes | None = None, timeout: float = 30.0, check: bool = True,
        env: dict | None = None) -> subprocess.CompletedProcess:
    """Run a peer program without blocking the gevent hub; returns the CompletedProcess."""
    result = subprocess.run(args, input=input, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            timeout=timeout, env=env)
    if check and result.returncode != 0:
        raise AssertionError(f"{args[0]} exited {result.returncode}\nstdout: {result.stdout[-2000:]!r}"
                             f"\nstderr: {result.stderr[-2000:]!r}")
    return result


def node(script: str, *args: Any, timeout: float = 30.0, check: bool = True, input: bytes | None = None) -> Any:
    """Run a Node.js script (source text) with ``args``; returns its stdout's last line parsed
    as JSON when it is JSON, else the CompletedProcess.  As for a script file, the arguments
    are ``process.argv.slice(2)`` (a placeholder stands where the file name would be)."""
    result = run([NODE, "-e", script, "--", "[eval]", *map(str, args)], timeout=timeout, check=check, input=input)
    text = result.stdout.decode().strip()
    try:
        return json.loads(text.splitlines()[-1]) if text else result
    except (ValueError, IndexError):
        return result


def openssl(args: list, *, input: bytes | None = b"", timeout: float = 30.0,
            check: bool = False) -> subprocess.CompletedProcess:
    """Run the openssl CLI."""
    return run([OPENSSL, *args], input=input, timeout=timeout, check=check)


@contextlib.contextmanager
def serving(handler: Any = None, host: str = "127.0.0.1", **options: Any) -> Iterator[greentls.Server]:
    """A greentls server listening on an ephemeral port for the duration of the block."""
    server = greentls.create_server(handler, **options)
    server.listen(0, host)
    try:
        yield server
    finally:
        server.stop(timeout=1)


def port_of(server: greentls.Server) -> int:
    """The TCP port a server listens on."""
    return server.address()["port"]


def read_to_end(sock: Any, size: int = 65536) -> bytes:
    """Everything ``sock`` receives until the peer ends the stream."""
    chunks = []
    while data := sock.recv(size):
        chunks.append(data)
    return b"".join(chunks)


def echo(tls_socket: Any) -> None:
    """Echo handler used by many tests."""
    while True:
        data = tls_socket.recv(65536)
        if not data:
            return
        tls_socket.sendall(data)


@contextlib.contextmanager
def node_server(script: str, *args: Any) -> Iterator[int]:
    """Start a Node.js server script that prints its port as the first stdout line; its
    arguments are ``process.argv.slice(2)``."""
    proc = subprocess.Popen([NODE, "-e", script, "--", "[eval]", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        with gevent.Timeout(15, AssertionError("node server did not start")):
            line = proc.stdout.readline()
        if not line.strip():
            raise AssertionError(f"node server failed: {proc.stderr.read().decode()}")
        yield int(line.strip())
    finally:
        proc.kill()
        proc.wait()


PY = sys.executable


@contextlib.contextmanager
def serve_wsgi_cli(tmp_path: Any, module: str, source: str, cert_files: dict, *extra: str) -> Iterator[int]:
    """``greentls serve --wsgi module:app`` in a child process, with ``source`` written as
    ``module.py`` in ``tmp_path`` (its working directory); yields the port once it serves."""
    import socket as _socket
    (tmp_path / f"{module}.py").write_text(source)
    with _socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen([PY, "-m", "greentls", "serve", "--wsgi", f"{module}:app", "--port", str(port),
                             "--cert", cert_files["cert"], "--key", cert_files["key"], *extra],
                            cwd=str(tmp_path), stderr=subprocess.PIPE, stdout=subprocess.DEVNULL)
    try:
        with gevent.Timeout(20, AssertionError("greentls serve did not start")):
            line = proc.stderr.readline()
        assert f"serving WSGI {module}:app".encode() in line, line
        yield port
    finally:
        proc.kill()
        proc.wait()


def debian_tool(program: str, package: str | None = None) -> str | None:
    """The path of ``program``, installing its Debian package first when it is missing and this
    is a Debian machine where we are root (``apt-get update`` once if the install needs it);
    None when it cannot be had, for the caller to skip with the reason."""
    found = shutil.which(program)
    if found is not None:
        return found
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        return None
    import subprocess as _blocking  # an install is setup, not something the hub must run past
    command = ["apt-get", "install", "-y", "-q", "--no-install-recommends", package or program]
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    if _blocking.run(command, capture_output=True, timeout=900, check=False, env=env).returncode != 0:
        _blocking.run(["apt-get", "update", "-q"], capture_output=True, timeout=900, check=False, env=env)
        _blocking.run(command, capture_output=True, timeout=900, check=False, env=env)
    return shutil.which(program) or (f"/usr/sbin/{program}" if os.path.exists(f"/usr/sbin/{program}") else None)
