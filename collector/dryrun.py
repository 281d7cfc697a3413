"""`collector --dry-run`: sample a few ticks and print what would be stored."""

from __future__ import annotations

import time
from collections.abc import Callable

from sampling.backend import Backend, Reading
from store.samples import GpuSample, GpuState, ProcessSample

DRY_RUN_SPACING_S = 1.0


def dry_run(
    backend: Backend,
    ticks: int,
    db: str,
    *,
    wait: Callable[[float], bool],
    wall: Callable[[], float] = time.time,
    monotonic: Callable[[], float] = time.monotonic,
    out: Callable[[str], None] = print,
) -> int:
    """Sample `ticks` times one second apart, print each tick; write nothing. Exit code 0."""
    try:
        last = monotonic()
        for n in range(1, ticks + 1):
            now = monotonic()
            tick_s = DRY_RUN_SPACING_S if n == 1 else now - last
            last = now
            reading = backend.sample(wall(), tick_s)
            out(
                f"tick {n}/{ticks} at {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(wall()))}"
                f" (covers {tick_s:.1f} s)"
            )
            for line in describe(reading):
                out(line)
            if n < ticks and wait(DRY_RUN_SPACING_S):
                break
    finally:
        backend.close()
    out(f"dry run with the {backend.name} backend: nothing was written to {db}")
    return 0


def describe(reading: Reading) -> list[str]:
    """Readable lines for one tick: host facts, each GPU, its state and processes, lost GPUs."""
    lines = [f"  {key.replace('_', ' ')}: {value}" for key, value in reading.meta]
    states = {st.gpu.uuid: st for st in reading.states}
    for s in reading.samples:
        lines.append(gpu_line(s))
        if s.gpu.uuid in states:
            lines.append(state_line(states[s.gpu.uuid]))
        lines.extend(process_line(p) for p in reading.processes if p.gpu_uuid == s.gpu.uuid)
    lines.extend(f"  GPU {g.index} {g.uuid}: LOST ({why})" for g, why in reading.lost)
    if not reading.samples and not reading.lost:
        lines.append("  no GPUs reported")
    return lines


def _v(value: object, unit: str = "") -> str:
    return "n/a" if value is None else f"{value}{unit}"


def gpu_line(s: GpuSample) -> str:
    """One GPU's sample; n/a marks what the driver does not report (stored as NULL)."""
    g = s.gpu
    mig = "" if g.parent_uuid is None else f" (MIG {_v(g.mig_profile)} on {g.parent_uuid})"
    return (
        f"  GPU {g.index} {g.name} {g.uuid}{mig} bus {_v(g.pci_bus_id)}: util {_v(s.util, '%')}"
        f" mem-util {_v(s.mem_util, '%')} mem {_v(s.mem_used_mib)}/{_v(g.memory_total_mib)} MiB"
        f" temp {_v(s.temp_c, 'C')} fan {_v(s.fan_pct, '%')} power {_v(s.power_w, 'W')}"
        f" energy {_v(s.energy_j, 'J')} sm {_v(s.sm_mhz, 'MHz')} mem-clock {_v(s.mem_mhz, 'MHz')}"
        f" pstate {'n/a' if s.pstate is None else f'P{s.pstate}'} active {_v(s.active_s, 's')}"
        f" clocks-event {'n/a' if s.clocks_event is None else f'0x{s.clocks_event:x}'}"
        f" enc {_v(s.enc_util, '%')} dec {_v(s.dec_util, '%')}"
    )


def state_line(st: GpuState) -> str:
    """How a GPU's activity is measured, and its slow-changing readings."""
    how = st.activity or f"not measured ({st.note})"
    note = f" ({st.note})" if st.activity and st.note else ""
    return (
        f"    activity from {how}{note}; reserved {_v(st.mem_reserved_mib, ' MiB')}"
        f" power-limit {_v(st.power_limit_w, 'W')} ecc-uncorrected {_v(st.ecc_uncorrected)}"
        f" retired-pages {_v(st.retired_pages)} remapped-rows {_v(st.remapped_rows)}"
        f" xid {_v(st.xid_count)} pcie tx/rx {_v(st.pcie_tx_kbs)}/{_v(st.pcie_rx_kbs)} KB/s"
    )


def process_line(p: ProcessSample) -> str:
    """One process on a GPU."""
    return (
        f"    pid {p.pid} user {_v(p.user)} workload {_v(p.workload)} mem {_v(p.mem_mib, ' MiB')}"
        f" sm {_v(p.sm_util, '%')} started {p.started} command {_v(p.command)}"
    )
