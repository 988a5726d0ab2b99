"""enable_trace (Node's enableTrace): a line per handshake message and alert, both ways, from
connections made to be traced; and get_shared_sigalgs, which this binding cannot provide."""
from __future__ import annotations

import json
import re

import gevent
import pytest
from gevent import socket as gsocket
from helpers import node_server, openssl, port_of, serving

import greentls

NODE_SERVER = r"""
const tls = require('tls'); const fs = require('fs');
const [key, cert, version] = process.argv.slice(2);
const srv = tls.createServer({key: fs.readFileSync(key), cert: fs.readFileSync(cert), maxVersion: version},
                             s => { s.on('data', d => s.end(d)); });
srv.listen(0, '127.0.0.1', () => console.log(srv.address().port));
"""


@pytest.fixture
def traced():
    """(sender, line) of every trace signal while the test runs."""
    seen: list = []

    def receiver(sender, line):
        seen.append((sender, line))

    greentls.signals.trace.connect(receiver)
    yield seen
    greentls.signals.trace.disconnect(receiver)


def _names(seen: list) -> list[str]:
    """The lines without their prefix and sizes: '<- ClientHello'."""
    return [re.sub(r" \(\d+ bytes\)$", "", line.removeprefix("greentls trace: ")) for _, line in seen]


def _answer_once(tls: greentls.TLSSocket) -> None:
    tls.sendall(tls.recv(100))
    tls.close()


def _s_client(server: greentls.Server, *args: str):
    return openssl(["s_client", "-connect", f"127.0.0.1:{port_of(server)}", "-quiet", *args], input=b"hi\n")


TLS13_SERVER = ["<- ClientHello", "-> ServerHello", "-> ChangeCipherSpec", "-> EncryptedExtensions",
                "-> Certificate", "-> CertificateVerify", "-> Finished", "<- ChangeCipherSpec", "<- Finished",
                "-> NewSessionTicket", "-> NewSessionTicket", "-> Alert warning close_notify"]
TLS12_SERVER = ["<- ClientHello", "-> ServerHello", "-> Certificate", "-> ServerKeyExchange",
                "-> ServerHelloDone", "<- ClientKeyExchange", "<- ChangeCipherSpec", "<- Finished",
                "-> NewSessionTicket", "-> ChangeCipherSpec", "-> Finished", "-> Alert warning close_notify"]


@pytest.mark.parametrize(("flag", "expected"), [("-tls1_3", TLS13_SERVER), ("-tls1_2", TLS12_SERVER)])
def test_server_traces_a_full_handshake_in_order(need_openssl, flag, expected, server_options, traced):
    """create_server(enable_trace=True) and openssl s_client: every message of a full
    handshake, both directions, in order, then our close_notify; the sender is the TLSSocket."""
    with serving(_answer_once, enable_trace=True, **server_options) as server:
        result = _s_client(server, flag)
        gevent.sleep(0.2)
    assert result.stdout == b"hi\n"
    assert _names(traced) == expected
    assert all(isinstance(sender, greentls.TLSSocket) for sender, _ in traced)
    assert re.fullmatch(r"greentls trace: <- ClientHello \(\d+ bytes\)", traced[0][1])


def test_alert_is_traced(need_openssl, server_options, traced):
    """The fatal alert that ends a failed handshake is traced before tls_client_error."""
    events: list = []
    greentls.signals.trace.connect(lambda sender, line: events.append("trace"), weak=False)
    on_error = lambda sender, **kw: events.append("error")  # noqa: E731
    greentls.tls_client_error.connect(on_error)
    try:
        with serving(_answer_once, enable_trace=True, alpn_protocols=["h2"], **server_options) as server:
            _s_client(server, "-alpn", "foo")
            gevent.sleep(0.2)
    finally:
        greentls.tls_client_error.disconnect(on_error)
        greentls.signals.trace.receivers.clear()
    assert _names(traced) == ["<- ClientHello", "-> Alert fatal no_application_protocol"]
    # Sent by the failed connection's socket, before it let go of its callback record.
    assert all(isinstance(sender, greentls.TLSSocket) for sender, _ in traced), traced
    assert events[-1] == "error" and "trace" in events


def test_without_receivers_lines_go_to_stderr(need_openssl, server_options, capsys):
    """As Node: with no trace receiver, the lines are written to standard error."""
    with serving(_answer_once, enable_trace=True, **server_options) as server:
        _s_client(server, "-tls1_3")
        gevent.sleep(0.2)
    err = capsys.readouterr().err
    assert re.search(r"^greentls trace: <- ClientHello \(\d+ bytes\)$", err, re.MULTILINE), err
    assert "greentls trace: -> Alert warning close_notify" in err


def test_untraced_server_sends_nothing(need_openssl, server_options, traced):
    """A server without the option traces nothing."""
    with serving(_answer_once, **server_options) as server:
        _s_client(server, "-tls1_3")
        gevent.sleep(0.2)
    assert traced == []


@pytest.mark.parametrize("version", ["TLSv1.2", "TLSv1.3"])
def test_client_socket_traces_against_node(need_node, version, cert_files, client_options, traced):
    """A client TLSSocket made with enable_trace=True, against a Node server: our ClientHello
    first, the server's messages as received, in order."""
    with node_server(NODE_SERVER, cert_files["key"], cert_files["cert"], version) as port:
        sock = gsocket.create_connection(("127.0.0.1", port))
        tls = greentls.TLSSocket(sock, servername="localhost", enable_trace=True, **client_options)
        tls.enable_trace()  # already on: a no-op
        tls.do_handshake()
        tls.sendall(b"bye")
        assert tls.recv(10) == b"bye"
        assert tls.recv(10) == b""
        tls.close()
    names = _names(traced)
    if version == "TLSv1.3":
        assert names[:9] == ["-> ClientHello", "<- ServerHello", "<- ChangeCipherSpec", "<- EncryptedExtensions",
                             "<- Certificate", "<- CertificateVerify", "<- Finished", "-> ChangeCipherSpec",
                             "-> Finished"]
        assert names.count("<- NewSessionTicket") == 2
    else:
        assert names[:10] == ["-> ClientHello", "<- ServerHello", "<- Certificate", "<- ServerKeyExchange",
                              "<- ServerHelloDone", "-> ClientKeyExchange", "-> ChangeCipherSpec",
                              "-> Finished", "<- NewSessionTicket", "<- ChangeCipherSpec"]
    assert names[-2:] == ["<- Alert warning close_notify", "-> Alert warning close_notify"]
    assert {sender for sender, _ in traced} == {tls}


def test_enable_trace_on_an_untraced_connection_raises(server_options, client_options):
    """A connection made without tracing cannot start later (OpenSSL takes the callback in
    only when a connection is made): UnsupportedError says why and what to do."""
    with serving(_answer_once, **server_options) as server:
        tls = greentls.connect(port_of(server), "127.0.0.1", servername="localhost", **client_options)
        with pytest.raises(greentls.UnsupportedError, match="enable_trace=True"):
            tls.enable_trace()
        tls.close()
    with pytest.raises(TypeError, match="enable_trace"):
        greentls.create_server(enable_trace="yes", **server_options)


def test_traced_connection_leaves_its_context_untraced(server_options, client_options, traced):
    """Other connections of the same context carry no message callback, before or after a
    traced one: even told to trace, they record nothing (nothing calls them)."""
    context = greentls.create_secure_context(**client_options)
    with serving(_answer_once, **server_options) as server:
        def handshake(**options):
            sock = gsocket.create_connection(("127.0.0.1", port_of(server)))
            tls = greentls.TLSSocket(sock, servername="localhost", secure_context=context, **options)
            return tls

        before = handshake()
        traced_tls = handshake(enable_trace=True)
        after = handshake()
        for tls in (before, after):
            tls._watch.tracing = True  # white box: only the missing callback keeps them silent
        for tls in (before, traced_tls, after):
            tls.do_handshake()
            tls.sendall(b"x")
            tls.recv(10)
            tls.close()
    assert {sender for sender, _ in traced} == {traced_tls}


def test_trace_survives_an_sni_context_switch(need_openssl, server_options, server_cert, traced):
    """A context chosen by SNI (SSL_set_SSL_CTX) keeps the connection's trace."""
    with serving(_answer_once, enable_trace=True, **server_options) as server:
        server.add_context("localhost", server_options)
        _s_client(server, "-servername", "localhost", "-tls1_3")
        gevent.sleep(0.2)
    assert _names(traced) == TLS13_SERVER


def test_raising_receiver_does_not_hide_the_handshake_error(server_options, client_options):
    """A trace receiver that raises while a failed handshake ends cannot replace its error."""
    def broken(sender, line):
        raise RuntimeError("receiver bug")

    greentls.signals.trace.connect(broken)
    errors: list = []
    on_error = lambda sender, **kw: errors.append(kw["exception"])  # noqa: E731
    greentls.tls_client_error.connect(on_error)
    try:
        with serving(_answer_once, enable_trace=True, alpn_protocols=["h2"], **server_options) as server:
            with pytest.raises(greentls.TLSError):
                greentls.connect(port_of(server), "127.0.0.1", servername="localhost",
                                 alpn_protocols=["foo"], **client_options)
            gevent.sleep(0.2)
    finally:
        greentls.signals.trace.disconnect(broken)
        greentls.tls_client_error.disconnect(on_error)
    assert [error.code for error in errors] == ["ERR_SSL_NO_APPLICATION_PROTOCOL"]


# -- get_shared_sigalgs -----------------------------------------------------------------------


def test_get_shared_sigalgs_is_unsupported_with_the_reason(server_options, client_options):
    """The binding lacks SSL_get_shared_sigalgs: the capability is False and the method raises
    UnsupportedError naming the missing function."""
    from greentls._base.binding import has
    assert has("SSL_get_shared_sigalgs") is greentls.capabilities["shared_sigalgs"] is False
    with serving(_answer_once, **server_options) as server:
        tls = greentls.connect(port_of(server), "127.0.0.1", servername="localhost", **client_options)
        with pytest.raises(greentls.UnsupportedError, match="SSL_get_shared_sigalgs") as info:
            tls.get_shared_sigalgs()
        tls.close()
    assert "sigalgs" in str(info.value)
    json.dumps(greentls.capabilities)  # still a plain dict of bools


def test_hello_retry_request_is_named(server_options, client_options, traced):
    """A ServerHello that asks for another key share (RFC 8446 section 4.1.4) is traced as a
    HelloRetryRequest, followed by the second ClientHello."""
    with serving(_answer_once, enable_trace=True, ecdh_curve="P-384", **server_options) as server:
        tls = greentls.connect(port_of(server), "127.0.0.1", servername="localhost", **client_options)
        tls.sendall(b"x")
        tls.recv(10)
        tls.close()
        gevent.sleep(0.1)
    assert _names(traced)[:5] == ["<- ClientHello", "-> HelloRetryRequest", "-> ChangeCipherSpec",
                                  "<- ChangeCipherSpec", "<- ClientHello"]
