"""The REAL pynvml over the C stand-in returns exactly what each scenario says.

This is the check that the stand-in's struct layouts and calling conventions match the
binding's.  Driver 535 runs in this process; 418, 470 and 999 run in subprocesses, because
pynvml caches function pointers per process.  Timing is never asserted exactly: expected
values are bracketed by clock readings taken around each call.
"""

from __future__ import annotations

import ctypes
import itertools
import json
import math
import os
import subprocess
import sys
import textwrap
import time
from dataclasses import replace
from pathlib import Path

import pynvml
import pytest

from tests.support import nvml as standin
from tests.support.nvml import Gpu, Mig, Process, Scenario

MIB = 1024 * 1024
NO_INSTANCE = 0xFFFFFFFF
GPU_UTIL = pynvml.NVML_GPU_UTILIZATION_SAMPLES
MISSING = "NVMLError_FunctionNotFound"

# ---------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------


def busy_upto(gpu: Gpu | Mig, x: float) -> float:
    """Busy seconds of the duty cycle in (0, x]: the stand-in's model, in Python."""
    period = gpu.busy_s + gpu.idle_s
    if period <= 0:
        return x if gpu.busy_util > 0 else 0.0
    k = math.floor(x / period)
    return k * gpu.busy_s + min(x - k * period, gpu.busy_s)


def mean_util(gpu: Gpu | Mig, x0: float, x1: float) -> float:
    """Unrounded mean utilization over (x0, x1]."""
    f = min(1.0, max(0.0, (busy_upto(gpu, x1) - busy_upto(gpu, x0)) / (x1 - x0)))
    return f * gpu.busy_util + (1 - f) * gpu.idle_util


def address(handle: object) -> int | None:
    """The C pointer a ctypes handle holds, for comparing handles."""
    return ctypes.cast(handle, ctypes.c_void_p).value


def gpu_samples(n, handle, last: int = 0) -> list:
    """The GPU-utilization samples newer than `last` (value type checked on the way)."""
    kind, samples = n.nvmlDeviceGetSamples(handle, GPU_UTIL, last)
    assert kind == n.NVML_VALUE_TYPE_UNSIGNED_INT
    return samples


def proc_util(n, handle, last: int = 0) -> list:
    """nvmlDeviceGetProcessUtilization, retried past the window-closing race it really has."""
    for _ in range(3):
        try:
            return n.nvmlDeviceGetProcessUtilization(handle, last)
        except n.NVMLError_InsufficientSize:  # a 1 s window closed between pynvml's two calls
            continue
    raise AssertionError("three InsufficientSize races in a row")


def one_gpu(**keys) -> Scenario:
    """A single-GPU scenario with these [gpu] keys."""
    return Scenario(gpus=[Gpu(uuid=standin.gpu_uuid(0), **keys)])


PROBE = """
import ctypes, json, os, time
import pynvml as n
out = {}
def probe(key, fn, *args):
    try:
        out[key] = fn(*args)
    except Exception as exc:  # record the binding's exception class, the thing under test
        out[key] = type(exc).__name__
"""


def run_probe(variant: str, scenario_path: Path, body: str) -> dict:
    """Run `body` with the real pynvml over a stand-in variant in a fresh interpreter."""
    return run_probe_with_stderr(variant, scenario_path, body)[0]


def run_probe_with_stderr(variant: str, scenario_path: Path, body: str) -> tuple[dict, str]:
    """run_probe, plus what the interpreter (and the C library) wrote to stderr."""
    code = PROBE + textwrap.dedent(body) + "\nprint(json.dumps(out))\n"
    done = subprocess.run(
        [sys.executable, "-c", code],
        env=standin.env(scenario_path, variant),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1]), done.stderr


# ---------------------------------------------------------------------------------------
# Loading, build and scenario file
# ---------------------------------------------------------------------------------------


def test_pynvml_finds_the_standin_by_soname(nvml_standin, standin_scenario):
    """glibc hands pynvml's CDLL('libnvidia-ml.so.1') the library load_in_process opened."""
    import pynvml

    standin.load_in_process(standin_scenario(standin.datacenter_gpu()))
    ours = ctypes.CDLL(str(standin.build("535") / standin.SONAME))
    assert ctypes.CDLL(standin.SONAME)._handle == ours._handle
    pynvml.nvmlInit()
    try:
        assert pynvml.nvmlLib._handle == ours._handle
    finally:
        pynvml.nvmlShutdown()


def test_load_in_process_wins_over_an_already_loaded_driver(nvml_standin, standin_scenario):
    """With another libnvidia-ml.so.1 loaded first (a real driver's), pynvml still gets 535."""
    script = textwrap.dedent(
        """
        import ctypes, sys
        import pynvml
        from tests.support import nvml as standin
        ctypes.CDLL(str(standin.build("470") / standin.SONAME))  # same soname, loaded first
        standin.load_in_process(sys.argv[1])
        pynvml.nvmlInit()
        print(pynvml.nvmlSystemGetDriverVersion())
        """
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}
    env.pop("LD_LIBRARY_PATH", None)
    path = standin_scenario(standin.datacenter_gpu())
    done = subprocess.run(
        [sys.executable, "-c", script, str(path)], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "535.183.01"


def test_every_variant_builds_and_is_cached():
    """All four variants compile with -Wall -Werror; a second build reuses the file."""
    for variant in standin.VARIANTS:
        first = standin.build(variant)
        assert (first / standin.SONAME).is_file()
        assert standin.build(variant) == first


def test_scenario_text_round_trips_escapes(tmp_path):
    """Names with '#', backslashes and raw bytes survive the file format."""
    gpu = Gpu(uuid="GPU-x", name=b"A#B\\C\xff", unsupported=["nvmlDeviceGetFanSpeed"])
    text = Scenario(gpus=[gpu]).text()
    assert "name = A\\x23B\\x5cC\\xff" in text
    assert "unsupported = nvmlDeviceGetFanSpeed" in text
    assert "pci_device_id = 0x20b210de" in text


# ---------------------------------------------------------------------------------------
# Identity, memory and scalar readings (535, in process)
# ---------------------------------------------------------------------------------------


def test_system_and_identity(standin_pynvml):
    """Versions, count, UUID, name and PCI info in the binding's types."""
    scenario = standin.datacenter_gpu()
    scenario.gpus.append(Gpu(uuid=standin.gpu_uuid(1), bus_id="00000002:b1:00.0"))
    n = standin_pynvml(scenario)
    assert n.nvmlSystemGetDriverVersion() == "535.183.01"
    assert n.nvmlSystemGetNVMLVersion() == "12.535.183.01"
    assert n.nvmlSystemGetCudaDriverVersion() == 12020
    assert n.nvmlSystemGetCudaDriverVersion_v2() == 12020
    assert n.nvmlDeviceGetCount() == 2
    h = n.nvmlDeviceGetHandleByIndex(1)
    assert n.nvmlDeviceGetUUID(h) == standin.gpu_uuid(1)
    assert n.nvmlDeviceGetName(h) == "NVIDIA A100-SXM4-80GB"
    pci = n.nvmlDeviceGetPciInfo(h)
    assert (pci.busId, pci.busIdLegacy) == ("00000002:B1:00.0", "0002:B1:00.0")
    assert (pci.domain, pci.bus, pci.device, pci.pciDeviceId) == (2, 0xB1, 0, 0x20B210DE)
    assert n.nvmlDeviceGetPciInfo(n.nvmlDeviceGetHandleByIndex(0)).busId == "00000000:17:00.0"
    assert n.nvmlDeviceGetArchitecture(h) == n.NVML_DEVICE_ARCH_AMPERE
    assert n.nvmlDeviceGetCudaComputeCapability(h) == (8, 0)
    assert address(n.nvmlDeviceGetHandleByUUID(standin.gpu_uuid(1))) == address(h)
    with pytest.raises(n.NVMLError_NotFound):
        n.nvmlDeviceGetHandleByUUID("GPU-nope")
    with pytest.raises(n.NVMLError_InvalidArgument):
        n.nvmlDeviceGetHandleByIndex(2)


def test_scenario_driver_overrides(standin_pynvml):
    """[driver] version, cuda and nvml replace the variant's defaults."""
    scenario = replace(standin.datacenter_gpu(), version="535.54.03", cuda=12030)
    n = standin_pynvml(scenario)
    assert n.nvmlSystemGetDriverVersion() == "535.54.03"
    assert n.nvmlSystemGetNVMLVersion() == "12.535.54.03"
    assert n.nvmlSystemGetCudaDriverVersion() == 12030


def test_memory_v1_includes_reserved_v2_excludes(standin_pynvml):
    """v1 used = reserved + allocated; v2 reports them apart; both free fields agree."""
    n = standin_pynvml(standin.reserved_memory())
    h = n.nvmlDeviceGetHandleByIndex(0)
    v1 = n.nvmlDeviceGetMemoryInfo(h)
    assert (v1.total, v1.used, v1.free) == (24576 * MIB, 1486 * MIB, (24576 - 1486) * MIB)
    v2 = n.nvmlDeviceGetMemoryInfo(h, version=n.nvmlMemory_v2)
    assert (v2.total, v2.reserved, v2.used) == (24576 * MIB, 462 * MIB, 1024 * MIB)
    assert v2.free == v1.free
    with pytest.raises(n.NVMLError_ArgumentVersionMismatch):
        n.nvmlDeviceGetMemoryInfo(h, version=1)


def test_static_readings(standin_pynvml):
    """Every constant [gpu] key reaches the binding unchanged."""
    keys = {"temp": 71, "fan": 44, "sm_mhz": 1755, "mem_mhz": 1215, "pstate": 2}
    keys |= {"power_limit_mw": 275000, "clocks_event_reasons": 0x44}
    keys |= {"encoder_util": 12, "decoder_util": 34, "pcie_tx_kbs": 5000, "pcie_rx_kbs": 7000}
    keys |= {"ecc_uncorrected_volatile": 3, "ecc_uncorrected_aggregate": 9}
    keys |= {"remapped_rows_correctable": 2, "remapped_rows_uncorrectable": 1}
    n = standin_pynvml(one_gpu(**keys))
    h = n.nvmlDeviceGetHandleByIndex(0)
    assert n.nvmlDeviceGetTemperature(h, n.NVML_TEMPERATURE_GPU) == 71
    assert n.nvmlDeviceGetFanSpeed(h) == 44
    assert n.nvmlDeviceGetClockInfo(h, n.NVML_CLOCK_SM) == 1755
    assert n.nvmlDeviceGetClockInfo(h, n.NVML_CLOCK_GRAPHICS) == 1755
    assert n.nvmlDeviceGetClockInfo(h, n.NVML_CLOCK_MEM) == 1215
    assert n.nvmlDeviceGetPerformanceState(h) == 2
    assert n.nvmlDeviceGetEnforcedPowerLimit(h) == 275000
    assert n.nvmlDeviceGetPowerManagementLimit(h) == 275000
    assert n.nvmlDeviceGetCurrentClocksEventReasons(h) == 0x44
    assert n.nvmlDeviceGetCurrentClocksThrottleReasons(h) == 0x44
    assert n.nvmlDeviceGetEncoderUtilization(h) == [12, 1000000]
    assert n.nvmlDeviceGetDecoderUtilization(h) == [34, 1000000]
    assert n.nvmlDeviceGetPcieThroughput(h, n.NVML_PCIE_UTIL_TX_BYTES) == 5000
    assert n.nvmlDeviceGetPcieThroughput(h, n.NVML_PCIE_UTIL_RX_BYTES) == 7000
    unc = n.NVML_MEMORY_ERROR_TYPE_UNCORRECTED
    assert n.nvmlDeviceGetTotalEccErrors(h, unc, n.NVML_VOLATILE_ECC) == 3
    assert n.nvmlDeviceGetTotalEccErrors(h, unc, n.NVML_AGGREGATE_ECC) == 9
    assert n.nvmlDeviceGetRemappedRows(h) == (2, 1, 0, 0)
    events = n.nvmlDeviceGetSupportedEventTypes(h)
    assert events & n.nvmlEventTypeXidCriticalError
    with pytest.raises(n.NVMLError_NotSupported):  # Ampere remaps rows, it retires no pages
        n.nvmlDeviceGetRetiredPages(h, n.NVML_PAGE_RETIREMENT_CAUSE_DOUBLE_BIT_ECC_ERROR)


def test_pre_ampere_retires_pages_and_has_no_mig(standin_pynvml):
    """A V100 (Volta) retires pages, has no row remapping and answers MIG mode NOT_SUPPORTED."""
    n = standin_pynvml(one_gpu(name="Tesla V100-SXM2-32GB", architecture=5, retired_pages=2))
    h = n.nvmlDeviceGetHandleByIndex(0)
    double_bit = n.NVML_PAGE_RETIREMENT_CAUSE_DOUBLE_BIT_ECC_ERROR
    single_bits = n.NVML_PAGE_RETIREMENT_CAUSE_MULTIPLE_SINGLE_BIT_ECC_ERRORS
    assert len(n.nvmlDeviceGetRetiredPages(h, double_bit)) == 2
    assert n.nvmlDeviceGetRetiredPages(h, single_bits) == []
    with pytest.raises(n.NVMLError_NotSupported):
        n.nvmlDeviceGetRemappedRows(h)
    with pytest.raises(n.NVMLError_NotSupported):
        n.nvmlDeviceGetMigMode(h)


def test_temperature_v_is_missing_on_535(standin_pynvml):
    """nvmlDeviceGetTemperatureV first shipped with R570: a 535 driver has no such symbol."""
    n = standin_pynvml(standin.datacenter_gpu())
    with pytest.raises(n.NVMLError_FunctionNotFound):
        n.nvmlDeviceGetTemperatureV(n.nvmlDeviceGetHandleByIndex(0), n.NVML_TEMPERATURE_GPU)


def test_invalid_utf8_name_breaks_the_binding(standin_pynvml):
    """The binding decodes names strictly: a board reporting bad bytes raises in pynvml."""
    n = standin_pynvml(one_gpu(name=b"NVIDIA \xff\xfe"))
    with pytest.raises(UnicodeDecodeError):
        n.nvmlDeviceGetName(n.nvmlDeviceGetHandleByIndex(0))


# ---------------------------------------------------------------------------------------
# Time: power, energy and utilization follow the wall clock
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("phase_s", [10.0, 1010.0])
def test_power_and_energy_follow_the_duty_cycle(standin_pynvml, phase_s):
    """Power is the phase's; energy is the base plus the exact integral since t0."""
    gpu = Gpu(uuid="GPU-e", busy_s=1000, idle_s=1000, energy_base_mj=5000)
    t0 = time.time() - phase_s
    n = standin_pynvml(Scenario(gpus=[gpu], t0=t0))
    h = n.nvmlDeviceGetHandleByIndex(0)
    before = time.time()
    energy = n.nvmlDeviceGetTotalEnergyConsumption(h)
    after = time.time()

    def expected(t: float) -> float:
        busy = busy_upto(gpu, t - t0)
        return 5000 + busy * gpu.power_busy_mw + (t - t0 - busy) * gpu.power_idle_mw

    assert expected(before) - 1 <= energy <= expected(after) + 1
    busy = phase_s < 1000
    assert n.nvmlDeviceGetPowerUsage(h) == (gpu.power_busy_mw if busy else gpu.power_idle_mw)


def test_utilization_rates_mean_over_the_window(standin_pynvml):
    """A constant GPU reads busy_util; a duty cycle reads its busy share of the last second."""
    n = standin_pynvml(one_gpu(busy_util=37, mem_util=21))
    util = n.nvmlDeviceGetUtilizationRates(n.nvmlDeviceGetHandleByIndex(0))
    assert (util.gpu, util.memory) == (37, 21)

    gpu = Gpu(uuid="GPU-d", busy_s=10, idle_s=10)
    t0 = time.time() - 0.5  # the window (now - 1 s, now] straddles idle -> busy
    n = standin_pynvml(Scenario(gpus=[gpu], t0=t0))
    before = time.time()
    value = n.nvmlDeviceGetUtilizationRates(n.nvmlDeviceGetHandleByIndex(0)).gpu
    after = time.time()
    low = mean_util(gpu, before - t0 - 1, before - t0)
    high = mean_util(gpu, after - t0 - 1, after - t0)
    assert math.floor(low) - 1 <= value <= math.ceil(high) + 1


# ---------------------------------------------------------------------------------------
# Sample buffer
# ---------------------------------------------------------------------------------------


def test_samples_sit_on_the_grid_with_window_means(standin_pynvml):
    """buffer_depth samples, oldest first, on t0 + k*period, each the mean of its window."""
    gpu = Gpu(uuid="GPU-s", busy_s=1, idle_s=1.5, busy_util=90, idle_util=10)
    t0 = float(int(time.time()) - 100)
    n = standin_pynvml(Scenario(gpus=[gpu], t0=t0))
    h = n.nvmlDeviceGetHandleByIndex(0)
    before = time.time()
    samples = gpu_samples(n, h)
    after = time.time()
    assert len(samples) == gpu.buffer_depth
    stamps = [s.timeStamp for s in samples]
    period = gpu.sample_period_us
    assert all(b - a == period for a, b in itertools.pairwise(stamps))
    assert (stamps[0] - int(t0 * 1e6)) % period == 0
    assert before * 1e6 - period - 1000 <= stamps[-1] <= after * 1e6
    for s in samples:
        x1 = (s.timeStamp - t0 * 1e6) / 1e6
        assert abs(s.sampleValue.uiVal - mean_util(gpu, x1 - period / 1e6, x1)) <= 1
    assert {s.sampleValue.uiVal for s in samples} >= {90, 10}


def test_samples_filter_by_last_seen_and_report_not_found(standin_pynvml):
    """Only samples newer than lastSeen come back; nothing newer is NVML_ERROR_NOT_FOUND."""
    gpu = Gpu(uuid="GPU-n", sample_period_us=10_000_000, buffer_depth=5)
    t0 = time.time() - 1  # the next sample is ~9 s away, so none can appear mid-test
    n = standin_pynvml(Scenario(gpus=[gpu], t0=t0))
    h = n.nvmlDeviceGetHandleByIndex(0)
    samples = gpu_samples(n, h)
    assert len(samples) == 5
    newer = gpu_samples(n, h, samples[2].timeStamp)
    assert [s.timeStamp for s in newer] == [s.timeStamp for s in samples[3:]]
    with pytest.raises(n.NVMLError_NotFound):
        gpu_samples(n, h, samples[-1].timeStamp)


def test_samples_size_query_types_and_memory_samples(standin_pynvml):
    """samples == NULL answers buffer_depth; memory samples carry mem_util; power is unsupported."""
    n = standin_pynvml(one_gpu(buffer_depth=33, mem_util=12))
    h = n.nvmlDeviceGetHandleByIndex(0)
    kind, count, last = ctypes.c_int(), ctypes.c_uint(0), ctypes.c_ulonglong(0)
    ret = n.nvmlLib.nvmlDeviceGetSamples(
        h, GPU_UTIL, last, ctypes.byref(kind), ctypes.byref(count), None
    )
    assert (ret, count.value, kind.value) == (n.NVML_SUCCESS, 33, n.NVML_VALUE_TYPE_UNSIGNED_INT)
    _, samples = n.nvmlDeviceGetSamples(h, n.NVML_MEMORY_UTILIZATION_SAMPLES, 0)
    assert {s.sampleValue.uiVal for s in samples} == {12}
    with pytest.raises(n.NVMLError_NotSupported):
        n.nvmlDeviceGetSamples(h, n.NVML_TOTAL_POWER_SAMPLES, 0)


def test_quiet_buffer_skips_idle_windows(standin_pynvml):
    """With quiet_when_idle the buffer has gaps: no sample for a window with no busy time."""
    scenario = replace(standin.quiet_buffer(), t0=float(int(time.time()) - 300))
    gpu, t0_us = scenario.gpus[0], int(scenario.t0 * 1e6)
    period = gpu.sample_period_us
    n = standin_pynvml(scenario)
    samples = gpu_samples(n, n.nvmlDeviceGetHandleByIndex(0))
    assert len(samples) == 120
    for s in samples:  # a sample can round to 0 %, but its window always had busy time
        x0, x1 = (s.timeStamp - period - t0_us) / 1e6, (s.timeStamp - t0_us) / 1e6
        assert busy_upto(gpu, x1) > busy_upto(gpu, x0)
    gaps = [b.timeStamp - a.timeStamp for a, b in itertools.pairwise(samples)]
    assert max(gaps) > 3_000_000  # the 4 s idle stretches left no samples


def test_shallow_buffer_holds_three_seconds(standin_pynvml):
    """20 samples at 166667 us span 3.2 s: a 5 s collector tick loses history."""
    n = standin_pynvml(standin.shallow_buffer())
    samples = gpu_samples(n, n.nvmlDeviceGetHandleByIndex(0))
    assert len(samples) == 20
    assert samples[-1].timeStamp - samples[0].timeStamp == 19 * 166667


def test_monotonic_timestamps_defeat_a_wall_clock_last_seen(standin_pynvml):
    """timestamp_base = monotonic: stamps are CLOCK_MONOTONIC us, so a wall-clock lastSeen
    finds nothing newer."""
    n = standin_pynvml(one_gpu(timestamp_base="monotonic"))
    h = n.nvmlDeviceGetHandleByIndex(0)
    before = time.monotonic()
    samples = gpu_samples(n, h)
    after = time.monotonic()
    assert before * 1e6 - 166667 - 5000 <= samples[-1].timeStamp <= after * 1e6 + 5000
    with pytest.raises(n.NVMLError_NotFound):
        gpu_samples(n, h, int((time.time() - 5) * 1e6))


# ---------------------------------------------------------------------------------------
# Processes
# ---------------------------------------------------------------------------------------


def test_process_utilization_omits_idle_processes(standin_pynvml):
    """One sample per busy process per 1 s window; the memory-only process never appears."""
    n = standin_pynvml(standin.idle_beside_busy())
    samples = proc_util(n, n.nvmlDeviceGetHandleByIndex(0))
    assert {s.pid for s in samples} == {1001}
    assert len(samples) == 120
    assert {s.smUtil for s in samples} == {90}
    assert all(s.timeStamp % 1_000_000 == 0 for s in samples)
    assert [s.timeStamp for s in samples] == sorted({s.timeStamp for s in samples})
    assert {(s.memUtil, s.encUtil, s.decUtil) for s in samples} == {(0, 0, 0)}


def test_process_utilization_garbage_and_not_found(standin_pynvml):
    """sm = garbage reads 0xFFFFFFFF; a lastSeen past the newest window is NOT_FOUND."""
    n = standin_pynvml(standin.garbage_sm())
    h = n.nvmlDeviceGetHandleByIndex(0)
    assert {s.smUtil for s in proc_util(n, h)} == {0xFFFFFFFF}
    with pytest.raises(n.NVMLError_NotFound):
        n.nvmlDeviceGetProcessUtilization(h, int((time.time() + 60) * 1e6))
    count, last = ctypes.c_uint(0), ctypes.c_ulonglong(0)
    ret = n.nvmlLib.nvmlDeviceGetProcessUtilization(h, None, ctypes.byref(count), last)
    assert ret == n.NVML_ERROR_INSUFFICIENT_SIZE
    assert count.value in (120, 121)


def test_process_utilization_follows_the_duty_cycle(standin_pynvml):
    """follow:0.5 reports half the device's mean of each window; idle windows are omitted."""
    gpu = Gpu(uuid="GPU-f", busy_s=2, idle_s=2, processes=[Process(pid=9, sm="follow:0.5")])
    t0 = float(int(time.time()) - 50)
    n = standin_pynvml(Scenario(gpus=[gpu], t0=t0))
    samples = proc_util(n, n.nvmlDeviceGetHandleByIndex(0))
    assert samples and {s.smUtil for s in samples} == {50}  # whole-second windows: 100 or 0
    for s in samples:
        x1 = s.timeStamp / 1e6 - t0
        assert mean_util(gpu, x1 - 1, x1) == 100


def test_running_processes_by_kind(standin_pynvml):
    """Compute and graphics lists split by kind; ids are 0xFFFFFFFF outside MIG; na is None."""
    scenario = standin.consumer_gpu_fan_unknown()
    scenario.gpus[0].processes.append(Process(pid=2200, memory_mib=None))
    n = standin_pynvml(scenario)
    h = n.nvmlDeviceGetHandleByIndex(0)
    compute = n.nvmlDeviceGetComputeRunningProcesses(h)
    graphics = n.nvmlDeviceGetGraphicsRunningProcesses(h)
    assert [(p.pid, p.usedGpuMemory) for p in compute] == [(2100, 1024 * MIB), (2200, None)]
    assert [p.pid for p in graphics] == [1400, 2100]
    assert {(p.gpuInstanceId, p.computeInstanceId) for p in compute} == {(NO_INSTANCE, NO_INSTANCE)}
    assert n.nvmlDeviceGetComputeRunningProcesses_v2(h)[0].pid == 2100


def test_running_processes_size_query(standin_pynvml):
    """infos == NULL: INSUFFICIENT_SIZE with the count; no processes: SUCCESS with 0."""
    scenario = standin.datacenter_gpu()
    scenario.gpus.append(Gpu(uuid=standin.gpu_uuid(1)))
    n = standin_pynvml(scenario)
    fn = n.nvmlLib.nvmlDeviceGetComputeRunningProcesses_v3
    busy, empty = n.nvmlDeviceGetHandleByIndex(0), n.nvmlDeviceGetHandleByIndex(1)
    count = ctypes.c_uint(0)
    assert fn(busy, ctypes.byref(count), None) == n.NVML_ERROR_INSUFFICIENT_SIZE
    assert count.value == 1
    count.value = 7
    assert fn(empty, ctypes.byref(count), None) == n.NVML_SUCCESS
    assert count.value == 0
    assert n.nvmlDeviceGetComputeRunningProcesses(n.nvmlDeviceGetHandleByIndex(1)) == []


# ---------------------------------------------------------------------------------------
# MIG and GPM
# ---------------------------------------------------------------------------------------


def test_mig_devices_and_their_processes(standin_pynvml):
    """MIG handles by index and UUID, their ids, memory and processes, and the parent's sums."""
    n = standin_pynvml(standin.mig_two_devices())
    g = n.nvmlDeviceGetHandleByIndex(0)
    assert n.nvmlDeviceGetMigMode(g) == [1, 1]
    assert n.nvmlDeviceGetMaxMigDeviceCount(g) == 7
    m0, m1 = (n.nvmlDeviceGetMigDeviceHandleByIndex(g, i) for i in (0, 1))
    with pytest.raises(n.NVMLError_NotFound):
        n.nvmlDeviceGetMigDeviceHandleByIndex(g, 2)
    with pytest.raises(n.NVMLError_InvalidArgument):
        n.nvmlDeviceGetMigDeviceHandleByIndex(g, 7)
    # the binding hands back the c_uint itself here, not its value
    assert [n.nvmlDeviceIsMigDeviceHandle(h).value for h in (m0, g)] == [1, 0]
    assert [n.nvmlDeviceGetGpuInstanceId(m) for m in (m0, m1)] == [1, 9]
    assert n.nvmlDeviceGetComputeInstanceId(m0) == 0
    assert address(n.nvmlDeviceGetDeviceHandleFromMigDeviceHandle(m0)) == address(g)
    assert address(n.nvmlDeviceGetHandleByUUID(standin.mig_uuid(2))) == address(m1)
    assert n.nvmlDeviceGetUUID(m0) == standin.mig_uuid(1)
    assert n.nvmlDeviceGetName(m0) == "NVIDIA A100-SXM4-80GB MIG 3g.40gb"
    mem = n.nvmlDeviceGetMemoryInfo(m0, version=n.nvmlMemory_v2)
    assert (mem.total, mem.reserved, mem.used) == (40192 * MIB, 0, 6144 * MIB)
    assert n.nvmlDeviceGetMemoryInfo(g).used == 6144 * MIB
    (proc,) = n.nvmlDeviceGetComputeRunningProcesses(g)
    ids = (proc.gpuInstanceId, proc.computeInstanceId)
    assert (proc.pid, proc.usedGpuMemory, ids) == (3100, 6144 * MIB, (1, 0))
    assert [p.pid for p in n.nvmlDeviceGetComputeRunningProcesses(m0)] == [3100]
    assert n.nvmlDeviceGetComputeRunningProcesses(m1) == []
    with pytest.raises(n.NVMLError_InvalidArgument):
        n.nvmlDeviceGetGpuInstanceId(g)


def test_mig_not_supported_answers(standin_pynvml):
    """A MIG parent refuses utilization queries; a MIG handle refuses sensors and power."""
    n = standin_pynvml(standin.mig_two_devices())
    g = n.nvmlDeviceGetHandleByIndex(0)
    m0 = n.nvmlDeviceGetMigDeviceHandleByIndex(g, 0)
    refused = [
        (n.nvmlDeviceGetUtilizationRates, g),
        (lambda h: gpu_samples(n, h), g),
        (lambda h: n.nvmlDeviceGetProcessUtilization(h, 0), g),
        (n.nvmlDeviceGetEncoderUtilization, g),
    ]
    on_mig = [n.nvmlDeviceGetUtilizationRates, lambda h: n.nvmlDeviceGetTemperature(h, 0)]
    on_mig += [n.nvmlDeviceGetFanSpeed, n.nvmlDeviceGetPowerUsage]
    on_mig += [n.nvmlDeviceGetTotalEnergyConsumption, lambda h: n.nvmlDeviceGetClockInfo(h, 1)]
    on_mig += [n.nvmlDeviceGetPerformanceState, lambda h: n.nvmlDeviceGetPcieThroughput(h, 0)]
    on_mig += [n.nvmlDeviceGetEnforcedPowerLimit, lambda h: gpu_samples(n, h)]
    on_mig += [lambda h: n.nvmlDeviceGetProcessUtilization(h, 0)]
    refused += [(fn, m0) for fn in on_mig]
    for fn, handle in refused:
        with pytest.raises(n.NVMLError_NotSupported):
            fn(handle)
    assert n.nvmlDeviceGetTemperature(g, 0) == 40
    assert n.nvmlDeviceGetPowerUsage(g) == 250000


def test_mig_mode_off(standin_pynvml):
    """An Ampere GPU without MIG: mode 0/0, zero MIG devices, NOT_FOUND by index."""
    n = standin_pynvml(standin.datacenter_gpu())
    h = n.nvmlDeviceGetHandleByIndex(0)
    assert n.nvmlDeviceGetMigMode(h) == [0, 0]
    assert n.nvmlDeviceGetMaxMigDeviceCount(h) == 0
    with pytest.raises(n.NVMLError_NotFound):
        n.nvmlDeviceGetMigDeviceHandleByIndex(h, 0)


def gpm_util(n, take) -> list:
    """Two GPM samples 150 ms apart (> the 100 ms refresh); GRAPHICS, SM and DRAM metrics."""
    s1, s2 = n.nvmlGpmSampleAlloc(), n.nvmlGpmSampleAlloc()
    try:
        take(s1)
        time.sleep(0.15)
        take(s2)
        get = n.c_nvmlGpmMetricsGet_t()
        get.version, get.numMetrics = n.NVML_GPM_METRICS_GET_VERSION, 3
        get.sample1, get.sample2 = s1, s2
        ids = [n.NVML_GPM_METRIC_GRAPHICS_UTIL, n.NVML_GPM_METRIC_SM_UTIL]
        ids.append(n.NVML_GPM_METRIC_DRAM_BW_UTIL)  # one the stand-in does not model
        for i, metric in enumerate(ids):
            get.metrics[i].metricId = metric
        n.nvmlGpmMetricsGet(get)
        return [(get.metrics[i].nvmlReturn, get.metrics[i].value) for i in range(3)]
    finally:
        n.nvmlGpmSampleFree(s1)
        n.nvmlGpmSampleFree(s2)


def test_gpm_utilization_follows_the_duty_cycle(standin_pynvml):
    """GPU and MIG GPM utilization = busy share x busy_util; unknown metrics NOT_SUPPORTED."""
    n = standin_pynvml(standin.hopper_mig())
    g = n.nvmlDeviceGetHandleByIndex(0)
    assert n.nvmlGpmQueryDeviceSupport(g).isSupportedDevice == 1
    whole = gpm_util(n, lambda s: n.nvmlGpmSampleGet(g, s))
    assert [r for r, _ in whole] == [n.NVML_SUCCESS, n.NVML_SUCCESS, n.NVML_ERROR_NOT_SUPPORTED]
    assert whole[0][1] == pytest.approx(30, abs=0.01)  # 50 % busy x busy_util 60
    mig = gpm_util(n, lambda s: n.nvmlGpmMigSampleGet(g, 1, s))
    assert mig[0][1] == pytest.approx(40, abs=0.01)  # 50 % busy x busy_util 80
    with pytest.raises(n.NVMLError_InvalidArgument):
        n.nvmlGpmMigSampleGet(g, 4, n.nvmlGpmSampleAlloc())


def test_gpm_unsupported_and_version_checked(standin_pynvml):
    """gpm = 0 answers NOT_SUPPORTED; a wrong metrics version is ARGUMENT_VERSION_MISMATCH."""
    n = standin_pynvml(standin.mig_two_devices())
    g = n.nvmlDeviceGetHandleByIndex(0)
    assert n.nvmlGpmQueryDeviceSupport(g).isSupportedDevice == 0
    sample = n.nvmlGpmSampleAlloc()
    with pytest.raises(n.NVMLError_NotSupported):
        n.nvmlGpmSampleGet(g, sample)
    get = n.c_nvmlGpmMetricsGet_t()
    get.version, get.sample1, get.sample2 = 2, sample, sample
    with pytest.raises(n.NVMLError_ArgumentVersionMismatch):
        n.nvmlGpmMetricsGet(get)
    n.nvmlGpmSampleFree(sample)


# ---------------------------------------------------------------------------------------
# Events, faults, reloads and the library's lifecycle
# ---------------------------------------------------------------------------------------


def test_xid_event_is_delivered_once(standin_pynvml):
    """A pending Xid comes back once, with the device handle; then the wait times out."""
    n = standin_pynvml(one_gpu(xid=79, xid_after_s=0.2))
    h = n.nvmlDeviceGetHandleByIndex(0)
    events = n.nvmlEventSetCreate()
    n.nvmlDeviceRegisterEvents(h, n.nvmlEventTypeXidCriticalError, events)
    start = time.monotonic()
    data = n.nvmlEventSetWait(events, 5000)  # sleeps until the Xid is due, not 5 s
    assert time.monotonic() - start < 4
    assert (data.eventType, data.eventData) == (n.nvmlEventTypeXidCriticalError, 79)
    assert address(data.device) == address(h)
    assert (data.gpuInstanceId, data.computeInstanceId) == (NO_INSTANCE, NO_INSTANCE)
    with pytest.raises(n.NVMLError_Timeout):
        n.nvmlEventSetWait(events, 0)
    with pytest.raises(n.NVMLError_NotSupported):
        n.nvmlDeviceRegisterEvents(h, n.nvmlEventTypeClock, events)
    n.nvmlEventSetFree(events)


def test_fail_and_unsupported_map_to_error_classes(standin_pynvml):
    """`unsupported` gives NotSupported and `fail` the given code's NVMLError subclass."""
    scenario = standin.consumer_gpu_fan_unknown()
    scenario.gpus[0].fail["nvmlDeviceGetComputeRunningProcesses_v3"] = 4
    scenario.gpus.append(standin.datacenter_gpu().gpus[0])
    scenario.gpus[1].uuid = standin.gpu_uuid(1)
    n = standin_pynvml(scenario)
    consumer, datacenter = n.nvmlDeviceGetHandleByIndex(0), n.nvmlDeviceGetHandleByIndex(1)
    with pytest.raises(n.NVMLError_Unknown):
        n.nvmlDeviceGetFanSpeed(consumer)
    with pytest.raises(n.NVMLError_NoPermission):
        n.nvmlDeviceGetComputeRunningProcesses(consumer)
    with pytest.raises(n.NVMLError_NotSupported):
        n.nvmlDeviceGetFanSpeed(datacenter)
    with pytest.raises(n.NVMLError_NotSupported):
        n.nvmlDeviceGetMigMode(consumer)
    assert n.nvmlDeviceGetGraphicsRunningProcesses(consumer)[0].pid == 1400


def test_lost_gpu(standin_pynvml):
    """After lost_after_s every call on that GPU, and every UUID lookup, is GPU_IS_LOST."""
    n = standin_pynvml(standin.lost_mid_run(0.2))
    healthy, doomed = n.nvmlDeviceGetHandleByIndex(0), n.nvmlDeviceGetHandleByIndex(1)
    assert n.nvmlDeviceGetTemperature(doomed, 0) == 40
    time.sleep(0.25)
    with pytest.raises(n.NVMLError_GpuIsLost):
        n.nvmlDeviceGetTemperature(doomed, 0)
    with pytest.raises(n.NVMLError_GpuIsLost):
        n.nvmlDeviceGetHandleByIndex(1)
    with pytest.raises(n.NVMLError_GpuIsLost):  # nvml.h: while ANY GPU has fallen off the bus
        n.nvmlDeviceGetHandleByUUID(standin.gpu_uuid(0))
    assert n.nvmlDeviceGetCount() == 2
    assert n.nvmlDeviceGetTemperature(healthy, 0) == 40


def test_rewriting_the_scenario_changes_answers_without_reinit(standin_pynvml):
    """A rewritten file is picked up by the next call; old handles stay valid."""
    n = standin_pynvml(one_gpu(temp=40))
    h = n.nvmlDeviceGetHandleByIndex(0)
    live = Path(os.environ[standin.SCENARIO_ENV])
    two = Scenario(gpus=[Gpu(uuid=standin.gpu_uuid(0), temp=55), Gpu(uuid=standin.gpu_uuid(1))])
    two.write(live)
    assert n.nvmlDeviceGetTemperature(h, 0) == 55
    assert n.nvmlDeviceGetCount() == 2


def test_broken_rewrite_keeps_the_previous_scenario(standin_pynvml, capfd):
    """A rewrite with a typo is reported on stderr once; calls keep the old answers."""
    n = standin_pynvml(one_gpu(temp=40))
    live = Path(os.environ[standin.SCENARIO_ENV])
    live.write_text(one_gpu(temp=50).text().replace("temp = 50", "tmep = 50"))
    h = n.nvmlDeviceGetHandleByIndex(0)
    assert n.nvmlDeviceGetTemperature(h, 0) == 40
    err = capfd.readouterr().err
    assert "unknown key 'tmep' in [gpu]" in err
    assert "keeping the previous scenario" in err


def test_shutdown_is_reference_counted(standin_pynvml):
    """Two inits need two shutdowns; then calls answer UNINITIALIZED until the next init."""
    n = standin_pynvml(standin.datacenter_gpu())
    n.nvmlInit()
    n.nvmlShutdown()
    assert n.nvmlDeviceGetCount() == 1
    n.nvmlShutdown()
    with pytest.raises(n.NVMLError_Uninitialized):
        n.nvmlDeviceGetCount()
    with pytest.raises(n.NVMLError_Uninitialized):
        n.nvmlShutdown()
    n.nvmlInit()  # leave one init for the fixture's teardown
    assert n.nvmlDeviceGetCount() == 1


def test_init_failures(nvml_standin, standin_scenario, monkeypatch, tmp_path, capfd):
    """Missing file: DRIVER_NOT_LOADED; init_error: that code; an unknown key: UNKNOWN."""
    import pynvml as n

    def failing(code: int) -> Path:
        return standin_scenario(replace(standin.datacenter_gpu(), init_error=code))

    cases = [
        (tmp_path / "missing.ini", n.NVMLError_DriverNotLoaded),
        (failing(18), n.NVMLError_LibRmVersionMismatch),
        (failing(9), n.NVMLError_DriverNotLoaded),
    ]
    typo = tmp_path / "typo.ini"
    typo.write_text("[gpu]\nuuid = GPU-1\nfan_speed = 3\n")
    cases.append((typo, n.NVMLError_Unknown))
    for path, error in cases:
        monkeypatch.setenv(standin.SCENARIO_ENV, str(path))
        standin.load_in_process(path)
        with pytest.raises(error):
            n.nvmlInit()
    assert "typo.ini:3: unknown key 'fan_speed' in [gpu]" in capfd.readouterr().err


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[gpus]\n", "unknown section [gpus]"),
        ("[gpu]\nuuid = G\nunsupported = nvmlDeviceGetFanSpeeed\n", "unknown NVML symbol"),
        ("[gpu]\nuuid = G\n[mig]\nuuid = M\n", "[mig] under a [gpu] without mig = 1"),
        ("[gpu]\nuuid = G\nretired_pages = 1\n", "Ampere remaps rows"),
        ("[gpu]\nname = x\n", "needs a uuid"),
    ],
)
def test_scenario_mistakes_are_loud(nvml_standin, tmp_path, text, message):
    """Every scenario typo fails init and names the problem on stderr."""
    path = tmp_path / "bad.ini"
    path.write_text(text)
    out, err = run_probe_with_stderr("535", path, "probe('init', n.nvmlInit)\n")
    assert out["init"] == "NVMLError_Unknown"
    assert message in err
    assert len(err.strip().splitlines()) == 1


# ---------------------------------------------------------------------------------------
# Other driver variants (subprocesses)
# ---------------------------------------------------------------------------------------


def test_driver_418(nvml_standin, standin_scenario):
    """R418: v1 process symbols only, no MIG, no architecture, no memory v2, no _v2 wait."""
    procs = [Process(pid=11, memory_mib=100), Process(pid=12, memory_mib=200)]
    gpu = Gpu(uuid=standin.gpu_uuid(0), name="Tesla V100-SXM2-32GB", architecture=5)
    gpu.cuda_cc, gpu.retired_pages, gpu.processes = "7.0", 1, procs
    out = run_probe(
        "418",
        standin_scenario(Scenario(gpus=[gpu])),
        """
        n.nvmlInit()
        h = n.nvmlDeviceGetHandleByIndex(0)
        probe("driver", n.nvmlSystemGetDriverVersion)
        probe("cuda", n.nvmlSystemGetCudaDriverVersion_v2)
        probe("compute", n.nvmlDeviceGetComputeRunningProcesses, h)
        probe("graphics", n.nvmlDeviceGetGraphicsRunningProcesses, h)
        probe("compute_v2", n.nvmlDeviceGetComputeRunningProcesses_v2, h)
        probe("mem_v2", lambda: n.nvmlDeviceGetMemoryInfo(h, version=n.nvmlMemory_v2))
        probe("mem_v1", lambda: n.nvmlDeviceGetMemoryInfo(h).total)
        probe("mig", n.nvmlDeviceGetMigMode, h)
        probe("arch", n.nvmlDeviceGetArchitecture, h)
        probe("remapped", n.nvmlDeviceGetRemappedRows, h)
        probe("temp", n.nvmlDeviceGetTemperature, h, 0)
        probe("temp_v", n.nvmlDeviceGetTemperatureV, h, 0)
        probe("throttle", n.nvmlDeviceGetCurrentClocksThrottleReasons, h)
        probe("event_reasons", n.nvmlDeviceGetCurrentClocksEventReasons, h)
        probe("gpm", n.nvmlGpmSampleAlloc)
        probe("wait", lambda: n.nvmlEventSetWait(n.nvmlEventSetCreate(), 0))
        probe("retired", lambda: len(n.nvmlDeviceGetRetiredPages(h, 1)))
        class V1(ctypes.Structure):  # nvmlProcessInfo_v1_t, as an R418-era caller laid it out
            _fields_ = [("pid", ctypes.c_uint), ("usedGpuMemory", ctypes.c_ulonglong)]
        count, fn = ctypes.c_uint(0), n.nvmlLib.nvmlDeviceGetComputeRunningProcesses
        first = fn(h, ctypes.byref(count), None)
        infos, need = (V1 * 4)(), count.value
        count.value = 4
        second = fn(h, ctypes.byref(count), infos)
        out["v1"] = [first, need, second, [[p.pid, p.usedGpuMemory] for p in infos[: count.value]]]
        """,
    )
    assert out["driver"] == "418.226.00" and out["cuda"] == 10010
    assert out["compute"] == out["graphics"] == "NVMLLibraryMismatchError"
    absent = ["compute_v2", "mem_v2", "mig", "arch", "remapped"]
    absent += ["temp_v", "event_reasons", "gpm", "wait"]
    assert {key: out[key] for key in absent} == dict.fromkeys(absent, MISSING)
    assert (out["mem_v1"], out["temp"], out["throttle"], out["retired"]) == (81920 * MIB, 40, 0, 1)
    assert out["v1"] == [7, 2, 0, [[11, 100 * MIB], [12, 200 * MIB]]]


def test_driver_470(nvml_standin, standin_scenario):
    """R470: _v2 processes and MIG work; unversioned (v3) wrappers raise LibraryMismatch."""
    out = run_probe(
        "470",
        standin_scenario(standin.mig_two_devices()),
        """
        n.nvmlInit()
        g = n.nvmlDeviceGetHandleByIndex(0)
        probe("driver", n.nvmlSystemGetDriverVersion)
        probe("nvml", n.nvmlSystemGetNVMLVersion)
        probe("compute", n.nvmlDeviceGetComputeRunningProcesses, g)
        probe("v2", lambda: [[p.pid, p.gpuInstanceId, p.computeInstanceId]
                             for p in n.nvmlDeviceGetComputeRunningProcesses_v2(g)])
        probe("mem_v2", lambda: n.nvmlDeviceGetMemoryInfo(g, version=n.nvmlMemory_v2))
        probe("mig", n.nvmlDeviceGetMigMode, g)
        m1 = n.nvmlDeviceGetMigDeviceHandleByIndex(g, 1)
        probe("gi", n.nvmlDeviceGetGpuInstanceId, m1)
        probe("gpm", n.nvmlGpmQueryDeviceSupport, g)
        probe("event_reasons", n.nvmlDeviceGetCurrentClocksEventReasons, g)
        probe("throttle", n.nvmlDeviceGetCurrentClocksThrottleReasons, g)
        probe("temp_v", n.nvmlDeviceGetTemperatureV, g, 0)
        probe("wait", lambda: n.nvmlEventSetWait(n.nvmlEventSetCreate(), 0))
        """,
    )
    assert (out["driver"], out["nvml"]) == ("470.256.02", "11.470.256.02")
    assert out["compute"] == "NVMLLibraryMismatchError"
    assert out["v2"] == [[3100, 1, 0]]
    assert (out["mig"], out["gi"], out["throttle"]) == ([1, 1], 9, 0)
    absent = ["mem_v2", "gpm", "event_reasons", "temp_v"]
    assert {key: out[key] for key in absent} == dict.fromkeys(absent, MISSING)
    assert out["wait"] == "NVMLError_Timeout"


def test_driver_999(nvml_standin, standin_scenario):
    """After CUDA 14: TemperatureV only; the deprecated temperature and throttle calls are gone."""
    out = run_probe(
        "999",
        standin_scenario(standin.datacenter_gpu()),
        """
        n.nvmlInit()
        h = n.nvmlDeviceGetHandleByIndex(0)
        probe("driver", n.nvmlSystemGetDriverVersion)
        probe("cuda", n.nvmlSystemGetCudaDriverVersion)
        probe("temp", n.nvmlDeviceGetTemperature, h, 0)
        probe("temp_v", n.nvmlDeviceGetTemperatureV, h, 0)
        probe("temp_v_bad_version", n.nvmlDeviceGetTemperatureV, h, 0, 7)
        probe("throttle", n.nvmlDeviceGetCurrentClocksThrottleReasons, h)
        probe("event_reasons", n.nvmlDeviceGetCurrentClocksEventReasons, h)
        probe("compute", lambda: [p.pid for p in n.nvmlDeviceGetComputeRunningProcesses(h)])
        """,
    )
    assert (out["driver"], out["cuda"]) == ("999.0.0", 13000)
    assert out["temp"] == out["throttle"] == MISSING
    assert (out["temp_v"], out["event_reasons"], out["compute"]) == (40, 0, [4242])
    assert out["temp_v_bad_version"] == "NVMLError_ArgumentVersionMismatch"


def test_version_mismatch_mid_run(nvml_standin, standin_scenario):
    """After mismatch_after_s every call, init and shutdown included, answers 18."""
    out = run_probe(
        "535",
        standin_scenario(standin.mismatch(0.2)),
        """
        n.nvmlInit()
        probe("before", n.nvmlDeviceGetCount)
        time.sleep(0.25)
        probe("after", n.nvmlDeviceGetCount)
        probe("driver", n.nvmlSystemGetDriverVersion)
        probe("init", n.nvmlInit)
        probe("shutdown", n.nvmlShutdown)
        """,
    )
    assert out["before"] == 1
    for key in ("after", "driver", "init", "shutdown"):
        assert out[key] == "NVMLError_LibRmVersionMismatch", key
