"""check_server_identity against Node's own test table and against Node's tls.checkServerIdentity."""
from __future__ import annotations

import json
import random
import shutil
import ssl
import subprocess
from typing import Any

import pytest
import trustme
from cryptography import x509

from greentls._base.errors import CertificateError
from greentls._parse.certinfo import certificate_dict
from greentls._parse.identity import _canonicalize_ip, check_server_identity

NODE = shutil.which("node")
needs_node = pytest.mark.skipif(NODE is None, reason="node is not on PATH")
UNDEFINED = object()  # JavaScript's undefined, for the cases that pass it

# Node's test/parallel/test-tls-check-server-identity.js: (host, cert, expected reason or None).
# Python has one None; Node's `null` host is not expressible, `undefined` is None here.
NODE_CASES: list[tuple] = [
    (False, {"subject": {"CN": "a.com"}}, "Host: false. is not cert's CN: a.com"),
    (None, {"subject": {"CN": "a.com"}}, "Host: undefined. is not cert's CN: a.com"),
    ("a.com", {"subject": {"CN": "a.com"}}, None),
    ("a.com", {"subject": {"CN": "A.COM"}}, None),
    ("a.com", {"subject": {"CN": "b.com"}}, "Host: a.com. is not cert's CN: b.com"),
    ("a.com", {"subject": {"CN": "a.com."}}, None),
    ("a.com", {"subject": {"CN": ".a.com"}}, "Host: a.com. is not cert's CN: .a.com"),
    ("8.8.8.8", {"subject": {"CN": "8.8.8.8"}}, "IP: 8.8.8.8 is not in the cert's list: "),
    ("8.8.8.8", {"subject": {"CN": "8.8.8.8"}, "subjectaltname": "DNS:8.8.8.8"},
     "IP: 8.8.8.8 is not in the cert's list: "),
    ("8.8.8.8", {"subject": {"CN": "8.8.8.8"}, "subjectaltname": "URI:http://8.8.8.8/"},
     "IP: 8.8.8.8 is not in the cert's list: "),
    ("8.8.8.8", {"subject": {"CN": "8.8.8.8"}, "subjectaltname": "IP Address:8.8.8.8"}, None),
    ("8.8.8.8", {"subject": {"CN": "8.8.8.8"}, "subjectaltname": "IP Address:8.8.8.0/24"},
     "IP: 8.8.8.8 is not in the cert's list: "),
    ("b.a.com", {"subject": {"CN": "*.a.com"}}, None),
    ("ba.com", {"subject": {"CN": "*.a.com"}}, "Host: ba.com. is not cert's CN: *.a.com"),
    ("\n.b.com", {"subject": {"CN": "*n.b.com"}}, "Host: \n.b.com. is not cert's CN: *n.b.com"),
    ("b.a.com", {"subjectaltname": "DNS:omg.com", "subject": {"CN": "*.a.com"}},
     "Host: b.a.com. is not in the cert's altnames: DNS:omg.com"),
    ("b.a.com", {"subject": {"CN": "b*b.a.com"}}, "Host: b.a.com. is not cert's CN: b*b.a.com"),
    ("a.com", {}, "Cert does not contain a DNS name"),
    ("a.com", {"subjectaltname": "DNS:a.com"}, None),
    ("a.b.a.com", {"subjectaltname": "URI:http://a.b.a.com/"}, "Cert does not contain a DNS name"),
    ("foo.com", {"subject": {"CN": ["foo.com", "bar.com"]}}, None),
    ("a.com", {"subjectaltname": "DNS:*", "subject": {"CN": "b.com"}},
     "Host: a.com. is not in the cert's altnames: DNS:*"),
    ("a.com", {"subjectaltname": "DNS:*.com", "subject": {"CN": "b.com"}},
     "Host: a.com. is not in the cert's altnames: DNS:*.com"),
    ("a.co.uk", {"subjectaltname": "DNS:*.co.uk", "subject": {"CN": "b.com"}}, None),
    ("a.com", {"subjectaltname": "DNS:*.a.com", "subject": {"CN": "a.com"}},
     "Host: a.com. is not in the cert's altnames: DNS:*.a.com"),
    ("a.com", {"subjectaltname": "DNS:*.a.com", "subject": {"CN": "b.com"}},
     "Host: a.com. is not in the cert's altnames: DNS:*.a.com"),
    ("a.com", {"subjectaltname": "DNS:a.com", "subject": {"CN": "b.com"}}, None),
    ("a.com", {"subjectaltname": "DNS:A.COM", "subject": {"CN": "b.com"}}, None),
    ("a.com", {"subjectaltname": "DNS:*.a.com", "subject": {}},
     "Host: a.com. is not in the cert's altnames: DNS:*.a.com"),
    ("b.a.com", {"subjectaltname": "DNS:*.a.com", "subject": {}}, None),
    ("c.b.a.com", {"subjectaltname": "DNS:*.a.com", "subject": {}},
     "Host: c.b.a.com. is not in the cert's altnames: DNS:*.a.com"),
    ("b.a.com", {"subjectaltname": "DNS:*b.a.com", "subject": {}}, None),
    ("a-cb.a.com", {"subjectaltname": "DNS:*b.a.com", "subject": {}}, None),
    ("a.b.a.com", {"subjectaltname": "DNS:*b.a.com", "subject": {}},
     "Host: a.b.a.com. is not in the cert's altnames: DNS:*b.a.com"),
    ("a.b.a.com", {"subjectaltname": "DNS:*b.a.com, DNS:a.b.a.com", "subject": {}}, None),
    ("a.b.a.com", {"subjectaltname": "URI:http://a.b.a.com/", "subject": {}}, "Cert does not contain a DNS name"),
    ("a.b.a.com", {"subjectaltname": "URI:http://*.b.a.com/", "subject": {}}, "Cert does not contain a DNS name"),
    ("a.b.a.com", {"subjectaltname": "IP Address:127.0.0.1", "subject": {}}, "Cert does not contain a DNS name"),
    ("127.0.0.1", {"subjectaltname": "IP Address:127.0.0.1", "subject": {}}, None),
    ("127.0.0.2", {"subjectaltname": "IP Address:127.0.0.1", "subject": {}},
     "IP: 127.0.0.2 is not in the cert's list: 127.0.0.1"),
    ("127.0.0.1", {"subjectaltname": "DNS:a.com", "subject": {}}, "IP: 127.0.0.1 is not in the cert's list: "),
    ("localhost", {"subjectaltname": "DNS:a.com", "subject": {"CN": "localhost"}},
     "Host: localhost. is not in the cert's altnames: DNS:a.com"),
    ("xn--bcher-kva.example.com", {"subject": {"CN": "*.example.com"}}, None),
    ("xn--bcher-kva.example.com", {"subject": {"CN": "xn--*.example.com"}},
     "Host: xn--bcher-kva.example.com. is not cert's CN: xn--*.example.com"),
]

# More shapes: IPv6 canonicalisation, trailing dots, escaped SANs, U-labels, arrays.
EXTRA_CASES: list[tuple] = [
    ("::1", {"subjectaltname": "IP Address:0:0:0:0:0:0:0:1"}),
    ("0:0::1", {"subjectaltname": "IP Address:0:0:0:0:0:0:0:1"}),
    ("::2", {"subjectaltname": "IP Address:0:0:0:0:0:FFFF:102:304, IP Address:2001:DB8:0:0:1:0:0:1"}),
    ("fe80::1%eth0", {"subjectaltname": "IP Address:FE80:0:0:0:0:0:0:1"}),
    ("::ffff:1.2.3.4", {"subjectaltname": "IP Address:0:0:0:0:0:FFFF:102:304"}),
    ("1.2.3.4", {"subjectaltname": "IP Address:<invalid length=8>, IP Address:0:0:0:0:0:0:102:304"}),
    ("01.2.3.4", {"subjectaltname": "DNS:01.2.3.4"}),
    ("A.COM.", {"subjectaltname": "DNS:a.com"}),
    ("a.com..", {"subjectaltname": "DNS:a.com"}),
    ("a.com", {"subjectaltname": "DNS:a.com."}),
    ("bar.example.com", {"subjectaltname": "DNS:b*r.example.com"}),
    ("bazr.example.com", {"subjectaltname": "DNS:ba*zr.example.com"}),
    ("b\u00fccher.example.com", {"subjectaltname": "DNS:b\u00fccher.example.com"}),
    ("x.example.com", {"subjectaltname": "DNS:\"a\\u002cb\", DNS:x.example.com"}),
    ("a", {"subjectaltname": "DNS:a,b, DNS:\"c\""}),
    ("x.com", {"subject": {"CN": ["a.com", "b.com"]}}),
    ("x.com", {"subject": {"CN": ""}, "subjectaltname": "email:x@x.com"}),
    ("x.com", {"subject": None}),
    ("*.a.com", {"subjectaltname": "DNS:*.a.com"}),
    ("www.a.com", {"subjectaltname": "DNS:w*.*.com"}),
    ("sub.b.com", {"subjectaltname": "DNS:*.*.b.com"}),
]


def _to_js(value: Any) -> Any:
    return {"$undefined": True} if value is None else value


def _node_reasons(cases: list[tuple]) -> list[dict | None]:
    """Node's tls.checkServerIdentity on each (host, cert): its reason, message and host."""
    script = r"""
const tls = require('tls');
const cases = JSON.parse(require('fs').readFileSync(0, 'utf8'));
const un = (v) => (v && v.$undefined) ? undefined : v;
const out = cases.map(([host, cert]) => {
  if (cert.subject === null) cert.subject = undefined;
  const err = tls.checkServerIdentity(un(host), cert);
  return err ? { reason: err.reason, message: err.message, host: err.host, code: err.code } : null;
});
process.stdout.write(JSON.stringify(out));
"""
    payload = json.dumps([[_to_js(host), cert] for host, cert, *_ in cases])
    done = subprocess.run([NODE, "-e", script], input=payload, capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _ours(host: Any, cert: dict) -> dict | None:
    err = check_server_identity(host, dict(cert))
    return None if err is None else {"reason": err.reason, "message": str(err), "host": err.host, "code": err.code}


@pytest.mark.parametrize(("host", "cert", "expected"), NODE_CASES)
def test_node_table(host: Any, cert: dict, expected: str | None) -> None:
    """Each case of Node's test-tls-check-server-identity.js gives Node's reason (or None)."""
    err = check_server_identity(host, cert)
    assert (err and err.reason) == expected


def test_error_shape() -> None:
    """The mismatch is a returned CertificateError with Node's code, message, host and cert."""
    cert = {"subjectaltname": "DNS:a.com"}
    err = check_server_identity("b.com.", cert)
    assert isinstance(err, CertificateError) and isinstance(err, ssl.SSLCertVerificationError)
    assert err.code == "ERR_TLS_CERT_ALTNAME_INVALID"
    assert str(err) == "Hostname/IP does not match certificate's altnames: " \
                       "Host: b.com. is not in the cert's altnames: DNS:a.com"
    assert err.host == "b.com" and err.cert is cert


def test_bad_escaped_altnames_raise() -> None:
    """A subjectaltname whose quoted part is not a JSON string raises, as Node throws."""
    with pytest.raises(ValueError) as info:
        check_server_identity("a.com", {"subjectaltname": 'DNS:"unterminated'})
    assert info.value.code == "ERR_TLS_CERT_ALTNAME_FORMAT"


@pytest.mark.parametrize(("text", "canonical"), [
    ("::1", "::1"), ("0:0:0:0:0:0:0:1", "::1"), ("0:0:0:0:0:FFFF:102:304", "::ffff:1.2.3.4"),
    ("0:0:0:0:0:0:102:304", "::1.2.3.4"), ("1:0:0:2:0:0:0:3", "1:0:0:2::3"), ("1::", "1::"),
    ("FE80::1%eth0", "fe80::1"), ("1.2.3.4", "1.2.3.4"), ("01.2.3.4", None), ("1.2.3", None),
    ("1:2:3:4:5:6:7:8:9", None), ("1::2::3", None), ("::1.2.3.4", "::1.2.3.4"), ("<invalid>", None),
])
def test_canonicalize_ip(text: str, canonical: str | None) -> None:
    """IP text is canonicalised as libuv's inet_pton/inet_ntop do (Node's canonicalizeIP)."""
    assert _canonicalize_ip(text) == canonical


@needs_node
def test_same_as_node_on_node_table_and_extras() -> None:
    """Node's own checkServerIdentity agrees with ours, reason, message and host, on every case."""
    cases = NODE_CASES + [(h, c, None) for h, c in EXTRA_CASES]
    for (host, cert, *_), node in zip(cases, _node_reasons(cases), strict=True):
        assert _ours(host, cert) == node, (host, cert)


def _random_case(rng: random.Random) -> tuple:
    labels = ["a", "b", "A", "xn--bcher-kva", "*", "a*", "*b", "a*b", "", "example", "com", "\u00fc"]
    def dns() -> str:
        return ".".join(rng.choice(labels) for _ in range(rng.randint(1, 4))) + rng.choice(["", ".", ".."])
    def ip() -> str:
        return rng.choice(["1.2.3.4", "127.0.0.1", "::1", "0:0:0:0:0:0:0:1", "::ffff:1.2.3.4",
                           "0:0:0:0:0:FFFF:102:304", "2001:db8::1", "2001:DB8:0:0:0:0:0:1", "1.2.3.04",
                           "0:0:0:0:0:0:102:304", "fe80::1%lo", "1::", "1:0:0:0:0:0:0:0"])
    sans = [rng.choice(["DNS:" + dns(), "IP Address:" + ip(), "email:a@b", "URI:http://a/"])
            for _ in range(rng.randint(0, 3))]
    cert: dict = {"subject": {"CN": rng.choice([dns(), [dns(), dns()], ""])} if rng.random() < 0.7 else {}}
    if sans:
        cert["subjectaltname"] = ", ".join(sans)
    names = [s.split(":", 1)[1] for s in sans if not s.startswith(("email", "URI"))]
    names += [cn for cn in [cert["subject"].get("CN")] if isinstance(cn, str)]
    if names and rng.random() < 0.6:  # a near miss or a hit: a name with its wildcard filled in
        host = rng.choice(names).replace("*", rng.choice(["", "x", "a.b", "A"]), 1)
        host = host.upper() if rng.random() < 0.2 else host
    else:
        host = rng.choice([dns, dns, ip])()
    return host, cert


@needs_node
def test_same_as_node_on_random_cases() -> None:
    """On 2000 seeded random host/SAN/CN combinations ours and Node's agree exactly."""
    rng = random.Random(6125)
    cases = [_random_case(rng) for _ in range(2000)]
    for (host, cert), node in zip(cases, _node_reasons(cases), strict=True):
        assert _ours(host, cert) == node, (host, cert)


@needs_node
def test_same_as_node_on_real_certificate() -> None:
    """On a trustme certificate's dict, hosts and IPs match or fail exactly as in Node."""
    leaf = trustme.CA().issue_cert("localhost", "*.example.com", "127.0.0.1", "::1", "me@example.com")
    info = certificate_dict(x509.load_pem_x509_certificate(leaf.cert_chain_pems[0].bytes()))
    cert = {"subject": info["subject"], "subjectaltname": info["subjectaltname"]}
    hosts = ["localhost", "LOCALHOST.", "a.example.com", "example.com", "a.b.example.com", "127.0.0.1",
             "::1", "0:0::1", "::2", "10.0.0.1", "me@example.com"]
    cases = [(host, cert) for host in hosts]
    for (host, _), node in zip(cases, _node_reasons(cases), strict=True):
        assert _ours(host, info) == node, host
