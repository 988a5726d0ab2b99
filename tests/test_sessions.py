"""Session resumption: greentls both sides, and against openssl and Node peers, TLS 1.2/1.3."""
from __future__ import annotations

import re

import gevent
import pytest
from helpers import node, node_server, openssl, port_of, serving

import greentls
from greentls._config.sessions import session_id_from_der

VERSIONS = ["TLSv1.2", "TLSv1.3"]


def reply_once(tls: greentls.TLSSocket) -> None:
    """Handler: echo one message, then close cleanly (close_notify keeps sessions resumable)."""
    data = tls.recv(65536)
    if data:
        tls.sendall(data)


def fetch(port: int, client_options: dict, version: str, **options) -> tuple:
    """One greentls client round trip; returns (reused, session bytes delivered by the signal,
    get_session(), get_tls_ticket())."""
    delivered = []
    tls = greentls.connect(port, "127.0.0.1", servername="localhost", max_version=version,
                           **client_options, **options)

    def on_session(sender, session):
        delivered.append(session)

    greentls.session.connect(on_session, sender=tls)
    try:
        tls.sendall(b"ping")
        assert tls.recv(100) == b"ping"
        assert tls.recv(100) == b""  # reads the TLS 1.3 tickets and the close_notify
        return tls.is_session_reused(), delivered, tls.get_session(), tls.get_tls_ticket()
    finally:
        greentls.session.disconnect(on_session)
        tls.close()


@pytest.mark.parametrize("version", VERSIONS)
def test_greentls_client_resumes_with_signalled_session(server_options, client_options, version):
    """A session delivered by the `session` signal resumes the next connection."""
    with serving(reply_once, **server_options) as server:
        reused, delivered, current, ticket = fetch(port_of(server), client_options, version)
        assert not reused and current
        # One per session, as Node's 'session' event: OpenSSL's server sends two TLS 1.3 tickets.
        assert len(delivered) == (2 if version == "TLSv1.3" else 1)
        assert len(set(delivered)) == len(delivered)
        assert ticket  # the server sent a ticket (RFC 5077 / RFC 8446 section 4.6.1)
        reused, _, _, _ = fetch(port_of(server), client_options, version, session=delivered[-1])
        assert reused


@pytest.mark.parametrize("version", VERSIONS)
def test_get_session_resumes_with_another_client_context(server_options, client_options, version):
    """get_session() bytes resume from a client built with a different context
    (docs/architecture.rst, "fact-sessions-as-bytes")."""
    with serving(reply_once, **server_options) as server:
        session = fetch(port_of(server), client_options, version)[2]
        other = greentls.create_secure_context(max_version=version, **client_options)
        tls = greentls.connect(port_of(server), "127.0.0.1", servername="localhost",
                               secure_context=other, session=session)
        tls.sendall(b"x")
        assert tls.recv(10) == b"x"
        reused = tls.is_session_reused()
        tls.close()
        assert reused


def test_bad_session_bytes_name_the_option(client_options):
    """session= that is not a DER session raises ValueError naming the option."""
    from gevent import socket
    left, right = socket.socketpair()
    with left, right, pytest.raises(ValueError, match="option 'session'"):
        greentls.TLSSocket(left, session=b"\x30\x03junk", **client_options)


@pytest.mark.parametrize(("version", "extra"), [("-tls1_2", []), ("-tls1_2", ["-no_ticket"]), ("-tls1_3", [])])
def test_openssl_client_resumes_from_greentls(need_openssl, server_options, cert_files, tmp_path, version, extra):
    """openssl s_client -sess_out/-sess_in resumes a greentls server's session (cache or ticket)."""
    sess = str(tmp_path / "sess.pem")
    with serving(reply_once, **server_options) as server:
        base = ["s_client", "-connect", f"127.0.0.1:{port_of(server)}", "-CAfile", cert_files["ca"],
                "-servername", "localhost", "-ign_eof", version, *extra]
        first = openssl([*base, "-sess_out", sess], input=b"hello\n")
        assert b"hello" in first.stdout and b"New, TLS" in first.stdout
        second = openssl([*base, "-sess_in", sess], input=b"again\n")
        assert b"again" in second.stdout and b"Reused, TLS" in second.stdout


def test_new_session_id_matches_openssl_client(need_openssl, server_options, cert_files, tmp_path):
    """new_session's session_id is the Session-ID s_client saw (TLS 1.2, session cache)."""
    heard = []

    def on_new(sender, session_id, session_data):
        heard.append((session_id, session_data))

    with serving(reply_once, **server_options) as server:
        greentls.new_session.connect(on_new, sender=server)
        result = openssl(["s_client", "-connect", f"127.0.0.1:{port_of(server)}", "-CAfile",
                          cert_files["ca"], "-ign_eof", "-tls1_2", "-no_ticket"], input=b"x\n")
        greentls.new_session.disconnect(on_new)
    shown = re.search(rb"Session-ID: ([0-9A-F]+)", result.stdout).group(1).decode()
    assert len(heard) == 1
    assert heard[0][0].hex().upper() == shown
    assert session_id_from_der(heard[0][1]) == heard[0][0]


def test_new_session_per_tls13_ticket(server_options, client_options):
    """TLS 1.3: new_session is sent once per ticket, as OpenSSL calls Node's newSession."""
    heard = []

    def on_new(sender, session_id, session_data):
        heard.append(session_id)

    with serving(reply_once, **server_options) as server:
        greentls.new_session.connect(on_new, sender=server)
        fetch(port_of(server), client_options, "TLSv1.3")
        greentls.new_session.disconnect(on_new)
    assert len(heard) == 2 and len(set(heard)) == 2 and all(len(i) == 32 for i in heard)


NODE_CLIENT = r"""
const tls = require('tls'); const fs = require('fs');
const [port, ca, version] = process.argv.slice(2);
function once(session) {
  return new Promise((resolve, reject) => {
    let latest = null, reused = null;
    const s = tls.connect({port: +port, host: '127.0.0.1', servername: 'localhost',
      ca: fs.readFileSync(ca), maxVersion: version, session}, () => {
        reused = s.isSessionReused(); s.write('ping'); });
    s.on('session', (sess) => { latest = sess; });
    s.on('data', () => {});
    s.on('error', reject);
    s.on('close', () => resolve({reused, session: latest}));
  });
}
(async () => {
  const a = await once(undefined);
  const b = await once(a.session);
  console.log(JSON.stringify([a.reused, b.reused]));
})();
"""


@pytest.mark.parametrize("version", VERSIONS)
def test_node_client_resumes_from_greentls(need_node, server_options, cert_files, version):
    """A Node client's `session` option resumes with a greentls server (isSessionReused)."""
    with serving(reply_once, **server_options) as server:
        assert node(NODE_CLIENT, port_of(server), cert_files["ca"], version) == [False, True]


NODE_SERVER = r"""
const tls = require('tls'); const fs = require('fs');
const [key, cert] = process.argv.slice(2);
const server = tls.createServer({key: fs.readFileSync(key), cert: fs.readFileSync(cert)}, (s) => {
  s.once('data', (d) => s.end(d));
});
server.listen(0, '127.0.0.1', () => console.log(server.address().port));
"""


@pytest.mark.parametrize("version", VERSIONS)
def test_greentls_client_resumes_with_node_server(need_node, cert_files, client_options, version):
    """A greentls client resumes a Node server's session."""
    with node_server(NODE_SERVER, cert_files["key"], cert_files["cert"]) as port:
        _, delivered, _, _ = fetch(port, client_options, version)
        reused, _, _, _ = fetch(port, client_options, version, session=delivered[-1])
    assert reused


@pytest.mark.parametrize("version", VERSIONS)
def test_greentls_client_resumes_with_openssl_server(need_openssl, cert_files, client_options, version):
    """A greentls client resumes an `openssl s_server` session."""
    from gevent import subprocess
    proc = subprocess.Popen(["openssl", "s_server", "-accept", "0", "-naccept", "2", "-rev",
                             "-cert", cert_files["cert"], "-key", cert_files["key"]],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        with gevent.Timeout(10):
            line = proc.stdout.readline()
            while b"ACCEPT" not in line:
                line = proc.stdout.readline()
        port = int(re.search(rb":(\d+)", line).group(1))
        sessions = []
        for _ in range(2):
            tls = greentls.connect(port, "127.0.0.1", servername="localhost", max_version=version,
                                   session=sessions[-1] if sessions else None, **client_options)
            tls.sendall(b"abc\n")
            assert tls.recv(100).strip() == b"cba"
            reused = tls.is_session_reused()
            sessions.append(tls.get_session())
            tls.close()
        assert reused
    finally:
        proc.kill()
        proc.wait()


def test_session_timeout_expires_sessions(server_options, client_options):
    """A session older than session_timeout no longer resumes."""
    with serving(reply_once, session_timeout=1, **server_options) as server:
        _, delivered, _, _ = fetch(port_of(server), client_options, "TLSv1.3")
        assert fetch(port_of(server), client_options, "TLSv1.3", session=delivered[-1])[0]
        gevent.sleep(2.5)
        assert not fetch(port_of(server), client_options, "TLSv1.3", session=delivered[-1])[0]


def test_ticket_keys_are_unsupported(server_options):
    """ticket_keys, get/set_ticket_keys raise UnsupportedError saying why
    (docs/architecture.rst, "fact-binding-gaps")."""
    assert greentls.capabilities["ticket_keys"] is False
    with pytest.raises(greentls.UnsupportedError, match="SSL_CTX_ctrl"):
        greentls.create_server(ticket_keys=b"k" * 48, **server_options)
    server = greentls.create_server(**server_options)
    with pytest.raises(greentls.UnsupportedError, match="ticket"):
        server.get_ticket_keys()
    with pytest.raises(greentls.UnsupportedError, match="ticket"):
        server.set_ticket_keys(b"k" * 48)


def test_resume_session_receivers_refuse_listen(server_options):
    """listen() raises UnsupportedError when resume_session has receivers for the server."""
    assert greentls.capabilities["external_session_cache"] is False
    server = greentls.create_server(**server_options)

    def lookup(sender, session_id):
        return None

    greentls.resume_session.connect(lookup, sender=server)
    try:
        with pytest.raises(greentls.UnsupportedError, match="SSL_CTX_sess_set_get_cb"):
            server.listen(0, "127.0.0.1")
    finally:
        greentls.resume_session.disconnect(lookup)
        server.close()


@pytest.mark.parametrize("version", VERSIONS)
def test_session_resumption_example(tmp_path, version):
    """examples/session_resumption.py resumes its second connection."""
    import os
    import sys

    from gevent import subprocess
    examples = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")
    subprocess.run([sys.executable, os.path.join(examples, "make_certs.py"), str(tmp_path)], check=True,
                   stdout=subprocess.DEVNULL, timeout=60)
    result = subprocess.run([sys.executable, os.path.join(examples, "session_resumption.py")],
                            env=dict(os.environ, CERTS=str(tmp_path), TLS=version),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
    assert result.returncode == 0, result.stderr.decode()
    out = result.stdout.decode()
    assert f"client: new session {version}" in out and f"client: reused {version}" in out
