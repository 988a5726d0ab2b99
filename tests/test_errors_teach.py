"""Errors that teach: a wrong option name suggests the right one and lists the valid ones; a
key-material str that names a file says to pass ``pathlib.Path``."""
from __future__ import annotations

from pathlib import Path

import pytest

import greentls


def test_unknown_option_suggests_the_closest_and_lists_the_valid():
    with pytest.raises(TypeError) as raised:
        greentls.create_server(lambda tls: None, certfile="server.pem")
    message = str(raised.value)
    assert "unexpected option 'certfile'" in message
    assert "(did you mean 'cert'?)" in message
    assert "valid options: allow_partial_trust_chain, alpn_callback, alpn_protocols, ca, cert," in message


def test_unknown_option_without_a_close_name_still_lists_the_valid():
    with pytest.raises(TypeError) as raised:
        greentls.create_secure_context(zzzz=1)
    assert "did you mean" not in str(raised.value)
    assert "valid options: " in str(raised.value) and "'zzzz'" in str(raised.value)


@pytest.mark.parametrize("option", ["ca", "cert", "key", "crl"])
def test_str_naming_a_file_says_to_pass_a_path(cert_files, option):
    """A str is PEM text (Node's rule); one that is a file's name gets a hint, not "not PEM"."""
    options = {option: cert_files["ca"]}
    if option == "cert":
        options["key"] = Path(cert_files["key"])
    if option == "key":
        options["cert"] = Path(cert_files["cert"])
    with pytest.raises(ValueError, match=rf"option '{option}'.*names a file.*pathlib\.Path"):
        greentls.create_secure_context(**options)


def test_path_and_pem_text_still_work(cert_files):
    greentls.create_secure_context(ca=Path(cert_files["ca"]))
    greentls.create_secure_context(ca=Path(cert_files["ca"]).read_text())
