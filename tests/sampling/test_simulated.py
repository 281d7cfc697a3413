"""The simulated fleet: deterministic, realistic in shape, with a day/week rhythm."""

from __future__ import annotations

from datetime import date

from collector.backfill import backfill
from sampling.simulated import DAY, SimulatedBackend
from scheduler import rollup
from scheduler.settings import load
from store import held_idle
from store.samples import Recorder
from store.usage import Span
from store.workloads import workload_users

MONDAY = 1_763_337_600  # 2025-11-17 00:00 UTC, a Monday


def test_same_seed_and_time_give_the_same_reading():
    a, b = SimulatedBackend(seed=7), SimulatedBackend(seed=7)
    t = MONDAY + 11 * 3600
    assert a.sample(t, 5) == b.sample(t, 5)
    # A backend that has already walked elsewhere still agrees (pure function of time).
    b.sample(t + 3 * DAY, 5)
    assert a.sample(t + 60, 5) == b.sample(t + 60, 5)
    assert SimulatedBackend(seed=8).sample(t, 5) != a.sample(t, 5)


def test_default_fleet_shape():
    reading = SimulatedBackend().sample(MONDAY + 14 * 3600, 5)
    gpus = [s.gpu for s in reading.samples]
    assert len(gpus) == 4
    assert len({g.uuid for g in gpus}) == 4
    assert len({g.name for g in gpus}) == 4
    assert [s.fan_pct is None for s in reading.samples].count(True) == 1
    for s in reading.samples:
        assert 0 <= s.util <= 100
        assert 0 < s.mem_used_mib <= s.gpu.memory_total_mib
        assert s.power_w > 0 and s.energy_j > 0
        assert 0 <= s.active_s <= 5


def test_processes_keep_pid_and_start_for_the_job_life():
    backend = SimulatedBackend()
    seen: dict[int, set[tuple[int, str]]] = {}
    for t in range(MONDAY + 9 * 3600, MONDAY + 18 * 3600, 60):
        for p in backend.sample(t, 60).processes:
            seen.setdefault(p.pid, set()).add((p.started, p.user))
            assert p.started <= t
    assert len(seen) >= 5
    assert all(len(v) == 1 for v in seen.values())
    assert len({user for v in seen.values() for _, user in v}) >= 3


def test_energy_counter_integrates_power():
    backend = SimulatedBackend()
    t0, t1 = MONDAY + 10 * 3600, MONDAY + 11 * 3600
    readings = [backend.sample(t, 10) for t in range(t0, t1 + 1, 10)]
    for g in range(4):
        joules = readings[-1].samples[g].energy_j - readings[0].samples[g].energy_j
        mean_power = sum(r.samples[g].power_w for r in readings[1:]) / (len(readings) - 1)
        assert abs(joules - mean_power * 3600) <= 0.03 * joules + 2000


def test_utilization_and_power_move_together():
    backend = SimulatedBackend()
    busy = idle = 0
    for t in range(MONDAY, MONDAY + DAY, 300):
        for s in backend.sample(t, 300).samples:
            if s.util > 50:
                busy += 1
                assert s.power_w > 0.3 * _max_w(s.gpu.name)
                assert s.sm_mhz > 1000
            elif s.util == 0:
                idle += 1
                assert s.pstate == 8 and s.sm_mhz < 500
    assert busy and idle


def _max_w(name: str) -> float:
    return next(m.max_w for m in SimulatedBackend().models if m.name == name)


def test_day_and_week_rhythm_in_the_stored_history(conn):
    """Two weeks backfilled: weekday working hours are far busier than nights and weekends."""
    backend = SimulatedBackend(seed=3)
    assert backfill(backend, Recorder(conn), 14, MONDAY + 14 * DAY) == 14 * 1440
    rows = conn.execute("SELECT ts, sum(active_ms) FROM samples GROUP BY ts").fetchall()
    work, night, weekend = [], [], []
    for ts, active_ms in rows:
        weekday, hour = ((ts - MONDAY) // DAY) % 7, (ts % DAY) // 3600
        if weekday >= 5:
            weekend.append(active_ms)
        elif 10 <= hour < 17:
            work.append(active_ms)
        elif 2 <= hour < 6:
            night.append(active_ms)
    mean = lambda xs: sum(xs) / len(xs)  # noqa: E731
    assert mean(work) > 3 * mean(night)
    assert mean(work) > 3 * mean(weekend)
    assert mean(night) > 0  # some overnight trainings run into the small hours


def test_backfill_skips_a_store_that_has_samples(conn):
    backend = SimulatedBackend()
    recorder = Recorder(conn)
    assert backfill(backend, recorder, 1, MONDAY) == 1440
    assert backfill(backend, recorder, 1, MONDAY + DAY) == 0
    assert conn.execute("SELECT count(*) FROM samples").fetchone()[0] == 1440 * 4
    assert conn.execute("SELECT min(tick_ms), max(tick_ms) FROM samples").fetchone() == (
        60_000,
        60_000,
    )


def test_benchmark_mode_runs_the_requested_processes():
    reading = SimulatedBackend(gpus=8, processes=20).sample(MONDAY + 3 * 3600, 1)
    assert len(reading.samples) == 8
    assert len(reading.processes) == 20
    assert all(s.active_s == 1 for s in reading.samples)


def test_the_demo_fleet_shows_held_idle_and_workloads(conn, db_path, tmp_path):
    """Two backfilled days rolled up by the scheduler: the notebook holds GPU 1 idle for
    hours, and jobs run in Docker containers (some as root), pods, Slurm jobs and sessions."""
    backend = SimulatedBackend()
    backfill(backend, Recorder(conn), 2, MONDAY + 2 * DAY)
    env = {"GPUPULSE_DB": str(db_path), "GPUPULSE_HEARTBEAT": str(tmp_path / "hb")}
    rollup.run(conn, load(env), MONDAY + 2 * DAY)
    held = held_idle.user_seconds_days(conn, "2025-11-17", "2025-11-18")
    assert held["alice"] > 4 * 3600  # the notebook, idle between the day's other jobs
    now = held_idle.held_idle_now(conn, 1.0, 1024, MONDAY + 2 * DAY)
    notebook = [s for s in now if any("ipykernel" in h["command"] for h in s.holders)]
    assert notebook and notebook[0].seconds >= 3600
    kinds = {
        w.split()[0] for w in workload_users(conn, Span(date(2025, 11, 17), date(2025, 11, 18)))
    }
    assert {"docker", "pod", "slurm"} <= kinds
    roots = workload_users(conn, Span(date(2025, 11, 17), date(2025, 11, 18)))
    assert any(w.startswith("docker") and "root" in users for w, users in roots.items())
