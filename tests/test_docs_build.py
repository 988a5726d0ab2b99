"""The built documentation: a page for every public name and every option, links into the other
projects' docs from local inventories only, and a clean build without them."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
sys.path.insert(0, str(DOCS / "_ext"))
import greentls_docs  # noqa: E402

from greentls._config import optiontable  # noqa: E402

#: Inventory name -> (its local objects.inv in Debian's doc package, what a link to it starts with).
INVENTORIES = {
    "python": ("/usr/share/doc/python3/html/objects.inv", "https://docs.python.org/3/"),
    "gevent": ("/usr/share/doc/python-gevent-doc/html/objects.inv", "https://www.gevent.org/"),
    "cryptography": ("/usr/share/doc/python-cryptography-doc/html/objects.inv",
                     "https://cryptography.io/en/latest/"),
    "pyopenssl": ("/usr/share/doc/python-openssl-doc/html/objects.inv",
                  "https://www.pyopenssl.org/en/latest/"),
}


def sphinx(builder: str, out: Path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sphinx", "-E", "-W", "--keep-going", "-q",
                           "-b", builder, str(DOCS), str(out)],
                          check=False, env={**os.environ, **env}, capture_output=True, text=True,
                          timeout=300)


@pytest.fixture(scope="module")
def html(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("html")
    done = sphinx("html", out)
    assert done.returncode == 0, done.stdout + done.stderr
    return out


def inventory(path: Path) -> dict[tuple[str, str], str]:
    """(domain:role, name) -> URI of a Sphinx objects.inv."""
    data = path.read_bytes()
    end = 0
    for _ in range(4):
        end = data.index(b"\n", end) + 1
    entries = {}
    for line in zlib.decompress(data[end:]).decode("utf-8").splitlines():
        found = re.match(r"(.+?)\s+(\S+:\S+)\s+(-?\d+)\s+(\S*)\s+(.*)", line)
        if found:
            name, kind, _priority, uri = found.groups()[:4]
            entries[(kind, name)] = uri.replace("$", name) if uri.endswith("$") else uri
    return entries


def page_has(html: Path, uri: str) -> bool:
    page, _, anchor = uri.partition("#")
    path = html / page
    return path.is_file() and f'id="{anchor}"' in path.read_text(encoding="utf-8")


def test_a_page_for_every_public_name(html):
    """Each public name (and public member of a public class) is an entry of the built site,
    on a page that has its anchor."""
    entries = inventory(html / "objects.inv")
    by_name = {name: uri for (kind, name), uri in entries.items() if kind.startswith("py:")}
    names = greentls_docs.public_names()
    assert len(names) > 100
    missing = [name for name in names if name not in by_name or not page_has(html, by_name[name])]
    assert missing == []


def test_a_row_for_every_option(html):
    """Each option of every table has its row (an anchor) on the built options page."""
    entries = inventory(html / "objects.inv")
    for table, rows in optiontable.TABLES.items():
        for name in rows:
            uri = entries.get(("std:tlsoption", f"{table}.{name}"))
            assert uri is not None and page_has(html, uri), f"{table}.{name}"
    text = (html / "api" / "options.html").read_text(encoding="utf-8")
    for rows in optiontable.TABLES.values():
        for row in rows.values():
            assert f"<code class=\"docutils literal notranslate\"><span class=\"pre\">{row.name}</span></code>" in text


def test_links_into_the_other_projects_docs(html):
    """Where a project's inventory is installed, the options page links into its docs (offline:
    the inventory is read from the local file, never fetched)."""
    text = (html / "api" / "options.html").read_text(encoding="utf-8")
    targets = {"python": "library/ssl.html#ssl.SSLContext",
               "gevent": "api/gevent.server.html#gevent.server.StreamServer",
               "cryptography": "x509/reference.html#cryptography.x509.Certificate",
               "pyopenssl": "api/ssl.html#OpenSSL.SSL.Context"}
    installed = [name for name, (path, _site) in INVENTORIES.items() if os.path.isfile(path)]
    if not installed:
        pytest.skip("no Debian doc package with an objects.inv is installed")
    for name in installed:
        assert f'href="{INVENTORIES[name][1]}{targets[name]}"' in text, name


def test_clean_without_inventories(tmp_path):
    """With no inventory at all (a machine without the doc packages), the build has no warning:
    links into other projects render as text.  The dummy builder resolves references as the
    HTML one does, without writing pages."""
    done = sphinx("dummy", tmp_path / "dummy", GREENTLS_DOCS_INTERSPHINX="0")
    assert done.returncode == 0, done.stdout + done.stderr


def test_unresolved_reference_into_a_loaded_inventory_warns():
    """A reference into a project whose inventory is loaded must resolve (the check that keeps
    the links above real); the projects are told apart by the package a target names."""
    assert greentls_docs.inventory_for("ssl.SSLContext") == "python"
    assert greentls_docs.inventory_for("~gevent.server.StreamServer") == "gevent"
    assert greentls_docs.inventory_for("OpenSSL.SSL.Context") == "pyopenssl"
    assert greentls_docs.inventory_for("cryptography.x509.Certificate") == "cryptography"
    assert greentls_docs.inventory_for("greentls.Server") is None
