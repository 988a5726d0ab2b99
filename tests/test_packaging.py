"""The package as users get it: an sdist with the docs, examples and tests, a wheel with only
the package, both accepted by ``twine check``, and a wheel that installs into a fresh venv and
runs (``greentls --help``, ``greentls ciphers``, an example from another directory)."""
from __future__ import annotations

import os
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
from helpers import run

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("dist")
    run([sys.executable, "-m", "build", "--outdir", str(out), str(ROOT)], timeout=300)
    (sdist,) = out.glob("*.tar.gz")
    (wheel,) = out.glob("*.whl")
    return {"sdist": sdist, "wheel": wheel}


def test_twine_check_passes(dist):
    result = run([sys.executable, "-m", "twine", "check", "--strict", str(dist["sdist"]), str(dist["wheel"])])
    assert result.stdout.count(b"PASSED") == 2, result.stdout


def test_sdist_holds_docs_examples_tests_and_license(dist):
    with tarfile.open(dist["sdist"]) as sdist:
        names = {name.split("/", 1)[1] for name in sdist.getnames() if "/" in name}
    for expected in ("LICENSE", "README.md", "docs/conf.py", "docs/index.rst", "examples/echo_server.py",
                     "tests/conftest.py", "greentls/_engine/engine.py"):
        assert expected in names, expected
    assert not any(name.startswith("docs/_build") or "__pycache__" in name for name in names)


def test_wheel_holds_only_the_package(dist):
    with zipfile.ZipFile(dist["wheel"]) as wheel:
        names = wheel.namelist()
    tops = {name.split("/", 1)[0] for name in names}
    assert tops == {"greentls", "greentls-0.1.0.dist-info"}, tops
    assert "greentls/py.typed" in names
    for layer in ("_base", "_parse", "_config", "_engine", "_io", "_tls", "_net", "_app"):
        assert f"greentls/{layer}/__init__.py" in names, layer
    assert any(name.endswith("licenses/LICENSE") for name in names)


def test_wheel_installs_into_a_fresh_venv_and_runs(dist, tmp_path):
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", str(venv)], timeout=120)
    bin_dir = venv / ("Scripts" if os.name == "nt" else "bin")
    run([str(bin_dir / "python"), "-m", "pip", "install", "--quiet", str(dist["wheel"])], timeout=600)
    assert b"serve" in run([str(bin_dir / "greentls"), "--help"]).stdout
    assert b"tls_aes_256_gcm_sha384" in run([str(bin_dir / "greentls"), "ciphers"]).stdout  # as Node lists them
    # An example, run with the installed package (-I: no working directory, no PYTHONPATH on
    # sys.path, so greentls comes from the venv, not this checkout).
    certs = tmp_path / "certs"
    result = run([str(bin_dir / "python"), "-I", str(ROOT / "examples" / "make_certs.py"), str(certs)], timeout=60)
    assert result.returncode == 0
    assert {p.name for p in certs.iterdir()} >= {"server-key.pem", "server-cert.pem", "client.pfx"}
    imported = run([str(bin_dir / "python"), "-I", "-c", "import greentls; print(greentls.__file__)"])
    assert str(venv) in imported.stdout.decode()
