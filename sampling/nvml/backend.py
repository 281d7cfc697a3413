"""The real sampling backend: one long-lived NVML session over every GPU the driver reports.

Faults are contained at the smallest scope that explains them:
- a reading the GPU does not support is None (never 0), remembered, and asked again hourly
  (a MIG toggle or a permission change needs no restart);
- any other error of one reading (a fan answering "Unknown Error") is None for that
  reading only, this tick; the rest of the GPU is kept;
- only GpuIsLost / ResetRequired, or the UUID itself failing, takes a GPU down: reported
  once and re-probed now and then while the others go on;
- a failure of the whole library (driver reload) shuts NVML down and re-initializes it with
  capped exponential backoff, never sleeping inside sample(); a driver/library version
  mismatch that does not heal ends the process, so the service manager starts a fresh
  collector against the new driver.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from importlib import metadata
from types import ModuleType
from typing import Any

from sampling.backend import BackendFailed, BackendUnavailable, Reading
from sampling.nvml.calls import DriverCalls, text
from sampling.nvml.device import Device, DeviceReader
from sampling.nvml.errors import CHECKS, ErrorKinds, init_failure_message
from sampling.nvml.health import XidEvents
from sampling.nvml.layout import LayoutKeeper
from sampling.procinfo import ProcInfo
from sampling.settings import DEFAULTS
from store.samples import GpuInfo

REPROBE_S = 60.0  # how often a lost GPU is asked again whether it is back
RECHECK_S = 3600.0  # how often a "not supported" answer, and the MIG layout, are asked again
HEALTH_EVERY_S = 60.0  # power limit, ECC, retired pages, PCIe: once a minute
BACKOFF_MIN_S = 1.0
BACKOFF_MAX_S = 60.0


def _import_pynvml() -> ModuleType:
    try:
        import pynvml  # only the nvml backend needs the binding (and its C library)
    except ImportError:
        raise BackendUnavailable(
            "the nvidia-ml-py package (module pynvml) is not installed: pip install nvidia-ml-py"
        ) from None
    return pynvml


def binding_version() -> str:
    """The installed nvidia-ml-py release."""
    try:
        return metadata.version("nvidia-ml-py")
    except metadata.PackageNotFoundError:
        return "unknown"


class NvmlBackend(LayoutKeeper, DeviceReader):
    """Samples every NVIDIA GPU, MIG device and process through one NVML session."""

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
        recheck_s: float = RECHECK_S,
        health_every_s: float = HEALTH_EVERY_S,
        mismatch_exit_s: float = DEFAULTS.mismatch_exit_s,
        backoff_s: tuple[float, float] = (BACKOFF_MIN_S, BACKOFF_MAX_S),
    ) -> None:
        self.nvml = _import_pynvml() if nvml is None else nvml
        self.procinfo = procinfo or ProcInfo()
        self.clock = clock
        self.threshold = DEFAULTS.threshold if threshold is None else threshold
        self.log = log or logging.getLogger(__name__)
        self.reprobe_s, self.recheck_s = reprobe_s, recheck_s
        self.health_every_s, self.mismatch_exit_s = health_every_s, mismatch_exit_s
        self.backoff_min, self.backoff_max = backoff_s
        self.errors = ErrorKinds(self.nvml)
        self.calls = DriverCalls(self.nvml, self.errors)
        self.xid = XidEvents(self.nvml, self.errors.any, self.log)
        self.gpus: dict[str, Device] = {}  # physical GPUs by UUID; MIG devices are children
        self.host_facts: list[tuple[str, str]] = []
        self._pending_facts: list[tuple[str, str]] = []
        self._pending_lost: list[tuple[GpuInfo, str]] = []
        self._logged: set[tuple] = set()
        self._down = False
        self._backoff = self.backoff_min
        self._retry_at = 0.0
        self._mismatch_since: float | None = None
        self._unopened: dict[int, float] = {}
        self._xid_seen: dict[str, tuple[int, int | None]] = {}
        self._start()

    def _start(self) -> None:
        try:
            self.nvml.nvmlInit()
        except self.errors.any as exc:
            raise BackendUnavailable(init_failure_message(exc)) from None
        try:
            self._enumerate()
            self._read_host_facts()
        except self.errors.any as exc:
            self._shutdown()
            msg = f"NVML could not list the GPUs ({exc}): check that {CHECKS}"
            raise BackendUnavailable(msg) from None
        if not self.gpus:
            self.log.warning("NVML started but reports no GPUs; check that %s", CHECKS)

    def _read_host_facts(self) -> None:
        """Driver, CUDA driver, NVML and binding versions, remembered with the samples."""
        n, facts = self.nvml, [("nvml_binding_version", binding_version())]
        for key, fn in (
            ("driver_version", "nvmlSystemGetDriverVersion"),
            ("nvml_version", "nvmlSystemGetNVMLVersion"),
        ):
            try:
                facts.append((key, text(getattr(n, fn)())))
            except (*self.errors.any, AttributeError):
                continue
        cuda = self._host_call(
            "nvmlSystemGetCudaDriverVersion_v2", "nvmlSystemGetCudaDriverVersion"
        )
        if cuda:
            facts.append(("cuda_driver_version", f"{cuda // 1000}.{cuda % 1000 // 10}"))
        if facts != self.host_facts:
            self.host_facts = facts
            self._pending_facts = list(facts)

    def _host_call(self, *names: str) -> Any:
        for name in names:
            fn = getattr(self.nvml, name, None)
            try:
                return None if fn is None else fn()
            except self.errors.any:
                continue
        return None

    # -- the tick ----------------------------------------------------------------------

    def sample(self, now: float, tick_s: float) -> Reading:
        """Read every answering GPU; an empty Reading while the library is down."""
        reading = Reading()
        if self._down and not self._try_reinit():
            self._check_mismatch()
            return reading
        try:
            self.xid.drain(self._credit_xid)
            self._retry_unopened()
            for gpu in list(self.gpus.values()):
                self._sample_gpu(gpu, now, tick_s, reading)
        except self.errors.library as exc:
            self._go_down(exc)  # GPUs already read this tick are kept
        # Taken last: what they report is not lost with a tick that failed half way.
        reading.meta, self._pending_facts = self._pending_facts, []
        reading.lost.extend(self._pending_lost)
        self._pending_lost.clear()
        return reading

    def _sample_gpu(self, gpu: Device, now: float, tick_s: float, reading: Reading) -> None:
        if gpu.lost_reason is not None:
            if self.clock() < gpu.next_probe:
                return
            gpu.next_probe = self.clock() + self.reprobe_s
        try:
            self._check_gpu(gpu)
        except self.errors.gone as exc:
            self._mark_lost(gpu, exc)
            return
        except self.errors.library:
            raise
        except self.errors.any as exc:  # the layout could not be read: keep the one known
            self._warn_once(
                ("layout", gpu.info.uuid, str(exc)),
                "GPU %d: its MIG layout cannot be read (%s)",
                gpu.info.index,
                exc,
            )
        if gpu.lost_reason is not None:
            self.log.warning("GPU %d (%s) answers again", gpu.info.index, gpu.info.uuid)
            gpu.lost_reason = None
        for device in (gpu, *gpu.children):
            if device.lost_reason is None:
                self._sample_device(device, now, tick_s, reading)

    def _check_gpu(self, gpu: Device) -> None:
        """The GPU answers (a fresh handle if it was lost), and its MIG devices are current."""
        if gpu.lost_reason is not None:  # a stale handle must not decide the probe
            for child in gpu.children:
                if child.gpm is not None:
                    child.gpm.close()
            gpu.handle, gpu.children = self._handle_again(gpu), []
            self._sync_migs(gpu, mode=True)
        self._alive(gpu)
        self._sync_migs(gpu, mode=self.clock() >= gpu.next_layout)

    def _sample_device(self, device: Device, now: float, tick_s: float, reading: Reading) -> None:
        """One GPU's or MIG device's readings; a lost MIG device is only that device."""
        part = Reading()
        try:
            self._read_device(device, now, tick_s, part)
        except self.errors.gone as exc:
            if device.parent is None:
                self._mark_lost(device, exc)
            else:
                self._mark_child_lost(device, exc)
            return
        reading.samples.extend(part.samples)
        reading.processes.extend(part.processes)
        reading.states.extend(part.states)

    def _handle_again(self, gpu: Device) -> Any:
        """A fresh handle for a lost GPU, by its index: NVML's lookup by UUID answers
        GpuIsLost while any GPU is lost, so one lost GPU would keep another from returning."""
        n = self.nvml
        handle = n.nvmlDeviceGetHandleByIndex(gpu.info.index)
        if text(n.nvmlDeviceGetUUID(handle)) != gpu.info.uuid:
            raise n.NVMLError(n.NVML_ERROR_NOT_FOUND)  # another GPU holds its index now
        return handle

    def _alive(self, gpu: Device) -> None:
        """The UUID answers, or the GPU is lost whatever the error (a basic call failing)."""
        try:
            self.nvml.nvmlDeviceGetUUID(gpu.handle)
        except self.errors.library:
            raise
        except self.errors.gone:
            raise
        except self.errors.any as exc:
            raise self.nvml.NVMLError(self.nvml.NVML_ERROR_GPU_IS_LOST) from exc

    def _mark_lost(self, gpu: Device, exc: BaseException) -> None:
        if gpu.lost_reason is not None:
            return  # still lost: reported and logged already
        cause = exc.__cause__ if exc.__cause__ is not None else exc
        gpu.lost_reason = str(cause)
        gpu.next_probe = self.clock() + self.reprobe_s
        for device in (gpu, *gpu.children):
            self._pending_lost.append((device.info, gpu.lost_reason))
        self.log.error(
            "GPU %d (%s) is lost: %s; re-probing every %.0f s",
            gpu.info.index,
            gpu.info.uuid,
            gpu.lost_reason,
            self.reprobe_s,
        )

    def _mark_child_lost(self, child: Device, exc: BaseException) -> None:
        """A MIG device stopped answering; the next layout check finds it back or drops it."""
        if child.lost_reason is None:
            child.lost_reason = str(exc)
            self._pending_lost.append((child.info, child.lost_reason))
            self.log.error("MIG device %s is lost: %s", child.info.uuid, child.lost_reason)

    def _credit_xid(self, gpu: Device, code: int) -> None:
        gpu.health.xid_count = (gpu.health.xid_count or 0) + 1
        gpu.health.xid_last = code
        self._xid_seen[gpu.info.uuid] = (gpu.health.xid_count, code)
        self.log.error(
            "GPU %d (%s) reported Xid %d (a driver-detected fault; see `dmesg`)",
            gpu.info.index,
            gpu.info.uuid,
            code,
        )

    def _field(self, gpu: Device, key: str, fn: Callable, *args: Any, missing: Any = None) -> Any:
        """One NVML call: None where unsupported (asked again hourly), `missing` on NotFound."""
        # Lost-GPU and whole-library errors propagate to the scope that handles them.
        refused = gpu.unsupported.get(key)
        if refused is not None and self.clock() - refused < self.recheck_s:
            return None
        try:
            value = fn(*args)
        except self.errors.escalate:
            raise
        except self.errors.unsupported:
            gpu.unsupported[key] = self.clock()
            return None
        except self.errors.not_found:
            value = missing
        except self.errors.any as exc:
            gpu.failed[key] = str(exc)
            self._warn_once(
                (gpu.info.uuid, key, str(exc)),
                "GPU %d %s: %s (stored as NULL)",
                gpu.info.index,
                key,
                exc,
            )
            return None
        gpu.failed.pop(key, None)
        gpu.answered.add(key)
        if refused is not None:
            del gpu.unsupported[key]
            self.log.info("GPU %d now answers %s", gpu.info.index, key)
        return value

    # -- whole-library failure ---------------------------------------------------------

    def _go_down(self, exc: BaseException) -> None:
        self._shutdown()
        self._down = True
        self._backoff = self.backoff_min
        self._retry_at = self.clock() + self._backoff
        self._note_mismatch(exc)
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
            self._read_host_facts()
        except self.errors.any as exc:
            self._shutdown()
            self._retry_later(exc)
            return False
        self._down = False
        self._mismatch_since = None
        self.log.warning("NVML re-initialized; %d GPUs", len(self.gpus))
        return True

    def _retry_later(self, exc: BaseException) -> None:
        self._note_mismatch(exc)
        self._backoff = min(self._backoff * 2, self.backoff_max)
        self._retry_at = self.clock() + self._backoff
        self.log.warning(
            "NVML re-initialization failed (%s); next try in %.0f s", exc, self._backoff
        )

    def _note_mismatch(self, exc: BaseException) -> None:
        if not isinstance(exc, self.errors.version_mismatch):
            self._mismatch_since = None
        elif self._mismatch_since is None:
            self._mismatch_since = self.clock()

    def _check_mismatch(self) -> None:
        since = self._mismatch_since
        if since is not None and self.clock() - since >= self.mismatch_exit_s:
            raise BackendFailed(
                f"the NVIDIA driver and its NVML library have had different versions for "
                f"{self.clock() - since:.0f} s (the driver was upgraded without reloading the "
                "kernel module): exiting so a fresh collector starts against the new driver; "
                "if this repeats, reboot the host or reload the nvidia module"
            )

    def _shutdown(self) -> None:
        self._close_gpm()
        self.xid.close()
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
