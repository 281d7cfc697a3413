"""The roll-up job: incremental, idempotent, and exact about which buckets late data touches.

How changed hours are found (samples is WITHOUT ROWID, so there is no ingestion order):
- live data: the watermark `rollup_live_ts` is the newest sample ts rolled up; each run
  recomputes the hours from (watermark - GPUPULSE_ROLLUP_LATENESS) to the newest sample;
- late data (an import of old history): an audit compares each hour's raw row counts
  (samples and process_samples) with the counts the hourly host row was built from, and
  marks hours with more raw rows than rolled up in `rollup_dirty`. It runs at the first
  run, every GPUPULSE_ROLLUP_AUDIT_EVERY seconds, and from the prune job before deleting.
  Fewer raw rows than rolled up means retention pruned them: the roll-up is kept.
A dirty hour recomputes its hourly and user_hourly rows and the local day(s) it falls in
(daily and user_daily); nothing else is rewritten. Days starting before the prune horizon are not
recomputed, because their raw data is gone.
"""

from __future__ import annotations

import logging
from datetime import date, timedelta

from scheduler import outbox
from scheduler.settings import Settings
from store import aggregate, workloads
from store.db import Connection, atomic
from store.rollups import (
    DAILY_FIELDS,
    HOST,
    HOURLY_FIELDS,
    HOURLY_SUMS,
    LIVE_TS,
    bump_data_version,
    rollup_state,
    set_rollup_state,
)

log = logging.getLogger(__name__)

AUDIT_AT = "rollup_audit_at"
PRUNED_BEFORE = "raw_pruned_before"
HOUR_COLUMNS = (*HOURLY_FIELDS, *HOURLY_SUMS, "process_rows", "held_idle_s")
USER_COLUMNS = ("gpu", "user", "gpu_seconds", "peak_mem_mib", "held_idle_s", "energy_wh")
DAY_COLUMNS = (*DAILY_FIELDS, "held_idle_s")


def audit(conn: Connection, settings: Settings, now: float) -> int:
    """Mark hours holding more raw rows than their roll-up was built from; return how many."""
    first = conn.execute("SELECT min(ts) FROM samples").fetchone()[0]
    if first is None:
        return 0
    start = first // 3600 * 3600
    end = conn.execute("SELECT max(ts) FROM samples").fetchone()[0]
    rolled = {
        h: (n, p)
        for h, n, p in conn.execute(
            "SELECT hour, samples, process_rows FROM hourly WHERE gpu = ? AND hour >= ?",
            (HOST, start),
        )
    }
    dirty = []
    for hour in range(start, end + 1, 3600):
        n = conn.execute(
            "SELECT count(*) FROM samples WHERE ts >= ? AND ts < ?", (hour, hour + 3600)
        ).fetchone()[0]
        if n == 0:
            continue
        p = conn.execute(
            "SELECT count(*) FROM process_samples WHERE ts >= ? AND ts < ?", (hour, hour + 3600)
        ).fetchone()[0]
        done = rolled.get(hour)
        if done is None or n > done[0] or p > done[1]:
            dirty.append((hour,))
    with atomic(conn):
        conn.executemany("INSERT OR IGNORE INTO rollup_dirty (hour) VALUES (?)", dirty)
        set_rollup_state(conn, AUDIT_AT, int(now))
    if dirty:
        log.info("late data: %d hour(s) to roll up again", len(dirty))
    return len(dirty)


def run(conn: Connection, settings: Settings, now: float) -> dict:
    """The scheduled job: roll up what changed since the last run; return a summary."""
    last_audit = rollup_state(conn, AUDIT_AT)
    if last_audit is None or now - last_audit >= settings.audit_every_s:
        audit(conn, settings, now)
    conn.execute("BEGIN")  # one read snapshot for everything computed below
    try:
        newest = conn.execute("SELECT max(ts) FROM samples").fetchone()[0]
        hours = _changed_hours(conn, settings, newest)
        horizon = rollup_state(conn, PRUNED_BEFORE, 0) or 0
        kept = {d for (d,) in conn.execute("SELECT DISTINCT day FROM daily WHERE gpu = ?", (HOST,))}
        runs, skipped = _day_runs(hours, settings, horizon, kept)
        results = [
            aggregate.compute(conn, first, last, settings.tz, settings.threshold, settings.held_mib)
            for first, last in runs
        ]
        per_workload = [
            row
            for first, last in runs
            for row in workloads.compute(conn, first, last, settings.tz, settings.threshold)
        ]
    finally:
        conn.execute("COMMIT")
    written = _write(conn, hours - skipped, runs, (results, per_workload), settings, newest, now)
    with atomic(conn):
        conn.executemany("DELETE FROM rollup_dirty WHERE hour = ?", [(h,) for h in skipped])
    if skipped:
        log.warning("skipped %d changed hour(s) older than the raw-data horizon", len(skipped))
    return {
        "hours": len(hours - skipped),
        "days": sum((b - a).days + 1 for a, b in runs),
        "rows": written,
    }


def rebuild(conn: Connection, settings: Settings, now: float) -> dict:
    """Roll up every hour that still has raw data, from scratch."""
    with atomic(conn):
        conn.execute(
            "INSERT OR IGNORE INTO rollup_dirty (hour) "
            "SELECT DISTINCT ts / 3600 * 3600 FROM samples"
        )
    return run(conn, settings, now)


def _changed_hours(conn: Connection, settings: Settings, newest: int | None) -> set[int]:
    hours = {h for (h,) in conn.execute("SELECT hour FROM rollup_dirty")}
    if newest is not None:
        mark = rollup_state(conn, LIVE_TS)
        start = newest if mark is None else min(mark, newest)
        start -= settings.lateness_s
        hours.update(range(start // 3600 * 3600, newest // 3600 * 3600 + 1, 3600))
    return hours


def _day_runs(
    hours: set[int], settings: Settings, horizon: int, kept: set[str]
) -> tuple[list[tuple[date, date]], set[int]]:
    """Contiguous runs of local days covering the hours.

    An hour in a day that starts before the prune horizon and already has a roll-up is
    skipped: that roll-up was built from raw data since deleted. Old history new to us
    (no roll-up for its day) is rolled up.
    """
    days: set[date] = set()
    skipped: set[int] = set()
    for hour in hours:
        span = {aggregate.day_of(hour, settings.tz), aggregate.day_of(hour + 3599, settings.tz)}
        if any(
            aggregate.day_start(d, settings.tz) < horizon and d.isoformat() in kept for d in span
        ):
            skipped.add(hour)
        else:
            days |= span
    runs: list[tuple[date, date]] = []
    for d in sorted(days):
        if runs and runs[-1][1] + timedelta(days=1) == d:
            runs[-1] = (runs[-1][0], d)
        else:
            runs.append((d, d))
    return runs, skipped


def _write(conn, hours, runs, computed, settings, newest, now) -> int:
    """Replace exactly the changed hours and days in one short write transaction;
    `computed` is (the runs' aggregate.Rollup results, their workload_daily rows)."""
    results, per_workload = computed
    hourly = [r for res in results for r in res.hourly if r["hour"] in hours]
    user_hourly = [r for res in results for r in res.user_hourly if r["hour"] in hours]
    days = [(d.isoformat(),) for first, last in runs for d in aggregate.dates(first, last)]
    cols = ", ".join(HOUR_COLUMNS)
    with atomic(conn):
        conn.executemany("DELETE FROM hourly WHERE hour = ?", [(h,) for h in hours])
        conn.executemany("DELETE FROM user_hourly WHERE hour = ?", [(h,) for h in hours])
        conn.executemany(
            f"INSERT INTO hourly ({cols}) VALUES ({', '.join('?' * len(HOUR_COLUMNS))})",
            [tuple(r[c] for c in HOUR_COLUMNS) for r in hourly],
        )
        conn.executemany(_insert("user_hourly", ("hour", *USER_COLUMNS)), user_hourly)
        conn.executemany("DELETE FROM daily WHERE day = ?", days)
        conn.executemany("DELETE FROM user_daily WHERE day = ?", days)
        daily = [r for res in results for r in res.daily]
        users = [r for res in results for r in res.user_daily]
        conn.executemany(_insert("daily", DAY_COLUMNS), daily)
        conn.executemany(_insert("user_daily", ("day", *USER_COLUMNS)), users)
        workloads.write(conn, [d for (d,) in days], per_workload)
        conn.executemany("DELETE FROM rollup_dirty WHERE hour = ?", [(h,) for h in hours])
        if newest is not None:
            set_rollup_state(conn, LIVE_TS, newest)
        outbox.enqueue(conn, settings, now, {r["hour"] for r in hourly})
        if hours or days:
            bump_data_version(conn)
    return len(hourly) + len(user_hourly) + len(daily) + len(users) + len(per_workload)


def _insert(table: str, columns: tuple[str, ...]) -> str:
    """INSERT of one roll-up row (a dict) into `table`'s named columns."""
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES (:{', :'.join(columns)})"
