"""TLS 1.2 renegotiation: both sides, request_cert, the client-initiated limit, disabling it."""
from __future__ import annotations

import gevent
import pytest
from gevent import subprocess
from helpers import node, port_of, serving

import greentls


def echo_until_bye(errors: list):
    """A handler that echoes until a line with "bye" and records a TLSError it raised."""
    def handler(tls: greentls.TLSSocket) -> None:
        try:
            while True:
                data = tls.recv(65536)
                if not data:
                    return
                tls.sendall(data)
                if b"bye" in data:
                    return
        except greentls.TLSError as exc:
            errors.append(exc)
    return handler


def s_client_renegotiating(port: int, count: int) -> tuple:
    """Run `openssl s_client -tls1_2` sending `count` R lines then a message; returns
    (renegotiations started, stdout)."""
    # Not -ign_eof: it turns the R command off.  stdin stays open until the server closes.
    proc = subprocess.Popen(["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-tls1_2"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        for _ in range(count):
            gevent.sleep(0.2)  # one R per read: s_client handles "R" only at a line's start
            proc.stdin.write(b"R\n")
            proc.stdin.flush()
        gevent.sleep(0.2)
        proc.stdin.write(b"hello bye\n")
        proc.stdin.flush()
    except BrokenPipeError:
        pass  # the server cut the connection off
    proc.wait(timeout=20)
    out, err = proc.communicate(timeout=5)
    return err.count(b"RENEGOTIATING"), out


@pytest.fixture
def reneg_limit():
    """Restore CLIENT_RENEG_LIMIT/WINDOW after a test changes them."""
    saved = greentls.CLIENT_RENEG_LIMIT, greentls.CLIENT_RENEG_WINDOW
    yield
    greentls.CLIENT_RENEG_LIMIT, greentls.CLIENT_RENEG_WINDOW = saved


def test_openssl_client_renegotiation_within_limit_succeeds(need_openssl, server_options):
    """CLIENT_RENEG_LIMIT (3) client renegotiations succeed, as in Node (the initial handshake
    is not counted); data flows after."""
    errors: list = []
    with serving(echo_until_bye(errors), **server_options) as server:
        started, out = s_client_renegotiating(port_of(server), 3)
    assert started == 3
    assert b"hello bye" in out
    assert errors == []


def test_openssl_client_past_limit_is_cut_off(need_openssl, server_options):
    """Renegotiating past CLIENT_RENEG_LIMIT fails the server socket with ERR_TLS_SESSION_ATTACK
    while another client keeps working."""
    errors: list = []
    with serving(echo_until_bye(errors), **server_options) as server:
        bystander = greentls.connect(port_of(server), "127.0.0.1", reject_unauthorized=False)
        started, out = s_client_renegotiating(port_of(server), 5)
        bystander.sendall(b"still here")
        assert bystander.recv(100) == b"still here"
        bystander.close()
    assert b"hello bye" not in out and started >= 4
    assert len(errors) == 1
    assert isinstance(errors[0], greentls.RenegotiationError)
    assert errors[0].code == "ERR_TLS_SESSION_ATTACK"


def test_limit_is_read_when_the_connection_starts(need_openssl, server_options, reneg_limit):
    """A lower CLIENT_RENEG_LIMIT set by the program applies to new connections: with 1, the
    second renegotiation fails."""
    greentls.CLIENT_RENEG_LIMIT = 1
    errors: list = []
    with serving(echo_until_bye(errors), **server_options) as server:
        started, out = s_client_renegotiating(port_of(server), 2)
    assert started == 2 and b"hello bye" not in out
    assert [e.code for e in errors] == ["ERR_TLS_SESSION_ATTACK"]


def test_renegotiation_window_ends(need_openssl, server_options, reneg_limit):
    """A renegotiation CLIENT_RENEG_WINDOW seconds after the previous handshake counts as the
    first again (a gevent timer): with a limit of 1, three spaced renegotiations all pass."""
    greentls.CLIENT_RENEG_LIMIT, greentls.CLIENT_RENEG_WINDOW = 1, 0.1
    errors: list = []
    with serving(echo_until_bye(errors), **server_options) as server:
        started, out = s_client_renegotiating(port_of(server), 3)  # 0.2 s apart > window
    assert started == 3 and b"hello bye" in out and errors == []


def test_server_disable_renegotiation(need_openssl, server_options):
    """A server socket that disabled renegotiation fails when the client renegotiates."""
    errors: list = []
    handler = echo_until_bye(errors)

    def disabling(tls):
        tls.disable_renegotiation()
        handler(tls)

    with serving(disabling, **server_options) as server:
        _started, out = s_client_renegotiating(port_of(server), 1)
    assert b"hello bye" not in out
    assert [e.code for e in errors] == ["ERR_TLS_RENEGOTIATION_DISABLED"]


def test_client_disable_renegotiation_refuses_server(server_options, client_options):
    """A client that disabled renegotiation fails when the server renegotiates."""
    def handler(tls):
        tls.recv(100)
        try:
            tls.renegotiate()
        except greentls.TLSError:
            pass

    with serving(handler, max_version="TLSv1.2", **server_options) as server:
        tls = greentls.connect(port_of(server), "127.0.0.1", servername="localhost", **client_options)
        tls.disable_renegotiation()
        tls.sendall(b"go")
        with pytest.raises(greentls.RenegotiationError) as info:
            tls.recv(100)
        assert info.value.code == "ERR_TLS_RENEGOTIATION_DISABLED"


def test_server_renegotiates_to_request_client_certificate(server_options, client_options, client_cert):
    """A server's renegotiate(request_cert=True) obtains the client's certificate."""
    seen = {}

    def handler(tls):
        assert tls.recv(100) == b"hello"
        seen["before"] = tls.get_peer_certificate()
        tls.renegotiate(request_cert=True)
        seen["after"] = tls.get_peer_certificate()
        seen["authorized"] = tls.authorized
        tls.sendall(b"welcome")
        tls.recv(100)

    client_pem = client_cert.private_key_and_cert_chain_pem.bytes()
    with serving(handler, max_version="TLSv1.2", ca=client_options["ca"], **server_options) as server:
        tls = greentls.connect(port_of(server), "127.0.0.1", servername="localhost", key=client_pem,
                               cert=client_pem, **client_options)
        tls.sendall(b"hello")
        assert tls.recv(100) == b"welcome"
        tls.close()
    assert seen["before"] == {}
    assert seen["after"]["subject"]["CN"] == "test client"
    assert seen["authorized"] is True


@pytest.mark.parametrize("version", ["TLSv1.2", "TLSv1.3"])
def test_client_renegotiate(server_options, client_options, version):
    """Client renegotiate(): TLS 1.2 completes and data flows; TLS 1.3 raises ERR_TLS_RENEGOTIATE."""
    from helpers import echo
    with serving(echo, **server_options) as server:
        tls = greentls.connect(port_of(server), "127.0.0.1", servername="localhost",
                               max_version=version, **client_options)
        finished = tls.get_finished()
        if version == "TLSv1.3":
            with pytest.raises(greentls.TLSError) as info:
                tls.renegotiate()
            assert info.value.code == "ERR_TLS_RENEGOTIATE"
        else:
            tls.renegotiate()
            assert tls.get_finished() != finished  # a new handshake ran
        tls.sendall(b"after")
        assert tls.recv(100) == b"after"
        tls.close()


NODE_RENEGOTIATE = r"""
const tls = require('tls'); const fs = require('fs');
const [port, ca] = process.argv.slice(2);
const s = tls.connect({port: +port, host: '127.0.0.1', servername: 'localhost',
  ca: fs.readFileSync(ca), maxVersion: 'TLSv1.2'}, () => {
  const before = s.getFinished().toString('hex');
  s.renegotiate({rejectUnauthorized: true}, (err) => {
    if (err) { console.log(JSON.stringify({error: String(err)})); process.exit(1); }
    s.write('after');
    s.once('data', (d) => {
      console.log(JSON.stringify({data: d.toString(),
        changed: s.getFinished().toString('hex') !== before}));
      s.end();
    });
  });
});
"""


def test_node_client_renegotiate(need_node, server_options, cert_files):
    """A Node client's renegotiate() completes against a greentls server."""
    from helpers import echo
    with serving(echo, **server_options) as server:
        assert node(NODE_RENEGOTIATE, port_of(server), cert_files["ca"]) == {"data": "after", "changed": True}


def test_renegotiate_client_cert_example(tmp_path):
    """examples/renegotiate_client_cert.py obtains the client's certificate by renegotiation."""
    import os
    import sys
    examples = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")
    subprocess.run([sys.executable, os.path.join(examples, "make_certs.py"), str(tmp_path)], check=True,
                   stdout=subprocess.DEVNULL, timeout=60)
    result = subprocess.run([sys.executable, os.path.join(examples, "renegotiate_client_cert.py")],
                            env=dict(os.environ, CERTS=str(tmp_path)), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, timeout=30)
    assert result.returncode == 0, result.stderr.decode()
    out = result.stdout.decode()
    assert "before: no client certificate" in out
    assert "after renegotiation: client.example authorized" in out
    assert "client got: here you are" in out
