"""store.aggregate against an independent loop-based computation on generated data, and
the idle runner's processes kept out of people's usage."""

from __future__ import annotations

import math
from datetime import date
from zoneinfo import ZoneInfo

import pytest

from idle.jobs import Run
from idle.record import RunLog
from store import aggregate
from store.rollups import HOURLY_SUMS
from store.samples import GpuInfo, GpuSample, ProcessSample, Recorder, Tick
from tests.support import fleet
from tests.support.rows import mark_idle_runner

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


# The runner case: process 5 (carol's name, pid 1005) shares its GPU with bob's process 4
# by SM share; carol's own process 2 elsewhere still counts (the runner is known by
# (pid, started), not by user name).
@pytest.mark.parametrize("runner", [None, 5], ids=["people", "idle-runner"])
def test_user_daily_matches_reference(conn, runner):
    gpus = fleet.add_gpus(conn, 4)
    start = aggregate.day_start(date(2026, 3, 29), BERLIN)
    end = aggregate.day_start(date(2026, 3, 31), BERLIN)
    samples, procs = fleet.generate(gpus, start, end, 30, seed=7)
    fleet.insert(conn, samples, procs)
    users = {pid: fleet.USERS[pid % 3] for pid in range(1, 7)}
    if runner is not None:
        mark_idle_runner(conn, "fold", start, [(1000 + runner, 0)])
        users[runner] = None
    result = aggregate.compute(conn, date(2026, 3, 29), date(2026, 3, 30), BERLIN, 1.0)
    rows = result.user_daily
    expected = fleet.reference_users(samples, procs, users, BERLIN, 1.0)
    assert {(r["day"], r["gpu"], r["user"]) for r in rows} == set(expected)
    for r in rows:
        seconds, peak = expected[(r["day"], r["gpu"], r["user"])]
        assert close(r["gpu_seconds"], seconds)
        assert r["peak_mem_mib"] == peak
    # the late-data audit counts every process row, the runner's included
    assert sum(h["process_rows"] for h in result.hourly if h["gpu"] == 0) == len(procs)
    # the same per UTC hour (what the push payload carries), host peak per tick over GPUs
    hourly = fleet.reference_users(samples, procs, users, BERLIN, 1.0, fleet.utc_hour)
    assert {(r["hour"], r["gpu"], r["user"]) for r in result.user_hourly} == set(hourly)
    for r in result.user_hourly:
        seconds, peak = hourly[(r["hour"], r["gpu"], r["user"])]
        assert close(r["gpu_seconds"], seconds) and r["peak_mem_mib"] == peak


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


def test_hourly_utilization_sums_count_every_reading_and_the_active_ones(conn):
    gpus = fleet.add_gpus(conn, 3)
    start = aggregate.day_start(date(2026, 3, 29), BERLIN)  # the 23-hour DST day
    samples, _procs = fleet.generate(gpus, start, start + 23 * 3600, 60, seed=11)
    samples = [(*s[:3], None, *s[4:]) if i % 13 == 0 else s for i, s in enumerate(samples)]
    fleet.insert(conn, samples, [])
    result = aggregate.compute(conn, date(2026, 3, 29), date(2026, 3, 29), BERLIN, 1.0)
    want: dict[tuple, list[int]] = {}
    for ts, g, tick_ms, util, *rest in samples:
        a = min(rest[9], tick_ms) if rest[9] is not None else (tick_ms if (util or 0) > 1 else 0)
        for key in ((ts // 3600 * 3600, g), (ts // 3600 * 3600, 0)):
            acc = want.setdefault(key, [0, 0, 0, 0])
            if util is not None:
                acc[0], acc[1] = acc[0] + util, acc[1] + 1
                if a > 0:
                    acc[2], acc[3] = acc[2] + util, acc[3] + 1
    got = {(r["hour"], r["gpu"]): [r[k] for k in HOURLY_SUMS] for r in result.hourly}
    assert got == want and len(got) == 23 * 4
    assert all(type(v) is int for sums in got.values() for v in sums)  # exact, sent as is


def test_energy_at_one_second_ticks_matches_reference(conn):
    # At 1 s ticks the previous sample is found by key (ts - 1), not by range: cover
    # counter resets, a gap and lone missing samples there too.
    gpus = fleet.add_gpus(conn, 3)
    start = aggregate.day_start(date(2026, 3, 10), BERLIN) + 3 * 3600
    samples, _procs = fleet.generate(gpus, start, start + 7200, 1, seed=5, gap=(start, start + 9))
    samples = [s for i, s in enumerate(samples) if i % 101 != 7]
    fleet.insert(conn, samples, [])
    rows = aggregate.compute_daily(conn, date(2026, 3, 10), date(2026, 3, 10), BERLIN, 1.0)
    expected = fleet.reference_daily(samples, BERLIN, 1.0)
    assert len(rows) == len(expected) == 4
    for row in rows:
        want = expected[(row["day"], row["gpu"])]
        assert (row["samples"], close(row["energy_kwh"], want["energy_kwh"])) == (
            want["samples"],
            True,
        ), row["gpu"]


def test_compute_daily_filters_one_gpu_and_empty_store(conn):
    assert aggregate.compute_daily(conn, date(2026, 1, 1), date(2026, 1, 2), BERLIN, 1.0) == []
    gpus = fleet.add_gpus(conn, 2)
    start = aggregate.day_start(date(2026, 1, 1), BERLIN)
    fleet.insert(conn, *fleet.generate(gpus, start, start + 7200, 60))
    rows = aggregate.compute_daily(conn, date(2026, 1, 1), date(2026, 1, 1), BERLIN, 1.0, gpu=0)
    assert [r["gpu"] for r in rows] == [0]
    assert rows[0]["samples"] == 240


def test_person_beside_idle_job_gets_only_their_share(conn):
    gpu = GpuInfo("GPU-a", 0, "Test GPU")
    runner = ("gpupulse", 500, 100, 5000, 75)  # user, pid, started, MiB, SM %
    alice = ("alice", 600, 200, 1000, 25)
    by_hand = ("gpupulse", 500, 300, 300, None)  # the runner's pid reused, a new process

    def tick(i: int, *who) -> Tick:
        return Tick(
            7200 + 60 * i,
            60,
            [GpuSample(gpu, util=90, power_w=100.0)],
            [
                ProcessSample(gpu.uuid, pid, st, user, "cmd", mem, sm)
                for user, pid, st, mem, sm in who
            ],
        )

    ticks = [tick(i, runner) for i in range(4)]  # the idle job alone: no one's time
    ticks += [tick(i, runner, alice) for i in (4, 5)]  # alice starts; the job has 75 % of SM
    ticks += [tick(i, alice) for i in (6, 7, 8)]  # the runner stopped its job
    ticks += [tick(9, by_hand)]
    Recorder(conn).write(ticks)
    mark_idle_runner(conn, "render", 7200, [(500, 100)])
    result = aggregate.compute(conn, date(1970, 1, 1), date(1970, 1, 1), ZoneInfo("UTC"), 1.0)
    rows = {(r["gpu"], r["user"]): (r["gpu_seconds"], r["peak_mem_mib"]) for r in result.user_daily}
    # Beside the job alice gets her SM share (25 % of 2 ticks), not the whole GPU: the job's
    # 75 % is harvested time (idle_runs), and counting it again as hers would book the same
    # GPU-seconds twice. The job stops within one interval, so little of her time is at stake.
    alice_s = 2 * 60 * 0.25 + 3 * 60
    gid = conn.execute("SELECT id FROM gpus").fetchone()[0]
    assert rows == {
        (gid, "alice"): (alice_s, 1000),
        (0, "alice"): (alice_s, 1000),
        (gid, "gpupulse"): (60.0, 300),
        (0, "gpupulse"): (60.0, 300),
    }
    assert sum(h["process_rows"] for h in result.hourly if h["gpu"] == 0) == 4 + 4 + 3 + 1


def test_idle_harvest_spreads_runs_over_local_days(conn):
    day1 = aggregate.day_start(date(2026, 3, 10), BERLIN)
    day2 = day1 + 86400
    log = RunLog(conn)
    across_midnight = Run("fold", (0, 1), 11, day2 - 3600, stopped=day2 + 3600, reason="tty")
    running = Run("render", (2,), 12, day2 + 36000)
    earlier = Run("fold", (0,), 13, day1 - 7200, stopped=day1 - 3600, reason="exited 0")
    later = Run("fold", (0,), 14, day2 + 86400 + 60, stopped=day2 + 86400 + 120)
    for run in (across_midnight, earlier, later):
        log.save(run, run.stopped)
    log.save(running, running.started + 600)  # a heartbeat 10 minutes in
    assert log.flush()
    harvest = aggregate.idle_harvest(conn, "2026-03-10", "2026-03-11", BERLIN)
    assert [h["day"] for h in harvest] == ["2026-03-10", "2026-03-11"]
    assert [h["runs"] for h in harvest] == [1, 2]
    # 2 GPUs x 2 h split at midnight; the running job's 10 minutes on 1 GPU
    assert harvest[0]["gpu_seconds"] == pytest.approx(2 * 3600)
    assert harvest[1]["gpu_seconds"] == pytest.approx(2 * 3600 + 600)
    empty = aggregate.idle_harvest(conn, "2026-03-20", "2026-03-20", BERLIN)
    assert empty == [{"day": "2026-03-20", "gpu_seconds": 0.0, "runs": 0}]
    with pytest.raises(ValueError):
        aggregate.idle_harvest(conn, "2026-13-01", "2026-03-20", BERLIN)
