"""Retention prunes in chunks, keeps roll-ups, and never drops data not yet rolled up."""

from __future__ import annotations

from datetime import date
from itertools import pairwise

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


class RowCostClock:
    """A clock where each row changed costs `row_ms`, read from the connection's change
    count: the time a chunk holds the lock is its rows times their cost."""

    def __init__(self, conn, row_ms: float) -> None:
        self.conn, self.row_ms = conn, row_ms
        self.seen, self.now = conn.total_changes, 0.0

    def __call__(self) -> float:
        changes = self.conn.total_changes
        self.now += (changes - self.seen) * self.row_ms / 1000
        self.seen = changes
        return self.now


def test_chunks_are_sized_from_the_time_per_row_and_stay_under_the_budget(conn, settings):
    """Rows that cost 1 ms each, then three times more (a busy machine): the first chunk
    is small enough for any table, every chunk after it is sized from what rows cost, and
    only the one chunk that meets the dearer rows may pass the budget, by less than twice."""
    gpus = fleet.add_gpus(conn, 2)
    start = aggregate.day_start(date(2026, 1, 1), settings.tz)
    fleet.insert(conn, *fleet.generate(gpus, start, start + 3 * 86400, 60))
    clock = RowCostClock(conn, row_ms=1.0)
    ends = [0.0]

    def pause(_s: float) -> None:  # called after each full chunk, when the lock is free
        ends.append(clock())
        if len(ends) == 10:
            clock.row_ms = 3.0

    rows, chunks, longest = retention.prune_table(
        conn, "samples", start + 3 * 86400, settings, clock, pause
    )
    holds = [(b - a) * 1000 for a, b in pairwise(ends)]
    budget = settings.prune_lock_ms
    assert rows == 2 * 3 * 1440 and count(conn, "samples") == 0 and chunks > 20
    assert holds[0] <= budget  # the first chunk, before anything was measured
    assert all(h <= budget for i, h in enumerate(holds) if i != 9), holds
    assert holds[9] <= 2 * budget and longest <= 2 * budget


def test_a_pruned_process_is_checked_against_its_samples_through_an_index(conn):
    """Deleting a process checks that no process sample refers to it (a foreign key); on
    a full table that must be an index lookup, not a scan per deleted process."""
    plan = conn.execute("EXPLAIN QUERY PLAN SELECT 1 FROM process_samples WHERE process = ?", (1,))
    assert any("USING COVERING INDEX process_samples_process" in row[-1] for row in plan)
