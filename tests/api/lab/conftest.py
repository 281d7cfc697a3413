"""Fixtures for lab tests: the seeded database and a test client over it."""

from __future__ import annotations

import pytest

from tests.support.lab import lab_app, seed
from tests.support.rollups import record_and_roll_up


@pytest.fixture
def seeded(conn, db_path):
    """The seeded database's path."""
    seed(conn)
    return db_path


@pytest.fixture
def lab_client(seeded):
    """A test client over the seeded database."""
    return lab_app(seeded).test_client()


@pytest.fixture
def rolled(request, conn, db_path):
    """The test module's `ticks()` written and rolled up by the scheduler at its `NOW`."""
    record_and_roll_up(conn, db_path, request.module.ticks(), request.module.NOW)
    return db_path
