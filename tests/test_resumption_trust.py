"""A resumed session keeps the verdict and the virtual host of the handshake that made it.

Regression tests for two client-certificate bypasses: an unauthorized client that became
authorized by resuming, and a session made under one SNI context (one client CA) resumed under
another.  The clients are real: ``openssl s_client -sess_out/-sess_in`` and Node's ``tls``.
"""
from __future__ import annotations

import json
import re

import pytest
import trustme
from helpers import node, openssl, port_of, serving

import greentls

VERSIONS = [("TLSv1.2", "-tls1_2", []), ("TLSv1.2", "-tls1_2", ["-no_ticket"]), ("TLSv1.3", "-tls1_3", [])]
IDS = ["tls1.2-ticket", "tls1.2-session-id", "tls1.3"]


def report(tls) -> None:
    """Handler: tell the client what the server decided, then close cleanly."""
    verdict = {"authorized": tls.authorized, "error": tls.authorization_error,
               "servername": tls.servername, "reused": tls.is_session_reused(),
               "subject": (tls.get_peer_certificate() or {}).get("subject", {}).get("CN")}
    tls.sendall(b"VERDICT " + json.dumps(verdict).encode() + b"\n")


def verdict_of(result) -> dict:
    """The server's verdict line from an s_client run."""
    found = re.search(r"VERDICT (\{[^}]*\})", result.stdout.decode(errors="replace"))
    if found:
        return json.loads(found.group(1))
    raise AssertionError(f"no verdict in s_client output:\n{result.stdout[-3000:]!r}\n{result.stderr[-2000:]!r}")


def s_client(port: int, version: str, extra: list, *more: str) -> list:
    return ["s_client", "-connect", f"127.0.0.1:{port}", "-ign_eof", version, *extra, *more]


@pytest.fixture(scope="module")
def other_ca() -> trustme.CA:
    """A CA the servers do not trust."""
    return trustme.CA()


def write_leaf(tmp_path, name: str, leaf) -> tuple:
    cert, key = tmp_path / f"{name}-cert.pem", tmp_path / f"{name}-key.pem"
    cert.write_bytes(b"".join(b.bytes() for b in leaf.cert_chain_pems))
    key.write_bytes(leaf.private_key_pem.bytes())
    return str(cert), str(key)


@pytest.mark.parametrize(("version", "flag", "extra"), VERSIONS, ids=IDS)
@pytest.mark.parametrize("client", ["self-signed", "untrusted-ca", "none"])
def test_unauthorized_client_stays_unauthorized_on_resumption(need_openssl, server_options, ca, other_ca,
                                                              tmp_path, version, flag, extra, client):
    """request_cert without reject: a client that was not authorized is still not after resuming."""
    if client == "self-signed":
        self_signed = trustme.CA()
        cert, key = str(tmp_path / "ss.pem"), str(tmp_path / "ss-key.pem")
        self_signed.cert_pem.write_to_path(cert)
        self_signed.private_key_pem.write_to_path(key)
        creds = ["-cert", cert, "-key", key]
    elif client == "untrusted-ca":
        creds = ["-cert", *write_leaf(tmp_path, "other", other_ca.issue_cert("mallory@example.com"))]
        creds = ["-cert", creds[1], "-key", creds[2]]
    else:
        creds = []
    sess = str(tmp_path / "sess.pem")
    with serving(report, request_cert=True, reject_unauthorized=False, ca=ca.cert_pem.bytes(),
                 **server_options) as server:
        base = s_client(port_of(server), flag, extra, "-servername", "localhost", *creds)
        first = verdict_of(openssl([*base, "-sess_out", sess], input=b""))
        second = verdict_of(openssl([*base, "-sess_in", sess], input=b""))
    assert first["authorized"] is False and first["error"]
    assert second["reused"] is True, "the client must really have resumed for this test to mean anything"
    assert second["authorized"] is False
    assert second["error"] == first["error"]
    assert second["subject"] == first["subject"]


@pytest.mark.parametrize(("version", "flag", "extra"), VERSIONS, ids=IDS)
def test_authorized_client_stays_authorized_on_resumption(need_openssl, server_options, cert_files, ca,
                                                          version, flag, extra, tmp_path):
    """request_cert: a trusted client resumes, still authorized, with its certificate."""
    sess = str(tmp_path / "sess.pem")
    with serving(report, request_cert=True, reject_unauthorized=False, ca=ca.cert_pem.bytes(),
                 **server_options) as server:
        base = s_client(port_of(server), flag, extra, "-servername", "localhost",
                        "-cert", cert_files["client_cert"], "-key", cert_files["client_key"])
        first = verdict_of(openssl([*base, "-sess_out", sess], input=b""))
        second = verdict_of(openssl([*base, "-sess_in", sess], input=b""))
    assert first["authorized"] is True and second["authorized"] is True
    assert second["reused"] is True
    assert second["subject"] == first["subject"] == "test client"


@pytest.mark.parametrize(("version", "flag", "extra"), VERSIONS, ids=IDS)
def test_session_does_not_resume_on_a_vhost_with_another_client_ca(need_openssl, server_options, cert_files,
                                                                   ca, other_ca, tmp_path, version, flag, extra):
    """A session made on the default context (CA A) gets a full handshake on admin (CA B)."""
    admin_leaf = ca.issue_cert("admin.example")
    admin = {"key": admin_leaf.private_key_pem.bytes(),
             "cert": b"".join(b.bytes() for b in admin_leaf.cert_chain_pems),
             "ca": other_ca.cert_pem.bytes()}
    sess = str(tmp_path / "sess.pem")
    with serving(report, request_cert=True, reject_unauthorized=True, ca=ca.cert_pem.bytes(),
                 **server_options) as server:
        server.add_context("admin.example", admin)
        creds = ["-cert", cert_files["client_cert"], "-key", cert_files["client_key"]]
        first = verdict_of(openssl([*s_client(port_of(server), flag, extra, "-servername", "localhost", *creds),
                                    "-sess_out", sess], input=b""))
        assert first["authorized"] is True and first["servername"] == "localhost"
        second = openssl([*s_client(port_of(server), flag, extra, "-servername", "admin.example", *creds),
                          "-sess_in", sess], input=b"")
    # The CA-A client must not reach the admin handler: a full handshake under CA B refuses it.
    assert b"VERDICT" not in second.stdout
    assert b"Reused" not in second.stdout


NODE_RESUME = r"""
const tls = require('tls');
const fs = require('fs');
const [port, ca, cert, key, version] = process.argv.slice(2);
const opts = {host: '127.0.0.1', port: +port, servername: 'localhost', ca: fs.readFileSync(ca),
              cert: fs.readFileSync(cert), key: fs.readFileSync(key),
              minVersion: version, maxVersion: version};
function once(session) {
  return new Promise((resolve, reject) => {
    let saved = null, text = '', reused = null;
    const s = tls.connect(Object.assign({session}, opts), () => { reused = s.isSessionReused(); });
    s.on('session', (sess) => { saved = sess; });
    s.on('data', (d) => { text += d; });
    s.on('error', reject);
    s.on('close', () => resolve({saved, reused, text}));
  });
}
(async () => {
  const first = await once(undefined);
  const second = await once(first.saved);
  console.log(JSON.stringify({first: first.text, second: second.text, reused: second.reused}));
})();
"""


@pytest.mark.parametrize("version", ["TLSv1.2", "TLSv1.3"])
def test_node_client_self_signed_stays_unauthorized(need_node, server_options, ca, tmp_path, version):
    """Node as the client: a self-signed client certificate is not authorized after resuming."""
    self_signed = trustme.CA()
    cert, key = tmp_path / "ss.pem", tmp_path / "ss-key.pem"
    self_signed.cert_pem.write_to_path(str(cert))
    self_signed.private_key_pem.write_to_path(str(key))
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    with serving(report, request_cert=True, reject_unauthorized=False, ca=ca.cert_pem.bytes(),
                 **server_options) as server:
        result = node(NODE_RESUME, port_of(server), ca_file, cert, key, version)
    first = json.loads(result["first"].split("VERDICT ", 1)[1])
    second = json.loads(result["second"].split("VERDICT ", 1)[1])
    assert result["reused"] is True and second["reused"] is True
    assert first["authorized"] is False and second["authorized"] is False
    assert second["error"] == first["error"] == "DEPTH_ZERO_SELF_SIGNED_CERT"


@pytest.mark.parametrize(("version", "flag", "extra"), VERSIONS, ids=IDS)
def test_changed_sni_on_the_same_context_resumes(need_openssl, server_options, tmp_path, version, flag, extra):
    """A session resumes when the client's new SNI selects the same context (both names added)."""
    sess = str(tmp_path / "sess.pem")
    with serving(report, **server_options) as server:
        shared = greentls.create_secure_context(**server_options)
        server.add_context("a.example", shared)
        server.add_context("b.example", shared)
        first = verdict_of(openssl([*s_client(port_of(server), flag, extra, "-servername", "a.example"),
                                    "-sess_out", sess], input=b""))
        second = verdict_of(openssl([*s_client(port_of(server), flag, extra, "-servername", "b.example"),
                                     "-sess_in", sess], input=b""))
    assert first["servername"] == "a.example"
    assert second["reused"] is True
    # TLS 1.2 binds the name to the session (OpenSSL reports the session's); TLS 1.3 does not.
    assert second["servername"] == ("a.example" if version == "TLSv1.2" else "b.example")


def test_a_strict_server_refuses_a_resumed_session_whose_verification_failed(client_errors):
    """A server with request_cert=True, reject_unauthorized=True whose handler renegotiated with
    reject_unauthorized=False, where the client answered with an untrusted certificate: that
    renegotiated session carries a failed verdict, and a client resuming it is refused (Node's
    onServerSocketSecure destroys it), where it used to be let in with authorized=False."""
    import gevent

    trusted_ca, other_ca, server_ca = trustme.CA(), trustme.CA(), trustme.CA()
    leaf = server_ca.issue_cert("localhost")
    trusted, stranger = trusted_ca.issue_cert("trusted"), other_ca.issue_cert("stranger")
    seen: list = []

    def handler(tls: greentls.TLSSocket) -> None:
        if tls.recv(100).startswith(b"reneg"):
            tls.renegotiate(request_cert=True, reject_unauthorized=False)
        seen.append((tls.authorized, tls.authorization_error, tls.is_session_reused()))
        tls.sendall(b"served")
        tls.recv(100)  # until the client closes

    def pair(who: trustme.LeafCert) -> dict:
        pem = who.private_key_and_cert_chain_pem.bytes()
        return {"key": pem, "cert": pem}

    with serving(handler, key=leaf.private_key_pem.bytes(), cert=leaf.cert_chain_pems[0].bytes(),
                 ca=trusted_ca.cert_pem.bytes(), request_cert=True, reject_unauthorized=True,
                 max_version="TLSv1.2") as server:
        tls = greentls.connect(port_of(server), "127.0.0.1", servername="localhost",
                               ca=server_ca.cert_pem.bytes(), **pair(trusted))
        tls.set_key_cert(pair(stranger))  # the renegotiation gets the untrusted certificate
        tls.sendall(b"reneg")
        assert tls.recv(100) == b"served"
        session = tls.get_session()
        tls.close()
        assert seen == [(False, "UNABLE_TO_VERIFY_LEAF_SIGNATURE", False)], seen
        answer: object
        try:
            again = greentls.connect(port_of(server), "127.0.0.1", servername="localhost",
                                     ca=server_ca.cert_pem.bytes(), session=session, **pair(trusted))
            with again:
                reused = again.is_session_reused()
                again.sendall(b"hello")
                answer = again.recv(100)  # refused: the end of the stream, or an error
        except OSError as exc:  # TLSError included
            reused, answer = True, exc
        assert (reused and answer in (b"",)) or isinstance(answer, OSError), answer
        assert len(seen) == 1, seen  # refused before the handler ran
        with gevent.Timeout(5):
            while not any(getattr(e, "code", None) == "UNABLE_TO_VERIFY_LEAF_SIGNATURE" for e in client_errors):
                gevent.sleep(0.01)
