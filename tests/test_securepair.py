"""SecurePair/CryptoStream (Node's deprecated createSecurePair): in memory and against Node."""
from __future__ import annotations

import warnings

import gevent
import pytest
from gevent import socket as gsocket
from helpers import node_server

import greentls
from greentls import signals

VERSIONS = ["TLSv1.2", "TLSv1.3"]

NODE_ECHO_SERVER = r"""
const tls = require('tls'); const fs = require('fs');
const [key, cert, version] = process.argv.slice(2);
const srv = tls.createServer({key: fs.readFileSync(key), cert: fs.readFileSync(cert), maxVersion: version},
                             s => s.pipe(s));
srv.listen(0, '127.0.0.1', () => console.log(srv.address().port));
"""


def make_pair(*args, **kwargs):
    """create_secure_pair with its DeprecationWarning expected and checked."""
    with pytest.warns(DeprecationWarning, match="TLSSocket"):
        return greentls.create_secure_pair(*args, **kwargs)


def copy(read, write, end):
    """Copy until read returns b"", then signal the end."""
    while True:
        data = read(65536)
        if not data:
            end()
            return
        write(data)


def wire(a, b):
    """Two greenlets copying between two pairs' encrypted streams."""
    return [gevent.spawn(copy, a.encrypted.recv, b.encrypted.sendall, b.encrypted.end),
            gevent.spawn(copy, b.encrypted.recv, a.encrypted.sendall, a.encrypted.end)]


def test_create_secure_pair_warns_naming_tlssocket():
    """create_secure_pair warns DeprecationWarning naming the replacement, as Node's DEP0064."""
    with pytest.warns(DeprecationWarning, match="TLSSocket") as record:
        pair = greentls.create_secure_pair()
    assert len(record) == 1
    assert isinstance(pair, greentls.SecurePair)
    assert isinstance(pair.cleartext, greentls.CryptoStream)
    assert isinstance(pair.encrypted, greentls.CryptoStream)
    pair.destroy()


@pytest.mark.parametrize("version", VERSIONS)
def test_two_pairs_talk(version, server_options, client_options):
    """A client pair and a server pair wired through their encrypted streams talk, send
    `secure`, report the same cipher and count the TLS bytes they produced."""
    secured = []
    server = make_pair(greentls.create_secure_context(max_version=version, **server_options), True)
    client = make_pair(greentls.create_secure_context(**client_options), False,
                       options={"servername": "localhost"})

    def on_secure(sender):
        secured.append(sender)

    signals.secure.connect(on_secure, weak=False)
    try:
        copiers = wire(client, server)
        assert client.wait(10) and server.wait(10)
        client.cleartext.sendall(b"hello pair")
        assert server.cleartext.recv(100) == b"hello pair"
        server.cleartext.sendall(b"x" * 100000)
        got = b""
        while len(got) < 100000:
            got += client.cleartext.recv(65536)
        assert got == b"x" * 100000
    finally:
        signals.secure.disconnect(on_secure)
    assert set(secured) == {client, server}
    assert client.cleartext.get_protocol() == version == server.cleartext.get_protocol()
    assert client.cleartext.get_cipher() == server.cleartext.get_cipher()
    assert client.cleartext.authorized is True
    assert client.cleartext.get_peer_certificate()["subjectaltname"].startswith("DNS:localhost")
    # 100000 bytes of plaintext became more than 100000 bytes of records on the server's side.
    assert server.encrypted.bytes_written == server.cleartext.bytes_written > 100000
    assert 0 < client.encrypted.bytes_written < 10000
    client.cleartext.close()
    assert server.cleartext.recv(10) == b""
    server.cleartext.close()
    gevent.joinall(copiers, timeout=5)
    assert all(c.dead for c in copiers)


def test_pair_client_certificate(server_options, client_options, client_cert, ca):
    """A server pair with request_cert sees the client pair's certificate."""
    server = make_pair(greentls.create_secure_context(ca=ca.cert_pem.bytes(), **server_options), True, True, True)
    client_context = greentls.create_secure_context(
        key=client_cert.private_key_pem.bytes(), cert=client_cert.cert_chain_pems[0].bytes(), **client_options)
    client = make_pair(client_context)
    wire(client, server)
    assert client.wait(10) and server.wait(10)
    assert server.cleartext.authorized is True
    assert server.cleartext.get_peer_certificate()["subject"]["CN"] == "test client"
    client.destroy()
    server.destroy()


def test_pair_handshake_failure_is_reported(server_options):
    """A client pair with reject_unauthorized=True and an unknown CA fails; its cleartext raises."""
    server = make_pair(greentls.create_secure_context(**server_options), True)
    client = make_pair(None, False, False, True, {"servername": "localhost"})
    wire(client, server)
    assert client.wait(10) is False
    assert isinstance(client.error, greentls.CertificateError)
    with pytest.raises(greentls.CertificateError):
        client.cleartext.recv(10)
    assert server.wait(10) is False


@pytest.mark.parametrize("version", VERSIONS)
def test_pair_over_real_socket_with_node(version, need_node, cert_files, client_options):
    """A client pair wired to a gevent socket talks to Node's tls echo server."""
    with node_server(NODE_ECHO_SERVER, cert_files["key"], cert_files["cert"], version) as port:
        sock = gsocket.create_connection(("127.0.0.1", port))
        pair = make_pair(greentls.create_secure_context(**client_options), False, False, True,
                         {"servername": "localhost", "alpn_protocols": ["echo"]})
        copiers = [gevent.spawn(copy, pair.encrypted.recv, sock.sendall, lambda: sock.shutdown(1)),
                   gevent.spawn(copy, sock.recv, pair.encrypted.sendall, pair.encrypted.end)]
        pair.cleartext.sendall(b"over the pair")
        got = b""
        while len(got) < 13:
            got += pair.cleartext.recv(100)
        assert got == b"over the pair"
        assert pair.secured and pair.cleartext.authorized
        assert pair.cleartext.get_protocol() == version
        assert pair.cleartext.get_cipher()["version"] == ("TLSv1.3" if version == "TLSv1.3" else "TLSv1.2")
        assert pair.encrypted.bytes_written > 13
        pair.cleartext.close()
        gevent.joinall(copiers, timeout=5)
        sock.close()
        assert all(c.dead for c in copiers)


def test_unknown_option_named():
    """An unknown option in `options` raises TypeError naming it."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        with pytest.raises(TypeError, match="bogus"):
            greentls.create_secure_pair(options={"bogus": 1})


NODE_CLIENT = r"""
const tls = require('tls'); const fs = require('fs');
const [port, ca] = process.argv.slice(2);
const s = tls.connect({port: +port, host: '127.0.0.1', servername: 'localhost', ca: fs.readFileSync(ca)},
                      () => s.write('from node'));
s.on('data', d => { console.log(JSON.stringify({got: d.toString(), authorized: s.authorized,
                                                protocol: s.getProtocol()})); s.end(); });
s.on('error', e => { console.log(JSON.stringify({error: e.code || e.message})); });
"""


def test_server_pair_over_accepted_socket_with_node_client(need_node, server_options, cert_files):
    """A server pair wired to an accepted gevent socket serves Node's tls client and sees SNI."""
    from helpers import node
    listener = gsocket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    seen = {}

    def serve():
        sock, _ = listener.accept()
        pair = make_pair(greentls.create_secure_context(**server_options), True)
        copiers = [gevent.spawn(copy, pair.encrypted.recv, sock.sendall, lambda: sock.shutdown(1)),
                   gevent.spawn(copy, sock.recv, pair.encrypted.sendall, pair.encrypted.end)]
        data = pair.cleartext.recv(100)
        seen.update(data=data, servername=pair.cleartext.servername)
        pair.cleartext.sendall(data.upper())
        seen["end"] = pair.cleartext.recv(100)  # Node's end(): b""
        pair.cleartext.close()
        gevent.joinall(copiers, timeout=5)
        sock.close()

    server = gevent.spawn(serve)
    result = node(NODE_CLIENT, listener.getsockname()[1], cert_files["ca"])
    server.join(10)
    listener.close()
    assert result == {"got": "FROM NODE", "authorized": True, "protocol": "TLSv1.3"}
    assert seen == {"data": b"from node", "servername": "localhost", "end": b""}
