"""get_peer_certificate()/get_certificate() over live connections equal what Node reports, key by key.

The same certificates (RSA and ECDSA, a leaf under an intermediate) serve both sides: a Node peer's
``getPeerCertificate(true)`` is the reference for greentls's ``get_peer_certificate(detailed=True)``.
"""
from __future__ import annotations

import json

import pytest
import trustme
from helpers import node, node_server, port_of, serving

import greentls

pytestmark = pytest.mark.usefixtures("need_node")

#: Turns Node certificate objects into JSON: Buffers as hex, the chain as a list (issuerCertificate
#: followed until it repeats; "self" marks a root pointing to itself).
NODE_DUMP = r"""
function plain(c) {
  const out = {};
  for (const k of Object.keys(c)) {
    if (k === 'issuerCertificate') continue;
    const v = c[k];
    out[k] = Buffer.isBuffer(v) ? v.toString('hex') : (v && typeof v === 'object' && !Array.isArray(v)) ? {...v} : v;
  }
  return out;
}
function walk(c) {
  const chain = []; let cur = c; let last = 'none';
  while (cur && Object.keys(cur).length) {
    chain.push(plain(cur));
    if (cur.issuerCertificate === cur) { last = 'self'; break; }
    cur = cur.issuerCertificate;
  }
  return {chain, last};
}
"""

NODE_CLIENT = NODE_DUMP + r"""
const tls = require('tls');
const [port, opts] = [Number(process.argv[2]), JSON.parse(process.argv[3])];
const s = tls.connect(Object.assign({port, host: '127.0.0.1', servername: 'localhost'}, opts), () => {
  const out = {peer: walk(s.getPeerCertificate(true)), plain: plain(s.getPeerCertificate()),
               own: plain(s.getCertificate() || {})};
  s.end(); console.log(JSON.stringify(out));
});
s.on('error', (e) => console.log(JSON.stringify({error: e.code || e.message})));
"""

NODE_SERVER = NODE_DUMP + r"""
const tls = require('tls');
const server = tls.createServer(JSON.parse(process.argv[2]), (s) => {
  s.end(JSON.stringify({peer: walk(s.getPeerCertificate(true)), plain: plain(s.getPeerCertificate()),
                        own: plain(s.getCertificate() || {})}));
});
server.listen(0, '127.0.0.1', () => console.log(server.address().port));
"""


def to_json(cert: dict) -> dict:
    """Our dict in the dump's shape: bytes as hex, no issuerCertificate."""
    out = {}
    for key, value in cert.items():
        if key == "issuerCertificate":
            continue
        out[key] = value.hex() if isinstance(value, (bytes, bytearray)) else value
    return json.loads(json.dumps(out))


def walk(cert: dict) -> dict:
    """Our detailed dict as a chain list, as NODE_DUMP walks Node's."""
    chain, current, last = [], cert, "none"
    while current:
        chain.append(to_json(current))
        nxt = current.get("issuerCertificate")
        if nxt is current:
            last = "self"
            break
        current = nxt
    return {"chain": chain, "last": last}


@pytest.fixture(scope="module", params=[trustme.KeyType.ECDSA, trustme.KeyType.RSA], ids=["ecdsa", "rsa"])
def pki(request) -> dict:
    """A root, an intermediate, a server leaf and a client leaf, all of one key type."""
    root = trustme.CA(key_type=request.param)
    inter = root.create_child_ca(key_type=request.param)
    server = inter.issue_cert("localhost", "127.0.0.1", key_type=request.param)
    client = inter.issue_cert("client@example.com", common_name="peer client", key_type=request.param)
    return {"ca": root.cert_pem.bytes().decode(), "server": server, "client": client}


def pems(leaf: trustme.LeafCert) -> dict:
    return {"key": leaf.private_key_pem.bytes().decode(),
            "cert": "".join(b.bytes().decode() for b in leaf.cert_chain_pems)}


def _read_all(sock) -> bytes:
    chunks = []
    while True:
        data = sock.recv(65536)
        if not data:
            break
        chunks.append(data)
    sock.close()
    return b"".join(chunks)


@pytest.mark.parametrize("version", ["TLSv1.2", "TLSv1.3"])
def test_client_view_of_server_matches_node(pki, version):
    """greentls client and Node client see the same server certificate and chain, key by key."""
    server_pems = pems(pki["server"])
    with node_server(NODE_SERVER, json.dumps(dict(server_pems))) as port:
        sock = greentls.connect(port, "127.0.0.1", servername="localhost", ca=pki["ca"], max_version=version)
        ours = {"peer": walk(sock.get_peer_certificate(detailed=True)),
                "plain": to_json(sock.get_peer_certificate())}
        sock.close()
        theirs = node(NODE_CLIENT, port, json.dumps({"ca": pki["ca"], "maxVersion": version}))
    assert "error" not in theirs
    assert len(theirs["peer"]["chain"]) == 3 and theirs["peer"]["last"] == "self"
    for key in theirs["plain"]:
        assert ours["plain"][key] == theirs["plain"][key], key
    assert ours == {"peer": theirs["peer"], "plain": theirs["plain"]}


@pytest.mark.parametrize("version", ["TLSv1.2", "TLSv1.3"])
def test_server_view_of_client_matches_node(pki, version):
    """A greentls server and a Node server see the same client certificate and chain."""
    seen = []

    def handler(sock):
        seen.append({"peer": walk(sock.get_peer_certificate(detailed=True)),
                     "plain": to_json(sock.get_peer_certificate()), "own": to_json(sock.get_certificate())})
        sock.sendall(b"x")

    client_pems = pems(pki["client"])
    with serving(handler, request_cert=True, ca=pki["ca"], max_version=version, **pems(pki["server"])) as server:
        out = node(NODE_CLIENT, port_of(server), json.dumps(dict(client_pems, ca=pki["ca"])))
    assert "error" not in out
    opts = dict(pems(pki["server"]), ca=pki["ca"], requestCert=True, rejectUnauthorized=True, maxVersion=version)
    with node_server(NODE_SERVER, json.dumps(opts)) as port:
        sock = greentls.connect(port, "127.0.0.1", servername="localhost", ca=pki["ca"], **client_pems)
        theirs = json.loads(_read_all(sock))
    assert len(theirs["peer"]["chain"]) == 3
    assert seen[0]["peer"] == theirs["peer"]
    assert seen[0]["plain"] == theirs["plain"]
    # The server's own certificate: what Node's server getCertificate() reports for the same cert.
    assert seen[0]["own"] == theirs["own"]
    # ... and what the Node client saw of it.
    assert seen[0]["own"] == out["plain"]


def test_get_certificate_client_side(pki):
    """A client's get_certificate() equals Node's client getCertificate() for the same cert; {} without."""
    with serving(lambda s: s.sendall(b"x"), request_cert=True, ca=pki["ca"], **pems(pki["server"])) as server:
        out = node(NODE_CLIENT, port_of(server), json.dumps(dict(pems(pki["client"]), ca=pki["ca"])))
        sock = greentls.connect(port_of(server), "127.0.0.1", servername="localhost", ca=pki["ca"],
                                **pems(pki["client"]))
        ours = to_json(sock.get_certificate())
        sock.close()
    with serving(lambda s: s.sendall(b"x"), **pems(pki["server"])) as server:
        bare = greentls.connect(port_of(server), "127.0.0.1", servername="localhost", ca=pki["ca"])
        assert bare.get_certificate() == {}
        assert bare.getpeercert(binary_form=True)
        assert bare.getpeercert()["subjectAltName"]
        bare.close()
    assert ours == out["own"]
