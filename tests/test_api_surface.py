"""The public surface matches the API reference (docs/api/): names, members, signals, error hierarchy, capabilities."""
from __future__ import annotations

import ssl

import blinker
import pytest

import greentls

MODULE_NAMES = """create_secure_context create_server connect check_server_identity get_ciphers
DEFAULT_CIPHERS DEFAULT_ECDH_CURVE DEFAULT_MIN_VERSION DEFAULT_MAX_VERSION CLIENT_RENEG_LIMIT
CLIENT_RENEG_WINDOW create_secure_pair Server TLSSocket SecureContext SecurePair CryptoStream
TLSError HandshakeTimeoutError CertificateError RenegotiationError UnsupportedError signals
capabilities wrap_socket wsgi SSLContext SSLSocket SSLObject SSLSession create_default_context
inject_into_ssl extract_from_ssl root_certificates get_ca_certificates set_default_ca_certificates""".split()

SERVER_MEMBERS = """listen serve_forever address close stop get_connections connections add_context
set_secure_context get_ticket_keys set_ticket_keys reload stats""".split()

SOCKET_MEMBERS = """do_handshake recv recv_into send sendall makefile close shutdown settimeout
gettimeout fileno authorized authorization_error encrypted alpn_protocol servername get_cipher
get_ephemeral_key_info get_finished get_peer_finished get_peer_certificate get_certificate
get_x509_certificate get_peer_x509_certificate
get_protocol get_session get_tls_ticket is_session_reused renegotiate disable_renegotiation
set_max_send_fragment export_keying_material verify_client_post_handshake proxy address local_address
enable_trace get_shared_sigalgs set_key_cert
local_port remote_address
remote_family remote_port getpeercert cipher version selected_alpn_protocol server_hostname
__enter__ __exit__""".split()

#: ``ssl.SSLSocket``'s public members, and what greentls.SSLSocket adds of its own.
SSLSOCKET_MEMBERS = sorted({name for name in dir(ssl.SSLSocket) if not name.startswith("_")} | set(
    """accept getsockname getpeername setsockopt getsockopt setblocking settimeout get_channel_binding
    session session_reused context shared_ciphers compression pending unwrap get_verified_chain
    get_unverified_chain verify_client_post_handshake server_side server_hostname""".split()))

SIGNALS = """secure_connection tls_client_error new_session resume_session ocsp_request secure_connect
ocsp_response session keylog trace secure""".split()


@pytest.mark.parametrize("name", MODULE_NAMES)
def test_module_exports(name):
    """Every module-level name of the API reference exists on greentls."""
    assert hasattr(greentls, name)


def test_module_defaults():
    """The module constants have Node's defaults."""
    assert greentls.DEFAULT_ECDH_CURVE == "auto"
    assert greentls.DEFAULT_MIN_VERSION == "TLSv1.2"
    assert greentls.DEFAULT_MAX_VERSION == "TLSv1.3"
    assert greentls.CLIENT_RENEG_LIMIT == 3
    assert greentls.CLIENT_RENEG_WINDOW == 600.0


@pytest.mark.parametrize("name", SERVER_MEMBERS)
def test_server_members(name):
    """Server has every member docs/api/server.rst lists."""
    assert hasattr(greentls.Server, name)


@pytest.mark.parametrize("name", SOCKET_MEMBERS)
def test_tls_socket_members(name):
    """TLSSocket has every member docs/api/tlssocket.rst lists."""
    assert hasattr(greentls.TLSSocket, name)


@pytest.mark.parametrize("name", SIGNALS)
def test_signals(name):
    """Each signal is a documented blinker signal, in greentls.signals and on greentls."""
    signal = getattr(greentls.signals, name)
    assert isinstance(signal, blinker.Signal)
    assert signal is getattr(greentls, name)
    assert signal.__doc__


def test_error_hierarchy():
    """TLSError is an ssl.SSLError; the subclasses are also what docs/api/errors.rst says."""
    assert issubclass(greentls.TLSError, ssl.SSLError) and issubclass(greentls.TLSError, OSError)
    assert issubclass(greentls.CertificateError, ssl.SSLCertVerificationError)
    assert issubclass(greentls.HandshakeTimeoutError, TimeoutError)
    for cls in (greentls.CertificateError, greentls.HandshakeTimeoutError, greentls.RenegotiationError,
                greentls.UnsupportedError):
        assert issubclass(cls, greentls.TLSError)
    error = greentls.TLSError("wrong version number", code="ERR_SSL_WRONG_VERSION_NUMBER")
    assert str(error) == "wrong version number" and error.code == "ERR_SSL_WRONG_VERSION_NUMBER"


def test_capabilities_keys():
    """capabilities is a dict of bools with at least the keys docs/api/constants.rst names."""
    caps = greentls.capabilities
    assert {"external_session_cache", "ticket_keys", "client_cert_engine", "post_handshake_auth"} <= set(caps)
    assert all(isinstance(value, bool) for value in caps.values())


def test_unsupported_ticket_keys_raise(server_options):
    """Where ticket_keys is False, the ticket-key API raises UnsupportedError saying why."""
    if greentls.capabilities["ticket_keys"]:
        pytest.skip("this binding can set ticket keys")
    server = greentls.create_server(None, **server_options)
    with pytest.raises(greentls.UnsupportedError, match="SSL_CTX_ctrl"):
        server.get_ticket_keys()
    with pytest.raises(greentls.UnsupportedError):
        server.set_ticket_keys(b"k" * 48)
    with pytest.raises(greentls.UnsupportedError):
        greentls.create_server(None, ticket_keys=b"k" * 48, **server_options)


def test_resume_session_receivers_refused_at_listen(server_options):
    """Without an external session cache, listen() refuses a server with resume_session receivers."""
    if greentls.capabilities["external_session_cache"]:
        pytest.skip("this binding has an external session cache")
    server = greentls.create_server(None, **server_options)

    def lookup(sender, session_id):
        return None

    greentls.resume_session.connect(lookup, sender=server)
    try:
        with pytest.raises(greentls.UnsupportedError, match="session"):
            server.listen(0, "127.0.0.1")
    finally:
        greentls.resume_session.disconnect(lookup, sender=server)
    server.listen(0, "127.0.0.1")
    server.stop(timeout=0)


def test_openssl_error_without_reason_has_a_code():
    """An OpenSSL failure with an empty error queue still gets a real code, never "ERR_SSL_";
    an engine gives the first reasoned error of its connection again instead (translate)."""
    from OpenSSL import SSL

    from greentls._base.errors import from_openssl
    from greentls._engine.engine import TLSEngine

    bare = from_openssl(SSL.Error([]), during="read")
    assert bare.code == "ERR_SSL_PROTOCOL_ERROR" and "no reason" in str(bare)
    engine = TLSEngine(SSL.Context(SSL.TLS_METHOD), server_side=False)
    first = engine.translate(SSL.Error([("SSL routines", "", "tlsv1 alert unknown ca")]), "shutdown")
    assert first.code == "ERR_SSL_TLSV1_ALERT_UNKNOWN_CA"
    assert engine.translate(SSL.Error([]), "read") is first


@pytest.mark.parametrize("name", SSLSOCKET_MEMBERS)
def test_sslsocket_members(name):
    """greentls.SSLSocket has every member of ssl.SSLSocket (and is one), and TLSSocket's."""
    assert hasattr(greentls.SSLSocket, name)
    assert issubclass(greentls.SSLSocket, ssl.SSLSocket) and issubclass(greentls.SSLSocket, greentls.TLSSocket)


@pytest.mark.parametrize("name", sorted(n for n in dir(ssl.SSLObject) if not n.startswith("_")))
def test_sslobject_members(name):
    """greentls.SSLObject has every member of ssl.SSLObject."""
    assert hasattr(greentls.SSLObject, name)


def test_sslcontext_is_the_stdlibs():
    """greentls.SSLContext is an ssl.SSLContext with all its members; create_default_context
    returns one with the stdlib's defaults."""
    assert issubclass(greentls.SSLContext, ssl.SSLContext)
    ctx, std = greentls.create_default_context(), ssl.create_default_context()
    for name in ("verify_mode", "check_hostname", "minimum_version", "maximum_version", "options",
                 "verify_flags", "protocol", "hostname_checks_common_name", "security_level"):
        assert getattr(ctx, name) == getattr(std, name), name
    server = greentls.create_default_context(ssl.Purpose.CLIENT_AUTH)
    assert server.protocol == ssl.PROTOCOL_TLS_SERVER and server.verify_mode == ssl.CERT_NONE


def test_stdlib_error_classes():
    """The errors greentls raises where the stdlib raises its own are the stdlib's classes."""
    from greentls._base import errors
    assert issubclass(errors.UnexpectedEOFError, ssl.SSLEOFError)
    assert issubclass(errors.ZeroReturnError, ssl.SSLZeroReturnError)
    assert issubclass(errors.WantReadError, ssl.SSLWantReadError)
    assert issubclass(errors.WantWriteError, ssl.SSLWantWriteError)
    for cls in (errors.UnexpectedEOFError, errors.ZeroReturnError, errors.WantReadError, errors.WantWriteError):
        assert issubclass(cls, greentls.TLSError)
    assert errors.UnexpectedEOFError().errno == ssl.SSL_ERROR_EOF
    assert errors.ZeroReturnError().errno == ssl.SSL_ERROR_ZERO_RETURN
