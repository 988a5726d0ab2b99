"""The option table (greentls/_config/optiontable.py) agrees with the code, the docs and help()."""
from __future__ import annotations

import pydoc
import re
import sys
from pathlib import Path

import pytest

import greentls
from greentls._config import optiontable
from greentls._config.defaults import Defaults

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
sys.path.insert(0, str(DOCS / "_ext"))
from greentls_docs import PENDING  # noqa: E402


def code_sets() -> dict[str, frozenset[str]]:
    """The sets the entry points check options against, table by table."""
    from greentls import wsgi
    from greentls._config import options
    from greentls._net import securepair
    from greentls._tls import wrap
    return {"context": options.CONTEXT_OPTIONS, "server": options.SERVER_OPTIONS,
            "connect": options.CONNECT_OPTIONS, "wsgi": wsgi._WSGI_OPTIONS,
            "wrap_socket": wrap._SOCKET_OPTIONS, "secure_pair": securepair._PAIR_OPTIONS}


def accepted(table: str) -> frozenset[str]:
    """The table's rows the code accepts: all of them, but for rows of options still being added."""
    rows = frozenset(optiontable.TABLES[table])
    return rows - (PENDING.get(table, frozenset()) - code_sets()[table])


def test_table_and_option_sets_agree():
    """Every option the code checks for has a row, and every row is an option of the code."""
    sets = code_sets()
    assert set(sets) == set(optiontable.TABLES) == set(optiontable.TITLES)
    for table, names in sets.items():
        rows = set(optiontable.TABLES[table])
        assert names - rows == set(), f"{table}: options without a row"
        assert rows - names <= PENDING.get(table, frozenset()), f"{table}: rows of no option"


def test_rows_are_complete():
    """Each row names its option and has a type, default, meaning and Node spelling."""
    for table, rows in optiontable.TABLES.items():
        for name, row in rows.items():
            assert row.name == name
            assert all(isinstance(field, str) and field.strip() for field in row), (table, name)


def test_defaults_in_the_table_are_the_codes():
    """The defaults the table shows are the ones the code uses."""
    from greentls.wsgi import HTTPLimits
    context = optiontable.CONTEXT
    assert repr(Defaults.min_version) in context["min_version"].default
    assert repr(Defaults.max_version) in context["max_version"].default
    assert repr(Defaults.ecdh_curve) in context["ecdh_curve"].default
    limits = HTTPLimits()
    for name in ("request_timeout", "keep_alive_timeout", "headers_timeout"):
        assert optiontable.WSGI[name].default.startswith(f"``{getattr(limits, name)!r}``"), name
    server = greentls.create_server(None)
    assert optiontable.SERVER["handshake_timeout"].default == f"``{server.handshake_timeout!r}``"


ENTRY_POINTS = {
    "create_secure_context": ("context",),
    "create_server": ("context", "server"),
    "connect": ("context", "connect"),
    "wrap_socket": ("context", "wrap_socket"),
    "WSGIServer": ("context", "server", "wsgi"),
}


def call(entry_point: str, **options: object) -> None:
    if entry_point == "create_server":
        greentls.create_server(None, **options)
    elif entry_point == "WSGIServer":
        greentls.wsgi.WSGIServer(("127.0.0.1", 0), lambda environ, start_response: [], **options)
    elif entry_point == "wrap_socket":
        greentls.wrap_socket(None, **options)
    else:
        getattr(greentls, entry_point)(**options)


def unknown_option_error(entry_point: str, name: str) -> str:
    with pytest.raises(TypeError) as raised:
        call(entry_point, **{name: 1})
    return str(raised.value)


@pytest.mark.parametrize("entry_point", sorted(ENTRY_POINTS))
def test_unknown_option_error_lists_the_table(entry_point):
    """An unknown option's error lists exactly the rows of the entry point's tables."""
    message = unknown_option_error(entry_point, "certfile")
    assert f"{entry_point}() got an unexpected option 'certfile' (did you mean 'cert'?)" in message
    listed = message.split("valid options: ", 1)[1].split(", ")
    expected = sorted(set().union(*(accepted(table) for table in ENTRY_POINTS[entry_point])))
    assert listed == expected


def error_of(function, *args, **kwargs) -> str:
    """The message of what ``function`` raises ("" when it returns)."""
    try:
        function(*args, **kwargs)
    except Exception as exc:  # a wrong value is fine here; the callers look for unknown names
        return str(exc)
    return ""


@pytest.mark.parametrize("entry_point", sorted(ENTRY_POINTS))
def test_every_row_is_accepted(entry_point):
    """Every option of the entry point's tables gets past the unknown-option check."""
    for table in ENTRY_POINTS[entry_point]:
        for name in sorted(accepted(table)):
            message = error_of(call, entry_point, **{name: object()})
            assert "unexpected option" not in message, (table, name, message)


def test_secure_pair_rows_are_accepted():
    """create_secure_pair's options dict takes every row of its table, and refuses others."""
    import warnings
    for name in sorted(accepted("secure_pair")):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            message = error_of(greentls.create_secure_pair, None, False, False, False, {name: None})
        assert "unexpected option" not in message, name
    with warnings.catch_warnings(), pytest.raises(TypeError, match="unexpected option 'bogus'"):
        warnings.simplefilter("ignore", DeprecationWarning)
        greentls.create_secure_pair(None, False, False, False, {"bogus": 1})


# -- the documentation -------------------------------------------------------------------------

def rst_files() -> list[Path]:
    return sorted(p for p in DOCS.rglob("*.rst") if "_build" not in p.parts)


def test_every_table_is_rendered_once():
    """docs/api/options.rst renders each table once, under the heading of the table's title."""
    text = (DOCS / "api" / "options.rst").read_text(encoding="utf-8")
    directives = re.findall(r"^\.\. greentls-options:: (\S+)$", text, re.M)
    assert sorted(directives) == sorted(optiontable.TABLES)
    for table, title in optiontable.TITLES.items():
        assert f"\n{title}\n{'-' * len(title)}\n\n.. greentls-options:: {table}\n" in text


def test_every_opt_reference_names_a_row():
    """Each :opt: in the docs and in the table points at a row (the build warns too)."""
    texts = [p.read_text(encoding="utf-8") for p in rst_files()]
    texts += [field for rows in optiontable.TABLES.values() for row in rows.values() for field in row]
    all_names = {name for rows in optiontable.TABLES.values() for name in rows}
    found = 0
    for text in texts:
        for target in re.findall(r":opt:`(?:[^`<]*<)?([^`>]+)>?`", text):
            found += 1
            table, _, name = target.rpartition(".")
            if table:
                assert name in optiontable.TABLES[table], target
            else:
                assert name in all_names, target
    assert found > 20


# -- docstrings --------------------------------------------------------------------------------

def test_option_docs_is_plain_text():
    """The docstring form of the table has no reStructuredText markup left."""
    text = optiontable.option_docs(*optiontable.TABLES)
    assert "``" not in text and not re.search(r":[a-z]+:`", text)
    for rows in optiontable.TABLES.values():
        for name in rows:
            assert f"\n    {name} (" in text
    assert all(len(line) <= 88 for line in text.splitlines() if not line.startswith("    ") or
               line.startswith("        "))


def test_add_option_docs_appends_once_per_call():
    """add_option_docs appends the heading and the tables to a docstring, and leaves None alone."""
    def documented():
        """Do a thing.

        More about it.
        """

    def bare():
        pass

    assert optiontable.add_option_docs(documented, "context") is documented
    assert documented.__doc__.startswith("Do a thing.\n\nMore about it.\n\nOptions (keyword arguments):")
    assert "Context options:\n    allow_partial_trust_chain (" in documented.__doc__
    assert "\n    ca (" in documented.__doc__
    assert optiontable.add_option_docs(bare, "context").__doc__ is None


PYDOC = {
    greentls.create_server: ("context", "server"),
    greentls.create_secure_context: ("context",),
    greentls.connect: ("context", "connect"),
}


@pytest.mark.parametrize("function", list(PYDOC), ids=lambda f: f.__name__)
def test_pydoc_lists_the_options(function):
    """`pydoc greentls.create_server` (and connect, create_secure_context) lists every option."""
    text = pydoc.render_doc(function, renderer=pydoc.plaintext)
    assert optiontable.OPTIONS_HEADING in text, "the option list is not in the docstring"
    for table in PYDOC[function]:
        assert f"{optiontable.TITLES[table]}:" in text
        for name, row in optiontable.TABLES[table].items():
            assert f"    {name} ({optiontable.plain(row.type)}; default:" in text, name
