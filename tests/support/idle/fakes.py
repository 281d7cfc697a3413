"""A scriptable backend and clock for the idle-runner tests (no GPU, no simulated fleet)."""

from __future__ import annotations

from sampling.backend import Reading
from store.samples import GpuInfo, GpuSample, ProcessSample

WALL_ORIGIN = 1_700_000_000.0


class FakeBackend:
    """Reports `gpus` idle GPUs and exactly the processes the test puts on them."""

    name = "fake"

    def __init__(self, gpus: int = 2) -> None:
        self.gpus = [
            GpuInfo(f"GPU-fake-{i}", i, "Fake GPU", memory_total_mib=8192) for i in range(gpus)
        ]
        self.processes: list[ProcessSample] = []
        self.fail: Exception | None = None
        self.during_sample = None  # called while "NVML" is being read, to stage races
        self.closed = False

    def put(
        self,
        index: int,
        pid: int,
        command: str = "python train.py",
        user: str = "alice",
        started: int = 1,
    ) -> None:
        """Show process `pid` on GPU `index` from the next sample on."""
        uuid = self.gpus[index].uuid
        self.processes.append(ProcessSample(uuid, pid, started, user, command, mem_mib=100))

    def clear(self) -> None:
        """No processes on any GPU."""
        self.processes.clear()

    def sample(self, now: float, tick_s: float) -> Reading:
        """One reading of the scripted state."""
        if self.fail is not None:
            raise self.fail
        if self.during_sample is not None:
            self.during_sample()
        samples = [GpuSample(gpu=g, util=0) for g in self.gpus]
        return Reading(samples=samples, processes=list(self.processes))

    def close(self) -> None:
        """Remember that the runner released us."""
        self.closed = True


class FakeClock:
    """Wall and monotonic time that move only when the test says so."""

    def __init__(self) -> None:
        self.t = 0.0

    def monotonic(self) -> float:
        """Seconds since the test began."""
        return self.t

    def wall(self) -> float:
        """UTC unix seconds."""
        return WALL_ORIGIN + self.t

    def advance(self, seconds: float) -> None:
        """Let time pass."""
        self.t += seconds
