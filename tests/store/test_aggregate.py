"""store.aggregate against an independent loop-based computation on generated data."""

from __future__ import annotations

import math
from datetime import date
from zoneinfo import ZoneInfo

import pytest

from store import aggregate
from tests.scheduler import fleet

BERLIN = ZoneInfo("Europe/Berlin")


def close(a, b) -> bool:
    if a is None or b is None:
        return a is b
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-6)


@pytest.mark.parametrize("first", [date(2026, 3, 28), date(2026, 10, 24)])
def test_daily_matches_reference_across_dst(conn, first):
    gpus = fleet.add_gpus(conn, 4)
    start = aggregate.day_start(first, BERLIN)
    end = aggregate.day_start(date(first.year, first.month, first.day + 3), BERLIN)
    gap = (start + 86400 + 5 * 3600, start + 86400 + 7 * 3600)
    samples, procs = fleet.generate(gpus, start, end, 60, gap=gap)
    fleet.insert(conn, samples, procs)
    last = date(first.year, first.month, first.day + 2)
    rows = aggregate.compute_daily(conn, first, last, BERLIN, 1.0)
    expected = fleet.reference_daily(samples, BERLIN, 1.0)
    assert {(r["day"], r["gpu"]) for r in rows} == set(expected)
    for row in rows:
        want = expected[(row["day"], row["gpu"])]
        for key, value in want.items():
            assert close(row[key], value), (row["day"], row["gpu"], key, row[key], value)
    host_days = {r["day"]: r["samples"] for r in rows if r["gpu"] == 0}
    dst_day = (first.replace(day=first.day + 1)).isoformat()
    hours = 23 if first.month == 3 else 25  # the DST day's length, less the 2 h gap
    assert host_days[dst_day] == (hours - 2) * 60 * 4


def test_user_daily_matches_reference(conn):
    gpus = fleet.add_gpus(conn, 4)
    start = aggregate.day_start(date(2026, 3, 29), BERLIN)
    end = aggregate.day_start(date(2026, 3, 31), BERLIN)
    samples, procs = fleet.generate(gpus, start, end, 30, seed=7)
    fleet.insert(conn, samples, procs)
    users = {pid: fleet.USERS[pid % 3] for pid in range(1, 7)}
    rows = aggregate.compute(conn, date(2026, 3, 29), date(2026, 3, 30), BERLIN, 1.0).user_daily
    expected = fleet.reference_users(samples, procs, users, BERLIN, 1.0)
    assert {(r["day"], r["gpu"], r["user"]) for r in rows} == set(expected)
    for r in rows:
        seconds, peak = expected[(r["day"], r["gpu"], r["user"])]
        assert close(r["gpu_seconds"], seconds)
        assert r["peak_mem_mib"] == peak


def test_hourly_host_is_wall_clock_and_energy_handles_reset(conn):
    g1, g2 = fleet.add_gpus(conn, 2)
    # two GPUs active in the same ticks: host time counts once, GPU time twice
    rows = []
    for i, ts in enumerate(range(3600, 3600 + 600, 60)):
        counter = 5000 + i * 600 if i < 5 else 10 + (i - 5) * 600  # reset at the sixth
        rows.append((ts, g1, 60000, 90, 1, 1, 50, 30, 1000, counter, 1, 1, 0, None))
        rows.append((ts, g2, 60000, 0, 1, 1, 50, 30, 500, None, 1, 1, 0, 30000))
    fleet.insert(conn, rows, [])
    hourly = {r["gpu"]: r for r in aggregate.compute_hourly(conn, 3600, 7200, 1.0)}
    assert hourly[0]["active_s"] == 600  # g1 active all 10 ticks; g2's 30 s is inside
    assert hourly[0]["gpu_active_s"] == 600 + 300
    assert hourly[g2]["active_s"] == 300
    # g1: first tick and the reset tick use power (100 W x 60 s), the 8 others counter deltas
    assert hourly[g1]["energy_wh"] == pytest.approx((2 * 6000 + 8 * 600) / 3600)
    assert hourly[g2]["energy_wh"] == pytest.approx(10 * 50 * 60 / 3600)


def test_compute_daily_filters_one_gpu_and_empty_store(conn):
    assert aggregate.compute_daily(conn, date(2026, 1, 1), date(2026, 1, 2), BERLIN, 1.0) == []
    gpus = fleet.add_gpus(conn, 2)
    start = aggregate.day_start(date(2026, 1, 1), BERLIN)
    fleet.insert(conn, *fleet.generate(gpus, start, start + 7200, 60))
    rows = aggregate.compute_daily(conn, date(2026, 1, 1), date(2026, 1, 1), BERLIN, 1.0, gpu=0)
    assert [r["gpu"] for r in rows] == [0]
    assert rows[0]["samples"] == 240
