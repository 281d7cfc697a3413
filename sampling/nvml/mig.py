"""MIG: the devices a MIG-enabled GPU is split into, and their activity through GPM.

In MIG mode the parent GPU answers NotSupported for utilization, the sample buffer and
process utilization, so without this a busy A100 or H100 looks idle. Each MIG device is
recorded as a GPU of its own (its `MIG-` UUID, its parent, its profile, its memory), its
processes are listed through its own handle, and its activity comes from GPM (Hopper and
later: the graphics-engine busy fraction between two samples) or, where GPM is missing,
from whether a process is running on it.
"""

from __future__ import annotations

import contextlib
import ctypes
from dataclasses import dataclass, field
from typing import Any

MIG_INDEX_BASE = 100  # GPU 0's MIG devices are 100, 101, ...; GPU 1's are 200, ...
GPM_GRAPHICS_UTIL = 1  # NVML_GPM_METRIC_GRAPHICS_UTIL: % of time any engine was busy


def mig_index(parent_index: int, position: int) -> int:
    """The index GPU Pulse gives a MIG device: stable while the MIG layout stays."""
    return (parent_index + 1) * MIG_INDEX_BASE + position


def profile_of(name: str) -> str | None:
    """'NVIDIA A100-SXM4-80GB MIG 1g.10gb' -> '1g.10gb'."""
    _, sep, profile = name.rpartition(" MIG ")
    return (profile.strip() or None) if sep else None


def mig_enabled(nvml: Any, handle: Any, unsupported: tuple) -> bool:
    """Whether MIG mode is on now (False where the GPU or driver has no MIG)."""
    try:
        current, _pending = nvml.nvmlDeviceGetMigMode(handle)
    except unsupported:
        return False
    return current == nvml.NVML_DEVICE_MIG_ENABLE


def mig_handles(nvml: Any, handle: Any, not_found: tuple) -> list[tuple[int, Any]]:
    """(position, handle) of every MIG device configured on a MIG-enabled GPU."""
    found = []
    for position in range(nvml.nvmlDeviceGetMaxMigDeviceCount(handle)):
        try:
            found.append((position, nvml.nvmlDeviceGetMigDeviceHandleByIndex(handle, position)))
        except not_found:
            continue  # an unused slot
    return found


def gpm_supported(nvml: Any, handle: Any, unsupported: tuple) -> bool:
    """Whether the GPU has GPM (GPU performance monitoring, Hopper and later)."""
    query = getattr(nvml, "nvmlGpmQueryDeviceSupport", None)
    if query is None:
        return False
    try:
        return bool(query(handle).isSupportedDevice)
    except unsupported:
        return False


@dataclass
class GpmMeter:
    """Two GPM sample buffers of one MIG device, swapped each tick."""

    nvml: Any
    parent: Any
    gpu_instance: int
    samples: list[Any] = field(default_factory=list)
    have_previous: bool = False

    def read(self) -> float | None:
        """Graphics-engine busy % since the last read; None on the first read."""
        n = self.nvml
        if not self.samples:
            self.samples = [n.nvmlGpmSampleAlloc(), n.nvmlGpmSampleAlloc()]
        previous, current = self.samples
        n.nvmlGpmMigSampleGet(self.parent, self.gpu_instance, current)
        self.samples.reverse()
        if not self.have_previous:
            self.have_previous = True
            return None
        request = n.c_nvmlGpmMetricsGet_t()
        request.version = n.NVML_GPM_METRICS_GET_VERSION
        request.numMetrics = 1
        request.sample1, request.sample2 = previous, current
        request.metrics[0].metricId = GPM_GRAPHICS_UTIL
        n.nvmlGpmMetricsGet(request)
        metric = request.metrics[0]
        if metric.nvmlReturn != n.NVML_SUCCESS:
            raise n.NVMLError(metric.nvmlReturn)
        return max(0.0, min(100.0, float(metric.value)))

    def close(self) -> None:
        """Free the sample buffers."""
        for sample in self.samples:
            with contextlib.suppress(self.nvml.NVMLError):  # the library may be gone already
                self.nvml.nvmlGpmSampleFree(sample)
        self.samples = []
        self.have_previous = False


def handle_key(handle: Any) -> int | None:
    """A device handle as a number, to match handles that come back in events."""
    return ctypes.cast(handle, ctypes.c_void_p).value
