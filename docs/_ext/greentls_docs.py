"""Sphinx extension of the greentls docs: option tables, the module layout, and the checks.

* ``.. greentls-options:: TABLE`` renders one option table from the package's option table
  (``greentls/_config/optiontable.py``, the one description of the options, which the
  docstrings and the unknown-option errors also read).  When the build starts, the table must
  agree exactly with the option sets the entry points check (named in ``SOURCES``): an option
  in the code without a row, or a row of an option the code lacks, stops the build.  After
  reading, every row of every table must have been rendered somewhere.
* The option list the docstrings of the entry points carry (``add_option_docs``) is replaced,
  on the API pages, by links to the tables it came from.
* ``:opt:`name``` (or ``:opt:`table.name```) links to an option's row; an unknown option is a
  warning, so ``-W`` fails on it.
* A cross-reference into Python, gevent, cryptography, pyOpenSSL or blinker whose project's
  inventory is loaded (docs/conf.py) must resolve: an unresolved one is a warning.
* ``.. greentls-module-layout::`` lists the package's modules with the first line of each
  module's docstring, read from the source files (nothing is imported), so the table shows the
  layout of the checkout being built.
* ``.. greentls-benchmarks::`` shows the capacity tables of the newest full benchmark run
  committed under ``benchmarks/results/``.
* After writing the HTML, every public name and every option must have its anchor on a page
  of the built site.
* After reading, every public name (``greentls.__all__``, ``greentls.signals.__all__``,
  ``greentls.wsgi.__all__``) and every public member of the public classes must have an entry
  in the API reference, or the build stops with the list of what is missing.
* No docstring of the package may send readers to a document outside the repository (the
  three project documents the code once cited): when the build starts, every docstring in
  every module is read from the source, and any such mention stops the build with where it is.
  The code cites these docs instead (``docs/architecture.rst``, "What the design relies on").
"""
from __future__ import annotations

import ast
import importlib
import inspect
import re
import sys
from pathlib import Path
from typing import Any, ClassVar

from docutils import nodes
from docutils.parsers.rst import directives
from sphinx.errors import ExtensionError
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

from greentls._config import optiontable

logger = logging.getLogger(__name__)

#: Objects the public classes inherit from outside greentls (exceptions from ``ssl``,
#: ``pywsgi``'s handler, ``gevent.Timeout``) are documented there, not here.
_OWN_MODULE = re.compile(r"^greentls(\.|$)")


# -- the option sets in the code -----------------------------------------------------------------

def _load_public_modules() -> None:
    """Import the public modules and the lazily loaded names, so every option set is loaded."""
    import greentls
    importlib.import_module("greentls.wsgi")
    importlib.import_module("greentls.signals")
    for name in getattr(greentls, "_LAZY", {}):
        getattr(greentls, name)


#: Table -> the name of the set in the package that the table's entry points check options
#: against.  The set is looked up in every loaded ``greentls`` module, so this keeps working while
#: modules move; it must exist in exactly one place (or be the same value everywhere).
SOURCES = {
    "context": "CONTEXT_OPTIONS",
    "server": "SERVER_OPTIONS",
    "connect": "CONNECT_OPTIONS",
    "wsgi": "_WSGI_OPTIONS",
    "wrap_socket": "_SOCKET_OPTIONS",
    "secure_pair": "_PAIR_OPTIONS",
}

#: Rows of the table that the code may not accept yet: options being added, whose rows are
#: written first.  A row listed here is excused only while the code lacks the option; nothing
#: excuses an option without a row.  Empty this once the options have landed.
PENDING: dict[str, frozenset[str]] = {
}

#: Table -> who takes its options (the sentence under the table's heading).
TAKERS = {
    "context": (":func:`greentls.create_secure_context`, and through it "
                ":func:`~greentls.create_server`, :meth:`Server.set_secure_context "
                "<greentls.Server.set_secure_context>`, :meth:`Server.add_context "
                "<greentls.Server.add_context>` (as a dict), :func:`~greentls.connect`, "
                ":func:`~greentls.wrap_socket`, :class:`greentls.wsgi.WSGIServer`"),
    "server": (":func:`greentls.create_server` and :class:`greentls.wsgi.WSGIServer`, "
               "besides the context options"),
    "connect": ":func:`greentls.connect`, besides the context options",
    "wsgi": ":class:`greentls.wsgi.WSGIServer`, besides the context and server options",
    "wrap_socket": (":func:`greentls.wrap_socket`, besides the context options; "
                    ":meth:`SecureContext.wrap_socket <greentls.SecureContext.wrap_socket>` "
                    "takes the same, except ``context``"),
    "secure_pair": ("the ``options`` dict of :func:`greentls.create_secure_pair` "
                    "(deprecated)"),
}

_TABLE_FILE = "greentls/_config/optiontable.py"


def find_option_set(attribute: str) -> frozenset:
    """The set named ``attribute`` in the loaded greentls modules; exactly one value allowed."""
    _load_public_modules()
    found: dict[str, frozenset] = {}
    for module_name, module in list(sys.modules.items()):
        if module is None or not _OWN_MODULE.match(module_name):
            continue
        value = vars(module).get(attribute)
        if isinstance(value, (set, frozenset)) and all(isinstance(v, str) for v in value):
            found[module_name] = frozenset(value)
    values = set(found.values())
    if not values:
        raise ExtensionError(
            f"greentls docs: no module of greentls defines the option set {attribute!r}; "
            f"update SOURCES in docs/_ext/greentls_docs.py to where the options now live")
    if len(values) > 1:
        raise ExtensionError(f"greentls docs: {attribute!r} differs between modules {sorted(found)}")
    return values.pop()


def option_problems() -> tuple[dict[str, frozenset], list[str]]:
    """The code's option sets, and every way the option table and they disagree."""
    problems = []
    code_sets = {}
    tables = optiontable.TABLES
    for keys, what in ((SOURCES, "SOURCES"), (TAKERS, "TAKERS"), (optiontable.TITLES, "TITLES")):
        if set(keys) != set(tables):
            problems.append(f"{what} and the option table have different tables: "
                            f"{sorted(set(keys) ^ set(tables))}")
    for table, attribute in SOURCES.items():
        names = find_option_set(attribute)
        code_sets[table] = names
        described = set(tables.get(table, {}))
        for name in sorted(names - described):
            problems.append(f"{table}: option {name!r} ({attribute} in the code) has no row in "
                            f"{_TABLE_FILE}")
        for name in sorted(described - names - PENDING.get(table, frozenset())):
            problems.append(f"{table}: option {name!r} has a row in {_TABLE_FILE} but "
                            f"{attribute} in the code has no such option")
        for name, row in tables.get(table, {}).items():
            if row.name != name or not all(isinstance(f, str) and f.strip() for f in row):
                problems.append(f"{table}: option {name!r} needs a name, type, default, meaning "
                                f"and Node spelling")
    return code_sets, problems


def check_option_agreement() -> dict[str, frozenset]:
    """Compare the code's option sets with the option table; raise listing every difference."""
    code_sets, problems = option_problems()
    if problems:
        raise ExtensionError("greentls docs: the option table and the code disagree:\n  "
                             + "\n  ".join(problems))
    return code_sets


def option_owner(name: str) -> str | None:
    """The first table (in TABLES order) that has ``name``: where ``:opt:`name``` points."""
    for table, rows in optiontable.TABLES.items():
        if name in rows:
            return table
    return None


def option_anchor(table: str, name: str) -> str:
    return f"option-{table}-{name}".replace("_", "-")


# -- directives ------------------------------------------------------------------------------------

class OptionTable(SphinxDirective):
    """``.. greentls-options:: context`` -> a table of the options, one target per row."""

    required_arguments = 1
    has_content = False

    def run(self) -> list[nodes.Node]:
        table_key = self.arguments[0]
        if table_key not in optiontable.TABLES:
            raise self.error(f"unknown option table {table_key!r}; known: {sorted(optiontable.TABLES)}")
        rows = optiontable.TABLES[table_key]
        takers = TAKERS[table_key]
        self.env.note_dependency(str(Path(optiontable.__file__)))
        std = self.env.get_domain("std")

        intro = nodes.paragraph()
        parsed, messages = self.state.inline_text("Taken by " + takers + ".", self.lineno)
        intro += parsed

        table = nodes.table(classes=["greentls-options", "colwidths-given"])
        group = nodes.tgroup(cols=5)
        table += group
        for width in (17, 17, 15, 37, 14):
            group += nodes.colspec(colwidth=width)
        head = nodes.thead()
        group += head
        head += self._row([nodes.paragraph(text=t) for t in
                           ("Option", "Type", "Default", "Meaning", "Node")])
        body = nodes.tbody()
        group += body
        for name in sorted(rows):
            _name, type_, default, meaning, node_name = rows[name]
            anchor = option_anchor(table_key, name)
            first = nodes.paragraph(ids=[anchor])
            first += nodes.literal(text=name)
            cells = [first]
            for text in (type_, default, meaning, node_name):
                paragraph = nodes.paragraph()
                parsed_cell, cell_messages = self.state.inline_text(text, self.lineno)
                paragraph += parsed_cell
                messages.extend(cell_messages)
                cells.append(paragraph)
            body += self._row(cells)
            std.note_object("tlsoption", f"{table_key}.{name}", anchor, location=first)
            if option_owner(name) == table_key:
                std.note_object("tlsoption", name, anchor, location=first)
        return [intro, table, *messages]

    @staticmethod
    def _row(cells: list[nodes.Node]) -> nodes.row:
        row = nodes.row()
        for cell in cells:
            entry = nodes.entry()
            entry += cell
            row += entry
        return row


def _first_docstring_line(path: Path) -> str:
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, UnicodeDecodeError):
        return ""
    doc = ast.get_docstring(tree) or ""
    paragraph = doc.split("\n\n", 1)[0]
    return " ".join(paragraph.split())


class ModuleLayout(SphinxDirective):
    """``.. greentls-module-layout::`` -> the package's modules as they are in this checkout."""

    has_content = False
    option_spec: ClassVar[dict] = {"package": directives.unchanged}

    def run(self) -> list[nodes.Node]:
        package = self.options.get("package", "greentls")
        root = Path(importlib.import_module(package).__file__).parent
        files = sorted(p for p in root.rglob("*.py") if "__pycache__" not in p.parts)
        table = nodes.table(classes=["greentls-layout"])
        group = nodes.tgroup(cols=2)
        table += group
        group += nodes.colspec(colwidth=30)
        group += nodes.colspec(colwidth=70)
        head = nodes.thead()
        group += head
        head += OptionTable._row([nodes.paragraph(text="module"), nodes.paragraph(text="what it holds")])
        body = nodes.tbody()
        group += body
        messages: list[nodes.Node] = []
        for path in files:
            relative = path.relative_to(root.parent).with_suffix("")
            parts = list(relative.parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            module = ".".join(parts)
            summary = _first_docstring_line(path)
            if not summary and path.name == "__init__.py" and module != package:
                continue  # an empty package marker
            name_cell = nodes.paragraph()
            name_cell += nodes.literal(text=module)
            text_cell = nodes.paragraph()
            parsed, cell_messages = self.state.inline_text(summary or "-", self.lineno)
            text_cell += parsed
            messages.extend(cell_messages)
            body += OptionTable._row([name_cell, text_cell])
            self.env.note_dependency(str(path))
        return [table, *messages]


def _markdown_table(lines: list[str]) -> list[list[str]]:
    """The rows of the first pipe table in ``lines`` (header first, the ``|---|`` row dropped)."""
    rows = []
    for raw in lines:
        line = raw.strip()
        if not line.startswith("|"):
            if rows:
                break
            continue
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if all(set(cell) <= set("-: ") for cell in cells):
            continue
        rows.append(cells)
    return rows


def _report_section(text: str, heading: str) -> list[list[str]]:
    lines = text.splitlines()
    for index, line in enumerate(lines):
        if line.strip() == heading:
            return _markdown_table(lines[index + 1:])
    return []


_BENCH_SECTIONS = ("ECDSA", "RSA")


def latest_benchmark_run(results: Path) -> Path | None:
    """The newest run folder whose report has the capacity-ratio table of every certificate."""
    for run in sorted((p for p in results.iterdir() if p.is_dir()), reverse=True):
        report = run / "report.md"
        if not report.is_file() or not (run / "meta.json").is_file():
            continue
        text = report.read_text(encoding="utf-8")
        if all(len(_report_section(text, f"## {cert} — capacity ratios")) > 1 for cert in _BENCH_SECTIONS):
            return run
    return None


class BenchmarkTables(SphinxDirective):
    """``.. greentls-benchmarks::`` -> the capacity tables of the newest committed full run in
    ``benchmarks/results/`` (what ``make bench`` writes), with the run's machine and versions."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        import json

        results = Path(self.env.srcdir).parent / "benchmarks" / "results"
        run = latest_benchmark_run(results) if results.is_dir() else None
        if run is None:
            raise self.error(f"no full benchmark run with a report.md and meta.json in {results}")
        meta = json.loads((run / "meta.json").read_text(encoding="utf-8"))
        text = (run / "report.md").read_text(encoding="utf-8")
        self.env.note_dependency(str(run / "report.md"))
        self.env.note_dependency(str(run / "meta.json"))
        packages = {line.split()[0]: line.split()[-1] for line in meta.get("packages", "").splitlines()
                    if line.split()}
        facts = (
            f"Run {run.name} (commit {meta.get('git_commit', '?')}, "
            f"{meta.get('passes', '?')} passes of {meta.get('duration_s', '?')} s per cell, "
            f"medians). Machine: {meta.get('nproc', '?')} CPUs ({meta.get('cpu_model', '?')}), "
            f"kernel {meta.get('kernel', '?')}; the server on CPU 0, the load generator on CPU 1. "
            f"node {meta.get('node', '?')} on OpenSSL {meta.get('node_openssl', '?')}; "
            f"gevent_stdlib on Python {meta.get('python_venv', '?')}; greentls on Python "
            f"{meta.get('greentls_python', '?')} with pyOpenSSL {packages.get('pyOpenSSL', '?')} "
            f"on {meta.get('greentls_openssl', '?')}.")
        output: list[nodes.Node] = [nodes.paragraph(text=facts)]
        for cert in _BENCH_SECTIONS:
            rows = _report_section(text, f"## {cert} — capacity ratios")
            output.append(nodes.rubric(text=cert))
            table = nodes.table(classes=["greentls-bench"])
            group = nodes.tgroup(cols=len(rows[0]))
            table += group
            for _ in rows[0]:
                group += nodes.colspec(colwidth=10)
            head = nodes.thead()
            group += head
            head += OptionTable._row([nodes.paragraph(text=cell) for cell in rows[0]])
            body = nodes.tbody()
            group += body
            for row in rows[1:]:
                body += OptionTable._row([nodes.paragraph(text=cell) for cell in row])
            output.append(table)
        return output


# -- docstrings that cite documents outside the repository -----------------------------------------

#: The project documents kept outside this repository that the code once cited (written so that
#: this file does not name them itself: tests/test_no_outside_citations.py scans it too).
OUTSIDE_CITATION = re.compile(r"\b(?:API|FACTS|STYLE)\.md\b")


def _docstrings(tree: ast.AST) -> list[tuple[str, int, str]]:
    """(name, line, docstring) of the module and of every class and function in ``tree``."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            doc = ast.get_docstring(node, clean=False)
            if doc:
                name = getattr(node, "name", "<module>")
                line = node.body[0].lineno if node.body else getattr(node, "lineno", 1)
                found.append((name, line, doc))
    return found


def check_no_outside_citations(package: str = "greentls") -> None:
    """Stop the build if any docstring of the package mentions a document outside the repository."""
    root = Path(importlib.import_module(package).__file__).parent
    problems = []
    for path in sorted(p for p in root.rglob("*.py") if "__pycache__" not in p.parts):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for name, line, doc in _docstrings(tree):
            match = OUTSIDE_CITATION.search(doc)
            if match:
                problems.append(f"{path.relative_to(root.parent)}:{line} ({name}): {match.group(0)}")
    if problems:
        raise ExtensionError("greentls docs: docstrings cite documents outside the repository; cite "
                             "these docs instead (docs/architecture.rst, 'What the design relies "
                             "on'):\n  " + "\n  ".join(problems))


def process_docstring(app: Any, what: str, name: str, obj: Any, options: Any, lines: list[str]) -> None:
    """The same check on every docstring autodoc renders; and the option list a docstring
    carries for ``help()`` becomes links to the tables it was made from."""
    match = OUTSIDE_CITATION.search("\n".join(lines))
    if match:
        raise ExtensionError(f"greentls docs: the docstring of {name} cites {match.group(0)}, a "
                             f"document outside the repository")
    if optiontable.OPTIONS_HEADING in lines:
        start = lines.index(optiontable.OPTIONS_HEADING)
        by_title = {f"{title}:": table for table, title in optiontable.TITLES.items()}
        tables = [by_title[line] for line in lines[start:] if line in by_title]
        links = ", ".join(f":ref:`{optiontable.TITLES[t].lower()} <options-{t}>`" for t in tables)
        del lines[start:]
        lines.extend([f"Options: the {links}.", ""])


# -- the API reference must hold every public name -------------------------------------------------

def public_names() -> list[str]:
    """Every name the reference must document, fully qualified."""
    import greentls
    import greentls.signals
    import greentls.wsgi
    names = [f"greentls.{n}" for n in greentls.__all__]
    names += [f"greentls.signals.{n}" for n in greentls.signals.__all__]
    names += [f"greentls.wsgi.{n}" for n in greentls.wsgi.__all__]
    for qualified in list(names):
        obj = _resolve(qualified)
        if inspect.isclass(obj) and not issubclass(obj, BaseException):
            names += [f"{qualified}.{member}" for member in public_members(obj)]
    return names


def public_members(cls: type) -> list[str]:
    """Public attributes a class defines in greentls code (itself or its greentls bases).

    Overrides of a base from elsewhere (``pywsgi.WSGIHandler.handle``) are that base's API,
    documented with it, and are not required here."""
    foreign = set()
    for base in cls.__mro__:
        if not _OWN_MODULE.match(getattr(base, "__module__", "")):
            foreign.update(vars(base))
    members = []
    for base in cls.__mro__:
        if not _OWN_MODULE.match(getattr(base, "__module__", "")):
            continue
        for member in vars(base):
            if not member.startswith("_") and member not in foreign and member not in members:
                members.append(member)
    return members


def _resolve(qualified: str) -> Any:
    parts = qualified.split(".")
    obj: Any = importlib.import_module(parts[0])
    for part in parts[1:]:
        obj = getattr(obj, part)
    return obj


def check_reference_complete(app: Any, env: Any) -> None:
    python = env.get_domain("py")
    documented = set(python.objects) | set(getattr(python, "modules", {}))
    missing = [name for name in public_names() if name not in documented]
    if missing:
        raise ExtensionError("greentls docs: public names missing from the API reference "
                             "(docs/api/):\n  " + "\n  ".join(missing))


# -- :opt: references that resolve nowhere, and links into other projects' docs ---------------------

#: The top-level package a cross-reference names -> the intersphinx inventory (docs/conf.py) that
#: holds it; any other package not of greentls is Python's.
_PROJECTS = {"gevent": "gevent", "cryptography": "cryptography", "OpenSSL": "pyopenssl",
             "blinker": "blinker"}


def inventory_for(target: str) -> str | None:
    """The intersphinx project a Python cross-reference to ``target`` belongs to (None: ours)."""
    top = target.lstrip("~.!").split(".")[0]
    if top == "greentls" or not top:
        return None
    return _PROJECTS.get(top, "python")


def warn_unknown_option(app: Any, env: Any, node: Any, contnode: Any) -> None:
    """``missing-reference``: an unknown ``:opt:`` warns; a Python reference into a project
    whose inventory is loaded is marked, so that it warns if intersphinx does not resolve it
    either (``warn_unresolved``).  Every handler of the event runs, so marking is all that can
    be done here."""
    if node.get("reftype") == "opt":
        logger.warning("unknown greentls option %r in :opt: (%s)", node.get("reftarget"),
                       _TABLE_FILE, location=node)
        return None
    if node.get("refdomain") != "py" or _in_signature(node):
        return None
    project = inventory_for(node.get("reftarget", ""))
    if project is not None and project in app.config.intersphinx_mapping:
        node["refwarn"] = True
        node["greentls_inventory"] = project
    return None


def warn_unresolved(app: Any, domain: Any, node: Any) -> bool | None:
    """``warn-missing-reference``: the marked reference resolved nowhere."""
    project = node.get("greentls_inventory")
    if project is None:
        return None
    logger.warning("%s reference %r is not in the %s inventory (docs/conf.py)",
                   node.get("reftype"), node.get("reftarget"), project, location=node)
    return True


def _in_signature(node: Any) -> bool:
    """Whether ``node`` is part of an autodoc signature (its type hints are not checked: they
    name private aliases such as ``ReadableBuffer``)."""
    from sphinx import addnodes
    parent = node.parent
    while parent is not None:
        if isinstance(parent, addnodes.desc_signature):
            return True
        parent = parent.parent
    return False


# -- every option rendered, and every page in the built HTML -------------------------------------

def check_options_rendered(app: Any, env: Any) -> None:
    """Every row of every option table has been rendered on some page."""
    std = env.get_domain("std")
    rendered = {name for (kind, name) in std.objects if kind == "tlsoption"}
    missing = [f"{table}.{name}" for table, rows in optiontable.TABLES.items() for name in rows
               if f"{table}.{name}" not in rendered]
    if missing:
        raise ExtensionError("greentls docs: options without a rendered row (a "
                             "'.. greentls-options::' directive is missing):\n  "
                             + "\n  ".join(missing))


def expected_anchors(env: Any) -> dict[str, tuple[str, str]]:
    """Every public name and option -> (its page, its anchor), as the environment records them."""
    python = env.get_domain("py")
    std = env.get_domain("std")
    anchors = {}
    for name in public_names():
        entry = python.objects.get(name)
        if entry is not None:
            anchors[name] = (entry.docname, entry.node_id)
        elif name in getattr(python, "modules", {}):
            module = python.modules[name]
            anchors[name] = (module.docname, module.node_id)
    for table, rows in optiontable.TABLES.items():
        for option in rows:
            key = f"{table}.{option}"
            docname, anchor = std.objects[("tlsoption", key)]
            anchors[f"option {key}"] = (docname, anchor)
    return anchors


def missing_in_html(outdir: Path, anchors: dict[str, tuple[str, str]], suffix: str = ".html") -> list[str]:
    """The names whose anchor is not on their page in the HTML written to ``outdir``."""
    pages: dict[str, str] = {}
    missing = []
    for what, (docname, anchor) in sorted(anchors.items()):
        if docname not in pages:
            path = outdir / f"{docname}{suffix}"
            pages[docname] = path.read_text(encoding="utf-8") if path.is_file() else ""
        if f'id="{anchor}"' not in pages[docname]:
            missing.append(f"{what} (#{anchor} on {docname}{suffix})")
    return missing


def check_html_pages(app: Any, exception: BaseException | None) -> None:
    """After an HTML build: every public name and option has its anchor in the written pages."""
    if exception is not None or app.builder.name not in ("html", "dirhtml"):
        return
    if app.builder.name == "dirhtml":
        return  # pages are docname/index.html there; the html builder is the one checked
    missing = missing_in_html(Path(app.outdir), expected_anchors(app.env))
    if missing:
        raise ExtensionError("greentls docs: the built HTML lacks these entries:\n  "
                             + "\n  ".join(missing))
    logger.info("greentls docs: every public name and option is on a page of the HTML")


def on_builder_inited(app: Any) -> None:
    check_no_outside_citations()
    codes = check_option_agreement()
    total = sum(len(v) for v in codes.values())
    logger.info("greentls docs: %d options in %d tables agree with the code", total, len(codes))


def setup(app: Any) -> dict:
    app.add_object_type("tlsoption", "opt", indextemplate="pair: %s; option",
                        ref_nodeclass=nodes.literal)
    app.add_directive("greentls-options", OptionTable)
    app.add_directive("greentls-module-layout", ModuleLayout)
    app.add_directive("greentls-benchmarks", BenchmarkTables)
    app.connect("builder-inited", on_builder_inited)
    app.connect("autodoc-process-docstring", process_docstring)
    app.connect("env-check-consistency", check_reference_complete)
    app.connect("env-check-consistency", check_options_rendered)
    app.connect("missing-reference", warn_unknown_option)
    app.connect("warn-missing-reference", warn_unresolved)
    app.connect("build-finished", check_html_pages)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
