"""What a sampling backend gives the collector loop each tick.

Two backends implement it: `nvml` (collector.nvml, the real driver) and `simulated`
(collector.simulated, a seeded fleet for the demo, tests and benchmarks). The loop never
picks simulated by itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from store.samples import GpuInfo, GpuSample, ProcessSample


class BackendUnavailable(RuntimeError):
    """The backend cannot sample at all; the message says what to check."""


@dataclass
class Reading:
    """One tick's readings: samples of the GPUs that answered, their processes, and
    the GPUs that stopped answering (with the driver's reason)."""

    samples: list[GpuSample] = field(default_factory=list)
    processes: list[ProcessSample] = field(default_factory=list)
    lost: list[tuple[GpuInfo, str]] = field(default_factory=list)


class Backend(Protocol):
    """A source of GPU readings."""

    name: str

    def sample(self, now: float, tick_s: float) -> Reading:
        """Read every GPU; `now` is UTC unix time, `tick_s` the time since the last tick."""
        ...

    def close(self) -> None:
        """Release the driver (nvmlShutdown)."""
        ...
