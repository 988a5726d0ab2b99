"""greentls.wsgi.WSGIServer against curl, Node's https and the command line."""
from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import gevent
import pytest
import trustme
from gevent import subprocess
from helpers import CURL, PY, node, run, serve_wsgi_cli

from greentls.wsgi import WSGIServer

VERSIONS = ["TLSv1.2", "TLSv1.3"]
SSL_KEYS = ("HTTPS", "wsgi.url_scheme", "SSL_PROTOCOL", "SSL_CIPHER", "SSL_TLS_SNI", "SSL_CLIENT_VERIFY",
            "SSL_CLIENT_S_DN", "SSL_CLIENT_I_DN", "SSL_CLIENT_CERT", "REQUEST_METHOD", "PATH_INFO")


def env_app(environ, start_response):
    """Answers with the TLS part of its environ as JSON (and the request body length)."""
    body = environ["wsgi.input"].read()
    data = {k: environ.get(k) for k in SSL_KEYS}
    data["body"] = len(body)
    data["socket_alpn"] = environ["greentls.socket"].alpn_protocol
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps(data).encode()]


@pytest.fixture
def wsgi(server_options):
    """Start a WSGIServer with env_app (extra options from the test) and stop it afterwards."""
    servers = []

    def start(**options):
        server = WSGIServer(("127.0.0.1", 0), env_app, log=None, **{**server_options, **options})
        server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop(timeout=1)


def curl(url, *args):
    """curl's body parsed as JSON."""
    result = run([CURL, "-sS", "--max-time", "20", *args, url])
    return json.loads(result.stdout)


@pytest.mark.parametrize("version", VERSIONS)
def test_curl_gets_a_page(version, need_curl, wsgi, cert_files):
    """curl --cacert gets a page; environ has https, HTTPS=on, protocol, cipher, SNI, ALPN."""
    server = wsgi(max_version=version)
    assert server.address[0] == "127.0.0.1" and server.address[1] > 0
    data = curl(f"https://localhost:{server.address[1]}/hello", "--cacert", cert_files["ca"],
                "-d", "x" * 1000)
    assert data["wsgi.url_scheme"] == "https" and data["HTTPS"] == "on"
    assert data["SSL_PROTOCOL"] == version
    assert data["SSL_CIPHER"]
    assert data["SSL_TLS_SNI"] == "localhost"
    assert data["SSL_CLIENT_VERIFY"] == "NONE" and data["SSL_CLIENT_CERT"] is None
    assert data["PATH_INFO"] == "/hello" and data["REQUEST_METHOD"] == "POST" and data["body"] == 1000
    assert data["socket_alpn"] == "http/1.1"


@pytest.mark.parametrize("reject", [False, True])
def test_curl_client_certificate_reaches_environ(reject, need_curl, wsgi, cert_files, ca):
    """curl --cert: the client certificate is verified and its DNs and PEM reach the environ."""
    server = wsgi(request_cert=True, reject_unauthorized=reject, ca=ca.cert_pem.bytes())
    data = curl(f"https://localhost:{server.address[1]}/", "--cacert", cert_files["ca"],
                "--cert", cert_files["client_cert"], "--key", cert_files["client_key"])
    assert data["SSL_CLIENT_VERIFY"] == "SUCCESS"
    assert "CN=test client" in data["SSL_CLIENT_S_DN"]
    assert "O=trustme" in data["SSL_CLIENT_I_DN"]
    assert data["SSL_CLIENT_CERT"].startswith("-----BEGIN CERTIFICATE-----")
    with open(cert_files["client_cert"]) as f:
        assert data["SSL_CLIENT_CERT"].strip() == f.read().split("-----END CERTIFICATE-----")[0].strip() \
            + "\n-----END CERTIFICATE-----"


def test_unverified_client_certificate_is_reported_failed(need_curl, wsgi, cert_files, ca, tmp_path):
    """With reject_unauthorized=False a certificate from an unknown CA reaches the app as
    FAILED:<code>, and a request without one as NONE."""
    other = trustme.CA().issue_cert("stranger@example.com")
    other.private_key_and_cert_chain_pem.write_to_path(str(tmp_path / "stranger.pem"))
    server = wsgi(request_cert=True, reject_unauthorized=False, ca=ca.cert_pem.bytes())
    url = f"https://localhost:{server.address[1]}/"
    data = curl(url, "--cacert", cert_files["ca"], "--cert", str(tmp_path / "stranger.pem"))
    assert data["SSL_CLIENT_VERIFY"].startswith("FAILED:")
    assert data["SSL_CLIENT_VERIFY"] != "FAILED:None"
    assert data["SSL_CLIENT_CERT"]
    assert curl(url, "--cacert", cert_files["ca"])["SSL_CLIENT_VERIFY"] == "NONE"


def test_rejected_client_without_certificate(need_curl, wsgi, cert_files, ca):
    """With request_cert and reject_unauthorized=True, curl without a certificate gets no page."""
    server = wsgi(request_cert=True, reject_unauthorized=True, ca=ca.cert_pem.bytes())
    result = run([CURL, "-sS", "--max-time", "20", "--cacert", cert_files["ca"],
                  f"https://localhost:{server.address[1]}/"], check=False)
    assert result.returncode != 0
    assert b"SSL_CLIENT" not in result.stdout


NODE_HTTPS_GET = r"""
const https = require('https'); const fs = require('fs');
const [port, ca] = process.argv.slice(2);
https.get({host: '127.0.0.1', port: +port, path: '/node', servername: 'localhost', ca: fs.readFileSync(ca)},
  res => { let body = ''; const authorized = res.socket.authorized; res.on('data', d => body += d);
           res.on('end', () => console.log(JSON.stringify({status: res.statusCode, authorized, body}))); })
  .on('error', e => console.log(JSON.stringify({error: e.code || e.message})));
"""


def test_node_https_request(need_node, wsgi, cert_files):
    """Node's https.get verifies the server and gets the page."""
    server = wsgi()
    result = node(NODE_HTTPS_GET, server.address[1], cert_files["ca"])
    assert result["status"] == 200 and result["authorized"] is True
    body = json.loads(result["body"])
    assert body["PATH_INFO"] == "/node" and body["SSL_TLS_SNI"] == "localhost"


def test_100_concurrent_requests(need_curl, wsgi, cert_files):
    """100 requests on 100 parallel connections all succeed, and they overlapped."""
    active = {"now": 0, "peak": 0}

    def slow_app(environ, start_response):
        active["now"] += 1
        active["peak"] = max(active["peak"], active["now"])
        gevent.sleep(0.2)
        active["now"] -= 1
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    server = wsgi()
    server.application = server._pywsgi.application = slow_app
    url = f"https://localhost:{server.address[1]}/"
    result = run([CURL, "-sS", "--max-time", "60", "--cacert", cert_files["ca"], "--parallel",
                  "--parallel-immediate", "--parallel-max", "100", "-w", "%{http_code}\n",
                  *[arg for i in range(100) for arg in ("-o", "/dev/null", f"{url}?{i}")]], timeout=90)
    codes = result.stdout.decode().split()
    assert codes == ["200"] * 100
    assert active["peak"] > 10


def test_unix_socket_listener(need_curl, server_options, cert_files, tmp_path):
    """A Unix socket path as the listener serves curl --unix-socket."""
    path = str(tmp_path / "wsgi.sock")
    server = WSGIServer(path, env_app, log=None, **server_options)
    server.start()
    try:
        assert server.address == path
        data = curl("https://localhost/unix", "--unix-socket", path, "--cacert", cert_files["ca"])
        assert data["PATH_INFO"] == "/unix"
    finally:
        server.stop(timeout=1)


def test_options_are_checked(server_options):
    """An unknown option raises TypeError naming it; a bad listener is refused."""
    with pytest.raises(TypeError, match="bogus"):
        WSGIServer(("127.0.0.1", 0), env_app, bogus=1, **server_options)
    with pytest.raises(TypeError, match="listener"):
        WSGIServer(8443, env_app, **server_options)


def test_cli_serve_wsgi(need_curl, cert_files, tmp_path):
    """`greentls serve --wsgi module:app` serves a module's app to curl."""
    source = ("def app(environ, start_response):\n"
              "    start_response('200 OK', [('Content-Type', 'text/plain')])\n"
              "    return [('cli ' + environ['SSL_PROTOCOL'] + ' ' + environ['wsgi.url_scheme']).encode()]\n")
    with serve_wsgi_cli(tmp_path, "cliapp", source, cert_files) as port:
        result = run([CURL, "-sS", "--max-time", "20", "--cacert", cert_files["ca"],
                      f"https://localhost:{port}/"])
        assert result.stdout == b"cli TLSv1.3 https"


def test_example_wsgi_app(need_curl, tmp_path):
    """examples/wsgi_app.py runs as its docstring says: a client with its certificate is
    greeted by name; one without is refused."""
    examples = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")
    certs = str(tmp_path / "certs")
    run([PY, os.path.join(examples, "make_certs.py"), certs])
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = dict(os.environ, PORT=str(port), CERTS=certs)
    proc = subprocess.Popen([PY, os.path.join(examples, "wsgi_app.py")], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        with gevent.Timeout(20, AssertionError("the example did not start")):
            assert proc.stdout.readline() == b"server bound\n"
        url = f"https://localhost:{port}/"
        ok = run([CURL, "-sS", "--max-time", "20", "--cacert", f"{certs}/server-cert.pem",
                  "--cert", f"{certs}/client-cert.pem", "--key", f"{certs}/client-key.pem", url])
        assert ok.stdout.startswith(b"hello CN=client.example\nverified: SUCCESS")
        refused = run([CURL, "-sS", "--max-time", "20", "--cacert", f"{certs}/server-cert.pem", url],
                      check=False)
        assert refused.returncode != 0 and b"hello" not in refused.stdout
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()


MTLS_APP = ("def app(environ, start_response):\n"
            "    start_response('200 OK', [('Content-Type', 'text/plain')])\n"
            "    return [environ['SSL_CLIENT_VERIFY'].encode()]\n")


@pytest.mark.parametrize("reject", [True, False], ids=["reject", "no-reject"])
def test_cli_serve_wsgi_client_certificates(reject, need_curl, cert_files, tmp_path):
    """``serve --wsgi --ca --request-cert [--no-reject-unauthorized]``: curl with a client
    certificate is SUCCESS; without one it is refused, or let in as NONE."""
    extra = ["--ca", cert_files["ca"], "--request-cert"] + ([] if reject else ["--no-reject-unauthorized"])
    with serve_wsgi_cli(tmp_path, "mtlsapp", MTLS_APP, cert_files, *extra) as port:
        url = f"https://localhost:{port}/"
        with_cert = run([CURL, "-sS", "--max-time", "20", "--cacert", cert_files["ca"],
                         "--cert", cert_files["client_cert"], "--key", cert_files["client_key"], url])
        assert with_cert.stdout == b"SUCCESS"
        without = run([CURL, "-sS", "--max-time", "20", "--cacert", cert_files["ca"], url], check=False)
        if reject:
            assert without.returncode != 0
        else:
            assert without.stdout == b"NONE"


def test_cli_serve_wsgi_refuses_h2(cert_files, tmp_path):
    """h2 is not WSGI: ``serve --wsgi --alpn h2,http/1.1`` exits with a clear error instead of
    negotiating h2 and failing every request; WSGIServer refuses it too."""
    (tmp_path / "h2app.py").write_text(MTLS_APP)
    result = run([PY, "-m", "greentls", "serve", "--wsgi", "h2app:app", "--alpn", "h2,http/1.1",
                  "--cert", cert_files["cert"], "--key", cert_files["key"]], check=False)
    assert result.returncode == 2 and b"cannot offer ALPN 'h2'" in result.stderr
    for offered in (["h2", "http/1.1"], [b"h2"], b"\x02h2\x08http/1.1"):  # list, bytes, wire format
        with pytest.raises(ValueError, match="h2"):
            WSGIServer(("127.0.0.1", 0), lambda e, s: [], alpn_protocols=offered,
                       key=Path(cert_files["key"]), cert=Path(cert_files["cert"]))
    # Nor any other protocol than HTTP/1.x: a client that negotiated it would fail every request.
    result = run([PY, "-m", "greentls", "serve", "--wsgi", "h2app:app", "--alpn", "spdy/3.1",
                  "--cert", cert_files["cert"], "--key", cert_files["key"]], check=False)
    assert result.returncode == 2 and b"cannot offer ALPN 'spdy/3.1'" in result.stderr
    with pytest.raises(ValueError, match="'acme-tls/1'"):
        WSGIServer(("127.0.0.1", 0), lambda e, s: [], alpn_protocols=["http/1.1", "acme-tls/1"],
                   key=Path(cert_files["key"]), cert=Path(cert_files["cert"]))


def test_serve_forever_with_workers(need_curl, cert_files, tmp_path):
    """WSGIServer.serve_forever(workers=2) forks two workers that answer on the shared socket."""
    import signal
    import socket as stdlib_socket

    from gevent import subprocess as gsubprocess
    with stdlib_socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    script = (
        "import os, sys\n"
        "from pathlib import Path\n"
        "from greentls.wsgi import WSGIServer\n"
        "def app(environ, start_response):\n"
        "    start_response('200 OK', [('Content-Type', 'text/plain')])\n"
        "    return [str(os.getpid()).encode()]\n"
        f"server = WSGIServer(('127.0.0.1', {port}), app, log=None, key=Path(sys.argv[1]), cert=Path(sys.argv[2]))\n"
        "server.start()\n"
        "print('ready', flush=True)\n"
        "server.serve_forever(workers=2)\n")
    proc = gsubprocess.Popen([PY, "-c", script, cert_files["key"], cert_files["cert"]],
                             stdout=gsubprocess.PIPE, stderr=gsubprocess.PIPE)
    try:
        with gevent.Timeout(20, AssertionError("the server did not start")):
            assert proc.stdout.readline().strip() == b"ready"
        pids = set()
        with gevent.Timeout(30, AssertionError(f"fewer than 2 workers answered: {pids}")):
            while len(pids) < 2:
                result = run([CURL, "-sS", "--max-time", "10", "--cacert", cert_files["ca"],
                              f"https://localhost:{port}/"], check=False)
                if result.returncode == 0:
                    pids.add(result.stdout)
        assert str(proc.pid).encode() not in pids  # the parent supervises; workers serve
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except gsubprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


STREAM_APP = ("import gevent\n"
              "def app(environ, start_response):\n"
              "    start_response('200 OK', [('Content-Type', 'text/plain')])\n"
              "    for i in range(6):\n"
              "        gevent.sleep(0.25)\n"
              "        yield b'chunk%d ' % i\n")


@pytest.mark.parametrize("signame", ["SIGTERM", "SIGINT"])
def test_cli_serve_wsgi_drains_on_signal(signame, need_curl, cert_files, tmp_path):
    """SIGTERM or SIGINT in one process: the streaming response in progress is finished, the
    process exits 0 without a traceback, and no new connection is accepted meanwhile."""
    import signal
    (tmp_path / "streamapp.py").write_text(STREAM_APP)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen([PY, "-m", "greentls", "serve", "--wsgi", "streamapp:app", "--port", str(port),
                             "--cert", cert_files["cert"], "--key", cert_files["key"]],
                            cwd=str(tmp_path), stderr=subprocess.PIPE, stdout=subprocess.DEVNULL)
    try:
        with gevent.Timeout(20, AssertionError("greentls serve did not start")):
            assert b"serving WSGI" in proc.stderr.readline()
        streaming = gevent.spawn(run, [CURL, "-sS", "--max-time", "20", "--cacert", cert_files["ca"],
                                       f"https://localhost:{port}/"], check=False)
        gevent.sleep(0.6)  # the response is under way
        proc.send_signal(getattr(signal, signame))
        result = streaming.get(timeout=20)
        assert result.stdout == b"".join(b"chunk%d " % i for i in range(6)), result
        assert proc.wait(timeout=20) == 0
        assert b"Traceback" not in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_cli_serve_wsgi_drain_does_not_wait_out_idle_keep_alive(cert_files, tmp_path):
    """SIGTERM in one process with a keep-alive connection idle between requests (and a 30 s
    keep_alive_timeout): the idle connection is closed at once, so the process exits soon."""
    import signal
    import time

    from gevent import ssl as gssl
    (tmp_path / "hiapp.py").write_text("def app(environ, start_response):\n"
                                       "    start_response('200 OK', [('Content-Length', '2')])\n"
                                       "    return [b'hi']\n")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen([PY, "-m", "greentls", "serve", "--wsgi", "hiapp:app", "--port", str(port),
                             "--cert", cert_files["cert"], "--key", cert_files["key"],
                             "--keep-alive-timeout", "30"],
                            cwd=str(tmp_path), stderr=subprocess.PIPE, stdout=subprocess.DEVNULL)
    try:
        with gevent.Timeout(20, AssertionError("greentls serve did not start")):
            assert b"serving WSGI" in proc.stderr.readline()
        context = gssl.SSLContext(gssl.PROTOCOL_TLS_CLIENT)
        context.load_verify_locations(cafile=cert_files["ca"])
        with socket.create_connection(("127.0.0.1", port)) as raw, \
                context.wrap_socket(raw, server_hostname="localhost") as tls:
            tls.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
            answer = b""
            while not answer.endswith(b"hi"):
                answer += tls.recv(4096)
            began = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=20) == 0
            assert time.monotonic() - began < 10
        assert b"Traceback" not in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


SLEEPY_APP = ("import time\n"
              "def app(environ, start_response):\n"
              "    time.sleep(1)\n"
              "    start_response('200 OK', [('Content-Type', 'text/plain')])\n"
              "    return [b'slept']\n")


@pytest.mark.parametrize("patched", [True, False], ids=["monkey-patched", "no-monkey-patch"])
def test_cli_serve_wsgi_monkey_patches_before_the_app(patched, need_curl, cert_files, tmp_path):
    """``serve --wsgi`` patches the standard library before importing the application, so an
    application's ``time.sleep(1)`` blocks only its own request: three at once take about 1 s,
    not 3 s as with ``--no-monkey-patch``."""
    from time import monotonic
    extra = () if patched else ("--no-monkey-patch",)
    with serve_wsgi_cli(tmp_path, "sleepyapp", SLEEPY_APP, cert_files, *extra) as port:
        def fetch():
            return run([CURL, "-sS", "--max-time", "20", "--cacert", cert_files["ca"],
                        f"https://localhost:{port}/"]).stdout
        started = monotonic()
        requests = [gevent.spawn(fetch) for _ in range(3)]
        assert [r.get(timeout=30) for r in requests] == [b"slept"] * 3
        elapsed = monotonic() - started
    if patched:
        assert elapsed < 2.2, elapsed
    else:
        assert elapsed >= 2.9, elapsed
