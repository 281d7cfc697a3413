"""Readings whose NVML function changed across driver releases, tried newest first.

The pinned binding calls only the newest form of some functions (`_v3` process lists,
`nvmlDeviceGetTemperatureV`, memory `_v2`); R470 and older drivers lack them, and drivers
after CUDA 14 drop the deprecated forms. Each reading here finds, once per process, the
newest form this driver has, the way nvitop and gpustat do, and remembers it.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass
from typing import Any

from sampling.nvml.errors import ErrorKinds

PROCESS_LISTS = {
    "compute": "nvmlDeviceGetComputeRunningProcesses",
    "graphics": "nvmlDeviceGetGraphicsRunningProcesses",
}
PROCESS_SUFFIXES = ("_v3", "_v2", "")  # "" is the original v1 function
NOT_AVAILABLE = 0xFFFFFFFFFFFFFFFF  # usedGpuMemory where the driver cannot say (WDDM)
NO_INSTANCE = 0xFFFFFFFF  # gpuInstanceId / computeInstanceId outside MIG
NAME_BUFFER = 96  # NVML_DEVICE_NAME_V2_BUFFER_SIZE


class _ProcessInfoV1(ctypes.Structure):
    """nvmlProcessInfo_v1_t, what drivers before R450 fill in (no MIG instance ids)."""

    _fields_ = [("pid", ctypes.c_uint), ("usedGpuMemory", ctypes.c_ulonglong)]


@dataclass(frozen=True)
class RunningProcess:
    """One entry of a running-process list, whichever version of the struct it came in."""

    pid: int
    used_bytes: int | None
    gpu_instance: int | None = None
    compute_instance: int | None = None


@dataclass(frozen=True)
class Memory:
    """Device memory in bytes; `used` excludes what the driver reserves (None: v1 only)."""

    total: int
    used: int
    reserved: int | None


def text(value: str | bytes) -> str:
    """A string the binding returned, as str."""
    return value.decode(errors="replace") if isinstance(value, bytes) else value


class DriverCalls:
    """The version-dependent readings, each remembering which form this driver answers."""

    def __init__(self, nvml: Any, errors: ErrorKinds) -> None:
        self.nvml = nvml
        self.errors = errors
        self.process_suffix: dict[str, str] = {}
        self.memory_v2: bool | None = None
        self.temperature_v: bool | None = None
        self.clocks_event: bool | None = None

    # -- running processes ---------------------------------------------------------------

    def running_processes(self, handle: Any, kind: str) -> list[RunningProcess]:
        """The compute or graphics processes on a device, through the newest list it has."""
        base = PROCESS_LISTS[kind]
        known = self.process_suffix.get(base)
        for suffix in (known,) if known is not None else PROCESS_SUFFIXES:
            try:
                found = self._process_list(base + suffix, handle)
            except self.errors.missing:
                continue
            self.process_suffix[base] = suffix
            return found
        raise self.nvml.NVMLError(self.nvml.NVML_ERROR_FUNCTION_NOT_FOUND)

    def _process_list(self, name: str, handle: Any) -> list[RunningProcess]:
        if name == PROCESS_LISTS["compute"] or name == PROCESS_LISTS["graphics"]:
            return self._process_list_v1(name, handle)
        wrapper = getattr(self.nvml, name, None)
        if wrapper is None:  # an older binding without this version's wrapper
            raise self.nvml.NVMLError(self.nvml.NVML_ERROR_FUNCTION_NOT_FOUND)
        return [
            RunningProcess(
                p.pid, p.usedGpuMemory, _instance(p.gpuInstanceId), _instance(p.computeInstanceId)
            )
            for p in wrapper(handle)
        ]

    def _process_list_v1(self, name: str, handle: Any) -> list[RunningProcess]:
        """The v1 list, called directly: the binding has no wrapper for it any more."""
        n = self.nvml
        fn = n._nvmlGetFunctionPointer(name)  # raises FunctionNotFound where it is missing
        count = ctypes.c_uint(0)
        ret = fn(handle, ctypes.byref(count), None)
        if ret == n.NVML_SUCCESS:
            return []
        if ret != n.NVML_ERROR_INSUFFICIENT_SIZE:
            raise n.NVMLError(ret)
        count.value = count.value * 2 + 5  # room for processes that start meanwhile
        infos = (_ProcessInfoV1 * count.value)()
        ret = fn(handle, ctypes.byref(count), infos)
        if ret != n.NVML_SUCCESS:
            raise n.NVMLError(ret)
        return [
            RunningProcess(p.pid, None if p.usedGpuMemory == NOT_AVAILABLE else p.usedGpuMemory)
            for p in infos[: count.value]
        ]

    def process_utilization(self, handle: Any, since_us: int) -> list:
        """Per-process utilization samples newer than `since_us`.

        The driver can close a sample window between the binding's size query and its read,
        which answers InsufficientSize; one more try then gets a consistent list."""
        n = self.nvml
        try:
            return n.nvmlDeviceGetProcessUtilization(handle, since_us)
        except n.NVMLError_InsufficientSize:
            return n.nvmlDeviceGetProcessUtilization(handle, since_us)

    # -- memory, temperature, clocks-event reasons, names --------------------------------

    def memory(self, handle: Any) -> Memory:
        """Memory with reserved memory apart (v2, R510+), else the v1 figures."""
        n = self.nvml
        if self.memory_v2 is not False and hasattr(n, "nvmlMemory_v2"):
            try:
                m = n.nvmlDeviceGetMemoryInfo(handle, version=n.nvmlMemory_v2)
            except self.errors.missing:
                self.memory_v2 = False
            except self.errors.unsupported:
                pass  # this device refuses v2 (the driver has it): ask v1 this time
            else:
                self.memory_v2 = True
                return Memory(m.total, m.used, m.reserved)
        m = n.nvmlDeviceGetMemoryInfo(handle)
        return Memory(m.total, m.used, None)

    def temperature(self, handle: Any) -> int:
        """GPU core temperature: nvmlDeviceGetTemperatureV where it exists, else the old call."""
        n = self.nvml
        if self.temperature_v is not False and hasattr(n, "nvmlDeviceGetTemperatureV"):
            try:
                value = n.nvmlDeviceGetTemperatureV(handle, n.NVML_TEMPERATURE_GPU)
            except self.errors.missing:
                self.temperature_v = False
            else:
                self.temperature_v = True
                return value
        return n.nvmlDeviceGetTemperature(handle, n.NVML_TEMPERATURE_GPU)

    def clocks_event_reasons(self, handle: Any) -> int:
        """Why clocks are held down (bit field): the R535 name, else the older 'throttle' one."""
        n = self.nvml
        new = getattr(n, "nvmlDeviceGetCurrentClocksEventReasons", None)
        if self.clocks_event is not False and new is not None:
            try:
                value = new(handle)
            except self.errors.missing:
                self.clocks_event = False
            else:
                self.clocks_event = True
                return value
        return n.nvmlDeviceGetCurrentClocksThrottleReasons(handle)

    def name(self, handle: Any) -> str:
        """The product name; bytes that are not UTF-8 (seen on some boards) are replaced."""
        try:
            return text(self.nvml.nvmlDeviceGetName(handle))
        except UnicodeDecodeError:
            return self._raw_text("nvmlDeviceGetName", handle, NAME_BUFFER)

    def _raw_text(self, name: str, handle: Any, size: int) -> str:
        n = self.nvml
        buffer = ctypes.create_string_buffer(size)
        ret = n._nvmlGetFunctionPointer(name)(handle, buffer, ctypes.c_uint(size))
        if ret != n.NVML_SUCCESS:
            raise n.NVMLError(ret)
        return buffer.value.decode(errors="replace")


def _instance(value: int | None) -> int | None:
    return None if value is None or value == NO_INSTANCE else value
