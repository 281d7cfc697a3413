"""A month of history for a few GPUs, written as the collector and scheduler would leave it:
hourly roll-ups for the hours rolled up, raw 5-minute samples for the last day and a bit."""

from __future__ import annotations

import math

from store.db import Connection, atomic
from store.rollups import LIVE_TS, set_rollup_state

HOUR, STEP = 3600, 300
TOTAL_MIB = 24_576  # tests.support.rows.add_gpu's memory


def load(gpu: int, ts: int) -> float:
    """A made-up daily rhythm per GPU, 0-100: busy afternoons, GPU 3 mostly idle."""
    day = math.sin((ts % 86_400) / 86_400 * 2 * math.pi - gpu)
    base = 8 if gpu == 3 else 45
    return max(0.0, min(100.0, base + 50 * day + 7 * math.sin(ts / 2000 + gpu)))


def fill_history(conn: Connection, gpus: tuple[int, ...], now: int, days: int = 30) -> int:
    """Hourly rows from `days` ago to two hours ago, raw samples for the last 26 h; returns
    where the roll-ups end (LIVE_TS)."""
    rolled = now // HOUR * HOUR - 2 * HOUR
    with atomic(conn):
        for hour in range(rolled - days * 86_400, rolled, HOUR):
            for g in gpus:
                util = load(g, hour + HOUR // 2)
                conn.execute(
                    "INSERT OR REPLACE INTO hourly (hour, gpu, samples, active_s, gpu_active_s, "
                    "util_mean, util_max, mem_used_mean, mem_used_max, temp_mean, temp_max, "
                    "power_mean, power_max, process_rows) VALUES (?,?,720,?,?,?,?,?,?,?,?,?,?,0)",
                    (
                        hour,
                        g,
                        36 * util,
                        36 * util,
                        util,
                        min(100, round(util + 20)),
                        TOTAL_MIB * (0.2 + util / 200),
                        TOTAL_MIB * (0.3 + util / 200),
                        35 + util / 2,
                        40 + util / 2,
                        60 + 3 * util,
                        80 + 3.5 * util,
                    ),
                )
        for ts in range(now - 26 * HOUR, now, STEP):  # the tick at `now` is the caller's
            conn.executemany(
                "INSERT OR REPLACE INTO samples (ts, gpu, tick_ms, util, mem_used_mib, temp_c, "
                "power_dw, sm_mhz, mem_mhz, active_ms) VALUES (?,?,?,?,?,?,?,?,?,?)",
                [
                    (
                        ts,
                        g,
                        STEP * 1000,
                        round(load(g, ts)),
                        round(TOTAL_MIB * (0.2 + load(g, ts) / 200)),
                        round(35 + load(g, ts) / 2),
                        round(600 + 30 * load(g, ts)),
                        1980,
                        9501,
                        round(STEP * 10 * load(g, ts)),
                    )
                    for g in gpus
                ],
            )
        set_rollup_state(conn, LIVE_TS, rolled)
    return rolled


def hold_idle(conn: Connection, gpu: int, now: int, hours: int, rolled: int) -> None:
    """A notebook (pid 4711, carol, a Slurm job) holding 20 GiB of `gpu` for the last 9 h
    and idle for the last `hours`: its samples and roll-ups say so."""
    with atomic(conn):
        process = conn.execute(
            "INSERT INTO processes (pid, started, user, command, first_seen, last_seen, workload) "
            "VALUES (4711, ?, 'carol', 'jupyter-kernel --notebook analysis.ipynb', ?, ?, "
            "'slurm job 4242') RETURNING id",
            (now - 10 * HOUR, now - 9 * HOUR, now),
        ).fetchone()[0]
        conn.executemany(
            "INSERT INTO process_samples VALUES (?, ?, ?, 20480, 0)",
            [(ts, gpu, process) for ts in range(now - 9 * HOUR, now + 1, STEP)],
        )
        idle_from = now - hours * HOUR
        conn.execute(
            "UPDATE samples SET util = 0, active_ms = 0 WHERE gpu = ? AND ts >= ?",
            (gpu, idle_from),
        )
        conn.execute(
            "UPDATE hourly SET held_idle_s = 3600 * (1 - util_mean / 100.0) WHERE gpu = ? "
            "AND hour >= ? AND hour < ?",
            (gpu, now // HOUR * HOUR - 9 * HOUR, rolled),
        )
        conn.execute(
            "UPDATE hourly SET held_idle_s = 3600, util_mean = 0, util_max = 0 WHERE gpu = ? "
            "AND hour >= ?",
            (gpu, idle_from // HOUR * HOUR),
        )
