"""Which GPUs and MIG devices there are: opening them, and keeping the list current.

A GPU that does not answer when NVML lists it is asked again every re-probe interval, not
forgotten. The MIG devices of a GPU in MIG mode are listed again every tick (a few cheap
calls), so a MIG device created or destroyed between ticks is seen at once; the ones that
stay keep their state (GPM samples, buffers, remembered answers). Whether a GPU is in MIG
mode at all is asked again hourly: switching it needs a GPU reset.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from typing import Any

from sampling.nvml.calls import DriverCalls, text
from sampling.nvml.device import MIB, Device
from sampling.nvml.errors import ErrorKinds
from sampling.nvml.health import XidEvents
from sampling.nvml.mig import (
    GpmMeter,
    gpm_supported,
    mig_enabled,
    mig_handles,
    mig_index,
    profile_of,
)
from store.samples import GpuInfo


class LayoutKeeper:
    """Opens GPUs and MIG devices and keeps the list current. Mixed into NvmlBackend."""

    nvml: Any
    errors: ErrorKinds
    calls: DriverCalls
    xid: XidEvents
    log: logging.Logger
    clock: Callable[[], float]
    reprobe_s: float
    recheck_s: float
    gpus: dict[str, Device]
    _pending_lost: list[tuple[GpuInfo, str]]
    _unopened: dict[int, float]  # index of a GPU that did not answer -> when to ask again
    _xid_seen: dict[str, tuple[int, int | None]]  # uuid -> (count, last code) across re-inits
    _field: Callable[..., Any]
    _warn_once: Callable[..., None]
    _credit_xid: Callable[[Device, int], None]

    def devices(self) -> list[Device]:
        """Every GPU and MIG device, parents first."""
        return [d for gpu in self.gpus.values() for d in (gpu, *gpu.children)]

    def _enumerate(self) -> None:
        """(Re)build the GPU table; GPUs known before but now missing are reported lost."""
        self.xid.close()
        known = {d.info.uuid: d for d in self.devices()}
        self._close_gpm()
        self.gpus, self._unopened = {}, {}
        for index in range(self.nvml.nvmlDeviceGetCount()):
            self._add(index)
        fresh = {d.info.uuid: d for d in self.devices()}
        for uuid, old in known.items():
            if uuid not in fresh and old.lost_reason is None:
                self._pending_lost.append((old.info, "not found after NVML re-initialization"))
                self.log.error(
                    "GPU %s (%s) is gone after NVML re-initialization", old.info.index, uuid
                )
            elif uuid in fresh and old.lost_reason is not None:
                self.log.warning(
                    "GPU %d (%s) is back after NVML re-initialization", fresh[uuid].info.index, uuid
                )

    def _add(self, index: int) -> None:
        """Open the GPU at `index`, or remember to ask it again later."""
        gpu = self._open(index)
        if gpu is None:
            self._unopened[index] = self.clock() + self.reprobe_s
            return
        self._unopened.pop(index, None)
        self.gpus[gpu.info.uuid] = gpu
        try:
            self._sync_migs(gpu, mode=True)
        except self.errors.library:
            raise
        except self.errors.any as exc:  # read as a whole GPU; the mode is asked again hourly
            gpu.mig, gpu.next_layout = False, self.clock() + self.recheck_s
            self._warn_once(
                ("mig-mode", gpu.info.uuid),
                "GPU %d: its MIG mode cannot be read (%s); reading it as a whole GPU",
                index,
                exc,
            )
        if self.xid.watch(gpu.handle, gpu):
            gpu.health.xid_count, gpu.health.xid_last = self._xid_seen.get(gpu.info.uuid, (0, None))

    def _retry_unopened(self) -> None:
        """Ask again the GPUs that did not answer when NVML listed them."""
        for index, due in list(self._unopened.items()):
            if self.clock() >= due:
                self._add(index)
                if index not in self._unopened:
                    self.log.warning("GPU %d answers now", index)

    def _open(self, index: int) -> Device | None:
        n = self.nvml
        try:
            handle = n.nvmlDeviceGetHandleByIndex(index)
            gpu = Device(GpuInfo(text(n.nvmlDeviceGetUUID(handle)), index, ""), handle)
            pci = self._field(gpu, "pci", n.nvmlDeviceGetPciInfo, handle)
            mem = self._field(gpu, "memory", self.calls.memory, handle)
            gpu.info = GpuInfo(
                gpu.info.uuid,
                index,
                self.calls.name(handle),
                pci_bus_id=None if pci is None else text(pci.busId),
                memory_total_mib=None if mem is None else mem.total // MIB,
            )
        except self.errors.library:
            raise
        except self.errors.any as exc:
            self._warn_once(
                ("open", index),
                "GPU %d does not answer (%s); asking again every %.0f s",
                index,
                exc,
                self.reprobe_s,
            )
            return None
        return gpu

    # -- MIG ---------------------------------------------------------------------------

    def _sync_migs(self, gpu: Device, *, mode: bool = False) -> None:
        """Bring a GPU's MIG devices up to date; with `mode`, ask whether MIG is on at all."""
        n, e = self.nvml, self.errors
        if mode:
            gpu.mig = mig_enabled(n, gpu.handle, e.unsupported)
            gpu.next_layout = self.clock() + self.recheck_s
        if not gpu.mig:
            self._drop_children(gpu, list(gpu.children), "MIG mode turned off")
            return
        known = {c.info.uuid: c for c in gpu.children}
        children = []
        for position, handle in mig_handles(n, gpu.handle, e.not_found):
            uuid = self._mig_uuid(handle)
            child = known.pop(uuid, None) if uuid else None
            if child is not None and child.lost_reason is not None:
                self.log.warning("MIG device %s answers again", uuid)
                child.lost_reason, child.handle = None, handle
            child = child or self._open_mig(gpu, position, handle)
            if child is not None:
                children.append(child)
        self._drop_children(gpu, list(known.values()), "MIG device no longer configured")
        added = {c.info.uuid for c in children} - {c.info.uuid for c in gpu.children}
        gpu.children = children
        self._assign_gpm(gpu)
        if added:
            self.log.info(
                "GPU %d (%s) is in MIG mode with %d MIG device(s)",
                gpu.info.index,
                gpu.info.uuid,
                len(children),
            )

    def _mig_uuid(self, handle: Any) -> str | None:
        """A MIG handle's UUID, None when it does not answer (it is then opened afresh)."""
        try:
            return text(self.nvml.nvmlDeviceGetUUID(handle))
        except self.errors.library:
            raise
        except self.errors.any:
            return None

    def _drop_children(self, gpu: Device, gone: list[Device], why: str) -> None:
        for child in gone:
            if child.gpm is not None:
                child.gpm.close()
            if child.lost_reason is None:
                self._pending_lost.append((child.info, why))
        gpu.children = [c for c in gpu.children if c not in gone]

    def _assign_gpm(self, gpu: Device) -> None:
        """GPM meters for MIG devices that alone use their GPU instance.

        GPM measures a GPU instance; where several compute instances share one, the value
        would be counted once for each, so those count the processes present instead."""
        supported = gpm_supported(self.nvml, gpu.handle, self.errors.unsupported)
        sharing = Counter(c.gpu_instance for c in gpu.children)
        for child in gpu.children:
            alone = supported and sharing[child.gpu_instance] == 1
            if alone and child.gpm is None:
                child.gpm = GpmMeter(self.nvml, gpu.handle, child.gpu_instance)
            elif not alone and child.gpm is not None:
                child.gpm.close()
                child.gpm = None

    def _open_mig(self, parent: Device, position: int, handle: Any) -> Device | None:
        n = self.nvml
        try:
            uuid = text(n.nvmlDeviceGetUUID(handle))
            name = self.calls.name(handle)
            memory = self.calls.memory(handle)
            instance = n.nvmlDeviceGetGpuInstanceId(handle)
        except self.errors.library:
            raise
        except self.errors.any as exc:
            self._warn_once(
                ("open-mig", parent.info.uuid, position),
                "MIG device %d of GPU %d does not answer (%s); skipping it",
                position,
                parent.info.index,
                exc,
            )
            return None
        info = GpuInfo(
            uuid,
            mig_index(parent.info.index, position),
            name,
            pci_bus_id=parent.info.pci_bus_id,
            memory_total_mib=memory.total // MIB,
            parent_uuid=parent.info.uuid,
            mig_profile=profile_of(name),
            gpu_instance=instance,
        )
        return Device(info, handle, parent=parent, gpu_instance=instance)

    def _close_gpm(self) -> None:
        for device in self.devices():
            if device.gpm is not None:
                device.gpm.close()
                device.gpm = None
