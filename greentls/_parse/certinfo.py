"""Certificates as Node's ``getPeerCertificate()`` dicts and the stdlib's ``getpeercert()`` dicts.

Theory of operation: Node builds its certificate object in C++ (``X509ToObject`` in
src/crypto/crypto_common.cc, Node 20) from OpenSSL's view of the certificate, then
``translatePeerCertificate`` (lib/_tls_common.js) turns the ``infoAccess`` string into a dict.
We rebuild the same thing from the certificate itself: ``cryptography`` parses the extensions,
and a tiny DER walker reads the parts of the TBSCertificate whose exact encoding matters
(name string types, times with their ASN.1 type, the EC point as sent).  Every function here is
pure: no I/O, no gevent, nothing cached; the socket layer calls them only when asked.
"""
from __future__ import annotations

import hashlib
import ipaddress
import json
import re
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, TypeAlias, TypedDict, TypeVar, cast

from cryptography import x509
from cryptography.hazmat.primitives import serialization

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from OpenSSL import crypto

__all__ = ["certificate_dict", "certificate_chain_dict", "getpeercert_dict", "load_certificate", "CertLike"]

#: What the functions here take: a ``cryptography`` certificate, DER or PEM bytes (or a
#: pyOpenSSL ``X509``, through its ``to_cryptography``).
CertLike: TypeAlias = x509.Certificate | bytes | bytearray | memoryview
#: Node's certificate object (and the stdlib's getpeercert() dict): values of many types, as
#: the two APIs define them.
CertDict: TypeAlias = dict[str, Any]
#: An RDN sequence as the stdlib gives it: per RDN, the (long name, value) pairs.
NameTuple: TypeAlias = tuple[tuple[tuple[str, str], ...], ...]

_Extension = TypeVar("_Extension", bound=x509.ExtensionType)


class _TBSFields(TypedDict):
    """The DER pieces of a TBSCertificate that ``_tbs_fields`` returns."""

    issuer: bytes
    not_before: tuple[int, bytes]   # (ASN.1 time type, content)
    not_after: tuple[int, bytes]
    subject: bytes
    spki: bytes

# --- OpenSSL's object names (crypto/objects/objects.txt): dotted OID -> (short, long) -------
_NAMES = {
    "2.5.4.3": ("CN", "commonName"), "2.5.4.4": ("SN", "surname"),
    "2.5.4.5": ("serialNumber", "serialNumber"), "2.5.4.6": ("C", "countryName"),
    "2.5.4.7": ("L", "localityName"), "2.5.4.8": ("ST", "stateOrProvinceName"),
    "2.5.4.9": ("street", "streetAddress"), "2.5.4.10": ("O", "organizationName"),
    "2.5.4.11": ("OU", "organizationalUnitName"), "2.5.4.12": ("title", "title"),
    "2.5.4.13": ("description", "description"), "2.5.4.15": ("businessCategory", "businessCategory"),
    "2.5.4.16": ("postalAddress", "postalAddress"), "2.5.4.17": ("postalCode", "postalCode"),
    "2.5.4.18": ("postOfficeBox", "postOfficeBox"), "2.5.4.20": ("telephoneNumber", "telephoneNumber"),
    "2.5.4.41": ("name", "name"), "2.5.4.42": ("GN", "givenName"), "2.5.4.43": ("initials", "initials"),
    "2.5.4.44": ("generationQualifier", "generationQualifier"),
    "2.5.4.46": ("dnQualifier", "dnQualifier"), "2.5.4.65": ("pseudonym", "pseudonym"),
    "2.5.4.72": ("role", "role"), "2.5.4.97": ("organizationIdentifier", "organizationIdentifier"),
    "1.2.840.113549.1.9.1": ("emailAddress", "emailAddress"),
    "1.2.840.113549.1.9.2": ("unstructuredName", "unstructuredName"),
    "0.9.2342.19200300.100.1.1": ("UID", "userId"),
    "0.9.2342.19200300.100.1.25": ("DC", "domainComponent"),
    "1.3.6.1.4.1.311.60.2.1.1": ("jurisdictionL", "jurisdictionLocalityName"),
    "1.3.6.1.4.1.311.60.2.1.2": ("jurisdictionST", "jurisdictionStateOrProvinceName"),
    "1.3.6.1.4.1.311.60.2.1.3": ("jurisdictionC", "jurisdictionCountryName"),
    # AIA access methods, printed by their long names (i2t_ASN1_OBJECT).
    "1.3.6.1.5.5.7.48.1": ("OCSP", "OCSP"), "1.3.6.1.5.5.7.48.2": ("caIssuers", "CA Issuers"),
    "1.3.6.1.5.5.7.48.3": ("ad_timestamping", "AD Time Stamping"),
    "1.3.6.1.5.5.7.48.4": ("AD_DVCS", "ad dvcs"), "1.3.6.1.5.5.7.48.5": ("caRepository", "CA Repository"),
}
_OCSP, _CA_ISSUERS = "1.3.6.1.5.5.7.48.1", "1.3.6.1.5.5.7.48.2"
# Named curves: OID -> (OBJ_nid2sn, EC_curve_nid2nist, EC_GROUP_order_bits).
_CURVES = {
    "1.2.840.10045.3.1.1": ("prime192v1", "P-192", 192), "1.3.132.0.33": ("secp224r1", "P-224", 224),
    "1.2.840.10045.3.1.7": ("prime256v1", "P-256", 256), "1.3.132.0.34": ("secp384r1", "P-384", 384),
    "1.3.132.0.35": ("secp521r1", "P-521", 521), "1.3.132.0.10": ("secp256k1", None, 256),
    "1.3.36.3.3.2.8.1.1.7": ("brainpoolP256r1", None, 256),
    "1.3.36.3.3.2.8.1.1.11": ("brainpoolP384r1", None, 384),
    "1.3.36.3.3.2.8.1.1.13": ("brainpoolP512r1", None, 512),
}
# otherName types that GENERAL_NAME_print (OpenSSL 3.0) and Node's PrintGeneralName know,
# with the string type each must carry (SRVName is an IA5String, the rest UTF8String).
_OTHERNAMES = {
    "1.3.6.1.5.5.7.8.9": ("SmtpUTF8Mailbox", 0x0C), "1.3.6.1.5.5.7.8.5": ("XmppAddr", 0x0C),
    "1.3.6.1.5.5.7.8.7": ("SRVName", 0x16), "1.3.6.1.4.1.311.20.2.3": ("UPN", 0x0C),
    "1.3.6.1.5.5.7.8.8": ("NAIRealm", 0x0C),
}
_RSA, _EC = "1.2.840.113549.1.1.1", "1.2.840.10045.2.1"
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

# --- a minimal DER reader -------------------------------------------------------------------


def der_element(data: bytes, pos: int) -> tuple[int, int, int]:
    """(tag, start, end of the content) of the DER element at ``pos`` (one-octet tags only)."""
    tag, length = data[pos], data[pos + 1]
    pos += 2
    if length & 0x80:
        count = length & 0x7F
        length = int.from_bytes(data[pos:pos + count], "big")
        pos += count
    return tag, pos, pos + length


def _children(data: bytes, start: int, end: int) -> Iterator[tuple[int, int, int, int]]:
    """(tag, content start, content end, element start) of each element in ``data[start:end]``."""
    while start < end:
        tag, content_start, content_end = der_element(data, start)
        yield tag, content_start, content_end, start
        start = content_end


def _oid(content: bytes) -> str:
    """Dotted text of a DER OBJECT IDENTIFIER's content octets."""
    arcs, value = [], 0
    for byte in content:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(value)
            value = 0
    first = min(arcs[0] // 40, 2)
    return ".".join(map(str, [first, arcs[0] - 40 * first, *arcs[1:]]))


def _tbs_fields(cert: x509.Certificate) -> _TBSFields:
    """The TBSCertificate fields whose exact DER matters: names, times, key (RFC 5280 4.1)."""
    tbs = cert.tbs_certificate_bytes
    _, start, end = der_element(tbs, 0)
    elements = [(tbs[s:e], tbs[el:e], tag) for tag, s, e, el in _children(tbs, start, end)]
    if elements[0][2] == 0xA0:  # [0] EXPLICIT version is optional (v1 certificates)
        elements = elements[1:]
    validity = [(tag, elements[3][0][s:e]) for tag, s, e, _ in
                _children(elements[3][0], 0, len(elements[3][0]))]
    return {"issuer": elements[2][1], "not_before": validity[0], "not_after": validity[1],
            "subject": elements[4][1], "spki": elements[5][1]}


def _name_entries(name_der: bytes) -> list[tuple[int, str, int, bytes, bytes]]:
    """(RDN index, OID, string tag, content, AttributeValue DER) for each entry, in DER order."""
    entries = []
    _, start, end = der_element(name_der, 0)
    for index, (_, s, e, _) in enumerate(_children(name_der, start, end)):
        for _, ps, pe, _ in _children(name_der, s, e):
            (_, os_, oe, _), (tag, vs, ve, vel) = list(_children(name_der, ps, pe))[:2]
            entries.append((index, _oid(name_der[os_:oe]), tag, name_der[vs:ve], name_der[vel:ve]))
    return entries


def _to_utf8_text(tag: int, content: bytes) -> str | None:
    """ASN1_STRING_to_UTF8: the string types OpenSSL converts, ``None`` for the rest."""
    try:
        if tag == 0x0C:  # UTF8String
            return content.decode("utf-8")
        if tag in (0x12, 0x13, 0x14, 0x16, 0x17, 0x18, 0x1A):  # one byte per character
            return content.decode("latin-1")
        width = {0x1E: 2, 0x1C: 4}.get(tag)  # BMPString (UCS-2), UniversalString (UCS-4)
        if width is None or len(content) % width:
            return None
        points = [int.from_bytes(content[i:i + width], "big") for i in range(0, len(content), width)]
        if any(0xD800 <= p < 0xE000 or p > 0x10FFFF for p in points):
            return None  # UTF8_putc refuses surrogates; the conversion fails
        return "".join(map(chr, points))
    except UnicodeDecodeError:
        return None


# --- Node's strings -------------------------------------------------------------------------


def _name_object(name_der: bytes) -> dict[str, str | list[str]] | None:
    """GetX509NameObject: short name -> value, a list when a type repeats; multi-valued RDNs
    are flattened (Node ignores X509_NAME_ENTRY_set).  ``None`` (key omitted) if a value
    cannot be converted, as Node returns undefined for the whole name."""
    result: dict[str, str | list[str]] = {}
    for _, oid, tag, content, _ in _name_entries(name_der):
        key = _NAMES[oid][0] if oid in _NAMES else oid
        value = _to_utf8_text(tag, content)
        if value is None:
            return None
        previous = result.get(key)
        if previous is None:
            result[key] = value
        elif isinstance(previous, list):
            previous.append(value)
        else:
            result[key] = [previous, value]
    return result


def _print_alt_name(raw: bytes, utf8: bool, prefix: str | None = None) -> str:
    """PrintAltName: a "safe" name as is, anything else as a JSON string (crypto_common.cc)."""
    def unsafe(b: int) -> bool:
        return b in b'"\\,\'' or b < 0x20 or b == 0x7F or (not utf8 and b > 0x7E)
    if not any(unsafe(b) for b in raw):
        return (f"{prefix}:" if prefix else "") + raw.decode("utf-8" if utf8 else "latin-1")
    out = bytearray(b'"' + (f"{prefix}:".encode() if prefix else b""))
    for b in raw:
        if b == 0x5C:
            out += b"\\\\"
        elif b == 0x22:
            out += b'\\"'
        elif (0x20 <= b <= 0x7E and b != 0x2C) or (utf8 and b & 0x80):
            out.append(b)
        else:  # commas too, so code splitting at "," never splits inside a name
            out += b"\\u00%02x" % b
    return (out + b'"').decode("utf-8", "replace")


def _rfc2253(name_der: bytes) -> bytes:
    """X509_NAME_print_ex with XN_FLAG_RFC2253 minus ESC_MSB and ESC_CTRL, as UTF-8 bytes:
    reversed, "," between RDNs, "+" within one, unknown types as "#" + hex of the DER."""
    out, previous = bytearray(), None
    for rdn, oid, tag, content, whole in reversed(_name_entries(name_der)):
        if previous is not None:
            out += b"+" if rdn == previous else b","
        previous = rdn
        text = _to_utf8_text(tag, content)
        if oid not in _NAMES or text is None:  # XN_FLAG_DUMP_UNKNOWN_FIELDS / ASN1_STRFLGS_DUMP_DER
            out += (_NAMES[oid][0] if oid in _NAMES else oid).encode() + b"=#" + whole.hex().upper().encode()
            continue
        out += _NAMES[oid][0].encode() + b"="
        value = text.encode("utf-8")
        for i, b in enumerate(value):
            if b in b',+"\\<>;' or (i == 0 and b in b"# ") or (i == len(value) - 1 and b == 0x20):
                out.append(0x5C)
            out.append(b)
    return bytes(out)


def _ia5(value: str) -> bytes:
    return value.encode("utf-8", "surrogateescape")


def _general_name(name: x509.GeneralName) -> str | None:
    """PrintGeneralName (crypto_common.cc): Node's text for one GeneralName."""
    if isinstance(name, x509.DNSName):
        return "DNS:" + _print_alt_name(_ia5(name.value), False)
    if isinstance(name, x509.RFC822Name):
        return "email:" + _print_alt_name(_ia5(name.value), False)
    if isinstance(name, x509.UniformResourceIdentifier):
        return "URI:" + _print_alt_name(_ia5(name.value), False)
    if isinstance(name, x509.DirectoryName):
        return "DirName:" + _print_alt_name(_rfc2253(name.value.public_bytes()), True)
    if isinstance(name, x509.IPAddress):
        value = name.value  # an address, or a network (8 or 32 octets, invalid in a SAN)
        packed = value.packed if not isinstance(value, (ipaddress.IPv4Network, ipaddress.IPv6Network)) \
            else value.network_address.packed + value.netmask.packed
        if len(packed) == 4:
            return "IP Address:" + ".".join(map(str, packed))
        if len(packed) == 16:  # "%X" per group, never compressed
            return "IP Address:" + ":".join("%X" % int.from_bytes(packed[i:i + 2], "big")
                                            for i in range(0, 16, 2))
        return f"IP Address:<invalid length={len(packed)}>"
    if isinstance(name, x509.RegisteredID):  # always numeric, unlike OpenSSL's own printer
        return "Registered ID:" + name.value.dotted_string
    if isinstance(name, x509.OtherName):
        known = _OTHERNAMES.get(name.type_id.dotted_string)
        tag, start, end = der_element(name.value, 0)
        if known is None or tag != known[1]:
            return "othername:<unsupported>"
        return "othername:" + _print_alt_name(name.value[start:end], tag == 0x0C, known[0])
    return None


def _extension(cert: x509.Certificate, kind: type[_Extension]) -> _Extension | None:
    """The parsed value of the first extension of ``kind``, or ``None``."""
    try:
        return cert.extensions.get_extension_for_class(kind).value
    except (x509.ExtensionNotFound, x509.DuplicateExtension, ValueError):
        return None  # (a duplicated or malformed extension: Node would read the first one)


def _subjectaltname(cert: x509.Certificate) -> str | None:
    san = _extension(cert, x509.SubjectAlternativeName)
    if san is None:
        return None
    return ", ".join(filter(None, (_general_name(name) for name in san)))


def _info_access(cert: x509.Certificate) -> dict[str, list[Any]] | None:
    """SafeX509InfoAccessPrint, then translatePeerCertificate's parse of it (lib/_tls_common.js)."""
    aia = _extension(cert, x509.AuthorityInformationAccess)
    if aia is None:
        return None
    lines = []
    for desc in aia:
        method = desc.access_method.dotted_string
        lines.append(f"{_NAMES[method][1] if method in _NAMES else method} - "
                     f"{_general_name(desc.access_location)}")
    result: dict[str, list[Any]] = {}  # Node's values: strings, or what JSON.parse made
    for match in re.finditer(r"([^\n:]*):([^\n]*)(?:\n|\Z)", "\n".join(lines)):
        key, value = match.group(1), match.group(2)
        result.setdefault(key, []).append(json.loads(value) if value.startswith('"') else value)
    return result


def _asn1_time_print(time: tuple[int, bytes]) -> str:
    """ASN1_TIME_print (OpenSSL 3.0): "Nov 26 19:00:00 2026 GMT", day padded with a space."""
    tag, raw = time[0], time[1].decode("ascii")
    if tag == 0x17:  # UTCTime: two-digit year, 50..99 -> 19xx (RFC 5280 4.1.2.5.1)
        year, rest = int(raw[:2]), raw[2:]
        year += 1900 if year >= 50 else 2000
    else:
        year, rest = int(raw[:4]), raw[4:]
    found = re.match(r"\.[0-9]*", rest[10:]) if rest[10:11] == "." else None
    fraction = found.group(0) if found is not None else ""
    return "%s %2d %s:%s:%s%s %d%s" % (_MONTHS[int(rest[:2]) - 1], int(rest[2:4]), rest[4:6],
                                       rest[6:8], rest[8:10], fraction, year,
                                       " GMT" if raw.endswith("Z") else "")


def _fingerprint(der: bytes, algorithm: str) -> str:
    return ":".join("%02X" % b for b in hashlib.new(algorithm, der).digest())


def _key_fields(cert: x509.Certificate, spki: bytes) -> CertDict:
    """RSA: modulus, bits, exponent, pubkey (i2d_RSA_PUBKEY: the SubjectPublicKeyInfo DER);
    EC: bits, pubkey (the point as encoded), asn1Curve, nistCurve.  Nothing for other keys."""
    algorithm = cert.public_key_algorithm_oid.dotted_string
    if algorithm == _RSA:
        rsa_key = cast("rsa.RSAPublicKey", cert.public_key())  # what the RSA algorithm OID means
        numbers = rsa_key.public_numbers()
        return {"modulus": "%X" % numbers.n, "bits": numbers.n.bit_length(),
                "exponent": "0x%x" % min(numbers.e, 2 ** 64 - 1),  # BN_get_word saturates
                "pubkey": rsa_key.public_bytes(
                    serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)}
    if algorithm != _EC:
        return {}
    _, start, end = der_element(spki, 0)
    (_, a_start, a_end, _), (_, k_start, k_end, _) = list(_children(spki, start, end))
    params = list(_children(spki, a_start, a_end))[1]
    curve = _oid(spki[params[1]:params[2]]) if params[0] == 0x06 else None
    fields: CertDict = {"bits": None, "pubkey": spki[k_start + 1:k_end]}  # skip the unused-bits octet
    if curve in _CURVES:
        short, nist, fields["bits"] = _CURVES[curve]
        fields["asn1Curve"] = short
        if nist:
            fields["nistCurve"] = nist
    else:  # a curve outside our table: ask cryptography (OpenSSL names P-192/P-256 primeXv1)
        key_curve = cast("ec.EllipticCurvePublicKey", cert.public_key()).curve  # the EC OID says so
        fields["bits"] = key_curve.key_size
        fields["asn1Curve"] = {"secp192r1": "prime192v1", "secp256r1": "prime256v1"}.get(
            key_curve.name, key_curve.name)
    return fields


def _serial_hex(serial: int, zero: str) -> str:
    """Serial as uppercase hex in whole bytes (BN_bn2hex, i2a_ASN1_INTEGER), "-" if negative."""
    magnitude = abs(serial)
    text = "%X" % magnitude if magnitude else zero
    return ("-" if serial < 0 else "") + ("0" * (len(text) % 2)) + text


def _is_ca(cert: x509.Certificate) -> bool:
    """X509_check_ca() == 1: basicConstraints CA:TRUE and keyUsage (if any) has keyCertSign."""
    constraints = _extension(cert, x509.BasicConstraints)
    usage = _extension(cert, x509.KeyUsage)
    return bool(constraints and constraints.ca and (usage is None or usage.key_cert_sign))


def load_certificate(cert: CertLike | crypto.X509) -> x509.Certificate:
    """A ``cryptography`` certificate from one, from DER or PEM bytes, or from a pyOpenSSL X509."""
    if isinstance(cert, x509.Certificate):
        return cert
    if hasattr(cert, "to_cryptography"):
        converted: x509.Certificate = cert.to_cryptography()
        return converted
    data = bytes(cert)
    if data.lstrip().startswith(b"-----BEGIN"):
        return x509.load_pem_x509_certificate(data)
    return x509.load_der_x509_certificate(data)


def certificate_dict(cert: CertLike | crypto.X509) -> CertDict:
    """Node's ``getPeerCertificate()`` dict for one certificate, keys in Node's order.

    Keys Node leaves out are left out: ``subjectaltname``/``infoAccess``/``ext_key_usage`` when
    the extension is absent, key fields for keys that are neither RSA nor EC (e.g. Ed25519).
    ``pubkey`` and ``raw`` are ``bytes`` where Node has Buffers.
    """
    cert = load_certificate(cert)
    fields = _tbs_fields(cert)
    der = cert.public_bytes(serialization.Encoding.DER)
    info: CertDict = {}
    for key, value in (("subject", _name_object(fields["subject"])),
                       ("issuer", _name_object(fields["issuer"])),
                       ("subjectaltname", _subjectaltname(cert)), ("infoAccess", _info_access(cert))):
        if value is not None:
            info[key] = value
    info["ca"] = _is_ca(cert)
    info.update(_key_fields(cert, fields["spki"]))
    info["valid_from"] = _asn1_time_print(fields["not_before"])
    info["valid_to"] = _asn1_time_print(fields["not_after"])
    info["fingerprint"] = _fingerprint(der, "sha1")
    info["fingerprint256"] = _fingerprint(der, "sha256")
    info["fingerprint512"] = _fingerprint(der, "sha512")
    eku = _extension(cert, x509.ExtendedKeyUsage)
    if eku is not None:
        info["ext_key_usage"] = [oid.dotted_string for oid in eku]
    info["serialNumber"] = _serial_hex(cert.serial_number, "0")
    info["raw"] = der
    return info


# --- getPeerCertificate(true): the issuer chain ---------------------------------------------

_DSA, _RSA_PSS = "1.2.840.10040.4.1", "1.2.840.113549.1.1.10"


def _signer_key_types(signature: str) -> tuple[str, ...]:
    """The key types that may have made a signature (OBJ_find_sigid_algs, then OpenSSL 3.0's
    check_sig_alg_match in crypto/x509/v3_purp.c; RSA keys may make RSA-PSS signatures)."""
    if signature == _RSA_PSS:
        return (_RSA, _RSA_PSS)
    if signature.startswith("1.2.840.113549.1.1.") or signature == "1.3.14.3.2.29":
        return (_RSA,)
    if signature.startswith("1.2.840.10045.4."):
        return (_EC,)
    if signature.startswith("2.16.840.1.101.3.4.3."):  # NIST: DSA 1-8, ECDSA 9-12, RSA 13-16
        arc = int(signature.rsplit(".", 1)[1])
        return (_DSA,) if arc <= 8 else (_EC,) if arc <= 12 else (_RSA,)
    if signature in ("1.3.101.112", "1.3.101.113"):  # Ed25519, Ed448: the key's own OID
        return (signature,)
    return (_DSA,) if signature == "1.2.840.10040.4.3" else ()


# X509_NAME_cmp compares canonical encodings; these string types are canonicalised (x_name.c).
_CANON_TAGS = frozenset((0x0C, 0x1E, 0x1C, 0x13, 0x14, 0x16, 0x1A))
_LOWER_ASCII = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _canonical_name(name_der: bytes) -> tuple[tuple[tuple[str, object], ...], ...]:
    """x509_name_canon: per RDN, a sorted set of (type, value); string values stripped, inner
    whitespace runs collapsed to one space, ASCII lower-cased."""
    sets: dict[int, list[tuple[str, object]]] = {}
    for rdn, oid, tag, content, _ in _name_entries(name_der):
        text = _to_utf8_text(tag, content) if tag in _CANON_TAGS else None
        if text is not None:
            text = re.sub(r"[ \t\n\v\f\r]+", " ", text.strip(" \t\n\v\f\r")).translate(_LOWER_ASCII)
        sets.setdefault(rdn, []).append((oid, text if text is not None else (tag, content)))
    return tuple(tuple(sorted(entries, key=repr)) for entries in sets.values())


def _likely_issued(issuer: x509.Certificate, subject: x509.Certificate) -> bool:
    """ossl_x509_likely_issued: names match, the AKID (if any) fits, the key fits the signature."""
    if _canonical_name(_tbs_fields(issuer)["subject"]) != _canonical_name(_tbs_fields(subject)["issuer"]):
        return False
    akid = _extension(subject, x509.AuthorityKeyIdentifier)
    if akid is not None:  # X509_check_akid
        skid = _extension(issuer, x509.SubjectKeyIdentifier)
        if akid.key_identifier is not None and skid is not None and akid.key_identifier != skid.digest:
            return False
        if (akid.authority_cert_serial_number is not None
                and akid.authority_cert_serial_number != issuer.serial_number):
            return False
        dirnames = [n.value for n in akid.authority_cert_issuer or () if isinstance(n, x509.DirectoryName)]
        if dirnames and _canonical_name(dirnames[0].public_bytes()) != _canonical_name(
                _tbs_fields(issuer)["issuer"]):
            return False
    return issuer.public_key_algorithm_oid.dotted_string in _signer_key_types(
        subject.signature_algorithm_oid.dotted_string)


def _issued(issuer: x509.Certificate, subject: x509.Certificate) -> bool:
    """X509_check_issued() == X509_V_OK: likely issued, and the issuer may sign certificates."""
    usage = _extension(issuer, x509.KeyUsage)
    return _likely_issued(issuer, subject) and (usage is None or usage.key_cert_sign)


def _store_issuer(store: Sequence[x509.Certificate], cert: x509.Certificate) -> x509.Certificate | None:
    """X509_STORE_CTX_get1_issuer: the first likely issuer valid now, else the one that expires
    last (OpenSSL 3.0 crypto/x509/x509_lu.c)."""
    now, best = datetime.now(timezone.utc), None
    for candidate in store:
        if not _likely_issued(candidate, cert):
            continue
        if candidate.not_valid_before_utc <= now <= candidate.not_valid_after_utc:
            return candidate
        if best is None or candidate.not_valid_after_utc > best.not_valid_after_utc:
            best = candidate
    return best


def certificate_chain_dict(chain: Sequence[CertLike | crypto.X509],
                           trust_store_certs: Iterable[CertLike | crypto.X509] = ()) -> CertDict:
    """Node's ``getPeerCertificate(true)``: the leaf's dict with ``issuerCertificate`` links.

    ``chain`` is the peer's chain as sent, leaf first.  As ``GetPeerCert`` does: link each
    certificate to the first remaining chain certificate that issued it, then continue in
    ``trust_store_certs`` (the context's CA store) until a self-issued certificate, whose
    ``issuerCertificate`` is its own dict.  ``{}`` for an empty chain, as Node's ``|| {}``.
    """
    certs = [load_certificate(c) for c in chain]
    if not certs:
        return {}
    store = [load_certificate(c) for c in trust_store_certs]
    result = current = certificate_dict(certs[0])
    cert, rest = certs[0], certs[1:]
    while True:  # AddIssuerChainToObject
        index = next((i for i, ca in enumerate(rest) if _issued(ca, cert)), None)
        if index is None:
            break
        cert = rest.pop(index)
        current["issuerCertificate"] = certificate_dict(cert)
        current = current["issuerCertificate"]
        if index == len(rest):
            # Node's loop tests ``i == sk_X509_num(peer_certs)`` after deleting entry i, so an
            # issuer found at the end of the remaining list also ends the walk (as Node does).
            break
    # Store certificates are compared by identity, as Node compares X509 pointers: a chain
    # certificate is a copy, never the same pointer as a store entry.
    visited: list[x509.Certificate] = []
    while not _issued(cert, cert):  # GetLastIssuedCert
        ca = _store_issuer(store, cert)
        if ca is None or (visited and ca is not visited[-1] and any(ca is seen for seen in visited)):
            break  # (a cycle of cross-signed CAs, where Node would loop forever)
        current["issuerCertificate"] = certificate_dict(ca)
        current = current["issuerCertificate"]
        if visited and ca is visited[-1]:  # a self-signed CA without keyCertSign: Node stops
            break
        visited.append(ca)
        cert = ca
    if _issued(cert, cert):
        current["issuerCertificate"] = current
    return result


# --- the stdlib's getpeercert() -------------------------------------------------------------


def _name_tuple(name_der: bytes) -> NameTuple:
    """_create_tuple_for_X509_NAME (Modules/_ssl.c): RDNs of (long name, value) pairs."""
    rdns: dict[int, list[tuple[str, str]]] = {}
    for rdn, oid, tag, content, _ in _name_entries(name_der):
        text = _to_utf8_text(tag, content)
        rdns.setdefault(rdn, []).append((_NAMES[oid][1] if oid in _NAMES else oid,
                                         text if text is not None else content.decode("latin-1")))
    return tuple(tuple(pairs) for pairs in rdns.values())


def _stdlib_general_name(name: x509.GeneralName) -> tuple[str, str | NameTuple] | None:
    """_get_peer_alt_names (Modules/_ssl.c, Python 3.11) for one GeneralName."""
    kinds = {x509.DNSName: "DNS", x509.RFC822Name: "email", x509.UniformResourceIdentifier: "URI"}
    if type(name) in kinds:
        return kinds[type(name)], name.value
    if isinstance(name, x509.DirectoryName):
        return "DirName", _name_tuple(name.value.public_bytes())
    if isinstance(name, x509.IPAddress):
        text = (_general_name(name) or "")[len("IP Address:"):]  # never None for an IPAddress
        return "IP Address", "<invalid>" if text.startswith("<") else text
    if isinstance(name, x509.RegisteredID):  # i2t_ASN1_OBJECT: the long name when known
        oid = name.value.dotted_string
        return "Registered ID", _NAMES[oid][1] if oid in _NAMES else oid
    if isinstance(name, x509.OtherName):  # GENERAL_NAME_print, split at the first colon
        known = _OTHERNAMES.get(name.type_id.dotted_string)
        tag, start, end = der_element(name.value, 0)
        if known is None or tag != known[1]:
            return "othername", "<unsupported>"
        return "othername", f"{known[0]}:{name.value[start:end].decode('utf-8', 'replace')}"
    return None


def getpeercert_dict(cert: CertLike | crypto.X509) -> CertDict:
    """The stdlib's ``ssl.SSLSocket.getpeercert()`` dict for a certificate (``_decode_certificate``
    in Modules/_ssl.c): ``subject``, ``issuer``, ``version``, ``serialNumber``, ``notBefore``,
    ``notAfter``, then ``subjectAltName``, ``OCSP``, ``caIssuers``, ``crlDistributionPoints``
    when the certificate has them."""
    cert = load_certificate(cert)
    fields = _tbs_fields(cert)
    result: CertDict = {"subject": _name_tuple(fields["subject"]), "issuer": _name_tuple(fields["issuer"]),
                    "version": cert.version.value + 1,
                    "serialNumber": _serial_hex(cert.serial_number, "00"),
                    "notBefore": _asn1_time_print(fields["not_before"]),
                    "notAfter": _asn1_time_print(fields["not_after"])}
    san = _extension(cert, x509.SubjectAlternativeName)
    if san is not None:
        result["subjectAltName"] = tuple(filter(None, map(_stdlib_general_name, san)))
    aia = _extension(cert, x509.AuthorityInformationAccess) or ()
    for key, method in (("OCSP", _OCSP), ("caIssuers", _CA_ISSUERS)):
        uris = tuple(d.access_location.value for d in aia if d.access_method.dotted_string == method
                     and isinstance(d.access_location, x509.UniformResourceIdentifier))
        if uris:  # _get_aia_uri returns None for an empty list
            result[key] = uris
    points = _extension(cert, x509.CRLDistributionPoints)
    if points is not None:  # _get_crl_dp: URIs of full names; present even when empty
        result["crlDistributionPoints"] = tuple(
            n.value for point in points for n in point.full_name or ()
            if isinstance(n, x509.UniformResourceIdentifier))
    return result
