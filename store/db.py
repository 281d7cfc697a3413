"""Connections to the shared SQLite file, all set up the same way."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

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


class StoreError(RuntimeError):
    """A problem with the database that a person has to fix; the message says what."""


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


def connect(path: str | os.PathLike[str], *, readonly: bool = False) -> Connection:
    """Open the database with WAL, a busy timeout, NORMAL sync and foreign keys."""
    check_sqlite_version()
    path = Path(path)
    if not readonly:
        path.parent.mkdir(parents=True, exist_ok=True)
    elif not path.exists():
        raise StoreError(f"database {path} does not exist yet; start the collector first")
    # isolation_level=None: we issue BEGIN IMMEDIATE ourselves (see write()).
    conn = sqlite3.connect(
        str(path), timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
    )
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    if not readonly:
        conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA foreign_keys = ON")
    if readonly:
        conn.execute("PRAGMA query_only = ON")
    return conn


@contextmanager
def write(conn: Connection) -> Iterator[Connection]:
    """Run the block in a BEGIN IMMEDIATE transaction; commit, or roll back on error."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def open_writer(path: str | os.PathLike[str]) -> Connection:
    """Open for writing and bring the schema up to date (the collector does this)."""
    from store.schema import migrate

    conn = connect(path)
    migrate(conn)
    return conn


def open_reader(path: str | os.PathLike[str], *, readonly: bool = True) -> Connection:
    """Open and check the schema version without migrating (scheduler, api)."""
    from store.schema import check_schema

    conn = connect(path, readonly=readonly)
    check_schema(conn)
    return conn
