"""What a sampling backend gives the collector loop each tick.

Two backends implement it: `nvml` (sampling.nvml, the real driver) and `simulated`
(sampling.simulated, a seeded fleet for the demo, tests and benchmarks). The loop never
picks simulated by itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from store.samples import GpuInfo, GpuSample, GpuState, ProcessSample


class BackendUnavailable(RuntimeError):
    """The backend cannot sample at all; the message says what to check."""


class BackendFailed(BackendUnavailable):
    """The backend stopped for good (the driver was replaced under it): exit so the service
    manager starts a fresh collector; the message says why."""


@dataclass
class Reading:
    """One tick's readings: samples of the GPUs that answered, their processes, their
    slow-changing state, the GPUs that stopped answering (with the driver's reason), and
    host facts to remember (driver and CUDA versions) when they are first read."""

    samples: list[GpuSample] = field(default_factory=list)
    processes: list[ProcessSample] = field(default_factory=list)
    lost: list[tuple[GpuInfo, str]] = field(default_factory=list)
    states: list[GpuState] = field(default_factory=list)
    meta: list[tuple[str, str]] = field(default_factory=list)


class Backend(Protocol):
    """A source of GPU readings."""

    name: str

    def sample(self, now: float, tick_s: float) -> Reading:
        """Read every GPU; `now` is UTC unix time, `tick_s` the time since the last tick."""
        ...

    def close(self) -> None:
        """Release the driver (nvmlShutdown)."""
        ...
