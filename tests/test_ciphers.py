"""greentls._config.ciphers against our OpenSSL (4.0) and against Node v20 (OpenSSL 3.0) itself."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from typing import Any

import pytest
import trustme
from OpenSSL import SSL
from OpenSSL._util import ffi, lib

from greentls._config import ciphers as _ciphers
from greentls._config.ciphers import (
    CIPHER_LIST_ENV,
    NODE_DEFAULT_CIPHERS,
    default_ciphers,
    get_ciphers,
    split_cipher_string,
    standard_name,
)

NODE = shutil.which("node")
OPENSSL_CLI = shutil.which("openssl")
needs_node = pytest.mark.skipif(NODE is None, reason="node is not installed")
needs_openssl_cli = pytest.mark.skipif(OPENSSL_CLI is None,
                                       reason="the openssl CLI is not installed")

TLS13_ALL = b"TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256:" \
            b"TLS_AES_128_CCM_8_SHA256:TLS_AES_128_CCM_SHA256"
EVERYTHING = b"ALL:COMPLEMENTOFALL:@SECLEVEL=0"

# Names Node's tls.getCiphers() lists and get_ciphers() does not, and the reverse.  Both are
# empty on this machine, and that is expected, not luck: both sides list SSL_get_ciphers() of a
# fresh context, i.e. OpenSSL's DEFAULT list ("ALL:!COMPLEMENTOFDEFAULT:!eNULL"), which names
# the same 57 TLS 1.2 suites in OpenSSL 3.0 and 4.0 (4.0's extra IDEA/SEED/ARIA/CAMELLIA/CCM
# suites are all SSL_NOT_DEFAULT), and both append Node's five literal TLS 1.3 names, which
# OpenSSL 4.0 all supports.  A future OpenSSL that changes its default list goes here, explained.
ONLY_IN_NODE: frozenset[str] = frozenset()
ONLY_IN_GREENTLS: frozenset[str] = frozenset()

# The two GOST suites at private-use code points: OpenSSL knows them but gives them no
# standard name (stdname NULL in ssl/s3_lib.c); they need a GOST provider we lack anyway.
NO_STANDARD_NAME = frozenset({"LEGACY-GOST2012-GOST8912-GOST8912", "GOST2012-NULL-GOST12"})


def run_node(args: list[str], stdin: str = "") -> str:
    """Run node with Node's own defaults (no NODE_OPTIONS) and return its stdout."""
    env = {k: v for k, v in os.environ.items() if k != "NODE_OPTIONS"}
    done = subprocess.run([NODE or "node", "--no-deprecation", *args], input=stdin, env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def names_for(cipher_list: bytes, tls13: bytes | None = None) -> list[str]:
    """OpenSSL names in our OpenSSL's list for a cipher string (and TLS 1.3 suites)."""
    ctx = SSL.Context(SSL.TLS_METHOD)
    ctx.set_cipher_list(cipher_list)
    if tls13 is not None:
        ctx.set_tls13_ciphersuites(tls13)
    return SSL.Connection(ctx, None).get_cipher_list()


def known_to_our_openssl() -> dict[int, str]:
    """Every code point our OpenSSL has an SSL_CIPHER for, swept through SSL_CIPHER_find."""
    conn = SSL.Connection(SSL.Context(SSL.TLS_METHOD), None)
    found = {}
    for code in range(0x10000):
        cipher = lib.SSL_CIPHER_find(conn._ssl, code.to_bytes(2, "big"))
        if cipher != ffi.NULL:
            found[code] = ffi.string(lib.SSL_CIPHER_get_name(cipher)).decode("ascii")
    return found


# --- NODE_DEFAULT_CIPHERS and default_ciphers() -------------------------------------------------

@needs_node
def test_node_default_ciphers_is_nodes_own() -> None:
    """NODE_DEFAULT_CIPHERS is exactly what node prints for tls.DEFAULT_CIPHERS."""
    assert run_node(["-p", "require('tls').DEFAULT_CIPHERS"]).strip() == NODE_DEFAULT_CIPHERS


def test_default_ciphers_is_node_list_without_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without GREENTLS_CIPHER_LIST (or with it empty) the default is Node's list."""
    monkeypatch.delenv(CIPHER_LIST_ENV, raising=False)
    assert default_ciphers() == NODE_DEFAULT_CIPHERS
    monkeypatch.setenv(CIPHER_LIST_ENV, "")
    assert default_ciphers() == NODE_DEFAULT_CIPHERS


@needs_node
def test_env_replaces_default_as_node_flag_does(monkeypatch: pytest.MonkeyPatch) -> None:
    """GREENTLS_CIPHER_LIST replaces the default as node --tls-cipher-list does."""
    custom = "ECDHE-RSA-AES256-GCM-SHA384:TLS_AES_128_GCM_SHA256"
    monkeypatch.setenv(CIPHER_LIST_ENV, custom)
    node_value = run_node([f"--tls-cipher-list={custom}", "-p", "require('tls').DEFAULT_CIPHERS"])
    assert default_ciphers() == node_value.strip() == custom


def test_package_reads_env_at_import() -> None:
    """A fresh interpreter with GREENTLS_CIPHER_LIST set sees it in _ciphers.default_ciphers()."""
    env = dict(os.environ, **{CIPHER_LIST_ENV: "HIGH:!aNULL"})
    code = "from greentls._config.ciphers import default_ciphers; print(default_ciphers())"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True, cwd=os.path.dirname(os.path.dirname(__file__)))
    assert out.stdout.strip() == "HIGH:!aNULL"


# --- get_ciphers() -------------------------------------------------------------------------------

def test_get_ciphers_is_lower_sorted_unique_with_tls13() -> None:
    """get_ciphers() is lower-case, sorted, duplicate-free, and lists Node's five TLS 1.3 suites."""
    names = get_ciphers()
    assert names == sorted(set(names))
    assert all(name == name.lower() for name in names)
    for suite in ("tls_aes_256_gcm_sha384", "tls_chacha20_poly1305_sha256",
                  "tls_aes_128_gcm_sha256", "tls_aes_128_ccm_8_sha256", "tls_aes_128_ccm_sha256"):
        assert suite in names


def test_get_ciphers_returns_a_fresh_list() -> None:
    """Mutating the returned list does not change the next call's answer (Node's cachedResult)."""
    first = get_ciphers()
    first.clear()
    assert get_ciphers()


def test_get_ciphers_names_all_work_in_our_openssl() -> None:
    """Every name get_ciphers() lists is one our OpenSSL accepts and puts in a context's list."""
    for name in get_ciphers():
        upper = name.upper().encode("ascii")
        listed = names_for(b"ALL", tls13=upper) if name.startswith("tls_") else names_for(upper + b":@SECLEVEL=0")
        assert name.upper() in listed, name


@needs_node
def test_get_ciphers_matches_node() -> None:
    """get_ciphers() equals node's tls.getCiphers(), modulo the documented differences."""
    node_names = json.loads(run_node(["-p", "JSON.stringify(require('tls').getCiphers())"]))
    ours = get_ciphers()
    assert sorted(set(node_names) - set(ours)) == sorted(ONLY_IN_NODE)
    assert sorted(set(ours) - set(node_names)) == sorted(ONLY_IN_GREENTLS)
    # Same order too: both are sorted by code unit.
    assert [n for n in ours if n not in ONLY_IN_GREENTLS] == \
        [n for n in node_names if n not in ONLY_IN_NODE]


# --- standard_name() -----------------------------------------------------------------------------

@pytest.mark.parametrize(("openssl_name", "iana"), [
    ("ECDHE-RSA-AES128-GCM-SHA256", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"),
    ("ECDHE-ECDSA-CHACHA20-POLY1305", "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256"),
    ("DHE-RSA-AES256-SHA256", "TLS_DHE_RSA_WITH_AES_256_CBC_SHA256"),
    ("AES128-SHA", "TLS_RSA_WITH_AES_128_CBC_SHA"),
    ("AES256-CCM8", "TLS_RSA_WITH_AES_256_CCM_8"),
    ("ECDHE-ARIA128-GCM-SHA256", "TLS_ECDHE_RSA_WITH_ARIA_128_GCM_SHA256"),
    ("ADH-AES256-GCM-SHA384", "TLS_DH_anon_WITH_AES_256_GCM_SHA384"),
    ("GOST2001-GOST89-GOST89", "TLS_GOSTR341001_WITH_28147_CNT_IMIT"),
    ("ADH-SEED-SHA", "TLS_DH_anon_WITH_SEED_CBC_SHA"),
    ("SRP-RSA-AES-256-CBC-SHA", "TLS_SRP_SHA_RSA_WITH_AES_256_CBC_SHA"),
    ("RSA-PSK-CHACHA20-POLY1305", "TLS_RSA_PSK_WITH_CHACHA20_POLY1305_SHA256"),
    ("TLS_AES_256_GCM_SHA384", "TLS_AES_256_GCM_SHA384"),
    ("TLS_AES_128_CCM_8_SHA256", "TLS_AES_128_CCM_8_SHA256"),
])
def test_standard_name_examples(openssl_name: str, iana: str) -> None:
    """standard_name maps OpenSSL names to IANA names and passes TLS 1.3 names through."""
    assert standard_name(openssl_name) == iana


@pytest.mark.parametrize("name", ["NOT-A-CIPHER", "ecdhe-rsa-aes128-gcm-sha256",
                                  *sorted(NO_STANDARD_NAME)])
def test_standard_name_unknown_raises_key_error(name: str) -> None:
    """A name with no standard name raises KeyError naming it."""
    with pytest.raises(KeyError, match=name):
        standard_name(name)


def test_every_negotiable_suite_has_a_standard_name() -> None:
    """Every suite our OpenSSL lists for ALL:COMPLEMENTOFALL:@SECLEVEL=0 has a standard name."""
    names = names_for(EVERYTHING, tls13=TLS13_ALL)
    assert len(names) > 150
    for name in names:
        assert standard_name(name).startswith("TLS_"), name


def test_table_covers_every_suite_our_openssl_knows() -> None:
    """Every SSL_CIPHER our OpenSSL knows has a standard name, bar the private-use GOST two."""
    known = known_to_our_openssl()
    missing = [name for name in known.values()
               if name not in NO_STANDARD_NAME and not name.startswith("TLS_")
               and name not in _ciphers._STANDARD_NAMES]
    assert missing == []
    assert set(known.values()) >= NO_STANDARD_NAME


def test_table_code_points_match_our_openssl() -> None:
    """Each table row's code point is, in our OpenSSL, the suite of that OpenSSL name."""
    known = known_to_our_openssl()
    wrong = [(hex(code), name, known.get(code)) for code, name, _ in _ciphers._SUITES
             if known.get(code) != name]
    assert wrong == []
    assert len({name for _, name, _ in _ciphers._SUITES}) == len(_ciphers._SUITES)


@needs_openssl_cli
def test_table_matches_openssl_cli() -> None:
    """The table agrees with `openssl ciphers -V -stdname` on every suite the CLI lists."""
    out = subprocess.run(
        [OPENSSL_CLI or "openssl", "ciphers", "-V", "-stdname", "-ciphersuites", TLS13_ALL.decode(),
         EVERYTHING.decode()], capture_output=True, text=True, check=True).stdout
    by_name = {name: code for code, name, _ in _ciphers._SUITES}
    rows = [line.split() for line in out.splitlines()]
    assert len(rows) > 150
    for code, _, iana, _, name, *_ in rows:
        assert standard_name(name) == iana, name
        if not name.startswith("TLS_"):
            assert by_name[name] == int(code.replace("0x", "").replace(",", ""), 16), name


NODE_HANDSHAKES = r"""
const tls = require('tls');
const input = JSON.parse(require('fs').readFileSync(0, 'utf8'));
const psk = Buffer.from('00112233445566778899aabbccddeeff', 'hex');
function one(c) {
  return new Promise((resolve) => {
    const common = { ciphers: c.ciphers, minVersion: c.version, maxVersion: c.version };
    let server;
    try {
      server = tls.createServer({
        ...common, key: input[c.cert].key, cert: input[c.cert].cert, dhparam: 'auto',
        pskCallback: () => psk, pskIdentityHint: 'hint',
      }, (s) => s.end());
    } catch (e) { resolve({ error: e.message, ciphers: c.ciphers }); return; }
    server.on('tlsClientError', () => {});
    server.listen(0, '127.0.0.1', () => {
      const sock = tls.connect({
        ...common, port: server.address().port, host: '127.0.0.1', rejectUnauthorized: false,
        pskCallback: c.psk ? () => ({ psk, identity: 'id' }) : undefined,
      }, () => { const r = sock.getCipher(); sock.destroy(); server.close(); resolve(r); });
      sock.on('error', (e) => {
        server.close();
        resolve({ error: e.message, ciphers: c.ciphers });
      });
    });
  });
}
(async () => {
  const out = [];
  for (const c of input.cases) out.push(await one(c));
  console.log(JSON.stringify(out));
})();
"""

# (ciphers option, certificate, PSK?, version): one of each family, the irregular names included.
HANDSHAKE_CASES: list[tuple[str, str, bool, str]] = [
    ("ECDHE-RSA-AES128-GCM-SHA256", "rsa", False, "TLSv1.2"),
    ("ECDHE-ECDSA-CHACHA20-POLY1305", "ecdsa", False, "TLSv1.2"),
    ("ECDHE-ECDSA-AES256-CCM8", "ecdsa", False, "TLSv1.2"),
    ("ECDHE-ECDSA-ARIA256-GCM-SHA384", "ecdsa", False, "TLSv1.2"),
    ("ECDHE-ARIA128-GCM-SHA256", "rsa", False, "TLSv1.2"),
    ("DHE-RSA-AES256-SHA256", "rsa", False, "TLSv1.2"),
    ("DHE-RSA-CHACHA20-POLY1305", "rsa", False, "TLSv1.2"),
    ("DHE-RSA-CAMELLIA128-SHA256", "rsa", False, "TLSv1.2"),
    ("AES128-CCM", "rsa", False, "TLSv1.2"),
    ("AES256-SHA", "rsa", False, "TLSv1.2"),
    ("CAMELLIA256-SHA", "rsa", False, "TLSv1.2"),
    ("NULL-SHA256:@SECLEVEL=0", "rsa", False, "TLSv1.2"),
    ("ADH-AES128-SHA:@SECLEVEL=0", "rsa", False, "TLSv1.2"),
    ("AECDH-AES256-SHA:@SECLEVEL=0", "rsa", False, "TLSv1.2"),
    ("PSK-AES128-CCM8", "rsa", True, "TLSv1.2"),
    ("ECDHE-PSK-CHACHA20-POLY1305", "rsa", True, "TLSv1.2"),
    ("DHE-PSK-AES256-CBC-SHA384", "rsa", True, "TLSv1.2"),
    ("RSA-PSK-ARIA256-GCM-SHA384", "rsa", True, "TLSv1.2"),
    ("PSK-NULL-SHA256:@SECLEVEL=0", "rsa", True, "TLSv1.2"),
    ("TLS_AES_128_CCM_8_SHA256", "rsa", False, "TLSv1.3"),
    ("TLS_CHACHA20_POLY1305_SHA256", "ecdsa", False, "TLSv1.3"),
]


@needs_node
def test_standard_name_matches_node_handshakes() -> None:
    """For suites node really negotiates, standard_name(name) equals getCipher().standardName."""
    ca = trustme.CA()
    certs = {kind: ca.issue_cert("localhost", key_type=key_type)
             for kind, key_type in (("rsa", trustme.KeyType.RSA), ("ecdsa", trustme.KeyType.ECDSA))}
    payload: dict[str, Any] = {
        kind: {"key": cert.private_key_pem.bytes().decode(),
               "cert": cert.cert_chain_pems[0].bytes().decode()}
        for kind, cert in certs.items()}
    payload["cases"] = [{"ciphers": c, "cert": cert, "psk": psk, "version": v}
                        for c, cert, psk, v in HANDSHAKE_CASES]
    results = json.loads(run_node(["-e", NODE_HANDSHAKES], stdin=json.dumps(payload)))
    for (ciphers, *_), got in zip(HANDSHAKE_CASES, results, strict=True):
        assert "error" not in got, got
        assert got["name"] == ciphers.split(":")[0]
        assert standard_name(got["name"]) == got["standardName"]


# --- split_cipher_string() -----------------------------------------------------------------------

@pytest.mark.parametrize(("ciphers", "expected"), [
    ("ECDHE-RSA-AES128-GCM-SHA256:HIGH", ("ECDHE-RSA-AES128-GCM-SHA256:HIGH", None)),
    ("TLS_AES_128_GCM_SHA256", ("", "TLS_AES_128_GCM_SHA256")),
    ("TLS_AES_128_GCM_SHA256:ECDHE-RSA-AES128-GCM-SHA256:!aNULL:TLS_AES_256_GCM_SHA384",
     ("ECDHE-RSA-AES128-GCM-SHA256:!aNULL", "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384")),
    ("::HIGH::TLS_AES_256_GCM_SHA384::", ("HIGH", "TLS_AES_256_GCM_SHA384")),
    ("HIGH:!TLS_AES_128_GCM_SHA256", ("HIGH", "!TLS_AES_128_GCM_SHA256")),
    ("tls_aes_128_gcm_sha256:HIGH", ("tls_aes_128_gcm_sha256:HIGH", None)),
    ("@SECLEVEL=0:TLS_AES_128_CCM_SHA256", ("@SECLEVEL=0", "TLS_AES_128_CCM_SHA256")),
])
def test_split_cipher_string_cases(ciphers: str, expected: tuple[str, str | None]) -> None:
    """TLS_ and !TLS_ items go to the TLS 1.3 list, the rest in order to the TLS 1.2 list."""
    assert split_cipher_string(ciphers) == expected


@pytest.mark.parametrize("ciphers", ["", None])
def test_split_empty_means_default(ciphers: str | None) -> None:
    """An empty or None ciphers option splits the default list, or the given default."""
    assert split_cipher_string(ciphers, default=NODE_DEFAULT_CIPHERS) == (
        NODE_DEFAULT_CIPHERS.split(":", 3)[3],
        "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256")
    assert split_cipher_string(ciphers, default="HIGH") == ("HIGH", None)


def test_split_default_follows_package_attribute(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without default=, an empty option reads greentls.DEFAULT_CIPHERS at call time, as Node."""
    package = sys.modules["greentls"]
    monkeypatch.setattr(package, "DEFAULT_CIPHERS", "AES128-SHA:TLS_AES_128_CCM_SHA256",
                        raising=False)
    assert split_cipher_string("") == ("AES128-SHA", "TLS_AES_128_CCM_SHA256")
    monkeypatch.delattr(package, "DEFAULT_CIPHERS")
    monkeypatch.setenv(CIPHER_LIST_ENV, "CAMELLIA256-SHA")
    assert split_cipher_string(None) == ("CAMELLIA256-SHA", None)


@pytest.mark.parametrize("ciphers", [":", ":::"])
def test_split_nothing_raises_value_error(ciphers: str) -> None:
    """A list naming nothing raises ValueError naming the option (Node: ERR_INVALID_ARG_VALUE)."""
    with pytest.raises(ValueError, match="'ciphers'"):
        split_cipher_string(ciphers)


def test_split_non_string_raises_type_error() -> None:
    """A ciphers option that is not a str raises TypeError naming the option."""
    with pytest.raises(TypeError, match="'ciphers'"):
        split_cipher_string(b"HIGH")  # type: ignore[arg-type]


def test_split_empty_tls12_clears_the_list_in_our_openssl() -> None:
    """set_cipher_list(b"") fails yet clears the TLS 1.2 suites, as Node's SetCiphers relies on."""
    ctx = SSL.Context(SSL.TLS_METHOD)
    with pytest.raises(SSL.Error):
        ctx.set_cipher_list(b"")
    assert all(name.startswith("TLS_") for name in SSL.Connection(ctx, None).get_cipher_list())


NODE_SPLIT = r"""
// processCiphers is not exported: evaluate this node's own copy of it, from its built-in
// source, with the four primordials it uses.
const tls = require('tls');
const src = process.binding('natives')['internal/tls/secure-context'];
const fn = src.match(/function processCiphers\([\s\S]*?\n}\n/)[0];
class ERR_INVALID_ARG_VALUE extends Error {
  constructor(name) { super(name); this.code = 'ERR_INVALID_ARG_VALUE'; }
}
const processCiphers = new Function(
  'StringPrototypeSplit', 'ArrayPrototypeJoin', 'ArrayPrototypeFilter',
  'StringPrototypeStartsWith', 'getDefaultCiphers', 'ERR_INVALID_ARG_VALUE',
  fn + '\nreturn processCiphers;')(
  (s, sep) => s.split(sep), (a, sep) => a.join(sep), (a, f) => a.filter(f),
  (s, p) => s.startsWith(p), () => tls.DEFAULT_CIPHERS, ERR_INVALID_ARG_VALUE);
const out = JSON.parse(require('fs').readFileSync(0, 'utf8')).map((ciphers) => {
  const r = {};
  try { r.split = processCiphers(ciphers, 'options.ciphers'); } catch (e) { r.splitError = e.code; }
  try { r.minProto = tls.createSecureContext({ ciphers }).context.getMinProto(); }
  catch (e) { r.contextError = e.code; }
  return r;
});
console.log(JSON.stringify(out));
"""

SPLIT_INPUTS = [
    "", ":", ":::", "HIGH", "ECDHE-RSA-AES128-GCM-SHA256:HIGH:!aNULL",
    "TLS_AES_128_GCM_SHA256", "TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256",
    "TLS_AES_128_GCM_SHA256:ECDHE-RSA-AES128-GCM-SHA256:!aNULL:TLS_AES_256_GCM_SHA384",
    "::HIGH::TLS_AES_256_GCM_SHA384::", "HIGH:!TLS_AES_128_GCM_SHA256",
    "tls_aes_128_gcm_sha256:HIGH", "@SECLEVEL=0:TLS_AES_128_CCM_SHA256", NODE_DEFAULT_CIPHERS,
]


@needs_node
def test_split_matches_node(monkeypatch: pytest.MonkeyPatch) -> None:
    """split_cipher_string matches node's processCiphers; no TLS 1.2 item means TLS 1.3 only."""
    monkeypatch.delenv(CIPHER_LIST_ENV, raising=False)
    results = json.loads(run_node(["-e", NODE_SPLIT], stdin=json.dumps(SPLIT_INPUTS)))
    for ciphers, node in zip(SPLIT_INPUTS, results, strict=True):
        if "splitError" in node:
            assert node["splitError"] == "ERR_INVALID_ARG_VALUE"
            with pytest.raises(ValueError):
                split_cipher_string(ciphers, default=NODE_DEFAULT_CIPHERS)
            continue
        tls12, tls13 = split_cipher_string(ciphers, default=NODE_DEFAULT_CIPHERS)
        assert (tls12, tls13 or "") == (node["split"]["cipherList"], node["split"]["cipherSuites"])
        if "minProto" in node:  # the context built: TLS 1.3 only exactly when no TLS 1.2 item
            assert (node["minProto"] == 0x0304) == (tls12 == ""), ciphers
