"""A client session saved in one process resumes in another, as a Node client's does.

OpenSSL copies a client's session id context into each session it makes, and a client refuses
to resume a session of another id (ATTEMPT_TO_REUSE_SESSION_IN_DIFFERENT_CONTEXT).  The default
id is derived from the command line, so a client context carrying it made sessions that only
the very same command could resume: ``greentls connect --session-out s.der`` followed by
``greentls connect --session-in s.der`` failed.  Client contexts now carry no id (Node sets it
on servers only), while each server policy keeps its own (tests/test_resumption_trust.py).
"""
from __future__ import annotations

import re
import sys
import textwrap

import gevent
import pytest
from gevent import subprocess
from helpers import port_of, serving

import greentls

VERSIONS = ["TLSv1.2", "TLSv1.3"]
GREENTLS = [sys.executable, "-m", "greentls"]
#: openssl's -tls1_2 / -tls1_3 for a version name.
OPENSSL_FLAG = {"TLSv1.2": "-tls1_2", "TLSv1.3": "-tls1_3"}


def reply_once(tls: greentls.TLSSocket) -> None:
    """Handler: echo one message, then close cleanly (close_notify keeps sessions resumable)."""
    data = tls.recv(65536)
    if data:
        tls.sendall(data)


def cli_connect(port: int, ca: str, *extra: str) -> str:
    """``greentls connect localhost:PORT`` in a new process sending one line; its stderr."""
    result = subprocess.run([*GREENTLS, "connect", f"localhost:{port}", "--ca", ca, *extra],
                            input=b"GET / HTTP/1.0\r\n\r\n", stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, timeout=30)
    summary = result.stderr.decode()
    assert result.returncode == 0, summary
    return summary


def resumed_twice(port: int, ca: str, tmp_path, version: str) -> None:
    """The first CLI process makes a session and saves it; the second resumes it."""
    path = str(tmp_path / "s.der")
    first = cli_connect(port, ca, "--session-out", path)
    assert f"protocol: {version}" in first
    assert "session reused: False" in first
    second = cli_connect(port, ca, "--session-in", path)
    assert "ATTEMPT_TO_REUSE_SESSION" not in second
    assert f"protocol: {version}" in second
    assert "session reused: True" in second, second


@pytest.fixture
def openssl_server(need_openssl, cert_files):
    """Start ``openssl s_server -www`` for one version; yields its port."""
    procs = []

    def start(version: str) -> int:
        proc = subprocess.Popen(["openssl", "s_server", "-accept", "0", "-www", OPENSSL_FLAG[version],
                                 "-cert", cert_files["cert"], "-key", cert_files["key"]],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        procs.append(proc)
        with gevent.Timeout(10):
            line = proc.stdout.readline()
            while b"ACCEPT" not in line:
                line = proc.stdout.readline()
        return int(re.search(rb":(\d+)", line).group(1))

    yield start
    for proc in procs:
        proc.kill()
        proc.wait()


#: A greentls server in a child process: answers one message per connection, prints its port.
SERVER_SCRIPT = textwrap.dedent("""
    import sys
    import greentls
    def reply_once(tls):
        data = tls.recv(65536)
        if data:
            tls.sendall(data)
    server = greentls.create_server(reply_once, cert=open(sys.argv[1], "rb").read(),
                                    key=open(sys.argv[2], "rb").read(), max_version=sys.argv[3])
    server.listen(0, "127.0.0.1")
    print(server.address()["port"], flush=True)
    server.serve_forever()
""")


@pytest.fixture
def greentls_server_process(cert_files):
    """Start a greentls server in another process for one version; yields its port."""
    procs = []

    def start(version: str) -> int:
        proc = subprocess.Popen([sys.executable, "-c", SERVER_SCRIPT, cert_files["cert"], cert_files["key"],
                                 version], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        procs.append(proc)
        with gevent.Timeout(20, AssertionError("the greentls server process did not start")):
            line = proc.stdout.readline()
        if not line.strip():
            raise AssertionError(proc.stderr.read().decode())
        return int(line)

    yield start
    for proc in procs:
        proc.kill()
        proc.wait()


@pytest.mark.parametrize("version", VERSIONS)
def test_cli_session_resumes_across_processes_with_openssl(openssl_server, cert_files, tmp_path, version):
    """--session-out in one CLI process, --session-in in another: openssl s_server resumes."""
    resumed_twice(openssl_server(version), cert_files["ca"], tmp_path, version)


@pytest.mark.parametrize("version", VERSIONS)
def test_cli_session_resumes_across_processes_with_greentls(greentls_server_process, cert_files, tmp_path,
                                                            version):
    """The same against a greentls server running in a third process."""
    resumed_twice(greentls_server_process(version), cert_files["ca"], tmp_path, version)


#: A greentls client in a child process: one round trip, then its session on stdout as hex.
CLIENT_SCRIPT = textwrap.dedent("""
    import sys
    import greentls
    tls = greentls.connect(int(sys.argv[1]), "127.0.0.1", servername="localhost",
                           ca=open(sys.argv[2], "rb").read(), max_version=sys.argv[3])
    tls.sendall(b"ping")
    assert tls.recv(100) == b"ping"
    assert tls.recv(100) == b""  # reads the TLS 1.3 tickets and the close_notify
    assert not tls.is_session_reused()
    print(tls.get_session().hex(), flush=True)
    tls.close()
""")


def session_from_child(port: int, ca: str, version: str) -> bytes:
    """get_session() of a client that ran in another process (argv differs from ours)."""
    result = subprocess.run([sys.executable, "-c", CLIENT_SCRIPT, str(port), ca, version],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
    assert result.returncode == 0, result.stderr.decode()
    return bytes.fromhex(result.stdout.decode().strip())


@pytest.mark.parametrize("version", VERSIONS)
def test_get_session_from_another_process_resumes(server_options, client_options, cert_files, version):
    """Python API: get_session() in a child process, connect(session=...) here resumes."""
    with serving(reply_once, **server_options) as server:
        session = session_from_child(port_of(server), cert_files["ca"], version)
        for context in ({}, {"session_id_context": "some other id"}):  # an id on the client changes nothing
            tls = greentls.connect(port_of(server), "127.0.0.1", servername="localhost", session=session,
                                   max_version=version, **client_options, **context)
            tls.sendall(b"x")
            assert tls.recv(10) == b"x"
            assert tls.is_session_reused()
            assert tls.authorized
            tls.close()


@pytest.mark.parametrize("version", VERSIONS)
def test_session_of_another_server_process_gets_a_full_handshake(greentls_server_process, server_options,
                                                                 client_options, cert_files, version):
    """A session made with one server process, offered to another server (this process): no
    resumption, no error; a full, verified handshake.  Server-side scoping stays."""
    session = session_from_child(greentls_server_process(version), cert_files["ca"], version)
    with serving(reply_once, **server_options) as server:
        tls = greentls.connect(port_of(server), "127.0.0.1", servername="localhost", session=session,
                               max_version=version, **client_options)
        tls.sendall(b"x")
        assert tls.recv(10) == b"x"
        assert not tls.is_session_reused()
        assert tls.authorized
        tls.close()



def test_cli_session_in_that_is_no_session(tmp_path, server_options, cert_files):
    """--session-in with a missing file or bytes that are no session: exit 2 with a message
    naming it, not a traceback."""
    junk = tmp_path / "junk.der"
    junk.write_bytes(b"\x30\x03junk")
    with serving(reply_once, **server_options) as server:
        for path, words in ((str(tmp_path / "missing.der"), "cannot read"), (str(junk), "not a DER-encoded")):
            result = subprocess.run([*GREENTLS, "connect", f"localhost:{port_of(server)}", "--ca", cert_files["ca"],
                                     "--session-in", path], input=b"", stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, timeout=30)
            assert result.returncode == 2, result.stderr
            assert words in result.stderr.decode() and "Traceback" not in result.stderr.decode()


def with_id_context(der: bytes, id_context: bytes) -> bytes:
    """``der`` with a ``session_id_context [4]`` field, as a session made by a client context
    that had one (greentls before client contexts dropped theirs)."""
    from greentls._config.sessions import _der_length
    from greentls._parse.certinfo import der_element
    _tag, start, end = der_element(der, 0)
    field = b"\xa4" + _der_length(len(id_context) + 2) + b"\x04" + _der_length(len(id_context)) + id_context
    items, pos, placed = [], start, False
    while pos < end:
        tag, _value, item_end = der_element(der, pos)
        if not placed and 0xA4 <= tag <= 0xBF:  # fields stay in ssl_asn1.c's order
            items.append(field)
            placed = True
        if tag != 0xA4:  # OpenSSL 4 writes an empty one for a client without an id
            items.append(der[pos:item_end])
        pos = item_end
    if not placed:
        items.append(field)
    body = b"".join(items)
    return b"\x30" + _der_length(len(body)) + body


@pytest.mark.parametrize("version", VERSIONS)
def test_session_saved_with_a_client_id_context_still_resumes(monkeypatch, server_options, client_options,
                                                              version):
    """A session file written by a greentls whose client contexts had the argv-derived id
    resumes: the client's id is dropped from it.  Without that, OpenSSL's client aborts the
    handshake (ATTEMPT_TO_REUSE_SESSION_IN_DIFFERENT_CONTEXT)."""
    import greentls._config.sessions as sessions
    from greentls._config.context import DEFAULT_SESSION_ID_CONTEXT

    def round_trip(session: bytes | None) -> tuple[bool, bytes]:
        tls = greentls.connect(port_of(server), "127.0.0.1", servername="localhost", session=session,
                               max_version=version, **client_options)
        try:
            tls.sendall(b"x")
            assert tls.recv(10) == b"x"
            assert tls.recv(10) == b""  # the TLS 1.3 tickets, then close_notify
            return tls.is_session_reused(), tls.get_session()
        finally:
            tls.close()

    with serving(reply_once, **server_options) as server:
        _, fresh = round_trip(None)
        old = with_id_context(fresh, DEFAULT_SESSION_ID_CONTEXT)
        assert old != fresh
        assert sessions.without_id_context(old) == sessions.without_id_context(fresh)
        assert round_trip(old)[0] is True
        monkeypatch.setattr(sessions, "without_id_context", lambda der: der)
        with pytest.raises(greentls.TLSError) as info:
            round_trip(old)
        assert info.value.code == "ERR_SSL_ATTEMPT_TO_REUSE_SESSION_IN_DIFFERENT_CONTEXT"


def test_without_id_context_leaves_what_it_cannot_parse():
    """Junk, truncated or foreign DER comes back unchanged (OpenSSL then refuses it)."""
    from greentls._config.sessions import without_id_context
    for junk in (b"", b"\x30", b"\x30\x05\x02\x01", b"\x04\x03abc", b"\x30\x82\xff\xff\x02\x01\x01"):
        assert without_id_context(junk) == junk
