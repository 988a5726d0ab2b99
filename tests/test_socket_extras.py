"""Finished messages, key exchange info, record sizes on the wire, keying material, key logs,
and the stdlib spellings, checked against real peers."""
from __future__ import annotations

import re

import gevent
import pytest
import trustme
from gevent import server as gserver, socket, subprocess
from helpers import echo, node, node_server, port_of, read_to_end, serving

import greentls

VERSIONS = ["TLSv1.2", "TLSv1.3"]


def client(server, client_options, **options) -> greentls.TLSSocket:
    """A greentls client connected to ``server`` (a greentls Server or a port)."""
    port = server if isinstance(server, int) else port_of(server)
    return greentls.connect(port, "127.0.0.1", servername="localhost", **client_options, **options)


@pytest.mark.parametrize("version", VERSIONS)
def test_finished_messages_cross_match(server_options, client_options, version):
    """get_finished() of one side equals get_peer_finished() of the other."""
    seen = {}

    def handler(tls):
        seen["finished"], seen["peer"] = tls.get_finished(), tls.get_peer_finished()
        echo(tls)

    with serving(handler, **server_options) as server:
        tls = client(server, client_options, max_version=version)
        tls.sendall(b"x")
        tls.recv(10)
        assert tls.get_finished() == seen["peer"] and tls.get_peer_finished() == seen["finished"]
        assert len(seen["finished"]) >= 12 and seen["finished"] != seen["peer"]
        tls.close()


@pytest.mark.parametrize(("curve", "version", "expected"), [
    ("X25519", "TLSv1.2", {"type": "ECDH", "name": "X25519", "size": 253}),
    ("P-256", "TLSv1.2", {"type": "ECDH", "name": "prime256v1", "size": 256}),
    ("P-384", "TLSv1.3", {"type": "ECDH", "name": "secp384r1", "size": 384}),
    ("P-521", "TLSv1.3", {"type": "ECDH", "name": "secp521r1", "size": 521}),
    ("X25519MLKEM768", "TLSv1.3", {"type": "ECDH", "name": "X25519MLKEM768", "size": 253}),
])
def test_ephemeral_key_info(server_options, client_options, curve, version, expected):
    """Client get_ephemeral_key_info() names the group as Node does; a server reports None."""
    seen = {}

    def handler(tls):
        seen["server"] = tls.get_ephemeral_key_info()
        echo(tls)

    with serving(handler, ecdh_curve=curve, **server_options) as server:
        tls = client(server, client_options, max_version=version)
        tls.sendall(b"x")
        tls.recv(10)
        assert tls.get_ephemeral_key_info() == expected
        tls.close()
    assert seen["server"] is None


@pytest.fixture(scope="module")
def rsa_files(tmp_path_factory):
    """An RSA server certificate (DHE-RSA suites need one), its CA, and DH parameter files."""
    ca = trustme.CA(key_type=trustme.KeyType.RSA)
    leaf = ca.issue_cert("localhost", "127.0.0.1", key_type=trustme.KeyType.RSA)
    folder = tmp_path_factory.mktemp("rsa")
    paths = {name: str(folder / f"{name}.pem") for name in ("ca", "cert", "key", "dh1024", "dh2048")}
    ca.cert_pem.write_to_path(paths["ca"])
    leaf.cert_chain_pems[0].write_to_path(paths["cert"])
    leaf.private_key_pem.write_to_path(paths["key"])
    # PKCS#3 parameters (s_server refuses -dsaparam's X9.42 form): a fresh 1024-bit safe prime,
    # and RFC 3526's 2048-bit MODP group.
    subprocess.run(["openssl", "dhparam", "-out", paths["dh1024"], "1024"], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    subprocess.run(["openssl", "genpkey", "-genparam", "-algorithm", "DH", "-pkeyopt", "group:modp_2048",
                    "-out", paths["dh2048"]], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return paths


def read_bytes(path: str) -> bytes:
    """The contents of a file."""
    with open(path, "rb") as f:
        return f.read()


def s_server(rsa_files, *extra):
    """Start `openssl s_server` (TLS 1.2, DHE only); returns (process, port)."""
    proc = subprocess.Popen(["openssl", "s_server", "-accept", "0", "-naccept", "1", "-rev",
                             "-tls1_2", "-cipher", "DHE-RSA-AES128-GCM-SHA256:@SECLEVEL=0",
                             "-cert", rsa_files["cert"], "-key", rsa_files["key"], *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    with gevent.Timeout(10):
        line = proc.stdout.readline()
        while b"ACCEPT" not in line:
            line = proc.stdout.readline()
    return proc, int(re.search(rb":(\d+)", line).group(1))


@pytest.mark.parametrize("bits", [1024, 2048])
def test_ephemeral_key_info_dhe_with_server_parameters(need_openssl, rsa_files, bits):
    """TLS 1.2 DHE with the server's own parameters reports {"type": "DH", "size": bits}."""
    proc, port = s_server(rsa_files, "-dhparam", rsa_files[f"dh{bits}"])
    try:  # @SECLEVEL=1: OpenSSL 4's default level 2 itself refuses DH under 2048 bits
        tls = greentls.connect(port, "127.0.0.1", ca=read_bytes(rsa_files["ca"]),
                               servername="localhost", ciphers="DHE-RSA-AES128-GCM-SHA256:@SECLEVEL=1")
        assert tls.get_ephemeral_key_info() == {"type": "DH", "size": bits}
        tls.sendall(b"abc\n")
        assert tls.recv(10).strip() == b"cba"
        tls.close()
    finally:
        proc.kill()
        proc.wait()


def test_min_dh_size_refuses_small_groups(need_openssl, rsa_files):
    """min_dh_size=2048 refuses a 1024-bit DHE server with ERR_TLS_DH_PARAM_SIZE."""
    proc, port = s_server(rsa_files, "-dhparam", rsa_files["dh1024"])
    try:
        with pytest.raises(greentls.TLSError) as info:
            greentls.connect(port, "127.0.0.1", ca=read_bytes(rsa_files["ca"]),
                             servername="localhost", ciphers="DHE-RSA-AES128-GCM-SHA256:@SECLEVEL=1",
                             min_dh_size=2048)
        assert info.value.code == "ERR_TLS_DH_PARAM_SIZE"
    finally:
        proc.kill()
        proc.wait()


class RecordRelay:
    """A TCP relay that forwards bytes both ways and records the lengths of the TLS records
    the client sends (RFC 8446 section 5.1 / RFC 5246 section 6.2 record headers)."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.lengths: list = []
        #: (header, body) of each application_data record the client sent.
        self.wire: list = []
        self.server = gserver.StreamServer(("127.0.0.1", 0), self._handle)
        self.server.start()
        self.port = self.server.server_port

    def _handle(self, sock, _address) -> None:
        upstream = socket.create_connection(("127.0.0.1", self.target_port))
        back = gevent.spawn(self._copy, upstream, sock)
        try:
            self._relay(sock, upstream)
        except OSError:
            pass  # an endpoint went away: the test asserts on what was seen
        finally:
            back.join()
            upstream.close()

    def _relay(self, sock, upstream) -> None:
        buffered = b""
        while True:
            data = sock.recv(65536)
            if not data:
                break
            buffered += data
            while len(buffered) >= 5 and len(buffered) >= 5 + int.from_bytes(buffered[3:5], "big"):
                length = int.from_bytes(buffered[3:5], "big")
                if buffered[0] == 23:  # application_data
                    self.lengths.append(length)
                    self.wire.append((buffered[:5], buffered[5:5 + length]))
                buffered = buffered[5 + length:]
            upstream.sendall(data)  # after counting: the server's progress proves the count
        upstream.shutdown(socket.SHUT_WR)

    @staticmethod
    def _copy(source, sink) -> None:
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                sink.sendall(data)
        except OSError:
            pass

    def close(self) -> None:
        self.server.stop()


@pytest.mark.parametrize("version", VERSIONS)
def test_set_max_send_fragment_limits_records_on_the_wire(server_options, client_options, version):
    """After set_max_send_fragment(1024) every record carries at most 1024 plaintext bytes."""
    received = []

    def handler(tls):
        while True:
            data = tls.recv(65536)
            if not data:
                return
            received.append(data)

    # AEAD overhead per record: 16-byte tag, TLS 1.3 content type byte, TLS 1.2 8-byte nonce.
    overhead = 16 + 8 + 1
    with serving(handler, **server_options) as server:
        relay = RecordRelay(port_of(server))
        tls = client(relay.port, client_options, max_version=version)
        tls.sendall(b"a" * 40000)
        with gevent.Timeout(10):
            while sum(map(len, received)) < 40000:
                gevent.sleep(0.01)
        big = max(relay.lengths)
        relay.lengths.clear()
        assert tls.set_max_send_fragment(1024) is True
        tls.sendall(b"b" * 40000)
        with gevent.Timeout(10):
            while sum(map(len, received)) < 80000:
                gevent.sleep(0.01)
        tls.close()
        relay.close()
    assert big > 16000  # without a limit, full 16 KiB records
    assert max(relay.lengths) <= 1024 + overhead and len(relay.lengths) >= 40000 // 1024
    assert b"".join(received) == b"a" * 40000 + b"b" * 40000


def test_set_max_send_fragment_range(server_options, client_options):
    """Sizes outside 512..16384 return False and change nothing; a non-int raises TypeError."""
    with serving(echo, **server_options) as server:
        tls = client(server, client_options)
        assert tls.set_max_send_fragment(511) is False
        assert tls.set_max_send_fragment(16385) is False
        assert tls.set_max_send_fragment(512) is True
        with pytest.raises(TypeError, match="size"):
            tls.set_max_send_fragment("1024")
        tls.close()


NODE_EKM_SERVER = r"""
const tls = require('tls'); const fs = require('fs');
const [key, cert, version] = process.argv.slice(2);
const server = tls.createServer({key: fs.readFileSync(key), cert: fs.readFileSync(cert),
                                 maxVersion: version}, (s) => {
  const a = s.exportKeyingMaterial(32, 'EXPERIMENTAL-greentls');
  const b = s.exportKeyingMaterial(16, 'EXPERIMENTAL-ctx', Buffer.from('context'));
  s.end(a.toString('hex') + ' ' + b.toString('hex'));
});
server.listen(0, '127.0.0.1', () => console.log(server.address().port));
"""


@pytest.mark.parametrize("version", VERSIONS)
def test_export_keying_material_matches_node(need_node, cert_files, client_options, version):
    """export_keying_material() equals a Node server's exportKeyingMaterial (RFC 5705)."""
    with node_server(NODE_EKM_SERVER, cert_files["key"], cert_files["cert"], version) as port:
        tls = client(port, client_options, max_version=version)
        theirs = read_to_end(tls, 1000)
        ours = (tls.export_keying_material(32, "EXPERIMENTAL-greentls").hex() + " " +
                tls.export_keying_material(16, "EXPERIMENTAL-ctx", b"context").hex())
        tls.close()
    assert theirs.decode() == ours


NODE_KEYLOG_CLIENT = r"""
const tls = require('tls'); const fs = require('fs');
const [port, ca, version] = process.argv.slice(2);
const lines = [];
const s = tls.connect({port: +port, host: '127.0.0.1', servername: 'localhost',
  ca: fs.readFileSync(ca), maxVersion: version}, () => s.end('bye'));
s.on('keylog', (line) => lines.push(line.toString().trim()));
s.on('data', () => {});
s.on('close', () => console.log(JSON.stringify(lines)));
"""


@pytest.mark.parametrize("version", VERSIONS)
def test_keylog_lines_match_node_peer(need_node, server_options, cert_files, version):
    """The server's keylog lines are the very secrets a Node client logs for the connection."""
    lines = []

    def on_keylog(sender, line):
        lines.append(line.decode())

    def handler(tls):
        greentls.keylog.disconnect(on_keylog)
        echo(tls)

    greentls.keylog.connect(on_keylog)
    try:
        with serving(handler, **server_options) as server:
            theirs = node(NODE_KEYLOG_CLIENT, port_of(server), cert_files["ca"], version)
    finally:
        greentls.keylog.disconnect(on_keylog)
    assert theirs and sorted(lines) == sorted(theirs)
    labels = {line.split()[0] for line in lines}
    if version == "TLSv1.3":
        assert {"CLIENT_HANDSHAKE_TRAFFIC_SECRET", "CLIENT_TRAFFIC_SECRET_0"} <= labels
    else:
        assert labels == {"CLIENT_RANDOM"}


def test_sslkeylogfile_is_appended(server_options, client_options, tmp_path, monkeypatch):
    """SSLKEYLOGFILE receives both sides' lines, appended, as curl does."""
    path = tmp_path / "keys.log"
    path.write_text("# existing\n")
    monkeypatch.setenv("SSLKEYLOGFILE", str(path))
    client_lines = []

    with serving(echo, **server_options) as server:
        tls = greentls.TLSSocket(socket.create_connection(("127.0.0.1", port_of(server))),
                                 servername="localhost", **client_options)
        greentls.keylog.connect(lambda sender, line: client_lines.append(line), sender=tls, weak=False)
        tls.do_handshake()
        tls.sendall(b"x")
        tls.recv(10)
        tls.close()
    monkeypatch.delenv("SSLKEYLOGFILE")
    text = path.read_text().splitlines()
    assert text[0] == "# existing"
    assert len(client_lines) == 5  # TLS 1.3: five secrets per side
    assert len(text) == 1 + 2 * 5
    assert {line.decode() for line in client_lines} <= set(text)


def test_keylog_decrypts_a_record(server_options, client_options):
    """The logged TLS 1.3 client traffic secret decrypts the client's first application record
    (RFC 8446 section 7.3 key schedule), read off the wire by a relay."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand

    def expand_label(secret, label, length):
        full = b"tls13 " + label
        info = length.to_bytes(2, "big") + bytes([len(full)]) + full + b"\x00"
        return HKDFExpand(hashes.SHA256(), length, info).derive(secret)

    lines = []
    with serving(echo, **server_options) as server:
        relay = RecordRelay(port_of(server))
        tls = greentls.TLSSocket(socket.create_connection(("127.0.0.1", relay.port)),
                                 servername="localhost", ciphers="TLS_AES_128_GCM_SHA256", **client_options)
        greentls.keylog.connect(lambda sender, line: lines.append(line), sender=tls, weak=False)
        tls.do_handshake()
        tls.sendall(b"secret message")
        assert tls.recv(100) == b"secret message"
        tls.close()
        relay.close()
    secret_line = next(line for line in lines if line.startswith(b"CLIENT_TRAFFIC_SECRET_0"))
    secret = bytes.fromhex(secret_line.split()[2].decode())
    key, iv = expand_label(secret, b"key", 16), expand_label(secret, b"iv", 12)
    assert relay.wire, "the relay saw no client records"
    header, body = relay.wire[1]  # wire[0] is the client's Finished, under handshake keys
    plain = AESGCM(key).decrypt(iv, body, header)  # sequence number 0: nonce = iv
    assert plain == b"secret message\x17"  # inner content type application_data


@pytest.mark.parametrize("version", VERSIONS)
def test_stdlib_spellings(server_options, client_options, version):
    """cipher(), version(), selected_alpn_protocol(), server_hostname as ssl.SSLSocket has them."""
    seen = {}

    def handler(tls):
        seen.update(cipher=tls.cipher(), version=tls.version(), hostname=tls.server_hostname)
        echo(tls)

    with serving(handler, alpn_protocols=["h2", "http/1.1"], **server_options) as server:
        tls = client(server, client_options, max_version=version, alpn_protocols=["http/1.1"])
        tls.sendall(b"x")
        tls.recv(10)
        name, proto, bits = tls.cipher()
        assert name == tls.get_cipher()["name"] and proto == version and bits in (128, 256)
        assert tls.version() == version and seen["version"] == version
        assert seen["cipher"] == tls.cipher()
        assert tls.selected_alpn_protocol() == "http/1.1"
        assert tls.server_hostname == "localhost" and seen["hostname"] is None
        tls.close()
        assert tls.version() is None


NODE_X509_SERVER = r"""
const tls = require('tls'); const fs = require('fs');
const [key, cert, ca] = process.argv.slice(2);
const server = tls.createServer({key: fs.readFileSync(key), cert: fs.readFileSync(cert),
                                 ca: fs.readFileSync(ca), requestCert: true}, (s) => {
  const own = s.getX509Certificate(), peer = s.getPeerX509Certificate();
  s.end(JSON.stringify({own: own && own.fingerprint256, peer: peer && peer.fingerprint256}));
});
server.listen(0, '127.0.0.1', () => console.log(server.address().port));
"""


def _fingerprint(cert) -> str:
    """Node's ``fingerprint256`` spelling: upper-case hex pairs joined by colons."""
    from cryptography.hazmat.primitives import hashes
    return ":".join(f"{b:02X}" for b in cert.fingerprint(hashes.SHA256()))


@pytest.mark.parametrize("version", VERSIONS)
def test_x509_getters_match_node(need_node, cert_files, client_options, version):
    """get_x509_certificate()/get_peer_x509_certificate() are the certificates a Node server's
    getPeerX509Certificate()/getX509Certificate() see, as cryptography objects."""
    import json

    from cryptography import x509
    with node_server(NODE_X509_SERVER, cert_files["key"], cert_files["cert"], cert_files["ca"]) as port:
        tls = client(port, client_options, max_version=version, cert=read_bytes(cert_files["client_cert"]),
                     key=read_bytes(cert_files["client_key"]))
        theirs = read_to_end(tls, 1000)
        own, peer = tls.get_x509_certificate(), tls.get_peer_x509_certificate()
        tls.close()
    assert isinstance(own, x509.Certificate) and isinstance(peer, x509.Certificate)
    assert peer == x509.load_pem_x509_certificates(read_bytes(cert_files["cert"]))[0]
    assert own == x509.load_pem_x509_certificates(read_bytes(cert_files["client_cert"]))[0]
    assert json.loads(theirs) == {"own": _fingerprint(peer), "peer": _fingerprint(own)}


def test_x509_getters_without_certificates(need_node, server_options, cert_files):
    """A server whose Node client sends no certificate: the peer getter answers None, the
    server's own is its leaf certificate."""
    from cryptography import x509
    seen = {}

    def handler(tls):
        seen["own"], seen["peer"] = tls.get_x509_certificate(), tls.get_peer_x509_certificate()
        tls.sendall(b"bye")

    with serving(handler, request_cert=True, reject_unauthorized=False, **server_options) as server:
        node(NODE_KEYLOG_CLIENT, port_of(server), cert_files["ca"], "TLSv1.3")
    assert seen["peer"] is None
    assert seen["own"] == x509.load_pem_x509_certificates(server_options["cert"])[0]


def test_recv_into_stays_in_the_buffer_and_refuses_flags(server_options, client_options):
    """recv_into never lets OpenSSL write past the caller's buffer: a count past its end reads
    up to its length, as the stdlib's SSLSocket does; non-zero flags (which a TLS socket cannot
    honour: MSG_PEEK would consume) raise ValueError, as the stdlib's do."""
    import socket as stdlib_socket
    with serving(echo, **server_options) as server:
        tls = greentls.connect(port_of(server), "127.0.0.1", servername="localhost", **client_options)
        tls.sendall(b"x" * 100)
        backing = bytearray(32)
        window = memoryview(backing)[:16]
        count = 0
        while count < 16:  # the echo may come back in pieces
            count += tls.recv_into(window[count:], 4000)
        assert count == 16 and backing == b"x" * 16 + bytes(16)
        for call in (lambda: tls.recv(10, stdlib_socket.MSG_PEEK), lambda: tls.recv_into(window, 0, 1),
                     lambda: tls.send(b"y", 1), lambda: tls.sendall(b"y", 1)):
            with pytest.raises(ValueError, match="non-zero flags"):
                call()
        assert tls.recv_into(window) == 16
        tls.close()


@pytest.mark.parametrize("version", ["TLSv1.2", "TLSv1.3"])
def test_resumed_session_keeps_a_failed_identity_check(version, server_options, client_options):
    """A client with reject_unauthorized=False that met a certificate for another name is
    authorized=False; resuming that session never upgrades it (the name is checked again)."""
    with serving(echo, **server_options) as server:
        def attempt(session=None):
            tls = greentls.connect(port_of(server), "127.0.0.1", servername="wrong.example",
                                   reject_unauthorized=False, max_version=version, session=session,
                                   **client_options)
            tls.sendall(b"ping")
            assert tls.recv(4) == b"ping"  # TLS 1.3: the ticket has arrived by now
            result = (tls.authorized, tls.authorization_error, tls.is_session_reused(), tls.get_session())
            tls.close()
            return result
        authorized, error, reused, session = attempt()
        assert (authorized, reused) == (False, False) and error == "ERR_TLS_CERT_ALTNAME_INVALID"
        authorized, error, reused, _ = attempt(session)
        assert reused and not authorized and error == "ERR_TLS_CERT_ALTNAME_INVALID"
