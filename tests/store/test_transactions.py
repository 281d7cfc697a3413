"""store.atomic nests (a savepoint inside a transaction), and writers refuse to run outside one."""

from __future__ import annotations

import pytest

from store import TransactionRequired, atomic, open_db, require_transaction
from store.reservations import prune
from store.samples import add_event


def events(conn) -> list[str]:
    """The details of the events table, in insertion order."""
    return [d for (d,) in conn.execute("SELECT detail FROM events ORDER BY id")]


def add(conn, detail: str) -> None:
    """One event row, written inside the caller's transaction."""
    add_event(conn, 0, "test", None, detail)


def test_nested_levels_commit_once_at_the_outermost(conn, db_path):
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    other = open_db(db_path)
    with atomic(conn):
        add(conn, "outer")
        with atomic(conn):
            add(conn, "inner")
        assert events(other) == []  # nothing is committed before the outer level ends
    conn.set_trace_callback(None)
    assert events(other) == ["outer", "inner"]
    control = [s.split()[0] for s in statements if not s.startswith("INSERT")]
    assert control[0] == "BEGIN" and control.count("COMMIT") == 1 and control[-1] == "COMMIT"
    assert [s.split()[0] for s in statements if s.startswith(("SAVEPOINT", "RELEASE"))] == [
        "SAVEPOINT",
        "RELEASE",
    ]
    other.close()


def test_a_caught_inner_failure_undoes_only_the_inner_level(conn):
    with atomic(conn):
        add(conn, "kept")
        with pytest.raises(ValueError), atomic(conn):
            add(conn, "undone")
            raise ValueError("inner")
        add(conn, "after")
    assert events(conn) == ["kept", "after"]
    assert not conn.in_transaction


@pytest.mark.parametrize("fails", ["outer", "inner"])
def test_a_failure_reaching_the_outer_level_undoes_everything(conn, fails):
    with pytest.raises(ValueError), atomic(conn):
        add(conn, "outer")
        with atomic(conn):
            add(conn, "inner")
            if fails == "inner":
                raise ValueError("inner, not caught")
        raise ValueError("outer")
    assert events(conn) == []
    assert not conn.in_transaction
    with atomic(conn):  # the connection is usable again: a fresh transaction, not a savepoint
        add(conn, "next")
    assert events(conn) == ["next"]


def test_a_function_that_must_run_inside_a_transaction_refuses_to_run_outside(conn):
    with pytest.raises(TransactionRequired, match=r"add_event\(\) .* inside store\.atomic"):
        add(conn, "alone")
    with pytest.raises(TransactionRequired, match=r"prune\(\)"):
        prune(conn, 0)
    assert events(conn) == []
    with atomic(conn):
        require_transaction(conn)  # inside: no error
        add(conn, "inside")
    assert events(conn) == ["inside"]
