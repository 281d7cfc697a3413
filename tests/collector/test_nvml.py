"""NvmlBackend against a scripted fake pynvml: fields, activity, processes and faults."""

from __future__ import annotations

import logging

import pynvml as real
import pytest

from collector.backend import BackendUnavailable, Reading
from collector.nvml import NvmlBackend, active_seconds, sample_value
from collector.procinfo import ProcInfo
from tests.collector.fake_pynvml import MIB, FakeNvml, three_gpus
from tests.collector.test_procinfo import BOOT, PASSWD, TCK, write_proc

T0 = 1_750_000_000.0  # UTC seconds of the first tick
US = 1_000_000


class Rig:
    """A backend over a fake driver, with one clock for both `now` and the monotonic clock."""

    def __init__(self, tmp_path, gpus=None) -> None:
        self.t = 0.0
        self.fake = FakeNvml(three_gpus() if gpus is None else gpus)
        root = tmp_path / "proc"
        root.mkdir()
        (tmp_path / "passwd").write_text(PASSWD)
        write_proc(root, 100, uid=1000, cmdline=b"python\0train.py\0", start_ticks=4200)
        write_proc(root, 200, uid=1001, cmdline=b"blender\0-b\0", start_ticks=9900)
        self.procinfo = ProcInfo(root, tmp_path / "passwd", clk_tck=TCK)
        self.backend = NvmlBackend(
            self.fake, self.procinfo, clock=lambda: self.t, threshold=1.0,
            log=logging.getLogger("test.nvml"),
        )  # fmt: skip

    @property
    def now(self) -> float:
        return T0 + self.t

    def tick(self, dt: float = 5.0) -> Reading:
        self.t += dt
        return self.backend.sample(self.now, dt)


@pytest.fixture
def rig(tmp_path):
    return Rig(tmp_path)


def by_uuid(reading: Reading) -> dict:
    return {s.gpu.uuid: s for s in reading.samples}


# -- enumeration and fields ---------------------------------------------------------------


def test_every_gpu_is_enumerated_by_uuid_with_its_description(rig):
    infos = [gpu.info for gpu in rig.backend.gpus.values()]
    assert [(i.uuid, i.index, i.name) for i in infos] == [
        ("GPU-aaaa", 0, "NVIDIA H100 80GB HBM3"),
        ("GPU-bbbb", 1, "NVIDIA A100-SXM4-40GB"),
        ("GPU-cccc", 2, "Tesla T4"),
    ]
    assert [i.pci_bus_id for i in infos] == [
        "00000000:17:00.0",
        "00000000:65:00.0",
        "00000000:CA:00.0",
    ]
    assert [i.memory_total_mib for i in infos] == [81559, 40960, 15360]


def test_fields_are_read_and_converted_to_stored_units(rig):
    g = rig.fake.gpus[0]
    g.util, g.mem_util, g.mem_used, g.temp, g.fan = 87, 41, 30_000 * MIB + 5, 71, 55
    g.power_mw, g.energy_mj, g.sm_mhz, g.mem_mhz, g.pstate = 312_345, 9_876_543, 1980, 2619, 2
    s = by_uuid(rig.tick())["GPU-aaaa"]
    assert (s.util, s.mem_util, s.mem_used_mib, s.temp_c, s.fan_pct) == (87, 41, 30_000, 71, 55)
    assert s.power_w == pytest.approx(312.345)
    assert (s.energy_j, s.sm_mhz, s.mem_mhz, s.pstate) == (9876, 1980, 2619, 2)
    assert s.gpu.uuid == "GPU-aaaa" and s.gpu.memory_total_mib == 81559


def test_not_supported_fields_are_none_not_zero_and_the_rest_is_kept(rig):
    t4 = rig.fake.gpus[2]
    t4.util, t4.temp, t4.power_mw, t4.sm_mhz = 33, 58, 27_500, 1590
    for _ in range(5):
        s = by_uuid(rig.tick())["GPU-cccc"]
        assert s.fan_pct is None and s.energy_j is None
        assert (s.util, s.temp_c, s.power_w, s.sm_mhz) == (33, 58, 27.5, 1590)
        # Its neighbours do report a fan.
        assert by_uuid(rig.backend.sample(rig.now, 5.0))["GPU-aaaa"].fan_pct == 30
    # NotSupported is remembered: the T4 was asked for its fan once, the others every time.
    assert rig.fake.calls["nvmlDeviceGetFanSpeed"] == 1 + 2 * 10


def test_unknown_pstate_and_other_field_errors_become_none_with_one_warning(rig, caplog):
    rig.fake.gpus[0].pstate = real.NVML_PSTATE_UNKNOWN

    def timeout(handle):
        raise real.NVMLError_Timeout()

    rig.fake.nvmlDeviceGetPowerUsage = timeout
    with caplog.at_level(logging.WARNING, logger="test.nvml"):
        readings = [rig.tick() for _ in range(3)]
    assert by_uuid(readings[0])["GPU-aaaa"].pstate is None
    assert all(s.power_w is None and s.temp_c == 40 for r in readings for s in r.samples)
    timeouts = [r for r in caplog.records if "Timeout" in r.getMessage()]
    assert len(timeouts) == 3  # once per GPU, not once per tick


def test_one_session_across_many_ticks_and_shutdown_on_close(rig):
    for _ in range(20):
        assert len(rig.tick().samples) == 3
    calls = rig.fake.calls
    assert calls["nvmlInit"] == 1
    assert calls["nvmlDeviceGetCount"] == 1 and calls["nvmlDeviceGetHandleByIndex"] == 3
    assert calls["nvmlShutdown"] == 0
    rig.backend.close()
    rig.backend.close()
    assert calls["nvmlShutdown"] == 1 and not rig.fake.initialized
    rig.t += 1000
    assert rig.backend.sample(rig.now, 5.0) == Reading()
    assert calls["nvmlInit"] == 1  # a closed backend does not come back by itself


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (real.NVMLError_DriverNotLoaded, "Driver Not Loaded"),
        (real.NVMLError_LibraryNotFound, "NVML Shared Library Not Found"),
        (real.NVMLError_LibRmVersionMismatch, "RM has detected an NVML/RM version mismatch."),
    ],
)
def test_init_failure_is_one_line_saying_what_to_check(tmp_path, error, reason):
    fake = FakeNvml(three_gpus())
    fake.init_error = error
    with pytest.raises(BackendUnavailable) as caught:
        NvmlBackend(fake, ProcInfo(tmp_path, tmp_path / "passwd"), threshold=1.0)
    msg = str(caught.value)
    assert "\n" not in msg
    assert msg.startswith(f"NVML could not start ({reason}")
    for hint in ("NVIDIA driver", "--gpus all", "device reservation", "pid: host"):
        assert hint in msg


def test_enumeration_failure_shuts_nvml_down_again(tmp_path):
    fake = FakeNvml(three_gpus())

    def count():
        raise real.NVMLError_Uninitialized()

    fake.nvmlDeviceGetCount = count
    with pytest.raises(BackendUnavailable, match=r"^NVML could not list the GPUs \(Uninitialized"):
        NvmlBackend(fake, ProcInfo(tmp_path, tmp_path / "passwd"), threshold=1.0)
    assert fake.calls["nvmlShutdown"] == 1 and not fake.initialized


def test_the_real_binding_either_starts_or_says_what_to_check(tmp_path):
    """No fake: the installed nvidia-ml-py, on whatever machine runs the tests."""
    try:
        backend = NvmlBackend(procinfo=ProcInfo(tmp_path, tmp_path / "passwd"), threshold=1.0)
    except BackendUnavailable as exc:
        assert "\n" not in str(exc) and "pid: host" in str(exc)
    else:
        reading = backend.sample(T0, 5.0)
        backend.close()
        assert {s.gpu.uuid for s in reading.samples} == set(backend.gpus)


# -- gap-free activity --------------------------------------------------------------------


def test_active_seconds_come_from_the_sample_buffer_without_gaps(rig):
    h100 = rig.fake.gpus[0]
    s = lambda sec, v: (round((T0 + sec) * US), v)  # noqa: E731 - a table of scripted samples
    # Tick 1 covers [0, 5]: 90 % before the window is ignored; 1 % is not above the threshold.
    h100.samples = [s(-3, 90), s(1, 50), s(2, 0), s(3, 1), s(4, 30)]
    assert by_uuid(rig.tick())["GPU-aaaa"].active_s == pytest.approx(3.0)  # (0,1] (3,4] (4,5]
    # Tick 2 covers [5, 10]; the sample at 6 covers (5, 6] only, 4..5 was counted in tick 1.
    h100.samples += [s(6, 0), s(7.5, 100), s(9, 100)]
    assert by_uuid(rig.tick())["GPU-aaaa"].active_s == pytest.approx(4.0)  # (6,7.5] (7.5,10]
    # Tick 3: nothing newer in the buffer (NotFound), so the point reading (0 %) decides.
    h100.util = 0
    assert by_uuid(rig.tick())["GPU-aaaa"].active_s == 0.0
    h100.util = 80
    assert by_uuid(rig.tick())["GPU-aaaa"].active_s == 5.0


def test_double_valued_samples_are_read_through_their_union_member(rig):
    a100 = rig.fake.gpus[1]
    a100.sample_type = real.NVML_VALUE_TYPE_DOUBLE
    a100.samples = [(round((T0 + sec) * US), v) for sec, v in ((2.5, 0.5), (5, 1.5))]
    assert by_uuid(rig.tick())["GPU-bbbb"].active_s == pytest.approx(2.5)
    value = real.c_nvmlValue_t(ullVal=7)
    assert sample_value(value, real.NVML_VALUE_TYPE_UNSIGNED_LONG_LONG) == 7


def test_gpu_without_sample_buffer_keeps_its_point_reading(rig):
    rig.fake.gpus[2].util = 64
    for _ in range(3):
        t4 = by_uuid(rig.tick())["GPU-cccc"]
        assert (t4.util, t4.active_s) == (64, None)
    assert rig.fake.calls["nvmlDeviceGetSamples"] == 1 + 2 * 3  # T4 asked once only


def test_active_seconds_never_exceed_the_window():
    points = [(i * US // 10, 100) for i in range(1, 200)]  # 100 % ten times a second for 20 s
    assert active_seconds(points, 5 * US, 10 * US, 1.0, 0, 100) == 5.0
    assert active_seconds([], 5 * US, 10 * US, 1.0, 4 * US, None) is None


# -- processes ----------------------------------------------------------------------------


def test_processes_appear_merge_and_vanish(rig, caplog):
    h100 = rig.fake.gpus[0]
    ts = lambda sec: round((T0 + sec) * US)  # noqa: E731
    h100.compute = {100: 2048 * MIB}
    h100.proc_util = [(100, ts(2), 20), (100, ts(4), 35)]
    first = rig.tick().processes
    assert [(p.gpu_uuid, p.pid, p.mem_mib, p.sm_util) for p in first] == [
        ("GPU-aaaa", 100, 2048, 35)  # the newest utilization sample of the pid
    ]
    assert (first[0].user, first[0].command, first[0].started) == (
        "alice",
        "python train.py",
        BOOT + 42,
    )

    # pid 200 shows up in both lists (compute+graphics) and once with no memory figure.
    h100.compute = {100: 2048 * MIB, 200: 512 * MIB}
    h100.graphics = {200: None}
    h100.proc_util += [(200, ts(8), 60)]
    second = {p.pid: p for p in rig.tick().processes}
    assert sorted(second) == [100, 200]
    assert (second[200].mem_mib, second[200].sm_util, second[200].user) == (512, 60, "bob")
    assert second[100].sm_util is None  # no sample of pid 100 since the last tick

    h100.compute, h100.graphics = {200: None}, {}
    third = rig.tick().processes
    assert [(p.pid, p.mem_mib, p.sm_util) for p in third] == [(200, None, None)]  # NotFound

    h100.compute = {300: 64 * MIB}  # not in our /proc: exited, or no `pid: host`
    with caplog.at_level(logging.WARNING, logger="test.nvml"):
        gone = [rig.tick().processes[0] for _ in range(2)]
    assert all((p.pid, p.user, p.command, p.started) == (300, None, None, 0) for p in gone)
    assert sum("pid: host" in r.getMessage() for r in caplog.records) == 1


def test_process_utilization_not_supported_gives_none(rig):
    rig.fake.gpus[1].unsupported = {"nvmlDeviceGetProcessUtilization"}
    rig.fake.gpus[1].compute = {100: 10 * MIB}
    assert [(p.pid, p.mem_mib, p.sm_util) for p in rig.tick().processes] == [(100, 10, None)]


# -- a lost GPU ---------------------------------------------------------------------------


def test_lost_gpu_is_reported_once_reprobed_and_comes_back(rig, caplog):
    a100 = rig.fake.gpus[1]
    assert len(rig.tick().samples) == 3
    a100.error = real.NVMLError_GpuIsLost
    with caplog.at_level(logging.WARNING, logger="test.nvml"):
        lost_tick = rig.tick()
        later = [rig.tick() for _ in range(11)]  # 55 s: before the first re-probe
    assert [(info.uuid, reason) for info, reason in lost_tick.lost] == [("GPU-bbbb", "GPU is lost")]
    assert sorted(by_uuid(lost_tick)) == ["GPU-aaaa", "GPU-cccc"]
    assert all(r.lost == [] and sorted(by_uuid(r)) == ["GPU-aaaa", "GPU-cccc"] for r in later)
    assert rig.fake.calls["nvmlDeviceGetHandleByUUID"] == 0
    assert sum("is lost" in r.getMessage() for r in caplog.records) == 1

    probe = rig.tick()  # 60 s after it was lost: one cheap probe, still lost, not re-reported
    assert probe.lost == [] and len(probe.samples) == 2
    assert rig.fake.calls["nvmlDeviceGetHandleByUUID"] == 1

    a100.error = None
    assert len(rig.tick().samples) == 2  # answers again, but the next probe is not due yet
    with caplog.at_level(logging.WARNING, logger="test.nvml"):
        back = [rig.tick(dt=55.0), rig.tick()]
    assert [len(r.samples) for r in back] == [3, 3]
    assert sum("answers again" in r.getMessage() for r in caplog.records) == 1

    a100.error = real.NVMLError_Unknown  # a new incident is a new report
    assert [(i.uuid, why) for i, why in rig.tick().lost] == [("GPU-bbbb", "Unknown Error")]


# -- whole-library failure ----------------------------------------------------------------


def test_driver_reload_backs_off_then_reinitializes_and_re_enumerates(rig, caplog):
    assert len(rig.tick().samples) == 3
    rig.fake.start_reload()
    rig.fake.gpus[2].present = False  # the T4 does not come back after the reload
    with caplog.at_level(logging.WARNING, logger="test.nvml"):
        assert rig.tick() == Reading()
    down_at = rig.t
    assert rig.fake.calls["nvmlShutdown"] == 1
    assert any("NVML failed (Uninitialized)" in r.getMessage() for r in caplog.records)

    attempts = []
    while rig.t < down_at + 190:
        inits = rig.fake.calls["nvmlInit"]
        assert rig.tick(dt=0.5) == Reading()  # nothing, and no exception, while down
        if rig.fake.calls["nvmlInit"] > inits:
            attempts.append(rig.t - down_at)
    assert attempts == [1, 3, 7, 15, 31, 63, 123, 183]  # 1 s doubling, capped at 60 s

    rig.fake.finish_reload()
    with caplog.at_level(logging.WARNING, logger="test.nvml"):
        while (reading := rig.tick(dt=0.5)) == Reading():
            pass
    assert rig.t - down_at == 243
    assert sorted(by_uuid(reading)) == ["GPU-aaaa", "GPU-bbbb"]  # fresh handles after re-init
    assert [(i.uuid, why) for i, why in reading.lost] == [
        ("GPU-cccc", "not found after NVML re-initialization")
    ]
    assert rig.fake.calls["nvmlDeviceGetCount"] == 2
    assert any("re-initialized; 2 GPUs" in r.getMessage() for r in caplog.records)
    assert rig.tick().lost == []

    rig.fake.start_reload()  # a second failure starts the backoff from 1 s again
    rig.tick()
    inits = rig.fake.calls["nvmlInit"]
    rig.tick(dt=1.0)
    assert rig.fake.calls["nvmlInit"] == inits + 1
