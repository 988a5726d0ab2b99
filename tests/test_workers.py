"""serve_forever(workers=N) and `greentls serve --workers N`: shared session tickets across
workers, supervision (SIGKILL replaced), draining on SIGTERM, rotation on SIGHUP, summed counts."""
from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from collections.abc import Iterator
from typing import Any

import gevent
import pytest
from gevent import subprocess
from helpers import OPENSSL, free_port, node

import greentls

GREENTLS = [sys.executable, "-m", "greentls"]

#: A test server: echo lines; "pid\n" answers the worker's pid and closes, "whoami\n" answers
#: it and stays open.  "pid" first holds its worker's CPU for 20 ms (as a handshake-heavy
#: worker is busy), so concurrent clients spread over the workers.  The parent writes its
#: get_connections() to a status file every 50 ms.
SERVER_SCRIPT = r'''
import os, sys, time
import gevent, greentls

def handler(tls):
    buffer = b""
    while True:
        while b"\n" not in buffer:
            chunk = tls.recv(4096)
            if not chunk:
                return
            buffer += chunk
        line, _, buffer = buffer.partition(b"\n")
        if line == b"pid":
            time.sleep(0.02)
            tls.sendall(b"pid=%d\n" % os.getpid())
            return
        if line == b"busy":               # block this whole worker (no accepting) for 300 ms
            time.sleep(0.3)
            tls.sendall(b"ok\n")
            continue
        if line == b"crash":              # a worker's fatal bug
            os._exit(3)
        if line == b"whoami":
            tls.sendall(b"pid=%d\n" % os.getpid())
            continue
        tls.sendall(line + b"\n")

cert, key, workers, status = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
server = greentls.create_server(handler, cert=open(cert, "rb").read(), key=open(key, "rb").read())
server._drain_timeout = 20.0
server.listen(0, "127.0.0.1")
parent = os.getpid()

def report():
    while os.getpid() == parent:      # this greenlet is copied into workers too: only the parent writes
        with open(status + ".tmp", "w") as f:
            f.write(str(server.get_connections()))
        os.replace(status + ".tmp", status)
        gevent.sleep(0.05)

gevent.spawn(report)
print(server.address()["port"], flush=True)
server.serve_forever(workers=workers)
print("parent done", flush=True)
'''


@contextlib.contextmanager
def _script_server(tmp_path: Any, cert_files: dict, workers: int = 2) -> Iterator[dict]:
    script = tmp_path / "server.py"
    script.write_text(SERVER_SCRIPT)
    status = tmp_path / "status"
    errors = open(tmp_path / "stderr.txt", "wb")  # noqa: SIM115 (closed in the finally below)
    proc = subprocess.Popen([sys.executable, str(script), str(cert_files["cert"]), str(cert_files["key"]),
                             str(workers), str(status)], stdout=subprocess.PIPE, stderr=errors)
    try:
        with gevent.Timeout(20, AssertionError("the worker server did not start")):
            port = int(proc.stdout.readline())
            while len(_children(proc.pid)) < workers:
                gevent.sleep(0.05)
        yield {"proc": proc, "port": port, "status": status, "stderr": tmp_path / "stderr.txt"}
    finally:
        _end(proc)
        errors.close()


@contextlib.contextmanager
def _cli_server(cert_files: dict, tmp_path: Any, workers: int = 2) -> Iterator[dict]:
    port = free_port()
    errors = open(tmp_path / "cli-stderr.txt", "wb")  # noqa: SIM115 (closed in the finally below)
    proc = subprocess.Popen([*GREENTLS, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers",
                             str(workers), "--cert", str(cert_files["cert"]), "--key", str(cert_files["key"])],
                            stdout=subprocess.DEVNULL, stderr=errors)
    try:
        with gevent.Timeout(20, AssertionError("greentls serve --workers did not start")):
            while len(_children(proc.pid)) < workers:
                gevent.sleep(0.05)
        yield {"proc": proc, "port": port}
    finally:
        _end(proc)
        errors.close()


def _end(proc: Any) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if proc.stdout:
        proc.stdout.close()



def _children(pid: int) -> list[int]:
    """The live child pids of ``pid`` (Linux /proc)."""
    found = []
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/children") as f:
            found += [int(p) for p in f.read().split()]
    return found


def _s_client(port: int, version: str, ca: Any, session_arg: list) -> str:
    result = subprocess.run([OPENSSL, "s_client", "-connect", f"127.0.0.1:{port}", f"-{version}",
                             "-CAfile", str(ca), "-ign_eof", *session_arg], input=b"pid\n",
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=30)
    return result.stdout.decode(errors="replace")


def _s_client_echo(port: int, version: str, ca: Any, session_arg: list) -> str:
    """s_client against the CLI's echo server: send a line, wait for its echo, then EOF (close)."""
    proc = subprocess.Popen([OPENSSL, "s_client", "-connect", f"127.0.0.1:{port}", f"-{version}",
                             "-CAfile", str(ca), *session_arg], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    lines = []
    try:
        with gevent.Timeout(20, AssertionError("no echo from greentls serve")):
            proc.stdin.write(b"pid\n")
            proc.stdin.flush()
            while not lines or lines[-1] != "pid\n":
                line = proc.stdout.readline().decode(errors="replace")
                if not line:
                    break
                lines.append(line)
        proc.stdin.close()
        lines.append(proc.stdout.read().decode(errors="replace"))
        proc.wait(timeout=10)
    finally:
        proc.stdout.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return "".join(lines)


def _resumed_and_pid(output: str) -> tuple[bool, str]:
    resumed = any(line.startswith("Reused,") for line in output.splitlines())
    pids = [line for line in output.splitlines() if line.startswith("pid=")]
    return resumed, pids[0] if pids else ""


@pytest.mark.parametrize("version", ["tls1_2", "tls1_3"])
def test_openssl_session_resumes_on_every_worker(need_openssl, cert_files, tmp_path, version):
    """openssl s_client -sess_in resumes on >= 19 of 20 reconnects spread over both workers."""
    with _script_server(tmp_path, cert_files) as srv:
        session = tmp_path / "session.pem"
        first = _s_client(srv["port"], version, cert_files["ca"], ["-sess_out", str(session)])
        assert "pid=" in first and session.exists(), first
        jobs = [gevent.spawn(_s_client, srv["port"], version, cert_files["ca"], ["-sess_in", str(session)])
                for _ in range(20)]
        gevent.joinall(jobs, raise_error=True)
        results = [_resumed_and_pid(job.value) for job in jobs]
        assert all(pid for _, pid in results), results
        assert sum(resumed for resumed, _ in results) >= 19, results
        assert len({pid for _, pid in results}) == 2, "the reconnects did not reach both workers"
        # Both workers resumed sessions (not just the one that issued the ticket).
        assert len({pid for resumed, pid in results if resumed}) == 2, results


@pytest.mark.parametrize("version", ["tls1_2", "tls1_3"])
def test_cli_workers_resume_openssl_sessions(need_openssl, cert_files, tmp_path, version):
    """`greentls serve --workers 2`: 20 openssl -sess_in reconnects, >= 19 resumed, echo intact."""
    with _cli_server(cert_files, tmp_path) as srv:
        session = tmp_path / "cli-session.pem"
        _s_client_echo(srv["port"], version, cert_files["ca"], ["-sess_out", str(session)])
        jobs = [gevent.spawn(_s_client_echo, srv["port"], version, cert_files["ca"], ["-sess_in", str(session)])
                for _ in range(20)]
        gevent.joinall(jobs, raise_error=True)
        outputs = [job.value for job in jobs]
        assert sum(_resumed_and_pid(out)[0] for out in outputs) >= 19, outputs
        # The echo server sends "pid\n" back as it came: the connection really carried data.
        assert all("\npid\n" in out for out in outputs), outputs


NODE_RESUME = r'''
const tls = require("tls");
const [port, ca, version] = process.argv.slice(2);
const options = {host: "127.0.0.1", port: +port, ca: require("fs").readFileSync(ca),
                 servername: "localhost", minVersion: version, maxVersion: version};
function once(session) {
  return new Promise((resolve, reject) => {
    let saved = null, data = "", reused = null;
    const socket = tls.connect({...options, session}, () => {
      reused = socket.isSessionReused();   // asked while the handle lives (null after close)
      socket.write("pid\n");
    });
    socket.on("session", (s) => { saved = s; });
    socket.on("data", (d) => { data += d; });
    socket.on("error", reject);
    socket.on("close", () => resolve({reused, pid: data.trim(), session: saved}));
  });
}
// Without a session argument: a full handshake, printing the session as hex.  With one: resume it.
(async () => {
  const given = process.argv.slice(2)[3];
  const r = await once(given ? Buffer.from(given, "hex") : undefined);
  console.log(JSON.stringify({reused: r.reused, pid: r.pid, session: r.session && r.session.toString("hex")}));
})().catch((e) => { console.error(e); process.exit(1); });
'''


@pytest.mark.parametrize("version", ["TLSv1.2", "TLSv1.3"])
def test_node_session_resumes_on_every_worker(need_node, cert_files, tmp_path, version):
    """A Node client's session (session option) resumes on both workers: isSessionReused >= 19/20."""
    with _script_server(tmp_path, cert_files) as srv:
        first = node(NODE_RESUME, srv["port"], cert_files["ca"], version)
        assert first["session"] and not first["reused"], first
        # One Node process per reconnect, all at once, as independent clients would arrive
        # (one process's burst of connects is taken whole by whichever worker wakes first).
        jobs = [gevent.spawn(node, NODE_RESUME, srv["port"], cert_files["ca"], version, first["session"])
                for _ in range(20)]
        gevent.joinall(jobs, raise_error=True)
        runs = [job.value for job in jobs]
        out = [(r["reused"], r["pid"]) for r in runs]
        assert all(r["pid"].startswith("pid=") for r in runs), out
        assert sum(r["reused"] for r in runs) >= 19, out
        assert len({r["pid"] for r in runs if r["reused"]}) == 2, out


def _client(port: int, ca: Any) -> Any:
    with open(ca, "rb") as f:
        trusted = f.read()
    return greentls.connect(port, "127.0.0.1", ca=trusted, servername="localhost")


def _line(tls: Any) -> bytes:
    data = b""
    while not data.endswith(b"\n"):
        chunk = tls.recv(4096)
        if not chunk:
            raise ConnectionError(f"EOF after {data!r}")
        data += chunk
    return data


def _open_spread(port: int, ca: Any, count: int = 6) -> dict:
    """Open ``count`` connections over both workers and map each to its worker's pid.

    Which idle worker wins an accept is up to the kernel and usually the same one, so each
    new connection is made while the worker with more connections is blocked by "busy"."""
    def one() -> tuple:
        tls = _client(port, ca)
        tls.sendall(b"whoami\n")
        return tls, int(_line(tls).split(b"=")[1])
    first, pid = one()
    by_conn = {first: pid}
    while len(by_conn) < count:
        pids = list(by_conn.values())
        crowded = max(set(pids), key=pids.count)
        blocker = next(tls for tls, p in by_conn.items() if p == crowded)
        blocker.sendall(b"busy\n")
        gevent.sleep(0.05)                  # let the worker get the line and block
        tls, pid = one()
        assert _line(blocker) == b"ok\n"
        by_conn[tls] = pid
    assert len(set(by_conn.values())) == 2, f"connections did not reach 2 workers: {by_conn}"
    return by_conn


def _read_status(path: Any) -> int:
    try:
        return int(path.read_text())
    except (OSError, ValueError):
        return -1


def _wait_for(predicate: Any, timeout: float, message: str) -> None:
    with gevent.Timeout(timeout, AssertionError(message)):
        while not predicate():
            gevent.sleep(0.02)


def test_parent_get_connections_sums_workers(cert_files, tmp_path):
    """The parent's get_connections() is the sum over its workers (6 open on two, then 0)."""
    with _script_server(tmp_path, cert_files) as srv:
        conns = _open_spread(srv["port"], cert_files["ca"])
        _wait_for(lambda: _read_status(srv["status"]) == 6, 5, "parent did not count 6 connections")
        for tls in conns:
            tls.close()
        _wait_for(lambda: _read_status(srv["status"]) == 0, 5, "parent did not count down to 0")


def _pingpong(tls: Any, stop: Any, tally: dict) -> None:
    n = 0
    try:
        while not stop.is_set():
            message = b"ping %d\n" % n
            tls.sendall(message)
            assert _line(tls) == message
            n += 1
            gevent.sleep(0.005)
        tally["ok"] = n
    except (OSError, greentls.TLSError, ConnectionError) as exc:
        tally["error"] = exc
        tally["ok"] = n


def test_sigkill_worker_loses_only_its_connections(cert_files, tmp_path):
    """SIGKILL one worker under echo load: only its connections fail; a new worker starts in < 1 s."""
    with _script_server(tmp_path, cert_files) as srv:
        parent = srv["proc"].pid
        conns = _open_spread(srv["port"], cert_files["ca"])
        stop = gevent.event.Event()
        tallies = {tls: {} for tls in conns}
        loops = [gevent.spawn(_pingpong, tls, stop, tallies[tls]) for tls in conns]
        gevent.sleep(0.3)
        victim = next(iter(conns.values()))
        before = set(_children(parent))
        os.kill(victim, signal.SIGKILL)
        killed_at = time.monotonic()
        _wait_for(lambda: len(set(_children(parent)) - before) == 1, 2.0,
                  "no replacement worker within 2 s")
        replaced_in = time.monotonic() - killed_at
        gevent.sleep(0.5)
        stop.set()
        gevent.joinall(loops, raise_error=True)
        for tls, pid in conns.items():
            if pid == victim:
                assert "error" in tallies[tls], "a connection of the killed worker kept working"
            else:
                assert "error" not in tallies[tls], tallies[tls]
                assert tallies[tls]["ok"] > 20, tallies[tls]
            tls.close()
        assert replaced_in < 1.0, f"replacement took {replaced_in:.2f}s"
        # The replacement accepts: new connections still reach two workers, none of them the victim.
        fresh = _open_spread(srv["port"], cert_files["ca"])
        assert victim not in fresh.values()
        for tls in fresh:
            tls.close()
        assert "was killed by SIGKILL" in srv["stderr"].read_text()


def test_sigterm_drains_in_flight_echoes(cert_files, tmp_path):
    """SIGTERM: workers stop accepting but finish every in-flight echo; then the parent exits 0."""
    with _script_server(tmp_path, cert_files) as srv:
        proc = srv["proc"]
        conns = _open_spread(srv["port"], cert_files["ca"])
        for tls in conns:
            tls.sendall(b"half a line, ")      # an echo in flight: its end comes after SIGTERM
        gevent.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        gevent.sleep(0.5)
        assert proc.poll() is None, "the parent exited with connections still open"
        for tls in conns:
            tls.sendall(b"the other half\n")
            assert _line(tls) == b"half a line, the other half\n"
            tls.sendall(b"and one more\n")
            assert _line(tls) == b"and one more\n"
            tls.close()
        assert proc.wait(timeout=10) == 0
        assert b"parent done" in proc.stdout.read()


def test_sighup_rotates_certificate_without_dropping(need_openssl, cert_files, tmp_path, ca):
    """`greentls serve --workers 2 --cert F --key F`: SIGHUP re-reads the files in every worker;
    an open connection keeps echoing; new connections get the new certificate."""
    folder = tmp_path / "rot"
    folder.mkdir()
    files = {"ca": cert_files["ca"], "cert": folder / "cert.pem", "key": folder / "key.pem"}
    for name in ("cert", "key"):
        with open(cert_files[name], "rb") as f:
            files[name].write_bytes(f.read())
    with _cli_server(files, tmp_path) as srv:
        old = _client(srv["port"], files["ca"])
        old_serial = old.get_peer_certificate()["serialNumber"]
        renewed = ca.issue_cert("localhost", "127.0.0.1")
        renewed.private_key_pem.write_to_path(str(files["key"]))
        files["cert"].write_bytes(b"".join(blob.bytes() for blob in renewed.cert_chain_pems))
        parent = srv["proc"].pid
        before = set(_children(parent))
        srv["proc"].send_signal(signal.SIGHUP)
        _wait_for(lambda: len(set(_children(parent)) - before) == 2, 5, "no new workers after SIGHUP")
        old.sendall(b"still here\n")
        assert _line(old) == b"still here\n"
        serials = set()
        for _ in range(6):
            fresh = _client(srv["port"], files["ca"])
            serials.add(fresh.get_peer_certificate()["serialNumber"])
            fresh.close()
        assert len(serials) == 1 and old_serial not in serials, (old_serial, serials)
        old.close()
        # The old workers drain and leave once their connection has closed.
        _wait_for(lambda: not (before & set(_children(parent))), 5, "old workers did not leave")



def test_crashed_worker_is_replaced_with_backoff(cert_files, tmp_path):
    """A worker that exits is replaced and logged; one dying at startup makes the next wait longer."""
    with _script_server(tmp_path, cert_files) as srv:
        parent = srv["proc"].pid
        gevent.sleep(1.2)       # past QUICK_DEATH: this first crash is not a startup crash
        tls = _client(srv["port"], cert_files["ca"])
        tls.sendall(b"whoami\n")
        crashed = int(_line(tls).split(b"=")[1])
        tls.sendall(b"crash\n")
        assert tls.recv(100) == b""
        tls.close()
        _wait_for(lambda: crashed not in _children(parent) and len(_children(parent)) == 2, 5,
                  "the crashed worker was not replaced")
        # Kill each replacement at once: three quick deaths in a row.
        for _ in range(3):
            newest = max(_children(parent))
            os.kill(newest, signal.SIGKILL)
            # The lambda runs within this iteration, so B023's late binding is moot.
            _wait_for(lambda: newest not in _children(parent) and len(_children(parent)) == 2, 5,  # noqa: B023
                      "no replacement after a quick death")
        log = srv["stderr"].read_text()
        assert f"(pid {crashed}) exited with status 3" in log, log
        assert "starting a replacement in 0.0s" in log, log
        for delay in ("0.1s", "0.2s", "0.4s"):     # doubling back-off
            assert f"starting a replacement in {delay}" in log, log
