"""`--show-collection`: latest samples, an hour's aggregate, or the samples nearest a time."""

from __future__ import annotations

import csv
import io
import json

from protocol.timeparse import Moment, iso
from scheduler.outbox import gpu_entries
from store.db import Connection

MIB = 1024 * 1024

RAW_SQL = """
SELECT g.uuid, g.pci_bus_id, g.name, s.temp_c, s.mem_used_mib, g.memory_total_mib, s.util,
       s.mem_util, s.power_dw, s.fan_pct, s.sm_mhz, s.mem_mhz, s.active_ms, s.tick_ms
FROM samples s JOIN gpus g ON g.id = s.gpu WHERE s.ts = ? ORDER BY g.idx, g.id
"""


def collection(conn: Connection, moment: Moment | None) -> list[dict]:
    """Targoman's shape: [{"timestamp", "gpus": [...]}]; [] when nothing is stored there."""
    if moment is not None and moment.is_hour:
        gpus = gpu_entries(conn, moment.ts)
        return [{"timestamp": iso(moment.ts), "gpus": gpus}] if gpus else []
    ts = _nearest_ts(conn, None if moment is None else moment.ts)
    if ts is None:
        return []
    return [{"timestamp": iso(ts), "gpus": [_raw(r) for r in conn.execute(RAW_SQL, (ts,))]}]


def _nearest_ts(conn: Connection, target: int | None) -> int | None:
    if target is None:
        return conn.execute("SELECT max(ts) FROM samples").fetchone()[0]
    before = conn.execute("SELECT max(ts) FROM samples WHERE ts <= ?", (target,)).fetchone()[0]
    after = conn.execute("SELECT min(ts) FROM samples WHERE ts >= ?", (target,)).fetchone()[0]
    found = [t for t in (before, after) if t is not None]
    return min(found, key=lambda t: abs(t - target)) if found else None


def _raw(r: tuple) -> dict:
    """One sample with Targoman's live keys (memory in bytes, power in watts)."""
    uuid, bus, name, temp, used, total, util, mem_util, power, fan, sm, memclk, act, tick = r
    return {
        "uid": uuid,
        "pci_bus_id": bus,
        "name": name,
        "temperature": temp,
        "memory_used": None if used is None else used * MIB,
        "memory_total": None if total is None else total * MIB,
        "gpu_utilization": util,
        "memory_utilization": mem_util,
        "power_usage": None if power is None else power / 10,
        "fan_speed": fan,
        "graphics_clock": sm,
        "memory_clock": memclk,
        "active_seconds": None if act is None else act / 1000,
        "tick_seconds": tick / 1000,
    }


def render(data: list[dict], fmt: str) -> str:
    """JSON (indented) or CSV with one row per GPU and a timestamp column."""
    if fmt == "json":
        return json.dumps(data, indent=2)
    rows = [{"timestamp": entry["timestamp"], **gpu} for entry in data for gpu in entry["gpus"]]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]) if rows else ["timestamp"])
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().rstrip("\n")
