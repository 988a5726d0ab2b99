"""``check_server_identity``: Node's ``tls.checkServerIdentity`` (lib/tls.js, Node 20), ported.

The rules are Node's, not Python's ``ssl.match_hostname``: RFC 6125 with one wildcard in the
left-most label only (``*.a.com``, ``b*z.a.com``; never ``*.com``, never inside an A-label),
IP addresses only against ``IP Address`` SANs (compared after canonicalisation, as libuv's
``inet_pton``/``inet_ntop`` do it), the subject CN only when the certificate has no DNS SAN,
one trailing dot ignored, ASCII-only case folding, and no IDNA conversion (a U-label in the
certificate never matches).  The failure is returned, not raised, with Node's exact reason.
"""
from __future__ import annotations

import ipaddress
import json
import re
from typing import Any

from greentls._base.errors import CertificateError

__all__ = ["check_server_identity"]

# lib/internal/net.js: the regular expressions behind net.isIP().
_V4_SEG = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])"
_V4 = rf"(?:{_V4_SEG}\.){{3}}{_V4_SEG}"
_V6_SEG = r"(?:[0-9a-fA-F]{1,4})"
_IPV4_RE = re.compile(rf"^{_V4}\Z")
_IPV6_RE = re.compile(
    "^(?:"
    rf"(?:{_V6_SEG}:){{7}}(?:{_V6_SEG}|:)|"
    rf"(?:{_V6_SEG}:){{6}}(?:{_V4}|:{_V6_SEG}|:)|"
    rf"(?:{_V6_SEG}:){{5}}(?::{_V4}|(?::{_V6_SEG}){{1,2}}|:)|"
    rf"(?:{_V6_SEG}:){{4}}(?:(?::{_V6_SEG}){{0,1}}:{_V4}|(?::{_V6_SEG}){{1,3}}|:)|"
    rf"(?:{_V6_SEG}:){{3}}(?:(?::{_V6_SEG}){{0,2}}:{_V4}|(?::{_V6_SEG}){{1,4}}|:)|"
    rf"(?:{_V6_SEG}:){{2}}(?:(?::{_V6_SEG}){{0,3}}:{_V4}|(?::{_V6_SEG}){{1,5}}|:)|"
    rf"(?:{_V6_SEG}:){{1}}(?:(?::{_V6_SEG}){{0,4}}:{_V4}|(?::{_V6_SEG}){{1,6}}|:)|"
    rf"(?::(?:(?::{_V6_SEG}){{0,5}}:{_V4}|(?::{_V6_SEG}){{1,7}}|:))"
    r")(?:%[0-9a-zA-Z\-.:]{1,})?\Z")
# lib/tls.js: any JSON string literal, to find the end of an escaped alt name.
_JSON_STRING_RE = re.compile(r'"(?:[^"\\\x00-\x1f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"')
_LOWER_ASCII = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_HEX = "0123456789abcdefABCDEF"


def _js_string(value: object) -> str:
    """JavaScript's ``'' + value`` for the values a Python caller may pass."""
    if value is None:
        return "undefined"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):  # Array.prototype.toString; null/undefined items are ""
        return ",".join("" if item is None else _js_string(item) for item in value)
    return str(value)


def _js_truthy(value: object) -> bool:
    """JavaScript truthiness: arrays and objects are truthy even when empty."""
    return isinstance(value, (list, dict)) or bool(value)


def _pton4(text: str) -> bytes | None:
    """libuv's inet_pton4: exactly four decimal octets, no leading zeros."""
    octets: list[int] = []
    saw_digit = False
    for ch in text:
        if "0" <= ch <= "9":
            if saw_digit and octets[-1] == 0:
                return None
            if not saw_digit:
                if len(octets) == 4:
                    return None
                octets.append(0)
                saw_digit = True
            octets[-1] = octets[-1] * 10 + int(ch)
            if octets[-1] > 255:
                return None
        elif ch == "." and saw_digit and len(octets) < 4:
            saw_digit = False
        else:
            return None
    return bytes(octets) if len(octets) == 4 and saw_digit else None


def _pton6(text: str) -> bytes | None:
    """libuv's inet_pton6 (BIND's): a zone index is dropped; one "::"; a dotted tail."""
    if "%" in text:
        text = text[:text.index("%")]
        if len(text) > 45:  # UV__INET6_ADDRSTRLEN - 1
            return None
    if text.startswith(":"):
        if not text.startswith("::"):
            return None
        text = text[1:]
    head: list[int] = []
    tail: list[int] | None = None  # the groups after "::"
    groups = head
    token, digits, i = "", 0, 0
    while i < len(text):
        ch = text[i]
        i += 1
        if ch in _HEX:
            token += ch
            digits += 1
            if digits > 4:
                return None
        elif ch == ":":
            if not digits:
                if tail is not None:
                    return None
                tail = groups = []
                continue
            if i == len(text):
                return None
            groups.append(int(token, 16))
            token, digits = "", 0
        elif ch == "." and len(head) + len(tail or []) <= 6:
            start = text.rfind(":", 0, i) + 1
            v4 = _pton4(text[start:])
            if v4 is None:
                return None
            groups += [v4[0] << 8 | v4[1], v4[2] << 8 | v4[3]]
            token, digits = "", 0
            break
        else:
            return None
    if digits:
        groups.append(int(token, 16))
    count = len(head) + len(tail or [])
    if count > 8 or (tail is not None and count == 8) or (tail is None and count != 8):
        return None
    words = head + [0] * (8 - count) + (tail or [])
    return b"".join(w.to_bytes(2, "big") for w in words)


def _ntop6(packed: bytes) -> str:
    """libuv's inet_ntop6: the longest (first) run of two or more zero groups becomes "::",
    and IPv4-compatible and IPv4-mapped addresses end in dotted decimal."""
    words = [int.from_bytes(packed[i:i + 2], "big") for i in range(0, 16, 2)]
    best_base, best_len, cur_base, cur_len = -1, 0, -1, 0
    for i, word in enumerate([*words, 1]):  # the sentinel closes a trailing run
        if word == 0 and i < 8:
            cur_base, cur_len = (i, 1) if cur_base == -1 else (cur_base, cur_len + 1)
        elif cur_base != -1:
            if best_base == -1 or cur_len > best_len:
                best_base, best_len = cur_base, cur_len
            cur_base = -1
    if best_len < 2:
        best_base = -1
    out = ""
    for i, word in enumerate(words):
        if best_base != -1 and best_base <= i < best_base + best_len:
            out += ":" if i == best_base else ""
            continue
        out += ":" if i else ""
        if i == 6 and best_base == 0 and (best_len == 6 or (best_len == 7 and words[7] != 1)
                                          or (best_len == 5 and words[5] == 0xFFFF)):
            return out + ".".join(map(str, packed[12:]))
        out += "%x" % word
    return out + (":" if best_base != -1 and best_base + best_len == 8 else "")


def _canonicalize_ip(text: str) -> str | None:
    """cares_wrap's canonicalizeIP: ``None`` (Node's undefined) when not an address."""
    v4 = _pton4(text)
    if v4 is not None:
        return ".".join(map(str, v4))
    v6 = _pton6(text)
    return _ntop6(v6) if v6 is not None else None


def is_ip_literal(host: str) -> bool:
    """True for an IPv4 or IPv6 address, bracketed or not: such a host is sent no SNI (RFC 6066
    section 3 allows only DNS names), as Node's ``tls.connect`` and the stdlib do."""
    try:
        ipaddress.ip_address(host.strip("[]"))
        return True
    except ValueError:
        return False


def _is_ip(text: str) -> bool:
    """net.isIP(text) != 0."""
    return bool(_IPV4_RE.match(text) or _IPV6_RE.match(text))


def _unfqdn(host: str) -> str:
    return host[:-1] if host.endswith(".") else host


def _split_host(host: str) -> list[str]:
    # Node lower-cases A-Z only: String#toLowerCase() is locale-sensitive.
    return _unfqdn(host).translate(_LOWER_ASCII).split(".")


def _check(host_parts: list[str], pattern: object, wildcards: bool) -> bool:
    """lib/tls.js ``check()``: one pattern against the host's labels."""
    if not _js_truthy(pattern):
        return False
    pattern_parts = _split_host(_js_string(pattern))
    if len(host_parts) != len(pattern_parts) or "" in pattern_parts:
        return False
    # U-labels, controls and blanks are rejected outright (Node cannot normalise them).
    if any(re.search(r"[^\x21-\x7f]", part) for part in pattern_parts):
        return False
    if host_parts[1:] != pattern_parts[1:]:
        return False
    host_sub, pattern_sub = host_parts[0], pattern_parts[0]
    pieces = pattern_sub.split("*", 2)
    # RFC 6125 6.4.3: no wildcard substitution inside an A-label: match those verbatim.
    if len(pieces) == 1 or "xn--" in pattern_sub:
        return host_sub == pattern_sub
    if not wildcards or len(pieces) > 2 or len(pattern_parts) <= 2:
        return False  # one wildcard at most, and never "*.tld"
    prefix, suffix = pieces
    return (len(prefix) + len(suffix) <= len(host_sub) and host_sub.startswith(prefix)
            and host_sub.endswith(suffix))


def _split_escaped_alt_names(alt_names: str) -> list[str]:
    """lib/tls.js ``splitEscapedAltNames``: split at ", " outside the JSON-quoted parts."""
    result, token, offset = [], "", 0
    while offset != len(alt_names):
        next_sep = alt_names.find(",", offset)
        next_quote = alt_names.find('"', offset)
        if next_quote != -1 and (next_sep == -1 or next_quote < next_sep):
            token += alt_names[offset:next_quote]
            match = _JSON_STRING_RE.match(alt_names, next_quote)
            if not match:
                error = ValueError("Invalid subject alternative name string")
                error.code = "ERR_TLS_CERT_ALTNAME_FORMAT"  # type: ignore[attr-defined]  # Node sets .code on a plain error
                raise error
            token += json.loads(match.group(0))
            offset = match.end()
        elif next_sep != -1:
            result.append(token + alt_names[offset:next_sep])
            token, offset = "", next_sep + 2
        else:
            token, offset = token + alt_names[offset:], len(alt_names)
    result.append(token)
    return result


def check_server_identity(hostname: str, cert: dict[str, Any]) -> CertificateError | None:
    """Check ``hostname`` against a certificate dict (``certificate_dict``'s shape) as Node does.

    Returns ``None`` when it matches, else a ``CertificateError`` with
    ``code="ERR_TLS_CERT_ALTNAME_INVALID"``, ``.reason``, ``.host`` and ``.cert`` (it does not
    raise it).  A ``subjectaltname`` that is not Node's format raises ``ValueError``
    (``.code == "ERR_TLS_CERT_ALTNAME_FORMAT"``), as Node throws.
    """
    subject = cert.get("subject")
    alt_names = cert.get("subjectaltname")
    dns_names: list[str] = []
    ips: list[str | None] = []
    hostname = _js_string(hostname)
    if alt_names:
        names = _split_escaped_alt_names(alt_names) if '"' in alt_names else alt_names.split(", ")
        for name in names:
            if name.startswith("DNS:"):
                dns_names.append(name[4:])
            elif name.startswith("IP Address:"):
                ips.append(_canonicalize_ip(name[11:]))
    hostname = _unfqdn(hostname)  # Node drops one trailing dot here, for the messages too
    common_name = subject.get("CN") if isinstance(subject, dict) else None
    if _is_ip(hostname):
        valid = _canonicalize_ip(hostname) in ips
        reason = f"IP: {hostname} is not in the cert's list: " + ", ".join(ip or "" for ip in ips)
    elif dns_names or _js_truthy(common_name):
        host_parts = _split_host(hostname)
        if dns_names:
            valid = any(_check(host_parts, name, True) for name in dns_names)
            reason = f"Host: {hostname}. is not in the cert's altnames: {alt_names}"
        else:  # RFC 6125 6.4.4: the CN only when there is no DNS-ID
            names = common_name if isinstance(common_name, list) else [common_name]
            valid = any(_check(host_parts, name, True) for name in names)
            reason = f"Host: {hostname}. is not cert's CN: {_js_string(common_name)}"
    else:
        valid, reason = False, "Cert does not contain a DNS name"
    if valid:
        return None
    return CertificateError(f"Hostname/IP does not match certificate's altnames: {reason}",
                            code="ERR_TLS_CERT_ALTNAME_INVALID", reason=reason, host=hostname, cert=cert)
