"""Benchmark greentls against the shared anchors (Node, gevent + stdlib ssl): ``make bench``.

Runs ``greentls serve`` (the CLI's echo server) beside the reference servers with the
shared load generator (``/work/shared/bench/run.sh``: server on CPU 0, client on CPU 1,
capacity = operations per second of server CPU), for ECDSA P-256 and RSA-2048, and
writes ``benchmarks/results/<date>/`` with ``results.jsonl`` (one JSON line per cell),
``meta.json`` and ``report.md`` (capacity ratios vs node and gevent_stdlib, target by
target, then the harness's own tables).  A ``leak`` mode of this script opens 10,000
sequential connections to a fresh greentls server and compares its RSS after 5,000 and
after 10,000 (target: flat within 5 %).  See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
BENCH_DIR = Path(os.environ.get("BENCH_DIR", "/work/shared/bench"))
BENCH_VENV = Path("/tmp/benchvenv")
GREENTLS_PY = ROOT / ".venv" / "bin" / "python"
HARNESS_MODES = ("idle", "handshake", "resume", "pingpong", "throughput")

# (cell, field in the JSON line, label, anchor the target is against, better direction)
METRICS = [
    ("handshake", "server_ops_per_cpu_s", "full handshakes / server CPU-s", ("node",), "higher"),
    ("resume", "server_ops_per_cpu_s", "resumed handshakes / server CPU-s", ("node",), "higher"),
    ("throughput", "server_mb_per_cpu_s", "bulk echo MB / server CPU-s", ("node", "gevent_stdlib"), "higher"),
    ("pingpong", "server_ops_per_cpu_s", "64 B round trips / server CPU-s", ("gevent_stdlib",), "higher"),
    ("idle", "server_bytes_per_conn", "bytes per idle connection", (), "lower"),
]
IDLE_TARGET_BYTES = 35 * 1024


def bench_python() -> str:
    """The interpreter for the Python anchors: $BENCH_PY, else /tmp/benchvenv (created if missing)."""
    if os.environ.get("BENCH_PY"):
        return os.environ["BENCH_PY"]
    py = BENCH_VENV / "bin" / "python"
    if not py.exists():
        print(f"run.py: creating {BENCH_VENV} (gevent pyopenssl uvloop trustme cryptography)", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(BENCH_VENV)], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", "gevent", "pyopenssl", "uvloop",
                        "trustme", "cryptography"], check=True)
    return str(py)


def run_harness(args: argparse.Namespace, out: Path) -> None:
    """Run the shared run.sh with greentls added beside the chosen anchors."""
    greentls_cmd = f"{GREENTLS_PY} -m greentls serve --port {{port}} --cert {{cert}} --key {{key}}"
    cmd = [str(BENCH_DIR / "run.sh"), "--duration", str(args.duration), "--passes", str(args.passes),
           "--servers", args.servers, "--server", f"greentls={greentls_cmd}",
           "--modes", ",".join(m for m in args.modes if m in HARNESS_MODES),
           "--certs", ",".join(args.certs), "--idle-count", str(args.idle_count), "--out", str(out)]
    env = dict(os.environ, BENCH_PY=bench_python())
    subprocess.run(cmd, env=env, check=False, stdout=subprocess.DEVNULL)


def vm_rss_kib(pid: int) -> int:
    """VmRSS of one process, in KiB."""
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))


def leak_check(cert_dir: Path, cert: str, total: int = 10_000) -> dict[str, Any]:
    """Open ``total`` sequential connections (handshake, 1-byte echo, close) to a fresh server.

    Returns the server's RSS after total/2 and after total connections; the no-leak target
    is RSS flat within 5 % between the two.
    """
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(["taskset", "-c", "0", str(GREENTLS_PY), "-m", "greentls", "serve",
                               "--port", str(port), "--cert", str(cert_dir / f"{cert}.crt"),
                               "--key", str(cert_dir / f"{cert}.key")],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        os.sched_setaffinity(0, {1})
        ctx = ssl.create_default_context(cafile=str(cert_dir / "ca.pem"))
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        rss: dict[int, int] = {}
        t0 = time.monotonic()
        for i in range(1, total + 1):
            with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
                with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
                    tls.sendall(b"\n")
                    tls.recv(1)
            if i in (total // 2, total):
                time.sleep(0.5)  # let the server finish closing the last connections
                rss[i] = vm_rss_kib(server.pid)
        half, full = rss[total // 2], rss[total]
        return {"cell": "leak", "server": "greentls", "cert": cert, "pass": 1, "connections": total,
                "rss_half_kib": half, "rss_full_kib": full,
                "rss_growth_pct": round((full - half) * 100 / half, 2),
                "duration_s": round(time.monotonic() - t0, 1)}
    finally:
        os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))
        server.terminate()
        server.wait(10)


def cells(rows: list[dict[str, Any]], server: str, cert: str, cell: str, field: str) -> list[float]:
    """Every value of ``field`` over the passes of one (server, cert, cell)."""
    return [r[field] for r in rows if r.get("server") == server and r.get("cert") == cert
            and r.get("cell") == cell and not r.get("failed") and r.get(field) is not None]


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def fmt(v: float | None, digits: int = 0) -> str:
    return "-" if v is None else f"{v:,.{digits}f}"


def ratio_table(rows: list[dict[str, Any]], cert: str) -> list[str]:
    """Markdown rows: greentls vs node and gevent_stdlib per metric, with the target verdict."""
    out = ["| figure | greentls | node | gevent_stdlib | vs node | vs gevent_stdlib | target | met |",
           "|---|---|---|---|---|---|---|---|"]
    for cell, field, label, anchors, _better in METRICS:
        g = median(cells(rows, "greentls", cert, cell, field))
        n = median(cells(rows, "node", cert, cell, field))
        s = median(cells(rows, "gevent_stdlib", cert, cell, field))
        if g is None:
            continue
        rn = g / n if n else None
        rs = g / s if s else None
        if cell == "idle":
            target, met = "<= 35 KiB", g <= IDLE_TARGET_BYTES
            vals = [fmt(g / 1024, 1) + " KiB", fmt(n and n / 1024, 1) + " KiB", fmt(s and s / 1024, 1) + " KiB"]
        else:
            ratios = {"node": rn, "gevent_stdlib": rs}
            target = " and ".join(f">= 1.0x {a}" for a in anchors)
            met = all(ratios[a] is not None and ratios[a] >= 1.0 for a in anchors)
            vals = [fmt(g), fmt(n), fmt(s)]
        out.append(f"| {label} | {vals[0]} | {vals[1]} | {vals[2]} | {fmt(rn, 2)} | {fmt(rs, 2)} "
                   f"| {target} | {'yes' if met else 'NO'} |")
    for r in rows:
        if r.get("cell") == "leak" and r.get("cert") == cert:
            ok = abs(r["rss_growth_pct"]) <= 5
            out.append(f"| RSS after {r['connections'] // 2:,} / {r['connections']:,} sequential connections "
                       f"| {r['rss_half_kib'] / 1024:.1f} / {r['rss_full_kib'] / 1024:.1f} MiB "
                       f"({r['rss_growth_pct']:+.1f} %) | - | - | - | - | flat ±5 % | {'yes' if ok else 'NO'} |")
    return out


def detail_table(rows: list[dict[str, Any]], cert: str) -> list[str]:
    """Wall-clock rate, capacity, bound and other% per server and cell (every pass)."""
    out = ["| cell | server | rate (ops/s or MB/s) | capacity | server CPU % | bound | other % |",
           "|---|---|---|---|---|---|---|"]
    for cell in HARNESS_MODES:
        for r in rows:
            if r.get("cert") != cert or r.get("cell") != cell:
                continue
            if r.get("failed"):
                out.append(f"| {cell} | {r['server']} | FAILED: {r.get('error')} | | | | |")
                continue
            if cell == "idle":
                out.append(f"| idle | {r['server']} | {r.get('established')} conns | "
                           f"{fmt((r.get('server_bytes_per_conn') or 0) / 1024, 1)} KiB/conn | | | |")
                continue
            rate = r.get("mb_s") if cell == "throughput" else r.get("rate")
            cap = r.get("server_mb_per_cpu_s") if cell == "throughput" else r.get("server_ops_per_cpu_s")
            extra = f" (resumed {r.get('resumed_fraction')})" if cell == "resume" else ""
            out.append(f"| {cell} | {r['server']} | {fmt(rate)}{extra} | {fmt(cap)} | "
                       f"{fmt(r.get('server_cpu_pct'))} | {r.get('bound')} | {fmt(r.get('other_cpu_pct'))} |")
    return out


def write_report(out: Path, rows: list[dict[str, Any]], meta: dict[str, Any], harness_md: str) -> None:
    lines = [f"# greentls benchmark, {meta.get('date', '?')}", "",
             f"Machine: {meta.get('nproc')} CPUs, {meta.get('cpu_model')}, kernel {meta.get('kernel')}; "
             f"node {meta.get('node')}; anchors' Python: {meta.get('python_venv')}; "
             f"greentls: {meta.get('greentls_python')}, pyOpenSSL on {meta.get('greentls_openssl')}. "
             f"{meta.get('duration_s')} s per cell, {meta.get('passes')} pass(es); server on CPU 0, "
             "client on CPU 1. Capacity = operations per second of server CPU time (median over passes); "
             "ratios > 1 mean greentls does more per CPU-second (for memory, less is better).", ""]
    for cert in ("ecdsa", "rsa"):
        if not any(r.get("cert") == cert for r in rows):
            continue
        lines += [f"## {cert.upper()} — capacity ratios", "", *ratio_table(rows, cert), "",
                  f"### {cert.upper()} — every cell", "", *detail_table(rows, cert), ""]
    if harness_md:
        lines += ["## Harness report (shared report.py)", "", harness_md]
    (out / "report.md").write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--duration", type=float, default=8, help="measured seconds per cell (default 8)")
    p.add_argument("--passes", type=int, default=1)
    p.add_argument("--modes", default=",".join(HARNESS_MODES) + ",leak",
                   help="comma list of idle,handshake,resume,pingpong,throughput,leak")
    p.add_argument("--certs", default="ecdsa,rsa")
    p.add_argument("--servers", default="node,gevent_stdlib", help="anchors run beside greentls")
    p.add_argument("--idle-count", type=int, default=2000)
    p.add_argument("--leak-count", type=int, default=10_000)
    p.add_argument("--out", help="results directory (default benchmarks/results/<UTC date-time>)")
    args = p.parse_args(argv)
    args.modes = args.modes.split(",")
    args.certs = args.certs.split(",")
    now = datetime.datetime.now(datetime.timezone.utc)
    out = Path(args.out) if args.out else HERE / "results" / now.strftime("%Y-%m-%d-%H%M")
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="greentls-bench-") as tmp:
        raw = Path(tmp) / "run"
        rows: list[dict[str, Any]] = []
        meta: dict[str, Any] = {}
        harness_md = ""
        if any(m in HARNESS_MODES for m in args.modes):
            run_harness(args, raw)
            if (raw / "results.jsonl").exists():
                rows = [json.loads(line) for line in (raw / "results.jsonl").read_text().splitlines() if line]
                meta = json.loads((raw / "meta.json").read_text())
                harness_md = (raw / "report.md").read_text() if (raw / "report.md").exists() else ""
        if "leak" in args.modes:
            cert_dir = raw / "certs"
            if not (cert_dir / "ca.pem").exists():
                subprocess.run([str(BENCH_DIR / "certs.sh"), str(cert_dir)], check=True, stdout=subprocess.DEVNULL)
            for cert in args.certs:
                print(f"run.py: leak check ({args.leak_count} sequential connections, {cert})", file=sys.stderr)
                rows.append(leak_check(cert_dir, cert, args.leak_count))
        if raw.exists() and (raw / "logs").exists():
            shutil.copytree(raw / "logs", out / "logs", dirs_exist_ok=True)
    meta.setdefault("date", now.strftime("%Y-%m-%dT%H:%M:%SZ"))
    meta["greentls_python"] = sys.version.split()[0]
    meta["greentls_openssl"] = subprocess.run(
        [str(GREENTLS_PY), "-c", "from OpenSSL import SSL; print(SSL.OpenSSL_version(SSL.OPENSSL_VERSION).decode())"],
        capture_output=True, text=True, check=False).stdout.strip()
    meta["git_commit"] = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                                        capture_output=True, text=True, check=False).stdout.strip()
    (out / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (out / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")
    write_report(out, rows, meta, harness_md)
    print((out / "report.md").read_text())
    print(f"results: {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
