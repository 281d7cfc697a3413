"""An in-process hub app with a fixed clock, the host box1 that feeds it, and posts to it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from os import PathLike
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from api.app import create_app
from api.hub.receive import HUB
from api.hub.settings import HubSettings
from api.lab.settings import LabSettings
from api.settings import ApiSettings
from scheduler.settings import Settings
from store import hub as hubstore
from store import open_db
from store.db import Connection

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
    return {
        "GPUPULSE_DB": str(db),
        "GPUPULSE_TZ": TZ,
        "GPUPULSE_HOST_ID": HOST,
        "GPUPULSE_HEARTBEAT": str(tmp / "heartbeat"),
        "GPUPULSE_CONTRACT_NUMBER": "C-7",
        "GPUPULSE_PUSH_TIMEOUT": "5",
        **extra,
    }


def make_hub(db: Path, now: float = NOW, lab: LabSettings | None = None, **hub) -> Flask:
    """An in-process hub app whose clock says `now`, with hub settings `hub`."""
    app = create_app(
        ApiSettings(
            db=str(db), tz=ZoneInfo(TZ), clock=lambda: now, features={"lab": lab or LabSettings()}
        )
    )
    app.extensions[HUB].settings = HubSettings(**{"rate": 1000.0, "address_rate": 1000.0, **hub})
    return app


def new_token(db: str | PathLike[str], name: str = HOST) -> str:
    """Register a host on the hub database and return its token."""
    conn = open_db(db, write=True)
    try:
        return hubstore.add_host(conn, name, NOW)
    finally:
        conn.close()


def post(
    client: FlaskClient, path: str, body: Any, token: str | None, **headers: str
) -> TestResponse:
    """POST JSON (a dict, or raw bytes) with a bearer token."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return client.post(path, data=data, headers={"Content-Type": "application/json", **headers})


def as_host(body: bytes, name: str) -> dict:
    """The same hour as if another host had sent it (its own name and GPU UUIDs)."""
    payload = json.loads(body)
    if name != payload["host"]:
        payload["host"] = name
        for gpu in payload["gpus"]:
            gpu["device_id"] = f"{name}-{gpu['device_id']}"
    return payload


def ingest(
    client: FlaskClient, fleet: Fleet, token: str, hours: list[int], name: str = HOST
) -> None:
    """Post `hours` of `fleet` to the hub as host `name`; each must be accepted."""
    for hour in hours:
        answer = post(client, "/api/v1/ingest", as_host(fleet.body(hour), name), token)
        assert answer.status_code == 200, answer.get_json()
