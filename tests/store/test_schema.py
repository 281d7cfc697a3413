"""Schema versioning: migrations from every earlier version, and refusing mismatches."""

from __future__ import annotations

import pytest

from store import SCHEMA_VERSION, SchemaMismatch, check_schema, migrate, open_db
from store.db import StoreError, check_sqlite_version, has_wal_reset_fix, sqlite_connection
from store.schema import MIGRATIONS, current_version


def _schema(conn) -> list[tuple]:
    return conn.execute(
        "SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY name"
    ).fetchall()


@pytest.mark.parametrize("start", range(len(MIGRATIONS) + 1))
def test_migrates_from_every_earlier_version(tmp_path, start):
    fresh = sqlite_connection(tmp_path / "fresh.db", write=True)
    migrate(fresh)
    old = sqlite_connection(tmp_path / f"v{start}.db", write=True)
    migrate(old, target=start)
    assert current_version(old) == start
    assert migrate(old) == SCHEMA_VERSION
    assert _schema(old) == _schema(fresh)


def test_migrate_is_idempotent(conn):
    before = _schema(conn)
    assert migrate(conn) == SCHEMA_VERSION
    assert _schema(conn) == before


def test_readers_refuse_older_and_newer_schemas(tmp_path):
    path = tmp_path / "old.db"
    conn = sqlite_connection(path, write=True)
    migrate(conn, target=SCHEMA_VERSION - 1)
    with pytest.raises(SchemaMismatch, match=r"older.*start the collector"):
        open_db(path)
    migrate(conn)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(SchemaMismatch, match="newer"):
        check_schema(conn)
    with pytest.raises(SchemaMismatch, match="newer"):
        migrate(conn)


def test_connections_use_wal_busy_timeout_and_read_only(db_path):
    writer = open_db(db_path, write=True)
    assert writer.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert writer.execute("PRAGMA busy_timeout").fetchone()[0] >= 5000
    assert writer.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    assert writer.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    reader = open_db(db_path)
    with pytest.raises(Exception, match=r"readonly"):
        reader.execute("INSERT INTO meta VALUES ('k', 'v')")


def test_reader_on_missing_file_says_what_to_do(tmp_path):
    with pytest.raises(StoreError, match="start the collector"):
        open_db(tmp_path / "nope.db")


@pytest.mark.parametrize(
    ("version", "fixed"),
    [
        ("3.40.1", False),
        ("3.44.5", False),
        ("3.44.6", True),
        ("3.45.0", False),
        ("3.50.7", True),
        ("3.51.2", False),
        ("3.51.3", True),
        ("3.53.4", True),
    ],
)
def test_wal_reset_fix_detection(version, fixed):
    assert has_wal_reset_fix(version) is fixed


def test_start_up_check_refuses_debian_sqlite():
    with pytest.raises(StoreError, match=r"3\.40\.1 has the WAL-reset"):
        check_sqlite_version("3.40.1")
    assert check_sqlite_version() >= "3.51.3"
