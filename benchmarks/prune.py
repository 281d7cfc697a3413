"""Prune benchmark: the longest write-lock hold of retention while the host is busy.

Fills 40 days of 8 GPUs at 5 s (with short-lived processes, as a shared machine has), then
prunes the raw rows past 30 days while a collector-like writer stores a tick a second, a
reader queries like the api, and two processes keep two cores busy. Prints the longest hold
per table and overall against GPUPULSE_PRUNE_LOCK_MS x 2, and the writer's longest wait.
Usage: .venv/bin/python benchmarks/prune.py [--days 40] [--hogs 2]
"""

from __future__ import annotations

import argparse
import importlib.util
import multiprocessing
import sys
import tempfile
import time
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parents[1])

from scheduler import retention  # noqa: E402
from scheduler.settings import load  # noqa: E402
from store import atomic, open_db  # noqa: E402
from store.samples import GpuInfo, GpuSample, Recorder, Tick  # noqa: E402

TICK_S = 5
PROCESS_EVERY_S = 1800  # a new job per GPU every half hour


def fill_module():
    """benchmarks/scheduler.py's data generator (one definition of the benchmark data)."""
    spec = importlib.util.spec_from_file_location(
        "bench_scheduler", Path(__file__).with_name("scheduler.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def add_processes(conn, start: int, end: int, gpus: int) -> int:
    """Short-lived processes (and their samples every minute) across the whole span."""
    rows = []
    samples = []
    pid = 10_000
    for lo in range(start, end, PROCESS_EVERY_S):
        for g in range(1, gpus + 1):
            pid += 1
            rows.append((pid, pid, lo, f"user{g % 5}", "python train.py", lo, lo + PROCESS_EVERY_S))
            first = lo - lo % TICK_S + TICK_S
            samples += [(ts, g, pid, 4000, 50) for ts in range(first, lo + PROCESS_EVERY_S, 60)]
    with atomic(conn):
        conn.executemany(
            "INSERT INTO processes (id, pid, started, user, command, first_seen, last_seen) "
            "VALUES (?,?,?,?,?,?,?)",
            rows,
        )
        conn.executemany("INSERT OR IGNORE INTO process_samples VALUES (?,?,?,?,?)", samples)
    return len(rows)


def writer(db: str, stop, longest) -> None:
    """A collector: one tick of 8 GPUs a second; records its longest write."""
    conn = open_db(db, write=True)
    recorder = Recorder(conn)
    gpus = [GpuInfo(f"GPU-w{i}", 100 + i, "Writer GPU") for i in range(8)]
    while not stop.is_set():
        t = time.perf_counter()
        tick = Tick(int(time.time()), 1.0, [GpuSample(g, util=50) for g in gpus])
        recorder.write([tick])
        longest.value = max(longest.value, (time.perf_counter() - t) * 1000)
        stop.wait(1.0)
    conn.close()


def reader(db: str, stop) -> None:
    """The api: reads daily and hourly rows and the newest samples, over and over."""
    conn = open_db(db)
    while not stop.is_set():
        conn.execute("SELECT * FROM daily ORDER BY day DESC LIMIT 400").fetchall()
        conn.execute("SELECT max(ts) FROM samples").fetchall()
        conn.execute("SELECT count(*) FROM hourly").fetchall()
        stop.wait(0.05)
    conn.close()


def hog(stop) -> None:
    """Keep one core busy."""
    while not stop.is_set():
        sum(i * i for i in range(10_000))


def prune_raw(conn, settings, cut: int) -> dict:
    """Retention's chunked delete of the raw tables (nothing is rolled up here, so the job's
    own cut-off would keep everything)."""
    stats = {"deleted": {}, "chunks": 0, "max_lock_ms": 0.0, "lock_ms": {}}
    for table in ("samples", "process_samples", "processes"):
        deleted, chunks, longest = retention.prune_table(conn, table, cut, settings)
        stats["deleted"][table], stats["lock_ms"][table] = deleted, longest
        stats["chunks"] += chunks
        stats["max_lock_ms"] = max(stats["max_lock_ms"], longest)
    return stats


def main() -> None:
    """Fill, prune under load, print the figures."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--days", type=int, default=40)
    ap.add_argument("--hogs", type=int, default=2, help="busy processes beside the prune")
    args = ap.parse_args()
    db = str(Path(tempfile.mkdtemp(prefix="gpupulse-prune-")) / "pulse.db")
    settings = load({"GPUPULSE_DB": db, "GPUPULSE_TZ": "Europe/Berlin"})
    now = int(time.time())
    start = now - args.days * 86400
    conn = open_db(db, migrate=True)
    t = time.perf_counter()
    generator = fill_module()
    rows = generator.fill(conn, start, now, TICK_S)
    processes = add_processes(conn, start, now, generator.GPUS)
    print(
        f"generated {args.days} days, 8 GPUs at {TICK_S} s: {rows:,} samples, "
        f"{processes:,} processes in {time.perf_counter() - t:.0f} s"
    )
    ctx = multiprocessing.get_context("spawn")
    stop, longest = ctx.Event(), ctx.Value("d", 0.0)
    load_procs = [
        ctx.Process(target=writer, args=(db, stop, longest)),
        ctx.Process(target=reader, args=(db, stop)),
        *(ctx.Process(target=hog, args=(stop,)) for _ in range(args.hogs)),
    ]
    for p in load_procs:
        p.start()
    time.sleep(2)
    t = time.perf_counter()
    stats = prune_raw(conn, settings, now - settings.raw_days * 86400)
    took = time.perf_counter() - t
    stop.set()
    for p in load_procs:
        p.join()
    conn.close()
    budget = settings.prune_lock_ms
    worst = ", ".join(f"{k} {v:.0f}" for k, v in stats["lock_ms"].items() if v)
    print(f"longest hold per table, ms: {worst}")
    print(
        f"prune under load ({args.hogs} busy cores, a writer, a reader): "
        f"{sum(stats['deleted'].values()):,} rows in {stats['chunks']} chunks, {took:.1f} s; "
        f"longest write-lock hold {stats['max_lock_ms']:.1f} ms "
        f"(budget {budget} ms, target <= {2 * budget} ms); "
        f"the writer's longest tick write {longest.value:.0f} ms"
    )


if __name__ == "__main__":
    main()
