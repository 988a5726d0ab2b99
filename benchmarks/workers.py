"""Handshake capacity of ``greentls serve --workers 1`` vs ``--workers 2`` on this 2-core machine.

Runs the CLI's echo server with 1 and with 2 pre-forked workers (ECDSA P-256 and RSA-2048, one
server per (cert, workers), all started together, none pinned) and drives full and resumed
TLS 1.3 handshakes at them with the shared C client ``hsload.c`` (also unpinned: it shares the
two cores with the server).  The cells run interleaved (repetition by repetition, cert by cert,
mode by mode, workers 1 then 2), so a slow spell of the shared machine hits both worker counts.

Server CPU time is utime+stime of the server process and every child of it (the workers, found
through the ``ppid`` field of ``/proc/*/stat``), read right before and right after each hsload
run (``--warmup 0``: the measured window is the hsload process; one unmeasured 1 s hsload run
warms each server up first).  hsload's own ``--server-pid`` figure (parent + children from
``/proc/<pid>/task/<pid>/children``, over its measured window) is kept in results.jsonl as
``hsload_server_cpu_pct``, a cross-check of ``server_cores_busy``.

Per cell: wall-clock handshakes/s, server cores busy (server CPU-s per wall-s), capacity =
handshakes per server CPU-second, projected capacity on dedicated cores = min(workers, 2) x
capacity, and the CPU split between the workers.  Writes
``benchmarks/results/<UTC date-time>-workers/`` (report.md, results.jsonl, meta.json, logs/).

    .venv/bin/python benchmarks/workers.py [--duration 5] [--reps 3] [--concurrency 48]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import signal
import socket
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
GREENTLS_PY = ROOT / ".venv" / "bin" / "python"
CLK_TCK = os.sysconf("SC_CLK_TCK")
NCPU = os.cpu_count() or 1
WORKER_COUNTS = (1, 2)


# -- /proc sampling ---------------------------------------------------------------------------

def _stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name (index 0 = state), or None if gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            text = f.read()
    except OSError:
        return None
    return text[text.rindex(")") + 2:].split()


def children_of(pid: int) -> list[int]:
    """PIDs whose parent is ``pid`` (scan of /proc/*/stat)."""
    out = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            fields = _stat_fields(int(name))
            if fields is not None and int(fields[1]) == pid:
                out.append(int(name))
    return sorted(out)


def cpu_seconds(pid: int) -> float | None:
    """utime + stime of one process (all its threads), in seconds."""
    fields = _stat_fields(pid)
    if fields is None:
        return None
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def server_sample(pid: int) -> dict[int, float]:
    """CPU seconds of the server process and each of its children, by PID."""
    pids = [pid, *children_of(pid)]
    return {p: c for p in pids if (c := cpu_seconds(p)) is not None}


def machine_busy() -> float:
    """Busy CPU seconds of the whole machine (all CPUs; /proc/stat, no idle/iowait)."""
    with open("/proc/stat") as f:
        parts = f.readline().split()
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in parts[1:9])
    return (user + nice + system + irq + softirq + steal) / CLK_TCK


# -- servers ----------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """One ``greentls serve`` process (unpinned), with its workers."""

    def __init__(self, cert_dir: Path, cert: str, workers: int, logs: Path) -> None:
        self.cert, self.workers = cert, workers
        self.port = free_port()
        self.log = open(logs / f"greentls-{cert}-w{workers}.log", "wb")  # noqa: SIM115 (closed by stop())
        self.proc = subprocess.Popen(
            [str(GREENTLS_PY), "-m", "greentls", "serve", "--port", str(self.port),
             "--cert", str(cert_dir / f"{cert}.crt"), "--key", str(cert_dir / f"{cert}.key"),
             "--workers", str(workers)],
            stdout=self.log, stderr=subprocess.STDOUT, cwd=str(ROOT))
        self.worker_pids: list[int] = []

    @property
    def pid(self) -> int:
        return self.proc.pid

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"greentls serve ({self.cert}, --workers {self.workers}) exited "
                                   f"with {self.proc.returncode}; see {self.log.name}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                kids = children_of(self.pid)
                if self.workers == 1 or len(kids) >= self.workers:
                    self.worker_pids = kids
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"greentls serve ({self.cert}, --workers {self.workers}) not ready")
            time.sleep(0.2)

    def stop(self) -> None:
        """SIGTERM the parent (it drains and reaps its workers); SIGKILL what is left, by PID."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(45)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        for pid in self.worker_pids:
            fields = _stat_fields(pid)
            if fields is not None and fields[0] != "Z":
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        self.log.close()


# -- one cell ---------------------------------------------------------------------------------

def run_hsload(hsload: Path, server: Server, ca: Path, duration: float, concurrency: int,
               resume: bool) -> dict[str, Any]:
    """One hsload run (--warmup 0) bracketed by server, client and machine CPU samples."""
    cmd = [str(hsload), "--port", str(server.port), "--duration", str(duration), "--warmup", "0",
           "--concurrency", str(concurrency), "--tls-max", "TLSv1.3", "--ca", str(ca),
           "--server-pid", str(server.pid)]
    if resume:
        cmd.append("--resume")
    before = server_sample(server.pid)
    busy0 = machine_busy()
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - t0
    after = server_sample(server.pid)
    busy1 = machine_busy()
    out, err = proc.stdout.read(), proc.stderr.read()  # type: ignore[union-attr]
    proc.stdout.close(), proc.stderr.close()  # type: ignore[union-attr]
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0 or not out.strip():
        return {"failed": True, "error": f"hsload exit {proc.returncode}: {err.strip()[:300]}"}
    h = json.loads(out.strip().splitlines()[-1])
    per_pid = {p: round(after[p] - before[p], 3) for p in after if p in before}
    gone = sorted(set(before) - set(after))
    new = sorted(set(after) - set(before))
    server_cpu = sum(per_pid.values())
    client_cpu = usage.ru_utime + usage.ru_stime
    ops = h["ops"]
    row: dict[str, Any] = {
        "ops": ops, "errors": h["errors"], "first_error": h["first_error"],
        "hsload_duration_s": h["duration_s"], "window_s": round(wall, 3),
        "rate": round(ops / h["duration_s"], 1),
        "server_cpu_s": round(server_cpu, 3),
        "server_cores_busy": round(server_cpu / wall, 3),
        "capacity": round(ops / server_cpu, 1) if server_cpu > 0 else None,
        "client_cpu_s": round(client_cpu, 3),
        "client_cores_busy": round(client_cpu / wall, 3),
        "other_cores_busy": round(((busy1 - busy0) - server_cpu - client_cpu) / wall, 3),
        "machine_cores_busy": round((busy1 - busy0) / wall, 3),
        "server_cpu_by_pid": {str(p): c for p, c in per_pid.items()},
        "parent_cpu_s": per_pid.get(server.pid),
        "worker_cpu_s": [per_pid[p] for p in sorted(per_pid) if p != server.pid],
        "pids_gone": gone, "pids_new": new,
        "resumed_fraction": h.get("resumed_fraction"),
        "p50_ms": h.get("p50_ms"), "p99_ms": h.get("p99_ms"),
        "protocol": h.get("protocol"), "cipher": h.get("cipher"), "kx": h.get("kx"),
        "hsload_server_cpu_pct": h.get("server_cpu_pct"),   # cross-check of server_cores_busy
        "hsload_client": h.get("client"),
    }
    if row["capacity"] is not None:
        row["projected_capacity"] = round(min(server.workers, NCPU) * row["capacity"], 1)
    return row


# -- report -----------------------------------------------------------------------------------

def values(rows: list[dict[str, Any]], cert: str, mode: str, workers: int, field: str) -> list[float]:
    return [r[field] for r in rows if r["cert"] == cert and r["mode"] == mode
            and r["workers"] == workers and not r.get("failed") and r.get(field) is not None]


def paired_ratios(rows: list[dict[str, Any]], cert: str, mode: str, field: str,
                  scale: float = 1.0) -> list[float]:
    """field(workers=2) * scale / field(workers=1), repetition by repetition."""
    out = []
    for rep in sorted({r["rep"] for r in rows}):
        pair = {}
        for r in rows:
            if (r["cert"], r["mode"], r["rep"]) == (cert, mode, rep) and not r.get("failed"):
                pair[r["workers"]] = r.get(field)
        if pair.get(1) and pair.get(2):
            out.append(pair[2] * scale / pair[1])
    return out


def med_range(vals: list[float], digits: int = 0) -> str:
    if not vals:
        return "-"
    m = statistics.median(vals)
    return f"{m:,.{digits}f} ({min(vals):,.{digits}f}–{max(vals):,.{digits}f})"


def write_report(out: Path, rows: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    modes = [m for m in ("full", "resume") if any(r["mode"] == m for r in rows)]
    lines = [
        f"# greentls `serve --workers 1` vs `--workers 2`: handshake capacity, {meta['date']}", "",
        f"Machine: {meta['nproc']} CPUs ({meta['cpu_model']}), kernel {meta['kernel']}; greentls on "
        f"Python {meta['greentls_python']}, pyOpenSSL on {meta['greentls_openssl']}; client "
        f"`{meta['hsload_client']}`. Commit {meta['git_commit']}"
        + (f" (working tree also had uncommitted changes to: {', '.join(meta['git_dirty'])})"
           if meta.get("git_dirty") else "") + ".", "",
        f"TLS 1.3 handshakes (connect, handshake with certificate verification, 1-byte echo, close), "
        f"{meta['concurrency']} concurrent loops, {meta['duration_s']} s per cell, {meta['reps']} "
        "repetitions, cells interleaved. **Nothing is pinned: the server (parent + workers) and the "
        "load generator share the 2 cores**, so the wall-clock rate is limited by the client's own "
        "CPU use. Server CPU = utime+stime of the parent and every worker over the hsload run. "
        "Figures are median (min–max) over the repetitions.", "",
        "- **rate**: handshakes/s, wall clock.",
        "- **server cores**: server CPU-seconds per second (cores busy with the server).",
        "- **capacity**: handshakes per server CPU-second.",
        "- **projected**: min(workers, 2 cores) × capacity = the rate if the server had the 2 cores "
        "to itself (the client elsewhere) and each worker kept its per-CPU-second capacity.", ""]
    for cert in ("ecdsa", "rsa"):
        if not any(r["cert"] == cert for r in rows):
            continue
        lines += [f"## {cert.upper()}", "",
                  "| mode | workers | rate (hs/s) | server cores | client cores | other cores "
                  "| capacity (hs/server CPU-s) | projected (hs/s) | worker CPU split | errors | resumed |",
                  "|---|---|---|---|---|---|---|---|---|---|---|"]
        for mode in modes:
            for w in WORKER_COUNTS:
                sel = [r for r in rows if (r["cert"], r["mode"], r["workers"]) == (cert, mode, w)
                       and not r.get("failed")]
                if not sel:
                    continue
                splits = []
                for r in sel:
                    ws = r["worker_cpu_s"]
                    if len(ws) >= 2 and sum(ws) > 0:
                        splits.append("/".join(f"{100 * x / sum(ws):.0f}" for x in ws))
                split = ", ".join(splits) if splits else "-"
                errs = sum(r["errors"] for r in sel)
                res = med_range(values(rows, cert, mode, w, "resumed_fraction"), 3) if mode == "resume" else "-"
                lines.append(
                    f"| {mode} | {w} | {med_range(values(rows, cert, mode, w, 'rate'))} "
                    f"| {med_range(values(rows, cert, mode, w, 'server_cores_busy'), 2)} "
                    f"| {med_range(values(rows, cert, mode, w, 'client_cores_busy'), 2)} "
                    f"| {med_range(values(rows, cert, mode, w, 'other_cores_busy'), 2)} "
                    f"| {med_range(values(rows, cert, mode, w, 'capacity'))} "
                    f"| {med_range(values(rows, cert, mode, w, 'projected_capacity'))} "
                    f"| {split} | {errs} | {res} |")
        failed = [r for r in rows if r["cert"] == cert and r.get("failed")]
        for r in failed:
            lines.append(f"\nFAILED: {r['mode']} workers={r['workers']} rep {r['rep']}: {r.get('error')}")
        lines.append("")
    lines += ["## Ratios workers=2 / workers=1", "",
              "Median of the per-repetition ratios (each repetition pairs the two cells run back to "
              "back), with their min–max. Target (issue): ≥ 1.6x.", "",
              "| cert | mode | wall-clock rate ratio (client shares the cores) "
              "| projected capacity ratio (2 × cap₂ / cap₁) | capacity per server CPU-s (cap₂ / cap₁) |",
              "|---|---|---|---|---|"]
    for cert in ("ecdsa", "rsa"):
        for mode in modes:
            wall = paired_ratios(rows, cert, mode, "rate")
            proj = paired_ratios(rows, cert, mode, "projected_capacity")
            cap = paired_ratios(rows, cert, mode, "capacity")
            if wall or proj:
                lines.append(f"| {cert.upper()} | {mode} | {med_range(wall, 2)} | {med_range(proj, 2)} "
                             f"| {med_range(cap, 2)} |")
    lines += ["", "## Every cell", "",
              "| cert | mode | workers | rep | rate | server cores | client cores | other cores | capacity "
              "| worker CPU-s | parent CPU-s | errors |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if r.get("failed"):
            lines.append(f"| {r['cert']} | {r['mode']} | {r['workers']} | {r['rep']} | FAILED: {r.get('error')} "
                         "| | | | | | | |")
            continue
        lines.append(f"| {r['cert']} | {r['mode']} | {r['workers']} | {r['rep']} | {r['rate']:,.0f} "
                     f"| {r['server_cores_busy']:.2f} | {r['client_cores_busy']:.2f} | {r['other_cores_busy']:.2f} "
                     f"| {r['capacity']:,.0f} | {', '.join(f'{x:.2f}' for x in r['worker_cpu_s']) or '-'} "
                     f"| {r['parent_cpu_s']:.2f} | {r['errors']} |")
    text = "\n".join(lines) + "\n"
    (out / "report.md").write_text(text)
    return text


# -- main -------------------------------------------------------------------------------------

def build_hsload(dest: Path) -> Path:
    exe = dest / "hsload"
    subprocess.run(["gcc", "-O2", "-o", str(exe), str(BENCH_DIR / "hsload.c"), "-lssl", "-lcrypto"],
                   check=True)
    return exe


def git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True, check=False).stdout.strip()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--duration", type=float, default=5, help="measured seconds per cell (default 5)")
    p.add_argument("--reps", type=int, default=3, help="repetitions of every cell (default 3)")
    p.add_argument("--concurrency", type=int, default=48, help="hsload loops (default 48)")
    p.add_argument("--certs", default="ecdsa,rsa")
    p.add_argument("--modes", default="full,resume", help="full,resume")
    p.add_argument("--out", help="results directory (default benchmarks/results/<UTC date-time>-workers)")
    args = p.parse_args(argv)
    certs, modes = args.certs.split(","), args.modes.split(",")
    now = datetime.datetime.now(datetime.timezone.utc)
    out = Path(args.out) if args.out else HERE / "results" / (now.strftime("%Y-%m-%d-%H%M") + "-workers")
    out.mkdir(parents=True, exist_ok=True)
    (out / "logs").mkdir(exist_ok=True)
    git_commit = git("rev-parse", "--short", "HEAD")   # at start: what the servers import
    git_dirty = git("diff", "--name-only", "HEAD").splitlines()
    rows: list[dict[str, Any]] = []
    servers: dict[tuple[str, int], Server] = {}
    with tempfile.TemporaryDirectory(prefix="greentls-workers-") as tmp:
        tmpdir = Path(tmp)
        hsload = build_hsload(tmpdir)
        cert_dir = tmpdir / "certs"
        subprocess.run([str(BENCH_DIR / "certs.sh"), str(cert_dir)], check=True, stdout=subprocess.DEVNULL)
        ca = cert_dir / "ca.pem"
        hsload_client = ""
        try:
            for cert in certs:
                for w in WORKER_COUNTS:
                    servers[(cert, w)] = Server(cert_dir, cert, w, out / "logs")
            for (cert, w), srv in servers.items():
                srv.wait_ready()
                warm = run_hsload(hsload, srv, ca, 1.0, args.concurrency, resume=False)
                print(f"workers.py: {cert} --workers {w} up (pid {srv.pid}, workers {srv.worker_pids or '-'}); "
                      f"warm-up {warm.get('rate', 0):,.0f} hs/s, errors {warm.get('errors')}", file=sys.stderr)
                if warm.get("failed") or warm.get("errors"):
                    print(f"workers.py: warm-up problem: {warm.get('error') or warm.get('first_error')}",
                          file=sys.stderr)
                hsload_client = warm.get("hsload_client") or hsload_client
            for rep in range(1, args.reps + 1):
                for cert in certs:
                    for mode in modes:
                        for w in WORKER_COUNTS:
                            srv = servers[(cert, w)]
                            r = run_hsload(hsload, srv, ca, args.duration, args.concurrency, mode == "resume")
                            r = {"cert": cert, "mode": mode, "workers": w, "rep": rep,
                                 "concurrency": args.concurrency, **r}
                            rows.append(r)
                            if r.get("failed"):
                                print(f"workers.py: {cert} {mode} w{w} rep {rep}: FAILED {r['error']}", file=sys.stderr)
                            else:
                                print(f"workers.py: {cert} {mode} w{w} rep {rep}: {r['rate']:,.0f} hs/s, "
                                      f"server {r['server_cores_busy']:.2f} cores, capacity {r['capacity']:,.0f}, "
                                      f"workers {r['worker_cpu_s']}, other {r['other_cores_busy']:.2f}, "
                                      f"errors {r['errors']}", file=sys.stderr)
        finally:
            for srv in servers.values():
                srv.stop()
    meta = {
        "date": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "nproc": NCPU,
        "cpu_model": next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                           if line.startswith("model name")), "?"),
        "kernel": platform.release(),
        "proc_children_file": os.path.exists(f"/proc/{os.getpid()}/task/{os.getpid()}/children"),
        "duration_s": args.duration, "reps": args.reps, "concurrency": args.concurrency,
        "warmup": "one unmeasured 1 s hsload run per server; cells use --warmup 0",
        "pinning": "none (server and hsload share both CPUs)",
        "tls_max": "TLSv1.3", "certs": certs, "modes": modes,
        "greentls_python": subprocess.run([str(GREENTLS_PY), "-c", "import sys; print(sys.version.split()[0])"],
                                          capture_output=True, text=True, check=False).stdout.strip(),
        "greentls_openssl": subprocess.run(
            [str(GREENTLS_PY), "-c",
             "from OpenSSL import SSL; print(SSL.OpenSSL_version(SSL.OPENSSL_VERSION).decode())"],
            capture_output=True, text=True, check=False).stdout.strip(),
        "hsload_client": hsload_client,
        "git_commit": git_commit,
        "git_dirty": git_dirty,
    }
    (out / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (out / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")
    print(write_report(out, rows, meta))
    print(f"results: {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
