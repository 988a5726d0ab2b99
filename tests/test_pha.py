"""TLS 1.3 post-handshake client authentication (RFC 8446 section 4.6.2).

A client offers it with ``post_handshake_auth=True`` (openssl's ``-enable_pha``); a server whose
context allows it (``post_handshake_auth=True``) asks with ``verify_client_post_handshake()``
(or ``renegotiate(request_cert=True)``), and the client's certificate is read and verified by
the server's next read.
"""
from __future__ import annotations

import threading

import gevent
import pytest
import trustme
from gevent import socket, subprocess
from helpers import port_of, serving

import greentls

#: What a handler recorded, per test.
Seen = dict


@pytest.fixture(scope="module")
def stranger() -> trustme.LeafCert:
    """A client certificate from a CA the server does not trust."""
    return trustme.CA().issue_cert("stranger@example.com", common_name="stranger")


@pytest.fixture(scope="module")
def stranger_files(tmp_path_factory, stranger) -> dict:
    """Paths of the untrusted client's certificate and key."""
    folder = tmp_path_factory.mktemp("stranger")
    cert, key = folder / "cert.pem", folder / "key.pem"
    stranger.cert_chain_pems[0].write_to_path(str(cert))
    stranger.private_key_pem.write_to_path(str(key))
    return {"cert": str(cert), "key": str(key)}


def pha_server_options(server_options: dict, client_options: dict, **extra) -> dict:
    """A TLS 1.3 server that trusts the test CA for client certificates and allows PHA."""
    return {**server_options, "ca": client_options["ca"], "post_handshake_auth": True, **extra}


def asking_handler(seen: Seen):
    """Handler: ask after the handshake, tell the client, read its next line, record all."""
    def handler(tls: greentls.TLSSocket) -> None:
        seen["before"] = (tls.authorized, tls.getpeercert(), tls.get_peer_certificate())
        try:
            tls.verify_client_post_handshake()
            tls.sendall(b"asked\n")
            seen["data"] = tls.recv(100)
        except greentls.TLSError as exc:
            seen["error"] = exc
            return
        seen["after"] = (tls.authorized, tls.authorization_error, tls.getpeercert(),
                         tls.get_peer_certificate())
        tls.sendall(b"done\n")
    return handler


def s_client(port: int, cert_files: dict, *extra: str) -> subprocess.Popen:
    """``openssl s_client -tls1_3 -quiet`` to the server, with pipes."""
    return subprocess.Popen(["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-tls1_3", "-quiet",
                             "-CAfile", cert_files["ca"], "-servername", "localhost", *extra],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def converse(proc: subprocess.Popen) -> bytes:
    """Wait for the server's "asked" (s_client answered the request before reading it), then
    send a line; returns what s_client printed."""
    out = b""
    with gevent.Timeout(10, AssertionError("s_client never printed 'asked'")):
        while b"asked" not in out:
            line = proc.stdout.readline()
            if not line:
                break
            out += line
    try:
        proc.stdin.write(b"hello\n")
        proc.stdin.flush()
        proc.stdin.close()
    except BrokenPipeError:
        pass
    rest, _err = proc.communicate(timeout=10)
    return out + rest


def test_openssl_client_with_trusted_certificate(need_openssl, server_options, client_options, cert_files):
    """s_client -enable_pha with a trusted certificate: after the next read the server sees
    it, verified, in authorized, getpeercert() and get_peer_certificate()."""
    seen: Seen = {}
    with serving(asking_handler(seen), **pha_server_options(server_options, client_options)) as server:
        out = converse(s_client(port_of(server), cert_files, "-enable_pha", "-cert", cert_files["client_cert"],
                                "-key", cert_files["client_key"]))
    assert "error" not in seen, seen
    assert seen["before"] == (False, None, {})  # nothing asked in the handshake
    assert seen["data"] == b"hello\n"
    authorized, error, stdlib_cert, node_cert = seen["after"]
    assert authorized is True and error is None
    assert stdlib_cert["subjectAltName"] == (("email", "client@example.com"),)
    assert node_cert["subject"]["CN"] == "test client"
    assert b"done" in out


def test_openssl_client_with_untrusted_certificate_fails(need_openssl, server_options, client_options,
                                                         cert_files, stranger_files):
    """A certificate from an unknown CA fails the connection on the server's next read, with
    the verify code (reject_unauthorized, the default)."""
    seen: Seen = {}
    with serving(asking_handler(seen), **pha_server_options(server_options, client_options)) as server:
        converse(s_client(port_of(server), cert_files, "-enable_pha", "-cert", stranger_files["cert"],
                          "-key", stranger_files["key"]))
    error = seen["error"]
    assert isinstance(error, greentls.CertificateError), repr(error)
    assert error.code in ("UNABLE_TO_VERIFY_LEAF_SIGNATURE", "UNABLE_TO_GET_ISSUER_CERT_LOCALLY")
    assert "data" not in seen


def test_openssl_client_untrusted_without_reject_is_reported(need_openssl, server_options, client_options,
                                                             cert_files, stranger_files):
    """reject_unauthorized=False: the untrusted certificate is kept, authorized is False."""
    seen: Seen = {}
    options = pha_server_options(server_options, client_options, reject_unauthorized=False)
    with serving(asking_handler(seen), **options) as server:
        converse(s_client(port_of(server), cert_files, "-enable_pha", "-cert", stranger_files["cert"],
                          "-key", stranger_files["key"]))
    assert "error" not in seen, seen
    authorized, error, stdlib_cert, node_cert = seen["after"]
    assert authorized is False
    assert error in ("UNABLE_TO_VERIFY_LEAF_SIGNATURE", "UNABLE_TO_GET_ISSUER_CERT_LOCALLY")
    assert stdlib_cert == {}  # the stdlib's: an unverified certificate reads as {}
    assert node_cert["subject"]["CN"] == "stranger"


@pytest.mark.parametrize("reject", [True, False])
def test_openssl_client_without_certificate(need_openssl, server_options, client_options, cert_files, reject):
    """s_client -enable_pha without a certificate answers with none: fatal with
    reject_unauthorized, reported without."""
    seen: Seen = {}
    options = pha_server_options(server_options, client_options, reject_unauthorized=reject)
    with serving(asking_handler(seen), **options) as server:
        converse(s_client(port_of(server), cert_files, "-enable_pha"))
    if reject:
        assert seen["error"].code == "ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE", seen
    else:
        assert "error" not in seen, seen
        assert seen["after"][:3] == (False, "UNABLE_TO_GET_ISSUER_CERT", None)


def test_openssl_client_that_did_not_offer(need_openssl, server_options, client_options, cert_files):
    """Without -enable_pha the request is refused, as the stdlib's, and the connection goes on."""
    seen: Seen = {}

    def handler(tls):
        with pytest.raises(greentls.TLSError) as info:
            tls.verify_client_post_handshake()
        seen["error"] = info.value
        tls.sendall(b"asked\n")
        seen["data"] = tls.recv(100)
        tls.sendall(b"done\n")

    with serving(handler, **pha_server_options(server_options, client_options)) as server:
        out = converse(s_client(port_of(server), cert_files, "-cert", cert_files["client_cert"],
                                "-key", cert_files["client_key"]))
    error = seen["error"]
    assert error.code == "ERR_SSL_EXTENSION_NOT_RECEIVED"
    assert "did not offer post-handshake authentication" in str(error)
    assert isinstance(error, __import__("ssl").SSLError)
    assert seen["data"] == b"hello\n" and b"done" in out


def greentls_client(port: int, client_options: dict, client_cert, **options) -> greentls.TLSSocket:
    """A greentls client with the test client certificate."""
    pem = client_cert.private_key_and_cert_chain_pem.bytes()
    return greentls.connect(port, "127.0.0.1", servername="localhost", key=pem, cert=pem, **client_options,
                            **options)


def test_greentls_client_and_server(server_options, client_options, client_cert):
    """A greentls client with post_handshake_auth=True answers a greentls server's request;
    a second request after the answer works too."""
    seen: Seen = {}

    def handler(tls):
        seen["before"] = tls.get_peer_certificate()
        for round_ in range(2):
            tls.verify_client_post_handshake()
            tls.sendall(b"asked")
            assert tls.recv(100) == (b"again" if round_ else b"hello")
            seen[round_] = (tls.authorized, tls.getpeercert()["subjectAltName"])
        tls.sendall(b"done")

    with serving(handler, **pha_server_options(server_options, client_options)) as server:
        tls = greentls_client(port_of(server), client_options, client_cert, post_handshake_auth=True)
        assert tls.recv(100) == b"asked"  # this read answers the request
        tls.sendall(b"hello")
        assert tls.recv(100) == b"asked"
        tls.sendall(b"again")
        assert tls.recv(100) == b"done"
        tls.close()
    assert seen["before"] == {}
    assert seen[0] == seen[1] == (True, (("email", "client@example.com"),))


def test_renegotiate_on_tls13_does_post_handshake_auth(server_options, client_options, client_cert):
    """renegotiate(request_cert=True) on a TLS 1.3 server blocks until the answer was judged,
    keeping the application data read meanwhile."""
    seen: Seen = {}

    def handler(tls):
        tls.sendall(b"go")
        tls.renegotiate(request_cert=True)
        seen["after"] = (tls.authorized, tls.get_peer_certificate()["subject"]["CN"])
        seen["data"] = tls.recv(100)
        tls.sendall(b"done")

    with serving(handler, **pha_server_options(server_options, client_options)) as server:
        tls = greentls_client(port_of(server), client_options, client_cert, post_handshake_auth=True)
        assert tls.recv(100) == b"go"
        tls.sendall(b"early")  # may arrive before the request: kept for the handler's read
        assert tls.recv(100) == b"done"  # the read that answers the request
        tls.close()
    assert seen["after"] == (True, "test client")
    assert seen["data"] == b"early"


@pytest.mark.parametrize("case", ["client did not offer", "server does not allow"])
def test_renegotiate_on_tls13_otherwise_refused(server_options, client_options, client_cert, case):
    """Without an offer, or on a server whose context does not allow it: ERR_TLS_RENEGOTIATE,
    as before, and the connection goes on."""
    seen: Seen = {}

    def handler(tls):
        with pytest.raises(greentls.TLSError) as info:
            tls.renegotiate(request_cert=True)
        seen["code"] = info.value.code
        tls.sendall(b"ok")

    server_pha = case == "client did not offer"
    options = pha_server_options(server_options, client_options, post_handshake_auth=server_pha)
    with serving(handler, **options) as server:
        tls = greentls_client(port_of(server), client_options, client_cert, post_handshake_auth=not server_pha)
        assert tls.recv(100) == b"ok"
        tls.close()
    assert seen["code"] == "ERR_TLS_RENEGOTIATE"


def test_client_without_option_offers_nothing(server_options, client_options, client_cert):
    """A greentls client without post_handshake_auth sends no extension: the request is refused."""
    seen: Seen = {}

    def handler(tls):
        with pytest.raises(greentls.TLSError) as info:
            tls.verify_client_post_handshake()
        seen["code"] = info.value.code
        tls.sendall(b"ok")

    with serving(handler, **pha_server_options(server_options, client_options)) as server:
        tls = greentls_client(port_of(server), client_options, client_cert)
        assert tls.recv(100) == b"ok"
        tls.close()
    assert seen["code"] == "ERR_SSL_EXTENSION_NOT_RECEIVED"


def refusal_in_handler(server_options: dict, client_options: dict, client_cert, handler_call,
                       server_extra: dict | None = None, **client_extra) -> greentls.TLSError:
    """Run ``handler_call(tls)`` in a server handler; return the TLSError it raised (the
    connection must still carry data afterwards)."""
    seen: Seen = {}

    def handler(tls):
        with pytest.raises(greentls.TLSError) as info:
            handler_call(tls)
        seen["error"] = info.value
        tls.sendall(b"ok")

    options = pha_server_options(server_options, client_options, **(server_extra or {}))
    with serving(handler, **options) as server:
        tls = greentls_client(port_of(server), client_options, client_cert, post_handshake_auth=True,
                              **client_extra)
        assert tls.recv(100) == b"ok"
        tls.close()
    return seen["error"]


def test_twice_before_the_answer(server_options, client_options, client_cert):
    """A second request while the first is unanswered: OpenSSL's REQUEST_SENT, explained."""
    def twice(tls):
        tls.verify_client_post_handshake()
        tls.verify_client_post_handshake()

    error = refusal_in_handler(server_options, client_options, client_cert, twice)
    assert error.code == "ERR_SSL_REQUEST_SENT"
    assert "already out" in str(error)


def test_on_tls12(server_options, client_options, client_cert):
    """TLS 1.2 has no post-handshake authentication: ERR_SSL_WRONG_SSL_VERSION naming renegotiate."""
    error = refusal_in_handler(server_options, client_options, client_cert,
                               lambda tls: tls.verify_client_post_handshake(), max_version="TLSv1.2")
    assert error.code == "ERR_SSL_WRONG_SSL_VERSION"
    assert "TLSv1.2" in str(error) and "renegotiate" in str(error)


def test_server_context_without_option(server_options, client_options, client_cert):
    """A server whose context was not built with post_handshake_auth=True refuses to ask."""
    error = refusal_in_handler(server_options, client_options, client_cert,
                               lambda tls: tls.verify_client_post_handshake(),
                               server_extra={"post_handshake_auth": False})
    assert error.code == "ERR_TLS_POST_HANDSHAKE_AUTH_DISABLED"
    assert "post_handshake_auth=True" in str(error)


def test_on_a_client_socket(server_options, client_options, client_cert):
    """A client cannot ask: ERR_SSL_NOT_SERVER, and the connection goes on."""
    from helpers import echo
    with serving(echo, **pha_server_options(server_options, client_options)) as server:
        tls = greentls_client(port_of(server), client_options, client_cert, post_handshake_auth=True)
        with pytest.raises(greentls.TLSError) as info:
            tls.verify_client_post_handshake()
        assert info.value.code == "ERR_SSL_NOT_SERVER"
        tls.sendall(b"x")
        assert tls.recv(10) == b"x"
        tls.close()


def test_before_the_handshake(server_options):
    """Before the handshake: ERR_TLS_HANDSHAKE_NOT_DONE, and no handshake is started."""
    left, right = socket.socketpair()
    with left, right:
        tls = greentls.TLSSocket(left, is_server=True, post_handshake_auth=True, **server_options)
        with pytest.raises(greentls.TLSError) as info:
            tls.verify_client_post_handshake()
        assert info.value.code == "ERR_TLS_HANDSHAKE_NOT_DONE"
        tls.close()


def test_client_that_never_answers_is_governed_by_the_timeout(server_options, client_options, client_cert):
    """A client that offered PHA but never reads (so never answers): the server's next read
    waits under the socket's timeout and times out; it does not hang in the engine."""
    seen: Seen = {}
    release = gevent.event.Event()

    def handler(tls):
        tls.verify_client_post_handshake()
        tls.settimeout(0.3)
        try:
            tls.recv(100)
        except TimeoutError as exc:
            seen["timeout"] = exc
        try:
            tls.renegotiate(request_cert=True)
        except greentls.TLSError as exc:
            seen["second"] = exc
        release.set()

    with serving(handler, **pha_server_options(server_options, client_options)) as server:
        tls = greentls_client(port_of(server), client_options, client_cert, post_handshake_auth=True)
        assert release.wait(5)
        tls.close()
    assert isinstance(seen["timeout"], TimeoutError)
    assert seen["second"].code == "ERR_SSL_REQUEST_SENT"  # still unanswered


def test_renegotiate_waits_under_the_timeout(server_options, client_options, client_cert):
    """renegotiate(request_cert=True) on TLS 1.3 with a silent client raises the timeout."""
    seen: Seen = {}
    done = gevent.event.Event()

    def handler(tls):
        tls.settimeout(0.3)
        try:
            tls.renegotiate(request_cert=True)
        except TimeoutError as exc:
            seen["timeout"] = exc
        done.set()

    with serving(handler, **pha_server_options(server_options, client_options)) as server:
        tls = greentls_client(port_of(server), client_options, client_cert, post_handshake_auth=True)
        assert done.wait(5)
        tls.close()
    assert isinstance(seen["timeout"], TimeoutError)


def test_client_in_an_os_thread(server_options, client_options, client_cert):
    """A greentls client in its own OS thread answers the request of a server in this one."""
    seen: Seen = {}
    result: dict = {}

    def handler(tls):
        tls.verify_client_post_handshake()
        tls.sendall(b"asked")
        seen["data"] = tls.recv(100)
        seen["authorized"] = tls.authorized
        tls.sendall(b"done")

    def client(port):
        try:
            tls = greentls_client(port, client_options, client_cert, post_handshake_auth=True)
            result["first"] = tls.recv(100)
            tls.sendall(b"hello")
            result["second"] = tls.recv(100)
            tls.close()
        except Exception as exc:  # reported to the test below
            result["error"] = exc

    with serving(handler, **pha_server_options(server_options, client_options)) as server:
        thread = threading.Thread(target=client, args=(port_of(server),))
        thread.start()
        while thread.is_alive():
            gevent.sleep(0.02)  # the server's greenlets run while the thread works
        thread.join()
    assert result == {"first": b"asked", "second": b"done"}, result
    assert seen == {"data": b"hello", "authorized": True}


def test_option_is_checked():
    """post_handshake_auth must be a bool, named in the error."""
    with pytest.raises(TypeError, match="post_handshake_auth"):
        greentls.create_secure_context(post_handshake_auth="yes")
    assert greentls.capabilities["post_handshake_auth"] is True


def test_after_a_resumed_handshake(server_options, client_options, client_cert):
    """A TLS 1.3 resumption (a PSK, no certificate) asks afterwards like a full handshake."""
    seen: list = []

    def handler(tls):
        tls.verify_client_post_handshake()
        tls.sendall(b"asked")
        assert tls.recv(100) == b"hello"
        seen.append((tls.is_session_reused(), tls.authorized, tls.get_peer_certificate()["subject"]["CN"]))
        tls.sendall(b"done")

    with serving(handler, **pha_server_options(server_options, client_options)) as server:
        session = None
        for _ in range(2):
            tls = greentls_client(port_of(server), client_options, client_cert, post_handshake_auth=True,
                                  session=session)
            assert tls.recv(100) == b"asked"
            tls.sendall(b"hello")
            assert tls.recv(100) == b"done"
            session = tls.get_session()
            tls.close()
    assert seen == [(False, True, "test client"), (True, True, "test client")]


def test_after_close(server_options, client_options, client_cert):
    """On a closed socket: ERR_SOCKET_CLOSED."""
    seen: Seen = {}

    def handler(tls):
        tls.close()
        with pytest.raises(greentls.TLSError) as info:
            tls.verify_client_post_handshake()
        seen["code"] = info.value.code

    with serving(handler, **pha_server_options(server_options, client_options)) as server:
        tls = greentls_client(port_of(server), client_options, client_cert, post_handshake_auth=True)
        assert tls.recv(100) == b""
        tls.close()
    assert seen["code"] == "ERR_SOCKET_CLOSED"


def test_sni_context_decides(server_options, client_options, client_cert):
    """The context the SNI callback picked decides whether the server may ask."""
    seen: dict = {}
    allowing = greentls.create_secure_context(**pha_server_options(server_options, client_options))

    def handler(tls):
        tls.verify_client_post_handshake()
        tls.sendall(b"asked")
        tls.recv(100)
        seen[tls.servername] = tls.authorized
        tls.sendall(b"done")

    options = pha_server_options(server_options, client_options, post_handshake_auth=False,
                                 sni_callback=lambda name: allowing if name == "pha.localhost" else None)
    with serving(handler, **options) as server:
        tls = greentls.connect(port_of(server), "127.0.0.1", servername="pha.localhost",
                               check_server_identity=lambda host, cert: None,
                               key=client_cert.private_key_and_cert_chain_pem.bytes(),
                               cert=client_cert.private_key_and_cert_chain_pem.bytes(),
                               post_handshake_auth=True, **client_options)
        assert tls.recv(100) == b"asked"
        tls.sendall(b"x")
        assert tls.recv(100) == b"done"
        tls.close()
    assert seen == {"pha.localhost": True}


def test_server_socket_in_an_os_thread_over_a_plain_socket(server_options, client_options, client_cert):
    """A server TLSSocket over a stdlib (blocking, not gevent) socket in an OS thread: the
    memory-BIO path asks and judges the same way."""
    import socket as stdlib_socket
    listener = stdlib_socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    result: dict = {}

    def serve():
        try:
            conn, _ = listener.accept()
            conn.settimeout(5)
            tls = greentls.TLSSocket(conn, is_server=True, **pha_server_options(server_options, client_options))
            tls.do_handshake()
            tls.verify_client_post_handshake()
            tls.sendall(b"asked")
            result["data"] = tls.recv(100)
            result["authorized"] = tls.authorized
            tls.sendall(b"done")
            tls.close()
        except Exception as exc:  # reported to the test below
            result["error"] = exc
        finally:
            listener.close()

    thread = threading.Thread(target=serve)
    thread.start()
    tls = greentls_client(port, client_options, client_cert, post_handshake_auth=True)
    assert tls.recv(100) == b"asked"
    tls.sendall(b"hello")
    assert tls.recv(100) == b"done"
    tls.close()
    thread.join(5)
    assert result == {"data": b"hello", "authorized": True}, result


def test_after_shutdown(server_options, client_options, client_cert):
    """After our close_notify went out (shutdown SHUT_WR): ERR_SOCKET_CLOSED, not an internal error."""
    seen: Seen = {}

    def handler(tls):
        tls.shutdown(socket.SHUT_WR)
        with pytest.raises(greentls.TLSError) as info:
            tls.verify_client_post_handshake()
        seen["error"] = info.value

    with serving(handler, **pha_server_options(server_options, client_options)) as server:
        tls = greentls_client(port_of(server), client_options, client_cert, post_handshake_auth=True)
        assert tls.recv(100) == b""
        tls.close()
    assert seen["error"].code == "ERR_SOCKET_CLOSED"
    assert "shut down" in str(seen["error"])


NODE_CLIENT = r"""
const tls = require('tls'); const fs = require('fs');
const [port, ca, key, cert] = process.argv.slice(2);
const s = tls.connect({port: +port, host: '127.0.0.1', servername: 'localhost', ca: fs.readFileSync(ca),
                       key: fs.readFileSync(key), cert: fs.readFileSync(cert)}, () => s.write('hello'));
s.on('data', (d) => { console.log(JSON.stringify({got: d.toString()})); s.end(); });
s.on('error', (e) => { console.log(JSON.stringify({error: String(e)})); });
"""


def test_node_client_does_not_offer(need_node, server_options, client_options, cert_files):
    """Node's tls client has no post-handshake authentication: the request is refused with
    ERR_SSL_EXTENSION_NOT_RECEIVED and the connection carries on."""
    from helpers import node
    seen: Seen = {}

    def handler(tls):
        assert tls.recv(100) == b"hello"
        with pytest.raises(greentls.TLSError) as info:
            tls.verify_client_post_handshake()
        seen["code"] = info.value.code
        tls.sendall(b"still here")

    with serving(handler, **pha_server_options(server_options, client_options)) as server:
        result = node(NODE_CLIENT, port_of(server), cert_files["ca"], cert_files["client_key"],
                      cert_files["client_cert"])
    assert result == {"got": "still here"}
    assert seen["code"] == "ERR_SSL_EXTENSION_NOT_RECEIVED"


def test_asking_while_another_greenlet_reads(server_options, client_options, client_cert):
    """One greenlet blocks in recv() while another asks: the reader's read takes the answer,
    and the socket's verdict changes there."""
    seen: Seen = {}

    def handler(tls):
        def reader():
            seen["data"] = tls.recv(100)
            seen["authorized"] = tls.authorized
        reading = gevent.spawn(reader)
        gevent.sleep(0.05)  # the reader is parked on the socket
        tls.verify_client_post_handshake()
        tls.sendall(b"asked")
        reading.join(5)
        tls.sendall(b"done")

    with serving(handler, **pha_server_options(server_options, client_options)) as server:
        tls = greentls_client(port_of(server), client_options, client_cert, post_handshake_auth=True)
        assert tls.recv(100) == b"asked"
        tls.sendall(b"hello")
        assert tls.recv(100) == b"done"
        tls.close()
    assert seen == {"data": b"hello", "authorized": True}


def test_without_the_capability_it_raises(monkeypatch, server_options):
    """Where the binding lacks the functions, the option and the method raise
    UnsupportedError saying why (never silently ignored)."""
    monkeypatch.setitem(greentls.capabilities, "post_handshake_auth", False)
    with pytest.raises(greentls.UnsupportedError, match="SSL_verify_client_post_handshake"):
        greentls.create_secure_context(post_handshake_auth=True)
    left, right = socket.socketpair()
    with left, right:
        tls = greentls.TLSSocket(left, is_server=True, **server_options)
        with pytest.raises(greentls.UnsupportedError):
            tls.verify_client_post_handshake()
        tls.close()


def test_renegotiate_rejecting_after_an_accepting_handshake_rejects(need_openssl, server_options, client_options,
                                                                    cert_files, stranger_files):
    """A server that accepted unverified clients (reject_unauthorized=False) and then asks with
    renegotiate(request_cert=True, reject_unauthorized=True) must reject an untrusted answer:
    OpenSSL keeps the verify callback set before unless another replaces it."""
    seen: Seen = {}

    def handler(tls: greentls.TLSSocket) -> None:
        try:
            tls.sendall(b"asked\n")
            tls.renegotiate(request_cert=True, reject_unauthorized=True)
            seen["authorized"] = tls.authorized
        except greentls.TLSError as exc:
            seen["error"] = exc

    options = pha_server_options(server_options, client_options, request_cert=True, reject_unauthorized=False)
    with serving(handler, **options) as server:
        converse(s_client(port_of(server), cert_files, "-enable_pha", "-cert", stranger_files["cert"],
                          "-key", stranger_files["key"]))
    assert isinstance(seen.get("error"), greentls.CertificateError), seen
