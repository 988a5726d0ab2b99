"""sslyze (an independent scanner, PyPI) against `greentls serve`: protocol versions,
compression, Heartbleed, ROBOT, CCS injection, renegotiation, resumption, fallback SCSV, EMS.

sslyze pins an older cryptography and its own nassl, so it lives in its own venv
(``.venv-sslyze`` at the project root), made on first use by this file (or ``make sslyze``)
with the same Python, and runs as a subprocess that writes JSON."""
from __future__ import annotations

import json
import os
import sys

import gevent
import pytest
from gevent import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SSLYZE_VENV = os.path.join(ROOT, ".venv-sslyze")
#: Pinned: the assertions below read this version's JSON layout.
SSLYZE_REQUIREMENT = "sslyze==6.3.1"


def _sslyze_python() -> str:
    """The sslyze venv's python, creating the venv and installing sslyze when missing."""
    python = os.path.join(SSLYZE_VENV, "bin", "python")
    stamp = os.path.join(SSLYZE_VENV, ".installed-" + SSLYZE_REQUIREMENT)
    if not os.path.exists(stamp):
        subprocess.run([sys.executable, "-m", "venv", SSLYZE_VENV], check=True, timeout=120)
        subprocess.run([python, "-m", "pip", "install", "--quiet", SSLYZE_REQUIREMENT],
                       check=True, timeout=600)
        open(stamp, "w").close()
    return python


@pytest.fixture(scope="module")
def scan(tmp_path_factory) -> dict:
    """One sslyze scan of `greentls serve --self-signed`; its JSON result for the server."""
    python = _sslyze_python()
    server = subprocess.Popen([sys.executable, "-m", "greentls", "serve", "--self-signed",
                               "--host", "127.0.0.1", "--port", "0"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        with gevent.Timeout(20, AssertionError("greentls serve did not start")):
            line = server.stderr.readline().decode() or server.stdout.readline().decode()
        port = int(line.rsplit(":", 1)[1])
        out = tmp_path_factory.mktemp("sslyze") / "scan.json"
        result = subprocess.run(
            [python, "-m", "sslyze", "--quiet", f"--json_out={out}", "--sslv2", "--sslv3",
             "--tlsv1", "--tlsv1_1", "--tlsv1_2", "--tlsv1_3", "--compression", "--heartbleed",
             "--robot", "--openssl_ccs", "--reneg", "--resum", "--fallback", "--ems",
             "--elliptic_curves", f"127.0.0.1:{port}"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=240)
        assert result.returncode == 0, result.stderr[-2000:]
        document = json.loads(out.read_text())
    finally:
        server.kill()
        server.wait()
        server.stdout.close()
        server.stderr.close()
    [entry] = document["server_scan_results"]
    assert entry["scan_status"] == "COMPLETED", entry
    return entry["scan_result"]


def _result(scan: dict, command: str) -> dict:
    attempt = scan[command]
    assert attempt["status"] == "COMPLETED", (command, attempt.get("error_reason"), attempt.get("error_trace"))
    return attempt["result"]


def test_only_tls12_and_tls13_accepted(scan):
    """SSL 2.0, SSL 3.0, TLS 1.0 and 1.1 accept no cipher suite; TLS 1.2 and 1.3 do."""
    for command in ("ssl_2_0_cipher_suites", "ssl_3_0_cipher_suites", "tls_1_0_cipher_suites",
                    "tls_1_1_cipher_suites"):
        assert _result(scan, command)["accepted_cipher_suites"] == [], command
    for command in ("tls_1_2_cipher_suites", "tls_1_3_cipher_suites"):
        assert _result(scan, command)["accepted_cipher_suites"], command


def test_tls12_suites_are_forward_secret_and_strong(scan):
    """Every accepted TLS 1.2 suite is ECDHE/DHE (forward secret) with no RC4, 3DES, NULL, MD5 or
    export cipher (Node's default list also keeps ECDHE AES-CBC-SHA suites, as here)."""
    names = [s["cipher_suite"]["name"] for s in _result(scan, "tls_1_2_cipher_suites")["accepted_cipher_suites"]]
    assert names
    for name in names:
        assert "_ECDHE_" in name or "_DHE_" in name, name
        for weak in ("RC4", "3DES", "DES_", "NULL", "MD5", "EXPORT", "anon"):
            assert weak not in name, name


def test_no_compression(scan):
    """TLS compression (CRIME) is not supported."""
    assert _result(scan, "tls_compression")["supports_compression"] is False


def test_not_vulnerable_to_heartbleed_robot_ccs(scan):
    """Heartbleed, ROBOT and the OpenSSL CCS injection are absent."""
    assert _result(scan, "heartbleed")["is_vulnerable_to_heartbleed"] is False
    assert _result(scan, "robot")["robot_result"] in {"NOT_VULNERABLE_NO_ORACLE", "NOT_VULNERABLE_RSA_NOT_SUPPORTED"}
    assert _result(scan, "openssl_ccs_injection")["is_vulnerable_to_ccs_injection"] is False


def test_renegotiation_secure_and_not_a_dos(scan):
    """Secure renegotiation is supported; client-initiated renegotiation is not a DoS vector."""
    reneg = _result(scan, "session_renegotiation")
    assert reneg["supports_secure_renegotiation"] is True
    assert reneg["is_vulnerable_to_client_renegotiation_dos"] is False


def test_session_resumption_works(scan):
    """Resumption by session id and by TLS 1.2 session ticket both succeed every time sslyze
    tries (sslyze closes without close_notify: the server keeps the session, as Node does)."""
    resumption = _result(scan, "session_resumption")
    assert resumption["session_id_resumption_result"] == "FULLY_SUPPORTED", resumption
    assert resumption["tls_ticket_resumption_result"] == "FULLY_SUPPORTED", resumption


def test_fallback_scsv_and_extended_master_secret(scan):
    """TLS_FALLBACK_SCSV is honoured and the extended master secret is supported."""
    assert _result(scan, "tls_fallback_scsv")["supports_fallback_scsv"] is True
    assert _result(scan, "tls_extended_master_secret")["supports_ems_extension"] is True
