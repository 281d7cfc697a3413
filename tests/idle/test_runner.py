"""The runner's decisions with real job processes, a fake backend and a fake clock."""

from __future__ import annotations

import os
import signal
import time

import pytest

from idle.config import ConfigError
from tests.support.idle.jobs import alive, group_entries, job_cmd, reports, wait_for


def one_job(report, *flags, gpus="ALL", extra="") -> str:
    return f"""
[defaults]
interval_seconds = 5

[gpu-all]
gpus = ALL
ignore_programs = nvidia-smi,nvtop

[process-batch]
cmd = {job_cmd(report, *flags)}
gpus = {gpus}
dir = {report.parent}
{extra}
"""


def test_job_starts_only_after_the_holdoff(harness, tmp_path):
    report = tmp_path / "report.jsonl"
    h = harness(one_job(report))
    h.tick_at(0)
    h.tick_at(59.9)
    assert h.running() == {}
    h.tick_at(60)
    assert list(h.running()) == ["batch"]
    info = wait_for(lambda: reports(report))[0]
    assert info["cuda"] == "0,1"
    assert info["order"] == "PCI_BUS_ID"
    assert info["marker"] == "from-runner-env"  # the full environment is passed on
    assert info["cwd"] == str(tmp_path)
    # Its own process group and session, led by the process the runner started.
    assert info["pgid"] == info["sid"] == h.running()["batch"] != os.getpgid(0)


def test_foreign_process_stops_job_within_the_tick_and_its_group_is_gone(harness, tmp_path):
    report = tmp_path / "report.jsonl"
    h = harness(one_job(report, "--child"))
    h.tick_at(0)
    h.tick_at(60)
    info = wait_for(lambda: reports(report))[0]
    pgid = h.running()["batch"]
    assert alive(info["child"]) and os.getpgid(info["child"]) == pgid

    h.backend.put(1, pid=999_999, command="python train.py")  # a person starts work
    began = time.monotonic()
    h.tick_at(65)  # the very next tick, i.e. within one interval
    assert h.running() == {}
    assert time.monotonic() - began < 0.5 + 1.0  # SIGTERM sufficed: well inside the grace
    with pytest.raises(ProcessLookupError):
        os.killpg(pgid, 0)
    assert group_entries(pgid) == []
    assert not alive(info["pid"]) and not alive(info["child"])


def test_restart_waits_for_the_holdoff_after_the_foreign_process_leaves(harness, tmp_path):
    report = tmp_path / "report.jsonl"
    h = harness(one_job(report))
    h.tick_at(60)
    assert h.running()
    h.backend.put(0, pid=999_999)
    h.tick_at(65)
    h.backend.clear()
    h.tick_at(70)
    h.tick_at(124.9)  # the GPU was last busy at 65
    assert h.running() == {}
    h.tick_at(125)
    assert list(h.running()) == ["batch"]


def test_sigkill_after_the_grace_when_sigterm_is_ignored(harness, tmp_path):
    report = tmp_path / "report.jsonl"
    h = harness(one_job(report, "--ignore-term"), grace=0.3)
    h.tick_at(60)
    info = wait_for(lambda: reports(report))[0]
    pgid = h.running()["batch"]
    h.backend.put(0, pid=999_999)
    began = time.monotonic()
    h.tick_at(65)
    assert time.monotonic() - began >= 0.3
    assert not alive(info["pid"])
    with pytest.raises(ProcessLookupError):
        os.killpg(pgid, 0)


def test_ignored_programs_and_own_processes_do_not_count(harness, tmp_path):
    report = tmp_path / "report.jsonl"
    h = harness(one_job(report))
    h.backend.put(0, pid=999_998, command="/usr/bin/nvidia-smi -q -l 1", user="root")
    h.backend.put(1, pid=999_997, command="nvtop")
    h.tick_at(0)
    h.tick_at(60)
    pgid = h.running()["batch"]
    info = wait_for(lambda: reports(report))[0]
    h.backend.put(0, pid=info["pid"], command="python job.py")  # the job itself on a GPU
    h.tick_at(65)
    assert h.running() == {"batch": pgid}
    h.backend.put(1, pid=999_996, command="/usr/bin/python3 train.py")
    h.tick_at(70)
    assert h.running() == {}


def test_own_helper_that_exits_while_nvml_is_read_is_not_foreign(harness, tmp_path):
    report = tmp_path / "report.jsonl"
    h = harness(one_job(report, "--child"))
    h.tick_at(60)
    helper = wait_for(lambda: reports(report))[0]["child"]

    def helper_finishes():
        os.kill(helper, signal.SIGKILL)
        wait_for(lambda: not alive(helper))

    h.backend.put(0, pid=helper, command="python helper.py")
    h.backend.during_sample = helper_finishes
    h.tick_at(65)
    assert list(h.running()) == ["batch"]


def test_ignore_programs_apply_only_to_their_gpus(harness, tmp_path):
    report = tmp_path / "report.jsonl"
    text = one_job(report).replace("gpus = ALL\nignore_programs", "gpus = 0\nignore_programs")
    h = harness(text)
    h.backend.put(1, pid=999_998, command="nvidia-smi")  # GPU 1 has no such exception
    h.tick_at(60)
    assert h.running() == {}


def test_per_gpu_sections_start_one_job_per_gpu_set(harness, tmp_path):
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    h = harness(
        f"""
[process-a]
cmd = {job_cmd(a)}
gpus = 0
[process-b]
cmd = {job_cmd(b)}
gpus = 1,2
""",
        gpus=3,
    )
    h.tick_at(60)
    assert set(h.running()) == {"a", "b"}
    assert wait_for(lambda: reports(a))[0]["cuda"] == "0"
    assert wait_for(lambda: reports(b))[0]["cuda"] == "1,2"
    h.backend.put(2, pid=999_999)
    h.tick_at(65)
    assert set(h.running()) == {"a"}  # only the job on the busy GPU stops


def test_overlapping_sections_never_share_a_gpu(harness, tmp_path):
    h = harness(f"""
[process-all]
cmd = {job_cmd(tmp_path / "all.jsonl")}
[process-zero]
cmd = {job_cmd(tmp_path / "zero.jsonl")}
gpus = 0
""")
    h.tick_at(60)
    assert set(h.running()) == {"all"}  # sections are tried in file order
    h.backend.put(1, pid=999_999)
    h.tick_at(65)
    assert set(h.running()) == {"zero"}  # GPU 0 stayed idle, so its own job takes it


def test_job_that_exits_by_itself_restarts_only_after_the_holdoff(harness, tmp_path):
    report = tmp_path / "report.jsonl"
    h = harness(one_job(report, "--exit", "3"))
    h.tick_at(60)
    job = h.runner.running()[0]
    wait_for(lambda: job.popen.poll() is not None)
    h.tick_at(65)
    assert h.running() == {}
    assert job.run.reason == "exited 3" and job.run.stopped == h.clock.wall()
    h.tick_at(124.9)
    assert h.running() == {}
    h.tick_at(125)
    assert list(h.running()) == ["batch"]
    wait_for(lambda: len(reports(report)) == 2)


def test_job_output_is_appended_to_its_log(harness, tmp_path):
    report, logfile = tmp_path / "report.jsonl", tmp_path / "job.log"
    logfile.write_text("earlier\n")
    h = harness(one_job(report, "--exit", "0", extra=f"log = {logfile}"))
    h.tick_at(60)
    wait_for(lambda: "job output line" in logfile.read_text())
    assert logfile.read_text().startswith("earlier\n")


def test_unreadable_gpu_processes_stop_jobs(harness, tmp_path):
    h = harness(one_job(tmp_path / "report.jsonl"))
    h.tick_at(60)
    pgid = h.running()["batch"]
    h.backend.fail = RuntimeError("NVML_ERROR_GPU_IS_LOST")
    h.tick_at(65)
    assert h.running() == {}
    assert group_entries(pgid) == []


def test_gpu_index_the_host_lacks_is_a_config_error_naming_the_line(harness, tmp_path):
    h = harness(one_job(tmp_path / "report.jsonl", gpus="0,7"))
    with pytest.raises(ConfigError, match=r"idle\.conf:11: \[process-batch\] gpus .*GPU 7"):
        h.tick_at(0)
