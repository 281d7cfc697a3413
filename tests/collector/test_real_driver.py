"""The `collector` command end to end, over the stand-in driver of each era, into SQLite.

Each run is a real process: the pinned nvidia-ml-py loads the stand-in through
LD_LIBRARY_PATH (as it would load NVIDIA's library), samples in real time, and writes a
real database that the assertions then read. What is asserted is what the product promises
(time covered, shares, values stored), never scheduling luck.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from store import open_db
from store.usage import user_seconds_between
from tests.support import nvml as standin
from tests.support.commands import python_m
from tests.support.nvml import Gpu, Process, Scenario, gpu_uuid, mig_uuid
from tests.support.procfs import PASSWD, write_proc

ROOT = Path(__file__).resolve().parents[2]
DRIVERS = {"418": "418.226.00", "470": "470.256.02", "535": "535.183.01", "999": "999.0.0"}
pytestmark = pytest.mark.slow


@pytest.fixture
def host(tmp_path):
    """A fake /proc with alice's and bob's processes and the passwd naming them."""
    root = tmp_path / "proc"
    root.mkdir()
    (tmp_path / "passwd").write_text(PASSWD)
    for pid, uid in (
        (1001, 1000),
        (1002, 1001),
        (1400, 1000),
        (2100, 1001),
        (3100, 1000),
        (4242, 1000),
        (7000, 1001),
    ):
        write_proc(root, pid, uid=uid, cmdline=b"python\0train.py\0", start_ticks=4200 + pid)
    return tmp_path


def collector_env(host: Path, scenario: Scenario, variant: str = "535", **extra) -> dict:
    """The environment of a collector that sees the stand-in as its NVIDIA driver."""
    path = scenario.write(host / f"scenario-{variant}-{time.monotonic_ns()}.ini")
    env = standin.env(path, variant)
    env.update(GPUPULSE_PROC=str(host / "proc"), GPUPULSE_PASSWD=str(host / "passwd"))
    env.update({k: str(v) for k, v in extra.items()})
    env.pop("GPUPULSE_DB", None)
    return env


def collector(*args: str, env: dict, timeout: float = 60) -> subprocess.CompletedProcess:
    """Run `collector ARGS` to completion."""
    cmd = python_m("collector", *args)
    return subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def run_for(seconds: float, db: Path, env: dict, interval: float = 1) -> str:
    """Run the collector loop for `seconds`, stop it with SIGTERM, return its log."""
    cmd = python_m("collector", "--backend", "nvml", "--db", str(db), "--interval", str(interval))
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stderr=subprocess.PIPE, text=True)
    time.sleep(seconds)
    proc.send_signal(signal.SIGTERM)
    _, log = proc.communicate(timeout=30)
    assert proc.returncode == 0, log
    return log


def rows(db: Path, sql: str, *params) -> list[tuple]:
    conn = open_db(db)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


@pytest.mark.parametrize("variant", standin.VARIANTS)
def test_dry_run_lists_processes_on_every_driver_era(host, variant):
    """R418/R470 lack the _v3 process lists the binding calls: nothing was recorded there."""
    result = collector(
        "--dry-run", "--ticks", "1", env=collector_env(host, standin.reserved_memory(), variant)
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert "pid 7000 user bob workload n/a mem 1024 MiB" in result.stdout
    # Before R510 the driver cannot tell reserved memory apart: used includes it.
    used = "1486/24576" if variant in ("418", "470") else "1024/24576"
    assert f"mem {used} MiB" in result.stdout
    assert f"  driver version: {DRIVERS[variant]}" in result.stdout.splitlines()


def test_an_old_driver_records_samples_and_processes(host, tmp_path):
    db = tmp_path / "r470.db"
    run_for(4, db, collector_env(host, standin.idle_beside_busy(), "470"))
    samples = rows(db, "SELECT count(*), total(active_ms) FROM samples")[0]
    procs = rows(
        db,
        "SELECT count(DISTINCT p.pid) FROM process_samples ps "
        "JOIN processes p ON p.id = ps.process",
    )[0][0]
    assert samples[0] >= 2 and samples[1] > 0
    assert procs == 2
    assert rows(db, "SELECT value FROM meta WHERE key = 'driver_version'") == [("470.256.02",)]


def test_memory_stored_is_what_nvidia_smi_calls_used(host, tmp_path):
    db = tmp_path / "mem.db"
    run_for(2.5, db, collector_env(host, standin.reserved_memory()))
    assert {r[0] for r in rows(db, "SELECT mem_used_mib FROM samples")} == {1024}
    assert rows(db, "SELECT mem_reserved_mib, activity FROM gpu_state") == [(462, "buffer")]


def busy_between(a: float, b: float, busy_s: float = 2, period_s: float = 4) -> float:
    """Busy seconds of the stand-in's duty cycle (t0 = 0) in (a, b]."""

    def upto(x: float) -> float:
        k = x // period_s
        return k * busy_s + min(x - k * period_s, busy_s)

    return upto(b) - upto(a)


def test_a_two_on_two_off_load_reads_half_active_in_the_database(host, tmp_path):
    db = tmp_path / "duty.db"
    run_for(12, db, collector_env(host, standin.duty_cycle(2, 2)))
    ticks = rows(db, "SELECT ts, tick_ms, active_ms FROM samples ORDER BY ts")
    active = sum(a for _, _, a in ticks) / 1000
    covered = sum(t for _, t, _ in ticks) / 1000
    assert covered >= 6  # whatever the scheduling, several cycles were covered
    # A tick stored at second ts ended in [ts, ts + 1): the truth lies in this range.
    start, end = ticks[0][0] - ticks[0][1] / 1000, ticks[-1][0]
    truths = [busy_between(start + d, end + d) for d in (0, 0.25, 0.5, 0.75, 1)]
    assert min(truths) - 0.1 * covered <= active <= max(truths) + 0.1 * covered
    assert 0.35 <= active / covered <= 0.65  # about half, as 2 s on / 2 s off is


def test_an_idle_holder_gets_about_none_of_the_gpus_time(host, tmp_path):
    db = tmp_path / "share.db"
    run_for(5, db, collector_env(host, standin.idle_beside_busy()))
    conn = open_db(db)
    users = user_seconds_between(conn, 0, 2**40, 1.0)
    conn.close()
    assert users["alice"] > 2.0  # the busy process's owner
    assert users.get("bob", 0.0) <= 0.05 * users["alice"]  # the notebook holding 30 GiB


def test_a_mig_device_with_a_busy_process_is_not_idle(host, tmp_path):
    db = tmp_path / "mig.db"
    run_for(3.5, db, collector_env(host, standin.mig_two_devices()))
    gpus = rows(db, "SELECT uuid, idx, parent_uuid, mig_profile FROM gpus ORDER BY idx")
    assert gpus == [
        (gpu_uuid(0), 0, None, None),
        (mig_uuid(1), 100, gpu_uuid(0), "3g.40gb"),
        (mig_uuid(2), 101, gpu_uuid(0), "1g.10gb"),
    ]
    share = "sum(s.active_ms) * 1.0 / sum(s.tick_ms)"  # NULL when no tick measured any
    by_gpu = dict(
        rows(
            db, f"SELECT g.uuid, {share} FROM samples s JOIN gpus g ON g.id = s.gpu GROUP BY g.uuid"
        )
    )
    assert by_gpu[mig_uuid(1)] == 1.0 and by_gpu[mig_uuid(2)] == 0.0
    assert by_gpu[gpu_uuid(0)] is None  # the parent: NULL, never 0
    notes = dict(rows(db, "SELECT g.uuid, st.note FROM gpu_state st JOIN gpus g ON g.id = st.gpu"))
    assert "MIG device" in notes[gpu_uuid(0)] and "process runs" in notes[mig_uuid(1)]
    owners = rows(
        db,
        "SELECT DISTINCT g.uuid, p.user FROM process_samples ps JOIN gpus g "
        "ON g.id = ps.gpu JOIN processes p ON p.id = ps.process",
    )
    assert owners == [(mig_uuid(1), "alice")]


def test_a_gpu_lost_mid_run_is_recorded_and_the_other_keeps_sampling(host, tmp_path):
    db = tmp_path / "lost.db"
    run_for(4, db, collector_env(host, standin.lost_mid_run(after_s=1.5)))
    lost = rows(
        db, "SELECT g.uuid FROM events e JOIN gpus g ON g.id = e.gpu WHERE e.kind = 'gpu_lost'"
    )
    assert lost == [(gpu_uuid(1),)]
    newest = dict(
        rows(
            db,
            "SELECT g.uuid, max(s.ts) FROM samples s JOIN gpus g ON g.id = s.gpu GROUP BY g.uuid",
        )
    )
    assert newest[gpu_uuid(0)] > newest[gpu_uuid(1)]


def test_a_lasting_version_mismatch_exits_with_one_line(host, tmp_path):
    env = collector_env(host, standin.mismatch(after_s=1.5), GPUPULSE_DRIVER_MISMATCH_EXIT=2)
    cmd = python_m(
        "collector", "--backend", "nvml", "--db", str(tmp_path / "m.db"), "--interval", "1"
    )
    done = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("collector: the NVIDIA driver and its NVML library have had")
    assert "Traceback" not in done.stderr
    assert rows(tmp_path / "m.db", "SELECT count(*) FROM samples")[0][0] >= 1


def test_doctor_says_what_this_driver_answers(host):
    result = collector("doctor", env=collector_env(host, standin.consumer_gpu_fan_unknown()))
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert any(line.startswith("ok    driver: ") and "535.183.01" in line for line in lines)
    assert "warn  GPU 0: fan: Unknown Error (stored as NULL; the rest is kept)" in lines
    assert any("sample buffer: one sample every 166.7 ms, 120 kept (20.0 s)" in x for x in lines)
    assert lines[-1] == "doctor: warn (0 failure(s), 1 warning(s))"

    mig = collector("doctor", env=collector_env(host, standin.mig_two_devices()))
    assert "(MIG mode on)" in mig.stdout and "activity from processes" in mig.stdout
    old = collector("doctor", env=collector_env(host, standin.datacenter_gpu(), "418"))
    assert "older than R510" in old.stdout


def test_doctor_without_a_driver_fails_with_what_to_do(host):
    env = dict(os.environ, LD_LIBRARY_PATH=str(host))  # no libnvidia-ml there
    result = collector("doctor", env=env)
    assert result.returncode == 1
    assert "fail  NVML: NVML could not start" in result.stdout
    # The same cause seen from Docker's side, with the fix.
    [docker] = [ln for ln in result.stdout.splitlines() if ln.startswith("note  Docker: ")]
    assert 'could not select device driver "nvidia" with capabilities: [[gpu]]' in docker
    assert "nvidia-ctk runtime configure --runtime=docker" in docker
    assert "cp .env.demo .env" in result.stdout
    assert result.stdout.splitlines()[-1].startswith("doctor: fail")


def test_every_gpu_answers_on_a_driver_without_the_deprecated_calls(host):
    """After CUDA 14 nvmlDeviceGetTemperature is gone; TemperatureV must take over."""
    gpu = Gpu(uuid=gpu_uuid(0), temp=63, clocks_event_reasons=0x20, processes=[Process(4242)])
    result = collector(
        "--dry-run", "--ticks", "1", env=collector_env(host, Scenario(gpus=[gpu]), "999")
    )
    assert result.returncode == 0, result.stderr
    assert "temp 63C" in result.stdout and "clocks-event 0x20" in result.stdout


@pytest.mark.parametrize("variant", ["418", "535"])
def test_xid_errors_are_counted_on_old_and_new_drivers(host, variant):
    """R418 has only the original nvmlEventSetWait; the binding calls _v2."""
    gpu = Gpu(uuid=gpu_uuid(0), xid=79, unsupported=["nvmlDeviceGetFanSpeed"])
    result = collector(
        "--dry-run", "--ticks", "1", env=collector_env(host, Scenario(gpus=[gpu]), variant)
    )
    assert result.returncode == 0, result.stderr
    assert " xid 1 " in result.stdout


def test_doctor_says_a_lost_gpus_mig_devices_are_lost_too(host):
    scenario = standin.hopper_mig()
    # Lost between doctor's two readings (a second apart), after its MIG devices were listed:
    # a GPU lost before anything listed them has no MIG devices to report.
    scenario.gpus[0].lost_after_s = 0.6
    result = collector("doctor", env=collector_env(host, scenario))
    assert "fail  GPU 0: lost: GPU is lost" in result.stdout
    assert "fail  GPU 100: lost: GPU is lost" in result.stdout
    assert result.returncode == 1
