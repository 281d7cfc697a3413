"""Hub fixtures: a host database with two generated, rolled-up days, and an empty hub one."""

from __future__ import annotations

from pathlib import Path

import pytest

from scheduler import rollup
from scheduler.settings import load
from store import open_db
from store.samples import set_meta
from tests.support.fleet import add_gpus, generate, insert
from tests.support.hub import DAYS, HOST, NOW, START, Fleet, scheduler_env


@pytest.fixture
def fleet(tmp_path) -> Fleet:
    """Four GPUs, two days at 60 s ticks with processes of three users, rolled up."""
    path = tmp_path / "host.db"
    conn = open_db(path, migrate=True)
    gpus = add_gpus(conn, 4)
    samples, procs = generate(
        gpus, START, START + DAYS * 86400, 60, seed=8, gap=(START + 30000, START + 34000)
    )
    insert(conn, samples, procs)
    set_meta(conn, [("host_id", HOST), ("interval", "60")])
    settings = load(scheduler_env(path, tmp_path))
    rollup.run(conn, settings, NOW)
    yield Fleet(path, conn, settings)
    conn.close()


@pytest.fixture
def hub_db(tmp_path) -> Path:
    """An empty, migrated hub database file."""
    path = tmp_path / "hub.db"
    open_db(path, migrate=True).close()
    return path
