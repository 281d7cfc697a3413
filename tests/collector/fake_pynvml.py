"""A scriptable stand-in for the pynvml module, injected into NvmlBackend as `nvml=`.

It reuses the real binding's constants, NVMLError class tree and ctypes structures, so the
backend reads exactly the shapes nvidia-ml-py returns; only the driver behind it is scripted.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import pynvml as real

MIB = 1024 * 1024


@dataclass
class FakeGpu:
    """One scripted GPU; change its attributes between ticks."""

    uuid: str
    name: str
    bus_id: str
    memory_total: int  # bytes
    util: int = 0
    mem_util: int = 0
    mem_used: int = 0  # bytes
    temp: int = 40
    fan: int = 30
    power_mw: int = 60_000
    energy_mj: int = 5_000_000
    sm_mhz: int = 1410
    mem_mhz: int = 1593
    pstate: int = 0
    unsupported: set[str] = field(default_factory=set)  # function names answering NotSupported
    samples: list[tuple[int, int]] = field(default_factory=list)  # (µs timestamp, util %)
    sample_type: int = real.NVML_VALUE_TYPE_UNSIGNED_INT
    compute: dict[int, int | None] = field(default_factory=dict)  # pid -> bytes (None: N/A)
    graphics: dict[int, int | None] = field(default_factory=dict)
    proc_util: list[tuple[int, int, int]] = field(default_factory=list)  # (pid, µs ts, sm %)
    error: type[real.NVMLError] | None = None  # every call on this GPU raises it (lost GPU)
    present: bool = True  # False: the driver no longer enumerates it


@dataclass(frozen=True)
class FakeHandle:
    """A device handle; stale once the library is re-initialized."""

    gpu: FakeGpu
    generation: int


class FakeNvml:
    """Module-like object with pynvml's function names, driven by `gpus` and a few switches."""

    def __init__(self, gpus: list[FakeGpu]) -> None:
        for name in dir(real):
            if name.startswith(("NVML_", "NVMLError", "c_nvml", "nvmlPciInfo_t")):
                setattr(self, name, getattr(real, name))
        self.gpus = gpus
        self.calls: Counter[str] = Counter()
        self.initialized = False
        self.generation = 0
        self.init_error: type[real.NVMLError] | None = None  # nvmlInit raises it while set
        self.library_error: type[real.NVMLError] | None = None  # every device call raises it

    # -- library ---------------------------------------------------------------------

    def nvmlInit(self) -> None:
        self.calls["nvmlInit"] += 1
        if self.init_error is not None:
            raise self.init_error()
        self.initialized = True
        self.generation += 1

    def nvmlShutdown(self) -> None:
        self.calls["nvmlShutdown"] += 1
        if not self.initialized:
            raise real.NVMLError_Uninitialized()
        self.initialized = False

    def start_reload(self) -> None:
        """The driver goes away: calls fail Uninitialized, init fails DriverNotLoaded."""
        self.library_error = real.NVMLError_Uninitialized
        self.init_error = real.NVMLError_DriverNotLoaded

    def finish_reload(self) -> None:
        """The driver is back; handles from before stay stale."""
        self.library_error = self.init_error = None

    def _check(self, fn: str) -> None:
        self.calls[fn] += 1
        if self.library_error is not None:
            raise self.library_error()
        if not self.initialized:
            raise real.NVMLError_Uninitialized()

    def _gpu(self, handle: FakeHandle, fn: str) -> FakeGpu:
        self._check(fn)
        if handle.generation != self.generation:
            raise real.NVMLError_Uninitialized()
        gpu = handle.gpu
        if gpu.error is not None:
            raise gpu.error()
        if fn in gpu.unsupported:
            raise real.NVMLError_NotSupported()
        return gpu

    # -- enumeration -----------------------------------------------------------------

    def _present(self) -> list[FakeGpu]:
        return [g for g in self.gpus if g.present]

    def nvmlDeviceGetCount(self) -> int:
        self._check("nvmlDeviceGetCount")
        return len(self._present())

    def nvmlDeviceGetHandleByIndex(self, index: int) -> FakeHandle:
        self._check("nvmlDeviceGetHandleByIndex")
        return FakeHandle(self._present()[index], self.generation)

    def nvmlDeviceGetHandleByUUID(self, uuid: str) -> FakeHandle:
        self._check("nvmlDeviceGetHandleByUUID")
        for gpu in self._present():
            if gpu.uuid == uuid:
                if gpu.error is not None:
                    raise gpu.error()
                return FakeHandle(gpu, self.generation)
        raise real.NVMLError_NotFound()

    def nvmlDeviceGetUUID(self, h: FakeHandle) -> str:
        return self._gpu(h, "nvmlDeviceGetUUID").uuid

    def nvmlDeviceGetName(self, h: FakeHandle) -> str:
        return self._gpu(h, "nvmlDeviceGetName").name

    def nvmlDeviceGetPciInfo(self, h: FakeHandle) -> real.nvmlPciInfo_t:
        gpu = self._gpu(h, "nvmlDeviceGetPciInfo")
        return real.nvmlPciInfo_t(busId=gpu.bus_id.encode())  # bytes, as ctypes gives them

    # -- readings --------------------------------------------------------------------

    def nvmlDeviceGetMemoryInfo(self, h: FakeHandle) -> real.c_nvmlMemory_t:
        gpu = self._gpu(h, "nvmlDeviceGetMemoryInfo")
        free = gpu.memory_total - gpu.mem_used
        return real.c_nvmlMemory_t(total=gpu.memory_total, free=free, used=gpu.mem_used)

    def nvmlDeviceGetUtilizationRates(self, h: FakeHandle) -> real.c_nvmlUtilization_t:
        gpu = self._gpu(h, "nvmlDeviceGetUtilizationRates")
        return real.c_nvmlUtilization_t(gpu=gpu.util, memory=gpu.mem_util)

    def nvmlDeviceGetTemperature(self, h: FakeHandle, sensor: int) -> int:
        assert sensor == real.NVML_TEMPERATURE_GPU
        return self._gpu(h, "nvmlDeviceGetTemperature").temp

    def nvmlDeviceGetFanSpeed(self, h: FakeHandle) -> int:
        return self._gpu(h, "nvmlDeviceGetFanSpeed").fan

    def nvmlDeviceGetPowerUsage(self, h: FakeHandle) -> int:
        return self._gpu(h, "nvmlDeviceGetPowerUsage").power_mw

    def nvmlDeviceGetTotalEnergyConsumption(self, h: FakeHandle) -> int:
        return self._gpu(h, "nvmlDeviceGetTotalEnergyConsumption").energy_mj

    def nvmlDeviceGetClockInfo(self, h: FakeHandle, clock: int) -> int:
        gpu = self._gpu(h, "nvmlDeviceGetClockInfo")
        return {real.NVML_CLOCK_SM: gpu.sm_mhz, real.NVML_CLOCK_MEM: gpu.mem_mhz}[clock]

    def nvmlDeviceGetPerformanceState(self, h: FakeHandle) -> int:
        return self._gpu(h, "nvmlDeviceGetPerformanceState").pstate

    def nvmlDeviceGetSamples(self, h: FakeHandle, kind: int, last_seen: int) -> tuple:
        gpu = self._gpu(h, "nvmlDeviceGetSamples")
        assert kind == real.NVML_GPU_UTILIZATION_SAMPLES
        member = ("dVal", "uiVal", "ulVal", "ullVal", "sllVal", "siVal", "usVal")[gpu.sample_type]
        out = [
            real.c_nvmlSample_t(timeStamp=ts, sampleValue=real.c_nvmlValue_t(**{member: value}))
            for ts, value in gpu.samples
            if ts > last_seen
        ]
        if not out:  # what the driver answers when nothing is newer than last_seen
            raise real.NVMLError_NotFound()
        return gpu.sample_type, out

    # -- processes -------------------------------------------------------------------

    def _procs(self, table: dict[int, int | None]) -> list:
        none = 0xFFFFFFFF  # gpuInstanceId/computeInstanceId outside MIG
        return [
            real.nvmlFriendlyObject(
                {
                    "pid": pid,
                    "usedGpuMemory": used,
                    "gpuInstanceId": none,
                    "computeInstanceId": none,
                }
            )
            for pid, used in table.items()
        ]

    def nvmlDeviceGetComputeRunningProcesses(self, h: FakeHandle) -> list:
        return self._procs(self._gpu(h, "nvmlDeviceGetComputeRunningProcesses").compute)

    def nvmlDeviceGetGraphicsRunningProcesses(self, h: FakeHandle) -> list:
        return self._procs(self._gpu(h, "nvmlDeviceGetGraphicsRunningProcesses").graphics)

    def nvmlDeviceGetProcessUtilization(self, h: FakeHandle, last_seen: int) -> list:
        gpu = self._gpu(h, "nvmlDeviceGetProcessUtilization")
        out = [
            real.c_nvmlProcessUtilizationSample_t(pid=pid, timeStamp=ts, smUtil=sm, memUtil=0)
            for pid, ts, sm in gpu.proc_util
            if ts > last_seen
        ]
        if not out:
            raise real.NVMLError_NotFound()
        return out


def three_gpus() -> list[FakeGpu]:
    """An H100, an A100 and a fanless T4 without a utilization sample buffer."""
    return [
        FakeGpu("GPU-aaaa", "NVIDIA H100 80GB HBM3", "00000000:17:00.0", 81559 * MIB),
        FakeGpu("GPU-bbbb", "NVIDIA A100-SXM4-40GB", "00000000:65:00.0", 40960 * MIB),
        FakeGpu(
            "GPU-cccc", "Tesla T4", "00000000:CA:00.0", 15360 * MIB,
            unsupported={"nvmlDeviceGetFanSpeed", "nvmlDeviceGetSamples",
                         "nvmlDeviceGetTotalEnergyConsumption"},
        ),
    ]  # fmt: skip
