"""The real sampling backend: one long-lived NVML session over every GPU the driver reports.

Faults are contained at the smallest scope that explains them: a field the GPU does not
support is None (never 0); a lost GPU is reported once and re-probed now and then while the
others go on; a failure of the whole library (driver reload, version mismatch) shuts NVML
down and re-initializes it with capped exponential backoff, never sleeping inside sample().
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from collector.backend import BackendUnavailable, Reading
from collector.procinfo import GONE, ProcInfo
from store.samples import GpuInfo, GpuSample, ProcessSample
from store.settings import active_threshold

MIB = 1024 * 1024
REPROBE_S = 60.0  # how often a lost GPU is asked again whether it is back
BACKOFF_MIN_S = 1.0
BACKOFF_MAX_S = 60.0
_PSTATE_UNKNOWN = 32
# sampleValType -> member of the c_nvmlValue_t union that holds the value
_VALUE_FIELDS = ("dVal", "uiVal", "ulVal", "ullVal", "sllVal", "siVal", "usVal")
_CHECKS = (
    "the NVIDIA driver is loaded (nvidia-smi works on the host), the container has GPU access "
    "(docker run --gpus all, or a compose device reservation with driver: nvidia), "
    "and pid: host is set for process attribution"
)


def _classes(nvml: Any, names: Iterable[str]) -> tuple[type[BaseException], ...]:
    found = (getattr(nvml, f"NVMLError_{name}", None) for name in names)
    return tuple(cls for cls in found if cls is not None)


class _ErrorKinds:
    """The binding's NVMLError subclasses sorted by how far a failure reaches."""

    def __init__(self, nvml: Any) -> None:
        self.any: type[BaseException] = nvml.NVMLError
        self.unsupported = _classes(nvml, ("NotSupported", "NoPermission", "FunctionNotFound"))
        self.not_found = _classes(nvml, ("NotFound",))
        self.lost = _classes(nvml, ("GpuIsLost", "Unknown", "ResetRequired", "GpuNotFound"))
        self.library = _classes(
            nvml, ("Uninitialized", "DriverNotLoaded", "LibRmVersionMismatch", "LibraryNotFound")
        )
        self.escalate = self.lost + self.library  # beyond one field: never answered as None
        self.gone = self.lost + self.not_found  # a lost GPU, or its UUID no longer found


@dataclass
class _Gpu:
    """What the backend remembers about one GPU between ticks."""

    info: GpuInfo
    handle: Any
    unsupported: set[str] = field(default_factory=set)
    last_util_us: int = 0  # newest utilization-buffer timestamp already counted
    last_proc_us: int = 0  # newest process-utilization timestamp already read
    lost_reason: str | None = None
    next_probe: float = 0.0


def _text(value: str | bytes) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else value


def _import_pynvml() -> ModuleType:
    try:
        import pynvml  # only the nvml backend needs the binding (and its C library)
    except ImportError:
        raise BackendUnavailable(
            "the nvidia-ml-py package (module pynvml) is not installed: pip install nvidia-ml-py"
        ) from None
    return pynvml


def init_failure_message(exc: BaseException) -> str:
    """The one line shown when NVML cannot start: what failed and what to check."""
    return f"NVML could not start ({exc}): check that {_CHECKS}"


class NvmlBackend:
    """Samples every NVIDIA GPU and its processes through one NVML session."""

    name = "nvml"

    def __init__(
        self,
        nvml: Any = None,
        procinfo: ProcInfo | None = None,
        clock: Callable[[], float] = time.monotonic,
        threshold: float | None = None,
        log: logging.Logger | None = None,
        *,
        reprobe_s: float = REPROBE_S,
        backoff_s: tuple[float, float] = (BACKOFF_MIN_S, BACKOFF_MAX_S),
    ) -> None:
        self.nvml = _import_pynvml() if nvml is None else nvml
        self.procinfo = ProcInfo.from_env() if procinfo is None else procinfo
        self.clock = clock
        self.threshold = active_threshold() if threshold is None else threshold
        self.log = log or logging.getLogger(__name__)
        self.reprobe_s = reprobe_s
        self.backoff_min, self.backoff_max = backoff_s
        self.errors = _ErrorKinds(self.nvml)
        self.gpus: dict[str, _Gpu] = {}
        self._pending_lost: list[tuple[GpuInfo, str]] = []
        self._logged: set[tuple] = set()
        self._down = False
        self._backoff = self.backoff_min
        self._retry_at = 0.0
        self._start()

    def _start(self) -> None:
        try:
            self.nvml.nvmlInit()
        except self.errors.any as exc:
            raise BackendUnavailable(init_failure_message(exc)) from None
        try:
            self._enumerate()
        except self.errors.any as exc:
            self._shutdown()
            msg = f"NVML could not list the GPUs ({exc}): check that {_CHECKS}"
            raise BackendUnavailable(msg) from None
        if not self.gpus:
            self.log.warning("NVML started but reports no GPUs; check that %s", _CHECKS)

    # -- enumeration -------------------------------------------------------------------

    def _enumerate(self) -> None:
        """(Re)build the GPU table; GPUs known before but now missing are reported lost."""
        fresh: dict[str, _Gpu] = {}
        for index in range(self.nvml.nvmlDeviceGetCount()):
            gpu = self._open(index)
            if gpu is not None:
                fresh[gpu.info.uuid] = gpu
        for uuid, old in self.gpus.items():
            if uuid not in fresh and old.lost_reason is None:
                self._pending_lost.append((old.info, "not found after NVML re-initialization"))
                self.log.error(
                    "GPU %s (%s) is gone after NVML re-initialization", old.info.index, uuid
                )
            elif uuid in fresh and old.lost_reason is not None:
                index = fresh[uuid].info.index
                self.log.warning("GPU %d (%s) is back after NVML re-initialization", index, uuid)
        self.gpus = fresh

    def _open(self, index: int) -> _Gpu | None:
        n = self.nvml
        try:
            handle = n.nvmlDeviceGetHandleByIndex(index)
            gpu = _Gpu(GpuInfo(_text(n.nvmlDeviceGetUUID(handle)), index, ""), handle)
            pci = self._field(gpu, "pci", n.nvmlDeviceGetPciInfo, handle)
            mem = self._field(gpu, "memory_total", n.nvmlDeviceGetMemoryInfo, handle)
            gpu.info = GpuInfo(
                gpu.info.uuid, index, _text(n.nvmlDeviceGetName(handle)),
                pci_bus_id=None if pci is None else _text(pci.busId),
                memory_total_mib=None if mem is None else mem.total // MIB,
            )  # fmt: skip
        except self.errors.library:
            raise
        except self.errors.any as exc:
            self._warn_once(("open", index), "GPU %d does not answer (%s); skipping it", index, exc)
            return None
        return gpu

    # -- the tick ----------------------------------------------------------------------

    def sample(self, now: float, tick_s: float) -> Reading:
        """Read every answering GPU; an empty Reading while the library is down."""
        reading = Reading()
        if self._down and not self._try_reinit():
            return reading
        reading.lost.extend(self._pending_lost)
        self._pending_lost.clear()
        try:
            for gpu in list(self.gpus.values()):
                self._sample_gpu(gpu, now, tick_s, reading)
        except self.errors.library as exc:
            self._go_down(exc)  # GPUs already read this tick are kept
        return reading

    def _sample_gpu(self, gpu: _Gpu, now: float, tick_s: float, reading: Reading) -> None:
        if gpu.lost_reason is not None:
            if self.clock() < gpu.next_probe:
                return
            gpu.next_probe = self.clock() + self.reprobe_s
        try:
            if gpu.lost_reason is not None:  # a stale handle must not decide the probe
                gpu.handle = self.nvml.nvmlDeviceGetHandleByUUID(gpu.info.uuid)
            sample = self._read_gpu(gpu, now, tick_s)
            processes = self._processes(gpu)
        except self.errors.gone as exc:
            self._mark_lost(gpu, exc, reading)
            return
        if gpu.lost_reason is not None:
            self.log.warning("GPU %d (%s) answers again", gpu.info.index, gpu.info.uuid)
            gpu.lost_reason = None
        reading.samples.append(sample)
        reading.processes.extend(processes)

    def _mark_lost(self, gpu: _Gpu, exc: BaseException, reading: Reading) -> None:
        if gpu.lost_reason is not None:
            return  # still lost: reported and logged already
        gpu.lost_reason = str(exc)
        gpu.next_probe = self.clock() + self.reprobe_s
        reading.lost.append((gpu.info, gpu.lost_reason))
        self.log.error(
            "GPU %d (%s) is lost: %s; re-probing every %.0f s",
            gpu.info.index, gpu.info.uuid, gpu.lost_reason, self.reprobe_s,
        )  # fmt: skip

    def _read_gpu(self, gpu: _Gpu, now: float, tick_s: float) -> GpuSample:
        n, h, f = self.nvml, gpu.handle, self._field
        util = f(gpu, "util", n.nvmlDeviceGetUtilizationRates, h)
        mem = f(gpu, "memory", n.nvmlDeviceGetMemoryInfo, h)
        power_mw = f(gpu, "power", n.nvmlDeviceGetPowerUsage, h)
        energy_mj = f(gpu, "energy", n.nvmlDeviceGetTotalEnergyConsumption, h)
        pstate = f(gpu, "pstate", n.nvmlDeviceGetPerformanceState, h)
        return GpuSample(
            gpu=gpu.info,
            util=None if util is None else util.gpu,
            mem_util=None if util is None else util.memory,
            mem_used_mib=None if mem is None else mem.used // MIB,
            temp_c=f(gpu, "temp", n.nvmlDeviceGetTemperature, h, n.NVML_TEMPERATURE_GPU),
            fan_pct=f(gpu, "fan", n.nvmlDeviceGetFanSpeed, h),
            power_w=None if power_mw is None else power_mw / 1000,
            energy_j=None if energy_mj is None else energy_mj // 1000,
            sm_mhz=f(gpu, "sm_clock", n.nvmlDeviceGetClockInfo, h, n.NVML_CLOCK_SM),
            mem_mhz=f(gpu, "mem_clock", n.nvmlDeviceGetClockInfo, h, n.NVML_CLOCK_MEM),
            pstate=None if pstate in (None, _PSTATE_UNKNOWN) else int(pstate),
            active_s=self._active_s(gpu, now, tick_s, None if util is None else util.gpu),
        )

    def _field(self, gpu: _Gpu, key: str, fn: Callable, *args: Any, missing: Any = None) -> Any:
        """One NVML call: None where unsupported (and not asked again), `missing` on NotFound."""
        # Lost-GPU and whole-library errors propagate to the scope that handles them.
        if key in gpu.unsupported:
            return None
        try:
            return fn(*args)
        except self.errors.escalate:
            raise
        except self.errors.unsupported:
            gpu.unsupported.add(key)
            return None
        except self.errors.not_found:
            return missing
        except self.errors.any as exc:
            self._warn_once((gpu.info.uuid, key, str(exc)), "GPU %d %s: %s (stored as NULL)",
                            gpu.info.index, key, exc)  # fmt: skip
            return None

    # -- gap-free activity -------------------------------------------------------------

    def _active_s(self, gpu: _Gpu, now: float, tick_s: float, point: int | None) -> float | None:
        n = self.nvml
        got = self._field(
            gpu, "samples", n.nvmlDeviceGetSamples,
            gpu.handle, n.NVML_GPU_UTILIZATION_SAMPLES, gpu.last_util_us, missing=(None, []),
        )  # fmt: skip
        if got is None:
            return None  # no sample buffer here: the point reading is all there is
        value_type, samples = got
        points = [(s.timeStamp, sample_value(s.sampleValue, value_type)) for s in samples]
        since = gpu.last_util_us
        if points:
            gpu.last_util_us = max(ts for ts, _ in points)
        end_us = round(now * 1e6)
        start_us = end_us - round(tick_s * 1e6)
        return active_seconds(points, start_us, end_us, self.threshold, since, point)

    # -- processes ---------------------------------------------------------------------

    def _processes(self, gpu: _Gpu) -> list[ProcessSample]:
        n, h = self.nvml, gpu.handle
        mem: dict[int, int | None] = {}
        for key, fn in (
            ("compute", n.nvmlDeviceGetComputeRunningProcesses),
            ("graphics", n.nvmlDeviceGetGraphicsRunningProcesses),
        ):
            for p in self._field(gpu, key, fn, h, missing=[]) or []:
                used = None if p.usedGpuMemory is None else p.usedGpuMemory // MIB
                # A process in both lists (compute + graphics) is one process.
                mem[p.pid] = used if mem.get(p.pid) is None else max(mem[p.pid] or 0, used or 0)
        if not mem:
            return []
        sm = self._process_sm(gpu)
        return [self._process(gpu.info.uuid, pid, mib, sm.get(pid)) for pid, mib in mem.items()]

    def _process_sm(self, gpu: _Gpu) -> dict[int, int]:
        """pid -> SM utilization % of its newest sample since the last tick."""
        fn = self.nvml.nvmlDeviceGetProcessUtilization
        samples = self._field(gpu, "process_util", fn, gpu.handle, gpu.last_proc_us, missing=[])
        newest: dict[int, tuple[int, int]] = {}
        for s in samples or []:
            if s.timeStamp >= newest.get(s.pid, (-1, 0))[0]:
                newest[s.pid] = (s.timeStamp, s.smUtil)
            gpu.last_proc_us = max(gpu.last_proc_us, s.timeStamp)
        return {pid: util for pid, (_, util) in newest.items()}

    def _process(self, uuid: str, pid: int, mem: int | None, sm: int | None) -> ProcessSample:
        who = self.procinfo.lookup(pid)
        if who is GONE:
            self._warn_once(
                ("pid-not-visible",),
                "PID %d used a GPU but is not in %s (it exited, or the container lacks pid: host);"
                " such processes are stored without user and command", pid, self.procinfo.proc_root,
            )  # fmt: skip
        return ProcessSample(uuid, pid, who.started, who.user, who.command, mem, sm)

    # -- whole-library failure ---------------------------------------------------------

    def _go_down(self, exc: BaseException) -> None:
        self._shutdown()
        self._down = True
        self._backoff = self.backoff_min
        self._retry_at = self.clock() + self._backoff
        self.log.error("NVML failed (%s); shut down, re-initializing in %.0f s", exc, self._backoff)

    def _try_reinit(self) -> bool:
        if self.clock() < self._retry_at:
            return False
        try:
            self.nvml.nvmlInit()
        except self.errors.any as exc:
            self._retry_later(exc)
            return False
        try:
            self._enumerate()
        except self.errors.any as exc:
            self._shutdown()
            self._retry_later(exc)
            return False
        self._down = False
        self.log.warning("NVML re-initialized; %d GPUs", len(self.gpus))
        return True

    def _retry_later(self, exc: BaseException) -> None:
        self._backoff = min(self._backoff * 2, self.backoff_max)
        self._retry_at = self.clock() + self._backoff
        self.log.warning(
            "NVML re-initialization failed (%s); next try in %.0f s", exc, self._backoff
        )

    def _shutdown(self) -> None:
        try:
            self.nvml.nvmlShutdown()
        except self.errors.any as exc:  # a dead driver may refuse; nothing else to release
            self.log.debug("nvmlShutdown: %s", exc)

    def close(self) -> None:
        """End the NVML session (nvmlShutdown); safe to call twice."""
        if not self._down:
            self._shutdown()
        self._down = True
        self._retry_at = float("inf")  # a closed backend never re-initializes

    def _warn_once(self, key: tuple, msg: str, *args: Any) -> None:
        if key not in self._logged:
            self._logged.add(key)
            self.log.warning(msg, *args)


def sample_value(value: Any, value_type: int | None) -> float:
    """The number in an nvmlValue_t union, read through the member its sampleValType names."""
    member = _VALUE_FIELDS[value_type] if value_type in range(len(_VALUE_FIELDS)) else "uiVal"
    return getattr(value, member)


def active_seconds(
    points: list[tuple[int, float]],
    start_us: int,
    end_us: int,
    threshold: float,
    since_us: int,
    point: float | None,
) -> float | None:
    """Seconds of [start_us, end_us] with utilization above `threshold`, from buffered samples."""
    # Each sample (timestamp µs, %) covers the time since the sample before it (the first one
    # since `since_us`, the newest sample counted last tick); the stretch after the newest
    # sample takes its value, or the point reading when no sample arrived. Consecutive
    # windows therefore cover the timeline without gaps or overlap.
    prev = since_us or start_us
    active = 0
    tail = point
    for ts, value in sorted(points):
        if value > threshold:
            active += _overlap(prev, ts, start_us, end_us)
        prev, tail = max(prev, ts), value
    if tail is None:
        return None if not points else active / 1e6
    if tail > threshold:
        active += _overlap(prev, end_us, start_us, end_us)
    return active / 1e6


def _overlap(a: int, b: int, start: int, end: int) -> int:
    return max(0, min(b, end) - max(a, start))
