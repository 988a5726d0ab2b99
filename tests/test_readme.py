"""Every code block of the READMEs runs or is checked, as tests/test_docs_blocks.py does for the
docs: README.md's programs run; benchmarks/README.md's and docs/README.md's commands are checked."""
from __future__ import annotations

from test_docs_blocks import (
    ROOT,
    check_shell_block,
    check_text_block,
    make_workdir,
    markdown_blocks,
    run_greentls_commands,
    run_python_blocks,
)

README = ROOT / "README.md"


def blocks(language: str):
    return [block for block in markdown_blocks(README) if block.language == language]


def test_readme_blocks_are_all_checked():
    """The README's blocks are Python, shell or text, so the tests below cover every one."""
    languages = {block.language for block in markdown_blocks(README)}
    assert languages <= {"python", "sh", "text"}, languages
    assert len(blocks("python")) >= 5


def test_readme_python_blocks_run(tmp_path):
    """The README's Python blocks run against certs/ from `examples/make_certs.py certs`: the
    echo server with its client, the signals program, the WSGI server with its urllib client;
    what their ``print(...)  # literal`` lines promise is printed."""
    workdir = make_workdir(tmp_path)
    ran = run_python_blocks(blocks("python"), workdir)
    assert len(ran) == 3, ran  # two server/client pairs and the signals program


def test_readme_shell_blocks(tmp_path):
    """The README's commands name real make targets and parse; the local greentls ones run."""
    runnable = []
    for block in blocks("sh"):
        runnable += check_shell_block(block)
    assert run_greentls_commands(runnable, tmp_path) >= 3  # serve, connect to it, ciphers


def test_readme_text_blocks():
    """The README's layer diagram names only folders and files that exist."""
    assert sum(check_text_block(block) for block in blocks("text")) >= 8


OTHER_READMES = [ROOT / "benchmarks" / "README.md", ROOT / "docs" / "README.md"]


def test_other_readmes_commands():
    """The commands of benchmarks/README.md and docs/README.md name real targets, scripts,
    options and the packages ``make docs`` installs."""
    checked = 0
    for readme in OTHER_READMES:
        for block in markdown_blocks(readme):
            assert block.language == "sh", block.where
            check_shell_block(block)
            checked += 1
    assert checked >= 3
