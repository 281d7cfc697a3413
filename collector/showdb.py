"""`collector --show-db`: daily activity from the database as a table, JSON or CSV."""

from __future__ import annotations

import csv
import io
import json
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from zoneinfo import ZoneInfo

from store import open_db
from store.aggregate import compute_daily, dates, day_of
from store.db import Connection, Error, StoreError
from store.rollups import HOST
from store.schema import SchemaMismatch

COLUMNS = ("day", "active_minutes", "gpu_hours", "peak_utilization", "avg_utilization")


def show_db(
    db: str,
    tz: ZoneInfo,
    threshold: float,
    *,
    gpu: int | None = None,
    days: int = 7,
    fmt: str = "table",
    clock: Callable[[], float] = time.time,
    out: Callable[[str], None] = print,
) -> int:
    """Print one row per day for the last `days` days (the whole host, or GPU index `gpu`)."""
    try:
        conn = open_db(db)
    except (StoreError, SchemaMismatch, Error) as exc:
        print(f"collector: {exc}", file=sys.stderr)
        return 1
    try:
        gpu_id = HOST if gpu is None else gpu_row_id(conn, gpu)
        if gpu_id is None:
            print(f"collector: --gpu {gpu}: no GPU with that index in {db}", file=sys.stderr)
            return 1
        rows = day_rows(conn, gpu_id, days, clock(), tz, threshold)
    finally:
        conn.close()
    out(render(rows, fmt, title=f"GPU {gpu}" if gpu is not None else "whole host"))
    return 0


def gpu_row_id(conn: Connection, index: int) -> int | None:
    """The gpus.id of the GPU with this index (the most recently seen one)."""
    row = conn.execute(
        "SELECT id FROM gpus WHERE idx = ? ORDER BY last_seen DESC LIMIT 1", (index,)
    ).fetchone()
    return None if row is None else row[0]


def day_rows(
    conn: Connection, gpu_id: int, days: int, now: float, tz: ZoneInfo, threshold: float
) -> list[dict]:
    """Each day of the window, oldest first, computed from the raw samples.

    The same function the scheduler uses for its `daily` table, so the numbers agree,
    and --show-db works before the scheduler has rolled anything up.
    """
    today = day_of(now, tz)
    first = today - timedelta(days=days - 1)
    rows = compute_daily(conn, first, today, tz, threshold, gpu_id)
    found = {r["day"]: r for r in rows}
    return [summary(d.isoformat(), found.get(d.isoformat())) for d in dates(first, today)]


def summary(day: str, row: dict | None) -> dict:
    """The columns shown for one day; a day without samples shows no activity."""
    if row is None:
        return {
            "day": day,
            "active_minutes": 0.0,
            "gpu_hours": 0.0,
            "peak_utilization": None,
            "avg_utilization": None,
        }
    avg = row["avg_utilization"]
    return {
        "day": day,
        "active_minutes": round(row["active_minutes"], 1),
        "gpu_hours": round(row["gpu_minutes"] / 60, 2),
        "peak_utilization": row["peak_utilization"],
        "avg_utilization": None if avg is None else round(avg, 1),
    }


def render(rows: list[dict], fmt: str, title: str) -> str:
    """The rows as an aligned table, a JSON array or CSV with a header."""
    if fmt == "json":
        return json.dumps(rows, indent=2)
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return buf.getvalue().rstrip("\n")
    header = ("day", "active min", "GPU-hours", "peak util %", "avg util %")
    cells = [header] + [tuple("-" if r[c] is None else str(r[c]) for c in COLUMNS) for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = [f"Daily activity, {title}"]
    lines += ["  ".join(v.rjust(w) for v, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(lines)
