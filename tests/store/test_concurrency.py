"""Several processes on one SQLite file: concurrent writers, and kill -9 of the collector."""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import subprocess
import time
from itertools import pairwise

import pytest

from store import open_db
from store.samples import GpuInfo, GpuSample, ProcessSample, Recorder, Tick
from tests.support.commands import simulated_collector, without_settings

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TICKS_PER_WRITER = 300


def writer(db_path: str, name: str, start: int) -> None:
    """A second process recording its own GPU, one small transaction per tick."""
    conn = open_db(db_path, write=True)
    rec = Recorder(conn)
    gpu = GpuInfo(f"GPU-{name}", 0 if name == "a" else 1, name)
    for i in range(TICKS_PER_WRITER):
        ts = start + i
        sample = GpuSample(gpu, util=i % 100, power_w=100.0)
        proc = ProcessSample(gpu.uuid, 1000 + i % 7, start, f"user-{name}", "train", 10, 5)
        rec.write([Tick(ts, 1.0, [sample], [proc])])
    conn.close()


def test_two_processes_writing_at_once_lose_nothing(db_path):
    ctx = multiprocessing.get_context("spawn")
    procs = [
        ctx.Process(target=writer, args=(str(db_path), name, 1_700_000_000)) for name in ("a", "b")
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    # A "database is locked" escaping in a child gives a non-zero exit code.
    assert [p.exitcode for p in procs] == [0, 0]
    conn = open_db(db_path)
    per_gpu = conn.execute(
        "SELECT g.uuid, count(*) FROM samples s JOIN gpus g ON g.id = s.gpu GROUP BY 1 ORDER BY 1"
    ).fetchall()
    assert per_gpu == [("GPU-a", TICKS_PER_WRITER), ("GPU-b", TICKS_PER_WRITER)]
    assert conn.execute("SELECT count(*) FROM process_samples").fetchone()[0] == 600
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()


def _stored(db_path) -> dict[int, float]:
    """Each stored tick's time and the seconds it covers."""
    try:
        conn = open_db(db_path)
    except Exception:
        return {}
    try:
        rows = conn.execute("SELECT ts, max(tick_ms) FROM samples GROUP BY ts ORDER BY ts")
        return {ts: tick_ms / 1000 for ts, tick_ms in rows}
    finally:
        conn.close()


@pytest.mark.slow
def test_kill_9_of_a_running_collector_twenty_times(tmp_path):
    db = tmp_path / "pulse.db"
    env = without_settings()
    rng = random.Random(20)
    for round_no in range(20):
        before = len(_stored(db))
        proc = subprocess.Popen(
            simulated_collector(db),
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(_stored(db)) < before + 1:
            time.sleep(0.05)
        assert len(_stored(db)) > before, f"round {round_no}: the collector wrote nothing"
        started = sorted(_stored(db))[before]
        time.sleep(rng.uniform(0.5, 2.5))  # kill at a random point in the tick cycle
        committed = set(_stored(db))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)

        conn = open_db(db)
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok", round_no
        conn.close()
        stored = _stored(db)
        assert committed <= set(stored), f"round {round_no}: a committed tick was lost"
        # No time goes missing between ticks: a tick that came late (the loop skips a
        # deadline it overran) covers the time since the one before it. Whole seconds
        # on both sides, hence the 1 s of rounding.
        this_run = [ts for ts in stored if ts >= started]
        for a, b in pairwise(this_run):
            assert b - a <= stored[b] + 1, (
                f"round {round_no}: {b - a} s between ticks {a} and {b}, "
                f"but the second covers {stored[b]} s"
            )
