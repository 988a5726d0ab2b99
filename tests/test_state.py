"""The engine's state table, and the record path's inline checks that must agree with it."""
from __future__ import annotations

import pytest

from greentls._engine.state import ALLOWED, TRANSITIONS, State, advance


def test_record_path_sets_are_the_tables():
    """TLSEngine.read/read_into test OPEN or CLOSING inline, write tests OPEN: the table says so."""
    assert ALLOWED["read"] == {State.OPEN, State.CLOSING}
    assert ALLOWED["write"] == {State.OPEN}


def test_broken_and_closed_are_final():
    for final in (State.BROKEN, State.CLOSED):
        assert TRANSITIONS[final] == frozenset()
        assert advance(final, final) is final
    with pytest.raises(OSError) as refused:
        advance(State.CLOSED, State.OPEN)
    assert refused.value.code == "ERR_TLS_INTERNAL"
