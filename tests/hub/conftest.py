"""Hub test fixtures: a host database with two days of generated, rolled-up data and its
queued payloads, an empty hub database, and helpers to post to a hub."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from api.app import create_app
from api.hub.receive import HUB
from api.hub.settings import HubSettings
from api.lab.settings import LabSettings
from api.settings import ApiSettings
from scheduler import rollup
from scheduler.settings import Settings, load
from store import hub as hubstore
from store import open_db
from store.db import Connection
from store.samples import set_meta
from tests.scheduler.fleet import add_gpus, generate, insert

TZ = "Europe/Berlin"
START = int(datetime(2026, 3, 1, tzinfo=UTC).timestamp())
DAYS = 2
NOW = START + DAYS * 86400 + 2 * 3600  # every generated hour is complete and queued
HOST = "box1"


@dataclass
class Fleet:
    """A host's database (rolled up, payloads queued) and its scheduler settings."""

    path: Path
    conn: Connection
    settings: Settings

    def hours(self) -> list[int]:
        """The queued hours, oldest first."""
        return [h for (h,) in self.conn.execute("SELECT hour FROM push_queue ORDER BY hour")]

    def body(self, hour: int) -> bytes:
        """The frozen payload of one hour, as the scheduler sends it."""
        row = self.conn.execute("SELECT payload FROM push_queue WHERE hour = ?", (hour,))
        return row.fetchone()[0].encode()


def scheduler_env(db: Path, tmp: Path, **extra: str) -> dict[str, str]:
    """Scheduler settings over `db` for host box1 in Berlin."""
    return {"GPUPULSE_DB": str(db), "GPUPULSE_TZ": TZ, "GPUPULSE_HOST_ID": HOST,
            "GPUPULSE_HEARTBEAT": str(tmp / "heartbeat"), "GPUPULSE_CONTRACT_NUMBER": "C-7",
            "GPUPULSE_PUSH_TIMEOUT": "5", **extra}  # fmt: skip


@pytest.fixture
def fleet(tmp_path) -> Fleet:
    """Four GPUs, two days at 60 s ticks with processes of three users, rolled up."""
    path = tmp_path / "host.db"
    conn = open_db(path, migrate=True)
    gpus = add_gpus(conn, 4)
    samples, procs = generate(gpus, START, START + DAYS * 86400, 60, seed=8,
                              gap=(START + 30000, START + 34000))  # fmt: skip
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


def make_hub(db: Path, now: float = NOW, lab: LabSettings | None = None, **hub) -> object:
    """An in-process hub app whose clock says `now`, with hub settings `hub`."""
    app = create_app(ApiSettings(db=str(db), tz=ZoneInfo(TZ), clock=lambda: now,
                                 lab=lab or LabSettings()))  # fmt: skip
    app.extensions[HUB].settings = HubSettings(**{"rate": 1000.0, **hub})
    return app


def new_token(db: Path, name: str = HOST) -> str:
    """Register a host on the hub database and return its token."""
    conn = open_db(db, write=True)
    try:
        return hubstore.add_host(conn, name, NOW)
    finally:
        conn.close()


def post(client, path: str, body, token: str | None, **headers):
    """POST JSON (a dict, or raw bytes) with a bearer token."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return client.post(path, data=data, headers={"Content-Type": "application/json", **headers})
