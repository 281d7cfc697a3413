"""The roll-up job: incremental, idempotent, late history recomputes only what it touches."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from scheduler import rollup
from store import aggregate
from store.db import sqlite_connection
from store.rollups import data_version
from store.samples import GpuInfo, GpuSample, ProcessSample, Recorder, Tick
from store.schema import MIGRATIONS, V10_HELD_IDLE, migrate
from tests.support import fleet

DAY1 = date(2026, 3, 28)


def tables(conn) -> dict:
    return {
        t: conn.execute(f"SELECT * FROM {t} ORDER BY 1, 2, 3").fetchall()
        for t in ("hourly", "user_hourly", "daily", "user_daily")
    }


def test_incremental_runs_equal_a_full_rebuild(conn, settings, tmp_path):
    gpus = fleet.add_gpus(conn, 3)
    start = aggregate.day_start(DAY1, settings.tz)
    samples, procs = fleet.generate(gpus, start, start + 3 * 86400, 60)
    now = start + 3 * 86400 + 600
    # feed it in six slices, rolling up after each, like a live collector
    step = len(samples) // 6
    for i in range(6):
        part = samples[i * step : (i + 1) * step if i < 5 else None]
        lo, hi = part[0][0], part[-1][0]
        fleet.insert(conn, part, [p for p in procs if lo <= p[0] <= hi])
        rollup.run(conn, settings, part[-1][0] + 30)
    incremental = tables(conn)
    version = data_version(conn)
    assert version >= 6
    rollup.run(conn, settings, now)  # nothing new: same rows (idempotent)
    assert tables(conn) == incremental
    conn.execute("BEGIN IMMEDIATE")
    for t in ("hourly", "user_hourly", "daily", "user_daily", "rollup_state", "rollup_dirty"):
        conn.execute(f"DELETE FROM {t}")
    conn.execute("COMMIT")
    rollup.rebuild(conn, settings, now)
    assert tables(conn) == incremental
    expected = fleet.reference_daily(samples, settings.tz, settings.threshold)
    got = {(r[0], r[1]): r[2] for r in incremental["daily"]}
    assert got == {k: v["samples"] for k, v in expected.items()}
    users = {pid: fleet.USERS[pid % 3] for pid in range(1, 7)}
    hour = fleet.utc_hour
    people = fleet.reference_users(samples, procs, users, settings.tz, settings.threshold, hour)
    assert {r[:3]: r[3] for r in incremental["user_hourly"]} == pytest.approx(
        {k: seconds for k, (seconds, _peak) in people.items()}, rel=1e-9
    )


def test_late_history_recomputes_exactly_the_touched_buckets(conn, settings, caplog):
    gpus = fleet.add_gpus(conn, 2)
    start = aggregate.day_start(DAY1, settings.tz)
    day3 = aggregate.day_start(date(2026, 3, 30), settings.tz)
    samples, procs = fleet.generate(gpus, start, day3 + 86400, 60)
    fleet.insert(
        conn,
        [s for s in samples if s[0] >= day3 or s[0] < start + 86400],
        [p for p in procs if p[0] >= day3 or p[0] < start + 86400],
    )
    now = day3 + 86400 + 600
    rollup.run(conn, settings, now)
    before = tables(conn)
    assert not [r for r in before["daily"] if r[0] == "2026-03-29"]
    # an import of 2026-03-29 (the 23-hour DST day) arrives late, with old timestamps
    late = [s for s in samples if start + 86400 <= s[0] < day3]
    fleet.insert(conn, late, [p for p in procs if start + 86400 <= p[0] < day3])
    version = data_version(conn)
    rollup.run(conn, settings, now + 60)  # within the audit interval: no change seen yet
    assert tables(conn) == before
    caplog.clear()  # only what the audit says (earlier runs may log at INFO too)
    with caplog.at_level("INFO", logger=rollup.log.name):
        found = rollup.audit(conn, settings, now + 120)
    assert found == 23
    # Said at INFO in words a new user reads as routine, not as an error.
    [record] = [r for r in caplog.records if "rolling them up again" in r.getMessage()]
    assert record.levelname == "INFO"
    assert record.getMessage().startswith("23 hour(s) have samples newer than their roll-up")
    rollup.run(conn, settings, now + 180)
    after = tables(conn)
    assert data_version(conn) > version
    for table in after:  # rows of untouched days are byte-for-byte the same
        keep = [r for r in after[table] if not _in_day29(table, r, start + 86400, day3)]
        assert keep == [r for r in before[table]]
    expected = fleet.reference_daily(samples, settings.tz, settings.threshold)
    day29 = {r[1]: r for r in after["daily"] if r[0] == "2026-03-29"}
    assert day29[0][2] == expected[("2026-03-29", 0)]["samples"] == 23 * 60 * 2
    assert not conn.execute("SELECT count(*) FROM rollup_dirty").fetchone()[0]


def _in_day29(table, row, lo, hi) -> bool:
    if table in ("hourly", "user_hourly"):
        return lo <= row[0] < hi
    return row[0] == "2026-03-29"


def test_held_idle_is_written_and_an_upgrade_rolls_old_hours_up_again(tmp_path, settings):
    gpu = GpuInfo("GPU-h", 0, "Test GPU")
    start = aggregate.day_start(DAY1, settings.tz) + 3600
    ticks = [
        Tick(
            start + 60 * i,
            60,
            [GpuSample(gpu, util=0)],
            [ProcessSample(gpu.uuid, 42, 1, "alice", "jupyter", 4096)],
        )
        for i in range(90)
    ]
    path = tmp_path / "old.db"
    old = sqlite_connection(path, write=True)
    migrate(old, target=MIGRATIONS.index(V10_HELD_IDLE))  # from before held idle, with samples
    Recorder(old).write(ticks)
    migrate(old)
    dirty = [h for (h,) in old.execute("SELECT hour FROM rollup_dirty ORDER BY hour")]
    assert dirty == [start, start + 3600]
    rollup.run(old, replace(settings, db=str(path)), start + 90 * 60)
    for table in ("hourly", "daily", "user_hourly", "user_daily"):
        total = old.execute(f"SELECT total(held_idle_s) FROM {table} WHERE gpu = 0").fetchone()[0]
        assert total == 90 * 60.0, table
    old.close()
