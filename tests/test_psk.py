"""TLS-PSK (Node's pskCallback and pskIdentityHint): TLS 1.2 PSK cipher suites and TLS 1.3
external PSKs, on a greentls server against ``openssl s_client`` and Node, and on a greentls
client against ``openssl s_server`` and Node.  Each callback runs in the connection's greenlet
(it may block) and is asked before OpenSSL needs its answer."""
from __future__ import annotations

import contextlib
import socket
import subprocess as stdlib_subprocess
from collections.abc import Iterator

import gevent
import pytest
from gevent import subprocess
from helpers import OPENSSL, echo, node, node_server, openssl, port_of, serving

import greentls
from greentls._parse.pskinfo import CLIENT_KEY_EXCHANGE, HandshakeReader, first_vector, server_hello_cipher

KEY = bytes.fromhex("1a2b3c4d5e6f708192a3b4c5d6e7f801")
TLS12_CIPHERS = "PSK-AES128-GCM-SHA256:ECDHE-PSK-AES128-CBC-SHA256"
#: A TLS 1.3 external PSK is for SHA-256 (OpenSSL's PSK callbacks): that suite must come first.
TLS13_CIPHERS = "TLS_AES_128_GCM_SHA256"


def s_client(port: int, *args: str, key: bytes = KEY, identity: str = "client1") -> str:
    """``openssl s_client`` with a PSK, sending one line; its whole output."""
    result = openssl(["s_client", "-connect", f"127.0.0.1:{port}", "-psk", key.hex(), "-psk_identity", identity,
                      "-ign_eof", *args], input=b"ping\n", timeout=20)
    return (result.stdout + result.stderr).decode(errors="replace")


def keyed(identities: dict):
    """A server psk_callback over a table; records (identity, greenlet) of each call."""
    calls: list = []

    def callback(tls, identity):
        calls.append((identity, gevent.getcurrent()))
        gevent.sleep(0.01)  # it may block: it runs in the connection's greenlet
        return identities.get(identity)

    return callback, calls


def echo_line(tls):
    tls.sendall(b"echo:" + tls.recv(100))
    tls.close()


# -- a greentls server ---------------------------------------------------------------------------

@pytest.mark.parametrize("cipher", ["PSK-AES128-GCM-SHA256", "ECDHE-PSK-AES128-CBC-SHA256"])
def test_tls12_psk_server_against_s_client(need_openssl, server_options, cipher):
    """The callback gets the identity from the ClientKeyExchange, in the connection's greenlet;
    the client sees the hint; the key carries the data."""
    callback, calls = keyed({"client1": KEY})
    with serving(echo_line, psk_callback=callback, psk_identity_hint="hint-x", ciphers=TLS12_CIPHERS,
                 **server_options) as server:
        out = s_client(port_of(server), "-tls1_2", "-cipher", cipher)
    assert "echo:ping" in out, out
    assert f"Cipher is {cipher}" in out and "PSK identity hint: hint-x" in out
    assert [identity for identity, _ in calls] == ["client1"]
    assert calls[0][1] is not gevent.get_hub()


def test_tls13_external_psk_server_against_s_client(need_openssl, server_options):
    """TLS 1.3: the identity comes from the ClientHello's pre_shared_key; no certificate is
    sent (the PSK authenticates the server)."""
    callback, calls = keyed({"client1": KEY})
    with serving(echo_line, psk_callback=callback, ciphers=TLS13_CIPHERS, **server_options) as server:
        out = s_client(port_of(server), "-tls1_3")
    assert "echo:ping" in out and "no peer certificate available" in out, out
    assert [identity for identity, _ in calls] == ["client1"]


@pytest.mark.parametrize("version", ["-tls1_2", "-tls1_3"])
def test_wrong_key_or_unknown_identity_fails_and_the_server_serves_on(need_openssl, server_options,
                                                                      client_errors, version):
    """A wrong key fails the handshake (bad record MAC / binder); an identity the callback
    refuses gets unknown_psk_identity (TLS 1.2), as Node's null answer does; the next client
    is served."""
    callback, _ = keyed({"client1": KEY})
    ciphers = TLS12_CIPHERS if version == "-tls1_2" else TLS13_CIPHERS
    extra = ["-cipher", "PSK-AES128-GCM-SHA256"] if version == "-tls1_2" else []
    with serving(echo_line, psk_callback=callback, ciphers=ciphers, **server_options) as server:
        port = port_of(server)
        wrong = s_client(port, version, *extra, key=KEY[::-1])
        assert "echo:ping" not in wrong
        if version == "-tls1_2":
            unknown = s_client(port, version, *extra, identity="nobody")
            assert "echo:ping" not in unknown and "unknown psk identity" in unknown, unknown
        assert "echo:ping" in s_client(port, version, *extra)
    codes = [getattr(error, "code", None) for error in client_errors]
    if version == "-tls1_2":
        # The wrong key: the Finished fails its AEAD decryption; then the unknown identity.
        assert codes == ["ERR_SSL_CIPHER_OPERATION_FAILED", "ERR_SSL_PSK_IDENTITY_NOT_FOUND"], \
            client_errors
    else:
        assert codes == ["ERR_SSL_BINDER_DOES_NOT_VERIFY"], client_errors


def test_a_raising_callback_fails_only_its_connection(need_openssl, server_options, client_errors):
    """An exception in psk_callback (or a wrong answer type) fails that handshake with it,
    reported to tls_client_error; other clients are served."""
    answers = iter([RuntimeError("store down"), "not bytes", KEY])

    def callback(tls, identity):
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    with serving(echo_line, psk_callback=callback, ciphers=TLS12_CIPHERS, **server_options) as server:
        port = port_of(server)
        for _ in range(2):
            assert "echo:ping" not in s_client(port, "-tls1_2", "-cipher", "PSK-AES128-GCM-SHA256")
        assert "echo:ping" in s_client(port, "-tls1_2", "-cipher", "PSK-AES128-GCM-SHA256")
    text = " ".join(str(error) for error in client_errors)
    assert "store down" in text and "psk_callback must return bytes" in text, client_errors


def test_a_blocking_callback_blocks_only_its_connection(server_options):
    """While one connection's callback waits, another connection completes its handshake."""
    order: list = []

    def callback(tls, identity):
        if identity == "slow":
            gevent.sleep(0.5)
        order.append(identity)
        return KEY

    with serving(echo, psk_callback=callback, ciphers=TLS12_CIPHERS, **server_options) as server:
        port = port_of(server)

        def client(identity):
            tls = greentls.connect(port, "127.0.0.1", max_version="TLSv1.2", ciphers="PSK-AES128-GCM-SHA256",
                                   check_server_identity=lambda host, cert: None,
                                   psk_callback=lambda tls, hint: {"psk": KEY, "identity": identity})
            tls.sendall(b"x")
            assert tls.recv(10) == b"x"
            tls.close()
            order.append("done " + identity)

        slow = gevent.spawn(client, "slow")
        gevent.sleep(0.1)
        fast = gevent.spawn(client, "fast")
        gevent.joinall([slow, fast], raise_error=True, timeout=10)
    assert order.index("done fast") < order.index("slow"), order


def test_certificate_handshakes_never_reach_the_callback(need_openssl, server_options):
    """A client that offers no PSK is served with the certificate; the callback is not asked."""
    callback, calls = keyed({})
    with serving(echo_line, psk_callback=callback, **server_options) as server:
        result = openssl(["s_client", "-connect", f"127.0.0.1:{port_of(server)}", "-ign_eof"],
                         input=b"ping\n", timeout=20)
    assert b"echo:ping" in result.stdout
    assert calls == []


def test_option_checks(server_options):
    """Wrong types are refused by name; a hint needs a callback; a client socket's option is
    the client's."""
    with pytest.raises(TypeError, match="psk_callback"):
        greentls.create_server(echo, psk_callback="key", **server_options)
    with pytest.raises(TypeError, match="psk_identity_hint"):
        greentls.create_server(echo, psk_callback=lambda t, i: None, psk_identity_hint=b"x", **server_options)
    with pytest.raises(ValueError, match="needs a psk_callback"):
        greentls.create_server(echo, psk_identity_hint="x", **server_options)
    with pytest.raises(TypeError, match="psk_callback"):
        greentls.connect(1, "127.0.0.1", psk_callback=42)


# -- a greentls client ---------------------------------------------------------------------------

@contextlib.contextmanager
def s_server(*args: str) -> Iterator[int]:
    """``openssl s_server -psk -nocert`` on a free port, answering one connection."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen([OPENSSL, "s_server", "-accept", f"127.0.0.1:{port}", "-psk", KEY.hex(),
                             "-psk_identity", "client1", "-nocert", "-naccept", "1", *args],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stdlib_subprocess.STDOUT)
    try:
        with gevent.Timeout(10, AssertionError("s_server did not start")):
            while True:
                line = proc.stdout.readline()
                if not line or b"ACCEPT" in line:
                    break
        yield port
    finally:
        proc.kill()
        proc.wait()


def psk_client(port: int, answer=None, **options):
    hints: list = []

    def callback(tls, hint):
        hints.append(hint)
        return {"psk": KEY, "identity": "client1"} if answer is None else answer

    tls = greentls.connect(port, "127.0.0.1", psk_callback=callback,
                           check_server_identity=lambda host, cert: None, **options)
    return tls, hints


@pytest.mark.parametrize("version", ["TLSv1.2", "TLSv1.3"])
def test_client_against_s_server(need_openssl, version):
    """TLS 1.3: asked once, with hint None; a TLS 1.2 client: asked once, at the server's
    ServerHelloDone, with its hint. The PSK authenticates the server: authorized, with no
    certificate."""
    if version == "TLSv1.2":
        args, options = ["-tls1_2", "-psk_hint", "srvhint", "-cipher", "PSK-AES128-GCM-SHA256"], \
            {"max_version": version, "ciphers": TLS12_CIPHERS}
    else:
        args, options = ["-tls1_3"], {"min_version": version, "ciphers": TLS13_CIPHERS}
    with s_server(*args) as port:
        tls, hints = psk_client(port, **options)
        assert tls.get_protocol() == version and tls.authorized
        assert tls.get_peer_certificate() in (None, {})
        tls.close()
    assert hints == (["srvhint"] if version == "TLSv1.2" else [None])


def test_client_without_tls13_by_secure_options_is_asked_once(need_openssl):
    """TLS 1.3 switched off by ``secure_options`` (SSL_OP_NO_TLSv1_3) rather than by
    ``max_version``: the client is asked once, with the TLS 1.2 server's hint."""
    from OpenSSL import SSL
    with s_server("-tls1_2", "-psk_hint", "srvhint", "-cipher", "PSK-AES128-GCM-SHA256") as port:
        tls, hints = psk_client(port, ciphers=TLS12_CIPHERS, secure_options=SSL.OP_NO_TLSv1_3)
        assert tls.get_protocol() == "TLSv1.2" and tls.authorized
        tls.close()
    assert hints == ["srvhint"]


def test_client_without_an_answer_fails(need_openssl):
    """A client whose callback answers None offers no PSK: a PSK-only server refuses it."""
    with s_server("-tls1_3") as port, pytest.raises(greentls.TLSError):
        greentls.connect(port, "127.0.0.1", min_version="TLSv1.3", ciphers=TLS13_CIPHERS,
                         check_server_identity=lambda host, cert: None, psk_callback=lambda tls, hint: None)


@pytest.mark.parametrize("bad", [{"psk": "text", "identity": "a"}, {"psk": KEY, "identity": b"a"}, {"psk": KEY},
                                 {"psk": KEY, "identity": "x" * 129}])
def test_client_answer_checked(bad, server_options):
    """A malformed answer is refused by name before any byte is sent."""
    with serving(echo, psk_callback=lambda t, i: KEY, ciphers=TLS13_CIPHERS, **server_options) as server, \
            pytest.raises((TypeError, ValueError), match="psk_callback"):
        greentls.connect(port_of(server), "127.0.0.1", psk_callback=lambda tls, hint: bad,
                         check_server_identity=lambda host, cert: None)


@pytest.mark.parametrize("version", ["TLSv1.2", "TLSv1.3"])
def test_greentls_client_and_server(version, server_options):
    """Both sides greentls: the identity reaches the server's callback, the data flows."""
    seen: list = []

    def server_callback(tls, identity):
        seen.append(identity)
        return KEY if identity == "gt-client" else None

    ciphers = TLS12_CIPHERS if version == "TLSv1.2" else TLS13_CIPHERS
    with serving(echo, psk_callback=server_callback, psk_identity_hint="gt-hint", ciphers=ciphers,
                 **server_options) as server:
        hints: list = []

        def client_callback(tls, hint):
            hints.append(hint)
            return {"psk": KEY, "identity": "gt-client"}

        tls = greentls.connect(port_of(server), "127.0.0.1", psk_callback=client_callback, ciphers=ciphers,
                               max_version=version, min_version=version,
                               check_server_identity=lambda host, cert: None)
        tls.sendall(b"hello")
        assert tls.recv(10) == b"hello" and tls.authorized
        tls.close()
    assert seen == ["gt-client"]
    assert hints == (["gt-hint"] if version == "TLSv1.2" else [None])


NODE_PSK_SERVER = r"""
const tls = require('tls');
const [key, version, ciphers] = process.argv.slice(2);
const server = tls.createServer({
  ciphers, minVersion: version, maxVersion: version, pskIdentityHint: 'node-hint',
  pskCallback: (socket, identity) => identity === 'client1' ? Buffer.from(key, 'hex') : null,
}, (s) => { s.pipe(s); });
server.listen(0, '127.0.0.1', () => console.log(server.address().port));
"""

NODE_PSK_CLIENT = r"""
const tls = require('tls');
const [port, key, version, ciphers] = process.argv.slice(2);
const s = tls.connect({port: +port, host: '127.0.0.1', ciphers, minVersion: version, maxVersion: version,
  checkServerIdentity: () => undefined,
  pskCallback: (hint) => ({psk: Buffer.from(key, 'hex'), identity: 'client1'})}, () => { s.write('node'); });
s.on('data', (d) => { console.log(JSON.stringify({echo: d.toString(), authorized: s.authorized})); s.end(); });
s.on('error', (e) => { console.log(JSON.stringify({error: e.code || e.message})); });
"""


@pytest.mark.parametrize("version", ["TLSv1.2", "TLSv1.3"])
def test_node_server_and_greentls_client(need_node, version):
    """Node's pskCallback server: the greentls client's identity and key are accepted."""
    ciphers = "PSK-AES128-GCM-SHA256" if version == "TLSv1.2" else TLS13_CIPHERS
    with node_server(NODE_PSK_SERVER, KEY.hex(), version, ciphers) as port:
        tls, hints = psk_client(port, ciphers=ciphers, min_version=version, max_version=version)
        tls.sendall(b"hi")
        assert tls.recv(10) == b"hi" and tls.authorized
        tls.close()
    assert hints == (["node-hint"] if version == "TLSv1.2" else [None])


@pytest.mark.parametrize("version", ["TLSv1.2", "TLSv1.3"])
def test_node_client_and_greentls_server(need_node, version, server_options):
    """Node's pskCallback client against a greentls PSK server."""
    ciphers = "PSK-AES128-GCM-SHA256" if version == "TLSv1.2" else TLS13_CIPHERS
    callback, calls = keyed({"client1": KEY})
    with serving(echo, psk_callback=callback, ciphers=ciphers, **server_options) as server:
        result = node(NODE_PSK_CLIENT, port_of(server), KEY.hex(), version, ciphers)
    assert result == {"echo": "node", "authorized": True}, result
    assert [identity for identity, _ in calls] == ["client1"]


# -- the record reader ---------------------------------------------------------------------------

def _record(kind: int, body: bytes) -> bytes:
    return bytes([kind, 3, 3]) + len(body).to_bytes(2, "big") + body


def _message(kind: int, body: bytes) -> bytes:
    return bytes([kind]) + len(body).to_bytes(3, "big") + body


def test_reader_reassembles_dripped_and_split_messages():
    """A ClientKeyExchange dripped one byte at a time, and split across two records, is read
    whole; reading stops at ChangeCipherSpec."""
    cke = _message(CLIENT_KEY_EXCHANGE, b"\x00\x07client1")
    wire = _record(22, cke[:5]) + _record(22, cke[5:]) + _record(20, b"\x01") + _record(22, b"ignored")
    reader = HandshakeReader()
    found = []
    for i in range(len(wire)):
        found += reader.feed(wire[i:i + 1])
    assert found == [(CLIENT_KEY_EXCHANGE, b"\x00\x07client1")] and reader.done
    assert first_vector(found[0][1]) == b"client1"
    assert first_vector(b"\x00\x09short") is None and first_vector(b"\x00") is None


def test_reader_gives_up_on_what_is_not_tls():
    """A record that announces more than any TLS record, never completed, stops the reader."""
    reader = HandshakeReader()
    reader.feed(b"\x16\x03\x03\xff\xff" + b"\x00" * (1 << 17))
    assert reader.done


def test_server_hello_cipher():
    """The selected suite sits after the random and the session id."""
    body = b"\x03\x03" + b"r" * 32 + b"\x03abc" + b"\x00\xa8" + b"\x00"
    assert server_hello_cipher(body) == b"\x00\xa8"
    assert server_hello_cipher(body[:36]) is None


def test_capability_is_reported():
    assert greentls.capabilities["psk"] is True



def test_example_runs():
    """examples/psk.py runs as its docstring says: both versions authorized by the PSK."""
    import os
    import sys
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    result = stdlib_subprocess.run([sys.executable, os.path.join(here, "examples", "psk.py")], timeout=60,
                                   capture_output=True, text=True, check=True)
    assert "hello TLSv1.2 | authorized: True" in result.stdout
    assert "hello TLSv1.3 | authorized: True" in result.stdout
    assert "hint='sensors'" in result.stdout


@pytest.mark.parametrize("version", ["-tls1_2", "-tls1_3"])
def test_psk_client_is_authorized_on_a_server_that_requests_certificates(need_openssl, server_options, version):
    """A client that proved a key the callback gave is authorized without a certificate, as
    Node's VerifyPeerCertificate allows PSK; a client without the key gets nothing."""
    seen: list = []

    def handler(tls):
        seen.append((tls.authorized, tls.authorization_error))
        echo_line(tls)

    ciphers = TLS12_CIPHERS if version == "-tls1_2" else TLS13_CIPHERS
    extra = ["-cipher", "PSK-AES128-GCM-SHA256"] if version == "-tls1_2" else []
    callback, _ = keyed({"client1": KEY})
    with serving(handler, psk_callback=callback, ciphers=ciphers, request_cert=True, reject_unauthorized=True,
                 **server_options) as server:
        assert "echo:ping" in s_client(port_of(server), version, *extra)
        assert "echo:ping" not in s_client(port_of(server), version, *extra, key=KEY[::-1])
    assert seen == [(True, None)]


def _stdlib_psk_server(cert_files: dict, callback, **options) -> greentls.SSLContext:
    """A greentls.SSLContext server for TLS 1.2 PSK-AES128-GCM-SHA256 with ``callback``."""
    import ssl
    context = greentls.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_files["cert"], cert_files["key"])
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers("PSK-AES128-GCM-SHA256")
    context.set_psk_server_callback(callback, **options)
    return context


def _echo_once(context: greentls.SSLContext, listener) -> None:
    """Accept one connection on ``listener`` under ``context`` and echo one read as echo:..."""
    conn, _ = listener.accept()
    with context.wrap_socket(conn, server_side=True) as tls:
        tls.sendall(b"echo:" + tls.recv(100))


def test_stdlib_context_psk_both_ways(need_openssl, cert_files):
    """greentls.SSLContext's set_psk_server_callback / set_psk_client_callback (the stdlib's,
    Python 3.13, on every supported Python): TLS 1.2 PSK against openssl, each way."""
    import ssl

    from gevent import socket as gsocket

    identities: list = []

    def server_callback(identity):
        identities.append(identity)
        return KEY if identity == "client1" else b""

    server_ctx = _stdlib_psk_server(cert_files, server_callback, identity_hint="std-hint")
    listener = gsocket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(5)
    server = gevent.spawn(_echo_once, server_ctx, listener)
    out = s_client(listener.getsockname()[1], "-tls1_2", "-cipher", "PSK-AES128-GCM-SHA256")
    server.join(timeout=10)
    listener.close()
    assert server.successful(), server.exception  # the server side finished without an error
    assert "echo:ping" in out and "PSK identity hint: std-hint" in out, out
    assert identities == ["client1"]

    client_ctx = greentls.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client_ctx.check_hostname = False
    client_ctx.verify_mode = ssl.CERT_NONE
    client_ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    client_ctx.set_ciphers("PSK-AES128-GCM-SHA256")
    hints: list = []
    client_ctx.set_psk_client_callback(lambda hint: (hints.append(hint), ("client1", KEY))[1])
    with s_server("-tls1_2", "-psk_hint", "srvhint", "-cipher", "PSK-AES128-GCM-SHA256") as port:
        with client_ctx.wrap_socket(gsocket.create_connection(("127.0.0.1", port))) as tls:
            assert tls.version() == "TLSv1.2" and "PSK" in tls.cipher()[0]
    assert hints == ["srvhint"]
    with pytest.raises(NotImplementedError):
        client_ctx.set_psk_server_callback(server_callback)


# -- attacks: a session ticket must never pass for a PSK -----------------------------------------

def _authorizing_server(server_options: dict, **options):
    """A PSK server that answers each client with its ``authorized`` and records what its
    callback was asked."""
    asked: list = []
    keys = {"admin": KEY}

    def callback(tls, identity):
        asked.append(identity)
        return keys.get(identity)

    def handler(tls):
        tls.sendall(b"authorized=%r\n" % tls.authorized)
        tls.close()

    return serving(handler, psk_callback=callback, ciphers=TLS13_CIPHERS, request_cert=True,
                   reject_unauthorized=False, **options, **server_options), asked


def _anonymous_session(port: int, tmp_path) -> str:
    path = str(tmp_path / "anonymous.pem")
    openssl(["s_client", "-connect", f"127.0.0.1:{port}", "-tls1_3", "-sess_out", path, "-ign_eof"],
            input=b"", timeout=20)
    return path


@pytest.mark.parametrize("modes", [None, b"\x00"], ids=["no-modes", "psk_ke-only"])
def test_a_ticket_never_passes_for_a_psk_across_a_hello_retry(need_openssl, server_options, tmp_path, modes):
    """Red team: a first ClientHello names a keyed identity under psk_key_exchange_modes that
    OpenSSL ignores and forces a HelloRetryRequest; the second resumes an anonymous session's
    ticket.  The client is not authorized, and the callback never hears of the identity."""
    from rawtls13 import resume_after_retry, session_from_pem

    context, asked = _authorizing_server(server_options)
    with context as server:
        port = port_of(server)
        psk, ticket = session_from_pem(_anonymous_session(port, tmp_path))
        if modes is None:  # OpenSSL refuses a pre_shared_key without modes (missing_extension)
            with pytest.raises(RuntimeError, match="alert"):
                resume_after_retry(port, psk, ticket, [b"admin"], modes)
        else:
            assert resume_after_retry(port, psk, ticket, [b"admin"], modes) == b"authorized=False\n"
    assert asked == []


def test_a_ticket_offered_first_is_resumed_without_asking(need_openssl, server_options, tmp_path):
    """A client that offers a ticket and then a PSK identity resumes the ticket (as OpenSSL
    tries identities in order): not authorized, and the callback is not asked about the
    identity OpenSSL never tried."""
    context, asked = _authorizing_server(server_options)
    with context as server:
        port = port_of(server)
        session = _anonymous_session(port, tmp_path)
        out = s_client(port, "-tls1_3", "-sess_in", session, key=b"\x00", identity="admin")
        assert "authorized=False" in out and "Reused" in out, out
    assert asked == []


def test_psk_across_a_hello_retry_request(need_openssl, server_options):
    """A legitimate client whose key share the server does not take: after the
    HelloRetryRequest its second ClientHello carries the PSK, and it is authorized."""
    context, asked = _authorizing_server(server_options, ecdh_curve="P-256")
    with context as server:
        out = s_client(port_of(server), "-tls1_3", "-groups", "X25519:P-256", identity="admin")
    assert "authorized=True" in out and "no peer certificate available" in out, out
    assert asked == ["admin"]


def test_tls12_psk_hello_extension_is_not_asked(need_openssl, server_options):
    """A TLS 1.2 connection whose (TLS 1.3) pre_shared_key extension OpenSSL ignores: only the
    ClientKeyExchange identity is asked."""
    callback, calls = keyed({"client1": KEY})
    with serving(echo_line, psk_callback=callback, ciphers=TLS12_CIPHERS, max_version="TLSv1.2",
                 **server_options) as server:
        out = s_client(port_of(server), "-cipher", "PSK-AES128-GCM-SHA256")
    assert "echo:ping" in out
    assert [identity for identity, _ in calls] == ["client1"]


def test_stdlib_psk_server_over_a_plain_socket_in_a_thread(need_openssl, cert_files):
    """A TLS 1.2 PSK server on a plain blocking socket, in an OS thread (the stdlib's way, and
    socketserver's after inject_into_ssl()): the callback is asked there too."""
    import threading

    identities: list = []
    server_ctx = _stdlib_psk_server(cert_files, lambda identity: identities.append(identity) or KEY)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    failures: list = []

    def serve() -> None:
        try:
            _echo_once(server_ctx, listener)
        except BaseException as exc:  # reported below: a thread's error is otherwise lost
            failures.append(exc)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    result = stdlib_subprocess.run(
        [OPENSSL, "s_client", "-connect", f"127.0.0.1:{listener.getsockname()[1]}", "-psk", KEY.hex(),
         "-psk_identity", "client1", "-tls1_2", "-cipher", "PSK-AES128-GCM-SHA256", "-ign_eof"],
        check=False, input=b"ping\n", capture_output=True, timeout=20)
    thread.join(timeout=10)
    listener.close()
    assert not thread.is_alive() and failures == [], failures
    assert b"echo:ping" in result.stdout, result.stdout + result.stderr
    assert identities == ["client1"]


def test_stdlib_psk_over_memory_bio_is_refused_by_name():
    """wrap_bio cannot carry the PSK readers: UnsupportedError naming the setting, not a PSK
    silently dropped."""
    import ssl
    ctx = greentls.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.set_psk_client_callback(lambda hint: ("client1", KEY))
    with pytest.raises(greentls.UnsupportedError, match="set_psk_client_callback"):
        ctx.wrap_bio(ssl.MemoryBIO(), ssl.MemoryBIO(), server_hostname="localhost")


def test_a_tls12_server_is_not_asked_at_hello_time(need_openssl, server_options):
    """A server whose versions stop at TLS 1.2 is asked only when the ClientKeyExchange names
    the identity (OpenSSL never reads the hello's pre_shared_key then), not when the TLS 1.3
    client's hello offers it."""
    phases: list = []

    def callback(tls, identity):
        phases.append(tls._engine.conn.get_protocol_version_name())  # negotiated by the ClientKeyExchange
        return KEY

    with serving(echo_line, psk_callback=callback, ciphers=TLS12_CIPHERS, max_version="TLSv1.2",
                 **server_options) as server:
        assert "echo:ping" in s_client(port_of(server), "-cipher", "PSK-AES128-GCM-SHA256")
    assert phases == ["TLSv1.2"]
