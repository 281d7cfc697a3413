"""Check GPU Pulse against a real GPU: its readings, its sample buffer, and a known load.

Needs only the NVIDIA driver (libnvidia-ml and libcuda) and this project's environment; no
CUDA toolkit: the load is a spin kernel written in PTX, loaded through the CUDA driver API
with ctypes (`cuModuleLoadData`), which JIT-compiles it for whatever GPU is there.

1. Readings: GPU Pulse's `collector --dry-run` figures beside what
   `nvidia-smi --query-gpu=... --format=csv` prints for the same GPUs.
2. The sample buffer of each GPU: its period, depth and timestamp base, as measured.
3. Duty cycles: a real `collector` (5 s ticks) records into a scratch database while GPU 0
   runs 2 s busy / 2 s idle (must read 50 +- 10 % active), then a 0.5 s burst every 5 s
   (must read 10 +- 5 %).

    .venv/bin/python benchmarks/gpu_check.py [--gpu 0] [--seconds 40]

Prints one line per figure and exits 1 if a duty-cycle check misses its band.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from store import open_db  # noqa: E402

SMI_FIELDS = (
    "index,uuid,name,utilization.gpu,memory.used,memory.total,temperature.gpu,power.draw,"
    "clocks.sm,clocks.mem,fan.speed,pstate,power.limit,driver_version"
)
# A kernel that spins on the GPU's nanosecond timer until `ns` have passed: one thread is
# enough, since utilization counts time with any kernel running, not occupancy.
SPIN_PTX = b"""
.version 7.0
.target sm_70
.address_size 64
.visible .entry spin(.param .u64 ns)
{
    .reg .u64 %start, %now, %took, %limit;
    .reg .pred %more;
    ld.param.u64 %limit, [ns];
    mov.u64 %start, %globaltimer;
LOOP:
    mov.u64 %now, %globaltimer;
    sub.u64 %took, %now, %start;
    setp.lt.u64 %more, %took, %limit;
    @%more bra LOOP;
    ret;
}
\0"""


class Cuda:
    """The few CUDA driver API calls the load needs."""

    def __init__(self, ordinal: int) -> None:
        self.lib = ctypes.CDLL("libcuda.so.1")
        self._check(self.lib.cuInit(0), "cuInit")
        device, self.ctx = ctypes.c_int(), ctypes.c_void_p()
        self._check(self.lib.cuDeviceGet(ctypes.byref(device), ordinal), "cuDeviceGet")
        self._check(
            self.lib.cuDevicePrimaryCtxRetain(ctypes.byref(self.ctx), device), "cuCtxRetain"
        )
        self._check(self.lib.cuCtxSetCurrent(self.ctx), "cuCtxSetCurrent")
        module, self.fn = ctypes.c_void_p(), ctypes.c_void_p()
        self._check(self.lib.cuModuleLoadData(ctypes.byref(module), SPIN_PTX), "cuModuleLoadData")
        self._check(
            self.lib.cuModuleGetFunction(ctypes.byref(self.fn), module, b"spin"), "cuModuleGet"
        )

    @staticmethod
    def _check(ret: int, what: str) -> None:
        if ret != 0:
            raise RuntimeError(f"{what} failed with CUDA error {ret}")

    def busy(self, seconds: float) -> None:
        """Keep the GPU busy for `seconds` (one launch of the spin kernel, then wait)."""
        ns = ctypes.c_uint64(int(seconds * 1e9))
        params = (ctypes.c_void_p * 1)(ctypes.cast(ctypes.pointer(ns), ctypes.c_void_p))
        launch = self.lib.cuLaunchKernel
        self._check(launch(self.fn, 1, 1, 1, 1, 1, 1, 0, None, params, None), "cuLaunchKernel")
        self._check(self.lib.cuCtxSynchronize(), "cuCtxSynchronize")


def run(cmd: list[str], **kw) -> str:
    """A command's stdout (stderr folded in), never raising."""
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, **kw)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"({' '.join(cmd[:2])} failed: {exc})"
    return done.stdout + done.stderr


def readings() -> None:
    """nvidia-smi's figures, then GPU Pulse's dry run, for the reader to compare."""
    print("== nvidia-smi --query-gpu")
    if shutil.which("nvidia-smi") is None:
        print("nvidia-smi not found")
    else:
        print(run(["nvidia-smi", f"--query-gpu={SMI_FIELDS}", "--format=csv"]).strip())
        print(run(["nvidia-smi", "--query-gpu=index,memory.reserved", "--format=csv"]).strip())
    print("== collector --dry-run --ticks 2")
    print(run(collector("--dry-run", "--ticks", "2")).strip())
    print("== collector doctor")
    print(run(collector("doctor")).strip())


def collector(*args: str) -> list[str]:
    """The collector command of this checkout."""
    return [sys.executable, "-m", "collector", "--backend", "nvml", *args]


def pattern(cuda: Cuda, busy_s: float, period_s: float, until: float) -> None:
    """Run `busy_s` of load at the start of every `period_s` until `until` (monotonic)."""
    start = time.monotonic()
    k = 0
    while start + k * period_s + busy_s <= until:
        delay = start + k * period_s - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        cuda.busy(busy_s)
        k += 1


def duty_cycle(cuda: Cuda, gpu: int, busy_s: float, period_s: float, seconds: float) -> float:
    """% of the load's span a real collector recorded as active on GPU `gpu`."""
    with tempfile.TemporaryDirectory(prefix="gpupulse-check-") as tmp:
        db = Path(tmp) / "check.db"
        proc = subprocess.Popen(
            collector("--interval", "5", "--db", str(db), "--log-level", "WARNING"),
            cwd=ROOT,
            env=dict(os.environ),
        )
        time.sleep(7)  # the collector's first ticks, before the load starts
        t0 = time.time()
        pattern(cuda, busy_s, period_s, time.monotonic() + seconds)
        t1 = time.time()
        time.sleep(6)  # the tick that covers the load's end
        proc.terminate()
        proc.wait(timeout=30)
        conn = open_db(db)
        # Ticks wholly inside the load's span: each stands for the seconds before its ts.
        row = conn.execute(
            "SELECT total(min(s.active_ms, s.tick_ms)), total(s.tick_ms) FROM samples s "
            "JOIN gpus g ON g.id = s.gpu WHERE g.idx = ? AND s.ts - s.tick_ms / 1000.0 >= ? "
            "AND s.ts <= ?",
            (gpu, t0, t1),
        ).fetchone()
        conn.close()
    return 100 * row[0] / row[1] if row[1] else float("nan")


def main() -> int:
    """Run the three checks and print their figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--gpu", type=int, default=0)
    parser.add_argument("--seconds", type=float, default=40)
    args = parser.parse_args()
    readings()
    cuda = Cuda(args.gpu)
    failed = False
    for busy_s, period_s, want, band in ((2.0, 4.0, 50, 10), (0.5, 5.0, 10, 5)):
        got = duty_cycle(cuda, args.gpu, busy_s, period_s, args.seconds)
        ok = abs(got - want) <= band
        failed |= not ok
        print(
            f"duty cycle {busy_s:g} s busy every {period_s:g} s: {got:.1f} % active "
            f"(want {want} +- {band} %) {'PASS' if ok else 'FAIL'}"
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
