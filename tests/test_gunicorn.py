"""greentls.gunicorn.Worker: real gunicorn processes serving a Flask application, checked with
requests, curl, Python's ssl and headless Chromium."""
from __future__ import annotations

import concurrent.futures
import contextlib
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import textwrap
import time
import types
import warnings
from collections.abc import Iterator
from pathlib import Path

import flask  # noqa: F401  # the test extra's: the apps served below import it
import pytest
import requests
import trustme
from cryptography import x509
from gunicorn.config import Config
from helpers import free_port

import greentls
from greentls import gunicorn as gworker

PY = sys.executable
#: The checkout under test: gunicorn's children import greentls from it, whatever is installed.
ROOT = str(Path(__file__).resolve().parent.parent)
CHILD_ENV = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")])))

APP = '''
import os
import time

from flask import Flask, Response, jsonify, request

flask_app = Flask(__name__)
KEYS = ("HTTPS", "wsgi.url_scheme", "SSL_PROTOCOL", "SSL_CIPHER", "SSL_TLS_SNI", "SSL_CLIENT_VERIFY",
        "SSL_CLIENT_S_DN", "SSL_CLIENT_M_SERIAL", "RAW_URI", "REMOTE_ADDR")


@flask_app.route("/")
def index():
    return "<html><body><h1 id='t'>greentls gunicorn " + request.environ["SSL_PROTOCOL"] + "</h1></body></html>"


@flask_app.route("/env")
def env():
    data = {k: request.environ.get(k) for k in KEYS}
    data["pid"] = os.getpid()
    return jsonify(data)


@flask_app.route("/raw/<path:rest>")
def raw(rest):
    keys = ("RAW_URI", "PATH_INFO", "QUERY_STRING")
    return jsonify({k: request.environ.get(k) for k in keys})


@flask_app.route("/sleep")
def sleep():
    time.sleep(1)  # blocking: the worker's monkey-patching makes it cooperative
    return "slept"


@flask_app.route("/stream")
def stream():
    def chunks():
        for i in range(6):
            yield f"chunk {i}\\n"
            time.sleep(0.25)
        yield "done\\n"
    return Response(chunks(), mimetype="text/plain")


def app(environ, start_response):
    """The Flask app, and one plain WSGI route that answers a list (framed by its length)."""
    if environ["PATH_INFO"] == "/raw":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"raw ", b"list"]
    if environ["PATH_INFO"] == "/file":  # this module's own source, through wsgi.file_wrapper
        start_response("200 OK", [("Content-Type", "text/plain")])
        return environ["wsgi.file_wrapper"](open(__file__, "rb"), 4096)
    return flask_app(environ, start_response)
'''



def _write_pair(leaf: trustme.LeafCert, folder: Path, name: str) -> tuple[str, str]:
    cert, key = folder / f"{name}-cert.pem", folder / f"{name}-key.pem"
    cert.write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
    key.write_bytes(leaf.private_key_pem.bytes())
    return str(cert), str(key)


@pytest.fixture(scope="module")
def site(tmp_path_factory, cert_files, ca) -> dict:
    """A folder with the Flask app, the certificates, a second server certificate and an
    untrusted client certificate."""
    folder = tmp_path_factory.mktemp("gunicorn-site")
    (folder / "flask_app.py").write_text(APP)
    other_cert, other_key = _write_pair(ca.issue_cert("other.test"), folder, "other")
    stranger = trustme.CA().issue_cert("stranger@example.com")
    stranger_cert, stranger_key = _write_pair(stranger, folder, "stranger")
    return {**cert_files, "dir": folder, "other_cert": other_cert, "other_key": other_key,
            "stranger_cert": stranger_cert, "stranger_key": stranger_key}


class Gunicorn:
    """One gunicorn master (a child process) and the port it serves."""

    def __init__(self, proc: subprocess.Popen, port: int, log: Path, access: Path) -> None:
        self.proc, self.port, self.log, self.access = proc, port, log, access

    def url(self, path: str = "/", host: str = "localhost") -> str:
        return f"https://{host}:{self.port}{path}"

    def text(self) -> str:
        return self.log.read_text(errors="replace")


def _tls_ready(port: int, ca: str, timeout: float = 1.0) -> bool:
    ctx = ssl.create_default_context(cafile=ca)
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as raw:
            with ctx.wrap_socket(raw, server_hostname="localhost"):
                return True
    except (OSError, ssl.SSLError):
        return False


@contextlib.contextmanager
def run_gunicorn(site: dict, *args: str, config: str | None = None, cert: str | None = None,
                 key: str | None = None, ready: bool = True, tls: bool = True) -> Iterator[Gunicorn]:
    """``gunicorn -k greentls.gunicorn.Worker`` on a free port with the site's certificate."""
    port = free_port()
    folder: Path = site["dir"]
    tag = f"{port}"
    log, access = folder / f"gunicorn-{tag}.log", folder / f"access-{tag}.log"
    command = [PY, "-m", "gunicorn", "-k", "greentls.gunicorn.Worker", "-b", f"127.0.0.1:{port}",
               "--chdir", str(folder), "--no-control-socket", "--access-logfile", str(access),
               "--graceful-timeout", "10"]
    if tls:
        command += ["--certfile", cert or site["cert"], "--keyfile", key or site["key"]]
    if config is not None:
        path = folder / f"conf_{tag}.py"
        path.write_text(textwrap.dedent(config))
        command += ["-c", str(path)]
    command += [*args, "flask_app:app"]
    with open(log, "wb") as out:
        proc = subprocess.Popen(command, cwd=str(folder), stdout=out, stderr=subprocess.STDOUT, env=CHILD_ENV)
    server = Gunicorn(proc, port, log, access)
    try:
        if ready:
            deadline = time.monotonic() + 20
            while not _tls_ready(port, site["ca"]):
                assert proc.poll() is None, f"gunicorn exited {proc.returncode}:\n{server.text()}"
                assert time.monotonic() < deadline, f"gunicorn did not serve:\n{server.text()}"
                time.sleep(0.1)
        yield server
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGQUIT)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def refused_start(site: dict, *args: str, config: str | None = None, **kw: str) -> str:
    """Run gunicorn expecting it to refuse to start; return what it printed."""
    with run_gunicorn(site, *args, config=config, ready=False, **kw) as server:
        try:
            server.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            pytest.fail(f"gunicorn started:\n{server.text()}")
        assert server.proc.returncode != 0
        return server.text()


# -- one server for most tests ----------------------------------------------------------------

MAIN_CONFIG = '''
greentls_options = {
    "handshake_timeout": 0.5,
    "sni_contexts": {"other.test": {"cert": OTHER_CERT, "key": OTHER_KEY}},
}
'''


@pytest.fixture(scope="module")
def main(site) -> Iterator[Gunicorn]:
    config = (f"from pathlib import Path\nOTHER_CERT = Path({site['other_cert']!r})\n"
              f"OTHER_KEY = Path({site['other_key']!r})\n" + MAIN_CONFIG)
    with run_gunicorn(site, "--workers", "1", config=config) as server:
        yield server


def test_requests_sees_greentls_environ(main, site):
    """Flask under the worker, through requests: greentls's environ with mod_ssl's names."""
    data = requests.get(main.url("/env?x=1"), verify=site["ca"], timeout=10).json()
    assert data["HTTPS"] == "on" and data["wsgi.url_scheme"] == "https"
    assert data["SSL_PROTOCOL"] == "TLSv1.3"
    assert data["SSL_TLS_SNI"] == "localhost"
    assert data["SSL_CLIENT_VERIFY"] == "NONE"
    assert data["RAW_URI"] == "/env?x=1"


def test_raw_uri_keeps_the_escapes_path_info_decodes_them(main, site):
    """Under the worker, RAW_URI is the target as sent (an escaped slash stays ``%2F``), while
    PATH_INFO is decoded, as gunicorn's own workers give them."""
    data = requests.get(main.url("/raw/a%2Fb%20c?q=%20&x=%2F"), verify=site["ca"], timeout=10).json()
    assert data == {"RAW_URI": "/raw/a%2Fb%20c?q=%20&x=%2F", "PATH_INFO": "/raw/a/b c",
                    "QUERY_STRING": "q=%20&x=%2F"}, data


def test_secure_scheme_headers_from_a_trusted_front_end(main, site):
    """gunicorn's secure_scheme_headers and forwarded_allow_ips (127.0.0.1 by default): a local
    front end's X-Forwarded-Proto sets wsgi.url_scheme; contradicting headers are a 400."""
    url = main.url("/env")
    plain = requests.get(url, verify=site["ca"], timeout=10, headers={"X-Forwarded-Proto": "http"}).json()
    assert plain["wsgi.url_scheme"] == "http" and plain["HTTPS"] == "on"
    both = requests.get(url, verify=site["ca"], timeout=10,
                        headers={"X-Forwarded-Proto": "http", "X-Forwarded-Ssl": "on"})
    assert both.status_code == 400


def test_a_list_response_keeps_its_length(main, site):
    """A plain WSGI list response is framed by a Content-Length under the worker too (its
    access-log bookkeeping keeps the list a list)."""
    response = requests.get(main.url("/raw"), verify=site["ca"], timeout=10)
    assert response.text == "raw list"
    assert response.headers["Content-Length"] == "8" and "Transfer-Encoding" not in response.headers


def test_a_file_wrapper_response_keeps_its_length(main, site):
    """``wsgi.file_wrapper`` over a regular file is framed by its size under the worker too,
    and gunicorn's access log counts its bytes."""
    response = requests.get(main.url("/file?sent=1"), verify=site["ca"], timeout=10)
    source = (site["dir"] / "flask_app.py").read_bytes()
    assert response.content == source
    assert response.headers["Content-Length"] == str(len(source)) and "Transfer-Encoding" not in response.headers
    deadline = time.monotonic() + 5
    while "sent=1" not in main.access.read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    line = next(line for line in main.access.read_text().splitlines() if "sent=1" in line)
    assert f'" 200 {len(source)} ' in line, line


def test_curl(main, site, need_curl):
    """curl over TLS 1.2 and 1.3."""
    for version in ("--tlsv1.2 --tls-max 1.2", "--tlsv1.3"):
        out = subprocess.run(["curl", "-sS", "--cacert", site["ca"], *version.split(), main.url("/env")],
                             capture_output=True, timeout=20, check=True).stdout
        data = json.loads(out)
        assert data["SSL_PROTOCOL"] == ("TLSv1.2" if "1.2" in version else "TLSv1.3")


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None and shutil.which("apt-get") and os.geteuid() == 0:
        subprocess.run(["apt-get", "install", "-y", "-q", "chromium"], capture_output=True, timeout=600, check=False)
        found = shutil.which("chromium")
    if found is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    return found


def test_headless_chromium(main, tmp_path):
    """Chromium renders the Flask page served over greentls."""
    chromium = _chromium()
    out = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--ignore-certificate-errors",
                          f"--user-data-dir={tmp_path}", "--dump-dom", main.url("/")],
                         capture_output=True, timeout=60, check=False)
    assert b"greentls gunicorn TLSv1.3" in out.stdout, out.stderr[-2000:]


def test_access_log_through_gunicorn(main, site):
    """Each request is logged by gunicorn's access log, in its format."""
    requests.get(main.url("/env?logged=1"), verify=site["ca"], timeout=10, headers={"User-Agent": "ua-test"})
    deadline = time.monotonic() + 5
    while "logged=1" not in main.access.read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    line = next(line for line in main.access.read_text().splitlines() if "logged=1" in line)
    assert '"GET /env?logged=1 HTTP/1.1" 200' in line and '"ua-test"' in line


def test_blocking_sleeps_run_concurrently(main, site):
    """Three concurrent time.sleep(1) requests take about 1 s: the worker monkey-patched."""
    with requests.Session() as warm:
        warm.get(main.url("/env"), verify=site["ca"], timeout=10)
    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        answers = list(pool.map(lambda _: requests.get(main.url("/sleep"), verify=site["ca"], timeout=10).text,
                                range(3)))
    elapsed = time.monotonic() - started
    assert answers == ["slept"] * 3
    assert elapsed < 1.5, elapsed


def test_handshake_timeout_from_config_file(main):
    """greentls_options["handshake_timeout"] = 0.5: a client that says nothing is cut off."""
    with socket.create_connection(("127.0.0.1", main.port), timeout=5) as raw:
        started = time.monotonic()
        assert raw.recv(1) == b""
        elapsed = time.monotonic() - started
    assert 0.3 < elapsed < 2.0, elapsed


def test_sni_contexts_from_config_file(main, site):
    """greentls_options["sni_contexts"]: other.test gets its own certificate."""
    pem = Path(site["other_cert"]).read_bytes()
    ctx = ssl.create_default_context(cafile=site["ca"])
    with socket.create_connection(("127.0.0.1", main.port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname="other.test") as tls:
            served = tls.getpeercert(binary_form=True)
    assert served == x509.load_pem_x509_certificate(pem).public_bytes(
        __import__("cryptography.hazmat.primitives.serialization", fromlist=["Encoding"]).Encoding.DER)


# -- mutual TLS, and the ssl_context hook -----------------------------------------------------

HOOK_CONFIG = '''
import ssl

def ssl_context(conf, default_ssl_context_factory):
    context = default_ssl_context_factory()
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    return context
'''


@pytest.fixture(scope="module")
def mtls(site) -> Iterator[Gunicorn]:
    with run_gunicorn(site, "--ca-certs", site["ca"], "--cert-reqs", "2", config=HOOK_CONFIG) as server:
        yield server


def test_mtls_without_certificate_is_refused(mtls, site):
    """--cert-reqs 2: a client without a certificate gets no response."""
    with pytest.raises(requests.exceptions.RequestException):
        requests.get(mtls.url("/env"), verify=site["ca"], timeout=10)


def test_mtls_untrusted_certificate_is_refused(mtls, site):
    with pytest.raises(requests.exceptions.RequestException):
        requests.get(mtls.url("/env"), verify=site["ca"], timeout=10,
                     cert=(site["stranger_cert"], site["stranger_key"]))


def test_mtls_trusted_certificate(mtls, site, client_cert):
    """--ca-certs and --cert-reqs 2: a trusted client is SSL_CLIENT_VERIFY=SUCCESS."""
    data = requests.get(mtls.url("/env"), verify=site["ca"], timeout=10,
                        cert=(site["client_cert"], site["client_key"])).json()
    assert data["SSL_CLIENT_VERIFY"] == "SUCCESS"
    serial = x509.load_pem_x509_certificate(client_cert.cert_chain_pems[0].bytes()).serial_number
    assert data["SSL_CLIENT_M_SERIAL"] == format(serial, "X")


def test_ssl_context_hook_is_honoured(mtls, site):
    """The hook set minimum_version = TLSv1_3: a TLS 1.2 client is refused."""
    ctx = ssl.create_default_context(cafile=site["ca"])
    ctx.load_cert_chain(site["client_cert"], site["client_key"])
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    with socket.create_connection(("127.0.0.1", mtls.port), timeout=5) as raw:
        with pytest.raises(ssl.SSLError):
            ctx.wrap_socket(raw, server_hostname="localhost")


# -- CERT_OPTIONAL and max_requests ------------------------------------------------------------

@pytest.fixture(scope="module")
def optional(site) -> Iterator[Gunicorn]:
    with run_gunicorn(site, "--ca-certs", site["ca"], "--cert-reqs", "1", "--workers", "1", "--keep-alive", "0",
                      "--max-requests", "3", "--max-requests-jitter", "0") as server:
        yield server


def test_cert_optional_means_what_it_means_to_the_stdlib(optional, site):
    """--cert-reqs 1 (ssl.CERT_OPTIONAL): no certificate is fine, a trusted one is verified,
    one that fails verification is refused."""
    assert requests.get(optional.url("/env"), verify=site["ca"], timeout=10).json()["SSL_CLIENT_VERIFY"] == "NONE"
    trusted = requests.get(optional.url("/env"), verify=site["ca"], timeout=10,
                           cert=(site["client_cert"], site["client_key"])).json()
    assert trusted["SSL_CLIENT_VERIFY"] == "SUCCESS"
    with pytest.raises(requests.exceptions.RequestException):
        requests.get(optional.url("/env"), verify=site["ca"], timeout=10,
                     cert=(site["stranger_cert"], site["stranger_key"]))


def test_max_requests_restarts_the_worker(optional, site):
    """--max-requests 3: the worker leaves after its third request and gunicorn starts another."""
    pids = []
    for _ in range(7):
        with requests.Session() as session:  # a new connection each: the old worker drains
            pids.append(session.get(optional.url("/env"), verify=site["ca"], timeout=10).json()["pid"])
    assert len(set(pids)) >= 2, pids
    assert "Autorestarting worker after current request." in optional.text()


def test_keepalive_zero_closes_after_each_response(optional, site):
    """--keep-alive 0 turns keep-alive off, as in gunicorn."""
    with requests.Session() as session:
        response = session.get(optional.url("/env"), verify=site["ca"], timeout=10)
    assert response.headers["Connection"] == "close"


# -- lifecycle: SIGHUP reload and SIGTERM drain, each with a request in flight ----------------

def _served_serial(port: int) -> int:
    pem = ssl.get_server_certificate(("127.0.0.1", port))
    return x509.load_pem_x509_certificate(pem.encode()).serial_number


def _stream_in_flight(server: Gunicorn, site: dict) -> tuple[concurrent.futures.Future, concurrent.futures.Executor]:
    """Start GET /stream in a thread; return once its first chunk arrived."""
    first = concurrent.futures.Future()

    def fetch() -> str:
        response = requests.get(server.url("/stream"), verify=False, timeout=20, stream=True)
        parts = []
        for line in response.iter_lines():
            parts.append(line.decode())
            if not first.done():
                first.set_result(True)
        return "\n".join(parts)

    pool = concurrent.futures.ThreadPoolExecutor(1)
    result = pool.submit(fetch)
    first.result(timeout=10)
    return result, pool


@pytest.fixture
def rotating(site, tmp_path, ca) -> Iterator[tuple[Gunicorn, Path, Path]]:
    cert, key = _write_pair(ca.issue_cert("localhost", "127.0.0.1"), tmp_path, "rotating")
    with run_gunicorn(site, "--workers", "1", cert=cert, key=key) as server:
        yield server, Path(cert), Path(key)


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_sighup_reloads_certificate_and_finishes_in_flight(rotating, ca):
    """SIGHUP: gunicorn forks new workers, which serve the new certificate; the request in
    flight on the old worker completes."""
    server, cert_path, key_path = rotating
    old = _served_serial(server.port)
    result, pool = _stream_in_flight(server, {})
    fresh = ca.issue_cert("localhost", "127.0.0.1")
    cert_path.write_bytes(b"".join(blob.bytes() for blob in fresh.cert_chain_pems))
    key_path.write_bytes(fresh.private_key_pem.bytes())
    new = x509.load_pem_x509_certificate(fresh.cert_chain_pems[0].bytes()).serial_number
    server.proc.send_signal(signal.SIGHUP)
    try:
        body = result.result(timeout=15)
    finally:
        pool.shutdown()
    assert body.endswith("done"), body
    deadline = time.monotonic() + 10
    while _served_serial(server.port) == old:
        assert time.monotonic() < deadline, server.text()
        time.sleep(0.1)
    assert _served_serial(server.port) == new


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_sigterm_drains_the_request_in_flight(rotating):
    """SIGTERM: accepting stops, the streaming response completes, gunicorn exits 0."""
    server = rotating[0]
    result, pool = _stream_in_flight(server, {})
    server.proc.send_signal(signal.SIGTERM)
    try:
        body = result.result(timeout=15)
    finally:
        pool.shutdown()
    assert body.splitlines() == [f"chunk {i}" for i in range(6)] + ["done"]
    assert server.proc.wait(timeout=15) == 0, server.text()


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_sigquit_leaves_at_once(rotating):
    """SIGQUIT: the worker leaves without draining; the request in flight is cut."""
    server = rotating[0]
    result, pool = _stream_in_flight(server, {})
    started = time.monotonic()
    server.proc.send_signal(signal.SIGQUIT)
    try:
        assert server.proc.wait(timeout=10) == 0, server.text()
        elapsed = time.monotonic() - started
        try:
            body = result.result(timeout=10)
        except requests.exceptions.RequestException:
            body = ""
    finally:
        pool.shutdown()
    assert elapsed < 1.2, elapsed
    assert not body.endswith("done")
    assert "Traceback" not in server.text()


# -- refusing to start -------------------------------------------------------------------------

def test_without_certfile_refuses_to_start(site):
    with run_gunicorn(site, ready=False, tls=False) as server:
        server.proc.wait(timeout=20)
    assert server.proc.returncode != 0
    assert "serves TLS only" in server.text()


@pytest.mark.parametrize(("args", "config", "expected"), [
    ((), "greentls_options = {'handshake_timout': 1}\n", "'handshake_timout'; valid keys:"),
    ((), "greentls_options = {'cert': 'x'}\n", "set by gunicorn's 'certfile' setting"),
    (("--http-protocols", "h2,h1"), None, "http_protocols"),
    ((), "suppress_ragged_eofs = False\n", "'suppress_ragged_eofs'"),
    ((), "greentls_options = {'sni_contexts': {'x.test': {'cert': 'not a certificate'}}}\n", "Error:"),
    ((), "greentls_options = {'handshake_timeout': 'soon'}\n", "'handshake_timeout'"),
], ids=["unknown-key", "gunicorn-owned-key", "h2", "ragged-eofs", "bad-sni", "bad-value"])
def test_settings_that_cannot_be_honoured_stop_gunicorn(site, args, config, expected):
    """A setting is honoured or refused at start, with its name."""
    assert expected in refused_start(site, *args, config=config)


# -- the translation of gunicorn's TLS settings (in this process) -----------------------------

def _config(site: dict, **settings) -> Config:
    cfg = Config()
    cfg.set("certfile", site["cert"])
    cfg.set("keyfile", site["key"])
    for name, value in settings.items():
        cfg.set(name, value)
    return cfg


def _hooked(site: dict, hook, **settings) -> dict:
    return gworker.server_options(_config(site, ssl_context=hook, **settings))


def test_defaults_mean_what_gunicorn_means(site):
    options = gworker.server_options(_config(site))
    assert options["cert"] == Path(site["cert"]) and options["key"] == Path(site["key"])
    assert options["request_cert"] is False
    assert options["honor_cipher_order"] is True  # the stdlib's server contexts prefer ours
    assert options["keep_alive_timeout"] == 2.0 and options["max_connections"] == 1000
    assert options.get("min_version") in (None, "TLSv1.2")  # the stdlib's minimum


@pytest.mark.parametrize(("cert_reqs", "asks", "reject"), [(0, False, False), (1, True, False), (2, True, True)])
def test_cert_reqs(site, cert_reqs, asks, reject):
    options = gworker.server_options(_config(site, ca_certs=site["ca"], cert_reqs=cert_reqs))
    assert (options["request_cert"], options["reject_unauthorized"]) == (asks, reject)
    if asks:
        assert len(options["ca"]) == 1


def test_gunicorn_request_limits_are_greentls_limits(site):
    """gunicorn's limit_request_line/_fields/_field_size become the WSGI server's (same names,
    same meanings, 0 for no limit)."""
    options = gworker.server_options(_config(site, limit_request_line=100, limit_request_fields=10,
                                             limit_request_field_size=0))
    assert (options["limit_request_line"], options["limit_request_fields"],
            options["limit_request_field_size"]) == (100, 10, 0)


@pytest.mark.parametrize(("name", "value"), [("http_protocols", "h2,h1"), ("proxy_protocol", "v1"),
                                             ("tmp_upload_dir", "/tmp")])
def test_gunicorn_http_settings_without_equivalent_are_refused(site, name, value):
    with pytest.raises(greentls.UnsupportedError, match=name):
        gworker.server_options(_config(site, **{name: value}))


def test_cert_reqs_without_ca_certs_is_an_error(site):
    with pytest.raises(ValueError, match="ca_certs"):
        gworker.server_options(_config(site, cert_reqs=2))


def test_ssl_version_is_mapped_or_refused(site):
    options = gworker.server_options(_config(site, ssl_version="TLSv1_2"))
    assert (options["min_version"], options["max_version"]) == ("TLSv1.2", "TLSv1.2")
    with pytest.raises(greentls.UnsupportedError, match="ssl_version"):
        gworker.server_options(_config(site, ssl_version="TLS_CLIENT"))


def test_hook_versions_options_and_ciphers(site):
    def hook(conf, factory):
        ctx = factory()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # OP_NO_TLS*: still in use
            ctx.options |= ssl.OP_NO_TLSv1_2 | ssl.OP_NO_TICKET
        ctx.set_ciphers("ECDHE+AESGCM")
        ctx.set_ecdh_curve("prime256v1")
        return ctx
    options = _hooked(site, hook)
    assert options["min_version"] == "TLSv1.3"
    assert options["secure_options"] == ssl.OP_NO_TICKET
    assert options["ciphers"] == "ECDHE+AESGCM" and options["ecdh_curve"] == "prime256v1"


def test_hook_load_cert_chain_replaces_the_certificate(site):
    def hook(conf, factory):
        ctx = factory()
        ctx.load_cert_chain(site["other_cert"], site["other_key"])
        return ctx
    options = _hooked(site, hook)
    assert options["cert"] == Path(site["other_cert"]) and options["key"] == Path(site["other_key"])


@pytest.mark.parametrize(("change", "named"), [
    (lambda ctx: setattr(ctx, "sni_callback", lambda *a: None), "sni_callback"),
    (lambda ctx: setattr(ctx, "verify_flags", ssl.VERIFY_CRL_CHECK_LEAF), "verify_flags"),
    (lambda ctx: setattr(ctx, "options", ctx.options & ~ssl.OP_NO_COMPRESSION), "clearing"),
    (lambda ctx: ctx.load_verify_locations(capath="/etc/ssl/certs"), "capath"),
], ids=["sni_callback", "verify_flags", "clear-option", "capath"])
def test_hook_settings_without_translation_are_refused(site, change, named):
    def hook(conf, factory):
        ctx = factory()
        change(ctx)
        return ctx
    with pytest.raises(greentls.UnsupportedError, match=named):
        _hooked(site, hook)


def test_hook_returning_a_foreign_context_is_refused(site):
    def hook(conf, factory):
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(site["cert"], site["key"])
        return ctx
    with pytest.raises(greentls.UnsupportedError, match="default_ssl_context_factory"):
        _hooked(site, hook)


def test_hook_may_return_a_secure_context(site):
    context = greentls.create_secure_context(cert=Path(site["cert"]), key=Path(site["key"]))
    options = _hooked(site, lambda conf, factory: context)
    assert options["secure_context"] is context


def test_hook_may_return_a_greentls_ssl_context(site):
    """A greentls.SSLContext the hook builds is served with what it says (TLS 1.3 only here)."""
    if not hasattr(greentls, "SSLContext"):
        pytest.skip("this greentls has no SSLContext")

    def hook(conf, factory):
        ctx = greentls.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(site["cert"], site["key"])
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
        return ctx
    options = _hooked(site, hook)
    assert options["request_cert"] is False
    web = gworker._build_server(("127.0.0.1", 0), lambda environ, start: [], options)
    web.start()
    try:
        tls = greentls.connect(web.address[1], "localhost", ca=Path(site["ca"]))
        assert tls.get_protocol() == "TLSv1.3"
        tls.close()
        with pytest.raises(greentls.TLSError):
            greentls.connect(web.address[1], "localhost", ca=Path(site["ca"]), max_version="TLSv1.2")
    finally:
        web.stop(timeout=1)


def test_greentls_options_may_not_contradict_the_hook(site, monkeypatch):
    module = types.ModuleType("__config__")
    module.greentls_options = {"min_version": "TLSv1.2"}
    monkeypatch.setitem(sys.modules, "__config__", module)

    def hook(conf, factory):
        ctx = factory()
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
        return ctx
    with pytest.raises(ValueError, match="min_version"):
        _hooked(site, hook)


def test_greentls_options_come_from_the_config_module(site, monkeypatch):
    module = types.ModuleType("__config__")
    module.greentls_options = {"handshake_timeout": 3, "headers_timeout": 7}
    monkeypatch.setitem(sys.modules, "__config__", module)
    options = gworker.server_options(_config(site))
    assert options["handshake_timeout"] == 3 and options["headers_timeout"] == 7


def test_ocsp_response_option_staples(site, monkeypatch):
    """greentls_options["ocsp_response"] answers the client's status request: the bytes it
    returns are stapled (greentls's client reports them)."""
    staple = b"\x30\x03\x0a\x01\x06"  # an OCSPResponse of status "unauthorized" (6)
    asked: list = []

    def answer(certificate, issuer):
        asked.append(certificate[:1])
        return staple
    module = types.ModuleType("__config__")
    module.greentls_options = {"ocsp_response": answer}
    monkeypatch.setitem(sys.modules, "__config__", module)
    options = gworker.server_options(_config(site))
    web = gworker._build_server(("127.0.0.1", 0), lambda environ, start: [], options)
    got: list = []

    def on_response(sender, response):
        got.append(response)
    greentls.ocsp_response.connect(on_response)
    web.start()
    try:
        tls = greentls.connect(web.address[1], "127.0.0.1", servername="localhost", request_ocsp=True,
                               ca=Path(site["ca"]))
        tls.close()
    finally:
        greentls.ocsp_response.disconnect(on_response)
        web.stop(timeout=1)
    assert asked == [b"\x30"] and got == [staple]


def test_import_greentls_does_not_import_gunicorn():
    code = "import sys, greentls, greentls.wsgi; assert 'gunicorn' not in sys.modules, 'imported'"
    subprocess.run([PY, "-c", code], check=True, timeout=60, env=CHILD_ENV)


@pytest.mark.parametrize(("allowed", "source", "scheme"), [
    ("127.0.0.1", "203.0.113.7", "http"),     # the balancer is trusted: its header counts
    ("10.0.0.0/8", "10.9.9.9", "https"),      # the client it names is not the one to trust
])
def test_forwarded_allow_ips_judges_the_balancer_behind_proxy_protocol(site, allowed, source, scheme):
    """With greentls's proxy_protocol, REMOTE_ADDR is the client the PROXY header names;
    forwarded_allow_ips is about the front end that sent the request, as in gunicorn. It used
    to be checked against the client's address: a trusted balancer's X-Forwarded-Proto was
    ignored, and a client inside the allowed range could set the scheme itself."""
    config = f'forwarded_allow_ips = "{allowed}"\ngreentls_options = {{"proxy_protocol": True}}\n'
    ctx = ssl.create_default_context(cafile=site["ca"])

    def ask() -> str:
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as raw:
            raw.sendall(f"PROXY TCP4 {source} 10.0.0.1 51234 443\r\n".encode())
            with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
                tls.sendall(b"GET /env HTTP/1.1\r\nHost: localhost\r\nX-Forwarded-Proto: http\r\n"
                            b"Connection: close\r\n\r\n")
                answer = b""
                while chunk := tls.recv(65536):
                    answer += chunk
        data = json.loads(answer.split(b"\r\n\r\n", 1)[1])
        assert data["REMOTE_ADDR"] == source
        return str(data["wsgi.url_scheme"])

    with run_gunicorn(site, config=config, ready=False) as server:
        deadline = time.monotonic() + 20
        while True:
            try:
                seen = ask()
                break
            except OSError:
                assert server.proc.poll() is None and time.monotonic() < deadline, server.text()
                time.sleep(0.1)
        assert seen == scheme
