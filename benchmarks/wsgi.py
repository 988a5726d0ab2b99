"""HTTP over TLS, hello world: greentls.wsgi beside gunicorn, pywsgi, uvicorn and Node (``make bench``).

Five servers answer ``Hello, World!`` (``benchmarks/wsgi_servers.py``; Node's inline) with an
ECDSA P-256 certificate over TLS 1.3, each pinned to CPU 0, while ``wrk`` (Debian's, installed
here when missing) runs on CPU 1:

* ``greentls``: ``greentls.wsgi.WSGIServer`` (the project's ``.venv``);
* ``gunicorn_gevent``: ``gunicorn -k gevent -w 1 --certfile --keyfile``;
* ``pywsgi``: ``gevent.pywsgi.WSGIServer`` with ``keyfile``/``certfile`` (stdlib ``ssl``);
* ``uvicorn``: ``uvicorn --loop uvloop --http httptools`` (ASGI) with ``--ssl-*``;
* ``node``: ``https.createServer``.

Two cells per server: ``keepalive`` (32 connections, requests back to back) and ``close``
(``Connection: close``: a new TLS connection, full handshake, per request).  The figure is
**requests per server CPU-second**: requests wrk completed / (utime + stime of the server
process and its children, read from ``/proc`` right before and after the measured run), the
rate one fully busy server core would give; the wall-clock rate is kept beside it.  Cells run
interleaved (pass -> mode -> server), each after an unmeasured 1 s warm-up; the report gives the
median of the passes.  Output: ``benchmarks/results/<UTC date-time>-wsgi/`` (``report.md``,
``results.jsonl``, ``meta.json``; ``logs/`` not committed).

    .venv/bin/python benchmarks/wsgi.py                       # 5 passes x 8 s (~10 min)
    .venv/bin/python benchmarks/wsgi.py --passes 1 --duration 3 --servers greentls,node
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
GREENTLS_PY = ROOT / ".venv" / "bin" / "python"
BENCH_VENV = Path(os.environ.get("WSGI_BENCH_VENV", "/tmp/benchvenv"))
ANCHOR_PACKAGES = ["gevent", "gunicorn", "packaging", "uvicorn", "uvloop", "httptools"]
SERVERS = ("greentls", "gunicorn_gevent", "pywsgi", "uvicorn", "node")
MODES = ("keepalive", "close")
CONNECTIONS = 32

NODE_SERVER = r"""
const https = require('https'); const fs = require('fs');
const [port, cert, key] = process.argv.slice(1);
const body = 'Hello, World!';
https.createServer({cert: fs.readFileSync(cert), key: fs.readFileSync(key)}, (req, res) => {
  res.writeHead(200, {'Content-Type': 'text/plain', 'Content-Length': body.length}); res.end(body);
}).listen(+port, '127.0.0.1');
"""


# -- setup -----------------------------------------------------------------------------------------

def ensure_wrk() -> str:
    """The wrk binary, installed from Debian when missing."""
    found = shutil.which("wrk")
    if found:
        return found
    print("wsgi.py: installing wrk (apt-get install -y wrk)", file=sys.stderr)
    subprocess.run(["apt-get", "update", "-qq"], check=False, stdout=subprocess.DEVNULL)
    subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True, stdout=subprocess.DEVNULL)
    found = shutil.which("wrk")
    if not found:
        raise SystemExit("wsgi.py: wrk is missing and could not be installed")
    return found


def anchor_python() -> Path:
    """The venv of the Python anchors (gunicorn, pywsgi, uvicorn), made or completed here."""
    py = BENCH_VENV / "bin" / "python"
    if not py.exists():
        subprocess.run([sys.executable, "-m", "venv", str(BENCH_VENV)], check=True)
    missing = subprocess.run([str(py), "-c", "import gevent, gunicorn, packaging, uvicorn, uvloop, httptools"],
                             check=False, capture_output=True).returncode
    if missing:
        print(f"wsgi.py: installing {' '.join(ANCHOR_PACKAGES)} into {BENCH_VENV}", file=sys.stderr)
        subprocess.run([str(py), "-m", "pip", "install", "-q", *ANCHOR_PACKAGES], check=True)
    return py


def make_certificate(folder: Path) -> tuple[Path, Path]:
    """An ECDSA P-256 server certificate for 127.0.0.1 from a throw-away trustme CA."""
    import trustme
    ca = trustme.CA(key_type=trustme.KeyType.ECDSA)
    leaf = ca.issue_cert("127.0.0.1", "localhost", key_type=trustme.KeyType.ECDSA)
    cert, key = folder / "cert.pem", folder / "key.pem"
    cert.write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
    key.write_bytes(leaf.private_key_pem.bytes())
    return cert, key


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def server_command(name: str, port: int, cert: Path, key: Path, anchor_py: Path) -> list[str]:
    """The command line of one server (run under ``taskset -c 0``)."""
    helper = str(HERE / "wsgi_servers.py")
    if name == "greentls":
        return [str(GREENTLS_PY), helper, "greentls", str(port), str(cert), str(key)]
    if name == "pywsgi":
        return [str(anchor_py), helper, "pywsgi", str(port), str(cert), str(key)]
    if name == "gunicorn_gevent":
        return [str(anchor_py), "-m", "gunicorn", "-k", "gevent", "-w", "1", "--certfile", str(cert),
                "--keyfile", str(key), "-b", f"127.0.0.1:{port}", "--chdir", str(HERE), "wsgi_servers:app"]
    if name == "uvicorn":
        return [str(anchor_py), "-m", "uvicorn", "--loop", "uvloop", "--http", "httptools", "--no-access-log",
                "--log-level", "warning", "--ssl-certfile", str(cert), "--ssl-keyfile", str(key),
                "--host", "127.0.0.1", "--port", str(port), "--app-dir", str(HERE), "wsgi_servers:asgi_app"]
    if name == "node":
        return ["node", "-e", NODE_SERVER, str(port), str(cert), str(key)]
    raise SystemExit(f"wsgi.py: unknown server {name!r}")


def wait_ready(port: int, proc: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    """Wait until the server answers one HTTPS request."""
    import ssl
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"wsgi.py: a server exited with {proc.returncode} before answering")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as raw, \
                    context.wrap_socket(raw) as tls:
                tls.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
                if b"Hello, World!" in tls.recv(4096) + tls.recv(4096):
                    return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"wsgi.py: the server on port {port} did not answer within {timeout} s")


# -- measuring -------------------------------------------------------------------------------------

def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (gunicorn's arbiter and worker)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children.get(current, []))
    return tree


def cpu_seconds(pids: list[int]) -> float:
    """utime + stime of these processes, in seconds."""
    ticks = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def run_wrk(wrk: str, port: int, mode: str, duration: float) -> tuple[str, float]:
    args = ["taskset", "-c", "1", wrk, "-t1", f"-c{CONNECTIONS}", f"-d{duration:g}s"]
    if mode == "close":
        args += ["-H", "Connection: close"]
    started = time.monotonic()
    out = subprocess.run([*args, f"https://127.0.0.1:{port}/"], check=False, capture_output=True,
                         text=True, timeout=duration + 60).stdout
    return out, time.monotonic() - started


def parse_wrk(out: str) -> dict[str, Any]:
    requests = re.search(r"(\d+) requests in", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"requests": int(requests.group(1)) if requests else 0,
            "socket_errors": sum(int(n) for n in errors.groups()) if errors else 0,
            "non_2xx": int(non2xx.group(1)) if non2xx else 0}


def measure(wrk: str, name: str, pid: int, port: int, mode: str, duration: float) -> dict[str, Any]:
    """One cell: a warm-up, then wrk for ``duration`` with the server's CPU read around it."""
    run_wrk(wrk, port, mode, 1)
    pids = process_tree(pid)
    before = cpu_seconds(pids)
    out, wall = run_wrk(wrk, port, mode, duration)
    used = cpu_seconds(pids) - before
    row = {"server": name, "mode": mode, **parse_wrk(out), "server_cpu_s": round(used, 3),
           "wall_s": round(wall, 3)}
    row["req_per_cpu_s"] = round(row["requests"] / used) if used > 0 else None
    row["req_per_s"] = round(row["requests"] / duration)
    row["server_cpu_pct"] = round(100 * used / duration, 1)
    return row


# -- the report ------------------------------------------------------------------------------------

def medians(rows: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, float | None]]:
    out: dict[tuple[str, str], dict[str, float | None]] = {}
    for key in {(r["server"], r["mode"]) for r in rows}:
        cell = [r for r in rows if (r["server"], r["mode"]) == key]
        caps = [r["req_per_cpu_s"] for r in cell if r["req_per_cpu_s"]]
        out[key] = {"cap": statistics.median(caps) if caps else None,
                    "cap_min": min(caps) if caps else None, "cap_max": max(caps) if caps else None,
                    "rate": statistics.median(r["req_per_s"] for r in cell),
                    "cpu_pct": statistics.median(r["server_cpu_pct"] for r in cell),
                    "errors": sum(r["socket_errors"] + r["non_2xx"] for r in cell)}
    return out


def fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def report(rows: list[dict[str, Any]], servers: list[str], meta: dict[str, Any]) -> str:
    cells = medians(rows)
    lines = [f"# greentls.wsgi beside other HTTPS servers ({meta['started']})", "",
             f"Hello world, ECDSA P-256, TLS 1.3, server on CPU 0, wrk on CPU 1, {CONNECTIONS} connections, "
             f"{meta['passes']} passes x {meta['duration']} s, medians (min-max). Requests per server CPU-second:", "",
             "| server | keep-alive, 32 connections | a new TLS connection per request |", "| --- | --- | --- |"]
    for name in servers:
        row = [name]
        for mode in MODES:
            c = cells.get((name, mode))
            row.append("-" if c is None else f"{fmt(c['cap'])} ({fmt(c['cap_min'])}-{fmt(c['cap_max'])})")
        lines.append("| " + " | ".join(row) + " |")
    lines += ["", "Wall clock (requests/s), server CPU % and errors:", "",
              "| server | mode | requests/s | server CPU % | errors |", "| --- | --- | --- | --- | --- |"]
    for name in servers:
        for mode in MODES:
            c = cells.get((name, mode))
            if c is not None:
                lines.append(f"| {name} | {mode} | {fmt(c['rate'])} | {c['cpu_pct']} | {c['errors']} |")
    lines += ["", "Targets (greentls / anchor, requests per server CPU-second):", ""]
    targets = [("keepalive", "gunicorn_gevent", 3.0), ("keepalive", "uvicorn", 1.0),
               ("close", "node", 1.2), ("close", "uvicorn", 1.0)]
    for mode, anchor, wanted in targets:
        ours, theirs = cells.get(("greentls", mode)), cells.get((anchor, mode))
        if ours and theirs and ours["cap"] and theirs["cap"]:
            ratio = ours["cap"] / theirs["cap"]
            verdict = "met" if ratio >= wanted else "NOT met"
            lines.append(f"- {mode}: {ratio:.2f}x {anchor} (target >= {wanted}x: {verdict})")
    return "\n".join(lines) + "\n"


def output(args: list[str]) -> str:
    """A command's stdout, stripped ("" when it fails)."""
    return subprocess.run(args, check=False, capture_output=True, text=True).stdout.strip()


def versions(python: Path, packages: tuple[str, ...]) -> str:
    """``name version, ...`` of ``packages`` as ``python`` sees them."""
    code = f"import importlib.metadata as m; print(', '.join(p + ' ' + m.version(p) for p in {packages!r}))"
    return output([str(python), "-c", code])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--duration", type=float, default=8, help="measured seconds per cell (default 8)")
    p.add_argument("--passes", type=int, default=5)
    p.add_argument("--servers", default=",".join(SERVERS))
    p.add_argument("--modes", default=",".join(MODES))
    p.add_argument("--out", help="results directory (default benchmarks/results/<UTC date-time>-wsgi)")
    args = p.parse_args(argv)
    servers = [s for s in args.servers.split(",") if s]
    modes = [m for m in args.modes.split(",") if m]
    started = datetime.datetime.now(datetime.timezone.utc)
    out = Path(args.out) if args.out else HERE / "results" / (started.strftime("%Y-%m-%d-%H%M") + "-wsgi")
    (out / "logs").mkdir(parents=True, exist_ok=True)
    wrk = ensure_wrk()
    anchor_py = anchor_python() if {"gunicorn_gevent", "pywsgi", "uvicorn"} & set(servers) else Path(sys.executable)
    cert, key = make_certificate(out / "logs")
    procs: dict[str, tuple[subprocess.Popen[bytes], int]] = {}
    rows: list[dict[str, Any]] = []
    try:
        for name in servers:
            port = free_port()
            log = open(out / "logs" / f"{name}.log", "wb")  # noqa: SIM115  # closed with the process
            # greentls from this checkout, whatever the venv's editable install points at.
            env = dict(os.environ, PYTHONPATH=str(ROOT)) if name == "greentls" else None
            proc = subprocess.Popen(["taskset", "-c", "0", *server_command(name, port, cert, key, anchor_py)],
                                    stdout=log, stderr=subprocess.STDOUT, cwd=str(HERE), env=env)
            procs[name] = (proc, port)
            wait_ready(port, proc)
        for number in range(1, args.passes + 1):
            for mode in modes:
                for name in servers:
                    proc, port = procs[name]
                    row = measure(wrk, name, proc.pid, port, mode, args.duration)
                    row["pass"] = number
                    rows.append(row)
                    print(json.dumps(row), file=sys.stderr, flush=True)
    finally:
        for proc, _ in procs.values():
            proc.terminate()
        for proc, _ in procs.values():
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
    meta = {"started": started.strftime("%Y-%m-%d %H:%M UTC"), "duration": args.duration, "passes": args.passes,
            "connections": CONNECTIONS, "nproc": os.cpu_count(),
            "commit": output(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"]),
            "wrk": output([wrk, "-v"]).splitlines()[:1], "node": output(["node", "--version"]),
            "anchors": versions(anchor_py, ("gevent", "gunicorn", "uvicorn", "uvloop", "httptools")),
            "greentls_venv": versions(GREENTLS_PY, ("gevent", "pyOpenSSL", "httptools"))}
    with open(out / "results.jsonl", "w") as f:
        f.writelines(json.dumps(row) + "\n" for row in rows)
    (out / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    text = report(rows, servers, meta)
    (out / "report.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
