"""Fixtures shared by every test package: a real SQLite file in a temp directory."""

from __future__ import annotations

import pytest

from store import open_db

pytest_plugins = ["tests.support.nvml.fixtures"]


@pytest.fixture
def db_path(tmp_path):
    """Path of a migrated, empty database file."""
    path = tmp_path / "pulse.db"
    open_db(path, migrate=True).close()
    return path


@pytest.fixture
def conn(db_path):
    """A writer connection to `db_path` (closed after the test)."""
    connection = open_db(db_path, write=True)
    yield connection
    connection.close()
