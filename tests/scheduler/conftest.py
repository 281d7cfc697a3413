"""Scheduler test fixtures: settings for a temp database."""

from __future__ import annotations

import pytest

from scheduler.settings import load


@pytest.fixture
def settings(db_path, tmp_path):
    """Settings over the migrated temp database, Berlin days, fast push timings."""
    env = {
        "GPUPULSE_DB": str(db_path),
        "GPUPULSE_TZ": "Europe/Berlin",
        "GPUPULSE_HEARTBEAT": str(tmp_path / "heartbeat"),
        "GPUPULSE_HOST_ID": "host-a",
        "GPUPULSE_CONTRACT_NUMBER": "C-42",
        "GPUPULSE_PUSH_TIMEOUT": "0.5",
    }
    return load(env)
