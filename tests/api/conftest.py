"""Fixtures for api tests: an app over a real database file with a fixed clock."""

from __future__ import annotations

import pytest

from tests.support.app import make_app


@pytest.fixture
def client(db_path):
    """A Flask test client over the empty migrated database."""
    return make_app(db_path).test_client()
