"""Ticks written the collector's way and rolled up by the real scheduler job."""

from __future__ import annotations

from pathlib import Path

from scheduler import rollup
from scheduler.settings import load
from store.db import Connection
from store.samples import Recorder, Tick, set_meta


def record_and_roll_up(
    conn: Connection, db_path: Path, ticks: list[Tick], now: float, host: str = "labbox"
) -> None:
    """Write `ticks` through the recorder, name the host, and run the roll-up job at `now`."""
    Recorder(conn).write(ticks)
    set_meta(conn, [("host_id", host)])
    env = {"GPUPULSE_DB": str(db_path), "GPUPULSE_HEARTBEAT": str(db_path.parent / "hb")}
    rollup.run(conn, load(env), now)
