"""NVML stand-in: a C libnvidia-ml.so.1 that the REAL pynvml loads, driven by a scenario file.

`build()` compiles standin.c against NVIDIA's vendored nvml.h for one driver variant; the
dataclasses below write the scenario file the library reads (see standin.c for semantics).
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
import tempfile
import uuid as uuidlib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import pytest

VARIANTS = ("418", "470", "535", "999")
SONAME = "libnvidia-ml.so.1"
SCENARIO_ENV = "NVML_STANDIN_SCENARIO"
HERE = Path(__file__).resolve().parent
SOURCE = HERE / "standin.c"
HEADER = HERE / "nvml.h"
CFLAGS = ("-shared", "-fPIC", "-O2", "-Wall", "-Werror", "-DNVML_NO_UNVERSIONED_FUNC_DEFS")
LIBS = ("-lm", "-pthread")
# per user, so two accounts on one machine never share (or fight over) compiled libraries
CACHE = Path(tempfile.gettempdir()) / f"gpupulse-standin-{os.getuid()}"
HEX_KEYS = frozenset({"pci_device_id", "pci_subsystem_id", "clocks_event_reasons"})
NO_COMPILER = (
    "no C compiler to build the NVML stand-in: install Debian's gcc package (apt-get install gcc)"
)

# ---------------------------------------------------------------------------------------
# Building
# ---------------------------------------------------------------------------------------


def compiler() -> str | None:
    """Path of the C compiler: $CC, else cc, gcc or clang; None when there is none."""
    for name in (os.environ.get("CC"), "cc", "gcc", "clang"):
        path = shutil.which(name) if name else None
        if path:
            return path
    return None


def _digest(cc: str) -> str:
    """Hash of everything that decides the library's bytes."""
    h = hashlib.sha256()
    for path in (SOURCE, HEADER):
        h.update(path.read_bytes())
    h.update("\0".join((cc, *CFLAGS, *LIBS)).encode())
    return h.hexdigest()[:16]


def compile_command(cc: str, variant: str, out: Path) -> list[str]:
    """The exact compiler command line for one driver variant."""
    return [
        cc,
        *CFLAGS,
        f"-DSTANDIN_DRIVER={variant}",
        f"-Wl,-soname,{SONAME}",
        f"-I{HERE}",
        "-o",
        str(out),
        str(SOURCE),
        *LIBS,
    ]


def build(variant: str = "535") -> Path:
    """Directory holding libnvidia-ml.so.1 for that driver variant (compiled once per hash)."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown stand-in variant {variant!r}; pick one of {VARIANTS}")
    cc = compiler()
    if cc is None:
        pytest.skip(NO_COMPILER)
    directory = CACHE / f"{_digest(cc)}-{variant}"
    if (directory / SONAME).exists():
        return directory
    directory.mkdir(parents=True, exist_ok=True)
    # a private name, then an atomic rename: parallel pytest workers never see half a file
    tmp = directory / f".{SONAME}.{os.getpid()}.{uuidlib.uuid4().hex}"
    done = subprocess.run(compile_command(cc, variant, tmp), capture_output=True, text=True)
    if done.returncode != 0:
        tmp.unlink(missing_ok=True)
        raise RuntimeError(f"building the NVML stand-in ({variant}) failed:\n{done.stderr}")
    os.replace(tmp, directory / SONAME)
    return directory


# ---------------------------------------------------------------------------------------
# Scenario model (field names are the scenario file's keys)
# ---------------------------------------------------------------------------------------


@dataclass
class Process:
    """A process holding GPU memory; `sm` drives its per-process utilization samples."""

    pid: int
    memory_mib: int | None = 1024  # None: usedGpuMemory = NVML_VALUE_NOT_AVAILABLE
    kind: str = "compute"  # compute | graphics | both
    sm: str = "follow"  # follow[:factor] | idle | garbage | "0".."100"


@dataclass
class Mig:
    """A MIG device (compute instance) of a GPU in MIG mode."""

    uuid: str
    name: str | bytes
    gi: int
    ci: int = 0
    memory_total_mib: int = 9728
    memory_used_mib: int = 0
    busy_s: float = 0
    idle_s: float = 0
    busy_util: int = 100
    idle_util: int = 0
    processes: list[Process] = field(default_factory=list)


@dataclass
class Gpu:
    """A physical GPU: every [gpu] key of the scenario file, with the file's defaults."""

    uuid: str
    name: str | bytes = "NVIDIA A100-SXM4-80GB"  # bytes: written byte for byte (bad UTF-8)
    bus_id: str | None = None  # None: 00000000:17:00.0, :18:, ... by index
    pci_device_id: int = 0x20B210DE
    pci_subsystem_id: int = 0x147E10DE
    memory_total_mib: int = 81920
    memory_reserved_mib: int = 0
    memory_used_mib: int = 0
    busy_s: float = 0
    idle_s: float = 0
    busy_util: int = 100
    idle_util: int = 0
    mem_util: int = 0
    temp: int = 40
    fan: int = 30
    power_busy_mw: int = 250000
    power_idle_mw: int = 60000
    energy_base_mj: int = 1000000
    sm_mhz: int = 1410
    mem_mhz: int = 1593
    pstate: int = 0
    sample_period_us: int = 166667
    buffer_depth: int = 120
    quiet_when_idle: bool = False
    timestamp_base: str = "wall"  # wall | monotonic
    util_window_us: int = 1000000
    lost_after_s: float = 0
    mig: bool = False
    gpm: bool = False
    unsupported: list[str] = field(default_factory=list)
    fail: dict[str, int] = field(default_factory=dict)
    power_limit_mw: int = 300000
    clocks_event_reasons: int = 0
    encoder_util: int = 0
    decoder_util: int = 0
    pcie_tx_kbs: int = 0
    pcie_rx_kbs: int = 0
    ecc_uncorrected_volatile: int = 0
    ecc_uncorrected_aggregate: int = 0
    retired_pages: int = 0
    remapped_rows_uncorrectable: int = 0
    remapped_rows_correctable: int = 0
    xid: int = 0
    xid_after_s: float = 0
    architecture: int = 7
    cuda_cc: str = "8.0"
    migs: list[Mig] = field(default_factory=list)
    processes: list[Process] = field(default_factory=list)


@dataclass
class Scenario:
    """A whole machine: the [driver] keys and its GPUs."""

    gpus: list[Gpu]
    version: str | None = None  # None: the variant's default
    cuda: int | None = None
    nvml: str | None = None
    t0: float = 0
    init_error: int = 0
    mismatch_after_s: float = 0

    def text(self) -> str:
        """The scenario file's text."""
        lines = _section("driver", self, skip=("gpus",))
        for gpu in self.gpus:
            lines += _section("gpu", gpu) + _processes(gpu.processes)
            for mig in gpu.migs:
                lines += _section("mig", mig) + _processes(mig.processes)
        return "\n".join(lines) + "\n"

    def write(self, path: str | os.PathLike[str]) -> Path:
        """Write atomically (a collector may be reading the old file at this very moment)."""
        target = Path(path)
        tmp = target.with_name(f".{target.name}.{uuidlib.uuid4().hex}")
        tmp.write_text(self.text(), encoding="ascii")
        os.replace(tmp, target)
        return target


def _escape(raw: bytes) -> str:
    """Scenario-file escapes: printable ASCII as is, every other byte (and # and \\) as \\xNN."""
    keep = range(0x20, 0x7F)
    return "".join(chr(b) if b in keep and b not in b"#\\" else f"\\x{b:02x}" for b in raw)


def _value(value: Any) -> str:
    """One value as the C parser reads it."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, list):
        return ", ".join(value)
    if isinstance(value, dict):
        return ", ".join(f"{sym}:{code}" for sym, code in value.items())
    if isinstance(value, bytes):
        return _escape(value)
    return _escape(str(value).encode())


def _section(name: str, obj: Any, skip: tuple[str, ...] = ("migs", "processes")) -> list[str]:
    """A [name] header and one line per set field."""
    lines = [f"[{name}]"]
    for f in fields(obj):
        value = getattr(obj, f.name)
        if f.name in skip or value is None or value == [] or value == {}:
            continue
        text = f"{value:#x}" if f.name in HEX_KEYS else _value(value)
        lines.append(f"{f.name} = {text}")
    return lines


def _processes(processes: list[Process]) -> list[str]:
    """[process] sections; memory None is written as `na`."""
    lines: list[str] = []
    for p in processes:
        memory = "na" if p.memory_mib is None else str(p.memory_mib)
        lines += ["[process]", f"pid = {p.pid}", f"memory_mib = {memory}"]
        lines += [f"kind = {p.kind}", f"sm = {p.sm}"]
    return lines


# ---------------------------------------------------------------------------------------
# Using the library
# ---------------------------------------------------------------------------------------


def env(
    scenario_path: str | os.PathLike[str],
    variant: str = "535",
    base: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """os.environ (or base) plus LD_LIBRARY_PATH and NVML_STANDIN_SCENARIO for a subprocess."""
    result = dict(os.environ if base is None else base)
    previous = result.get("LD_LIBRARY_PATH")
    library = str(build(variant))
    result["LD_LIBRARY_PATH"] = library + (os.pathsep + previous if previous else "")
    result[SCENARIO_ENV] = str(scenario_path)
    return result


def load_in_process(scenario_path: str | os.PathLike[str]) -> None:
    """Point this process's real pynvml at the 535 stand-in.

    Sets NVML_STANDIN_SCENARIO and dlopens the library with RTLD_GLOBAL; glibc then answers
    pynvml's CDLL("libnvidia-ml.so.1") with the already loaded object whose DT_SONAME matches
    (verified by the test suite).  When another libnvidia-ml.so.1 (a real driver's) was loaded
    into the process first, the soname would find that one instead: then pynvml.nvmlLib is
    set to the stand-in and pynvml's function-pointer cache is cleared.  Only variant 535 is
    for in-process use; run other variants in subprocesses with env().
    """
    import pynvml

    os.environ[SCENARIO_ENV] = str(scenario_path)
    lib = ctypes.CDLL(str(build("535") / SONAME), mode=ctypes.RTLD_GLOBAL)
    by_soname = ctypes.CDLL(SONAME)
    loaded = pynvml.nvmlLib
    if by_soname._handle != lib._handle or (loaded is not None and loaded._handle != lib._handle):
        pynvml.nvmlLib = lib
        pynvml._nvmlGetFunctionPointer_cache.clear()


# ---------------------------------------------------------------------------------------
# Ready-made scenarios, named for what they model
# ---------------------------------------------------------------------------------------


def gpu_uuid(n: int) -> str:
    """A well-formed, recognisable GPU UUID."""
    return f"GPU-5a1e0000-0000-4000-8000-{n:012x}"


def mig_uuid(n: int) -> str:
    """A well-formed MIG device UUID (R470+ style)."""
    return f"MIG-3c9b0000-0000-4000-8000-{n:012x}"


def datacenter_gpu() -> Scenario:
    """One A100-SXM4-80GB: passively cooled, so the fan speed is NOT_SUPPORTED."""
    gpu = Gpu(
        uuid=gpu_uuid(0),
        memory_used_mib=20480,
        unsupported=["nvmlDeviceGetFanSpeed"],
        processes=[Process(pid=4242, memory_mib=20480)],
    )
    return Scenario(gpus=[gpu])


def consumer_gpu_fan_unknown() -> Scenario:
    """An RTX 4090 whose fan read fails with UNKNOWN (999); no ECC, no MIG on GeForce."""
    gpu = Gpu(
        uuid=gpu_uuid(0),
        name="NVIDIA GeForce RTX 4090",
        pci_device_id=0x268410DE,
        pci_subsystem_id=0x889C1043,
        memory_total_mib=24564,
        memory_used_mib=1536,
        power_busy_mw=450000,
        power_idle_mw=25000,
        power_limit_mw=450000,
        sm_mhz=2520,
        mem_mhz=10501,
        architecture=8,
        cuda_cc="8.9",
        fail={"nvmlDeviceGetFanSpeed": 999},
        unsupported=[
            "nvmlDeviceGetMigMode",
            "nvmlDeviceGetTotalEccErrors",
            "nvmlDeviceGetRemappedRows",
        ],
        processes=[
            Process(pid=1400, memory_mib=512, kind="graphics", sm="5"),
            Process(pid=2100, memory_mib=1024, kind="both"),
        ],
    )
    return Scenario(gpus=[gpu])


def mig_two_devices() -> Scenario:
    """An A100 80GB in MIG mode: 3g.40gb with one process, and an idle 1g.10gb; no GPM."""
    migs = [
        Mig(
            uuid=mig_uuid(1),
            name="NVIDIA A100-SXM4-80GB MIG 3g.40gb",
            gi=1,
            memory_total_mib=40192,
            memory_used_mib=6144,
            processes=[Process(pid=3100, memory_mib=6144)],
        ),
        Mig(
            uuid=mig_uuid(2),
            name="NVIDIA A100-SXM4-80GB MIG 1g.10gb",
            gi=9,
            busy_util=0,
        ),
    ]
    return Scenario(gpus=[Gpu(uuid=gpu_uuid(0), mig=True, migs=migs)])


def hopper_mig() -> Scenario:
    """An H100 80GB in MIG mode with GPM: each MIG device has its own duty cycle."""
    name = "NVIDIA H100 80GB HBM3"
    migs = [
        Mig(
            uuid=mig_uuid(11),
            name=f"{name} MIG 3g.40gb",
            gi=1,
            memory_total_mib=40448,
            memory_used_mib=4096,
            busy_s=0.05,
            idle_s=0.05,
            busy_util=80,
            processes=[Process(pid=5100, memory_mib=4096)],
        ),
        Mig(uuid=mig_uuid(12), name=f"{name} MIG 1g.10gb", gi=9, memory_total_mib=9984),
    ]
    gpu = Gpu(
        uuid=gpu_uuid(0),
        name=name,
        pci_device_id=0x233010DE,
        pci_subsystem_id=0x16C110DE,
        memory_total_mib=81559,
        power_busy_mw=700000,
        power_idle_mw=70000,
        power_limit_mw=700000,
        sm_mhz=1980,
        mem_mhz=2619,
        architecture=9,
        cuda_cc="9.0",
        mig=True,
        gpm=True,
        busy_s=0.05,
        idle_s=0.05,
        busy_util=60,
        migs=migs,
    )
    return Scenario(gpus=[gpu])


def reserved_memory() -> Scenario:
    """An A10G (24 GiB) with 462 MiB reserved: memory v1 `used` includes it, v2 does not."""
    gpu = Gpu(
        uuid=gpu_uuid(0),
        name="NVIDIA A10G",
        pci_device_id=0x223710DE,
        memory_total_mib=24576,
        memory_reserved_mib=462,
        memory_used_mib=1024,
        cuda_cc="8.6",
        processes=[Process(pid=7000, memory_mib=1024)],
    )
    return Scenario(gpus=[gpu])


def idle_beside_busy() -> Scenario:
    """A busy process and one only holding 30 GiB: NVML gives the idle one no samples."""
    gpu = Gpu(
        uuid=gpu_uuid(0),
        busy_util=90,
        memory_used_mib=8192 + 30720,
        processes=[
            Process(pid=1001, memory_mib=8192, sm="follow"),
            Process(pid=1002, memory_mib=30720, sm="idle"),
        ],
    )
    return Scenario(gpus=[gpu])


def garbage_sm() -> Scenario:
    """A process whose per-process smUtil reads 0xFFFFFFFF, as some drivers report."""
    gpu = Gpu(uuid=gpu_uuid(0), processes=[Process(pid=2222, sm="garbage")])
    return Scenario(gpus=[gpu])


def quiet_buffer() -> Scenario:
    """A sample buffer that records nothing while the GPU is idle (busy 1 s of every 5 s)."""
    gpu = Gpu(uuid=gpu_uuid(0), busy_s=1, idle_s=4, quiet_when_idle=True)
    return Scenario(gpus=[gpu])


def shallow_buffer() -> Scenario:
    """20 samples at 166667 us: 3.3 s of history, shorter than a 5 s collector tick."""
    return Scenario(gpus=[Gpu(uuid=gpu_uuid(0), buffer_depth=20)])


def duty_cycle(busy_s: float = 2, idle_s: float = 2) -> Scenario:
    """One GPU alternating 100 % busy and idle, with one process following it."""
    gpu = Gpu(
        uuid=gpu_uuid(0),
        busy_s=busy_s,
        idle_s=idle_s,
        memory_used_mib=4096,
        processes=[Process(pid=3333, memory_mib=4096)],
    )
    return Scenario(gpus=[gpu])


def lost_mid_run(after_s: float) -> Scenario:
    """Two GPUs; the second falls off the bus `after_s` after the first init."""
    gpus = [
        Gpu(uuid=gpu_uuid(0), processes=[Process(pid=4000)], memory_used_mib=1024),
        Gpu(uuid=gpu_uuid(1), lost_after_s=after_s),
    ]
    return Scenario(gpus=gpus)


def mismatch(after_s: float) -> Scenario:
    """A driver upgraded under a running process: every call answers 18 after `after_s`."""
    return Scenario(gpus=[Gpu(uuid=gpu_uuid(0))], mismatch_after_s=after_s)


def eight_gpus_twenty_processes() -> Scenario:
    """A busy 8-GPU node with 20 processes, for the collector benchmark."""
    gpus = []
    pid = 10000
    for i in range(8):
        count = 3 if i < 4 else 2  # 4 x 3 + 4 x 2 = 20
        procs = [Process(pid=pid + j, memory_mib=2048 * (j + 1)) for j in range(count)]
        pid += count
        used = sum(p.memory_mib or 0 for p in procs)
        duty = {"busy_s": 1.0 + i % 3, "idle_s": float(i % 2)}
        gpus.append(Gpu(uuid=gpu_uuid(i), memory_used_mib=used, processes=procs, **duty))
    return Scenario(gpus=gpus)
