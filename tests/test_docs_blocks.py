"""Every code block of the docs that sphinx.ext.doctest does not run is run or checked here.

``make docs`` runs the ``doctest``/``testcode`` blocks.  The ``code-block`` ones are programs a
reader copies (servers that run forever, shell commands, Node's code, diagrams), so this file
runs them as such:

* a Python block runs as a program in a fresh directory holding the certificates it reads.  A
  block that serves (``serve_forever``) runs in a subprocess until its port answers, then a
  client checks the answer: the block's own client when the next block connects to the same
  port (the README's pairs), else a probe (a TLS read, or an HTTPS request for WSGI servers).
  Fixed ports are replaced by free ones; ``/etc/myapp/tls/`` paths, ``myapp`` and an ``app`` the
  block leaves undefined are provided; a block showing ``# before`` and ``# after`` runs as
  the two programs it shows.  A ``print(...)  # literal`` line must print that literal.
* a shell block: ``make`` targets must exist, with the options their ``*_ARGS`` pass known to
  the script; ``greentls`` command lines must parse, and the ones that need nothing outside
  this machine (``serve --self-signed``, ``connect ... --insecure`` to it, ``ciphers``) run.
* a JavaScript block (Node's side of a comparison) must be valid JavaScript (``node --check``).
* a text block (a diagram) may only name modules, files and classes that exist.
"""
from __future__ import annotations

import ast
import os
import re
import shlex
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers import free_port

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PACKAGE = ROOT / "greentls"
PYTHON = sys.executable
GREENTLS = [PYTHON, "-m", "greentls"]


@dataclass
class Block:
    """One code block: its language, text, and where it is (``file:line``)."""

    language: str
    code: str
    where: str


# -- finding the blocks --------------------------------------------------------------------------

def markdown_blocks(path: Path) -> list[Block]:
    """The fenced blocks of a Markdown file."""
    blocks, lines = [], path.read_text(encoding="utf-8").splitlines()
    index = 0
    while index < len(lines):
        fence = re.match(r"^(```+)\s*(\S*)\s*$", lines[index])
        if not fence:
            index += 1
            continue
        start, body = index + 1, []
        index += 1
        while index < len(lines) and lines[index].strip() != fence.group(1):
            body.append(lines[index])
            index += 1
        blocks.append(Block(fence.group(2) or "text", "\n".join(body) + "\n",
                            f"{path.relative_to(ROOT)}:{start}"))
        index += 1
    return blocks


def rst_code_blocks(path: Path) -> list[Block]:
    """The ``.. code-block::`` blocks of a reStructuredText file (not the doctest ones)."""
    blocks, lines = [], path.read_text(encoding="utf-8").splitlines()
    for index, line in enumerate(lines):
        found = re.match(r"^(\s*)\.\. code-block:: *(\S+)", line)
        if not found:
            continue
        indent = len(found.group(1))
        body: list[str] = []
        for following in lines[index + 1:]:
            if following.strip() and len(following) - len(following.lstrip()) <= indent:
                break
            body.append(following)
        while body and not body[0].strip():
            body.pop(0)
        text = "\n".join(body).rstrip() + "\n"
        strip = min(len(b) - len(b.lstrip()) for b in body if b.strip())
        code = "\n".join(b[strip:] for b in text.splitlines()) + "\n"
        blocks.append(Block(found.group(2), code, f"{path.relative_to(ROOT)}:{index + 1}"))
    return blocks


def docstring_blocks() -> list[Block]:
    """The literal blocks (``::``) of the module docstrings the API pages show (automodule)."""
    blocks = []
    for page in sorted((DOCS / "api").glob("*.rst")):
        for module in re.findall(r"^\.\. automodule:: (\S+)", page.read_text(encoding="utf-8"), re.M):
            path = ROOT / (module.replace(".", "/") + ".py")
            if not path.is_file():
                path = path.with_suffix("") / "__init__.py"
            doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
            lines = doc.splitlines()
            for index, line in enumerate(lines):
                if not line.rstrip().endswith("::"):
                    continue
                body: list[str] = []
                for following in lines[index + 1:]:
                    if following.strip() and not following.startswith(" "):
                        break
                    body.append(following)
                text = "\n".join(b[4:] for b in body).strip("\n") + "\n"
                try:
                    ast.parse(text)
                    language = "python"
                except SyntaxError:
                    language = "sh"
                blocks.append(Block(language, text, f"{path.relative_to(ROOT)} (docstring)"))
    return blocks


def docs_blocks() -> list[Block]:
    return [block for path in sorted(DOCS.rglob("*.rst")) if "_build" not in path.parts
            for block in rst_code_blocks(path)] + docstring_blocks()


# -- Python blocks ---------------------------------------------------------------------------------

#: The fixed ports the blocks use, replaced by free ones.
PORTS = (8000, 8443, 443)



def ports_of(code: str) -> set[int]:
    return {port for port in PORTS if re.search(rf"(?<![\w.]){port}(?![\w.])", code)}


def with_ports(code: str, ports: dict[int, int]) -> str:
    for old, new in ports.items():
        code = re.sub(rf"(?<![\w.]){old}(?![\w.])", str(new), code)
    return code


MYAPP = '''\
def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"hello from myapp\\n"]
'''


def prepare(code: str) -> str:
    """The block as a program: the provided paths and names in place of the reader's own."""
    code = code.replace("/etc/myapp/tls/key.pem", "server-key.pem")
    code = code.replace("/etc/myapp/tls/chain.pem", "server-cert.pem")
    tree = ast.parse(code)
    defined = {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}
    defined |= {alias.asname or alias.name for node in ast.walk(tree)
                if isinstance(node, (ast.Import, ast.ImportFrom)) for alias in node.names}
    used = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
    assigned = {target.id for node in ast.walk(tree) if isinstance(node, ast.Assign)
                for target in node.targets if isinstance(target, ast.Name)}
    provided = {"app": "from myapp import app",
                "key_pem": "key_pem = open('certs/server-key.pem', 'rb').read()",
                "cert_pem": "cert_pem = open('certs/server-cert.pem', 'rb').read()"}
    for name, line in provided.items():
        if name in used and name not in defined | assigned:
            code = line + "\n" + code
    return code


def split_before_after(code: str) -> list[str]:
    """A block that shows ``# before`` and ``# after`` is two programs."""
    if not re.search(r"^# before", code, re.M) or not re.search(r"^# after", code, re.M):
        return [code]
    before, after = re.split(r"^# after.*\n", code, maxsplit=1, flags=re.M)
    return [before, after]


def expected_prints(code: str) -> list[str]:
    """What ``print(...)  # literal`` lines promise to print."""
    promised = []
    for line in code.splitlines():
        found = re.match(r"\s*print\(.*\)\s*#\s*(.+)$", line)
        if not found:
            continue
        try:
            ast.literal_eval(found.group(1).strip())
        except (ValueError, SyntaxError):
            continue  # a comment in words
        promised.append(found.group(1).strip())
    return promised


def make_workdir(tmp_path: Path) -> Path:
    """A directory with certs/ as examples/make_certs.py writes it, its server key and
    certificate also at the top (as gevent's examples name them) and a ``myapp`` module."""
    subprocess.run([PYTHON, str(ROOT / "examples" / "make_certs.py"), str(tmp_path / "certs")],
                   check=True, capture_output=True, timeout=60)
    for name in ("server-key.pem", "server-cert.pem"):
        shutil.copy(tmp_path / "certs" / name, tmp_path / name)
    shutil.copy(tmp_path / "certs" / "server-key.pem", tmp_path / "key.pem")
    shutil.copy(tmp_path / "certs" / "server-cert.pem", tmp_path / "cert.pem")
    (tmp_path / "myapp.py").write_text(MYAPP, encoding="utf-8")
    return tmp_path


def environment(workdir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(workdir), str(ROOT), env.get("PYTHONPATH", "")])
    return env


def run_program(code: str, workdir: Path, name: str = "block.py", timeout: float = 60) -> str:
    """Run ``code`` to its end; its output (stdout and stderr) on success."""
    (workdir / name).write_text(code, encoding="utf-8")
    done = subprocess.run([PYTHON, name], check=False, cwd=workdir, env=environment(workdir), timeout=timeout,
                          capture_output=True, text=True)
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"{name} failed:\n{output}"
    return output


class Serving:
    """A program that serves, run in its own process group until stopped; its output goes to a
    file beside it."""

    def __init__(self, code: str, workdir: Path, name: str = "server_block.py") -> None:
        (workdir / name).write_text(code, encoding="utf-8")
        self.log = workdir / f"{name}.log"
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen([PYTHON, name], cwd=workdir, env=environment(workdir),
                                            stdout=log, stderr=subprocess.STDOUT,
                                            start_new_session=True)

    def wait_for(self, port: int, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"the server exited ({self.process.returncode}):\n{self.output()}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise AssertionError(f"nothing listens on port {port} after {timeout} s:\n{self.output()}")

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)


def probe(code: str, port: int, workdir: Path) -> None:
    """Talk to a block's server as its reader would: HTTPS for WSGI servers, else a TLS read."""
    context = ssl.create_default_context(cafile=str(workdir / "certs" / "server-cert.pem"))
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw, \
            context.wrap_socket(raw, server_hostname="localhost") as tls:
        if "WSGIServer" in code:
            tls.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            answer = b""
            while chunk := tls.recv(65536):
                answer += chunk
            assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
        else:
            assert tls.recv(100), "the server sent nothing"


def run_python_blocks(blocks: list[Block], workdir: Path) -> list[str]:
    """Run a file's Python blocks in order, pairing each server with the client block after it."""
    ran = []
    index = 0
    while index < len(blocks):
        block = blocks[index]
        for part, code in enumerate(split_before_after(block.code)):
            where = f"{block.where} (part {part + 1})" if part else block.where
            ports = ports_of(code)
            if "serve_forever" not in code:
                output = run_program(prepare(code), workdir)
                for promised in expected_prints(code):
                    assert promised in output, f"{where}: expected {promised} in:\n{output}"
                ran.append(where)
                continue
            assert len(ports) == 1, f"{where}: a serving block needs one port, found {ports}"
            port = ports.pop()
            mapping = {port: free_port()}
            server = Serving(prepare(with_ports(code, mapping)), workdir)
            try:
                server.wait_for(mapping[port])
                client = blocks[index + 1] if index + 1 < len(blocks) else None
                if client is not None and client.language == "python" and port in ports_of(client.code) \
                        and "serve_forever" not in client.code:
                    output = run_program(prepare(with_ports(client.code, mapping)), workdir, "client_block.py")
                    for promised in expected_prints(client.code):
                        assert promised in output, f"{client.where}: expected {promised} in:\n{output}"
                    ran.append(f"{where} with {client.where}")
                    index += 1
                else:
                    probe(code, mapping[port], workdir)
                    ran.append(where)
            finally:
                server.stop()
        index += 1
    return ran


# -- shell blocks ----------------------------------------------------------------------------------

def make_targets() -> dict[str, str]:
    """Makefile target -> its recipe."""
    targets, current = {}, None
    for line in (ROOT / "Makefile").read_text(encoding="utf-8").splitlines():
        found = re.match(r"^([a-z][\w-]*):", line)
        if found:
            current = found.group(1)
            targets[current] = ""
        elif current and line.startswith("\t"):
            targets[current] += line + "\n"
        elif not line.strip():
            current = None
    return targets


def shell_commands(code: str) -> list[list[str]]:
    """Each command line of a shell block as words, comments dropped, the last of a pipeline."""
    commands = []
    for line in code.splitlines():
        words = shlex.split(line, comments=True)
        if not words:
            continue
        if "|" in words:
            words = words[len(words) - words[::-1].index("|"):]
        commands.append(words)
    return commands


def check_make(words: list[str], where: str) -> None:
    targets = make_targets()
    target = next(word for word in words[1:] if "=" not in word)
    assert target in targets, f"{where}: no Makefile target {target!r}"
    for assignment in (word for word in words[1:] if "=" in word):
        variable, _, value = assignment.partition("=")
        recipe = targets[target]
        assert f"$({variable})" in recipe, f"{where}: make {target} does not use {variable}"
        script = re.search(r"(\S+\.py) \$\(" + re.escape(variable) + r"\)", recipe)
        if script and variable != "PYTEST_ARGS":
            source = (ROOT / script.group(1)).read_text(encoding="utf-8")
            for option in re.findall(r"(--[\w-]+)", value):
                assert f'"{option}"' in source, f"{where}: {script.group(1)} has no {option}"
        if variable == "PYTEST_ARGS":
            for path in (word for word in shlex.split(value) if word.startswith("tests/")):
                assert (ROOT / path).is_file(), f"{where}: no {path}"


def check_script(words: list[str], where: str) -> None:
    """``python SCRIPT --option ...``: the script exists and knows each option."""
    script = ROOT / words[1]
    assert script.is_file(), f"{where}: no {words[1]}"
    source = script.read_text(encoding="utf-8")
    for option in (word for word in words[2:] if word.startswith("--")):
        assert f'"{option}"' in source, f"{where}: {words[1]} has no {option}"


def check_greentls(words: list[str], where: str) -> None:
    from greentls._app import cli
    try:
        cli._parser().parse_args(words[1:])
    except SystemExit as exit_:
        raise AssertionError(f"{where}: `{shlex.join(words)}` does not parse") from exit_


def check_shell_block(block: Block) -> list[list[str]]:
    """Check every command of a shell block; return the greentls commands that can run here."""
    runnable = []
    for words in shell_commands(block.code):
        program = Path(words[0]).name
        if program == "make":
            check_make(words, block.where)
        elif program == "greentls":
            check_greentls(words, block.where)
            runnable.append(words)
        elif program == "gunicorn":
            worker = words[words.index("-k") + 1]
            module, _, name = worker.rpartition(".")
            path = ROOT / (module.replace(".", "/") + ".py")
            assert path.is_file() and re.search(rf"^class {name}\b", path.read_text(encoding="utf-8"), re.M), \
                f"{block.where}: no worker class {worker}"
        elif program == "tox":
            assert "envlist" in (ROOT / "tox.ini").read_text(encoding="utf-8"), block.where
        elif re.fullmatch(r"python3?(\.\d+)?", program):
            check_script(words, block.where)
        elif program == "apt-get":
            packages = {word for word in words[2:] if not word.startswith("-")}
            listed = re.search(r"^DOC_PACKAGES := (.*)$", (ROOT / "Makefile").read_text(encoding="utf-8"), re.M)
            assert words[1] == "install" and listed, block.where
            assert packages == set(listed.group(1).split()), f"{block.where}: not make docs' packages"
        else:
            raise AssertionError(f"{block.where}: this test knows no command {program!r}: "
                                 f"teach check_shell_block how to check it")
    return runnable


def run_greentls_commands(commands: list[list[str]], tmp_path: Path) -> int:
    """Run the commands that need nothing outside this machine: a self-signed server, a
    client of it, ``ciphers``.  Returns how many ran."""
    ran = 0
    serving = [c for c in commands if c[1] == "serve" and "--self-signed" in c and "--cert" not in c]
    for words in (c for c in commands if c[1] == "ciphers"):
        done = subprocess.run([*GREENTLS, *words[1:]], check=False, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0 and "aes128-gcm-sha256" in done.stdout.lower(), done.stderr
        ran += 1
    for server_words in serving[:1]:
        port = free_port()
        args = [w if w != str(int(server_words[server_words.index("--port") + 1])) else str(port)
                for w in server_words[1:]]
        server = subprocess.Popen([*GREENTLS, *args], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    assert server.poll() is None and time.monotonic() < deadline, "serve did not start"
                    time.sleep(0.05)
            ran += 1
            for words in (c for c in commands if c[1] == "connect" and "--insecure" in c
                          and c[2].startswith("127.0.0.1:")):
                done = subprocess.run([*GREENTLS, "connect", f"127.0.0.1:{port}", *words[3:]],
                                      check=False, input=b"hello\n", capture_output=True, timeout=60)
                assert done.returncode == 0, done.stderr
                assert b"hello" in done.stdout, done.stdout
                ran += 1
        finally:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=10)
    return ran


# -- text and JavaScript blocks --------------------------------------------------------------------

def check_text_block(block: Block) -> int:
    """The files, module folders and CamelCase names a diagram shows exist in the package."""
    files = {p.name for p in PACKAGE.rglob("*.py")} | {p.relative_to(PACKAGE).as_posix()
                                                      for p in PACKAGE.rglob("*.py")}
    folders = {p.name for p in PACKAGE.rglob("*") if p.is_dir() and p.name != "__pycache__"}
    source = "\n".join(p.read_text(encoding="utf-8") for p in PACKAGE.rglob("*.py"))
    checked = 0
    for token in re.findall(r"[\w/]+\.py\b", block.code):
        assert token.split("/")[-1] in files or token in files, f"{block.where}: no file {token}"
        checked += 1
    for token in re.findall(r"(?<![\w/])(_[a-z]+)/", block.code):
        assert token in folders, f"{block.where}: no package folder {token}"
        checked += 1
    for token in set(re.findall(r"\b([A-Z][a-z]+(?:[A-Z][a-z]+)+)\b", block.code)):
        if token in ("StreamServer", "SecurePair") or re.search(rf"\b(class|def) {token}\b", source):
            checked += 1
            continue
        raise AssertionError(f"{block.where}: {token} is defined nowhere in greentls")
    return checked


# -- the docs' blocks --------------------------------------------------------------------------------

def test_docs_have_code_blocks():
    """The docs have the kinds of code blocks this file checks (it would pass on none)."""
    languages = {block.language for block in docs_blocks()}
    assert {"python", "sh", "text", "javascript"} <= languages, languages
    assert not languages - {"python", "sh", "text", "javascript"}, \
        f"a code block in a language this file does not check: {languages}"


def test_docs_python_blocks_run(tmp_path):
    """Every Python code-block of the docs runs (servers answer a client)."""
    workdir = make_workdir(tmp_path)
    ran = []
    by_file: dict[str, list[Block]] = {}
    for block in docs_blocks():
        if block.language == "python":
            by_file.setdefault(block.where.split(":")[0], []).append(block)
    for blocks in by_file.values():
        ran += run_python_blocks(blocks, workdir)
    assert len(ran) >= 3, ran


def test_docs_shell_blocks(tmp_path):
    """Every shell command of the docs names a real target or parses; the local ones run."""
    runnable = []
    blocks = [block for block in docs_blocks() if block.language == "sh"]
    assert blocks
    for block in blocks:
        runnable += check_shell_block(block)
    assert run_greentls_commands(runnable, tmp_path) >= 2


def test_docs_text_blocks():
    """The diagrams name only files, folders and classes that exist."""
    blocks = [block for block in docs_blocks() if block.language == "text"]
    assert blocks and sum(check_text_block(block) for block in blocks) > 5


def test_docs_javascript_blocks():
    """Node's code in the docs is valid JavaScript."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    blocks = [block for block in docs_blocks() if block.language == "javascript"]
    assert blocks
    for block in blocks:
        # Node's side of a comparison uses names its reader has (key, cert, tls): declare them.
        code = "const tls = require('tls'); let key, cert, options;\n" + block.code
        done = subprocess.run([node, "--check", "-"], check=False, input=code, text=True,
                              capture_output=True, timeout=30)
        assert done.returncode == 0, f"{block.where}: {done.stderr}"
