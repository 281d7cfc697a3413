"""Fixtures for lab tests: the seeded database and a test client over it."""

from __future__ import annotations

import pytest

from tests.support.lab import lab_app, seed


@pytest.fixture
def seeded(conn, db_path):
    """The seeded database's path."""
    seed(conn)
    return db_path


@pytest.fixture
def lab_client(seeded):
    """A test client over the seeded database."""
    return lab_app(seeded).test_client()
