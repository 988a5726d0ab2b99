"""The package's layers import one way, and nothing below the I/O layer does I/O.

The folders of ``greentls/`` are its layers, lowest first (the architecture guide in the docs
draws them).  A module may import its own layer and the layers below it, never one above; no
two modules import each other, directly or around a loop (imports inside functions count: a
lazy import is still a dependency); ``OpenSSL._util``, the raw bindings, is imported by one
module only; and the layers below I/O import neither gevent nor ``socket``.  Imports under
``if TYPE_CHECKING:`` are for annotations only and do not count.
"""
from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "greentls"

#: Lowest first.  ``greentls.signals`` is a leaf (blinker only) that every layer may import.
LAYERS = [
    ("base", ["greentls._base", "greentls.signals"]),
    ("parse", ["greentls._parse"]),
    ("config", ["greentls._config"]),
    ("engine", ["greentls._engine"]),
    ("io", ["greentls._io"]),
    ("tls", ["greentls._tls"]),
    ("net", ["greentls._net"]),
    ("app", ["greentls._app", "greentls.wsgi", "greentls.gunicorn", "greentls.__main__", "greentls"]),
]
#: The one module that may import OpenSSL's raw bindings.
BINDING = "greentls._base.binding"
#: Layers (by index) at or above which gevent and socket may be imported.
FIRST_IO_LAYER = 4
IO_MODULES = ("gevent", "socket", "select", "selectors")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def layer_of(name: str) -> int:
    best: tuple[int, int] | None = None  # (prefix length, layer)
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (name == prefix or name.startswith(prefix + ".")) and (best is None or len(prefix) > best[0]):
                best = (len(prefix), index)
    assert best is not None, f"{name} belongs to no layer: add its folder to LAYERS"
    return best[1]


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imports(name: str, path: Path, known: frozenset = frozenset()) -> Iterator[tuple[str, int]]:
    """(imported module, line) for every import in the module, outside TYPE_CHECKING blocks;
    ``from P import m``, where ``P.m`` is one of the ``known`` modules, imports ``P.m`` only."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    tree = ast.parse(path.read_text(), str(path))

    def visit(node: ast.AST) -> Iterator[tuple[str, int]]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for other in child.orelse:
                    yield from visit_one(other)
                continue
            yield from visit_one(child)

    def visit_one(node: ast.AST) -> Iterator[tuple[str, int]]:
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            submodules = [f"{target}.{alias.name}" for alias in node.names
                          if f"{target}.{alias.name}" in known]
            if len(submodules) < len(node.names):
                yield target, node.lineno
            for submodule in submodules:
                yield submodule, node.lineno
        else:
            yield from visit(node)

    yield from visit(tree)


def internal_graph() -> dict[str, dict[str, int]]:
    known = modules()
    graph: dict[str, dict[str, int]] = {}
    for name, path in known.items():
        edges: dict[str, int] = {}
        for target, line in imports(name, path, frozenset(known)):
            if target in known and target != name:
                edges.setdefault(target, line)
        graph[name] = edges
    return graph


def test_every_module_is_in_a_layer():
    for name in modules():
        layer_of(name)


def test_layers_import_one_way():
    wrong = []
    for name, edges in internal_graph().items():
        for target, line in edges.items():
            if target == "greentls" and layer_of(name) < len(LAYERS) - 1:
                wrong.append(f"{name}:{line} imports the package itself (import what it needs from its module)")
            elif layer_of(target) > layer_of(name):
                wrong.append(f"{name}:{line} ({LAYERS[layer_of(name)][0]}) imports {target} "
                             f"({LAYERS[layer_of(target)][0]}), a higher layer")
    assert not wrong, "\n".join(wrong)


def test_no_import_cycles():
    graph = internal_graph()
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the stack, 2: done
    stack: list[str] = []

    def walk(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for target in graph[node]:
            if state.get(target) == 1:
                cycles.append([*stack[stack.index(target):], target])
            elif target not in state:
                walk(target)
        stack.pop()
        state[node] = 2

    for node in graph:
        if node not in state:
            walk(node)
    assert not cycles, "\n".join(" -> ".join(cycle) for cycle in cycles)


def test_only_the_binding_module_touches_raw_openssl():
    users = []
    for name, path in modules().items():
        for target, line in imports(name, path):
            if target == "OpenSSL._util" or target.startswith("OpenSSL._util."):
                users.append(f"{name}:{line}")
    assert sorted({user.split(":")[0] for user in users}) == [BINDING], users


def test_no_io_below_the_io_layer():
    wrong = []
    for name, path in modules().items():
        if layer_of(name) >= FIRST_IO_LAYER:
            continue
        for target, line in imports(name, path):
            if target.split(".")[0] in IO_MODULES:
                wrong.append(f"{name}:{line} imports {target}")
    assert not wrong, "\n".join(wrong)


def test_the_checker_sees_what_it_should(tmp_path):
    """The checks above would catch a violation: a lazy upward import and a TYPE_CHECKING one."""
    source = tmp_path / "mod.py"
    source.write_text("from typing import TYPE_CHECKING\n"
                      "if TYPE_CHECKING:\n    from greentls._net.server import Server\n"
                      "def f():\n    from greentls._tls.socket import TLSSocket\n")
    found = {target for target, _ in imports("greentls._config.mod", source)}
    assert "greentls._tls.socket" in found
    assert "greentls._net.server" not in found
    assert layer_of("greentls._tls.socket") > layer_of("greentls._config.mod")
