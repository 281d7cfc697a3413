"""What the backend knows of one GPU or MIG device, and what one tick reads from it."""

from __future__ import annotations

import itertools
import logging
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sampling.backend import Reading
from sampling.nvml.buffer import BufferShape, active_seconds, sample_value
from sampling.nvml.calls import DriverCalls
from sampling.nvml.health import Health, read_health
from sampling.nvml.mig import GpmMeter
from sampling.procinfo import GONE, ProcInfo
from store.samples import GpuInfo, GpuSample, GpuState, ProcessSample

MIB = 1024 * 1024
_PSTATE_UNKNOWN = 32
MIN_PROC_PERIOD_US, MAX_PROC_PERIOD_US = 10_000, 1_000_000  # per-process samples' period
MIG_PARENT_NOTE = "MIG mode: activity is measured on each MIG device"
MIG_PRESENCE_NOTE = (
    "utilization is not measurable on this MIG device: active while a process runs on it"
)
MIG_UNKNOWN_NOTE = "activity not measurable on this MIG device"
NO_UTIL_NOTE = "the driver reports no utilization for this GPU"


@dataclass
class Device:
    """What the backend remembers about one GPU (or MIG device) between ticks."""

    info: GpuInfo
    handle: Any
    parent: Device | None = None  # set on a MIG device
    gpu_instance: int | None = None
    mig: bool = False  # a GPU in MIG mode: its MIG devices carry activity and processes
    children: list[Device] = field(default_factory=list)
    gpm: GpmMeter | None = None
    unsupported: dict[str, float] = field(default_factory=dict)  # reading -> when refused
    failed: dict[str, str] = field(default_factory=dict)  # reading -> its latest error
    answered: set[str] = field(default_factory=set)  # readings that have answered
    buffer: BufferShape = field(default_factory=BufferShape)
    last_proc_us: int = 0  # newest process-utilization timestamp already read
    proc_period_us: float | None = None  # period of per-process samples, once measured
    health: Health = field(default_factory=Health)
    next_health: float = 0.0
    lost_reason: str | None = None
    next_probe: float = 0.0
    next_layout: float = 0.0  # when to ask again whether this GPU is in MIG mode


@dataclass
class Activity:
    """A tick's active time and how it was measured."""

    active_s: float | None
    source: str | None
    note: str | None = None
    util: int | None = None  # a utilization figure derived on the way (GPM)


class DeviceReader:
    """One tick's readings of one device: its sample, processes, activity and state.

    Mixed into NvmlBackend, which provides the session and the fault-contained `_field`."""

    nvml: Any
    calls: DriverCalls
    procinfo: ProcInfo
    clock: Callable[[], float]
    threshold: float
    health_every_s: float
    log: logging.Logger
    _field: Callable[..., Any]
    _warn_once: Callable[..., None]

    def _read_device(self, gpu: Device, now: float, tick_s: float, reading: Reading) -> None:
        """One GPU or MIG device: its sample, its processes and its state."""
        n, h = self.nvml, gpu.handle

        def f(key: str, fn: Callable, *args: Any, missing: Any = None) -> Any:
            return self._field(gpu, key, fn, *args, missing=missing)

        util = f("util", n.nvmlDeviceGetUtilizationRates, h)
        mem = f("memory", self.calls.memory, h)
        point = None if util is None else util.gpu
        # The sample buffer first: it shows the timestamp base process samples are in.
        plain = not gpu.mig and gpu.parent is None
        buffered = self._buffer_active(gpu, now, tick_s, point) if plain else None
        processes = self._processes(gpu, now, tick_s)
        activity = self._activity(gpu, tick_s, point, buffered, processes)
        power_mw = f("power", n.nvmlDeviceGetPowerUsage, h)
        energy_mj = f("energy", n.nvmlDeviceGetTotalEnergyConsumption, h)
        pstate = f("pstate", n.nvmlDeviceGetPerformanceState, h)
        encoder = f("encoder", n.nvmlDeviceGetEncoderUtilization, h)
        decoder = f("decoder", n.nvmlDeviceGetDecoderUtilization, h)
        reading.samples.append(
            GpuSample(
                gpu=gpu.info,
                util=point if point is not None else activity.util,
                mem_util=None if util is None else util.memory,
                mem_used_mib=None if mem is None else mem.used // MIB,
                temp_c=f("temp", self.calls.temperature, h),
                fan_pct=f("fan", n.nvmlDeviceGetFanSpeed, h),
                power_w=None if power_mw is None else power_mw / 1000,
                energy_j=None if energy_mj is None else energy_mj // 1000,
                sm_mhz=f("sm_clock", n.nvmlDeviceGetClockInfo, h, n.NVML_CLOCK_SM),
                mem_mhz=f("mem_clock", n.nvmlDeviceGetClockInfo, h, n.NVML_CLOCK_MEM),
                pstate=None if pstate in (None, _PSTATE_UNKNOWN) else int(pstate),
                active_s=activity.active_s,
                clocks_event=f("clocks_event", self.calls.clocks_event_reasons, h),
                enc_util=None if encoder is None else encoder[0],
                dec_util=None if decoder is None else decoder[0],
            )
        )
        reading.processes.extend(processes or [])
        reading.states.append(self._state(gpu, activity, mem))

    def _state(self, gpu: Device, activity: Activity, mem: Any) -> GpuState:
        if self.clock() >= gpu.next_health:
            gpu.next_health = self.clock() + self.health_every_s
            read_health(self.nvml, gpu.handle, lambda *a: self._field(gpu, *a), gpu.health)
        h = gpu.health
        reserved = None if mem is None or mem.reserved is None else mem.reserved // MIB
        return GpuState(
            gpu.info,
            activity.source,
            activity.note,
            reserved,
            h.power_limit_w,
            h.ecc_uncorrected,
            h.retired_pages,
            h.remapped_rows,
            h.xid_count,
            h.xid_last,
            h.pcie_tx_kbs,
            h.pcie_rx_kbs,
        )

    # -- activity ----------------------------------------------------------------------

    def _activity(
        self,
        gpu: Device,
        tick_s: float,
        point: int | None,
        buffered: float | None,
        processes: list | None,
    ) -> Activity:
        """How active the device was this tick, and how that was measured."""
        if gpu.mig:
            return Activity(None, None, MIG_PARENT_NOTE)
        if gpu.parent is not None:
            return self._mig_activity(gpu, tick_s, processes)
        if buffered is not None:
            return Activity(buffered, "buffer")
        if point is not None:
            return Activity(None, "point")  # the roll-ups count the tick by the point reading
        return Activity(None, None, NO_UTIL_NOTE)

    def _mig_activity(self, gpu: Device, tick_s: float, processes: list | None) -> Activity:
        """GPM's busy fraction where the GPU has GPM, else whether a process runs on it."""
        if gpu.gpm is not None:
            busy = self._field(gpu, "gpm", gpu.gpm.read)
            if busy is not None:
                return Activity(min(tick_s, tick_s * busy / 100), "gpm", util=round(busy))
        if processes is not None:
            return Activity(tick_s if processes else 0.0, "processes", MIG_PRESENCE_NOTE)
        return Activity(None, None, MIG_UNKNOWN_NOTE)

    def _buffer_active(
        self, gpu: Device, now: float, tick_s: float, point: int | None
    ) -> float | None:
        n, shape = self.nvml, gpu.buffer
        got = self._field(
            gpu,
            "samples",
            n.nvmlDeviceGetSamples,
            gpu.handle,
            n.NVML_GPU_UTILIZATION_SAMPLES,
            shape.last_us,
            missing=(None, []),
        )
        if got is None:
            return None  # no sample buffer here: the point reading is all there is
        value_type, samples = got
        wall_us, mono_us = round(time.time() * 1e6), time.monotonic_ns() // 1000
        stamps_now = [s.timeStamp for s in samples]
        if shape.learn(stamps_now, wall_us, mono_us):
            self.log.info("GPU %d (%s) %s", gpu.info.index, gpu.info.uuid, shape.describe())
        self._warn_short_buffer(gpu, tick_s)
        end_us = round(now * 1e6) + shape.offset_us
        shape.forget_future(end_us)
        # Samples past the tick's end belong to the next tick, which starts where this ends.
        points = [
            (s.timeStamp, sample_value(s.sampleValue, value_type))
            for s in samples
            if s.timeStamp <= end_us
        ]
        stamps = [ts for ts, _ in points]
        since = shape.last_us
        overflowed = bool(stamps) and since > 0 and len(stamps) >= shape.depth
        overflowed = overflowed and min(stamps) - since > shape.cover_us
        if stamps:
            shape.last_us = max(stamps)
        return active_seconds(
            points,
            end_us - round(tick_s * 1e6),
            end_us,
            self.threshold,
            since,
            point,
            cover_us=shape.cover_us,
            overflowed=overflowed,
        )

    def _warn_short_buffer(self, gpu: Device, tick_s: float) -> None:
        span = gpu.buffer.span_s
        if span is None or gpu.buffer.warned_short or tick_s <= span * 1.05:
            return
        gpu.buffer.warned_short = True
        self.log.warning(
            "GPU %d: its sample buffer holds %.1f s but ticks are %.0f s apart; the rest of each "
            "tick is estimated from the part it holds (a shorter GPUPULSE_INTERVAL avoids that)",
            gpu.info.index,
            span,
            tick_s,
        )

    # -- processes ---------------------------------------------------------------------

    def _processes(self, gpu: Device, now: float, tick_s: float) -> list[ProcessSample] | None:
        """The processes on a device; None when the driver will not list them."""
        if gpu.mig:
            return []  # a MIG-mode GPU's processes are listed on its MIG devices
        mem: dict[int, int | None] = {}
        listed = False
        for kind in ("compute", "graphics"):
            found = self._field(
                gpu, f"{kind}_processes", self.calls.running_processes, gpu.handle, kind, missing=[]
            )
            listed = listed or found is not None
            for p in found or []:
                used = None if p.used_bytes is None else p.used_bytes // MIB
                # A process in both lists (compute + graphics) is one process.
                mem[p.pid] = used if mem.get(p.pid) is None else max(mem[p.pid] or 0, used or 0)
        if not listed:
            return None
        tick_us = round(tick_s * 1e6)
        tick_start_us = round(now * 1e6) - tick_us
        sm = self._process_sm(gpu, tick_start_us, tick_us) if mem and not gpu.parent else {}
        # NVML gives samples only for processes that used the GPU: once any process has one,
        # a listed process without one used nothing (a notebook holding memory, idle).
        default = 0 if sm else None
        return [self._process(gpu, pid, mib, sm.get(pid, default)) for pid, mib in mem.items()]

    def _process_sm(self, gpu: Device, tick_start_us: int, tick_us: int) -> dict[int, int]:
        """pid -> mean SM utilization % over this tick."""
        fn = self.calls.process_utilization
        samples = self._field(gpu, "process_util", fn, gpu.handle, gpu.last_proc_us, missing=[])
        # The first read returns the whole buffer; only this tick's samples count (in the
        # buffer's time base once the utilization buffer has shown which one it is).
        start = tick_start_us + gpu.buffer.offset_us if gpu.buffer.base is not None else 0
        values: dict[int, list[int]] = {}
        stamps: dict[int, list[int]] = {}
        for s in samples or []:
            gpu.last_proc_us = max(gpu.last_proc_us, s.timeStamp)
            if s.timeStamp > start and s.smUtil <= 100:  # above: the driver's N/A marker
                values.setdefault(s.pid, []).append(s.smUtil)
                stamps.setdefault(s.pid, []).append(s.timeStamp)
        # NVML leaves out the sample windows in which a process used nothing, so a mean over
        # its samples alone would read an on-off process as always busy: divide by the
        # windows the tick holds. Their period is the median step of each process's own
        # samples (another process's may be stamped a moment apart), 1 s until measured.
        steps = [b - a for t in stamps.values() for a, b in itertools.pairwise(sorted(t)) if b > a]
        if steps:
            period = statistics.median(steps)
            gpu.proc_period_us = min(MAX_PROC_PERIOD_US, max(MIN_PROC_PERIOD_US, period))
        slots = tick_us / (gpu.proc_period_us or MAX_PROC_PERIOD_US)
        return {pid: round(sum(v) / max(len(v), slots)) for pid, v in values.items()}

    def _process(self, gpu: Device, pid: int, mem: int | None, sm: int | None) -> ProcessSample:
        who = self.procinfo.lookup(pid)
        if who is GONE:
            self._warn_once(
                ("pid-not-visible",),
                "PID %d used a GPU but is not in %s (it exited, or the container lacks pid: host);"
                " such processes are stored without user and command",
                pid,
                self.procinfo.proc_root,
            )
        return ProcessSample(
            gpu.info.uuid,
            pid,
            who.started,
            who.user,
            who.command,
            mem,
            sm,
            who.workload,
            who.workload_id,
        )
