"""SNI: add_context (exact, wildcard, newest wins), sni_callback, servername, set_secure_context."""
from __future__ import annotations

import os
import socket
import sys
import time

import gevent
import pytest
from gevent import subprocess
from helpers import echo, node, openssl, port_of, serving

import greentls
from greentls._net.sni import SNITable

VERSIONS = ["TLSv1.2", "TLSv1.3"]


@pytest.fixture(scope="module")
def names(ca) -> dict:
    """Context options for several certificates of the test CA, by the name each covers."""
    out = {}
    for name in ("a.example.com", "b.example.com", "*.wild.example.com", "other.example.com"):
        leaf = ca.issue_cert(name)
        out[name] = {"key": leaf.private_key_pem.bytes(), "cert": leaf.cert_chain_pems[0].bytes()}
    return out


def _san(port: int, servername, ca, version: str = "TLSv1.3") -> str:
    tls = greentls.connect(port, "127.0.0.1", servername=servername, ca=ca.cert_pem.bytes(),
                           max_version=version, reject_unauthorized=False)
    try:
        assert tls.servername == servername
        return tls.get_peer_certificate()["subjectaltname"]
    finally:
        tls.close()


@pytest.mark.parametrize("version", VERSIONS)
def test_each_name_gets_its_certificate(version, names, ca, server_options):
    """greentls's client gets the exact, the wildcard and (for unknown names) the default certificate."""
    with serving(echo, **server_options) as server:
        for name in ("a.example.com", "b.example.com", "*.wild.example.com"):
            server.add_context(name, greentls.create_secure_context(**names[name]))
        port = port_of(server)
        assert _san(port, "a.example.com", ca, version) == "DNS:a.example.com"
        assert _san(port, "b.example.com", ca, version) == "DNS:b.example.com"
        assert _san(port, "x.wild.example.com", ca, version) == "DNS:*.wild.example.com"
        assert _san(port, "unknown.example.com", ca, version).startswith("DNS:localhost")
        # "*" covers one label only: a deeper name falls back to the default.
        assert _san(port, "y.x.wild.example.com", ca, version).startswith("DNS:localhost")


def test_newest_entry_wins(names, ca, server_options):
    """Of two matching entries the newest wins, exact or wildcard (Node scans newest first)."""
    with serving(echo, **server_options) as server:
        server.add_context("a.example.com", names["a.example.com"])      # dicts work too
        server.add_context("*.example.com", names["other.example.com"])
        assert _san(port_of(server), "a.example.com", ca) == "DNS:other.example.com"
        server.add_context("a.example.com", names["b.example.com"])
        assert _san(port_of(server), "a.example.com", ca) == "DNS:b.example.com"


def test_table_matches_node_semantics():
    """The table follows Node's regex: '*' is [^.]* (may be empty), case-sensitive, other '*' forms scan."""
    table = SNITable()
    table.add("*.example.com", "wild")
    table.add("www.*.org", "middle")
    table.add("Exact.com", "exact")
    assert table.lookup("a.example.com") == "wild"
    assert table.lookup(".example.com") == "wild"       # Node: [^.]* matches the empty label
    assert table.lookup("example.com") is None
    assert table.lookup("a.b.example.com") is None
    assert table.lookup("www.x.org") == "middle"
    assert table.lookup("www.x.y.org") is None
    assert table.lookup("Exact.com") == "exact"
    assert table.lookup("exact.com") is None            # Node's regex has no "i" flag
    with pytest.raises(TypeError, match="hostname"):
        table.add("", "x")


def test_add_context_rejects_bad_context(server_options):
    """add_context names its argument when the context is neither a SecureContext nor a dict."""
    server = greentls.create_server(**server_options)
    with pytest.raises(TypeError, match="context"):
        server.add_context("a.example.com", 42)


@pytest.mark.parametrize("version", VERSIONS)
def test_openssl_servername(need_openssl, version, names, ca, server_options, cert_files):
    """openssl s_client -servername receives the certificate added for that name."""
    flag = "-tls1_3" if version == "TLSv1.3" else "-tls1_2"
    with serving(echo, **server_options) as server:
        server.add_context("a.example.com", names["a.example.com"])
        server.add_context("*.wild.example.com", names["*.wild.example.com"])
        for servername, expected in (("a.example.com", "a.example.com"),
                                     ("q.wild.example.com", "*.wild.example.com")):
            out = openssl(["s_client", "-connect", f"127.0.0.1:{port_of(server)}", "-servername", servername,
                           "-CAfile", cert_files["ca"], flag]).stdout.decode()
            pem = out[out.index("-----BEGIN CERTIFICATE-----"):out.index("-----END CERTIFICATE-----") + 25]
            assert pem.encode() == names[expected]["cert"].strip()
            assert "Verify return code: 0" in out


NODE_SNI_CLIENT = r"""
const tls = require('tls'); const fs = require('fs');
const [port, ca, servername] = process.argv.slice(2);
const s = tls.connect({port: +port, host: '127.0.0.1', servername, ca: fs.readFileSync(ca),
                       checkServerIdentity: () => undefined}, () => {
  console.log(JSON.stringify({san: s.getPeerCertificate().subjectaltname, authorized: s.authorized}));
  s.end(); });
s.on('error', e => { console.log(JSON.stringify({error: e.code})); process.exit(0); });
"""


def test_node_servername(need_node, names, server_options, cert_files):
    """A Node client's servername selects the matching certificate; the server sees the name."""
    seen: list = []
    with serving(lambda tls: seen.append(tls.servername), **server_options) as server:
        server.add_context("b.example.com", names["b.example.com"])
        result = node(NODE_SNI_CLIENT, port_of(server), cert_files["ca"], "b.example.com")
    assert result == {"san": "DNS:b.example.com", "authorized": True}
    assert seen == ["b.example.com"]


def test_sni_callback_may_block_without_delaying_others(names, ca, server_options):
    """An sni_callback sleeping 200 ms for one client does not delay other clients."""
    def sni_callback(servername):
        if servername == "a.example.com":
            gevent.sleep(0.2)
        return names.get(servername)

    def client(servername):
        san = _san(port, servername, ca)
        return time.monotonic(), san

    with serving(echo, sni_callback=sni_callback, **server_options) as server:
        port = port_of(server)
        slow = gevent.spawn(client, "a.example.com")
        gevent.sleep(0.02)
        fast = [gevent.spawn(client, "b.example.com") for _ in range(10)]
        gevent.joinall([*fast, slow], raise_error=True)
    assert slow.value[1] == "DNS:a.example.com"
    assert all(g.value[1] == "DNS:b.example.com" for g in fast)
    assert max(g.value[0] for g in fast) < slow.value[0]


def test_sni_callback_none_means_default(ca, server_options):
    """sni_callback returning None serves the default context; the server socket has the name."""
    names_seen: list = []
    with serving(lambda tls: names_seen.append(tls.servername), sni_callback=lambda name: None,
                 **server_options) as server:
        assert _san(port_of(server), "nothing.example.com", ca).startswith("DNS:localhost")
    assert names_seen == ["nothing.example.com"]


def test_servername_none_without_sni(ca, server_options):
    """A client connecting by IP sends no SNI: both sides report servername None."""
    seen: list = []
    with serving(lambda tls: seen.append(tls.servername), **server_options) as server:
        tls = greentls.connect(port_of(server), "127.0.0.1", ca=ca.cert_pem.bytes())
        assert tls.servername is None
        tls.close()
    assert seen == [None]


@pytest.mark.parametrize("decides", [False, True], ids=["openssl-reads-hello", "hello-parsed"])
@pytest.mark.parametrize("version", VERSIONS)
def test_server_sees_servername_with_or_without_hello_parse(ca, server_options, decides, version):
    """The server's servername is the client's SNI whether the server parses the hello (it has
    an SNI callback) or lets OpenSSL read it unparsed (nothing to decide), on a full and on a
    resumed handshake (TLS 1.2 keeps it in the session), and None without SNI."""
    seen: list = []
    options = dict(server_options, sni_callback=lambda name: None) if decides else server_options

    def handler(tls):
        seen.append((tls.servername, tls.is_session_reused()))
        echo(tls)

    with serving(handler, **options) as server:
        assert server.hello_policy.decides() is decides
        for name in ("localhost", None):
            session = None
            for _ in range(2):
                tls = greentls.connect(port_of(server), "127.0.0.1", servername=name, ca=ca.cert_pem.bytes(),
                                       max_version=version, reject_unauthorized=False, session=session)
                tls.sendall(b"x")
                assert tls.recv(1) == b"x"  # TLS 1.3: the ticket has arrived
                session = tls.get_session()
                tls.close()
    assert seen == [("localhost", False), ("localhost", True), (None, False), (None, True)]


def test_openssl_client_servername_on_unparsed_hello(need_openssl, server_options, cert_files, tmp_path):
    """openssl s_client -servername against a server that does not parse hellos: the server
    sees the name on a full TLS 1.2 handshake and on the resumption of its session."""
    seen: list = []

    def handler(tls):
        seen.append((tls.servername, tls.is_session_reused()))
        echo(tls)

    session = tmp_path / "session.pem"
    with serving(handler, **server_options) as server:
        assert not server.hello_policy.decides()
        common = ["s_client", "-connect", f"127.0.0.1:{port_of(server)}", "-servername", "localhost",
                  "-CAfile", cert_files["ca"], "-tls1_2"]
        first = openssl([*common, "-sess_out", str(session)], input=b"hi\n", timeout=20)
        second = openssl([*common, "-sess_in", str(session)], input=b"hi\n", timeout=20)
        with gevent.Timeout(5):
            while len(seen) < 2:
                gevent.sleep(0.01)
    assert b"Reused, TLSv1.2" in second.stdout, (first.stdout[-500:], second.stdout[-500:])
    assert seen == [("localhost", False), ("localhost", True)]


@pytest.mark.parametrize("decides", [False, True], ids=["openssl-reads-hello", "hello-parsed"])
def test_failed_handshake_reports_servername(ca, server_options, decides):
    """A tls_client_error receiver sees the name the client asked for on both hello paths
    (here the server requires a certificate the client does not send)."""
    options = dict(server_options, request_cert=True, ca=ca.cert_pem.bytes())
    if decides:
        options["sni_callback"] = lambda name: None
    names_seen: list = []

    def receiver(_server, exception, tls_socket):
        names_seen.append(tls_socket.servername)

    with serving(echo, **options) as server:
        greentls.tls_client_error.connect(receiver, sender=server, weak=False)
        try:
            with pytest.raises((greentls.TLSError, OSError)):
                tls = greentls.connect(port_of(server), "127.0.0.1", servername="localhost",
                                       ca=ca.cert_pem.bytes(), timeout=5)
                try:
                    tls.recv(1)  # TLS 1.3: the refusal arrives after the client's Finished
                finally:
                    tls.close()
            with gevent.Timeout(5):
                while not names_seen:
                    gevent.sleep(0.01)
        finally:
            greentls.tls_client_error.disconnect(receiver, sender=server)
    assert names_seen == ["localhost"]


def test_set_secure_context_rotation(names, ca, server_options):
    """set_secure_context serves new connections the new certificate; an open one keeps its own."""
    with serving(echo, **server_options) as server:
        port = port_of(server)
        old = greentls.connect(port, "127.0.0.1", ca=ca.cert_pem.bytes(), reject_unauthorized=False)
        old.sendall(b"ping")
        assert old.recv(4) == b"ping"
        server.set_secure_context(**names["other.example.com"])
        new = greentls.connect(port, "127.0.0.1", ca=ca.cert_pem.bytes(), reject_unauthorized=False)
        assert new.get_peer_certificate()["subjectaltname"] == "DNS:other.example.com"
        old.sendall(b"pong")
        assert old.recv(4) == b"pong"  # the old connection still runs on its context
        assert old.get_peer_certificate()["subjectaltname"].startswith("DNS:localhost")
        old.close()
        new.close()


def test_example_runs():
    """examples/sni_server.py runs as its docstring says and prints what it shows."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    result = subprocess.run([sys.executable, os.path.join(here, "examples", "sni_server.py")], timeout=60,
                            env=dict(os.environ, PORT=str(port)), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert result.returncode == 0, result.stderr[-2000:]
    for expected in [b"shop.example.com: certificate DNS:*.example.com",
                     b"api.example.com: certificate DNS:api.example.com"]:
        assert expected in result.stdout, result.stdout


@pytest.mark.parametrize("split", [None, 1, 7, 100])
def test_sni_whether_the_hello_comes_whole_or_split(split, names, ca, server_options):
    """The seam sees the ClientHello however it arrives: whole in one segment (read with MSG_PEEK,
    and the handshake then runs on the descriptor) or split over segments (read through the
    memory BIOs, split=1 even leaves the first peek without a record header); either way the SNI
    context is chosen and data flows."""
    import ssl

    from gevent import socket as gsocket

    client_context = ssl.create_default_context(cadata=ca.cert_pem.bytes().decode())
    with serving(echo, **server_options) as server:
        server.add_context("a.example.com", names["a.example.com"])
        raw = gsocket.create_connection(("127.0.0.1", port_of(server)))
        try:
            _handshake_and_ping(raw, client_context, split)
        finally:
            raw.close()


def _handshake_and_ping(raw, client_context, split):
    """Drive an ssl.SSLObject over ``raw``, sending its ClientHello whole or in two pieces."""
    import ssl

    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = client_context.wrap_bio(incoming, outgoing, server_hostname="a.example.com")
    with pytest.raises(ssl.SSLWantReadError):
        tls.do_handshake()
    hello = outgoing.read()
    if split is None:
        raw.sendall(hello)
    else:
        raw.sendall(hello[:split])
        gevent.sleep(0.05)  # let the server read the first piece alone
        raw.sendall(hello[split:])
    while True:
        try:
            tls.do_handshake()
            break
        except ssl.SSLWantReadError:
            raw.sendall(outgoing.read())
            incoming.write(raw.recv(65536))
    raw.sendall(outgoing.read())
    assert tls.getpeercert()["subjectAltName"] == (("DNS", "a.example.com"),)
    tls.write(b"ping")
    raw.sendall(outgoing.read())
    reply = b""
    while not reply:
        incoming.write(raw.recv(65536))
        try:
            reply = tls.read(100)
        except ssl.SSLWantReadError:
            pass
    assert reply == b"ping"
