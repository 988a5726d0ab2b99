"""Hostile clients: timeouts, garbage, oversized hellos, vanishing peers, slowloris, storms,
descriptor exhaustion, and the security posture seen by real peers (openssl s_client)."""
from __future__ import annotations

import socket
import struct
import sys
import textwrap
import time

import gevent
import pytest
from gevent import socket as gsocket, subprocess
from helpers import OPENSSL, echo, openssl, port_of, serving
from OpenSSL import SSL

import greentls


def _collect(server):
    """Record every tls_client_error of ``server``; returns (list of exceptions, receiver)."""
    seen = []

    def receiver(_sender, exception, tls_socket):
        seen.append(exception)

    greentls.tls_client_error.connect(receiver, sender=server, weak=False)
    return seen, receiver


def _wait_for(predicate, timeout=5.0):
    with gevent.Timeout(timeout, AssertionError("condition not reached")):
        while not predicate():
            gevent.sleep(0.01)


def _client_hello(version=SSL.TLS1_3_VERSION) -> bytes:
    """The bytes of a real ClientHello from pyOpenSSL on memory BIOs."""
    ctx = SSL.Context(SSL.TLS_CLIENT_METHOD)
    ctx.set_max_proto_version(version)
    conn = SSL.Connection(ctx, None)
    conn.set_connect_state()
    conn.set_tlsext_host_name(b"localhost")
    try:
        conn.do_handshake()
    except SSL.WantReadError:
        pass
    return conn.bio_read(65536)


def _read_until_closed(raw, timeout=5.0) -> bytes:
    """Everything the server sends until it closes (or resets) the connection."""
    raw.settimeout(timeout)
    data = b""
    try:
        while True:
            chunk = raw.recv(65536)
            if not chunk:
                return data
            data += chunk
    except ConnectionResetError:
        return data


def _timed_handshake(port, client_options) -> float:
    """Seconds a normal greentls client takes to connect and handshake."""
    start = time.perf_counter()
    greentls.connect(port, "127.0.0.1", timeout=10, **client_options).close()
    return time.perf_counter() - start


#: A server that parses every hello (it has an SNI callback) and one that lets OpenSSL read it
#: unparsed, with OpenSSL's own size limit (_socket.py _peek_hello, _hello_too_large).
HELLO_PATHS = pytest.mark.parametrize("parses", [False, True], ids=["unparsed", "parsed"])


def _hello_path_options(server_options: dict, parses: bool) -> dict:
    return dict(server_options, sni_callback=lambda name: None) if parses else server_options


# -- 1. bounded everything ------------------------------------------------------------------

@HELLO_PATHS
def test_handshake_timeout_closes_and_reports(server_options, parses):
    """A client that sends half a hello is closed at handshake_timeout with ERR_TLS_HANDSHAKE_TIMEOUT."""
    with serving(echo, handshake_timeout=0.3, **_hello_path_options(server_options, parses)) as server:
        seen, receiver = _collect(server)
        try:
            raw = gsocket.create_connection(("127.0.0.1", port_of(server)))
            raw.sendall(_client_hello()[:20])
            start = time.monotonic()
            assert _read_until_closed(raw) == b""
            elapsed = time.monotonic() - start
            _wait_for(lambda: seen)
        finally:
            greentls.tls_client_error.disconnect(receiver, sender=server)
        raw.close()
        assert seen[0].code == "ERR_TLS_HANDSHAKE_TIMEOUT"
        assert isinstance(seen[0], greentls.HandshakeTimeoutError)
        assert elapsed < 3.0
        assert server.get_connections() == 0


@pytest.mark.parametrize("version", ["TLSv1.2", "TLSv1.3"])
def test_idle_timeout_closes_silent_established_connection(server_options, client_options, version):
    """idle_timeout closes a connection whose peer stays silent after the handshake; an active one lives."""
    with serving(echo, idle_timeout=0.3, **server_options) as server:
        client = greentls.connect(port_of(server), "127.0.0.1", max_version=version, **client_options)
        for _ in range(4):               # active for 4 x 0.15 s > idle_timeout: still served
            gevent.sleep(0.15)
            client.sendall(b"ping")
            assert client.recv(10) == b"ping"
        client.settimeout(5)
        start = time.monotonic()
        assert client.recv(10) == b""    # silent: the server closes it (cleanly)
        assert 0.2 < time.monotonic() - start < 3.0
        client.close()
        _wait_for(lambda: server.get_connections() == 0)


def test_idle_timeout_rejects_bad_value(server_options):
    """A bad idle_timeout is a TypeError/ValueError naming the option."""
    with pytest.raises((TypeError, ValueError), match="idle_timeout"):
        greentls.create_server(echo, idle_timeout="later", **server_options)


@HELLO_PATHS
def test_oversized_client_hello_is_refused(server_options, client_options, parses):
    """A hello announcing more than OpenSSL's limit (a 131396-byte body) ends as
    ERR_TLS_CLIENT_HELLO_TOO_LARGE, socket closed."""
    with serving(echo, **_hello_path_options(server_options, parses)) as server:
        seen, receiver = _collect(server)
        try:
            raw = gsocket.create_connection(("127.0.0.1", port_of(server)))
            body = b"\x03\x03" + b"\x00" * 16000
            # handshake header: ClientHello (1) claiming 140 KiB, in 16 KiB records
            hello = b"\x01" + (140 * 1024).to_bytes(3, "big") + body
            raw.sendall(b"\x16\x03\x01" + struct.pack("!H", len(hello)) + hello)
            _read_until_closed(raw)
            _wait_for(lambda: seen)
            raw.close()
        finally:
            greentls.tls_client_error.disconnect(receiver, sender=server)
        assert seen[0].code == "ERR_TLS_CLIENT_HELLO_TOO_LARGE"
        assert _timed_handshake(port_of(server), client_options) < 5


def _largest_hello_body(extra: int = 0) -> bytes:
    """A well-formed ClientHello body of 131,396 bytes (OpenSSL's CLIENT_HELLO_MAX_LENGTH),
    plus ``extra`` bytes after its extensions; TLS 1.2, AES128-SHA among its suites."""
    return (b"\x03\x03" + b"\x01" * 32 + b"\x20" + b"\x02" * 32  # version, random, session id
            + b"\xff\xfe" + b"\x00\x2f" * 32767                   # 65534 bytes of suites
            + b"\xff" + b"\x00" * 255                               # 255 compression methods
            + b"\xff\xff" + struct.pack("!HH", 21, 65531) + b"\x00" * 65531  # padding extension
            + b"\x00" * extra)


@HELLO_PATHS
@pytest.mark.parametrize("extra", [0, 1])
def test_hello_size_limit_is_openssls_on_both_paths(server_options, parses, extra):
    """The largest hello OpenSSL takes is not refused for its size, parsed or not; one byte
    more is ERR_TLS_CLIENT_HELLO_TOO_LARGE on both paths, with OpenSSL's illegal_parameter
    alert, a FIN rather than a reset, and the server serving on."""
    with serving(echo, handshake_timeout=5, **_hello_path_options(server_options, parses)) as server:
        seen, receiver = _collect(server)
        try:
            raw = gsocket.create_connection(("127.0.0.1", port_of(server)))
            message = b"\x01" + len(_largest_hello_body(extra)).to_bytes(3, "big") + _largest_hello_body(extra)
            for i in range(0, len(message), 16384):
                part = message[i:i + 16384]
                raw.sendall(b"\x16\x03\x01" + struct.pack("!H", len(part)) + part)
            answer = _read_until_closed(raw)
            raw.close()
            _wait_for(lambda: seen)
        finally:
            greentls.tls_client_error.disconnect(receiver, sender=server)
        if extra:
            assert seen[0].code == "ERR_TLS_CLIENT_HELLO_TOO_LARGE", seen
            assert answer.endswith(b"\x15\x03\x03\x00\x02\x02\x2f"), answer[-16:]  # illegal_parameter
        else:
            assert seen[0].code != "ERR_TLS_CLIENT_HELLO_TOO_LARGE", seen


@HELLO_PATHS
def test_oversized_second_hello_is_openssls_error(server_options, parses):
    """After a HelloRetryRequest, a second ClientHello over OpenSSL's limit is OpenSSL's error
    (``ERR_SSL_EXCESSIVE_MESSAGE_SIZE``) on both paths: the too-large-hello error is the first
    hello's, which the server's size rules are about."""
    with serving(echo, ecdh_curve="P-384", **_hello_path_options(server_options, parses)) as server:
        seen, receiver = _collect(server)
        try:
            raw = gsocket.create_connection(("127.0.0.1", port_of(server)))
            raw.sendall(_client_hello())  # an X25519 key share: the server asks for P-384
            raw.settimeout(5)
            assert raw.recv(65536)[:1] == b"\x16"  # the HelloRetryRequest
            message = b"\x01" + (140 * 1024).to_bytes(3, "big") + b"\x03\x03" + b"\x00" * 16000
            raw.sendall(b"\x16\x03\x03" + struct.pack("!H", len(message)) + message)
            _read_until_closed(raw)
            raw.close()
            _wait_for(lambda: seen)
        finally:
            greentls.tls_client_error.disconnect(receiver, sender=server)
        assert seen[0].code == "ERR_SSL_EXCESSIVE_MESSAGE_SIZE", seen


@HELLO_PATHS
def test_oversized_hello_streamed_in_many_records(server_options, parses):
    """A hello spread over many records is cut off as soon as it announces more than the
    limit, not buffered."""
    with serving(echo, **_hello_path_options(server_options, parses)) as server:
        seen, receiver = _collect(server)
        try:
            raw = gsocket.create_connection(("127.0.0.1", port_of(server)))
            hello = b"\x01\xff\xff\xff" + b"\x03\x03" + b"\x00" * (100 * 1024)
            try:
                for i in range(0, len(hello), 16000):
                    part = hello[i:i + 16000]
                    raw.sendall(b"\x16\x03\x01" + struct.pack("!H", len(part)) + part)
            except OSError:
                pass                     # the server may close before we finish: fine
            _read_until_closed(raw)
            _wait_for(lambda: seen)
            raw.close()
        finally:
            greentls.tls_client_error.disconnect(receiver, sender=server)
        assert seen[0].code == "ERR_TLS_CLIENT_HELLO_TOO_LARGE"


def test_max_connections_caps_concurrency(server_options, client_options):
    """With max_connections=2 a third client waits until one of the first two leaves."""
    with serving(echo, max_connections=2, **server_options) as server:
        port = port_of(server)
        first = greentls.connect(port, "127.0.0.1", **client_options)
        second = greentls.connect(port, "127.0.0.1", **client_options)
        third = gevent.spawn(greentls.connect, port, "127.0.0.1", timeout=10, **client_options)
        gevent.sleep(0.5)
        assert not third.ready() and server.get_connections() == 2
        first.close()
        tls = third.get(timeout=5)
        tls.sendall(b"x")
        assert tls.recv(1) == b"x"
        for s in (second, tls):
            s.close()


_EMFILE_SERVER = textwrap.dedent("""
    import resource, sys, gevent, greentls, logging
    logging.disable(logging.CRITICAL)
    resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
    def echo(tls):
        while True:
            data = tls.recv(65536)
            if not data:
                return
            tls.sendall(data)
    server = greentls.create_server(echo, key=open(sys.argv[1], 'rb').read(),
                                    cert=open(sys.argv[2], 'rb').read(), handshake_timeout=30)
    server.listen(0, '127.0.0.1')
    print(server.address()['port'], flush=True)
    server.serve_forever()
""")


def test_emfile_backs_off_and_recovers(cert_files, client_options):
    """A server out of descriptors (RLIMIT_NOFILE 64) backs off, then serves again once they free up."""
    proc = subprocess.Popen([sys.executable, "-c", _EMFILE_SERVER, cert_files["key"], cert_files["cert"]],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    hogs = []
    try:
        port = int(proc.stdout.readline())
        for _ in range(120):             # far more than the server's 64 descriptors
            hogs.append(gsocket.create_connection(("127.0.0.1", port)))
        gevent.sleep(1.0)
        # the server is out of fds: this client cannot be accepted while the hogs stay
        starved = gevent.spawn(greentls.connect, port, "127.0.0.1", timeout=15, **client_options)
        gevent.sleep(0.5)
        assert not starved.ready()
        assert proc.poll() is None       # backed off, did not crash
        for hog in hogs:
            hog.close()
        hogs.clear()
        tls = starved.get(timeout=15)    # accepted once descriptors freed up
        tls.sendall(b"back")
        assert tls.recv(4) == b"back"
        tls.close()
        fresh = greentls.connect(port, "127.0.0.1", timeout=10, **client_options)
        fresh.sendall(b"ok")
        assert fresh.recv(2) == b"ok"
        fresh.close()
    finally:
        for hog in hogs:
            hog.close()
        proc.kill()
        proc.wait()
        proc.stdout.close()
        proc.stderr.close()


# -- 2. clean failure -----------------------------------------------------------------------

@pytest.mark.parametrize(("garbage", "codes"), [
    (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", {"ERR_SSL_HTTP_REQUEST", "ERR_SSL_WRONG_VERSION_NUMBER"}),
    (b"\x16\x09\x09\x00\x05hello", {"ERR_SSL_WRONG_VERSION_NUMBER", "ERR_SSL_UNSUPPORTED_PROTOCOL"}),
    (b"\x00" * 64, {"ERR_SSL_WRONG_VERSION_NUMBER", "ERR_SSL_UNEXPECTED_MESSAGE",
                    "ERR_SSL_PACKET_LENGTH_TOO_LONG", "ERR_SSL_UNSUPPORTED_PROTOCOL"}),
])
@HELLO_PATHS
def test_garbage_ends_with_specific_code(server_options, client_options, garbage, codes, parses):
    """Bytes that are not a TLS hello end as tls_client_error with OpenSSL's specific code, and
    the server reads what OpenSSL left unread before it closes: a FIN, not a reset."""
    with serving(echo, **_hello_path_options(server_options, parses)) as server:
        seen, receiver = _collect(server)
        try:
            raw = gsocket.create_connection(("127.0.0.1", port_of(server)))
            raw.sendall(garbage)
            raw.settimeout(5)
            while raw.recv(65536):       # a ConnectionResetError here fails the test
                pass
            raw.close()
            _wait_for(lambda: seen)
        finally:
            greentls.tls_client_error.disconnect(receiver, sender=server)
        assert seen[0].code in codes, seen[0].code
        assert _timed_handshake(port_of(server), client_options) < 5


@HELLO_PATHS
def test_truncated_record_then_close_is_a_client_error(server_options, parses):
    """A record header promising more than is sent, then EOF, ends as a tls_client_error."""
    with serving(echo, **_hello_path_options(server_options, parses)) as server:
        seen, receiver = _collect(server)
        try:
            hello = _client_hello()
            raw = gsocket.create_connection(("127.0.0.1", port_of(server)))
            raw.sendall(hello[:len(hello) // 2])
            raw.shutdown(socket.SHUT_WR)
            _read_until_closed(raw)
            raw.close()
            _wait_for(lambda: seen)
        finally:
            greentls.tls_client_error.disconnect(receiver, sender=server)
        assert seen[0].code == "ECONNRESET", seen[0].code
        assert server.get_connections() == 0


def _vanish(port, step, hello):
    """Connect and vanish at ``step``: ("bytes", k) after k hello bytes, or ("server_hello", _)."""
    kind, k = step
    raw = gsocket.create_connection(("127.0.0.1", port))
    if kind == "bytes":
        raw.sendall(hello[:k])
    else:
        raw.sendall(hello)
        raw.settimeout(5)
        assert raw.recv(5)[:1] == b"\x16"    # ServerHello's record arrived
    if kind == "reset":
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    raw.close()


@HELLO_PATHS
@pytest.mark.parametrize("version", [SSL.TLS1_2_VERSION, SSL.TLS1_3_VERSION], ids=["TLSv1.2", "TLSv1.3"])
def test_clients_vanishing_at_every_step(server_options, client_options, version, parses):
    """Clients leaving after 0..n hello bytes, after ServerHello, or with a RST each end as one
    tls_client_error with a specific code; nothing stays open and normal clients are served."""
    hello = _client_hello(version)
    steps = [("bytes", k) for k in (0, 1, 4, 5, 6, 9, 40, len(hello) - 1)]
    steps += [("server_hello", 0), ("reset", 0)]
    with serving(echo, **_hello_path_options(server_options, parses)) as server:
        seen, receiver = _collect(server)
        try:
            for step in steps:
                _vanish(port_of(server), step, hello)
            _wait_for(lambda: len(seen) == len(steps) and server.get_connections() == 0)
            gevent.sleep(0.1)
        finally:
            greentls.tls_client_error.disconnect(receiver, sender=server)
        assert len(seen) == len(steps)
        for error in seen:
            assert error.code in {"ECONNRESET", "EPIPE"}, error.code  # Node's codes
        assert _timed_handshake(port_of(server), client_options) < 5


def test_rejected_client_certificate_is_a_client_error(server_options, client_options, ca):
    """request_cert with a client that sends no certificate ends as a tls_client_error."""
    with serving(echo, request_cert=True, ca=ca.cert_pem.bytes(), **server_options) as server:
        seen, receiver = _collect(server)
        try:
            with pytest.raises((greentls.TLSError, OSError)):
                tls = greentls.connect(port_of(server), "127.0.0.1", timeout=5, **client_options)
                try:
                    tls.recv(1)              # TLS 1.3: the refusal arrives after the client's Finished
                finally:
                    tls.close()
            _wait_for(lambda: seen)
        finally:
            greentls.tls_client_error.disconnect(receiver, sender=server)
        assert seen[0].code and seen[0].code != "ERR_TLS_HANDSHAKE"


def test_alert_is_flushed_before_close(server_options, need_openssl):
    """A hello offering only a suite the server does not enable (TLS 1.3 CCM_8) gets a
    handshake_failure alert that reaches the client before the server closes."""
    with serving(echo, **server_options) as server:
        result = openssl(["s_client", "-connect", f"127.0.0.1:{port_of(server)}", "-tls1_3",
                          "-cipher", "NULL", "-ciphersuites", "TLS_AES_128_CCM_8_SHA256"], timeout=10)
        out = result.stdout + result.stderr
        assert result.returncode != 0
        assert b"alert handshake failure" in out, out[-800:]   # the server's alert reached the client


# -- 3. security posture -------------------------------------------------------------------

def _s_client(port, *args):
    return openssl(["s_client", "-connect", f"127.0.0.1:{port}", "-servername", "localhost", *args],
                   input=b"", timeout=10)


@pytest.mark.parametrize("flag", ["-tls1", "-tls1_1"])
def test_old_protocols_refused_by_default(server_options, need_openssl, flag):
    """TLS 1.0 and 1.1 are refused by default (Node's default minimum is TLS 1.2)."""
    with serving(echo, **server_options) as server:
        result = _s_client(port_of(server), flag, "-cipher", "DEFAULT:@SECLEVEL=0")
        assert result.returncode != 0
        assert b"Cipher is (NONE)" in result.stdout or b"alert" in result.stderr


def test_default_posture_seen_by_openssl(server_options, need_openssl):
    """Default TLS 1.2 handshake: AEAD ECDHE cipher, no compression, secure renegotiation, EMS."""
    with serving(echo, **server_options) as server:
        result = _s_client(port_of(server), "-tls1_2")
        out = result.stdout.decode()
        assert "Compression: NONE" in out
        assert "Secure Renegotiation IS supported" in out
        assert "Extended master secret: yes" in out
        cipher = out.split("Cipher is ")[1].split()[0]
        assert cipher.startswith("ECDHE-") and ("GCM" in cipher or "CHACHA20" in cipher), cipher


def test_weak_ciphers_refused(server_options, need_openssl):
    """RC4, 3DES, CBC-SHA1-with-RSA-kx, NULL and anonymous suites are refused."""
    with serving(echo, **server_options) as server:
        for suite in ("RC4", "3DES", "NULL", "aNULL", "AES128-SHA", "EXPORT"):
            result = _s_client(port_of(server), "-tls1_2", "-cipher", suite + ":@SECLEVEL=0")
            assert result.returncode != 0, suite


def test_no_legacy_renegotiation_and_no_compression_options(server_options, need_openssl):
    """The server context allows no unsafe legacy renegotiation (RFC 5746) and no compression,
    and openssl sees the renegotiation_info extension answered."""
    from OpenSSL._util import lib
    context = greentls.create_secure_context(**server_options)
    options = lib.SSL_CTX_get_options(context.context._context)
    assert not options & 0x00040000        # SSL_OP_ALLOW_UNSAFE_LEGACY_RENEGOTIATION
    assert options & lib.SSL_OP_NO_COMPRESSION
    with serving(echo, **server_options) as server:
        out = _s_client(port_of(server), "-tls1_2").stdout.decode()
        assert "Secure Renegotiation IS supported" in out


def test_fallback_scsv_honoured(server_options, need_openssl):
    """A TLS 1.2 hello carrying TLS_FALLBACK_SCSV to a 1.3-capable server gets inappropriate_fallback."""
    with serving(echo, **server_options) as server:
        result = _s_client(port_of(server), "-tls1_2", "-fallback_scsv")
        assert result.returncode != 0
        assert b"inappropriate fallback" in result.stderr, result.stderr[-500:]


# -- 4. slowloris and storms --------------------------------------------------------------

@HELLO_PATHS
def test_slowloris_does_not_starve_normal_clients(server_options, client_options, parses):
    """300 silent and dripping connections leave normal handshakes well within 100 ms (x2)."""
    hello = _client_hello()
    with serving(echo, handshake_timeout=30, **_hello_path_options(server_options, parses)) as server:
        port = port_of(server)
        silent = [gsocket.create_connection(("127.0.0.1", port)) for _ in range(200)]
        drippers = [gsocket.create_connection(("127.0.0.1", port)) for _ in range(100)]

        def drip():
            for i in range(len(hello)):
                for raw in drippers:
                    try:
                        raw.send(hello[i:i + 1])
                    except OSError:
                        pass
                gevent.sleep(0.05)
        dripping = gevent.spawn(drip)
        try:
            gevent.sleep(0.3)
            _timed_handshake(port, client_options)            # warm up
            latencies = sorted(_timed_handshake(port, client_options) for _ in range(15))
            assert server.get_connections() >= 300
        finally:
            dripping.kill()
            for raw in silent + drippers:
                raw.close()
        assert latencies[len(latencies) // 2] < 0.2, latencies   # median under 2 x 100 ms
        _wait_for(lambda: server.get_connections() == 0, timeout=10)


def test_500_concurrent_handshakes(server_options, client_options):
    """500 clients handshaking at once all complete and echo."""
    with serving(echo, **server_options) as server:
        port = port_of(server)

        def one(i):
            tls = greentls.connect(port, "127.0.0.1", timeout=60, **client_options)
            try:
                tls.sendall(b"%d" % i)
                return tls.recv(16)
            finally:
                tls.close()
        jobs = [gevent.spawn(one, i) for i in range(500)]
        gevent.joinall(jobs, timeout=90)
        assert [job.value for job in jobs] == [b"%d" % i for i in range(500)]
        _wait_for(lambda: server.get_connections() == 0, timeout=10)


def _renegotiation_flooder(port: int, rounds: int) -> int:
    """`openssl s_client -tls1_2` asking for ``rounds`` renegotiations (one R line per read);
    returns how many it started before the server cut it off."""
    proc = subprocess.Popen([OPENSSL, "s_client", "-connect", f"127.0.0.1:{port}", "-tls1_2"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        for _ in range(rounds):
            gevent.sleep(0.2)           # s_client acts on "R" only at the start of a read
            proc.stdin.write(b"R\n")
            proc.stdin.flush()
    except BrokenPipeError:
        pass                            # cut off: what we want
    try:
        proc.stdin.close()
    except BrokenPipeError:
        pass
    proc.wait(timeout=20)
    _out, err = proc.communicate(timeout=5)
    return err.count(b"RENEGOTIATING")


def test_renegotiation_flood_is_cut_off(server_options, client_options, need_openssl):
    """Eight s_client processes renegotiating 10 times each are cut off at the limit (the 4th
    renegotiation within the 600 s window fails, as in Node) while normal handshakes stay well
    within 100 ms (x2)."""
    with serving(echo, **server_options) as server:
        port = port_of(server)
        flooders = [gevent.spawn(_renegotiation_flooder, port, 10) for _ in range(8)]
        gevent.sleep(0.5)
        latencies = sorted(_timed_handshake(port, client_options) for _ in range(9))
        started = [job.get(timeout=30) for job in flooders]
        _wait_for(lambda: server.get_connections() == 0)
    assert all(1 <= n <= greentls.CLIENT_RENEG_LIMIT + 1 for n in started), started
    assert latencies[len(latencies) // 2] < 0.2, latencies


def test_session_survives_client_closing_without_close_notify(server_options, cert_files):
    """A TLS 1.2 client that closes its socket without close_notify (stdlib ssl, no unwrap) can
    still resume by session id: the server does not drop the session (as Node)."""
    from gevent import ssl  # the stdlib's ssl, cooperative (the server runs here too)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(cert_files["ca"])
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    context.options |= ssl.OP_NO_TICKET             # session id resumption, not tickets

    def once(port, session=None):
        raw = gsocket.create_connection(("127.0.0.1", port))
        tls = context.wrap_socket(raw, server_hostname="localhost", session=session)
        try:
            tls.sendall(b"x")
            assert tls.recv(1) == b"x"
            return tls.session_reused, tls.session
        finally:
            tls.close()                              # abrupt: no unwrap(), no close_notify
    with serving(echo, **server_options) as server:
        port = port_of(server)
        reused, session = once(port)
        _wait_for(lambda: server.get_connections() == 0)
        assert not reused
        assert once(port, session)[0] is True
