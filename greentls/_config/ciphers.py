"""Cipher names and cipher lists, as Node's ``tls`` module presents them.

Theory of operation
-------------------
Node speaks of cipher suites in three dialects, and greentls has to speak all three while its
OpenSSL (4.0, bundled in cryptography) is not Node's (3.0):

* **The default list** (``tls.DEFAULT_CIPHERS``) is a literal in Node's source
  (src/node_constants.h, ``DEFAULT_CIPHER_LIST_CORE``), replaced by ``--tls-cipher-list``
  (lib/tls.js: ``exports.DEFAULT_CIPHERS = getOptionValue('--tls-cipher-list')``).  We keep the
  literal (:data:`NODE_DEFAULT_CIPHERS`) and let ``GREENTLS_CIPHER_LIST`` play the flag's part.
* **``tls.getCiphers()``** is *computed* from the library: src/crypto/crypto_cipher.cc
  ``GetSSLCiphers`` lists ``SSL_get_ciphers()`` of a fresh ``SSL_CTX_new(TLS_method())`` (so
  OpenSSL's *default* list, not ``ALL``) and appends five hard-coded TLS 1.3 names; lib/tls.js
  passes that through ``filterDuplicateStrings(..., true)`` (lower-case, de-duplicate, sort).
  :func:`get_ciphers` does the same against our OpenSSL.
* **``getCipher().standardName``** is OpenSSL's ``SSL_CIPHER_standard_name``, which pyOpenSSL
  does not bind (docs/architecture.rst, "fact-binding-gaps").  :func:`standard_name` answers from a
  literal table of every TLS 1.2-and-below suite our OpenSSL knows, keyed by OpenSSL name (TLS 1.3
  names are already the standard ones).  The table was captured from ``openssl ciphers -V -stdname
  'ALL:COMPLEMENTOFALL:@SECLEVEL=0'`` (OpenSSL 3.0 CLI; names and code points are the IANA
  registry's, the same in 4.0), plus the suites that CLI does not list (IDEA, SEED, GOST),
  from OpenSSL's ssl/s3_lib.c.  tests/test_ciphers.py sweeps every code point through
  our OpenSSL's ``SSL_CIPHER_find`` to prove the table complete and its code points right.

And a ``ciphers`` option carries both TLS 1.2 and TLS 1.3 names in one string, which
:func:`split_cipher_string` separates exactly as Node's ``processCiphers`` does.

Pure: imports pyOpenSSL, never gevent or socket.
"""
from __future__ import annotations

import functools
import os

from OpenSSL import SSL

from greentls._config.defaults import DEFAULTS

__all__ = [
    "CIPHER_LIST_ENV",
    "NODE_DEFAULT_CIPHERS",
    "default_ciphers",
    "get_ciphers",
    "split_cipher_string",
    "standard_name",
]

#: Node v20's default cipher string, byte for byte: src/node_constants.h
#: ``DEFAULT_CIPHER_LIST_CORE`` (the value of ``node -p "require('tls').DEFAULT_CIPHERS"``).
#: The three ``TLS_`` names lead, so a context built from it sets the TLS 1.3 suites too.
NODE_DEFAULT_CIPHERS: str = (
    "TLS_AES_256_GCM_SHA384:"
    "TLS_CHACHA20_POLY1305_SHA256:"
    "TLS_AES_128_GCM_SHA256:"
    "ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES128-GCM-SHA256:"
    "ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:"
    "DHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-RSA-AES128-SHA256:"
    "DHE-RSA-AES128-SHA256:"
    "ECDHE-RSA-AES256-SHA384:"
    "DHE-RSA-AES256-SHA384:"
    "ECDHE-RSA-AES256-SHA256:"
    "DHE-RSA-AES256-SHA256:"
    "HIGH:"
    "!aNULL:"
    "!eNULL:"
    "!EXPORT:"
    "!DES:"
    "!RC4:"
    "!MD5:"
    "!PSK:"
    "!SRP:"
    "!CAMELLIA"
)

#: The environment variable that replaces :data:`NODE_DEFAULT_CIPHERS` at import, as
#: ``node --tls-cipher-list=...`` replaces ``tls.DEFAULT_CIPHERS``.
CIPHER_LIST_ENV: str = "GREENTLS_CIPHER_LIST"

# src/crypto/crypto_cipher.cc GetSSLCiphers: "TLSv1.3 ciphers aren't listed by EVP. There are
# only 5 ... easier to just add them manually".  SSL_get_ciphers() on a fresh context holds only
# OpenSSL's three default TLS 1.3 suites, so Node appends all five by name; so do we, keeping
# those our OpenSSL accepts (all five, with OpenSSL 4.0).
_NODE_TLS13_SUITES: tuple[str, ...] = (
    "TLS_AES_256_GCM_SHA384",
    "TLS_CHACHA20_POLY1305_SHA256",
    "TLS_AES_128_GCM_SHA256",
    "TLS_AES_128_CCM_8_SHA256",
    "TLS_AES_128_CCM_SHA256",
)


def default_ciphers() -> str:
    """Return ``$GREENTLS_CIPHER_LIST`` if set and non-empty, else Node's default cipher string.

    The package reads this once, at import, into ``greentls.DEFAULT_CIPHERS``, as Node reads
    ``--tls-cipher-list`` once into ``tls.DEFAULT_CIPHERS`` (lib/tls.js).
    """
    return os.environ.get(CIPHER_LIST_ENV) or NODE_DEFAULT_CIPHERS


def get_ciphers() -> list[str]:
    """Return the suite names this OpenSSL offers, lower-case and sorted, as ``tls.getCiphers()``.

    A new list on every call: Node's ``cachedResult`` hands out a copy, so callers may mutate it.
    """
    return list(_cipher_names())


@functools.cache
def _cipher_names() -> tuple[str, ...]:
    """Compute :func:`get_ciphers` once; called on its first use."""
    # GetSSLCiphers: a fresh TLS_method context, no cipher string set -> OpenSSL's default list.
    fresh = SSL.Connection(SSL.Context(SSL.TLS_METHOD), None).get_cipher_list()
    names = fresh + [name for name in _NODE_TLS13_SUITES if _tls13_supported(name)]
    # lib/tls.js getCiphers -> internal/util.js filterDuplicateStrings(items, true): lower-case
    # keys in a Map, then Array.prototype.sort (UTF-16 order; the names are ASCII).
    return tuple(sorted({name.lower() for name in names}))


def _tls13_supported(name: str) -> bool:
    """Whether our OpenSSL accepts the TLS 1.3 suite ``name``; called by :func:`_cipher_names`."""
    ctx = SSL.Context(SSL.TLS_METHOD)
    try:
        ctx.set_tls13_ciphersuites(name.encode("ascii"))
    except SSL.Error:
        return False
    # OpenSSL skips unknown names in a ciphersuites list without failing: look, don't trust.
    return name in SSL.Connection(ctx, None).get_cipher_list()


def standard_name(openssl_name: str) -> str:
    """Return the IANA name of a suite given its OpenSSL name, as ``SSL_CIPHER_standard_name``.

    ``"ECDHE-RSA-AES128-GCM-SHA256"`` -> ``"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"``.  OpenSSL
    names that begin with ``TLS_`` (the TLS 1.3 suites, and the SM4, integrity-only and SCSV
    entries) already are the standard names and come back unchanged.  Raises ``KeyError`` for
    a name with no standard name: one OpenSSL does not know, or the two GOST suites at
    private-use code points (0xFF85, 0xFF87), whose ``stdname`` is NULL in OpenSSL too.  Every
    suite this installation can negotiate has one (tests/test_ciphers.py).
    """
    if openssl_name.startswith("TLS_"):
        return openssl_name
    try:
        return _STANDARD_NAMES[openssl_name]
    except KeyError:
        raise KeyError(f"no standard (IANA) name known for cipher {openssl_name!r}") from None


def split_cipher_string(ciphers: str | None, *,
                        default: str | None = None) -> tuple[str, str | None]:
    """Split a ``ciphers`` option into ``(tls12_list, tls13_list_or_None)`` as Node does.

    Node (lib/internal/tls/secure-context.js ``processCiphers`` and ``configSecureContext``,
    v20) works on the string split at ``:``, dropping empty items:

    * An empty or ``None`` string means the default list (``ciphers || getDefaultCiphers()``),
      read when the context is built: ``default`` if given, else ``greentls.DEFAULT_CIPHERS``
      as it is now (a program may assign it), else :func:`default_ciphers`.
    * Items that start with ``TLS_`` or ``!TLS_`` (case-sensitive) are TLS 1.3 suites, for
      ``SSL_CTX_set_ciphersuites``; every other item (``HIGH``, ``!aNULL``, ``@SECLEVEL=0``,
      ``ECDHE-RSA-AES128-GCM-SHA256``...) goes, in order, to the TLS 1.2 list for
      ``SSL_CTX_set_cipher_list``.
    * No TLS 1.3 item: the second element is ``None`` and the caller leaves OpenSSL's TLS 1.3
      defaults alone (Node calls ``setCipherSuites`` only when ``cipherSuites !== ''``).
    * No TLS 1.2 item: the first element is ``""``.  Node still calls
      ``SSL_CTX_set_cipher_list("")``, which clears the TLS 1.2 suites and fails with "no
      cipher match", a failure Node ignores for the empty string only (src/crypto/
      crypto_context.cc ``SecureContext::SetCiphers``); pyOpenSSL's ``set_cipher_list(b"")``
      behaves the same way, raising after clearing.  Node then raises the context's minimum
      version to TLS 1.3 when its range spans 1.2 and 1.3; that is the caller's to do.
    * Neither: ``ValueError`` (Node's ``ERR_INVALID_ARG_VALUE``), since no handshake is possible.

    A non-string raises ``TypeError`` (Node's ``validateString``).  Whether the names are
    known is OpenSSL's to say when the lists are applied, not this function's.
    """
    if ciphers is not None and not isinstance(ciphers, str):
        raise TypeError(f"option 'ciphers' must be a str, not {type(ciphers).__name__}")
    if not ciphers:
        ciphers = default if default is not None else current_default()
    items = [item for item in ciphers.split(":") if item]
    tls13 = [item for item in items if item.startswith(("TLS_", "!TLS_"))]
    tls12 = [item for item in items if not item.startswith(("TLS_", "!TLS_"))]
    if not tls12 and not tls13:
        raise ValueError(f"option 'ciphers' is invalid: {ciphers!r} names no cipher suite")
    return ":".join(tls12), (":".join(tls13) if tls13 else None)


def current_default() -> str:
    """The default cipher string right now; called by :func:`split_cipher_string`."""
    # Node's getDefaultCiphers() reads require('tls').DEFAULT_CIPHERS lazily "because
    # DEFAULT_CIPHERS can be changed by users": read greentls.DEFAULT_CIPHERS (DEFAULTS) now.
    value = DEFAULTS.ciphers
    return value if isinstance(value, str) else default_ciphers()


# (IANA code point, OpenSSL name, IANA name) for every suite below TLS 1.3 that OpenSSL 4.0
# knows and that has a standard name.  Sources: `openssl ciphers -V -stdname
# 'ALL:COMPLEMENTOFALL:@SECLEVEL=0'` (OpenSSL 3.0.19 CLI); IDEA (RFC 5469), SEED (RFC 4162) and
# GOST (RFC 9189; draft-chudov-cryptopro-cptls) rows from ssl/s3_lib.c, where that CLI
# does not list them.  The code points let the tests check each row against our OpenSSL.
_SUITES: tuple[tuple[int, str, str], ...] = (
    (0x0001, "NULL-MD5", "TLS_RSA_WITH_NULL_MD5"),
    (0x0002, "NULL-SHA", "TLS_RSA_WITH_NULL_SHA"),
    (0x0007, "IDEA-CBC-SHA", "TLS_RSA_WITH_IDEA_CBC_SHA"),
    (0x002C, "PSK-NULL-SHA", "TLS_PSK_WITH_NULL_SHA"),
    (0x002D, "DHE-PSK-NULL-SHA", "TLS_DHE_PSK_WITH_NULL_SHA"),
    (0x002E, "RSA-PSK-NULL-SHA", "TLS_RSA_PSK_WITH_NULL_SHA"),
    (0x002F, "AES128-SHA", "TLS_RSA_WITH_AES_128_CBC_SHA"),
    (0x0032, "DHE-DSS-AES128-SHA", "TLS_DHE_DSS_WITH_AES_128_CBC_SHA"),
    (0x0033, "DHE-RSA-AES128-SHA", "TLS_DHE_RSA_WITH_AES_128_CBC_SHA"),
    (0x0034, "ADH-AES128-SHA", "TLS_DH_anon_WITH_AES_128_CBC_SHA"),
    (0x0035, "AES256-SHA", "TLS_RSA_WITH_AES_256_CBC_SHA"),
    (0x0038, "DHE-DSS-AES256-SHA", "TLS_DHE_DSS_WITH_AES_256_CBC_SHA"),
    (0x0039, "DHE-RSA-AES256-SHA", "TLS_DHE_RSA_WITH_AES_256_CBC_SHA"),
    (0x003A, "ADH-AES256-SHA", "TLS_DH_anon_WITH_AES_256_CBC_SHA"),
    (0x003B, "NULL-SHA256", "TLS_RSA_WITH_NULL_SHA256"),
    (0x003C, "AES128-SHA256", "TLS_RSA_WITH_AES_128_CBC_SHA256"),
    (0x003D, "AES256-SHA256", "TLS_RSA_WITH_AES_256_CBC_SHA256"),
    (0x0040, "DHE-DSS-AES128-SHA256", "TLS_DHE_DSS_WITH_AES_128_CBC_SHA256"),
    (0x0041, "CAMELLIA128-SHA", "TLS_RSA_WITH_CAMELLIA_128_CBC_SHA"),
    (0x0044, "DHE-DSS-CAMELLIA128-SHA", "TLS_DHE_DSS_WITH_CAMELLIA_128_CBC_SHA"),
    (0x0045, "DHE-RSA-CAMELLIA128-SHA", "TLS_DHE_RSA_WITH_CAMELLIA_128_CBC_SHA"),
    (0x0046, "ADH-CAMELLIA128-SHA", "TLS_DH_anon_WITH_CAMELLIA_128_CBC_SHA"),
    (0x0067, "DHE-RSA-AES128-SHA256", "TLS_DHE_RSA_WITH_AES_128_CBC_SHA256"),
    (0x006A, "DHE-DSS-AES256-SHA256", "TLS_DHE_DSS_WITH_AES_256_CBC_SHA256"),
    (0x006B, "DHE-RSA-AES256-SHA256", "TLS_DHE_RSA_WITH_AES_256_CBC_SHA256"),
    (0x006C, "ADH-AES128-SHA256", "TLS_DH_anon_WITH_AES_128_CBC_SHA256"),
    (0x006D, "ADH-AES256-SHA256", "TLS_DH_anon_WITH_AES_256_CBC_SHA256"),
    (0x0081, "GOST2001-GOST89-GOST89", "TLS_GOSTR341001_WITH_28147_CNT_IMIT"),
    (0x0083, "GOST2001-NULL-GOST94", "TLS_GOSTR341001_WITH_NULL_GOSTR3411"),
    (0x0084, "CAMELLIA256-SHA", "TLS_RSA_WITH_CAMELLIA_256_CBC_SHA"),
    (0x0087, "DHE-DSS-CAMELLIA256-SHA", "TLS_DHE_DSS_WITH_CAMELLIA_256_CBC_SHA"),
    (0x0088, "DHE-RSA-CAMELLIA256-SHA", "TLS_DHE_RSA_WITH_CAMELLIA_256_CBC_SHA"),
    (0x0089, "ADH-CAMELLIA256-SHA", "TLS_DH_anon_WITH_CAMELLIA_256_CBC_SHA"),
    (0x008C, "PSK-AES128-CBC-SHA", "TLS_PSK_WITH_AES_128_CBC_SHA"),
    (0x008D, "PSK-AES256-CBC-SHA", "TLS_PSK_WITH_AES_256_CBC_SHA"),
    (0x0090, "DHE-PSK-AES128-CBC-SHA", "TLS_DHE_PSK_WITH_AES_128_CBC_SHA"),
    (0x0091, "DHE-PSK-AES256-CBC-SHA", "TLS_DHE_PSK_WITH_AES_256_CBC_SHA"),
    (0x0094, "RSA-PSK-AES128-CBC-SHA", "TLS_RSA_PSK_WITH_AES_128_CBC_SHA"),
    (0x0095, "RSA-PSK-AES256-CBC-SHA", "TLS_RSA_PSK_WITH_AES_256_CBC_SHA"),
    (0x0096, "SEED-SHA", "TLS_RSA_WITH_SEED_CBC_SHA"),
    (0x0099, "DHE-DSS-SEED-SHA", "TLS_DHE_DSS_WITH_SEED_CBC_SHA"),
    (0x009A, "DHE-RSA-SEED-SHA", "TLS_DHE_RSA_WITH_SEED_CBC_SHA"),
    (0x009B, "ADH-SEED-SHA", "TLS_DH_anon_WITH_SEED_CBC_SHA"),
    (0x009C, "AES128-GCM-SHA256", "TLS_RSA_WITH_AES_128_GCM_SHA256"),
    (0x009D, "AES256-GCM-SHA384", "TLS_RSA_WITH_AES_256_GCM_SHA384"),
    (0x009E, "DHE-RSA-AES128-GCM-SHA256", "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256"),
    (0x009F, "DHE-RSA-AES256-GCM-SHA384", "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384"),
    (0x00A2, "DHE-DSS-AES128-GCM-SHA256", "TLS_DHE_DSS_WITH_AES_128_GCM_SHA256"),
    (0x00A3, "DHE-DSS-AES256-GCM-SHA384", "TLS_DHE_DSS_WITH_AES_256_GCM_SHA384"),
    (0x00A6, "ADH-AES128-GCM-SHA256", "TLS_DH_anon_WITH_AES_128_GCM_SHA256"),
    (0x00A7, "ADH-AES256-GCM-SHA384", "TLS_DH_anon_WITH_AES_256_GCM_SHA384"),
    (0x00A8, "PSK-AES128-GCM-SHA256", "TLS_PSK_WITH_AES_128_GCM_SHA256"),
    (0x00A9, "PSK-AES256-GCM-SHA384", "TLS_PSK_WITH_AES_256_GCM_SHA384"),
    (0x00AA, "DHE-PSK-AES128-GCM-SHA256", "TLS_DHE_PSK_WITH_AES_128_GCM_SHA256"),
    (0x00AB, "DHE-PSK-AES256-GCM-SHA384", "TLS_DHE_PSK_WITH_AES_256_GCM_SHA384"),
    (0x00AC, "RSA-PSK-AES128-GCM-SHA256", "TLS_RSA_PSK_WITH_AES_128_GCM_SHA256"),
    (0x00AD, "RSA-PSK-AES256-GCM-SHA384", "TLS_RSA_PSK_WITH_AES_256_GCM_SHA384"),
    (0x00AE, "PSK-AES128-CBC-SHA256", "TLS_PSK_WITH_AES_128_CBC_SHA256"),
    (0x00AF, "PSK-AES256-CBC-SHA384", "TLS_PSK_WITH_AES_256_CBC_SHA384"),
    (0x00B0, "PSK-NULL-SHA256", "TLS_PSK_WITH_NULL_SHA256"),
    (0x00B1, "PSK-NULL-SHA384", "TLS_PSK_WITH_NULL_SHA384"),
    (0x00B2, "DHE-PSK-AES128-CBC-SHA256", "TLS_DHE_PSK_WITH_AES_128_CBC_SHA256"),
    (0x00B3, "DHE-PSK-AES256-CBC-SHA384", "TLS_DHE_PSK_WITH_AES_256_CBC_SHA384"),
    (0x00B4, "DHE-PSK-NULL-SHA256", "TLS_DHE_PSK_WITH_NULL_SHA256"),
    (0x00B5, "DHE-PSK-NULL-SHA384", "TLS_DHE_PSK_WITH_NULL_SHA384"),
    (0x00B6, "RSA-PSK-AES128-CBC-SHA256", "TLS_RSA_PSK_WITH_AES_128_CBC_SHA256"),
    (0x00B7, "RSA-PSK-AES256-CBC-SHA384", "TLS_RSA_PSK_WITH_AES_256_CBC_SHA384"),
    (0x00B8, "RSA-PSK-NULL-SHA256", "TLS_RSA_PSK_WITH_NULL_SHA256"),
    (0x00B9, "RSA-PSK-NULL-SHA384", "TLS_RSA_PSK_WITH_NULL_SHA384"),
    (0x00BA, "CAMELLIA128-SHA256", "TLS_RSA_WITH_CAMELLIA_128_CBC_SHA256"),
    (0x00BD, "DHE-DSS-CAMELLIA128-SHA256", "TLS_DHE_DSS_WITH_CAMELLIA_128_CBC_SHA256"),
    (0x00BE, "DHE-RSA-CAMELLIA128-SHA256", "TLS_DHE_RSA_WITH_CAMELLIA_128_CBC_SHA256"),
    (0x00BF, "ADH-CAMELLIA128-SHA256", "TLS_DH_anon_WITH_CAMELLIA_128_CBC_SHA256"),
    (0x00C0, "CAMELLIA256-SHA256", "TLS_RSA_WITH_CAMELLIA_256_CBC_SHA256"),
    (0x00C3, "DHE-DSS-CAMELLIA256-SHA256", "TLS_DHE_DSS_WITH_CAMELLIA_256_CBC_SHA256"),
    (0x00C4, "DHE-RSA-CAMELLIA256-SHA256", "TLS_DHE_RSA_WITH_CAMELLIA_256_CBC_SHA256"),
    (0x00C5, "ADH-CAMELLIA256-SHA256", "TLS_DH_anon_WITH_CAMELLIA_256_CBC_SHA256"),
    (0xC006, "ECDHE-ECDSA-NULL-SHA", "TLS_ECDHE_ECDSA_WITH_NULL_SHA"),
    (0xC009, "ECDHE-ECDSA-AES128-SHA", "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA"),
    (0xC00A, "ECDHE-ECDSA-AES256-SHA", "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA"),
    (0xC010, "ECDHE-RSA-NULL-SHA", "TLS_ECDHE_RSA_WITH_NULL_SHA"),
    (0xC013, "ECDHE-RSA-AES128-SHA", "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA"),
    (0xC014, "ECDHE-RSA-AES256-SHA", "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA"),
    (0xC015, "AECDH-NULL-SHA", "TLS_ECDH_anon_WITH_NULL_SHA"),
    (0xC018, "AECDH-AES128-SHA", "TLS_ECDH_anon_WITH_AES_128_CBC_SHA"),
    (0xC019, "AECDH-AES256-SHA", "TLS_ECDH_anon_WITH_AES_256_CBC_SHA"),
    (0xC01D, "SRP-AES-128-CBC-SHA", "TLS_SRP_SHA_WITH_AES_128_CBC_SHA"),
    (0xC01E, "SRP-RSA-AES-128-CBC-SHA", "TLS_SRP_SHA_RSA_WITH_AES_128_CBC_SHA"),
    (0xC01F, "SRP-DSS-AES-128-CBC-SHA", "TLS_SRP_SHA_DSS_WITH_AES_128_CBC_SHA"),
    (0xC020, "SRP-AES-256-CBC-SHA", "TLS_SRP_SHA_WITH_AES_256_CBC_SHA"),
    (0xC021, "SRP-RSA-AES-256-CBC-SHA", "TLS_SRP_SHA_RSA_WITH_AES_256_CBC_SHA"),
    (0xC022, "SRP-DSS-AES-256-CBC-SHA", "TLS_SRP_SHA_DSS_WITH_AES_256_CBC_SHA"),
    (0xC023, "ECDHE-ECDSA-AES128-SHA256", "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256"),
    (0xC024, "ECDHE-ECDSA-AES256-SHA384", "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384"),
    (0xC027, "ECDHE-RSA-AES128-SHA256", "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256"),
    (0xC028, "ECDHE-RSA-AES256-SHA384", "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384"),
    (0xC02B, "ECDHE-ECDSA-AES128-GCM-SHA256", "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"),
    (0xC02C, "ECDHE-ECDSA-AES256-GCM-SHA384", "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"),
    (0xC02F, "ECDHE-RSA-AES128-GCM-SHA256", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"),
    (0xC030, "ECDHE-RSA-AES256-GCM-SHA384", "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"),
    (0xC035, "ECDHE-PSK-AES128-CBC-SHA", "TLS_ECDHE_PSK_WITH_AES_128_CBC_SHA"),
    (0xC036, "ECDHE-PSK-AES256-CBC-SHA", "TLS_ECDHE_PSK_WITH_AES_256_CBC_SHA"),
    (0xC037, "ECDHE-PSK-AES128-CBC-SHA256", "TLS_ECDHE_PSK_WITH_AES_128_CBC_SHA256"),
    (0xC038, "ECDHE-PSK-AES256-CBC-SHA384", "TLS_ECDHE_PSK_WITH_AES_256_CBC_SHA384"),
    (0xC039, "ECDHE-PSK-NULL-SHA", "TLS_ECDHE_PSK_WITH_NULL_SHA"),
    (0xC03A, "ECDHE-PSK-NULL-SHA256", "TLS_ECDHE_PSK_WITH_NULL_SHA256"),
    (0xC03B, "ECDHE-PSK-NULL-SHA384", "TLS_ECDHE_PSK_WITH_NULL_SHA384"),
    (0xC050, "ARIA128-GCM-SHA256", "TLS_RSA_WITH_ARIA_128_GCM_SHA256"),
    (0xC051, "ARIA256-GCM-SHA384", "TLS_RSA_WITH_ARIA_256_GCM_SHA384"),
    (0xC052, "DHE-RSA-ARIA128-GCM-SHA256", "TLS_DHE_RSA_WITH_ARIA_128_GCM_SHA256"),
    (0xC053, "DHE-RSA-ARIA256-GCM-SHA384", "TLS_DHE_RSA_WITH_ARIA_256_GCM_SHA384"),
    (0xC056, "DHE-DSS-ARIA128-GCM-SHA256", "TLS_DHE_DSS_WITH_ARIA_128_GCM_SHA256"),
    (0xC057, "DHE-DSS-ARIA256-GCM-SHA384", "TLS_DHE_DSS_WITH_ARIA_256_GCM_SHA384"),
    (0xC05C, "ECDHE-ECDSA-ARIA128-GCM-SHA256", "TLS_ECDHE_ECDSA_WITH_ARIA_128_GCM_SHA256"),
    (0xC05D, "ECDHE-ECDSA-ARIA256-GCM-SHA384", "TLS_ECDHE_ECDSA_WITH_ARIA_256_GCM_SHA384"),
    (0xC060, "ECDHE-ARIA128-GCM-SHA256", "TLS_ECDHE_RSA_WITH_ARIA_128_GCM_SHA256"),
    (0xC061, "ECDHE-ARIA256-GCM-SHA384", "TLS_ECDHE_RSA_WITH_ARIA_256_GCM_SHA384"),
    (0xC06A, "PSK-ARIA128-GCM-SHA256", "TLS_PSK_WITH_ARIA_128_GCM_SHA256"),
    (0xC06B, "PSK-ARIA256-GCM-SHA384", "TLS_PSK_WITH_ARIA_256_GCM_SHA384"),
    (0xC06C, "DHE-PSK-ARIA128-GCM-SHA256", "TLS_DHE_PSK_WITH_ARIA_128_GCM_SHA256"),
    (0xC06D, "DHE-PSK-ARIA256-GCM-SHA384", "TLS_DHE_PSK_WITH_ARIA_256_GCM_SHA384"),
    (0xC06E, "RSA-PSK-ARIA128-GCM-SHA256", "TLS_RSA_PSK_WITH_ARIA_128_GCM_SHA256"),
    (0xC06F, "RSA-PSK-ARIA256-GCM-SHA384", "TLS_RSA_PSK_WITH_ARIA_256_GCM_SHA384"),
    (0xC072, "ECDHE-ECDSA-CAMELLIA128-SHA256", "TLS_ECDHE_ECDSA_WITH_CAMELLIA_128_CBC_SHA256"),
    (0xC073, "ECDHE-ECDSA-CAMELLIA256-SHA384", "TLS_ECDHE_ECDSA_WITH_CAMELLIA_256_CBC_SHA384"),
    (0xC076, "ECDHE-RSA-CAMELLIA128-SHA256", "TLS_ECDHE_RSA_WITH_CAMELLIA_128_CBC_SHA256"),
    (0xC077, "ECDHE-RSA-CAMELLIA256-SHA384", "TLS_ECDHE_RSA_WITH_CAMELLIA_256_CBC_SHA384"),
    (0xC094, "PSK-CAMELLIA128-SHA256", "TLS_PSK_WITH_CAMELLIA_128_CBC_SHA256"),
    (0xC095, "PSK-CAMELLIA256-SHA384", "TLS_PSK_WITH_CAMELLIA_256_CBC_SHA384"),
    (0xC096, "DHE-PSK-CAMELLIA128-SHA256", "TLS_DHE_PSK_WITH_CAMELLIA_128_CBC_SHA256"),
    (0xC097, "DHE-PSK-CAMELLIA256-SHA384", "TLS_DHE_PSK_WITH_CAMELLIA_256_CBC_SHA384"),
    (0xC098, "RSA-PSK-CAMELLIA128-SHA256", "TLS_RSA_PSK_WITH_CAMELLIA_128_CBC_SHA256"),
    (0xC099, "RSA-PSK-CAMELLIA256-SHA384", "TLS_RSA_PSK_WITH_CAMELLIA_256_CBC_SHA384"),
    (0xC09A, "ECDHE-PSK-CAMELLIA128-SHA256", "TLS_ECDHE_PSK_WITH_CAMELLIA_128_CBC_SHA256"),
    (0xC09B, "ECDHE-PSK-CAMELLIA256-SHA384", "TLS_ECDHE_PSK_WITH_CAMELLIA_256_CBC_SHA384"),
    (0xC09C, "AES128-CCM", "TLS_RSA_WITH_AES_128_CCM"),
    (0xC09D, "AES256-CCM", "TLS_RSA_WITH_AES_256_CCM"),
    (0xC09E, "DHE-RSA-AES128-CCM", "TLS_DHE_RSA_WITH_AES_128_CCM"),
    (0xC09F, "DHE-RSA-AES256-CCM", "TLS_DHE_RSA_WITH_AES_256_CCM"),
    (0xC0A0, "AES128-CCM8", "TLS_RSA_WITH_AES_128_CCM_8"),
    (0xC0A1, "AES256-CCM8", "TLS_RSA_WITH_AES_256_CCM_8"),
    (0xC0A2, "DHE-RSA-AES128-CCM8", "TLS_DHE_RSA_WITH_AES_128_CCM_8"),
    (0xC0A3, "DHE-RSA-AES256-CCM8", "TLS_DHE_RSA_WITH_AES_256_CCM_8"),
    (0xC0A4, "PSK-AES128-CCM", "TLS_PSK_WITH_AES_128_CCM"),
    (0xC0A5, "PSK-AES256-CCM", "TLS_PSK_WITH_AES_256_CCM"),
    (0xC0A6, "DHE-PSK-AES128-CCM", "TLS_DHE_PSK_WITH_AES_128_CCM"),
    (0xC0A7, "DHE-PSK-AES256-CCM", "TLS_DHE_PSK_WITH_AES_256_CCM"),
    (0xC0A8, "PSK-AES128-CCM8", "TLS_PSK_WITH_AES_128_CCM_8"),
    (0xC0A9, "PSK-AES256-CCM8", "TLS_PSK_WITH_AES_256_CCM_8"),
    (0xC0AA, "DHE-PSK-AES128-CCM8", "TLS_PSK_DHE_WITH_AES_128_CCM_8"),
    (0xC0AB, "DHE-PSK-AES256-CCM8", "TLS_PSK_DHE_WITH_AES_256_CCM_8"),
    (0xC0AC, "ECDHE-ECDSA-AES128-CCM", "TLS_ECDHE_ECDSA_WITH_AES_128_CCM"),
    (0xC0AD, "ECDHE-ECDSA-AES256-CCM", "TLS_ECDHE_ECDSA_WITH_AES_256_CCM"),
    (0xC0AE, "ECDHE-ECDSA-AES128-CCM8", "TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8"),
    (0xC0AF, "ECDHE-ECDSA-AES256-CCM8", "TLS_ECDHE_ECDSA_WITH_AES_256_CCM_8"),
    (0xC100, "GOST2012-KUZNYECHIK-KUZNYECHIKOMAC", "TLS_GOSTR341112_256_WITH_KUZNYECHIK_CTR_OMAC"),
    (0xC101, "GOST2012-MAGMA-MAGMAOMAC", "TLS_GOSTR341112_256_WITH_MAGMA_CTR_OMAC"),
    (0xC102, "IANA-GOST2012-GOST8912-GOST8912", "TLS_GOSTR341112_256_WITH_28147_CNT_IMIT"),
    (0xCCA8, "ECDHE-RSA-CHACHA20-POLY1305", "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256"),
    (0xCCA9, "ECDHE-ECDSA-CHACHA20-POLY1305", "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256"),
    (0xCCAA, "DHE-RSA-CHACHA20-POLY1305", "TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256"),
    (0xCCAB, "PSK-CHACHA20-POLY1305", "TLS_PSK_WITH_CHACHA20_POLY1305_SHA256"),
    (0xCCAC, "ECDHE-PSK-CHACHA20-POLY1305", "TLS_ECDHE_PSK_WITH_CHACHA20_POLY1305_SHA256"),
    (0xCCAD, "DHE-PSK-CHACHA20-POLY1305", "TLS_DHE_PSK_WITH_CHACHA20_POLY1305_SHA256"),
    (0xCCAE, "RSA-PSK-CHACHA20-POLY1305", "TLS_RSA_PSK_WITH_CHACHA20_POLY1305_SHA256"),
)

_STANDARD_NAMES: dict[str, str] = {name: std for _, name, std in _SUITES}
