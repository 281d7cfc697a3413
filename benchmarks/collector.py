"""Collector benchmark: CPU per tick, peak RSS, bytes per GPU sample, insert throughput.

Targets: CPU per tick <= 5 ms for 8 GPUs with 20 processes at 1 s, measured twice: over
the simulated backend, and through the real nvidia-ml-py binding over the C stand-in of
libnvidia-ml (tests/support/nvml; needs a C compiler), ticking in real time so each tick
reads a second's worth of sample-buffer and process samples; peak RSS <= 60 MB;
<= 48 bytes per GPU sample on disk (1 M rows after VACUUM).
Run: .venv/bin/python benchmarks/collector.py   (about 2 minutes on 2 cores)
"""

from __future__ import annotations

import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from collector.loop import CollectorLoop  # noqa: E402
from sampling.simulated import SimulatedBackend  # noqa: E402
from store import open_db  # noqa: E402
from store.samples import Recorder, Tick  # noqa: E402
from tests.support.commands import simulated_collector  # noqa: E402

GPUS, PROCESSES = 8, 20
START = 1_763_337_600  # a Monday, 00:00 UTC


def cpu_per_tick(workdir: Path, ticks: int = 600) -> float:
    """Median process CPU seconds of one full tick (sample + write) at 1 s."""
    conn = open_db(workdir / "tick.db", migrate=True)
    wall = [float(START)]
    loop = CollectorLoop(
        SimulatedBackend(gpus=GPUS, processes=PROCESSES),
        Recorder(conn),
        interval=1,
        wait=lambda _s: False,
        wall=lambda: wall[0],
    )
    loop.tick(1.0)  # warm-up: the energy counter's history and the plan cache
    costs = []
    for _ in range(ticks):
        wall[0] += 1
        before = time.process_time()
        loop.tick(1.0)
        costs.append(time.process_time() - before)
    conn.close()
    return statistics.median(costs)


def cpu_per_tick_nvml(workdir: Path, ticks: int = 30) -> float:
    """Median process CPU seconds of one full tick through pynvml over the stand-in driver."""
    from sampling.nvml import NvmlBackend
    from sampling.procinfo import ProcInfo
    from tests.support import nvml as standin
    from tests.support.procfs import PASSWD, write_proc

    scenario = standin.eight_gpus_twenty_processes()
    standin.load_in_process(scenario.write(workdir / "eight.ini"))
    root = workdir / "proc"
    root.mkdir()
    (workdir / "passwd").write_text(PASSWD)
    for gpu in scenario.gpus:
        for p in gpu.processes:
            write_proc(root, p.pid, uid=1000 + p.pid % 2, cmdline=b"python\0train.py\0")
    import pynvml

    backend = NvmlBackend(pynvml, ProcInfo(root, workdir / "passwd"), threshold=1.0)
    conn = open_db(workdir / "nvml.db", migrate=True)
    loop = CollectorLoop(backend, Recorder(conn), interval=1, wait=lambda _s: False)
    loop.tick(1.0)  # warm-up: the whole buffer, the plan cache, the health readings
    costs = []
    for _ in range(ticks):
        time.sleep(1.0)  # real time: each tick reads what the driver buffered meanwhile
        before = time.process_time()
        loop.tick(1.0)
        costs.append(time.process_time() - before)
    backend.close()
    conn.close()
    return statistics.median(costs)


def peak_rss_mb(workdir: Path, seconds: float = 15) -> float:
    """Peak RSS of the real `collector` process (simulated 8 GPUs, 20 processes, 1 s)."""
    env = dict(os.environ, GPUPULSE_SIM_GPUS=str(GPUS), GPUPULSE_SIM_PROCESSES=str(PROCESSES))
    env.pop("GPUPULSE_SIM_BACKFILL_DAYS", None)
    proc = subprocess.Popen(
        simulated_collector(workdir / "rss.db"),
        cwd=ROOT,
        env=env,
    )
    time.sleep(seconds)
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=10)
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # KiB on Linux


def storage(workdir: Path, rows: int = 1_000_000, batch: int = 1000) -> tuple[float, float]:
    """(bytes per GPU sample after VACUUM, samples inserted per second) for `rows` samples."""
    backend = SimulatedBackend(gpus=GPUS, seed=5)
    path = workdir / "size.db"
    conn = open_db(path, migrate=True)
    recorder = Recorder(conn)
    empty = _size_after_vacuum(conn, path)
    insert_s, pending = 0.0, []
    for i in range(rows // GPUS):
        ts = START + i
        pending.append(Tick(ts, 1.0, backend.sample(ts, 1.0).samples))
        if len(pending) == batch:
            t0 = time.perf_counter()
            recorder.write(pending)
            insert_s += time.perf_counter() - t0
            pending = []
    t0 = time.perf_counter()
    recorder.write(pending)
    insert_s += time.perf_counter() - t0
    stored = conn.execute("SELECT count(*) FROM samples").fetchone()[0]
    size = _size_after_vacuum(conn, path) - empty
    conn.close()
    return size / stored, stored / insert_s


def _size_after_vacuum(conn, path: Path) -> int:
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.execute("VACUUM")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path.stat().st_size


def main() -> None:
    """Run the measurements and print one line per figure."""
    with tempfile.TemporaryDirectory(prefix="gpupulse-bench-") as tmp:
        work = Path(tmp)
        tick = cpu_per_tick(work)
        print(
            f"cpu per tick (median, {GPUS} GPUs, {PROCESSES} processes, 1 s): "
            f"{tick * 1000:.2f} ms  (target <= 5 ms; {tick * 100:.2f} % of one core)"
        )
        real = cpu_per_tick_nvml(work)
        print(
            f"cpu per tick (median, {GPUS} GPUs, {PROCESSES} processes, 1 s, real pynvml over "
            f"the stand-in driver): {real * 1000:.2f} ms  (target <= 5 ms)"
        )
        rss = peak_rss_mb(work)
        print(f"peak RSS of the collector process: {rss:.1f} MB  (target <= 60 MB)")
        per_row, throughput = storage(work)
        print(f"bytes per GPU sample (1 M rows, after VACUUM): {per_row:.1f}  (target <= 48)")
        print(f"insert throughput: {throughput:,.0f} samples/s (1000-tick transactions)")


if __name__ == "__main__":
    main()
