"""Run tlsfuzzer's scripts against greentls and against Node's ``tls`` server, side by side.

tlsfuzzer (https://github.com/tlsfuzzer/tlsfuzzer) is not on PyPI: check it out anywhere
outside this repository and point this runner at it::

    git clone https://github.com/tlsfuzzer/tlsfuzzer /tmp/tlsfuzzer
    make tlsfuzzer TLSFUZZER_ARGS='--tlsfuzzer /tmp/tlsfuzzer'      # or set TLSFUZZER_DIR
    .venv/bin/python benchmarks/tlsfuzzer.py --tlsfuzzer /tmp/tlsfuzzer \\
        --scripts test-tls13-conversation,test-large-hello --servers greentls,node,bare

The first run creates ``DIR/.venv`` and pip-installs tlsfuzzer's dependencies into it
(tlslite-ng at the version ``DIR/requirements.txt`` pins, and ecdsa); the project's venv is
left alone.  ``--python`` uses another interpreter that already has them.  The 27 scripts of
``SCRIPTS`` take about 40 s per server.

The servers carry the same two certificates (an ECDSA P-256 and an RSA-2048 one, from
trustme) with every other option at its default, and answer alike: ``GET`` requests get one
small HTTP/1.0 200 response record, other lines are echoed in one record, and the client's
close_notify is answered with close_notify (``benchmarks/tlsfuzzer_server.py`` for greentls,
``NODE_SERVER`` below for Node).  Every script runs against each server with the same
arguments, ``-h 127.0.0.1 -p PORT`` first, and with Python's ``random`` seeded (``--seed``), so
that the scripts that sample their probes run the same sample against every server.

``--servers`` adds ``bare``: greentls's own OpenSSL context served through plain pyOpenSSL on
blocking sockets (``tlsfuzzer_server.py --bare``).  greentls runs on the OpenSSL of
pyOpenSSL's wheel, Node on its own (usually another major version), so a probe greentls fails
and Node passes is greentls's doing only if ``bare`` passes it; the report says which.

Prints one row per script (pass/total for each server), the totals, then every probe that
greentls fails and Node passes, and the reverse, each with the exception tlsfuzzer raised
(what the server did instead of what the script expected).  ``--json FILE`` also writes the
per-script results, probe names included; ``--logs DIR`` keeps every script's output.  Exit
status: 0 when greentls passes every probe Node passes, 1 otherwise.
"""
from __future__ import annotations

import argparse
import ast
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import trustme
from OpenSSL import SSL

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from tlsfuzzer_server import ECHO_FLUSH, RESPONSE  # noqa: E402

HOST = "127.0.0.1"
SERVERS = ("greentls", "node", "bare")
DEFAULT_SERVERS = ("greentls", "node")

#: Scripts and the arguments they get after ``-h HOST -p PORT`` (identical for every server).
#: All are about a TLS 1.2/1.3 server with an ECDSA and an RSA certificate and default
#: settings; none needs a client certificate, none takes more than ~10 s per server.  ``-d``
#: makes a TLS 1.2 script negotiate (EC)DHE, and most then send signature_algorithms.  Their
#: default hello (RSA key exchange, no signature_algorithms, which in TLS 1.2 means SHA-1)
#: gets handshake_failure from OpenSSL 3 and 4 alike at their default security level, so
#: without ``-d`` the sanity probe itself fails on every server.
SCRIPTS: dict[str, list[str]] = {
    "test-conversation.py": ["-d"],
    "test-tls13-conversation.py": [],
    "test-truncating-of-client-hello.py": ["-d"],
    "test-record-layer-fragmentation.py": ["-d"],
    "test-tls13-version-negotiation.py": ["-d"],
    "test-extensions.py": [],
    "test-invalid-client-hello.py": [],
    "test-invalid-cipher-suites.py": [],
    "test-invalid-compression-methods.py": ["-d"],
    "test-client-hello-max-size.py": ["-d"],
    "test-large-hello.py": ["-d"],
    "test-large-number-of-extensions.py": ["-d"],
    "test-ccs.py": ["-d"],
    "test-fuzzed-padding.py": ["-d"],
    "test-fuzzed-MAC.py": ["-d"],
    "test-fuzzed-ciphertext.py": ["-d"],
    "test-fuzzed-plaintext.py": ["-d"],
    "test-extended-master-secret-extension.py": ["-d"],
    "test-sessionID-resumption.py": ["-d"],
    "test-signature-algorithms.py": [],
    "test-sslv2hello-protocol.py": ["-d"],
    "test-tls13-finished.py": [],
    "test-tls13-keyupdate.py": [],
    "test-tls13-signature-algorithms.py": [],
    "test-tls13-unrecognised-groups.py": [],
    "test-tls13-legacy-version.py": [],
    "test-tls13-zero-length-data.py": [],
}

#: Node's reference server: the same answers as ``tlsfuzzer_server.replies``.  ``node -e``
#: gets a JSON config: host, port, key files, cert files, the response (hex), the flush size.
NODE_SERVER = r"""
'use strict';
const fs = require('fs');
const tls = require('tls');
const cfg = JSON.parse(process.argv[1]);
const RESPONSE = Buffer.from(cfg.response, 'hex');
const GET = Buffer.from('GET ');
const TERMINATORS = [Buffer.from('\r\n\r\n'), Buffer.from('\n\n')];

function replies(buffer) {
  const out = [];
  while (buffer.length) {
    if (buffer.length >= 4 && buffer.subarray(0, 4).equals(GET)) {
      const ends = TERMINATORS.map(t => [buffer.indexOf(t), t.length])
        .filter(([i]) => i >= 0).map(([i, n]) => i + n);
      if (!ends.length) {
        if (buffer.length > (1 << 20)) throw new Error('request header too long');
        break;
      }
      out.push(RESPONSE);
      buffer = buffer.subarray(Math.min(...ends));
    } else if (buffer.length < 4 && GET.subarray(0, buffer.length).equals(buffer)) {
      break;
    } else {
      const newline = buffer.indexOf(10);
      if (newline >= 0) {
        out.push(buffer.subarray(0, newline + 1));
        buffer = buffer.subarray(newline + 1);
      } else if (buffer.length >= cfg.flush) {
        out.push(buffer.subarray(0, cfg.flush));
        buffer = buffer.subarray(cfg.flush);
      } else {
        break;
      }
    }
  }
  return [out, buffer];
}

const server = tls.createServer({
  key: cfg.keys.map(f => fs.readFileSync(f)),
  cert: cfg.certs.map(f => fs.readFileSync(f)),
}, socket => {
  let pending = Buffer.alloc(0);
  socket.on('data', data => {
    let writes;
    try {
      [writes, pending] = replies(Buffer.concat([pending, data]));
    } catch (e) {
      socket.destroy();
      return;
    }
    for (const w of writes) socket.write(Buffer.from(w));
  });
  // After the handshake Node only emits a TLS error (a bad record MAC, say): OpenSSL has
  // sent its alert, and the connection is over, so close it as greentls does.
  socket.on('error', () => socket.destroy());
});
server.on('tlsClientError', () => {});
server.listen(cfg.port, cfg.host, () => {
  console.log('listening ' + server.address().port);
});
"""


@dataclass
class ScriptResult:
    """The summary tlsfuzzer printed for one script run against one server."""
    total: int = 0
    passed: int = 0
    failed: int = 0
    xfail: int = 0
    xpass: int = 0
    skipped: int = 0
    failures: dict[str, str] = field(default_factory=dict)  # probe name -> exception text
    seconds: float = 0.0
    error: str = ""  # no summary: timeout, crash, the server went away


# --- tlsfuzzer's environment ---------------------------------------------------------------

def tlsfuzzer_python(checkout: Path, python: str | None) -> str:
    """An interpreter that can import tlslite and ecdsa: ``python`` if given, else
    ``checkout/.venv`` (created and filled with pip on first use)."""
    if python:
        return python
    venv = checkout / ".venv"
    exe = venv / "bin" / "python"
    ready = exe.exists() and subprocess.run([str(exe), "-c", "import tlslite, ecdsa"],
                                            capture_output=True, check=False).returncode == 0
    if not ready:
        pin = "tlslite-ng"
        requirements = checkout / "requirements.txt"
        if requirements.exists():
            pins = [line.strip() for line in requirements.read_text().splitlines()
                    if line.strip().lower().startswith("tlslite-ng")]
            pin = pins[0] if pins else pin
        print(f"creating {venv} with {pin} and ecdsa", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(exe), "-m", "pip", "install", "--quiet", pin, "ecdsa"], check=True)
    return str(exe)


# --- servers under test ----------------------------------------------------------------------

def make_certs(folder: Path) -> tuple[list[Path], list[Path]]:
    """An ECDSA P-256 and an RSA-2048 key with their chains (leaf first), from two trustme CAs."""
    keys, certs = [], []
    for kind in (trustme.KeyType.ECDSA, trustme.KeyType.RSA):
        leaf = trustme.CA(key_type=kind).issue_cert("localhost", HOST, key_type=kind)
        name = kind.name.lower()
        key, cert = folder / f"{name}-key.pem", folder / f"{name}-chain.pem"
        leaf.private_key_pem.write_to_path(str(key))
        cert.write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
        keys.append(key)
        certs.append(cert)
    return keys, certs


class Server:
    """One server under test in its own process group, restarted if it dies."""

    def __init__(self, name: str, keys: list[Path], certs: list[Path], log: Path) -> None:
        self.name, self.keys, self.certs, self.log = name, keys, certs, log
        self.proc: subprocess.Popen | None = None
        self.port = 0
        self.restarts = -1

    def command(self) -> list[str]:
        if self.name in ("greentls", "bare"):
            pairs = [a for k, c in zip(self.keys, self.certs, strict=True)
                     for a in ("--key", str(k), "--cert", str(c))]
            bare = ["--bare"] if self.name == "bare" else []
            return [sys.executable, str(HERE / "tlsfuzzer_server.py"), "--host", HOST,
                    "--port", str(self.port), *pairs, *bare]
        config = {"host": HOST, "port": self.port, "keys": [str(k) for k in self.keys],
                  "certs": [str(c) for c in self.certs], "response": RESPONSE.hex(),
                  "flush": ECHO_FLUSH}
        return ["node", "-e", NODE_SERVER, json.dumps(config)]

    def ensure_running(self) -> None:
        """Start the server (again, on the same port) unless it is up."""
        if self.proc is not None and self.proc.poll() is None:
            return
        self.restarts += 1
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(self.command(), stdout=subprocess.PIPE, stderr=log,
                                         start_new_session=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().decode()
        match = re.match(r"listening (\d+)", line)
        if not match:
            raise RuntimeError(f"{self.name} server did not start (see {self.log})")
        self.port = int(match.group(1))

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


# --- running and reading scripts -------------------------------------------------------------

_SUMMARY = {"TOTAL": "total", "PASS": "passed", "FAIL": "failed", "XFAIL": "xfail",
            "XPASS": "xpass", "SKIP": "skipped"}


def parse_output(text: str) -> ScriptResult:
    """Read tlsfuzzer's summary (``TOTAL:``, ``PASS:``... and the ``FAILED:`` list) and, for
    each failed probe, the exception it raised."""
    result = ScriptResult()
    seen = False
    for line in text.splitlines():
        key, _, value = line.partition(": ")
        if key in _SUMMARY and value.strip().isdigit():
            setattr(result, _SUMMARY[key], int(value))
            seen = True
    if not seen:
        result.error = "no summary"
    lines = text.splitlines()
    names: list[str] = []
    if "FAILED:" in lines:
        for line in lines[lines.index("FAILED:") + 1:]:
            if not line.startswith("\t"):
                break
            try:
                names.append(str(ast.literal_eval(line.strip())))
            except (ValueError, SyntaxError):
                names.append(line.strip())
    for name in names:
        result.failures[name] = _probe_error(lines, name)
    return result


def _probe_error(lines: list[str], name: str) -> str:
    """The exception lines printed after ``<name> ...`` (the last run of the probe)."""
    header = f"{name} ..."
    starts = [i for i, line in enumerate(lines) if line == header]
    if not starts:
        return ""
    message: list[str] = []
    in_traceback = False
    for line in lines[starts[-1] + 1:]:
        if line.startswith("Traceback"):
            in_traceback, message = True, []
            continue
        if not in_traceback:
            continue
        if (line.endswith(" ...") and not line.startswith(" ")) or line.startswith("Test end") \
                or line == "=" * 20:
            break
        if line and not line.startswith(" "):
            message.append(line.strip())
    return " ".join(message)[:400]


#: Starts a script with Python's ``random`` seeded: many scripts run a random sample of their
#: probes (``-n``) and draw some probe values (alert types, sizes) from ``random``, so only a
#: seeded run offers both servers the same probes.  Key material comes from ``os.urandom``.
_SEEDED = ("import random, runpy, sys; random.seed(int(sys.argv[1])); del sys.argv[:2]; "
           "runpy.run_path(sys.argv[0], run_name='__main__')")


def run_script(python: str, checkout: Path, script: str, args: Sequence[str], port: int,
               timeout: float, seed: int) -> tuple[ScriptResult, str]:
    """Run one script against ``HOST:port``; returns the parsed result and the raw output."""
    command = [python, "-c", _SEEDED, str(seed), str(checkout / "scripts" / script),
               "-h", HOST, "-p", str(port), *args]
    env = dict(os.environ, PYTHONPATH=str(checkout), PYTHONHASHSEED="0")
    start = time.monotonic()
    proc = subprocess.Popen(command, cwd=checkout, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
        timed_out = False
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        timed_out = True
    text = out.decode(errors="replace")
    result = parse_output(text)
    result.seconds = round(time.monotonic() - start, 1)
    if timed_out:
        result.error = f"timed out after {timeout:.0f} s"
    elif proc.returncode not in (0, 1) and not result.total:
        result.error = f"exit status {proc.returncode}"
    return result, text


def versions(servers: Sequence[str], checkout: Path) -> str:
    """One line: the OpenSSL behind each server and the tlsfuzzer commit."""
    parts = []
    if "greentls" in servers or "bare" in servers:
        parts.append("greentls/bare: " + SSL.OpenSSL_version(SSL.OPENSSL_VERSION).decode())
    if "node" in servers:
        node = subprocess.run(["node", "-p", "process.version + ' OpenSSL ' + "
                               "process.versions.openssl"], capture_output=True, text=True, check=False)
        parts.append("node: " + node.stdout.strip())
    head = checkout / ".git"
    if head.exists():
        commit = subprocess.run(["git", "-C", str(checkout), "rev-parse", "--short", "HEAD"],
                                capture_output=True, text=True, check=False).stdout.strip()
        parts.append(f"tlsfuzzer {commit}")
    return "; ".join(parts)


# --- report ---------------------------------------------------------------------------------

def cell(result: ScriptResult | None) -> str:
    if result is None:
        return "-"
    text = f"{result.passed}/{result.total}"
    return f"{text} ({result.error})" if result.error else text


def report(results: dict[str, dict[str, ScriptResult]], servers: Sequence[str]) -> bool:
    """Print the table and the probes one server fails and the other passes; returns True when
    greentls passes every probe Node passes."""
    width = max(len(s) for s in results) if results else 10
    print()
    print(f"| {'script':<{width}} | " + " | ".join(f"{s:>14}" for s in servers) + " |")
    print(f"|{'-' * (width + 2)}|" + "|".join("-" * 16 for _ in servers) + "|")
    totals = {s: [0, 0] for s in servers}
    for script, by_server in results.items():
        cells = []
        for s in servers:
            r = by_server.get(s)
            cells.append(f"{cell(r):>14}")
            if r is not None:
                totals[s][0] += r.passed
                totals[s][1] += r.total
        print(f"| {script:<{width}} | " + " | ".join(cells) + " |")
    print(f"| {'TOTAL':<{width}} | "
          + " | ".join(f"{f'{p:,}/{t:,}':>14}" for p, t in totals.values()) + " |")
    print()
    for s in servers:
        p, t = totals[s]
        print(f"{s}: {p:,} of {t:,} probes passed")

    pairs = [(a, b) for a, b in (("greentls", "node"), ("node", "greentls"))
             if a in servers and b in servers]
    if not pairs and len(servers) == 2:
        pairs = [tuple(servers), tuple(servers[::-1])]
    clean = True
    for this, other in pairs:
        print(f"\nprobes {this} fails and {other} passes:")
        count = 0
        library: list[tuple[str, str]] = []
        for script, by_server in results.items():
            mine, theirs = by_server.get(this), by_server.get(other)
            if mine is None or theirs is None or theirs.error:
                continue
            if mine.error:
                print(f"  {script}: the whole script: {mine.error}")
                count += 1
            for name, why in mine.failures.items():
                if name in theirs.failures:
                    continue
                print(f"  {script}: {name!r}\n      {this}: {why or '(no exception text)'}")
                bare = by_server.get("bare") if this == "greentls" else None
                if bare is not None and not bare.error:
                    if name in bare.failures:
                        library.append((script, name))
                        verdict = f"fails too: {bare.failures[name]}"
                    else:
                        verdict = "passes (so greentls's own layer is at fault)"
                    print(f"      bare pyOpenSSL on the same OpenSSL: {verdict}")
                count += 1
        if not count:
            print("  none")
        if this == "greentls" and count:
            clean = False
            if library:
                print(f"\n{count} probes greentls fails and {other} passes: {count - len(library)}"
                      f" through greentls's own layer, {len(library)} also on bare pyOpenSSL"
                      " (the OpenSSL greentls runs on)")
    return clean


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tlsfuzzer", type=Path, metavar="DIR",
                        default=os.environ.get("TLSFUZZER_DIR"),
                        help="tlsfuzzer checkout (default: $TLSFUZZER_DIR)")
    parser.add_argument("--python", help="interpreter with tlslite-ng and ecdsa "
                        "(default: DIR/.venv, created on first use)")
    parser.add_argument("--scripts", help="comma-separated script names (default: all of SCRIPTS;"
                        " the .py may be left off)")
    parser.add_argument("--servers", default=",".join(DEFAULT_SERVERS),
                        help="comma-separated, from greentls,node,bare (default: greentls,node;"
                        " bare = greentls's OpenSSL context on plain pyOpenSSL, for diagnosis)")
    parser.add_argument("--timeout", type=float, default=180,
                        help="seconds one script may run against one server (default 180)")
    parser.add_argument("--budget", type=float, default=3600,
                        help="seconds for the whole run; later scripts are skipped (default 3600)")
    parser.add_argument("--seed", type=int, default=1,
                        help="seed for the scripts' random probe samples (default 1)")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    parser.add_argument("--logs", type=Path,
                        help="keep the servers' stderr and every script's output in this folder")
    args = parser.parse_args(argv)

    if args.tlsfuzzer is None or not (args.tlsfuzzer / "scripts").is_dir():
        parser.error("give a tlsfuzzer checkout with --tlsfuzzer DIR or TLSFUZZER_DIR "
                     "(git clone https://github.com/tlsfuzzer/tlsfuzzer DIR)")
    checkout = args.tlsfuzzer.resolve()
    servers = [s for s in args.servers.split(",") if s]
    if unknown := set(servers) - set(SERVERS):
        parser.error(f"unknown servers: {', '.join(sorted(unknown))}")
    if "node" in servers and shutil.which("node") is None:
        parser.error("node is not on PATH")
    scripts = dict(SCRIPTS)
    if args.scripts:
        wanted = [n if n.endswith(".py") else n + ".py" for n in args.scripts.split(",") if n]
        scripts = {n: SCRIPTS.get(n, []) for n in wanted}
    missing = [n for n in scripts if not (checkout / "scripts" / n).exists()]
    if missing:
        parser.error(f"not in {checkout}/scripts: {', '.join(missing)}")

    python = tlsfuzzer_python(checkout, args.python)
    scratch = Path(tempfile.mkdtemp(prefix="greentls-tlsfuzzer-"))
    logs = args.logs or scratch
    logs.mkdir(parents=True, exist_ok=True)
    keys, certs = make_certs(scratch)
    running = {s: Server(s, keys, certs, logs / f"{s}-server.log") for s in servers}
    results: dict[str, dict[str, ScriptResult]] = {}
    deadline = time.monotonic() + args.budget
    try:
        for script, extra in scripts.items():
            results[script] = {}
            for s in servers:
                left = deadline - time.monotonic()
                if left <= 0:
                    results[script][s] = ScriptResult(error="over --budget, not run")
                    continue
                server = running[s]
                server.ensure_running()
                result, text = run_script(python, checkout, script, extra, server.port,
                                          min(args.timeout, left), args.seed)
                (logs / f"{script[:-3]}.{s}.txt").write_text(text)
                if server.proc is not None and server.proc.poll() is not None:
                    result.error = (result.error + "; " if result.error else "") + "server died"
                results[script][s] = result
                print(f"{script:<45} {s:<9} {cell(result):>14}  {result.seconds:6.1f} s",
                      file=sys.stderr, flush=True)
    except KeyboardInterrupt:
        print("interrupted: reporting what ran", file=sys.stderr)
    finally:
        for server in running.values():
            server.stop()
    print(f"\n{versions(servers, checkout)}; seed {args.seed}")
    clean = report(results, servers)
    restarts = {s: r.restarts for s, r in running.items() if r.restarts > 0}
    if restarts:
        print(f"\nserver restarts (it died during a script): {restarts}")
    print(f"\nscript output and server logs: {logs}")
    if args.json:
        args.json.write_text(json.dumps(
            {script: {s: asdict(r) for s, r in by.items()} for script, by in results.items()},
            indent=1))
    if not args.logs:
        for path in (*keys, *certs):
            path.unlink()
    return 0 if clean else 1


if __name__ == "__main__":
    sys.exit(main())
