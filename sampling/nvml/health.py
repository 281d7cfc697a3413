"""Slow-changing readings of a GPU's health, read once a minute, and Xid error events.

Power limit, ECC error counts, retired pages, remapped rows and PCIe throughput change
seldom or matter as a trend, and some are slow to read (each PCIe figure makes the driver
count bytes for 20 ms), so they are read once a minute, not every tick. Xid errors (the
driver's own fault reports) arrive as events and are drained without waiting each tick.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sampling.nvml.mig import handle_key

DRAIN_MAX = 64  # events taken per tick at most, so an event storm cannot stall a tick


@dataclass
class Health:
    """The newest slow readings of one GPU (None where the driver does not report them)."""

    power_limit_w: float | None = None
    ecc_uncorrected: int | None = None
    retired_pages: int | None = None
    remapped_rows: int | None = None
    pcie_tx_kbs: int | None = None
    pcie_rx_kbs: int | None = None
    xid_count: int | None = None
    xid_last: int | None = None


def read_health(nvml: Any, handle: Any, field: Callable[..., Any], health: Health) -> None:
    """Refresh the slow readings through `field` (the backend's fault-contained call)."""
    n = nvml
    limit_mw = field("power_limit", n.nvmlDeviceGetEnforcedPowerLimit, handle)
    health.power_limit_w = None if limit_mw is None else limit_mw / 1000
    health.ecc_uncorrected = field(
        "ecc",
        n.nvmlDeviceGetTotalEccErrors,
        handle,
        n.NVML_MEMORY_ERROR_TYPE_UNCORRECTED,
        n.NVML_VOLATILE_ECC,
    )
    pages = field(
        "retired_pages",
        n.nvmlDeviceGetRetiredPages,
        handle,
        n.NVML_PAGE_RETIREMENT_CAUSE_DOUBLE_BIT_ECC_ERROR,
    )
    health.retired_pages = None if pages is None else len(pages)
    rows = field("remapped_rows", n.nvmlDeviceGetRemappedRows, handle)
    health.remapped_rows = None if rows is None else rows[1]  # (corrected, uncorrected, ...)
    health.pcie_tx_kbs = field(
        "pcie", n.nvmlDeviceGetPcieThroughput, handle, n.NVML_PCIE_UTIL_TX_BYTES
    )
    health.pcie_rx_kbs = field(
        "pcie", n.nvmlDeviceGetPcieThroughput, handle, n.NVML_PCIE_UTIL_RX_BYTES
    )


class XidEvents:
    """One NVML event set registered for Xid critical errors on every GPU that has them."""

    def __init__(self, nvml: Any, errors: tuple, log: logging.Logger) -> None:
        self.nvml, self.errors, self.log = nvml, errors, log
        self.events: Any = None
        self.watched: dict[int | None, Any] = {}  # handle key -> what to credit
        self._warned = False

    def watch(self, handle: Any, target: Any) -> bool:
        """Register one GPU; False where the driver offers no Xid events for it."""
        n = self.nvml
        try:
            if not n.nvmlDeviceGetSupportedEventTypes(handle) & n.nvmlEventTypeXidCriticalError:
                return False
            if self.events is None:
                self.events = n.nvmlEventSetCreate()
            n.nvmlDeviceRegisterEvents(handle, n.nvmlEventTypeXidCriticalError, self.events)
        except self.errors:
            return False
        self.watched[handle_key(handle)] = target
        return True

    def drain(self, credit: Callable[[Any, int], None]) -> None:
        """Credit each pending Xid to its GPU, without waiting for new ones."""
        for _ in range(DRAIN_MAX if self.events is not None else 0):
            try:
                data = self._wait()
            except self.nvml.NVMLError_Timeout:  # nothing pending
                return
            except self.errors as exc:  # a GPU fell off the bus, the driver went away...
                if not self._warned:
                    self._warned = True
                    self.log.warning("Xid events cannot be read (%s); trying each tick", exc)
                return
            target = self.watched.get(handle_key(data.device))
            if target is not None:
                credit(target, int(data.eventData))

    def _wait(self) -> Any:
        """One pending event: through nvmlEventSetWait_v2, or v1 on drivers before R450."""
        n = self.nvml
        try:
            return n.nvmlEventSetWait(self.events, 0)
        except n.NVMLError_FunctionNotFound:
            data = n.c_nvmlEventData_t()  # v1 fills the first three fields of the same struct
            ret = n._nvmlGetFunctionPointer("nvmlEventSetWait")(self.events, ctypes.byref(data), 0)
            if ret != n.NVML_SUCCESS:
                raise n.NVMLError(ret) from None
            return data

    def close(self) -> None:
        """Free the event set."""
        if self.events is not None:
            with contextlib.suppress(*self.errors):
                self.nvml.nvmlEventSetFree(self.events)
        self.events, self.watched = None, {}
