"""An ocsp_request receiver answering bytes that are not a DER OCSPResponse is reported once,
not once per client handshake (any client sending status_request could flood the log)."""
from __future__ import annotations

import gc
import logging
import os

import pytest
from helpers import echo, openssl, port_of, serving

import greentls
from greentls._config import ocsp as _ocsp
from greentls._config.ocsp import warn_if_undecodable

MESSAGE = "not a DER OCSPResponse"


def warnings_in(caplog: pytest.LogCaptureFixture) -> list:
    return [r for r in caplog.records if MESSAGE in r.getMessage() and r.levelno == logging.WARNING]


@pytest.fixture(autouse=True)
def fresh_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts with nothing reported (the memory is process-wide)."""
    monkeypatch.setattr(_ocsp, "_warned_digests", set())


@pytest.fixture
def garbage_receiver():
    """Connect a receiver that answers the same garbage (new to this process) on every request."""
    garbage = b"not an OCSP response " + os.urandom(8).hex().encode()
    calls: list = []

    def receiver(sender, certificate, issuer):
        calls.append(sender)
        return garbage

    greentls.ocsp_request.connect(receiver)
    yield calls
    greentls.ocsp_request.disconnect(receiver)


def test_five_handshakes_one_warning(garbage_receiver, caplog, server_options, client_options):
    """Five greentls clients asking for status: five answers, all handshakes succeed, one warning."""
    caplog.set_level(logging.WARNING, logger="greentls")
    with serving(echo, **server_options) as server:
        for _ in range(5):
            tls = greentls.connect(port_of(server), "127.0.0.1", servername="localhost",
                                   request_ocsp=True, **client_options)
            tls.sendall(b"x")
            assert tls.recv(1) == b"x"
            tls.close()
    assert len(garbage_receiver) == 5
    assert len(warnings_in(caplog)) == 1


def test_openssl_status_clients_one_warning(need_openssl, garbage_receiver, caplog, server_options,
                                            cert_files):
    """Five `openssl s_client -status` handshakes: one warning, and none of them got a staple."""
    caplog.set_level(logging.WARNING, logger="greentls")
    with serving(echo, **server_options) as server:
        for _ in range(5):
            result = openssl(["s_client", "-connect", f"127.0.0.1:{port_of(server)}", "-servername",
                              "localhost", "-status", "-CAfile", cert_files["ca"]], input=b"")
            assert b"Verify return code: 0" in result.stdout
            assert b"OCSP Response Status: successful" not in result.stdout
    assert len(garbage_receiver) == 5
    assert len(warnings_in(caplog)) == 1


def test_once_per_context_whatever_the_garbage(caplog):
    """With ``context``, different garbage each time still warns once per context; another
    context warns once more; a context that is gone is forgotten (weakly held)."""
    caplog.set_level(logging.WARNING, logger="greentls")

    class Context:
        pass

    first, second = Context(), Context()
    for _ in range(5):
        warn_if_undecodable(os.urandom(16), context=first)
    assert len(warnings_in(caplog)) == 1
    warn_if_undecodable(os.urandom(16), context=second)
    assert len(warnings_in(caplog)) == 2
    gc.collect()  # other tests' contexts, collected now, would change the count below
    size = len(_ocsp._warned_contexts)
    del first
    gc.collect()
    assert len(_ocsp._warned_contexts) == size - 1


def test_a_decodable_answer_never_warns(caplog, server_options):
    """A real OCSPResponse (here an unsuccessful one, still valid DER) warns nothing."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.x509 import ocsp
    caplog.set_level(logging.WARNING, logger="greentls")
    der = ocsp.OCSPResponseBuilder.build_unsuccessful(ocsp.OCSPResponseStatus.TRY_LATER).public_bytes(
        serialization.Encoding.DER)
    context = greentls.create_secure_context(**server_options)
    warn_if_undecodable(der, context=context)
    warn_if_undecodable(der)
    assert warnings_in(caplog) == []
    warn_if_undecodable(b"garbage", context=context)
    assert len(warnings_in(caplog)) == 1


def test_without_context_once_per_answer_and_bounded(caplog):
    """The old call (no ``context``) warns once per distinct answer, and remembers a bounded
    number of them; beyond that it logs at debug level only."""
    caplog.set_level(logging.DEBUG, logger="greentls")
    same = b"garbage " + os.urandom(8)
    for _ in range(3):
        warn_if_undecodable(same)
    assert len(warnings_in(caplog)) == 1
    for _ in range(_ocsp._UNDECODABLE_DIGESTS_KEPT + 10):
        warn_if_undecodable(os.urandom(16))
    assert len(_ocsp._warned_digests) <= _ocsp._UNDECODABLE_DIGESTS_KEPT
    assert len(warnings_in(caplog)) <= _ocsp._UNDECODABLE_DIGESTS_KEPT
    assert any(MESSAGE in r.getMessage() and r.levelno == logging.DEBUG for r in caplog.records)


def test_a_context_without_weak_references_falls_back_to_the_answer(caplog):
    """An object that cannot be weakly referenced as ``context`` is deduplicated by answer."""
    caplog.set_level(logging.WARNING, logger="greentls")
    garbage = b"garbage " + os.urandom(8)
    for _ in range(3):
        warn_if_undecodable(garbage, context=("not", "weakly", "referable"))
    assert len(warnings_in(caplog)) == 1
