"""GPU time per workload (container, pod, Slurm job, unit: `processes.workload`) and user, per
local day: the scheduler's `workload_daily` roll-up and the usage query over it.

A process's GPU time is its share by the roll-ups' own per-user rule (store.aggregate's
booked statement, grouped by workload and user instead of by user); processes the collector
found no workload for count under '' ("no workload"), the idle runner's are left out as in
people's usage. The host (gpu 0) rows add the GPUs'.
"""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

from store.aggregate import CHUNK_S, booked_rows_sql, day_buckets
from store.db import Connection, dict_rows
from store.rollups import HOST
from store.tick_sql import IDLE_LABEL, user_of
from store.usage import Span

SEP = "\x1f"  # between workload and user in the statement's key: in neither
WORKLOAD_ROWS_SQL = booked_rows_sql(f"coalesce(pr.workload, '') || char(31) || {user_of()}")
COLUMNS = ("day", "gpu", "workload", "user", "gpu_seconds")


def compute(conn: Connection, first: date, last: date, tz: ZoneInfo, threshold: float) -> list:
    """workload_daily rows (keys COLUMNS) of the local days first..last, host rows included."""
    days, bucket, day_index = day_buckets(first, last, tz)
    totals: dict[tuple, float] = {}
    for start in range(days[0][1], days[-1][2], CHUNK_S):
        args = {"lo": start, "hi": min(days[-1][2], start + CHUNK_S), "bucket": bucket}
        for row in dict_rows(conn.execute(WORKLOAD_ROWS_SQL, {**args, "thr": threshold})):
            workload, user = row["user"].split(SEP, 1)
            if user == IDLE_LABEL:
                continue
            day = days[day_index(row["b"])][0]
            for gpu in (row["gpu"], HOST):
                key = (day, gpu, workload, user)
                totals[key] = totals.get(key, 0.0) + row["seconds"]
    return [dict(zip(COLUMNS, (*key, s), strict=True)) for key, s in sorted(totals.items())]


def write(conn: Connection, days: list[str], rows: list[dict]) -> None:
    """Replace the workload_daily rows of `days` (inside the roll-up's write transaction)."""
    conn.executemany("DELETE FROM workload_daily WHERE day = ?", [(d,) for d in days])
    names = ", ".join(COLUMNS)
    conn.executemany(f"INSERT INTO workload_daily ({names}) VALUES (:{', :'.join(COLUMNS)})", rows)


def workload_users(conn: Connection, span: Span) -> dict[str, dict[str, float]]:
    """{workload: {user: GPU-seconds on the whole host}} over the span ('' = no workload)."""
    where, params = span._where()
    out: dict[str, dict[str, float]] = {}
    rows = conn.execute(
        f"SELECT workload, user, total(gpu_seconds) FROM workload_daily WHERE {where} "
        f"AND gpu = {HOST} GROUP BY workload, user",
        params,
    )
    for workload, user, seconds in rows:
        out.setdefault(workload, {})[user] = seconds
    return out
