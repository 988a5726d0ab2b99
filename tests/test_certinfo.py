"""Our certificate dicts against what a real Node peer and the stdlib report for the same certificates.

Each case builds a certificate chain (trustme, or ``cryptography`` for the odd shapes), serves it
from a Node TLS server to a Node TLS client in one ``node`` process (tests/node_certdump.js),
and compares ``getPeerCertificate()`` / ``getPeerCertificate(true)`` with ours, key by key and
in Node's key order; the leaf also goes through the stdlib's own certificate decoder.
"""
from __future__ import annotations

import datetime
import ipaddress
import json
import shutil
import ssl
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import AuthorityInformationAccessOID as AIA, ExtendedKeyUsageOID, NameOID

from greentls._parse.certinfo import certificate_chain_dict, certificate_dict, getpeercert_dict

NODE = shutil.which("node")
DUMP = Path(__file__).with_name("node_certdump.js")
pytestmark = pytest.mark.skipif(NODE is None, reason="node is not on PATH")

Chain = tuple[object, list[x509.Certificate], list[x509.Certificate] | None]  # key, chain, ca

# --- building certificates ------------------------------------------------------------------

_KEYS: dict[str, object] = {}


def _key(kind: str):
    """One private key per kind for the whole run (RSA generation is slow)."""
    if kind not in _KEYS:
        _KEYS[kind] = {
            "rsa": lambda: rsa.generate_private_key(65537, 2048),
            "rsa3": lambda: rsa.generate_private_key(3, 2048),
            "p256": lambda: ec.generate_private_key(ec.SECP256R1()),
            "p384": lambda: ec.generate_private_key(ec.SECP384R1()),
            "ed25519": ed25519.Ed25519PrivateKey.generate,
        }[kind]()
    return _KEYS[kind]


def _name(*pairs) -> x509.Name:
    """A Name from (oid, value) pairs; a list of pairs is one multi-valued RDN; a triple sets
    the string type."""
    rdns = []
    for pair in pairs:
        group = pair if isinstance(pair, list) else [pair]
        rdns.append(x509.RelativeDistinguishedName(
            [x509.NameAttribute(p[0], p[1], *p[2:]) for p in group]))
    return x509.Name(rdns)


def _cert(subject: x509.Name, key, issuer: x509.Name | None = None, issuer_key=None, *,
          extensions=(), serial: int = 0x0ABC, days: tuple[datetime.datetime, datetime.datetime] = (
              datetime.datetime(2001, 2, 3, 4, 5, 6), datetime.datetime(2049, 12, 31, 23, 59, 59)),
          ) -> x509.Certificate:
    """A certificate signed by ``issuer_key`` (self-signed without one)."""
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer or subject)
               .public_key(key.public_key()).serial_number(serial)
               .not_valid_before(days[0]).not_valid_after(days[1]))
    for extension, critical in extensions:
        builder = builder.add_extension(extension, critical)
    signer = issuer_key or key
    algorithm = None if isinstance(signer, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    return builder.sign(signer, algorithm)


def _ca_extensions(key, issuer_key=None) -> list:
    extensions = [(x509.BasicConstraints(ca=True, path_length=None), True),
                  (x509.KeyUsage(True, False, False, False, False, True, True, False, False), True),
                  (x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)]
    if issuer_key is not None:
        extensions.append((x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), False))
    return extensions


def _leaf_usage() -> x509.KeyUsage:
    return x509.KeyUsage(True, False, True, False, False, False, False, False, False)


def _kitchen_sink() -> Chain:
    """RSA, repeated OU and DC, a multi-valued RDN, every SAN kind, AIA, EKU, CRL DP."""
    key = _key("rsa")
    subject = _name((NameOID.COUNTRY_NAME, "US"), (NameOID.STATE_OR_PROVINCE_NAME, "CA"),
                    (NameOID.LOCALITY_NAME, "San Francisco"), (NameOID.ORGANIZATION_NAME, "Joyent"),
                    (NameOID.ORGANIZATIONAL_UNIT_NAME, "Node.js"), (NameOID.ORGANIZATIONAL_UNIT_NAME, "TLS"),
                    [(NameOID.COMMON_NAME, "multi"), (NameOID.USER_ID, "u1")],
                    (NameOID.DOMAIN_COMPONENT, "example"), (NameOID.DOMAIN_COMPONENT, "com"),
                    (NameOID.EMAIL_ADDRESS, "ry@clouds.org"))
    upn = b"\x0c\x09user@corp"
    san = x509.SubjectAlternativeName([
        x509.DNSName("localhost"), x509.DNSName("*.example.com"), x509.DNSName("a,b\"c"),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.IPAddress(ipaddress.ip_address("2001:db8::1")),
        x509.IPAddress(ipaddress.ip_address("::ffff:1.2.3.4")), x509.RFC822Name("me@example.com"),
        x509.UniformResourceIdentifier("https://example.com/a?b=c"),
        x509.UniformResourceIdentifier("http://example.com/x,y"),
        x509.DirectoryName(_name((NameOID.COMMON_NAME, "dir, name+x"), (NameOID.ORGANIZATION_NAME, "# Org "),
                                 (x509.ObjectIdentifier("1.2.3.4.5"), "unknown"))),
        x509.RegisteredID(x509.ObjectIdentifier("1.2.3.4")),
        x509.OtherName(x509.ObjectIdentifier("1.3.6.1.4.1.311.20.2.3"), upn),
        x509.OtherName(x509.ObjectIdentifier("1.3.6.1.5.5.7.8.5"), b"\x0c\x03a,b"),
        x509.OtherName(x509.ObjectIdentifier("1.2.3.5"), b"\x0c\x01x")])
    aia = x509.AuthorityInformationAccess([
        x509.AccessDescription(AIA.OCSP, x509.UniformResourceIdentifier("http://ocsp.example.com")),
        x509.AccessDescription(AIA.OCSP, x509.UniformResourceIdentifier("http://ocsp2.example.com/a,b")),
        x509.AccessDescription(AIA.CA_ISSUERS, x509.UniformResourceIdentifier("http://ca.example.com/ca.crt")),
        x509.AccessDescription(x509.ObjectIdentifier("1.3.6.1.5.5.7.48.5"),
                               x509.UniformResourceIdentifier("http://repo.example.com"))])
    crl = x509.CRLDistributionPoints([x509.DistributionPoint(
        [x509.UniformResourceIdentifier("http://crl.example.com/a.crl")], None, None, None)])
    eku = x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH,
                                 x509.ObjectIdentifier("1.2.3.4.5.6")])
    extensions = [(x509.BasicConstraints(ca=False, path_length=None), True), (_leaf_usage(), True),
                  (san, False), (aia, False), (crl, False), (eku, False)]
    return key, [_cert(subject, key, extensions=extensions)], None


def _string_types() -> Chain:
    """BMP, Universal, T61 and Printable strings, an unknown attribute, GeneralizedTime validity."""
    key = _key("p256")
    subject = _name((NameOID.COMMON_NAME, "bmp-\u00e9\u4e2d", _ASN1Type.BMPString),
                    (NameOID.ORGANIZATION_NAME, "univ-\u00fc", _ASN1Type.UniversalString),
                    (NameOID.ORGANIZATIONAL_UNIT_NAME, "t61-\u00e9", _ASN1Type.T61String),
                    (NameOID.LOCALITY_NAME, "printable", _ASN1Type.PrintableString),
                    (x509.ObjectIdentifier("1.2.3.4.5"), "unknown-type"),
                    (NameOID.SERIAL_NUMBER, "1234"), (NameOID.GIVEN_NAME, "Ada"), (NameOID.SURNAME, "L"),
                    (NameOID.TITLE, "Dr"), (NameOID.PSEUDONYM, "al"), (NameOID.STREET_ADDRESS, "1 Way"),
                    (NameOID.POSTAL_CODE, "12345"), (NameOID.BUSINESS_CATEGORY, "Private"),
                    (NameOID.JURISDICTION_COUNTRY_NAME, "US"), (NameOID.JURISDICTION_STATE_OR_PROVINCE_NAME, "DE"),
                    (NameOID.JURISDICTION_LOCALITY_NAME, "Dover"), (NameOID.INITIALS, "AL"),
                    (NameOID.GENERATION_QUALIFIER, "III"), (NameOID.DN_QUALIFIER, "q"),
                    (NameOID.ORGANIZATION_IDENTIFIER, "VATUS-1"), (NameOID.UNSTRUCTURED_NAME, "un"))
    days = (datetime.datetime(1950, 1, 9, 1, 2, 3), datetime.datetime(2150, 11, 26, 19, 0, 0))
    san = x509.SubjectAlternativeName([
        x509.DNSName("localhost"), x509.DNSName("a\x01b\x7f"), x509.RFC822Name("x\\y@z"),
        x509.UniformResourceIdentifier("http://a/'q'"),
        x509.DirectoryName(_name((NameOID.COMMON_NAME, "\u00e9t\u00e9"),
                                 (NameOID.ORGANIZATION_NAME, "bmp \u4e2d", _ASN1Type.BMPString)))])
    extensions = [(san, False)]
    return key, [_cert(subject, key, extensions=extensions, serial=0xFF, days=days)], None


def _no_san_p384() -> Chain:
    """ECDSA P-384, CN only: no subjectaltname, no ext_key_usage; AIA with caIssuers only."""
    key = _key("p384")
    aia = x509.AuthorityInformationAccess([
        x509.AccessDescription(AIA.CA_ISSUERS, x509.UniformResourceIdentifier("http://ca.example.com/i"))])
    cert = _cert(_name((NameOID.COMMON_NAME, "p384.example.com")), key, extensions=[(aia, False)],
                 serial=0x01_0000_0000_0000_0000)
    return key, [cert], None


def _ed25519() -> Chain:
    """Ed25519: Node reports no key fields at all."""
    key = _key("ed25519")
    return key, [_cert(_name((NameOID.COMMON_NAME, "ed")), key, serial=1)], None


def _rsa_exponent_3_self_signed_ca() -> Chain:
    """RSA e=3, a self-signed CA: issuerCertificate points to the same dict."""
    key = _key("rsa3")
    name = _name((NameOID.COMMON_NAME, "root"))
    return key, [_cert(name, key, extensions=_ca_extensions(key), serial=2**159 - 1)], None


def _three_levels(send_root: bool, use_ca: bool, shuffle: bool = False) -> Callable[[], Chain]:
    """Root -> intermediate -> leaf, the root sent or not, trusted or not, in order or not."""
    def build() -> Chain:
        root_key, inter_key, leaf_key = _key("p384"), _key("rsa"), _key("p256")
        root_name, inter_name = _name((NameOID.COMMON_NAME, "Root")), _name((NameOID.COMMON_NAME, "Inter"))
        root = _cert(root_name, root_key, extensions=_ca_extensions(root_key), serial=10)
        inter = _cert(inter_name, inter_key, root_name, root_key, serial=11,
                      extensions=_ca_extensions(inter_key, root_key))
        leaf = _cert(_name((NameOID.COMMON_NAME, "leaf")), leaf_key, inter_name, inter_key, serial=12, extensions=[
            (x509.SubjectAlternativeName([x509.DNSName("localhost")]), False),
            (x509.AuthorityKeyIdentifier.from_issuer_public_key(inter_key.public_key()), False)])
        chain = [leaf, root, inter] if shuffle else [leaf, inter] + ([root] if send_root else [])
        decoy = _cert(root_name, _key("rsa"), extensions=_ca_extensions(_key("rsa")), serial=99)
        return leaf_key, chain, ([decoy, root] if use_ca else None)
    return build


def _trustme_chain() -> Chain:
    """trustme's own CA, intermediate and leaf, with the root as the client's trust store."""
    ca = trustme.CA()
    leaf = ca.create_child_ca().issue_cert("localhost", "127.0.0.1", "::1")
    key = serialization.load_pem_private_key(leaf.private_key_pem.bytes(), None)
    chain = [x509.load_pem_x509_certificate(p.bytes()) for p in leaf.cert_chain_pems]
    return key, chain, [x509.load_pem_x509_certificate(ca.cert_pem.bytes())]


def _self_signed_without_cert_sign(trusted: bool) -> Callable[[], Chain]:
    """A self-signed leaf whose keyUsage lacks keyCertSign is not "self-issued" to OpenSSL."""
    def build() -> Chain:
        key = _key("p256")
        cert = _cert(_name((NameOID.COMMON_NAME, "selfie")), key, extensions=[(_leaf_usage(), True)])
        return key, [cert], ([cert] if trusted else None)
    return build


CASES = {
    "kitchen-sink": _kitchen_sink, "string-types": _string_types, "p384-no-san": _no_san_p384,
    "ed25519": _ed25519, "rsa-e3-root": _rsa_exponent_3_self_signed_ca, "trustme": _trustme_chain,
    "3-level": _three_levels(False, False), "3-level-ca": _three_levels(False, True),
    "3-level-root-sent": _three_levels(True, False), "3-level-shuffled": _three_levels(True, False, True),
    "self-signed-no-certsign": _self_signed_without_cert_sign(False),
    "self-signed-no-certsign-trusted": _self_signed_without_cert_sign(True),
}

# --- running Node and comparing -------------------------------------------------------------


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _node_report(tmp_path: Path, key, chain: list[x509.Certificate], ca: list[x509.Certificate] | None) -> dict:
    """Serve ``chain`` from Node to Node and return the client's report."""
    (tmp_path / "key.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    (tmp_path / "chain.pem").write_bytes(b"".join(map(_pem, chain)))
    config = {"key": str(tmp_path / "key.pem"), "cert": str(tmp_path / "chain.pem"), "ca": None}
    if ca is not None:
        config["ca"] = []
        for index, cert in enumerate(ca):
            (tmp_path / f"ca{index}.pem").write_bytes(_pem(cert))
            config["ca"].append(str(tmp_path / f"ca{index}.pem"))
    (tmp_path / "config.json").write_text(json.dumps(config))
    done = subprocess.run([NODE, str(DUMP), str(tmp_path / "config.json")], capture_output=True,
                          text=True, timeout=30, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _as_json(info: dict) -> dict:
    """Our dict as node_certdump.js prints Node's: bytes as hex, no issuerCertificate."""
    return {k: v.hex() if isinstance(v, bytes) else v for k, v in info.items() if k != "issuerCertificate"}


def _walk(info: dict) -> tuple[list[dict], str]:
    chain = [info]
    while "issuerCertificate" in chain[-1] and chain[-1]["issuerCertificate"] is not chain[-1]:
        chain.append(chain[-1]["issuerCertificate"])
    return [_as_json(c) for c in chain], ("self" if "issuerCertificate" in chain[-1] else "none")


def _assert_same(ours: dict, node: dict) -> None:
    for key in node:
        assert ours.get(key) == node[key], f"{key}: ours {ours.get(key)!r} != node {node[key]!r}"
    assert list(ours) == list(node), "keys differ or are in another order"


@pytest.fixture(scope="module", params=sorted(CASES))
def case(request, tmp_path_factory) -> tuple[Chain, dict]:
    """One certificate case and what Node reports for it."""
    built = CASES[request.param]()
    return built, _node_report(tmp_path_factory.mktemp(request.param), *built)


def test_certificate_dict_matches_node(case) -> None:
    """certificate_dict(leaf) equals Node's getPeerCertificate(), key by key and in order."""
    (_, chain, _), node = case
    _assert_same(_as_json(certificate_dict(chain[0])), node["plain"])


def test_chain_dict_matches_node(case) -> None:
    """certificate_chain_dict follows the same issuerCertificate links as getPeerCertificate(true)."""
    (_, chain, ca), node = case
    ours, last = _walk(certificate_chain_dict(chain, ca or ()))
    assert len(ours) == len(node["chain"]), [c["subject"] for c in node["chain"]]
    for mine, theirs in zip(ours, node["chain"], strict=True):
        _assert_same(mine, theirs)
    assert last == node["last"]


def test_self_signed_root_points_to_itself(case) -> None:
    """A chain ending in a self-issued certificate ends in a dict whose issuerCertificate is itself."""
    (_, chain, ca), node = case
    info = certificate_chain_dict(chain, ca or ())
    while "issuerCertificate" in info and info["issuerCertificate"] is not info:
        info = info["issuerCertificate"]
    assert (info.get("issuerCertificate") is info) == (node["last"] == "self")


def test_getpeercert_dict_matches_stdlib(case, tmp_path: Path) -> None:
    """getpeercert_dict equals the stdlib's own decoding of the same certificate."""
    (_, chain, _), _ = case
    for index, cert in enumerate(chain):
        path = tmp_path / f"{index}.pem"
        path.write_bytes(_pem(cert))
        expected = ssl._ssl._test_decode_cert(str(path))  # type: ignore[attr-defined]
        assert getpeercert_dict(cert) == expected
        assert list(getpeercert_dict(cert)) == list(expected)


def test_accepts_der_and_pem_bytes() -> None:
    """certificate_dict takes DER or PEM bytes as well as a cryptography certificate."""
    _, chain, _ = _ed25519()
    der = chain[0].public_bytes(serialization.Encoding.DER)
    assert certificate_dict(der) == certificate_dict(chain[0]) == certificate_dict(_pem(chain[0]))
    assert certificate_dict(der)["raw"] == der


def test_empty_chain_is_empty_dict() -> None:
    """No peer certificate gives {}, as Node's getPeerCertificate() || {}."""
    assert certificate_chain_dict([]) == {}
