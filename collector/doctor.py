"""`collector doctor`: what this machine's driver lets GPU Pulse read, and what to fix.

It is what to run when a graph looks wrong. It starts the NVML backend exactly as the
collector does, samples twice a second apart, and prints one line per item: `ok`, `note`
(fine, but worth knowing), `warn` (readings will be missing or wrong) or `fail` (nothing
can be recorded), each with what to do about it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from sampling.backend import BackendUnavailable, Reading
from sampling.nvml import NvmlBackend, binding_version
from sampling.nvml.device import Device
from store.samples import ProcessSample

BINDING_FLOOR = (12, 535, 108)  # 12.535.77 has a wrong process struct (PIDs of 2147483648)
MODERN_DRIVER = (510, 39)  # memory v2 and the _v3 process lists arrived with R510
READINGS = {
    "util": "utilization",
    "memory": "memory",
    "samples": "utilization sample buffer",
    "temp": "temperature",
    "fan": "fan",
    "power": "power",
    "energy": "energy counter",
    "sm_clock": "SM clock",
    "mem_clock": "memory clock",
    "pstate": "performance state",
    "clocks_event": "clocks-event (throttle) reasons",
    "encoder": "video encoder",
    "decoder": "video decoder",
    "compute_processes": "compute processes",
    "graphics_processes": "graphics processes",
    "process_util": "per-process utilization",
    "power_limit": "power limit",
    "ecc": "ECC error counts",
    "retired_pages": "retired pages",
    "remapped_rows": "remapped rows",
    "pcie": "PCIe throughput",
    "gpm": "GPM activity",
}
EXPECTED_MISSING = {
    "fan": "normal for passively cooled datacenter GPUs",
    "ecc": "normal for GPUs without ECC memory",
    "retired_pages": "normal for GPUs without ECC memory",
    "remapped_rows": "only A100 and later remap rows",
    "encoder": "normal for GPUs without video engines",
    "decoder": "normal for GPUs without video engines",
    "graphics_processes": "normal on compute-only GPUs",
}
NO_DRIVER_FIX = (
    "on a host: install the NVIDIA driver (nvidia-smi must work); in Docker: install the NVIDIA "
    "Container Toolkit and keep the collector's GPU device reservation from compose.yaml; on a "
    "machine without GPUs use the demo (cp .env.demo .env)"
)
DEMO = "on a machine without GPUs, use the demo (cp .env.demo .env)"
# What Docker itself says when the collector's GPU reservation cannot be met, and the fix.
NO_TOOLKIT = (
    "Docker's 'could not select device driver \"nvidia\" with capabilities: [[gpu]]' means "
    "the NVIDIA Container Toolkit is missing or not registered: install it, then run "
    "sudo nvidia-ctk runtime configure --runtime=docker && sudo systemctl restart docker, "
    "and check with docker run --rm --gpus all ubuntu nvidia-smi (README: Troubleshooting)"
)


@dataclass(frozen=True)
class Check:
    """One line of the report."""

    level: str  # ok, note, warn, fail
    item: str
    detail: str


def version_tuple(text: str) -> tuple[int, ...]:
    """'535.183.01' -> (535, 183, 1); non-numeric parts end the tuple."""
    parts = []
    for part in text.split("."):
        if not part.isdigit():
            break
        parts.append(int(part))
    return tuple(parts)


def doctor(
    backend_factory: Callable[[], NvmlBackend],
    *,
    interval: float,
    out: Callable[[str], None] = print,
    wait: Callable[[float], object] = time.sleep,
    wall: Callable[[], float] = time.time,
) -> int:
    """Print the report; exit code 1 when something keeps GPU Pulse from recording."""
    checks = [binding_check()]
    try:
        backend = backend_factory()
    except BackendUnavailable as exc:
        checks.append(Check("fail", "NVML", f"{exc}; {DEMO}"))
        checks.append(Check("note", "Docker", NO_TOOLKIT))
        return report(checks, out)
    try:
        first = backend.sample(wall(), interval)
        wait(1.0)
        second = backend.sample(wall(), 1.0)
        checks += host_checks(backend, first)
        for device in backend.devices():
            checks += device_checks(device, second, interval)
    finally:
        backend.close()
    return report(checks, out)


def binding_check() -> Check:
    """The nvidia-ml-py release against the floor GPU Pulse needs."""
    version = binding_version()
    if version_tuple(version) >= BINDING_FLOOR:
        return Check("ok", "nvidia-ml-py", version)
    floor = ".".join(map(str, BINDING_FLOOR))
    return Check("fail", "nvidia-ml-py", f"{version}: install nvidia-ml-py>={floor}")


def host_checks(backend: NvmlBackend, reading: Reading) -> list[Check]:
    """Driver versions, and how many GPUs NVML lists."""
    facts = dict(backend.host_facts)
    driver = facts.get("driver_version", "unknown")
    versions = ", ".join(
        f"{k.replace('_', ' ')} {v}" for k, v in backend.host_facts if k != "nvml_binding_version"
    )
    checks = [Check("ok", "driver", versions)]
    if version_tuple(driver) and version_tuple(driver)[:2] < MODERN_DRIVER:
        checks.append(
            Check(
                "note",
                "driver",
                (
                    f"{driver} is older than R510: processes are listed through the older NVML "
                    "functions and memory used includes the driver's reserved memory"
                ),
            )
        )
    gpus = len(backend.gpus)
    if not gpus:
        checks.append(Check("fail", "GPUs", f"NVML lists no GPU; {NO_DRIVER_FIX}"))
    else:
        migs = sum(len(g.children) for g in backend.gpus.values())
        checks.append(Check("ok", "GPUs", f"{gpus} GPU(s), {migs} MIG device(s)"))
    return checks


def device_checks(device: Device, reading: Reading, interval: float) -> list[Check]:
    """What one GPU or MIG device answers, and what to do about what it does not."""
    info = device.info
    item = f"GPU {info.index}"
    kind = f"MIG {info.mig_profile} of {info.parent_uuid}" if info.parent_uuid else info.name
    checks = [Check("ok", item, f"{kind} {info.uuid}" + (" (MIG mode on)" if device.mig else ""))]
    lost = device.lost_reason or (device.parent.lost_reason if device.parent else None)
    if lost is not None:
        return [*checks, Check("fail", item, f"lost: {lost}; check `dmesg` for Xid")]
    answered = [name for key, name in READINGS.items() if key in device.answered]
    checks.append(Check("ok", item, "reads " + (", ".join(answered) or "nothing")))
    if device.unsupported:
        checks.append(Check("note", item, unsupported_line(device)))
    for key, error in sorted(device.failed.items()):
        detail = f"{READINGS.get(key, key)}: {error} (stored as NULL; the rest is kept)"
        checks.append(Check("warn", item, detail))
    checks += activity_checks(device, reading, interval)
    checks += process_checks(item, [p for p in reading.processes if p.gpu_uuid == info.uuid])
    return checks


def unsupported_line(device: Device) -> str:
    """The readings this device does not support, each with why where that is known."""
    mig_device = device.parent is not None
    parts = []
    for key in READINGS:
        if key not in device.unsupported:
            continue
        why = "" if mig_device else EXPECTED_MISSING.get(key, "")
        if key == "util" and device.mig:
            why = "MIG mode: read per MIG device"
        parts.append(f"{READINGS[key]} ({why})" if why else READINGS[key])
    where = "on MIG devices" if mig_device else "here"
    return f"not supported {where} (stored as NULL): " + ", ".join(parts)


def activity_checks(device: Device, reading: Reading, interval: float) -> list[Check]:
    """How active time is measured on this device, and whether the buffer covers a tick."""
    item = f"GPU {device.info.index}"
    state = next((s for s in reading.states if s.gpu.uuid == device.info.uuid), None)
    if state is None:
        return []
    if state.activity is None:
        return [Check("note" if device.mig else "warn", item, f"activity: {state.note}")]
    checks = [Check("ok", item, f"activity from {state.activity}")]
    if state.activity == "buffer":
        shape = device.buffer
        span = shape.span_s
        level = "ok" if span is None or span >= interval else "warn"
        fit = "" if level == "ok" else f"; it holds less than a {interval:g} s tick"
        checks.append(Check(level, item, shape.describe() + fit))
    elif state.note:
        checks.append(Check("note", item, state.note))
    return checks


def process_checks(item: str, processes: list[ProcessSample]) -> list[Check]:
    """Whether the processes NVML lists can be tied to users."""
    if not processes:
        return [Check("ok", item, "no processes running")]
    hidden = [p.pid for p in processes if p.user is None]
    if not hidden:
        return [Check("ok", item, f"{len(processes)} process(es), each with its user")]
    return [
        Check(
            "warn",
            item,
            (
                f"PIDs {', '.join(map(str, hidden))} are not in /proc: run the collector with the "
                "host's PID namespace (pid: host in compose.yaml) and mount the host's /etc/passwd"
            ),
        )
    ]


def report(checks: list[Check], out: Callable[[str], None]) -> int:
    """Print the checks and a verdict; 1 if any failed."""
    for check in checks:
        out(f"{check.level:<5} {check.item}: {check.detail}")
    counts = {level: sum(c.level == level for c in checks) for level in ("warn", "fail")}
    verdict = "fail" if counts["fail"] else "warn" if counts["warn"] else "ok"
    out(f"doctor: {verdict} ({counts['fail']} failure(s), {counts['warn']} warning(s))")
    return 1 if counts["fail"] else 0
