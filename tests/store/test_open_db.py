"""store.open_db: only the collector's migrate=True creates a database; the rest check it."""

from __future__ import annotations

import pytest

from store import open_db
from store.db import StoreError


def test_a_writer_without_migrate_neither_creates_the_file_nor_its_folder(tmp_path):
    path = tmp_path / "new" / "pulse.db"
    with pytest.raises(StoreError, match="start the collector first"):
        open_db(path, write=True)
    assert not path.parent.exists()


def test_migrate_creates_the_folder_and_a_current_database(tmp_path):
    path = tmp_path / "new" / "pulse.db"
    conn = open_db(path, migrate=True)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()
    reader = open_db(path)  # the reader's schema check passes
    assert reader.execute("PRAGMA query_only").fetchone()[0] == 1
    reader.close()


def test_a_writer_is_not_query_only(db_path):
    conn = open_db(db_path, write=True)
    assert conn.execute("PRAGMA query_only").fetchone()[0] == 0
    conn.execute("INSERT INTO meta VALUES ('k', 'v')")
    conn.close()
