"""create_secure_context options, each checked against a real peer (node, openssl s_client)."""
from __future__ import annotations

import json
import pathlib

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from helpers import echo, node, openssl, port_of, serving

import greentls

pytestmark = pytest.mark.usefixtures("need_node")

#: A Node client: argv = port, JSON connect options; prints what the handshake negotiated.
NODE_CLIENT = r"""
const tls = require('tls');
const [port, opts] = [Number(process.argv[2]), JSON.parse(process.argv[3])];
const s = tls.connect(Object.assign({port, host: '127.0.0.1', servername: 'localhost'}, opts), () => {
  const out = {authorized: s.authorized, authorizationError: s.authorizationError || null,
               cipher: s.getCipher(), protocol: s.getProtocol(), ekey: s.getEphemeralKeyInfo(),
               peer: (({bits, asn1Curve}) => ({bits, asn1Curve}))(s.getPeerCertificate())};
  s.end(); console.log(JSON.stringify(out));
});
s.on('error', (e) => { console.log(JSON.stringify({error: e.code || e.message})); });
"""


def node_client(port: int, **options) -> dict:
    """Connect a Node client with ``options``; returns its report."""
    return node(NODE_CLIENT, port, json.dumps(options))


def pem(blob) -> str:
    return blob.bytes().decode()


@pytest.fixture(scope="module")
def rsa_cert(ca: trustme.CA) -> trustme.LeafCert:
    """An RSA server certificate from the test CA (trustme's default key is ECDSA)."""
    return ca.issue_cert("localhost", "127.0.0.1", key_type=trustme.KeyType.RSA)


@pytest.fixture(scope="module")
def dh3072(tmp_path_factory) -> pathlib.Path:
    """RFC 7919's ffdhe3072 group as PEM DH parameters (instant, unlike generating a group)."""
    path = tmp_path_factory.mktemp("dh") / "dh3072.pem"
    openssl(["genpkey", "-genparam", "-algorithm", "DH", "-pkeyopt", "group:ffdhe3072", "-out", str(path)],
            check=True)
    return path


def _server_options(leaf: trustme.LeafCert) -> dict:
    return {"key": leaf.private_key_pem.bytes(), "cert": b"".join(b.bytes() for b in leaf.cert_chain_pems)}


def test_restricted_cipher_is_negotiated(server_options, ca):
    """The one TLS 1.2 suite the server allows is the one a Node client gets."""
    for suite in ("ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-CHACHA20-POLY1305"):
        with serving(echo, ciphers=suite, max_version="TLSv1.2", **server_options) as server:
            out = node_client(port_of(server), ca=pem(ca.cert_pem))
        assert out["cipher"]["name"] == suite


def test_tls13_cipher_suite_restricted(server_options, ca):
    """A TLS_ name in 'ciphers' restricts the TLS 1.3 suites."""
    with serving(echo, ciphers="TLS_CHACHA20_POLY1305_SHA256", **server_options) as server:
        out = node_client(port_of(server), ca=pem(ca.cert_pem))
    assert out["cipher"]["name"] == "TLS_CHACHA20_POLY1305_SHA256"


@pytest.mark.parametrize(("honor", "expected"), [(True, "ECDHE-ECDSA-AES128-GCM-SHA256"),
                                             (False, "ECDHE-ECDSA-AES256-GCM-SHA384")])
def test_honor_cipher_order(server_options, ca, honor, expected):
    """honor_cipher_order makes the server's order win over the Node client's."""
    server_list = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384"
    client_list = "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES128-GCM-SHA256"
    with serving(echo, ciphers=server_list, honor_cipher_order=honor, max_version="TLSv1.2",
                 **server_options) as server:
        out = node_client(port_of(server), ca=pem(ca.cert_pem), ciphers=client_list)
    assert out["cipher"]["name"] == expected


def test_dhparam_dhe_suite_reports_dh_size(rsa_cert, ca, dh3072):
    """With dhparam a DHE suite is negotiated and Node's client sees the group's 3072 bits.

    The client offers no ffdhe group: OpenSSL 4 honours RFC 7919 negotiation (an offered ffdhe
    group wins over the configured parameters), so only this way are the parameters used."""
    with serving(echo, ciphers="DHE-RSA-AES128-GCM-SHA256", max_version="TLSv1.2", dhparam=dh3072,
                 **_server_options(rsa_cert)) as server:
        out = node_client(port_of(server), ca=pem(ca.cert_pem), ecdhCurve="X25519:P-256")
    assert out["cipher"]["name"] == "DHE-RSA-AES128-GCM-SHA256"
    assert out["ekey"] == {"type": "DH", "size": 3072}


@pytest.mark.parametrize(("bits", "group"), [(2048, 2048), (3072, 3072), (4096, 4096)])
def test_dhparam_auto_sizes_the_group_to_the_rsa_key(ca, bits, group):
    """dhparam='auto' (Node's SSL_CTX_set_dh_auto): the RFC 7919 group whose strength matches
    the RSA key's, as a Node client sees it on a DHE suite."""
    from cryptography.hazmat.primitives.asymmetric import rsa as _rsa
    leaf = ca.issue_cert("localhost", "127.0.0.1", key_type=trustme.KeyType.RSA) if bits == 2048 else None
    if leaf is None:
        import datetime

        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.x509.oid import NameOID
        key = _rsa.generate_private_key(public_exponent=65537, key_size=bits)
        ca_key = serialization.load_pem_private_key(ca.private_key_pem.bytes(), None)
        ca_cert = x509.load_pem_x509_certificate(ca.cert_pem.bytes())
        now = datetime.datetime.now(datetime.timezone.utc)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
        cert = (x509.CertificateBuilder().subject_name(name)
                .issuer_name(ca_cert.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=1))
                .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
                .sign(ca_key, hashes.SHA256()))
        options = {"key": key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                            serialization.NoEncryption()),
                   "cert": cert.public_bytes(serialization.Encoding.PEM)}
    else:
        options = _server_options(leaf)
    with serving(echo, ciphers="DHE-RSA-AES128-GCM-SHA256", max_version="TLSv1.2", dhparam="auto",
                 **options) as server:
        out = node_client(port_of(server), ca=pem(ca.cert_pem), ecdhCurve="X25519:P-256")
    assert out["cipher"]["name"] == "DHE-RSA-AES128-GCM-SHA256"
    assert out["ekey"] == {"type": "DH", "size": group}


def _dh_numbers(pem_data: bytes) -> tuple[int, int]:
    """(p, g) of PEM DH parameters, read from the DER by hand (cryptography's FFDH is deprecated)."""
    import base64
    der = base64.b64decode(b"".join(line for line in pem_data.splitlines() if not line.startswith(b"-----")))

    def element(data: bytes, offset: int) -> tuple[bytes, int]:
        length, offset = data[offset + 1], offset + 2
        if length & 0x80:
            count = length & 0x7F
            length, offset = int.from_bytes(data[offset:offset + count], "big"), offset + count
        return data[offset:offset + length], offset + length

    body, _ = element(der, 0)  # SEQUENCE
    p, offset = element(body, 0)
    g, _ = element(body, offset)
    return int.from_bytes(p, "big"), int.from_bytes(g, "big")


def test_ffdhe_constants_are_rfc_7919s():
    """The groups are RFC 7919's: g = 2, and p = 2^b - 2^(b-64) + {[2^(b-130) e] + X} * 2^64 - 1,
    whose top and bottom 64 bits are all ones, and whose next bits are e's (0xadf85458a2bb4a9a)."""
    from greentls._config.ffdhe import FFDHE
    for bits, data in FFDHE.items():
        p, g = _dh_numbers(data)
        assert g == 2 and p.bit_length() == bits
        assert p >> (bits - 64) == 2**64 - 1 and p & (2**64 - 1) == 2**64 - 1
        assert (p >> (bits - 128)) & (2**64 - 1) == 0xADF85458A2BB4A9A


def test_without_dhparam_no_dhe(rsa_cert, ca):
    """Without dhparam (and no ffdhe group offered) a DHE-only server has no group: the handshake fails."""
    with serving(echo, ciphers="DHE-RSA-AES128-GCM-SHA256", max_version="TLSv1.2",
                 **_server_options(rsa_cert)) as server:
        out = node_client(port_of(server), ca=pem(ca.cert_pem), ecdhCurve="X25519:P-256")
    assert "error" in out, out


def test_dhparam_small_or_bad(tmp_path):
    """A DH group under 1024 bits and malformed parameters are refused naming dhparam."""
    small = tmp_path / "dh512.pem"
    openssl(["dhparam", "-out", str(small), "512"], timeout=60)
    with pytest.raises(ValueError, match=r"dhparam.*less than 1024"):
        greentls.create_secure_context(dhparam=small)
    with pytest.raises(ValueError, match="dhparam"):
        greentls.create_secure_context(dhparam="-----BEGIN DH PARAMETERS-----\nxx\n-----END DH PARAMETERS-----\n")


@pytest.mark.parametrize(("version", "curve", "node_name"), [("TLSv1.2", "P-384", "secp384r1"),
                                                      ("TLSv1.3", "P-521", "secp521r1")])
def test_ecdh_curve(server_options, ca, version, curve, node_name):
    """ecdh_curve limits the groups: Node's client reports the one the server allowed."""
    with serving(echo, ecdh_curve=curve, max_version=version, **server_options) as server:
        out = node_client(port_of(server), ca=pem(ca.cert_pem), ecdhCurve="X25519:P-256:P-384:P-521")
    assert out["ekey"]["name"] == node_name


def test_ecdh_curve_bad():
    """Unknown groups and non-strings are refused naming ecdh_curve."""
    with pytest.raises(ValueError, match="ecdh_curve"):
        greentls.create_secure_context(ecdh_curve="P-999")
    with pytest.raises(TypeError, match="ecdh_curve"):
        greentls.create_secure_context(ecdh_curve=False)


@pytest.mark.parametrize(("sigalgs", "digest"), [("RSA-PSS+SHA384", "SHA384"), ("RSA-PSS+SHA512", "SHA512")])
def test_sigalgs_restrict_server_signature(rsa_cert, sigalgs, digest, need_openssl):
    """Server sigalgs decide the signature openssl s_client sees."""
    with serving(echo, sigalgs=sigalgs, **_server_options(rsa_cert)) as server:
        result = openssl(["s_client", "-connect", f"127.0.0.1:{port_of(server)}", "-brief"], input=b"")
    text = result.stderr.decode() + result.stdout.decode()
    assert f"Hash used: {digest}" in text, text


def test_sigalgs_bad():
    """An unknown signature algorithm is refused naming sigalgs."""
    with pytest.raises(ValueError, match="sigalgs"):
        greentls.create_secure_context(sigalgs="NOPE+SHA1")


def _s_client(port: int, *flags: str) -> str:
    result = openssl(["s_client", "-connect", f"127.0.0.1:{port}", "-brief", *flags], input=b"")
    return result.stderr.decode() + result.stdout.decode()


@pytest.mark.parametrize(("options", "ok", "refused"), [
    ({"max_version": "TLSv1.2"}, "-tls1_2", "-tls1_3"),
    ({"min_version": "TLSv1.3"}, "-tls1_3", "-tls1_2"),
    ({"secure_protocol": "TLSv1_2_method"}, "-tls1_2", "-tls1_3"),
    ({"secure_options": 0x20000000}, "-tls1_2", "-tls1_3"),  # SSL_OP_NO_TLSv1_3
])
def test_version_limits_enforced(server_options, need_openssl, options, ok, refused):
    """min_version/max_version/secure_protocol/secure_options decide what openssl s_client may use."""
    with serving(echo, **options, **server_options) as server:
        good = _s_client(port_of(server), ok)
        bad = _s_client(port_of(server), refused)
    assert "CONNECTION ESTABLISHED" in good, good
    assert "CONNECTION ESTABLISHED" not in bad, bad


def test_protocol_names_bad():
    """Unknown protocol names are refused naming the option."""
    with pytest.raises(ValueError, match="secure_protocol"):
        greentls.create_secure_context(secure_protocol="TLSv9_method")
    with pytest.raises(ValueError, match="min_version"):
        greentls.create_secure_context(min_version="TLSv1.9")
    with pytest.raises(TypeError, match="secure_options"):
        greentls.create_secure_context(secure_options="x")


def _encrypted_key(leaf: trustme.LeafCert, passphrase: bytes) -> bytes:
    key = serialization.load_pem_private_key(leaf.private_key_pem.bytes(), None)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.BestAvailableEncryption(passphrase))


def test_encrypted_key_with_passphrase(server_cert, ca):
    """An encrypted PEM key with its passphrase (plain and as a {pem, passphrase} item) serves Node."""
    cert = b"".join(b.bytes() for b in server_cert.cert_chain_pems)
    encrypted = _encrypted_key(server_cert, b"s3cret")
    for options in ({"key": encrypted, "passphrase": "s3cret"},
                    {"key": [{"pem": encrypted, "passphrase": b"s3cret"}], "passphrase": "other"}):
        with serving(echo, cert=cert, **options) as server:
            out = node_client(port_of(server), ca=pem(ca.cert_pem))
        assert out["authorized"] is True, out


def test_wrong_or_missing_passphrase(server_cert):
    """A wrong or missing passphrase is a clear error naming the key/passphrase."""
    cert = b"".join(b.bytes() for b in server_cert.cert_chain_pems)
    encrypted = _encrypted_key(server_cert, b"s3cret")
    with pytest.raises(ValueError, match=r"'key'.*passphrase"):
        greentls.create_secure_context(key=encrypted, cert=cert, passphrase="wrong")
    with pytest.raises(ValueError, match="'key'"):
        greentls.create_secure_context(key=encrypted, cert=cert)


def test_bad_pem_and_mismatch(server_cert, client_cert):
    """Malformed PEM and a key that does not match its certificate are refused naming the option."""
    cert = b"".join(b.bytes() for b in server_cert.cert_chain_pems)
    with pytest.raises(ValueError, match="'cert'"):
        greentls.create_secure_context(key=server_cert.private_key_pem.bytes(), cert="not a pem")
    with pytest.raises(ValueError, match="'key'"):
        greentls.create_secure_context(key="-----BEGIN PRIVATE KEY-----\nAA\n-----END PRIVATE KEY-----\n",
                                       cert=cert)
    with pytest.raises(ValueError, match=r"'key'.*mismatch"):
        greentls.create_secure_context(key=client_cert.private_key_pem.bytes(), cert=cert)
    with pytest.raises(ValueError, match="'ca'"):
        greentls.create_secure_context(ca="garbage")


def _pfx(leaf: trustme.LeafCert, ca: trustme.CA, passphrase: bytes) -> bytes:
    key = serialization.load_pem_private_key(leaf.private_key_pem.bytes(), None)
    cert = x509.load_pem_x509_certificate(leaf.cert_chain_pems[0].bytes())
    ca_cert = x509.load_pem_x509_certificate(ca.cert_pem.bytes())
    return pkcs12.serialize_key_and_certificates(b"server", key, cert, [ca_cert],
                                                 serialization.BestAvailableEncryption(passphrase))


def test_pfx(server_cert, ca):
    """A PKCS#12 bundle (bytes with passphrase, or a {buf, passphrase} list item) serves Node."""
    blob = _pfx(server_cert, ca, b"pfxpass")
    for options in ({"pfx": blob, "passphrase": "pfxpass"}, {"pfx": [{"buf": blob, "passphrase": "pfxpass"}]}):
        with serving(echo, **options) as server:
            out = node_client(port_of(server), ca=pem(ca.cert_pem))
        assert out["authorized"] is True, out


def test_pfx_from_path_and_wrong_passphrase(server_cert, ca, tmp_path):
    """pfx from a path works; a wrong passphrase is an error naming pfx."""
    path = tmp_path / "server.p12"
    path.write_bytes(_pfx(server_cert, ca, b"pfxpass"))
    greentls.create_secure_context(pfx=path, passphrase="pfxpass")
    with pytest.raises(ValueError, match=r"'pfx'.*passphrase"):
        greentls.create_secure_context(pfx=path, passphrase="nope")


def test_rsa_and_ecdsa_side_by_side(server_cert, rsa_cert, need_openssl):
    """Two keys of different types each serve the client whose sigalgs call for them."""
    options = {"key": [rsa_cert.private_key_pem.bytes(), server_cert.private_key_pem.bytes()],
               "cert": [b"".join(b.bytes() for b in rsa_cert.cert_chain_pems),
                        b"".join(b.bytes() for b in server_cert.cert_chain_pems)]}
    with serving(echo, **options) as server:
        ecdsa = _s_client(port_of(server), "-sigalgs", "ECDSA+SHA256")
        rsa = _s_client(port_of(server), "-sigalgs", "RSA-PSS+SHA256")
    assert "Signature type: ECDSA" in ecdsa, ecdsa
    assert "Signature type: RSA-PSS" in rsa, rsa


def test_material_from_paths(cert_files, ca):
    """os.PathLike key/cert/ca are read from disk."""
    with serving(echo, key=pathlib.Path(cert_files["key"]), cert=pathlib.Path(cert_files["cert"])) as server:
        out = node_client(port_of(server), ca=pem(ca.cert_pem))
        client = greentls.connect(port_of(server), "127.0.0.1", servername="localhost",
                                  ca=pathlib.Path(cert_files["ca"]))
        assert client.authorized
        client.close()
    assert out["authorized"] is True


def test_ca_several_pems_replace_certifi(server_options, ca):
    """ca as one string of several PEMs (or a list) is the whole trust store; certifi is not used."""
    other = trustme.CA()
    both = other.cert_pem.bytes() + ca.cert_pem.bytes()
    with serving(echo, **server_options) as server:
        for ca_option in (both, [other.cert_pem.bytes(), ca.cert_pem.bytes()]):
            client = greentls.connect(port_of(server), "127.0.0.1", servername="localhost", ca=ca_option)
            assert client.authorized
            client.close()
        with pytest.raises(greentls.CertificateError) as info:
            greentls.connect(port_of(server), "127.0.0.1", servername="localhost", ca=other.cert_pem.bytes())
        assert info.value.code == "UNABLE_TO_VERIFY_LEAF_SIGNATURE"
        with pytest.raises(greentls.CertificateError):
            greentls.connect(port_of(server), "127.0.0.1", servername="localhost")


def test_client_cert_engine_unsupported():
    """client_cert_engine raises UnsupportedError where the binding has no engines."""
    if greentls.capabilities["client_cert_engine"]:
        pytest.skip("this binding has engines")
    with pytest.raises(greentls.UnsupportedError, match="client_cert_engine"):
        greentls.create_secure_context(client_cert_engine="pkcs11")


def test_session_id_context_bad():
    """session_id_context longer than 32 bytes is refused naming the option."""
    with pytest.raises(ValueError, match="session_id_context"):
        greentls.create_secure_context(session_id_context="x" * 33)
    greentls.create_secure_context(session_id_context="app")


@pytest.mark.parametrize(("name", "node_option"), [("minimum_version", "min_version"),
                                                    ("maximum_version", "max_version"),
                                                    ("verify_flags", "crl"),
                                                    ("keylog_filename", "SSLKEYLOGFILE")])
def test_stdlib_settings_it_cannot_honour_raise(name, node_option):
    """A stdlib setting a built SecureContext would ignore raises AttributeError naming where
    the setting goes instead, never a silent no-op (a TLS 1.3 connection under a context
    whose maximum_version was set to TLS 1.2, say)."""
    import ssl
    context = greentls.create_secure_context()
    with pytest.raises(AttributeError, match=f"{name}.*{node_option}"):
        setattr(context, name, ssl.TLSVersion.TLSv1_2 if "version" in name else 1)


def test_stdlib_per_connection_settings_are_writable():
    """verify_mode and check_hostname are per-connection policy, so they stay assignable."""
    import ssl
    context = greentls.create_secure_context()
    assert not context.verify_mode_set
    context.verify_mode = ssl.CERT_OPTIONAL
    context.check_hostname = False
    assert context.verify_mode == ssl.CERT_OPTIONAL and context.verify_mode_set
    with pytest.raises(ValueError):
        context.verify_mode = 7


def test_stdlib_options_flags_say_where_they_go():
    """``ctx.options |= ssl.OP_NO_TLSv1`` (stdlib code) raises a TypeError that names
    secure_options and min_version, not an unrelated error; the dict still works as a dict."""
    import ssl
    context = greentls.create_secure_context(min_version="TLSv1.2")
    with pytest.raises(TypeError, match=r"secure_options.*min_version"):
        context.options |= ssl.OP_NO_TLSv1
    with pytest.raises(TypeError, match="secure_options"):
        _ = context.options & ssl.OP_NO_COMPRESSION
    assert context.options["min_version"] == "TLSv1.2"
    assert dict(context.options | {"max_version": "TLSv1.3"}) == {"min_version": "TLSv1.2", "max_version": "TLSv1.3"}


def test_assigning_options_or_protocol_raises():
    """``ctx.options = <OP_* int>`` used to be accepted and broke every later handshake; it now
    raises at the assignment, as does ``ctx.protocol = ...``."""
    import ssl
    context = greentls.create_secure_context()
    with pytest.raises(AttributeError, match="secure_options"):
        context.options = ssl.OP_NO_TLSv1_3 | ssl.OP_NO_TICKET
    with pytest.raises(AttributeError, match="min_version"):
        context.protocol = ssl.PROTOCOL_TLS_SERVER
    assert isinstance(context.options, dict)


def test_ffdhe_constants_are_what_openssl_names_ffdhe(need_openssl):
    """The system openssl recognises each constant as the named RFC 7919 group (every digit
    counts, not just the bits test_ffdhe_constants_are_rfc_7919s reads)."""
    from greentls._config.ffdhe import FFDHE
    for bits, data in FFDHE.items():
        out = openssl(["pkeyparam", "-text", "-noout"], input=data).stdout.decode()
        assert f"GROUP: ffdhe{bits}" in out, (bits, out[-200:])
