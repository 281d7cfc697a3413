"""Connections to the shared SQLite file, all set up the same way, and their transactions.

This is the bottom layer of the store: it knows nothing of the schema. Services open the
database through `store.open_db` (store/database.py), which adds the file and schema checks.
"""

from __future__ import annotations

import itertools
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import quote

from pysqlite3 import dbapi2 as sqlite3

# SQLite before 3.51.3 can corrupt a WAL database when two processes write and one
# resets the WAL; 3.44.6 and 3.50.7 carry the backported fix.
FIXED_RELEASES = ((3, 44, 6), (3, 50, 7), (3, 51, 3))
BUSY_TIMEOUT_MS = 10_000

Connection = sqlite3.Connection
Cursor = sqlite3.Cursor
Error = sqlite3.Error
OperationalError = sqlite3.OperationalError
IntegrityError = sqlite3.IntegrityError

# Savepoint names only have to differ from those of the levels around them; one counter
# for the whole process keeps them apart without any state on the connection.
_SAVEPOINTS = itertools.count(1)


class StoreError(RuntimeError):
    """A problem with the database that a person has to fix; the message says what."""


class TransactionRequired(RuntimeError):
    """A function that writes was called outside `atomic()`: a bug in its caller."""


def parse_version(text: str) -> tuple[int, int, int]:
    """Turn '3.53.4' into (3, 53, 4)."""
    major, minor, patch = ([int(p) for p in text.split(".")[:3]] + [0, 0])[:3]
    return major, minor, patch


def has_wal_reset_fix(version: str) -> bool:
    """True when this SQLite release carries the WAL-reset corruption fix."""
    v = parse_version(version)
    return any(v >= fixed and v[:2] == fixed[:2] for fixed in FIXED_RELEASES) or v >= (3, 51, 3)


def check_sqlite_version(version: str = sqlite3.sqlite_version) -> str:
    """Refuse to run on a SQLite with the WAL-reset bug; return the version."""
    if not has_wal_reset_fix(version):
        raise StoreError(
            f"SQLite {version} has the WAL-reset corruption bug; install the pysqlite3 "
            "wheel (bundles SQLite >= 3.51.3) instead of the system library"
        )
    return version


def sqlite_connection(
    path: str | os.PathLike[str], *, write: bool = False, create: bool = True
) -> Connection:
    """A connection with the shared settings and no file or schema checks (open_db adds them).

    Writers get WAL, so readers never wait for them; every connection gets the busy timeout,
    NORMAL sync and foreign keys; a reader is query_only, so a bug cannot write through it.
    Without `create`, SQLite itself refuses a file that does not exist.
    """
    # isolation_level=None: atomic() issues BEGIN IMMEDIATE itself.
    conn = sqlite3.connect(
        os.fspath(path) if create else f"file:{quote(os.fspath(path))}?mode=rw",
        timeout=BUSY_TIMEOUT_MS / 1000,
        isolation_level=None,
        check_same_thread=False,
        uri=not create,
    )
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    if write:
        conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA foreign_keys = ON")
    if not write:
        conn.execute("PRAGMA query_only = ON")
    return conn


@contextmanager
def atomic(conn: Connection) -> Iterator[Connection]:
    """Run the block as one transaction, or as a savepoint inside the caller's.

    The outermost level takes the write lock at once (BEGIN IMMEDIATE), so a writer waits
    for the lock up front instead of failing half-way; an inner level can be undone alone.
    """
    if not conn.in_transaction:
        with _transaction(conn):
            yield conn
        return
    name = f"sp_{next(_SAVEPOINTS)}"
    conn.execute(f"SAVEPOINT {name}")
    try:
        yield conn
    except BaseException:
        if conn.in_transaction:  # SQLite may have rolled everything back already
            conn.execute(f"ROLLBACK TO {name}")
            conn.execute(f"RELEASE {name}")
        raise
    conn.execute(f"RELEASE {name}")


@contextmanager
def _transaction(conn: Connection) -> Iterator[None]:
    """BEGIN IMMEDIATE ... COMMIT, rolled back on any exception, a failed COMMIT included."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        # A transaction left open would turn every later atomic() into a savepoint of it,
        # and nothing would ever be committed again.
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def require_transaction(conn: Connection) -> None:
    """Raise TransactionRequired unless the caller runs inside atomic() (or a BEGIN)."""
    if not conn.in_transaction:
        caller = sys._getframe(1).f_code.co_qualname
        raise TransactionRequired(
            f"{caller}() writes and must run inside store.atomic(conn), so that its rows "
            "are committed together with the caller's"
        )


def dict_rows(cursor: Cursor) -> list[dict]:
    """A query's rows as dicts keyed by column name (or alias)."""
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor]
