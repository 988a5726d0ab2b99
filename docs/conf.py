"""Sphinx configuration of the greentls documentation (``make docs``)."""
from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
# Document the checkout these docs belong to, not whatever greentls is installed elsewhere.
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(DOCS / "_ext"))

import greentls  # noqa: E402

project = "greentls"
author = "greentls contributors"
copyright = "2026, greentls contributors"
release = greentls.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.doctest",
    "sphinx.ext.intersphinx",
    "greentls_docs",
]

exclude_patterns = ["_build", "README.md", "Thumbs.db", ".DS_Store"]
templates_path: list[str] = []
root_doc = "index"
default_role = "code"
nitpicky = False  # see the :opt: check in _ext/greentls_docs.py for what is checked strictly

# -- HTML -------------------------------------------------------------------------------------

try:
    import furo  # noqa: F401
    html_theme = "furo"
except ImportError:  # the docs extra installs furo; the RTD theme is the fallback
    html_theme = "sphinx_rtd_theme"
html_title = f"greentls {release}"
html_static_path = ["_static"]
html_css_files = ["greentls.css"]
html_show_sourcelink = False

# -- autodoc ----------------------------------------------------------------------------------

autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_preserve_defaults = False
autodoc_default_options = {"undoc-members": False}

# -- intersphinx ------------------------------------------------------------------------------
#
# Links into the Python, gevent, cryptography, pyOpenSSL and blinker docs need each project's
# objects.inv.  Sphinx would download it from the project's site, and this machine (and CI) has
# no route to those sites: the download fails with a warning, which -W turns into an error.  So:
#
# * GREENTLS_DOCS_INTERSPHINX=1 downloads every inventory from its site, for builds that are
#   online (a release build, Read the Docs).  GREENTLS_DOCS_INTERSPHINX=0 uses none.
# * Otherwise an inventory is used only where a real copy is installed locally: Debian's doc
#   packages ship each project's own objects.inv (``make docs`` installs them where apt-get
#   can: python3-doc python-gevent-doc python-cryptography-doc python-openssl-doc
#   python-blinker-doc).  Their versions may lag the installed libraries; the names these docs
#   link to exist in both.
# * A project with neither is left out: its links render as plain text, and the build stays
#   warning-free.  Where a project's inventory is loaded, every reference into it must
#   resolve (docs/_ext/greentls_docs.py warns otherwise).
# * Debian's pyOpenSSL docs were built without their autodoc pages, so its objects.inv lacks the
#   classes (``OpenSSL.SSL.Context``...).  The same package ships the reStructuredText sources
#   of those pages: the classes their ``autoclass`` directives name, at the anchors Sphinx gives
#   them on the project's site, are added to Debian's entries in a copy written under _build.

_DOC = "/usr/share/doc"
_INVENTORIES = {
    # name: (site the links point to, local copies of that site's objects.inv)
    "python": ("https://docs.python.org/3", [
        f"{_DOC}/python{sys.version_info.major}.{sys.version_info.minor}/html/objects.inv",
        f"{_DOC}/python3/html/objects.inv"]),
    "gevent": ("https://www.gevent.org", [f"{_DOC}/python-gevent-doc/html/objects.inv"]),
    "cryptography": ("https://cryptography.io/en/latest",
                     [f"{_DOC}/python-cryptography-doc/html/objects.inv"]),
    "pyopenssl": ("https://www.pyopenssl.org/en/latest",
                  [f"{_DOC}/python-openssl-doc/html/objects.inv"]),
    "blinker": ("https://blinker.readthedocs.io/en/stable",
                [f"{_DOC}/python-blinker-doc/html/objects.inv"]),
}
_PYOPENSSL_SOURCES = Path(_DOC, "python-openssl-doc", "html", "_sources", "api")


def _with_autoclasses(inventory: Path, sources: Path, out: Path) -> Path:
    """``inventory`` plus the classes named by ``autoclass`` in ``sources``/*.rst.txt, written
    to ``out`` (or ``inventory`` itself when the sources name none)."""
    import re
    import zlib
    data = inventory.read_bytes()
    header_end = 0
    for _ in range(4):  # four comment lines, then the zlib stream
        header_end = data.index(b"\n", header_end) + 1
    entries = zlib.decompress(data[header_end:]).decode("utf-8").splitlines()
    known = {line.split(" ", 2)[0] for line in entries}
    added = []
    for page in sorted(sources.glob("*.rst.txt")):
        module = ""
        for line in page.read_text(encoding="utf-8").splitlines():
            found = re.match(r"\.\. (?:py:)?(?:module|currentmodule):: (\S+)", line.strip())
            if found:
                module = found.group(1)
            found = re.match(r"\.\. autoclass:: (\S+)", line.strip())
            if found:
                name = found.group(1)
                qualified = name if "." in name else f"{module}.{name}"
                if qualified not in known:
                    known.add(qualified)
                    added.append(f"{qualified} py:class 1 api/{page.name[:-len('.rst.txt')]}.html#$ -")
    if not added:
        return inventory
    body = "".join(f"{line}\n" for line in entries + added)
    merged = data[:header_end] + zlib.compress(body.encode("utf-8"))
    for folder in (out.parent, Path(tempfile.gettempdir(), f"greentls-docs-{os.getuid()}")):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            # Written aside and renamed: builds running side by side never read half a file.
            fd, partial = tempfile.mkstemp(dir=folder, suffix=".inv.part")
            with os.fdopen(fd, "wb") as f:
                f.write(merged)
            os.replace(partial, folder / out.name)
            return folder / out.name
        except OSError:
            continue  # a read-only checkout: the temporary directory instead
    return inventory


def _intersphinx_mapping() -> dict:
    mode = os.environ.get("GREENTLS_DOCS_INTERSPHINX", "")
    mapping: dict = {}
    if mode == "0":
        return mapping
    for name, (site, local_copies) in _INVENTORIES.items():
        if mode == "1":
            mapping[name] = (site, None)
            continue
        local = next((path for path in local_copies if os.path.isfile(path)), None)
        if local is not None:
            mapping[name] = (site, local)
    if mode != "1" and "pyopenssl" in mapping and _PYOPENSSL_SOURCES.is_dir():
        site, local = mapping["pyopenssl"]
        merged = _with_autoclasses(Path(local), _PYOPENSSL_SOURCES,
                                   DOCS / "_build" / "_inventories" / "pyopenssl.inv")
        mapping["pyopenssl"] = (site, str(merged))
    return mapping


intersphinx_mapping = _intersphinx_mapping()
intersphinx_timeout = 10

# -- doctest ----------------------------------------------------------------------------------
#
# Every group runs in a fresh temporary directory holding certs/ (made with trustme):
# ca.pem, server-key.pem, server-cert.pem (localhost and 127.0.0.1), client-key.pem and
# client-cert.pem.  The same PEM text is in CA_PEM, SERVER_KEY, SERVER_CERT, CLIENT_KEY and
# CLIENT_CERT; CA_KEY is the CA's private key (for signing OCSP responses).

doctest_global_setup = '''
import os as _os, shutil as _shutil, tempfile as _tempfile
from pathlib import Path
import trustme as _trustme
import gevent
import greentls

_docs_cwd = _os.getcwd()
_docs_tmp = _tempfile.mkdtemp(prefix="greentls-docs-")
_os.chdir(_docs_tmp)
_ca = _trustme.CA()
_server = _ca.issue_cert("localhost", "127.0.0.1")
_client = _ca.issue_cert("client.example")
CA_PEM = _ca.cert_pem.bytes()
CA_KEY = _ca.private_key_pem.bytes()
SERVER_KEY = _server.private_key_pem.bytes()
SERVER_CERT = b"".join(blob.bytes() for blob in _server.cert_chain_pems)
CLIENT_KEY = _client.private_key_pem.bytes()
CLIENT_CERT = b"".join(blob.bytes() for blob in _client.cert_chain_pems)
_os.mkdir("certs")
for _name, _data in (("ca.pem", CA_PEM), ("server-key.pem", SERVER_KEY),
                     ("server-cert.pem", SERVER_CERT), ("client-key.pem", CLIENT_KEY),
                     ("client-cert.pem", CLIENT_CERT)):
    Path("certs", _name).write_bytes(_data)
'''
doctest_global_cleanup = '''
_os.chdir(_docs_cwd)
_shutil.rmtree(_docs_tmp, ignore_errors=True)
'''
doctest_test_doctest_blocks = ""  # only explicit doctest/testcode blocks run
import doctest as _doctest  # noqa: E402

# Exception messages are compared too (Sphinx's default ignores everything after the type).
doctest_default_flags = _doctest.ELLIPSIS | _doctest.DONT_ACCEPT_TRUE_FOR_1
