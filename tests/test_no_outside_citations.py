"""No file of the repository cites the project documents kept outside it.

The facts the code relies on are in the docs (docs/architecture.rst, "What the design relies
on"), and the code cites those sections.  This test fails on any file that still names one of
the outside documents or the shared folder beside the checkout.  The names are assembled here
rather than written out, so that this file does not match itself.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

FORBIDDEN = (*(f"{name}.md".encode() for name in ("API", "FACTS", "STYLE")), b"../" + b"shared")

#: Never part of the repository: git's own data, virtual environments, the built docs, and the
#: build and tool outputs .gitignore lists (used when there is no git checkout, as in an sdist).
_SKIP_DIRS = {".git", "__pycache__", ".tox", ".pytest_cache", ".hypothesis", ".mypy_cache",
              ".ruff_cache", "build", "dist"}


def _skipped(relative: Path) -> bool:
    parts = relative.parts
    if parts[:2] == ("docs", "_build"):
        return True
    return any(part in _SKIP_DIRS or part.startswith(".venv") or part.endswith(".egg-info")
               for part in parts[:-1])


def repository_files() -> list[Path]:
    """The repository's files: tracked and new ones by git when this is a checkout, else a walk."""
    git = shutil.which("git")
    if git and (ROOT / ".git").exists():
        listed = subprocess.run([git, "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                                cwd=ROOT, capture_output=True, check=True).stdout
        names = [Path(os.fsdecode(name)) for name in listed.split(b"\0") if name]
    else:
        names = [path.relative_to(ROOT) for path in ROOT.rglob("*") if path.is_file()]
    return sorted(name for name in names if not _skipped(name) and (ROOT / name).is_file())


def test_the_walk_sees_the_repository() -> None:
    files = set(repository_files())
    assert {Path("README.md"), Path("docs/architecture.rst"), Path("greentls/__init__.py"),
            Path("tests/test_no_outside_citations.py")} <= files


def test_no_file_cites_documents_outside_the_repository() -> None:
    offenders = []
    for name in repository_files():
        data = (ROOT / name).read_bytes()
        for needle in FORBIDDEN:
            start = data.find(needle)
            while start != -1:
                line = data.count(b"\n", 0, start) + 1
                offenders.append(f"{name}:{line}: {needle.decode()}")
                start = data.find(needle, start + 1)
    assert not offenders, ("cite the repository's own docs (docs/architecture.rst, docs/api/) "
                           "instead of documents outside it:\n  " + "\n  ".join(offenders))
