"""Retention: delete old rows in small chunks so no write lock is held past the budget.

Raw samples and process rows go after GPUPULSE_RETAIN_RAW_DAYS (cut at a local midnight,
and never past an hour still waiting to be rolled up), hourly roll-ups (per GPU and per
user), push queue, ledger and events after GPUPULSE_RETAIN_HOURLY_DAYS, daily and per-user
daily roll-ups after GPUPULSE_RETAIN_DAILY_DAYS, reservations two days after they expire.
Each chunk is its own BEGIN IMMEDIATE transaction; each chunk's size comes from the time
per row the chunks before it measured, so a chunk takes about half of GPUPULSE_PRUNE_LOCK_MS.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import timedelta

from scheduler import rollup
from scheduler.settings import Settings
from store import aggregate, reservations
from store.db import Connection, atomic
from store.rollups import set_rollup_state

log = logging.getLogger(__name__)

FIRST_CHUNK = 100  # small, until the first chunk has measured what a row costs here
MIN_CHUNK = 10
MAX_CHUNK = 200_000

# table -> (key columns the chunk is chosen by, the time column)
TABLES = {
    "samples": ("ts, gpu", "ts"),
    "process_samples": ("ts, gpu, process", "ts"),
    "processes": ("id", "last_seen"),
    "hourly": ("hour, gpu", "hour"),
    "user_hourly": ("hour, gpu, user", "hour"),
    "push_queue": ("hour", "hour"),
    "push_ledger": ("id", "hour"),
    "events": ("id", "ts"),
    "daily": ("day, gpu", "day"),
    "user_daily": ("day, gpu, user", "day"),
    "workload_daily": ("day, gpu, workload, user", "day"),
}


def cutoffs(conn: Connection, settings: Settings, now: float) -> dict[str, int | str]:
    """The first time (or day) each table keeps."""
    tz = settings.tz
    raw_day = aggregate.day_of(int(now), tz) - timedelta(days=settings.raw_days)
    raw = aggregate.day_start(raw_day, tz)
    # Never delete raw data of a day not rolled up yet (run() audits first, so late
    # imports are in rollup_dirty by now).
    waiting = conn.execute("SELECT min(hour) FROM rollup_dirty").fetchone()[0]
    if waiting is not None:
        raw = min(raw, aggregate.day_start(aggregate.day_of(waiting, tz), tz))
    hourly = int(now) - settings.hourly_days * 86400
    daily = (aggregate.day_of(int(now), tz) - timedelta(days=settings.daily_days)).isoformat()
    return {
        "samples": raw,
        "process_samples": raw,
        "processes": raw,
        "hourly": hourly,
        "user_hourly": hourly,
        "push_queue": hourly,
        "push_ledger": hourly,
        "events": hourly,
        "daily": daily,
        "user_daily": daily,
        "workload_daily": daily,
    }


def run(
    conn: Connection,
    settings: Settings,
    now: float,
    *,
    clock: Callable[[], float] = time.perf_counter,
    pause: Callable[[float], None] = time.sleep,
) -> dict:
    """The scheduled job: audit for late data, then prune every table; return stats."""
    rollup.audit(conn, settings, now)  # late imports must be marked before raw rows go
    limits = cutoffs(conn, settings, now)
    stats = {"deleted": {}, "chunks": 0, "max_lock_ms": 0.0, "lock_ms": {}}
    for table, limit in limits.items():
        deleted, chunks, longest = prune_table(conn, table, limit, settings, clock, pause)
        stats["deleted"][table] = deleted
        stats["lock_ms"][table] = longest
        stats["chunks"] += chunks
        stats["max_lock_ms"] = max(stats["max_lock_ms"], longest)
    with atomic(conn):
        pruned = int(limits["samples"])
        set_rollup_state(conn, rollup.PRUNED_BEFORE, pruned, keep_larger=True)
        # A handful of rows: no chunking needed. Gone two days after they expire.
        stats["deleted"]["reservations"] = reservations.prune(conn, now)
    if any(stats["deleted"].values()):
        log.info("pruned %s; longest lock %.1f ms", stats["deleted"], stats["max_lock_ms"])
    return stats


def prune_table(
    conn: Connection,
    table: str,
    limit: int | str,
    settings: Settings,
    clock: Callable[[], float] = time.perf_counter,
    pause: Callable[[float], None] = time.sleep,
) -> tuple[int, int, float]:
    """Delete rows older than `limit` chunk by chunk; return (rows, chunks, longest ms)."""
    keys, column = TABLES[table]
    sql = (
        f"DELETE FROM {table} WHERE ({keys}) IN "
        f"(SELECT {keys} FROM {table} WHERE {column} < ? LIMIT ?)"
    )
    target_ms = settings.prune_lock_ms / 2
    size, total, chunks, longest, row_ms = FIRST_CHUNK, 0, 0, 0.0, 0.0
    while True:
        with atomic(conn):
            start = clock()  # the lock is ours from here to COMMIT
            deleted = conn.execute(sql, (limit, size)).rowcount
        held = (clock() - start) * 1000
        longest, total, chunks = max(longest, held), total + deleted, chunks + 1
        if deleted < size:
            return total, chunks, longest
        size, row_ms = next_size(size, held / max(deleted, 1), row_ms, target_ms)
        pause(0.005)  # let the collector's tick in between chunks


def next_size(size: int, row_ms: float, previous_row_ms: float, target_ms: float) -> tuple:
    """The next chunk's rows from the time per row measured in this chunk and the one
    before (the slower of the two, so one lucky chunk on a busy machine does not grow the
    next past the budget), at most doubling; returns (rows, the time per row used)."""
    per_row = max(row_ms, previous_row_ms, 1e-4)
    return max(MIN_CHUNK, min(MAX_CHUNK, 2 * size, int(target_ms / per_row))), row_ms
