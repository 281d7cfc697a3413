"""Rows written straight into a migrated database, so tests need no scheduler or collector."""

from __future__ import annotations

import time

from idle.jobs import Run
from idle.record import RunLog
from store.db import Connection, atomic
from store.rollups import bump_data_version
from store.samples import ProcessSample


def add_gpu(conn: Connection, gid: int, idx: int, uuid: str, name: str, seen: int = 0) -> None:
    """A row in `gpus` with an explicit id (the id roll-ups refer to)."""
    with atomic(conn):
        conn.execute(
            "INSERT INTO gpus (id, uuid, idx, name, memory_total_mib, first_seen, last_seen) "
            "VALUES (?,?,?,?,?,?,?)",
            (gid, uuid, idx, name, 24_576, seen, seen),
        )


def add_days(conn: Connection, days: dict[str, float], gpu: int = 0, **columns) -> None:
    """Daily rows with the given active minutes (gpu_minutes defaults to the same), bump
    the data version like the scheduler does."""
    with atomic(conn):
        for day, minutes in days.items():
            row = {
                "samples": 100,
                "active_minutes": minutes,
                "gpu_minutes": minutes,
                "peak_utilization": 90,
                "avg_utilization": 40.0,
                "avg_active_utilization": 70.0,
                "energy_kwh": 1.5,
                **columns,
            }
            conn.execute(
                f"INSERT OR REPLACE INTO daily (day, gpu, {', '.join(row)}) "
                f"VALUES (?, ?, {', '.join('?' * len(row))})",
                (day, gpu, *row.values()),
            )
        bump_data_version(conn)


def add_user_days(conn: Connection, user: str, seconds: dict[str, float], gpu: int = 1) -> None:
    """user_daily rows for one user on one GPU."""
    with atomic(conn):
        for day, secs in seconds.items():
            conn.execute(
                "INSERT INTO user_daily (day, gpu, user, gpu_seconds, peak_mem_mib) "
                "VALUES (?,?,?,?,?)",
                (day, gpu, user, secs, 100),
            )
        bump_data_version(conn)


def add_sample(conn: Connection, ts: int, gpu: int, **values) -> None:
    """One `samples` row (and the GPU's last_seen moved to it)."""
    row = {
        "tick_ms": 5000,
        "util": 50,
        "mem_util": 20,
        "mem_used_mib": 1024,
        "temp_c": 60,
        "fan_pct": 30,
        "power_dw": 2505,
        "energy_j": 123_456,
        "sm_mhz": 1800,
        "mem_mhz": 9000,
        "pstate": 0,
        "active_ms": 5000,
        **values,
    }
    with atomic(conn):
        conn.execute(
            f"INSERT INTO samples (ts, gpu, {', '.join(row)}) "
            f"VALUES (?, ?, {', '.join('?' * len(row))})",
            (ts, gpu, *row.values()),
        )
        conn.execute("UPDATE gpus SET last_seen = max(last_seen, ?) WHERE id = ?", (ts, gpu))


def add_process(conn: Connection, ts: int, gpu: int, pid: int, user: str, mem_mib: int) -> None:
    """A process seen on a GPU at one tick."""
    with atomic(conn):
        pid_row = conn.execute(
            "INSERT INTO processes (pid, started, user, command, first_seen, last_seen) "
            "VALUES (?,?,?,?,?,?) RETURNING id",
            (pid, ts - 100, user, f"python train.py --pid {pid}", ts, ts),
        ).fetchone()[0]
        conn.execute(
            "INSERT INTO process_samples VALUES (?,?,?,?,?)", (ts, gpu, pid_row, mem_mib, 50)
        )


def add_hour(conn: Connection, hour: int, gpu: int, active_s: float) -> None:
    """One hourly roll-up row."""
    with atomic(conn):
        conn.execute(
            "INSERT INTO hourly (hour, gpu, samples, active_s, gpu_active_s, util_mean, "
            "util_max, process_rows) VALUES (?,?,?,?,?,?,?,?)",
            (hour, gpu, 720, active_s, active_s, 40.0, 99, 0),
        )
        bump_data_version(conn)


def set_meta_value(conn: Connection, key: str, value: str) -> None:
    """A meta row."""
    with atomic(conn):
        conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))


def add_idle_run(conn: Connection, started: int, stopped: int, gpu_seconds: float) -> None:
    """A finished idle-runner job run, as `collector idle-run` records it."""
    with atomic(conn):
        conn.execute(
            "INSERT INTO idle_runs (job, gpus, pid, started, updated, stopped, reason, "
            "gpu_seconds) VALUES ('render', '0,1', 99, ?, ?, ?, 'exited 0', ?)",
            (started, stopped, stopped, gpu_seconds),
        )


def mark_idle_runner(conn, job: str, started: int, processes: list[tuple[int, int]], gpus=(0,)):
    """Record an idle-runner run and its (pid, started) processes the way the runner does."""
    run = Run(job, tuple(gpus), processes[0][0], started)
    log = RunLog(conn)
    log.save(run, started + 60)
    log.processes(run, [ProcessSample("GPU-x", pid, pstarted) for pid, pstarted in processes])
    assert log.flush()


def seed_fresh_host(conn: Connection, interval_s: int = 120) -> int:
    """One GPU sampled now with carol's process and yesterday's roll-up; the sample stays
    fresh for /health for 3 x `interval_s`. Returns now."""
    now = int(time.time())
    add_gpu(conn, 1, 0, "GPU-aaaa", "NVIDIA A100", seen=now)
    add_sample(conn, now, 1, util=64)
    add_process(conn, now, 1, 99, "carol", 512)
    set_meta_value(conn, "interval", str(interval_s))
    add_days(conn, {time.strftime("%Y-%m-%d", time.gmtime(now - 86400)): 90})
    return now
