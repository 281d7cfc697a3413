"""The API app in-process over a real database file, with a clock fixed at NOW."""

from __future__ import annotations

from datetime import UTC, datetime
from os import PathLike
from zoneinfo import ZoneInfo

from flask import Flask

from api.app import create_app
from api.settings import ApiSettings

# Wednesday, 4 March 2026, 15:00 UTC: the "now" of every in-process test.
NOW = datetime(2026, 3, 4, 15, 0, tzinfo=UTC).timestamp()


def make_app(db_path: str | PathLike[str], now: float = NOW, tz: str = "UTC", **extra) -> Flask:
    """An app over `db_path` whose clock always says `now`."""
    settings = ApiSettings(db=str(db_path), tz=ZoneInfo(tz), clock=lambda: now, **extra)
    return create_app(settings)
