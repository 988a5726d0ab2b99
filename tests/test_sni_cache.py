"""sni_callback answers that are options dicts: the context is built once and reused while the
dict's contents are unchanged, and the cache of such contexts is bounded.

Real handshakes through ``greentls.create_server(..., sni_callback=...)`` with the stdlib's ssl
as the client (gevent's cooperative copy, since the server runs in this process too).
"""
from __future__ import annotations

import os
import threading
from typing import Any

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from gevent import socket as gsocket, ssl
from helpers import port_of, serving

import greentls
from greentls._config import cache as _cache
from greentls._net.sni import CONTEXT_CACHE_SIZE, ContextCache, context_from_answer


def leaf_options(ca: trustme.CA, name: str) -> dict:
    """Context options (PEM bytes) for a fresh certificate of ``ca`` for ``name``."""
    leaf = ca.issue_cert(name)
    return {"key": leaf.private_key_pem.bytes(), "cert": leaf.cert_chain_pems[0].bytes()}


def serial_of(options: dict) -> int:
    return x509.load_pem_x509_certificate(options["cert"]).serial_number


@pytest.fixture(autouse=True)
def empty_cache() -> None:
    """Each test starts with an empty process cache, so "built" means built by that test."""
    _cache._contexts.clear()


class Recorder:
    """A server handler that notes the SecureContext each connection was served with."""

    def __init__(self) -> None:
        self.contexts: list = []

    def __call__(self, tls: Any) -> None:
        self.contexts.append(tls.secure_context)
        data = tls.recv(100)
        if data:
            tls.sendall(data)


def client_context(ca: trustme.CA, max_version: ssl.TLSVersion | None = None) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)    # gevent's class: cooperative I/O
    context.load_verify_locations(cadata=ca.cert_pem.bytes().decode())
    if max_version is not None:
        context.maximum_version = max_version
        context.options |= ssl.OP_NO_TICKET      # resume by session id (the server's cache)
    return context


def handshake(port: int, ca: trustme.CA, servername: str, session: Any = None,
              context: ssl.SSLContext | None = None) -> tuple:
    """One stdlib-ssl connection: returns (certificate serial, session, session reused)."""
    context = context or client_context(ca)
    raw = gsocket.create_connection(("127.0.0.1", port))
    try:
        with context.wrap_socket(raw, server_hostname=servername, session=session) as tls:
            tls.sendall(b"ping")
            assert tls.recv(4) == b"ping"
            serial = x509.load_der_x509_certificate(tls.getpeercert(binary_form=True)).serial_number
            return serial, tls.session, tls.session_reused
    finally:
        raw.close()


def test_same_dict_is_built_once_and_a_mutated_one_anew(ca, server_options):
    """The same dict answered twice serves the same SecureContext; mutated in place, a new one
    with the new certificate, which is then reused in its turn."""
    answer = leaf_options(ca, "a.example.com")
    first_serial = serial_of(answer)
    recorder = Recorder()
    with serving(recorder, sni_callback=lambda name: answer, **server_options) as server:
        port = port_of(server)
        assert handshake(port, ca, "a.example.com")[0] == first_serial
        assert handshake(port, ca, "a.example.com")[0] == first_serial
        answer.update(leaf_options(ca, "a.example.com"))        # the same dict, new contents
        assert handshake(port, ca, "a.example.com")[0] == serial_of(answer) != first_serial
        assert handshake(port, ca, "a.example.com")[0] == serial_of(answer)
    one, two, three, four = recorder.contexts
    assert one is two
    assert three is four and three is not one
    assert isinstance(one, greentls.SecureContext) and one is not server._default_context


def test_equal_fresh_dict_reuses_the_context(ca, server_options):
    """A callback that makes a fresh, equal dict per hello (nested key list included) still
    gets one context: the key is the dict's contents."""
    base = leaf_options(ca, "b.example.com")
    recorder = Recorder()

    def sni_callback(name: str) -> dict:
        return {"cert": [base["cert"]], "key": [{"pem": base["key"], "passphrase": None}]}

    with serving(recorder, sni_callback=sni_callback, **server_options) as server:
        for _ in range(3):
            assert handshake(port_of(server), ca, "b.example.com")[0] == serial_of(base)
    assert len({id(context) for context in recorder.contexts}) == 1


def test_cached_context_lets_sessions_resume(ca, server_options):
    """Reuse keeps TLS resumption working: a TLS 1.2 session id resumes under the context
    rebuilt from nothing but an equal dict."""
    base = leaf_options(ca, "c.example.com")
    with serving(Recorder(), sni_callback=lambda name: dict(base), **server_options) as server:
        port = port_of(server)
        tls12 = client_context(ca, ssl.TLSVersion.TLSv1_2)
        _, session, reused = handshake(port, ca, "c.example.com", context=tls12)
        assert not reused
        _, _, reused = handshake(port, ca, "c.example.com", session=session, context=tls12)
    assert reused


def test_path_answer_follows_the_file(ca, server_options, tmp_path):
    """A dict of paths keeps its context while the files stay, and builds anew when a file is
    replaced on disk (the key holds the file's stat, not only its name)."""
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"

    def install(options: dict) -> None:
        # As certificate tools do: write aside, then rename over the old file.
        for path, data in ((cert_path, options["cert"]), (key_path, options["key"])):
            (tmp_path / "new").write_bytes(data)
            os.replace(tmp_path / "new", path)

    old, new = leaf_options(ca, "d.example.com"), leaf_options(ca, "d.example.com")
    install(old)
    answer = {"cert": cert_path, "key": key_path}
    recorder = Recorder()
    with serving(recorder, sni_callback=lambda name: answer, **server_options) as server:
        port = port_of(server)
        assert handshake(port, ca, "d.example.com")[0] == serial_of(old)
        assert handshake(port, ca, "d.example.com")[0] == serial_of(old)
        install(new)
        assert handshake(port, ca, "d.example.com")[0] == serial_of(new)
    one, two, three = recorder.contexts
    assert one is two and three is not one


def test_cache_is_bounded_least_recently_used_first(server_options):
    """Many distinct answers (a servername per dict) keep at most CONTEXT_CACHE_SIZE contexts;
    the least recently used goes first, one just used stays."""
    def answer(i: int) -> dict:
        return dict(server_options, session_id_context=f"name-{i}")

    kept = context_from_answer(answer(0))
    for i in range(1, CONTEXT_CACHE_SIZE + 40):
        context_from_answer(answer(i))
        assert context_from_answer(answer(0)) is kept      # used on every round: never evicted
    assert len(_cache._contexts) == CONTEXT_CACHE_SIZE
    evicted = context_from_answer(answer(1))               # long unused: built again
    assert context_from_answer(answer(1)) is evicted
    assert len(_cache._contexts) == CONTEXT_CACHE_SIZE


def test_small_cache_evicts_oldest(server_options):
    """ContextCache(maxsize) keeps the newest entries."""
    cache = ContextCache(maxsize=2)
    a, b, c = (dict(server_options, session_id_context=n) for n in "abc")
    first_a = cache.get(a)
    cache.get(b)
    cache.get(c)
    assert len(cache) == 2
    assert cache.get(c) is cache.get(c)
    assert cache.get(a) is not first_a
    with pytest.raises(ValueError, match="maxsize"):
        ContextCache(maxsize=0)


def test_a_failed_build_is_not_cached(server_options):
    """An answer that cannot build raises every time and stores nothing."""
    bad = dict(server_options, cert=b"not a certificate")
    for _ in range(2):
        with pytest.raises(ValueError):
            context_from_answer(bad)
    assert len(_cache._contexts) == 0


def test_later_mutation_does_not_reach_the_cached_context(server_options):
    """The cached context holds its own copy of the answer's containers: a list mutated after
    the build changes neither the context's options nor what the old contents find."""
    answer = dict(server_options, cert=[server_options["cert"]])
    context = context_from_answer(answer)
    answer["cert"].append(b"garbage")
    assert context.options["cert"] == [server_options["cert"]]
    assert context_from_answer(dict(server_options, cert=[server_options["cert"]])) is context


def test_types_are_part_of_the_key(server_options):
    """Values equal in Python but different as options (bytes vs str) do not share."""
    as_bytes = context_from_answer(dict(server_options))
    as_str = context_from_answer({k: v.decode() for k, v in server_options.items()})
    assert as_bytes is not as_str


def test_threads_share_one_context(server_options):
    """OS threads answering the same dict end up with one context (the first stored wins)."""
    answer = dict(server_options)
    results: list = []
    barrier = threading.Barrier(4)

    def worker() -> None:
        barrier.wait()
        results.append(context_from_answer(answer))

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 4
    assert all(result is context_from_answer(answer) for result in results)


def test_add_context_with_a_dict_builds_once(ca, server_options):
    """add_context builds its dict once, when it is added."""
    options = leaf_options(ca, "e.example.com")
    recorder = Recorder()
    with serving(recorder, **server_options) as server:
        server.add_context("e.example.com", options)
        for _ in range(2):
            assert handshake(port_of(server), ca, "e.example.com")[0] == serial_of(options)
    assert recorder.contexts[0] is recorder.contexts[1]


def test_encrypted_key_list_answer(ca, server_options):
    """A key given as [{"pem", "passphrase"}] (unhashable as given) is cached by its contents."""
    leaf = ca.issue_cert("f.example.com")
    key = serialization.load_pem_private_key(leaf.private_key_pem.bytes(), password=None)
    encrypted = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.BestAvailableEncryption(b"secret"))

    def answer() -> dict:
        return {"cert": leaf.cert_chain_pems[0].bytes(), "key": [{"pem": encrypted, "passphrase": "secret"}]}

    assert context_from_answer(answer()) is context_from_answer(answer())


def test_wildcard_pattern_does_not_match_a_trailing_newline():
    """A mid-label wildcard matches the whole name only: "wxw.example.com\\n" is not served."""
    from greentls._net.sni import SNITable
    table = SNITable()
    marker = object()
    table.add("w*w.example.com", marker)  # type: ignore[arg-type]
    assert table.lookup("wxw.example.com") is marker
    assert table.lookup("wxw.example.com\n") is None
