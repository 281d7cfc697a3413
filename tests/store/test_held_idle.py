"""Held idle: the roll-ups against a loop-based reference, the sharing rule, the idle runner
left out of people's rows, and the stretch a GPU is held idle in now."""

from __future__ import annotations

import random
from datetime import date
from zoneinfo import ZoneInfo

import pytest

from store import aggregate, held_idle
from store.samples import GpuInfo, GpuSample, ProcessSample, Recorder, Tick
from tests.support.rows import mark_idle_runner

UTC = ZoneInfo("UTC")
BERLIN = ZoneInfo("Europe/Berlin")
GPUS = [GpuInfo(f"GPU-{i}", i, "Test GPU") for i in range(3)]
PEOPLE = {601: "alice", 602: "bob", 603: "carol"}


def proc(gpu: int, pid: int, mem: int, sm: int | None = None) -> ProcessSample:
    return ProcessSample(GPUS[gpu].uuid, pid, 1, PEOPLE.get(pid, "dave"), "python", mem, sm)


def random_ticks(start: int, count: int, tick_s: int, seed: int) -> list[Tick]:
    """Ticks with point and buffer readings, processes above and below 1 GiB, sharing."""
    rnd = random.Random(seed)
    ticks = []
    for i in range(count):
        samples, procs = [], []
        for g, gpu in enumerate(GPUS):
            util = rnd.choice((0, 0, 1, 2, 30, 90))
            active = None if g == 1 else rnd.choice((0.0, 0.0, tick_s / 4, float(tick_s)))
            samples.append(GpuSample(gpu, util=util, power_w=100.0, active_s=active))
            for pid in rnd.sample(list(PEOPLE), rnd.randint(0, 3)):
                procs.append(proc(g, pid, rnd.choice((200, 1023, 1024, 8000))))
        ticks.append(Tick(start + tick_s * i, tick_s, samples, procs))
    return ticks


def reference(ticks: list[Tick], threshold: float, held_mib: int, tz) -> tuple[dict, dict]:
    """({(day, gpu index): seconds}, {(day, user): seconds}) with loops, by the definition."""
    per_gpu: dict = {}
    per_user: dict = {}
    for tick in ticks:
        day = aggregate.day_of(tick.ts, tz).isoformat()
        for s in tick.samples:
            holders = [
                p for p in tick.processes if p.gpu_uuid == s.gpu.uuid and p.mem_mib >= held_mib
            ]
            if not holders:
                continue
            if s.active_s is not None:
                active = min(s.active_s, tick.tick_s)
            else:
                active = tick.tick_s if s.util > threshold else 0
            idle = tick.tick_s - active
            per_gpu[(day, s.gpu.index)] = per_gpu.get((day, s.gpu.index), 0) + idle
            for p in holders:
                per_user[(day, p.user)] = per_user.get((day, p.user), 0) + idle / len(holders)
    return per_gpu, per_user


@pytest.mark.parametrize("held_mib", [1024, 100])
def test_rollups_match_the_definition(conn, held_mib):
    start = aggregate.day_start(date(2026, 3, 29), BERLIN) - 3600  # across the DST change
    ticks = random_ticks(start, 24 * 60, 60, seed=held_mib)
    Recorder(conn).write(ticks)
    result = aggregate.compute(
        conn, date(2026, 3, 28), date(2026, 3, 29), BERLIN, 1.0, held_mib=held_mib
    )
    per_gpu, per_user = reference(ticks, 1.0, held_mib, BERLIN)
    ids = {idx: gid for gid, idx in conn.execute("SELECT id, idx FROM gpus")}
    got = {(r["day"], r["gpu"]): r["held_idle_s"] for r in result.daily}
    for (day, index), seconds in per_gpu.items():
        assert got[(day, ids[index])] == pytest.approx(seconds)
    for day in {d for d, _ in per_gpu}:
        want = sum(s for (d, _g), s in per_gpu.items() if d == day)
        assert got[(day, 0)] == pytest.approx(want)  # the host adds its GPUs
    users = {(r["day"], r["user"]): r["held_idle_s"] for r in result.user_daily if r["gpu"] == 0}
    assert users == pytest.approx({k: per_user.get(k, 0.0) for k in users})
    assert {k for k, v in per_user.items() if v} <= set(users)
    # hours and days come from one set of partials: they agree
    hourly = sum(r["held_idle_s"] for r in result.hourly if r["gpu"] == 0)
    assert hourly == pytest.approx(sum(r["held_idle_s"] for r in result.daily if r["gpu"] == 0))
    # held idle and active time never exceed the time sampled
    for row in result.hourly:
        if row["gpu"]:
            assert row["held_idle_s"] + row["gpu_active_s"] <= row["samples"] * 60 + 1e-6


def test_holders_share_equally_and_small_processes_do_not_hold(conn):
    # GPU 0: alice (8 GiB) and bob (2 GiB) hold it idle, carol's 500 MiB does not count;
    # GPU 1: bob alone, active a quarter of each tick (buffer), so 3/4 of it is held idle.
    ticks = [
        Tick(
            3600 + 10 * i,
            10,
            [GpuSample(GPUS[0], util=0), GpuSample(GPUS[1], util=50, active_s=2.5)],
            [proc(0, 601, 8192, 0), proc(0, 602, 2048, 0), proc(0, 603, 500), proc(1, 602, 4096)],
        )
        for i in range(6)
    ]
    Recorder(conn).write(ticks)
    result = aggregate.compute(conn, date(1970, 1, 1), date(1970, 1, 1), UTC, 1.0)
    users = {(r["gpu"], r["user"]): r["held_idle_s"] for r in result.user_hourly}
    g0, g1 = (conn.execute("SELECT id FROM gpus WHERE idx = ?", (i,)).fetchone()[0] for i in (0, 1))
    assert users[(g0, "alice")] == users[(g0, "bob")] == pytest.approx(30.0)
    assert users[(g0, "carol")] == 0.0
    assert users[(g1, "bob")] == pytest.approx(6 * 7.5)
    assert users[(0, "bob")] == pytest.approx(30 + 45)
    gpu_rows = {r["gpu"]: r["held_idle_s"] for r in result.hourly}
    assert gpu_rows == pytest.approx({g0: 60.0, g1: 45.0, 0: 105.0})


def test_idle_runner_holding_counts_for_the_gpu_not_for_people(conn):
    ticks = [
        Tick(
            7200 + 60 * i,
            60,
            [GpuSample(GPUS[0], util=0)],
            [proc(0, 500, 4096), proc(0, 601, 4096)],
        )
        for i in range(5)
    ]
    Recorder(conn).write(ticks)
    mark_idle_runner(conn, "render", 7200, [(500, 1)])
    result = aggregate.compute(conn, date(1970, 1, 1), date(1970, 1, 1), UTC, 1.0)
    users = {r["user"]: r["held_idle_s"] for r in result.user_daily if r["gpu"] == 0}
    assert users == {"alice": pytest.approx(150.0)}  # half of 5 idle minutes
    assert {r["gpu"]: r["held_idle_s"] for r in result.daily} == pytest.approx({1: 300.0, 0: 300.0})


def stretch_ticks(start: int, minutes: int) -> list[Tick]:
    """GPU 0 held idle all along; GPU 1 active in its newest tick; GPU 2 active until ten
    minutes before the end, then held idle by two processes."""
    ticks = []
    for i in range(minutes):
        late = i >= minutes - 10
        samples = [
            GpuSample(GPUS[0], util=0),
            GpuSample(GPUS[1], util=80 if i == minutes - 1 else 0),
            GpuSample(GPUS[2], util=0 if late else 70),
        ]
        procs = [proc(0, 601, 6000), proc(1, 602, 9000), proc(2, 603, 3000)]
        procs += [proc(2, 602, 2000)] if late else []
        ticks.append(Tick(start + 60 * i, 60, samples, procs))
    return ticks


def test_held_idle_now_finds_each_stretch_and_its_holders(conn):
    start = 1_000_000
    Recorder(conn).write(stretch_ticks(start, 300))  # five hours: several look-back steps
    ids = {idx: gid for gid, idx in conn.execute("SELECT id, idx FROM gpus")}
    found = {s.gpu: s for s in held_idle.held_idle_now(conn, 1.0, 1024)}
    assert set(found) == {ids[0], ids[2]}
    assert (found[ids[0]].since, found[ids[0]].seconds) == (start, 300 * 60.0)
    late = found[ids[2]]
    assert (late.since, late.seconds) == (start + 290 * 60, 600.0)
    assert [(h["user"], h["pid"], h["mem_mib"]) for h in late.holders] == [
        ("carol", 603, 3000),
        ("bob", 602, 2000),
    ]
    # a higher bar for holding: bob's 2000 MiB no longer holds, carol's 3000 still does
    higher = {s.gpu: s for s in held_idle.held_idle_now(conn, 1.0, 2500)}
    assert [h["user"] for h in higher[ids[2]].holders] == ["carol"]
    # asked as of an earlier moment, GPU 1 was held idle then
    earlier = {s.gpu for s in held_idle.held_idle_now(conn, 1.0, 1024, now=start + 100 * 60)}
    assert earlier == {ids[0], ids[1]}
    assert held_idle.held_idle_now(conn, 1.0, 10_000) == []


def test_window_and_day_queries(conn):
    start = 1_000_000 // 86400 * 86400
    Recorder(conn).write(stretch_ticks(start, 120))
    lo, hi = start, start + 120 * 60
    assert held_idle.user_seconds_between(conn, lo, hi, 1.0, 1024) == pytest.approx(
        {"alice": 7200.0, "bob": 120 * 60 - 60 + 300.0, "carol": 300.0}
    )
    slots = held_idle.gpu_buckets(conn, lo, hi, 3600, 1.0, 1024)
    gid0 = conn.execute("SELECT id FROM gpus WHERE idx = 0").fetchone()[0]
    assert slots[(lo, gid0)] == slots[(lo + 3600, gid0)] == 3600.0


def test_a_gap_in_the_samples_ends_a_stretch(conn):
    # The collector was down for an hour: what the GPU did then is unknown, so the stretch
    # shown now starts after the gap, not before it.
    start = 2_000_000
    ticks = stretch_ticks(start, 60) + stretch_ticks(start + 2 * 3600, 30)
    Recorder(conn).write(ticks)
    gid0 = conn.execute("SELECT id FROM gpus WHERE idx = 0").fetchone()[0]
    found = {s.gpu: s for s in held_idle.held_idle_now(conn, 1.0, 1024)}
    assert (found[gid0].since, found[gid0].seconds) == (start + 2 * 3600, 30 * 60.0)
