"""NvmlBackend through the REAL pynvml over the C stand-in of libnvidia-ml (driver 535).

Each test names the real-driver behaviour it guards against. Activity is checked on single
long ticks over the stand-in's sample buffer (which holds 20 s of history), so no test
waits for real time to pass; the backend's own clock (re-probes, re-checks) is injected.
"""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import replace

import pytest

from sampling.backend import BackendFailed, BackendUnavailable, Reading
from sampling.nvml import NvmlBackend
from sampling.nvml.device import MIG_PARENT_NOTE
from sampling.procinfo import ProcInfo
from tests.support import nvml as standin
from tests.support.nvml import Gpu, Process, Scenario, gpu_uuid, mig_uuid
from tests.support.procfs import PASSWD, TCK, write_proc


class Rig:
    """A backend over the stand-in: `t` is its monotonic clock, readings use real time."""

    def __init__(self, tmp_path, scenario: Scenario, **kw) -> None:
        self.t = 0.0
        self.path = tmp_path / "scenario.ini"
        standin.load_in_process(scenario.write(self.path))
        import pynvml

        root = tmp_path / "proc"
        root.mkdir(exist_ok=True)
        (tmp_path / "passwd").write_text(PASSWD)
        for pid, uid in ((1001, 1000), (1002, 1001), (3100, 1000), (4242, 1000)):
            write_proc(root, pid, uid=uid, cmdline=b"python\0train.py\0", start_ticks=4200)
        self.backend = NvmlBackend(
            pynvml,
            ProcInfo(root, tmp_path / "passwd", clk_tck=TCK),
            clock=lambda: self.t,
            threshold=1.0,
            log=logging.getLogger("test.nvml"),
            **kw,
        )

    def rewrite(self, scenario: Scenario) -> None:
        """Change what the driver answers, without a re-init (the stand-in re-reads it)."""
        scenario.write(self.path)

    def tick(self, dt: float = 5.0, advance: float | None = None) -> Reading:
        """A tick covering the `dt` seconds before now; the backend's clock moves on."""
        self.t += dt if advance is None else advance
        return self.backend.sample(time.time(), dt)


@pytest.fixture
def rig(tmp_path, nvml_standin, monkeypatch):
    rigs = []
    monkeypatch.setenv(standin.SCENARIO_ENV, "")

    def make(scenario: Scenario, **kw) -> Rig:
        rigs.append(Rig(tmp_path, scenario, **kw))
        return rigs[-1]

    yield make
    import pynvml

    for r in rigs:
        r.backend.close()
    # A backend that met a version mismatch could not shut down (the driver refused): end
    # the session it left, so later tests start from an uninitialized library.
    with contextlib.suppress(pynvml.NVMLError):
        while True:
            pynvml.nvmlShutdown()


def by_uuid(reading: Reading) -> dict:
    return {s.gpu.uuid: s for s in reading.samples}


def states(reading: Reading) -> dict:
    return {s.gpu.uuid: s for s in reading.states}


# -- enumeration and fields ---------------------------------------------------------------


def test_gpus_are_enumerated_with_their_description_and_host_facts(rig):
    r = rig(Scenario(gpus=[Gpu(uuid=gpu_uuid(0)), Gpu(uuid=gpu_uuid(1), name="NVIDIA H100")]))
    infos = [gpu.info for gpu in r.backend.gpus.values()]
    assert [(i.uuid, i.index, i.name) for i in infos] == [
        (gpu_uuid(0), 0, "NVIDIA A100-SXM4-80GB"),
        (gpu_uuid(1), 1, "NVIDIA H100"),
    ]
    assert [i.pci_bus_id for i in infos] == ["00000000:17:00.0", "00000000:18:00.0"]
    assert [i.memory_total_mib for i in infos] == [81920, 81920]
    facts = dict(r.tick().meta)
    assert facts["driver_version"] == "535.183.01" and facts["cuda_driver_version"] == "12.2"
    assert facts["nvml_binding_version"].count(".") == 2
    assert r.tick().meta == []  # remembered once, not every tick


def test_readings_are_converted_to_stored_units(rig):
    gpu = Gpu(
        uuid=gpu_uuid(0),
        busy_util=87,
        mem_util=41,
        memory_used_mib=30_000,
        temp=71,
        fan=55,
        power_busy_mw=312_345,
        sm_mhz=1980,
        mem_mhz=2619,
        pstate=2,
        clocks_event_reasons=0x4,
        encoder_util=12,
        decoder_util=7,
    )
    s = by_uuid(rig(Scenario(gpus=[gpu])).tick())[gpu_uuid(0)]
    assert (s.util, s.mem_util, s.mem_used_mib, s.temp_c, s.fan_pct) == (87, 41, 30_000, 71, 55)
    assert s.power_w == pytest.approx(312.345)
    assert (s.sm_mhz, s.mem_mhz, s.pstate) == (1980, 2619, 2)
    assert (s.clocks_event, s.enc_util, s.dec_util) == (0x4, 12, 7)
    # The energy counter: base + the integral of 312.345 W since t0 = 0, in joules.
    expected = (1_000_000 + 312_345 * time.time()) / 1000  # mW x s = mJ
    assert s.energy_j == pytest.approx(expected, rel=1e-6)


def test_memory_used_excludes_what_the_driver_reserves(rig):
    """R510+: v1 `used` includes reserved memory; nvidia-smi's memory.used does not."""
    r = rig(standin.reserved_memory())
    reading = r.tick()
    assert by_uuid(reading)[gpu_uuid(0)].mem_used_mib == 1024  # v1 would say 1486
    assert states(reading)[gpu_uuid(0)].mem_reserved_mib == 462


def test_slow_readings_come_in_the_state_once_a_minute(rig):
    gpu = Gpu(
        uuid=gpu_uuid(0),
        power_limit_mw=275_000,
        ecc_uncorrected_volatile=3,
        remapped_rows_uncorrectable=2,
        pcie_tx_kbs=1200,
        pcie_rx_kbs=800,
    )
    r = rig(Scenario(gpus=[gpu]))
    st = states(r.tick())[gpu_uuid(0)]
    assert (st.power_limit_w, st.ecc_uncorrected, st.remapped_rows) == (275.0, 3, 2)
    assert (st.pcie_tx_kbs, st.pcie_rx_kbs, st.retired_pages) == (1200, 800, None)  # Ampere
    assert st.activity == "buffer" and st.note is None
    r.rewrite(Scenario(gpus=[replace(gpu, pcie_tx_kbs=5000)]))
    assert states(r.tick())[gpu_uuid(0)].pcie_tx_kbs == 1200  # not re-read within a minute
    assert states(r.tick(advance=60))[gpu_uuid(0)].pcie_tx_kbs == 5000


# -- faults of one reading ----------------------------------------------------------------


def test_a_fan_answering_unknown_keeps_the_gpu_and_its_other_readings(rig, caplog):
    """Consumer cards answer NVML_ERROR_UNKNOWN for the fan alone (nvidia-smi: [Unknown Error])."""
    r = rig(standin.consumer_gpu_fan_unknown())
    with caplog.at_level(logging.WARNING, logger="test.nvml"):
        readings = [r.tick() for _ in range(3)]
    for reading in readings:
        assert reading.lost == []
        s = by_uuid(reading)[gpu_uuid(0)]
        assert s.fan_pct is None and s.temp_c == 40 and s.power_w is not None
    assert sum("fan: Unknown Error" in rec.getMessage() for rec in caplog.records) == 1
    assert "fan" in r.backend.gpus[gpu_uuid(0)].failed


def test_not_supported_is_remembered_and_asked_again_hourly(rig):
    """A permission change or a new driver setting must not need a collector restart."""
    r = rig(standin.datacenter_gpu())  # fan: NOT_SUPPORTED
    assert by_uuid(r.tick())[gpu_uuid(0)].fan_pct is None
    assert "fan" in r.backend.gpus[gpu_uuid(0)].unsupported
    r.rewrite(replace(standin.datacenter_gpu(), gpus=[Gpu(uuid=gpu_uuid(0), fan=44)]))
    assert by_uuid(r.tick())[gpu_uuid(0)].fan_pct is None  # not asked again yet
    assert by_uuid(r.tick(advance=3600))[gpu_uuid(0)].fan_pct == 44
    assert "fan" not in r.backend.gpus[gpu_uuid(0)].unsupported


def test_a_name_that_is_not_utf8_is_kept_with_a_replacement_character(rig):
    r = rig(Scenario(gpus=[Gpu(uuid=gpu_uuid(0), name=b"NVIDIA \xff RTX")]))
    assert r.backend.gpus[gpu_uuid(0)].info.name == "NVIDIA \ufffd RTX"
    assert len(r.tick().samples) == 1


def test_init_failure_is_one_line_saying_what_to_check(tmp_path, nvml_standin, monkeypatch):
    import pynvml

    monkeypatch.setenv(standin.SCENARIO_ENV, "")
    for code, reason in ((9, "Driver Not Loaded"), (18, "RM has detected an NVML/RM version")):
        path = Scenario(gpus=[Gpu(uuid=gpu_uuid(0))], init_error=code).write(tmp_path / f"{code}")
        standin.load_in_process(path)
        with pytest.raises(BackendUnavailable) as caught:
            NvmlBackend(pynvml, ProcInfo(tmp_path, tmp_path / "passwd"), threshold=1.0)
        msg = str(caught.value)
        assert "\n" not in msg and msg.startswith(f"NVML could not start ({reason}")
        for hint in ("NVIDIA driver", "--gpus all", "device reservation", "pid: host"):
            assert hint in msg


# -- activity -----------------------------------------------------------------------------


def test_a_two_on_two_off_load_reads_half_active(rig):
    r = rig(standin.duty_cycle(2, 2))
    active = by_uuid(r.tick(dt=20))[gpu_uuid(0)].active_s
    assert active == pytest.approx(10, abs=1)  # 50 +- 5 % of the 20 s the buffer holds


def test_monotonic_sample_timestamps_are_converted(rig):
    scenario = standin.duty_cycle(2, 2)
    scenario.gpus[0].timestamp_base = "monotonic"
    r = rig(scenario)
    assert by_uuid(r.tick(dt=20))[gpu_uuid(0)].active_s == pytest.approx(10, abs=1)
    assert r.backend.gpus[gpu_uuid(0)].buffer.base == "monotonic"


def test_a_quiet_buffer_does_not_credit_idle_gaps_to_the_next_burst(rig):
    """An idle GPU emits no samples: 1 s busy every 5 s must not read as 100 %."""
    r = rig(standin.quiet_buffer())
    active = by_uuid(r.tick(dt=20))[gpu_uuid(0)].active_s
    # 4 bursts of 1 s in the 20 s; each touches 8 sample windows of 1/6 s (the partly busy
    # ones at both ends count, as any window above the threshold does), and the first may
    # stand for one window more: at most 4 x 1.5 s; the window's edges may cut a burst's
    # first or last sample window short. Crediting the quiet gaps would read 20 s.
    assert 3.5 <= active <= 6.0


def test_a_buffer_shorter_than_the_tick_is_estimated_and_warned_about(rig, caplog):
    always_busy = Scenario(gpus=[Gpu(uuid=gpu_uuid(0), buffer_depth=10)])  # 1.7 s of history
    r = rig(always_busy)
    with caplog.at_level(logging.WARNING, logger="test.nvml"):
        r.tick(dt=2)
        time.sleep(2.0)
        active = by_uuid(r.tick(dt=2.0))[gpu_uuid(0)].active_s
    assert active == pytest.approx(2.0, abs=0.05)  # not the 1.7 s the buffer still held
    assert any("sample buffer holds 1.7 s" in rec.getMessage() for rec in caplog.records)


def test_active_time_never_exceeds_the_tick(rig):
    r = rig(Scenario(gpus=[Gpu(uuid=gpu_uuid(0))]))  # always busy
    for dt in (0.5, 3.0, 20.0):
        assert by_uuid(r.tick(dt=dt))[gpu_uuid(0)].active_s <= dt


# -- processes ----------------------------------------------------------------------------


def test_an_idle_holder_gets_zero_sm_beside_a_busy_process(rig):
    """NVML samples only processes that used the GPU; the notebook holding 30 GiB did not."""
    r = rig(standin.idle_beside_busy())
    procs = {p.pid: p for p in r.tick(dt=10).processes}
    assert procs[1001].sm_util == 90 and procs[1001].user == "alice"
    assert procs[1002].sm_util == 0 and procs[1002].mem_mib == 30720
    assert procs[1002].user == "bob"


def test_garbage_sm_values_are_not_taken_for_percentages(rig):
    gpu = Gpu(uuid=gpu_uuid(0), processes=[Process(4242, sm="garbage"), Process(1001, sm="60")])
    procs = {p.pid: p.sm_util for p in rig(Scenario(gpus=[gpu])).tick(dt=10).processes}
    assert procs == {4242: 0, 1001: 60}
    alone = Gpu(uuid=gpu_uuid(0), processes=[Process(4242, sm="garbage")])
    assert [p.sm_util for p in rig(Scenario(gpus=[alone])).tick().processes] == [None]


def test_process_sm_is_the_mean_over_the_tick_not_the_newest_sample(rig):
    # Busy 1.5 s of every 3 s: the 1 s windows read 100, 50, 0 (left out by NVML), ...
    gpu = Gpu(uuid=gpu_uuid(0), busy_s=1.5, idle_s=1.5, processes=[Process(1001)])
    procs = rig(Scenario(gpus=[gpu])).tick(dt=18).processes
    assert 45 <= procs[0].sm_util <= 55  # the newest sample alone reads 0, 50 or 100


def test_processes_in_both_lists_are_one_process(rig):
    gpu = Gpu(uuid=gpu_uuid(0), processes=[Process(1001, memory_mib=512, kind="both")])
    procs = rig(Scenario(gpus=[gpu])).tick().processes
    assert [(p.pid, p.mem_mib) for p in procs] == [(1001, 512)]


# -- MIG ----------------------------------------------------------------------------------


def test_mig_devices_are_gpus_of_their_own_and_a_busy_one_is_not_idle(rig):
    r = rig(standin.mig_two_devices())
    reading = r.tick()
    samples, st = by_uuid(reading), states(reading)
    first, second = samples[mig_uuid(1)], samples[mig_uuid(2)]
    assert (first.gpu.index, second.gpu.index) == (100, 101)
    assert (first.gpu.parent_uuid, first.gpu.mig_profile) == (gpu_uuid(0), "3g.40gb")
    assert (second.gpu.mig_profile, second.gpu.memory_total_mib) == ("1g.10gb", 9728)
    assert (first.gpu.gpu_instance, second.gpu.gpu_instance) == (1, 9)  # the driver's GI ids
    assert [(p.gpu_uuid, p.pid, p.user) for p in reading.processes] == [
        (mig_uuid(1), 3100, "alice")
    ]
    assert first.active_s == 5.0 and first.util is None  # a process runs: active, util unknown
    assert second.active_s == 0.0
    assert st[mig_uuid(1)].activity == "processes" and "MIG" in st[mig_uuid(1)].note
    parent = samples[gpu_uuid(0)]
    assert parent.util is None and parent.active_s is None and parent.temp_c == 40
    assert st[gpu_uuid(0)].activity is None and st[gpu_uuid(0)].note == MIG_PARENT_NOTE


def test_hopper_mig_activity_comes_from_gpm(rig):
    r = rig(standin.hopper_mig())
    r.tick(dt=0.5)
    time.sleep(0.6)
    reading = r.tick(dt=0.6)
    busy, idle = by_uuid(reading)[mig_uuid(11)], by_uuid(reading)[mig_uuid(12)]
    assert states(reading)[mig_uuid(11)].activity == "gpm"
    assert busy.util == pytest.approx(40, abs=15)  # 80 % while busy, busy half the time
    assert busy.active_s == pytest.approx(0.6 * busy.util / 100, abs=0.01)
    # No process runs on the other one, but GPM sees its engines busy: GPM decides.
    assert idle.active_s == pytest.approx(0.6, abs=0.05)


def test_a_mig_toggle_is_noticed_at_the_hourly_recheck(rig):
    plain = Scenario(gpus=[Gpu(uuid=gpu_uuid(0))])
    r = rig(plain)
    assert list(by_uuid(r.tick())) == [gpu_uuid(0)]
    r.rewrite(standin.mig_two_devices())
    assert list(by_uuid(r.tick())) == [gpu_uuid(0)]
    assert sorted(by_uuid(r.tick(advance=3600))) == [gpu_uuid(0), mig_uuid(1), mig_uuid(2)]


# -- a lost GPU ---------------------------------------------------------------------------


def test_a_lost_gpu_is_reported_once_reprobed_and_comes_back(rig, caplog):
    healthy = standin.lost_mid_run(after_s=0)
    r = rig(healthy)
    assert len(r.tick().samples) == 2
    r.rewrite(standin.lost_mid_run(after_s=0.001))
    with caplog.at_level(logging.WARNING, logger="test.nvml"):
        lost_tick = r.tick()
        later = [r.tick() for _ in range(11)]  # 55 s: before the first re-probe
    assert [(i.uuid, why) for i, why in lost_tick.lost] == [(gpu_uuid(1), "GPU is lost")]
    assert list(by_uuid(lost_tick)) == [gpu_uuid(0)]
    assert all(x.lost == [] and list(by_uuid(x)) == [gpu_uuid(0)] for x in later)
    assert sum("is lost" in rec.getMessage() for rec in caplog.records) == 1
    r.rewrite(healthy)
    with caplog.at_level(logging.WARNING, logger="test.nvml"):
        assert len(r.tick().samples) == 2  # the 60 s re-probe finds it back
        assert len(r.tick().samples) == 2
    assert sum("answers again" in rec.getMessage() for rec in caplog.records) == 1


def test_a_failing_uuid_takes_the_gpu_down_but_a_failing_field_does_not(rig):
    r = rig(Scenario(gpus=[Gpu(uuid=gpu_uuid(0), fail={"nvmlDeviceGetPowerUsage": 999})]))
    assert r.tick().lost == []
    r.rewrite(Scenario(gpus=[Gpu(uuid=gpu_uuid(0), fail={"nvmlDeviceGetUUID": 999})]))
    assert [(i.uuid, why) for i, why in r.tick().lost] == [(gpu_uuid(0), "Unknown Error")]


# -- whole-library failure ----------------------------------------------------------------


def test_a_lasting_version_mismatch_ends_the_backend_after_the_grace(rig, caplog):
    """A driver upgraded without a reboot: only a fresh process loads the new library."""
    r = rig(Scenario(gpus=[Gpu(uuid=gpu_uuid(0))]), mismatch_exit_s=120)
    r.rewrite(standin.mismatch(after_s=0.001))  # timed from the first init: at once
    with caplog.at_level(logging.WARNING, logger="test.nvml"):
        assert r.tick().samples == []
    assert any("version mismatch" in rec.getMessage() for rec in caplog.records)
    for _ in range(20):  # 100 s of ticks: re-inits keep failing, nothing raised yet
        assert r.tick() == Reading()
    with pytest.raises(BackendFailed, match=r"different versions for 1[23]0 s"):
        for _ in range(10):
            r.tick()


def test_the_library_backs_off_then_reinitializes_and_re_enumerates(rig, caplog):
    two = standin.lost_mid_run(after_s=0)
    r = rig(two)
    assert len(r.tick().samples) == 2
    r.rewrite(standin.mismatch(after_s=0.001))  # every call fails until the driver is back
    assert r.tick() == Reading()
    down_at = r.t
    attempts = []
    with caplog.at_level(logging.WARNING, logger="test.nvml"):
        while r.t < down_at + 190:
            before = len(caplog.records)
            assert r.tick(dt=0.5) == Reading()  # nothing, and no exception, while down
            tried = caplog.records[before:]
            if any("re-initialization failed" in rec.getMessage() for rec in tried):
                attempts.append(r.t - down_at)
    assert attempts == [1, 3, 7, 15, 31, 63, 123, 183]  # 1 s doubling, capped at 60 s
    one = Scenario(gpus=[Gpu(uuid=gpu_uuid(0))])  # after the reload only GPU 0 is there
    r.rewrite(one)
    with caplog.at_level(logging.WARNING, logger="test.nvml"):
        while (reading := r.tick(dt=0.5)) == Reading():
            pass
    assert list(by_uuid(reading)) == [gpu_uuid(0)]
    assert [(i.uuid, why) for i, why in reading.lost] == [
        (gpu_uuid(1), "not found after NVML re-initialization")
    ]
    assert any("re-initialized; 1 GPUs" in rec.getMessage() for rec in caplog.records)


def test_one_session_and_shutdown_on_close(rig):
    r = rig(Scenario(gpus=[Gpu(uuid=gpu_uuid(0))]))
    for _ in range(5):
        assert len(r.tick().samples) == 1
    r.backend.close()
    r.backend.close()
    r.t += 1000
    assert r.backend.sample(time.time(), 5.0) == Reading()  # a closed backend stays closed


def test_mig_devices_are_numbered_from_their_parent():
    from sampling.nvml.mig import mig_index, profile_of

    assert [mig_index(0, 0), mig_index(0, 6), mig_index(3, 1)] == [100, 106, 401]
    assert profile_of("NVIDIA A100-SXM4-80GB MIG 1g.10gb") == "1g.10gb"
    assert profile_of("NVIDIA A100-SXM4-80GB") is None


def test_xid_errors_are_counted_and_logged(rig, caplog):
    r = rig(Scenario(gpus=[Gpu(uuid=gpu_uuid(0)), Gpu(uuid=gpu_uuid(1), xid=79)]))
    with caplog.at_level(logging.ERROR, logger="test.nvml"):
        first = states(r.tick())
        second = states(r.tick())
    assert (first[gpu_uuid(1)].xid_count, first[gpu_uuid(1)].xid_last) == (1, 79)
    assert second[gpu_uuid(1)].xid_count == 1  # one event, counted once
    assert first[gpu_uuid(0)].xid_count == 0  # watched, none seen: 0, not "not supported"
    assert sum("reported Xid 79" in rec.getMessage() for rec in caplog.records) == 1


# -- faults found in review: each would lose or corrupt readings on a real host -----------


def test_a_gpu_lost_at_the_layout_check_does_not_cost_the_others_their_tick(rig):
    r = rig(standin.lost_mid_run(after_s=0))
    r.tick()
    r.rewrite(standin.lost_mid_run(after_s=0.001))
    reading = r.tick(advance=3600)  # the hourly MIG-mode check is due for both GPUs
    assert list(by_uuid(reading)) == [gpu_uuid(0)]
    assert [i.uuid for i, _ in reading.lost] == [gpu_uuid(1)]


def test_a_mig_mode_query_failing_at_start_does_not_stop_the_backend(rig):
    gpus = [Gpu(uuid=gpu_uuid(0)), Gpu(uuid=gpu_uuid(1), fail={"nvmlDeviceGetMigMode": 999})]
    r = rig(Scenario(gpus=gpus))
    assert sorted(by_uuid(r.tick())) == [gpu_uuid(0), gpu_uuid(1)]


def test_a_gpu_that_did_not_answer_at_start_is_asked_again(rig):
    broken = Gpu(uuid=gpu_uuid(1), fail={"nvmlDeviceGetHandleByIndex_v2": 999})
    r = rig(Scenario(gpus=[Gpu(uuid=gpu_uuid(0)), broken]))
    assert list(by_uuid(r.tick())) == [gpu_uuid(0)]
    r.rewrite(Scenario(gpus=[Gpu(uuid=gpu_uuid(0)), Gpu(uuid=gpu_uuid(1))]))
    assert list(by_uuid(r.tick())) == [gpu_uuid(0)]  # not asked again yet
    assert sorted(by_uuid(r.tick(advance=60))) == [gpu_uuid(0), gpu_uuid(1)]


def test_samples_read_after_the_tick_end_count_in_the_next_tick(rig):
    """The loop's `now` is taken before the GPUs are read; nothing falls between ticks."""
    r = rig(Scenario(gpus=[Gpu(uuid=gpu_uuid(0))]))  # always busy
    r.backend.sample(time.time() - 0.3, 1.0)
    time.sleep(1.0)
    active = r.backend.sample(time.time() - 0.3, 1.0).samples[0].active_s
    assert active == pytest.approx(1.0, abs=0.05)


def test_one_lost_mig_device_is_only_that_device(rig):
    scenario = standin.mig_two_devices()
    r = rig(scenario)
    r.tick()
    child = r.backend.gpus[gpu_uuid(0)].children[1]
    lost = pynvml_error(15)

    def memory(handle):
        raise lost

    real_memory = r.backend.calls.memory
    r.backend.calls.memory = lambda h: memory(h) if h is child.handle else real_memory(h)
    reading = r.tick()
    assert [i.uuid for i, _ in reading.lost] == [mig_uuid(2)]
    assert {gpu_uuid(0), mig_uuid(1)} <= set(by_uuid(reading))
    assert [p.pid for p in reading.processes] == [3100]  # the busy MIG device's job is kept


def pynvml_error(code: int) -> Exception:
    import pynvml

    return pynvml.NVMLError(code)


def test_gpm_is_not_counted_twice_for_compute_instances_sharing_one_gpu_instance(rig):
    scenario = standin.hopper_mig()
    busy, idle = scenario.gpus[0].migs
    scenario.gpus[0].migs = [busy, replace(idle, gi=busy.gi, ci=1)]  # one GI, two CIs
    r = rig(scenario)
    r.tick(dt=0.5)
    time.sleep(0.6)
    reading = r.tick(dt=0.6)
    st = states(reading)
    assert st[mig_uuid(11)].activity == st[mig_uuid(12)].activity == "processes"
    assert by_uuid(reading)[mig_uuid(12)].active_s == 0.0  # no process there


def test_the_layout_check_keeps_gpm_meters(rig):
    r = rig(standin.hopper_mig())
    r.tick(dt=0.5)
    time.sleep(0.6)
    r.tick(dt=0.6)
    time.sleep(0.6)
    reading = r.tick(dt=0.6, advance=3600)
    assert states(reading)[mig_uuid(11)].activity == "gpm"


def test_a_mig_device_created_between_ticks_is_seen_at_once(rig):
    scenario = standin.mig_two_devices()
    first = replace(scenario, gpus=[replace(scenario.gpus[0], migs=scenario.gpus[0].migs[:1])])
    r = rig(first)
    assert sorted(by_uuid(r.tick())) == [gpu_uuid(0), mig_uuid(1)]
    r.rewrite(scenario)
    assert sorted(by_uuid(r.tick())) == [gpu_uuid(0), mig_uuid(1), mig_uuid(2)]


def test_one_window_of_use_in_a_long_tick_reads_its_share(rig):
    # Busy 1 s of every 5 s: one 1 s process window with use per 5 s tick -> 20 %, not 100 %.
    gpu = Gpu(uuid=gpu_uuid(0), busy_s=1, idle_s=4, processes=[Process(1001)])
    procs = rig(Scenario(gpus=[gpu])).tick(dt=20).processes
    assert 15 <= procs[0].sm_util <= 25
