"""Scheduler benchmark: roll-up of one day of 8 GPUs at 1 s, a 30-day rebuild, pruning locks.

Prints its figures; targets: one-day roll-up <= 2 s, longest prune lock <= 200 ms.
Data is generated with executemany (no simulated backend) so this runs in a few minutes.
Usage: .venv/bin/python benchmarks/scheduler.py [--rebuild-interval 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

# This file is named like the package it measures: import the package, not this script.
sys.path[0] = str(Path(__file__).resolve().parents[1])

from scheduler import retention, rollup  # noqa: E402
from scheduler.settings import load  # noqa: E402
from store import aggregate, atomic, open_db  # noqa: E402
from store.samples import CORE_SAMPLE_COLUMNS as CORE_COLUMNS  # noqa: E402

GPUS = 8


def fill(conn, start: int, end: int, tick: int) -> int:
    """Insert 8 GPUs of samples (+1 process per busy GPU) between start and end."""
    with atomic(conn):
        for i in range(GPUS):
            conn.execute(
                "INSERT OR IGNORE INTO gpus (id, uuid, idx, name, first_seen, last_seen) "
                "VALUES (?, ?, ?, 'Bench GPU', 0, 0)",
                (i + 1, f"GPU-{i}", i),
            )
            conn.execute(
                "INSERT OR IGNORE INTO processes (id, pid, started, user, first_seen, last_seen)"
                " VALUES (?, ?, 0, ?, ?, ?)",
                (i + 1, 100 + i, f"user{i % 3}", start, end),
            )
    rows = 0
    for lo in range(start, end, 3600 * 6):
        hi = min(end, lo + 3600 * 6)
        samples = [
            (
                ts,
                g,
                tick * 1000,
                (ts * 7 + g * 13) % 101 if (ts // 1800 + g) % 3 else 0,
                30,
                20000,
                60,
                50,
                2500,
                ts * 250 + g,
                1500,
                1600,
                0,
                ((ts + g) % (tick + 1)) * 1000 if g % 2 else None,
            )
            for ts in range(lo, hi, tick)
            for g in range(1, GPUS + 1)
        ]
        procs = [(s[0], s[1], s[1], 4000, s[3]) for s in samples if s[3]]
        with atomic(conn):
            conn.executemany(
                f"INSERT INTO samples ({CORE_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                samples,
            )
            conn.executemany("INSERT INTO process_samples VALUES (?,?,?,?,?)", procs)
        rows += len(samples)
    return rows


def statement_times(conn, start: int, threshold: float) -> None:
    """Print what each of compute()'s statements costs over the day, to show where time goes."""
    args = {"lo": start, "hi": start + 86400, "bucket": 900, "thr": threshold}
    costs = []
    for name in ("PARTIALS_SQL", "HOST_ACTIVE_SQL", "USER_ROWS_SQL", "USER_HOST_MEM_SQL"):
        t = time.perf_counter()
        conn.execute(getattr(aggregate, name), args).fetchall()
        costs.append(f"{name} {time.perf_counter() - t:.2f} s")
    print("  by statement, whole day at once: " + ", ".join(costs))


def main() -> None:
    """Run the three measurements and print them."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--rebuild-interval", type=int, default=5, help="tick of the 30-day data")
    ap.add_argument("--runs", type=int, default=5, help="one-day roll-ups to take the median of")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="gpupulse-bench-"))
    settings = load({"GPUPULSE_DB": str(tmp / "day.db"), "GPUPULSE_TZ": "Europe/Berlin"})
    day = date(2026, 3, 10)
    start = aggregate.day_start(day, settings.tz)

    conn = open_db(settings.db, migrate=True)
    t = time.perf_counter()
    n = fill(conn, start, start + 86400, 1)
    print(f"generated one day: {n:,} samples in {time.perf_counter() - t:.1f} s")
    runs = []
    for _ in range(args.runs):
        t = time.perf_counter()
        aggregate.compute(conn, day, day, settings.tz, settings.threshold)
        runs.append(time.perf_counter() - t)
    print(
        f"roll-up compute, one day, 8 GPUs at 1 s ({n:,} samples): "
        f"median {statistics.median(runs):.2f} s of {len(runs)} "
        f"(min {min(runs):.2f}, max {max(runs):.2f}; target <= 2 s)"
    )
    statement_times(conn, aggregate.day_start(day, settings.tz), settings.threshold)
    t = time.perf_counter()
    rollup.run(conn, settings, start + 86400 + 600)
    print(f"roll-up job incl. writes and push queue, same day: {time.perf_counter() - t:.2f} s")
    conn.close()

    tick = args.rebuild_interval
    settings = load({"GPUPULSE_DB": str(tmp / "month.db"), "GPUPULSE_TZ": "Europe/Berlin"})
    first = day - timedelta(days=29)
    m_start = aggregate.day_start(first, settings.tz)
    conn = open_db(settings.db, migrate=True)
    t = time.perf_counter()
    n = fill(conn, m_start, start + 86400, tick)
    print(f"generated 30 days at {tick} s: {n:,} samples in {time.perf_counter() - t:.1f} s")
    now = start + 86400 + 600
    t = time.perf_counter()
    result = rollup.rebuild(conn, settings, now)
    print(
        f"full rebuild of 30 days, 8 GPUs at {tick} s ({n:,} samples): "
        f"{time.perf_counter() - t:.1f} s ({result['hours']} hours, {result['days']} days)"
    )
    t = time.perf_counter()
    rollup.audit(conn, settings, now)
    print(f"late-data audit over 30 days of raw data: {time.perf_counter() - t:.2f} s")

    t = time.perf_counter()
    stats = retention.run(conn, settings, now + 45 * 86400)  # everything raw is past 30 days
    deleted = stats["deleted"]["samples"] + stats["deleted"]["process_samples"]
    print(
        f"prune {deleted:,} raw rows in {stats['chunks']} chunks, "
        f"{time.perf_counter() - t:.1f} s: longest write-lock hold "
        f"{stats['max_lock_ms']:.1f} ms (target <= 200 ms)"
    )
    conn.close()


if __name__ == "__main__":
    main()
