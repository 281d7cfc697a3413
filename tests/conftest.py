"""Fixtures shared by every test package: a real SQLite file in a temp directory."""

from __future__ import annotations

import pytest

from store import open_writer

pytest_plugins = ["tests.support.nvml.fixtures"]


@pytest.fixture
def db_path(tmp_path):
    """Path of a migrated, empty database file."""
    path = tmp_path / "pulse.db"
    open_writer(path).close()
    return path


@pytest.fixture
def conn(db_path):
    """A writer connection to `db_path` (closed after the test)."""
    connection = open_writer(db_path)
    yield connection
    connection.close()
