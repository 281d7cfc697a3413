"""Retention prunes in chunks, keeps roll-ups, and never drops data not yet rolled up."""

from __future__ import annotations

from datetime import date

from scheduler import retention, rollup
from store import aggregate
from tests.support import fleet


def count(conn, table, where="1"):
    return conn.execute(f"SELECT count(*) FROM {table} WHERE {where}").fetchone()[0]


def test_prune_raw_keeps_rollups_and_unrolled_data(conn, settings):
    gpus = fleet.add_gpus(conn, 2)
    start = aggregate.day_start(date(2026, 1, 1), settings.tz)
    fleet.insert(conn, *fleet.generate(gpus, start, start + 10 * 86400, 120))
    now = start + 40 * 86400  # raw retention 30 days: days 1-10 are all past it
    rollup.run(conn, settings, now)
    daily_before = conn.execute("SELECT * FROM daily ORDER BY 1, 2").fetchall()
    ticks = []
    stats = retention.run(conn, settings, now, clock=_fake_clock(ticks), pause=lambda s: None)
    assert count(conn, "samples") == 0
    assert stats["chunks"] > 3 and stats["max_lock_ms"] <= settings.prune_lock_ms
    assert conn.execute("SELECT * FROM daily ORDER BY 1, 2").fetchall() == daily_before
    # a late import of older history that nothing has rolled up yet survives pruning
    late_start = start - 2 * 86400
    fleet.insert(conn, *fleet.generate(gpus, late_start, late_start + 86400, 120, seed=3))
    retention.run(conn, settings, now + 30, pause=lambda s: None)
    assert count(conn, "samples") == 720 * 2
    rollup.run(conn, settings, now + 60)
    daily_after = conn.execute("SELECT * FROM daily ORDER BY 1, 2").fetchall()
    assert set(daily_before) < set(daily_after)  # old days kept, the late day added
    retention.run(conn, settings, now + 120, pause=lambda s: None)
    assert count(conn, "samples") == 0 and count(conn, "process_samples") == 0
    assert count(conn, "processes") == 0
    assert conn.execute("SELECT * FROM daily ORDER BY 1, 2").fetchall() == daily_after


def test_rollup_retention_by_age(conn, settings):
    conn.execute("BEGIN IMMEDIATE")
    for day in ("2023-01-01", "2025-06-01"):
        conn.execute(
            "INSERT INTO daily (day, gpu, samples, active_minutes, gpu_minutes, "
            "peak_utilization, avg_utilization, avg_active_utilization, energy_kwh) "
            "VALUES (?, 0, 1, 1, 1, 1, 1, 1, 1)",
            (day,),
        )
    for hour in (0, 1_780_000_000 // 3600 * 3600):
        conn.execute(
            "INSERT INTO hourly (hour, gpu, samples, active_s, gpu_active_s, process_rows)"
            " VALUES (?, 0, 1, 1, 1, 0)",
            (hour,),
        )
        conn.execute(
            "INSERT INTO user_hourly (hour, gpu, user, gpu_seconds, peak_mem_mib) "
            "VALUES (?, 0, 'alice', 1, 1)",
            (hour,),
        )
    conn.execute("COMMIT")
    retention.run(conn, settings, 1_780_000_000, pause=lambda s: None)  # 2026-05-28
    assert [d for (d,) in conn.execute("SELECT day FROM daily")] == ["2025-06-01"]
    assert count(conn, "hourly") == count(conn, "user_hourly") == 1
    assert count(conn, "user_hourly", "hour = 0") == 0


def _fake_clock(ticks):
    """A perf counter that advances 1 ms per call: chunk timing is deterministic."""

    def clock():
        ticks.append(None)
        return len(ticks) / 1000

    return clock


def test_expired_reservations_go_two_days_after_expiry(conn, settings):
    from store.db import atomic
    from store.reservations import Reservation, replace

    now = 1_790_000_000
    with atomic(conn):
        replace(conn, Reservation(gpu=1, name="old", until=now - 2 * 86400 - 1, created=now - 9e5))
        replace(conn, Reservation(gpu=2, name="recent", until=now - 3600, created=now - 9e5))
        replace(conn, Reservation(gpu=3, name="open-ended", until=None, created=now - 9e5))
    stats = retention.run(conn, settings, now)
    assert stats["deleted"]["reservations"] == 1
    names = {r[0] for r in conn.execute("SELECT name FROM reservations")}
    assert names == {"recent", "open-ended"}
