"""The status page's "last 24 h" per user: kept per whole hour, it must always equal a
fresh scan of the raw samples in the window, as the clock moves and data arrives."""

from __future__ import annotations

import random

from api.lab.recent import RecentUsage
from store.db import atomic
from store.usage import user_seconds_between
from tests.support.rows import add_gpu

PIDS = {"ann": 11, "ben": 22, "cy": 33}
START = 1_772_600_000  # a moment in March 2026, not on an hour boundary


def ticks(conn, lo: int, hi: int, rng: random.Random) -> None:
    """60 s ticks on two GPUs with one or two processes of three users."""
    with atomic(conn):
        for ts in range(lo, hi, 60):
            for gpu in (1, 2):
                conn.execute(
                    "INSERT INTO samples (ts, gpu, tick_ms, util, active_ms) "
                    "VALUES (?,?,60000,?,?)",
                    (ts, gpu, 50, rng.choice([0, 30_000, 60_000])),
                )
                for user in rng.sample(["ann", "ben", "cy"], rng.choice([1, 2])):
                    pid = conn.execute(
                        "INSERT INTO processes (pid, started, user, first_seen, last_seen) "
                        "VALUES (?,?,?,?,?) ON CONFLICT DO UPDATE SET "
                        "last_seen = excluded.last_seen RETURNING id",
                        (PIDS[user], 1, user, ts, ts),
                    ).fetchone()[0]
                    conn.execute(
                        "INSERT INTO process_samples VALUES (?,?,?,?,?)",
                        (ts, gpu, pid, 100, rng.choice([None, 20, 70])),
                    )


def test_cached_hours_match_a_full_scan(conn):
    add_gpu(conn, 1, 0, "GPU-a", "A100")
    add_gpu(conn, 2, 1, "GPU-b", "A100")
    rng = random.Random(3)
    ticks(conn, START - 90_000, START, rng)
    recent = RecentUsage()
    for step in range(6):  # the clock moves on (by odd amounts) and new ticks arrive
        now = START + step * 2_777
        if step:
            ticks(conn, now - 2_777, now + 1, rng)
        got = recent.get(conn, now, 1.0)
        want = user_seconds_between(conn, now + 1 - 86_400, now + 1, 1.0)
        assert got.keys() == want.keys() and want
        for user, seconds in want.items():
            assert abs(got[user] - seconds) < 1e-6, (step, user)
    # Within a minute the figure is reused, not recomputed.
    assert recent.get(conn, now - now % 60 + 59, 1.0) is got


def test_rolled_up_hours_come_from_user_hourly_not_raw(conn, db_path):
    from scheduler import rollup
    from scheduler.settings import load
    from store.rollups import rolled_up_until

    add_gpu(conn, 1, 0, "GPU-a", "A100")
    add_gpu(conn, 2, 1, "GPU-b", "A100")
    ticks(conn, START - 90_000, START, random.Random(5))
    now = START + 1_800
    rollup.run(conn, load({"GPUPULSE_DB": str(db_path)}), now)
    want = user_seconds_between(conn, now + 1 - 86_400, now + 1, 1.0)
    assert RecentUsage().get(conn, now, 1.0).keys() == want.keys()
    # Remove the raw process rows of every whole hour the roll-up finished: a figure read
    # from user_hourly cannot change, one scanned from raw samples would.
    first = -(-(now + 1 - 86_400) // 3600) * 3600
    finished = rolled_up_until(conn) // 3600 * 3600
    assert finished - first >= 20 * 3600
    with atomic(conn):
        conn.execute("DELETE FROM process_samples WHERE ts >= ? AND ts < ?", (first, finished))
    got = RecentUsage().get(conn, now, 1.0)
    assert got.keys() == want.keys()
    for user, seconds in want.items():
        assert abs(got[user] - seconds) < 1e-6, user
