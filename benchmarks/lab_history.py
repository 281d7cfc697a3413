"""Benchmark the status page and the GPU page over a month of raw data.

8 GPUs sampled every 5 s for 30 days (4.1 million samples, two processes per GPU, 8.3
million process rows), written as the collector would, with every whole hour rolled up
(hourly and user_hourly, as the scheduler leaves them); GPU #7 has been held idle by a
notebook for the last 10 hours, so the page flags it. Prints how long each part of the
status page takes in-process (sparklines, the held-idle flags, the held-idle 24 h per
user cold and refreshed), then p50/p99 of `/` and `/gpus/0` under real gunicorn (2
workers) on loopback; target for the status page: p50 <= 30 ms.

    .venv/bin/python benchmarks/lab_history.py [--days 30] [--seconds 3] [--clients 2]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from api.lab.history import HeldRule, status_sparks
from api.lab.recent import HELD_IDLE, RecentUsage
from benchmarks.api import serve
from benchmarks.lab import BROWSER, GPUS, TICK_S, add_gpus, measure
from store import atomic, open_db
from store.held_idle import held_idle_now
from store.rollups import LIVE_TS, bump_data_version, set_rollup_state
from store.samples import latest_state
from tests.support.servers import stop

HELD_GPU, HELD_HOURS = GPUS, 10  # GPU #7 (row id 8): a notebook holds it idle
RULE = HeldRule(1.0, 1024)

# Every tick of every GPU, in key order, generated inside SQLite (no Python per row).
SAMPLES_SQL = f"""
WITH RECURSIVE t(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM t WHERE k < :ticks - 1)
INSERT INTO samples (ts, gpu, tick_ms, util, mem_used_mib, temp_c, power_dw, sm_mhz,
                     mem_mhz, active_ms)
SELECT ts, id, {TICK_S * 1000}, u, 30000 + u * 100, 40 + u / 3, 1000 + u * 30, 1980, 2619,
       CASE WHEN u > 1 THEN {TICK_S * 1000} ELSE 0 END
FROM (SELECT ts, id, CASE WHEN id = {HELD_GPU} AND ts >= :idle_from THEN 0
                          ELSE (k / 120 * 7 + id * 13) % 100 END AS u
      FROM (SELECT :lo + k * {TICK_S} AS ts, k, g.id AS id FROM t CROSS JOIN gpus g))
ORDER BY ts, id
"""
PROCESS_SQL = f"""
INSERT INTO process_samples (ts, gpu, process, mem_mib, sm_util)
SELECT s.ts, s.gpu, p.id, 20000, 40 FROM samples s
JOIN processes p ON p.pid / 10 = s.gpu AND (s.gpu <> {HELD_GPU} OR p.pid % 10 = 0)
ORDER BY s.ts, s.gpu, p.id
"""
HOURLY_SQL = """
INSERT INTO hourly (hour, gpu, samples, active_s, gpu_active_s, util_mean, util_max,
                    mem_used_mean, mem_used_max, temp_mean, temp_max, power_mean, power_max,
                    process_rows)
SELECT ts / 3600 * 3600, gpu, count(*), total(active_ms) / 1000.0, total(active_ms) / 1000.0,
       avg(util), max(util), avg(mem_used_mib), max(mem_used_mib), avg(temp_c), max(temp_c),
       avg(power_dw) / 10.0, max(power_dw) / 10.0, 0
FROM samples WHERE ts < :rolled GROUP BY 1, 2
"""
USER_HOURLY_SQL = f"""
INSERT INTO user_hourly (hour, gpu, user, gpu_seconds, peak_mem_mib, held_idle_s)
SELECT ps.ts / 3600 * 3600, 0, p.user, total(s.active_ms) / 2000.0, max(ps.mem_mib),
       total(CASE WHEN s.active_ms = 0 THEN {TICK_S} END)
FROM process_samples ps JOIN processes p ON p.id = ps.process
JOIN samples s ON s.ts = ps.ts AND s.gpu = ps.gpu
WHERE ps.ts < :rolled GROUP BY 1, 3
"""


def history_db(path: Path, now: int, days: int) -> None:
    """`days` of 5 s samples on 8 GPUs, processes, and every whole hour rolled up."""
    conn = open_db(path, migrate=True)
    lo = now - days * 86_400
    rolled = now // 3600 * 3600
    with atomic(conn):
        add_gpus(conn, now)
        for g in range(1, GPUS + 1):
            for k in range(1 if g == HELD_GPU else 2):
                user = "carol" if g == HELD_GPU else f"user{(g * 2 + k) % 30:02d}"
                conn.execute(
                    "INSERT INTO processes (pid, started, user, command, first_seen, last_seen, "
                    "workload) VALUES (?,?,?,?,?,?,?)",
                    (g * 10 + k, lo - 60, user, "python train.py", lo, now, f"slurm job {g}{k}"),
                )
        args = {"ticks": days * 86_400 // TICK_S, "lo": lo, "idle_from": now - HELD_HOURS * 3600}
        conn.execute(SAMPLES_SQL, args)
        conn.execute(PROCESS_SQL)
        conn.execute(HOURLY_SQL, {"rolled": rolled})
        conn.execute(USER_HOURLY_SQL, {"rolled": rolled})
        set_rollup_state(conn, LIVE_TS, rolled)
        conn.execute("UPDATE gpus SET last_seen = (SELECT max(ts) FROM samples)")
        conn.execute("INSERT INTO meta VALUES ('interval', '5')")
        bump_data_version(conn)
    conn.close()


def timed(fn, runs: int = 5) -> float:
    """Median milliseconds of `fn()`."""
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def parts(db: Path, now: int) -> None:
    """The status page's history parts, each timed in-process."""
    conn = open_db(db)
    gpus = latest_state(conn)
    print(f"{'part of the status page':<58}{'median ms':>10}")
    rows = [
        ("newest state of every GPU (latest_state)", lambda: latest_state(conn)),
        (
            "24 h sparklines of 8 GPUs (hourly + raw hour)",
            lambda: status_sparks(conn, gpus, now, RULE),
        ),
        ("GPUs held idle now (held_idle_now)", lambda: held_idle_now(conn, 1.0, 1024, now)),
        (
            "held idle per user, 24 h, a worker's first view",
            lambda: RecentUsage(measure=HELD_IDLE).get(conn, now, 1.0, 1024),
        ),
    ]
    for name, fn in rows:
        print(f"{name:<58}{timed(fn):>10.1f}")
    recent = RecentUsage(measure=HELD_IDLE)
    recent.get(conn, now - 60, 1.0, 1024)
    refreshed = timed(lambda: RecentUsage.get(recent, conn, now, 1.0, 1024), 1)
    print(f"{'held idle per user, 24 h, the once-a-minute refresh':<58}{refreshed:>10.1f}")
    stretches = held_idle_now(conn, 1.0, 1024, now)
    print(
        f"held idle now: {[(s.gpu, round(s.seconds / 3600, 1)) for s in stretches]} (GPU id, hours)"
    )
    conn.close()


def history_figures(days: int, seconds: float, clients: int) -> None:
    """Build the month, time the parts, then serve and measure both pages."""
    now = int(time.time())
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "pulse.db"
        t0 = time.perf_counter()
        history_db(db, now, days)
        size = sum(p.stat().st_size for p in Path(tmp).iterdir()) / 2**30
        built = time.perf_counter() - t0
        print(
            f"history database: {GPUS} GPUs x {days} days of {TICK_S} s samples, 2 processes "
            f"per GPU, whole hours rolled up; {size:.1f} GiB, built in {built:.0f} s"
        )
        parts(db, now)
        print(
            "(the sparklines and the held-idle stretches are computed once per 30 s refresh "
            "period per worker; the 24 h per user once a minute)"
        )
        proc, port = serve(db)
        try:
            print(f"{'scenario':<40}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}")
            measure(port, "status page (HTML)", "/", BROWSER, seconds, clients)
            measure(port, "GPU page /gpus/0 (HTML)", "/gpus/0", BROWSER, seconds, clients, False)
        finally:
            stop(proc)


def main() -> None:
    """Run the figures with the command line's sizes."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--seconds", type=float, default=3)
    ap.add_argument("--clients", type=int, default=2)
    args = ap.parse_args()
    history_figures(args.days, args.seconds, args.clients)


if __name__ == "__main__":
    main()
