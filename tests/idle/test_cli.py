"""The real runner in its own process: SIGTERM/SIGINT stop its jobs and leave no children."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest

from idle import proctree
from store import open_db
from tests.support.commands import python_m
from tests.support.idle.jobs import alive, job_cmd, reports, wait_for

ROOT = Path(__file__).resolve().parents[2]


def descendants(pid: int) -> set[int]:
    """Live descendants of `pid`, from /proc."""
    procs = proctree.snapshot()
    found, stack = set(), [pid]
    while stack:
        parent = stack.pop()
        for p in procs.values():
            if p.ppid == parent and p.pid not in found and p.state != "Z":
                found.add(p.pid)
                stack.append(p.pid)
    return found


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_stop_signal_stops_jobs_and_leaves_no_child_processes(tmp_path, db_path, signum):
    report = tmp_path / "r.jsonl"
    conf = tmp_path / "idle.conf"
    conf.write_text(f"""
[defaults]
interval_seconds = 1
[process-a]
cmd = {job_cmd(report, "--child")}
gpus = 0
log = {tmp_path / "a.log"}
[process-b]
cmd = {job_cmd(report, "--child", "--ignore-term")}
gpus = 1
""")
    env = dict(
        os.environ, GPUPULSE_IDLE_HOLDOFF="0", GPUPULSE_IDLE_GRACE="0.5", GPUPULSE_DB=str(db_path)
    )
    runner = subprocess.Popen(
        python_m(
            "tests.support.idle.run_fake",
            "--config",
            str(conf),
            "--log",
            str(tmp_path / "runner.log"),
        ),
        cwd=ROOT,
        env=env,
    )
    try:
        jobs = wait_for(lambda: len(reports(report)) == 2 and reports(report), timeout=15)
        pids = {p for job in jobs for p in (job["pid"], job["child"])}
        assert all(alive(pid) for pid in pids)
        assert pids <= descendants(runner.pid)
        runner.send_signal(signum)
        assert runner.wait(timeout=15) == 0
    finally:
        if runner.poll() is None:
            runner.kill()
    assert not [pid for pid in pids if alive(pid)]
    assert descendants(runner.pid) == set()
    for job in jobs:
        with pytest.raises(ProcessLookupError):
            os.killpg(job["pgid"], 0)
    conn = open_db(db_path, write=True)
    reasons = conn.execute("SELECT job, reason FROM idle_runs ORDER BY job").fetchall()
    conn.close()
    name = signal.Signals(signum).name
    assert reasons == [("a", f"runner stopped ({name})"), ("b", f"runner stopped ({name})")]
    assert "job output line" in (tmp_path / "a.log").read_text()
    log = (tmp_path / "runner.log").read_text()
    assert "job output line" in log  # job b has no log= of its own: it shares the runner's
    assert f"stopped by {name}" in log
