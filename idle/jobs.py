"""Starting a job in its own process group and stopping the whole group again."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import IO

from idle import proctree
from idle.config import JobSection

log = logging.getLogger(__name__)

POLL_S = 0.02  # how often a stop looks whether the group is gone yet
KILL_WAIT_S = 5.0  # after SIGKILL; only a process stuck in the kernel (D state) outlasts it


@dataclass
class Run:
    """One run of a job: what the idle_runs table records."""

    job: str
    gpus: tuple[int, ...]
    pid: int
    started: float  # UTC unix seconds
    stopped: float | None = None
    reason: str | None = None

    def gpu_seconds(self, now: float) -> float:
        """Run time so far (or in all, once stopped) times the number of GPUs."""
        end = self.stopped if self.stopped is not None else now
        return max(0.0, end - self.started) * len(self.gpus)


@dataclass
class RunningJob:
    """A started job: its process (the group leader) and its run record."""

    spec: JobSection
    popen: subprocess.Popen
    run: Run

    @property
    def pgid(self) -> int:
        """The job's process group id (= the leader's PID: it started a new session)."""
        return self.popen.pid


def start(
    spec: JobSection,
    gpus: tuple[int, ...],
    now: float,
    env: Mapping[str, str],
    runner_log: IO[bytes] | None,
) -> RunningJob:
    """Start the job's shell command in `spec.dir`, in a new session, on `gpus`."""
    child_env = dict(env)
    child_env["CUDA_VISIBLE_DEVICES"] = ",".join(str(i) for i in gpus)
    # NVML numbers GPUs in PCI bus order; CUDA by default puts the fastest first.
    child_env["CUDA_DEVICE_ORDER"] = "PCI_BUS_ID"
    output = open(spec.log, "ab") if spec.log else runner_log  # noqa: SIM115 - closed below
    try:
        popen = subprocess.Popen(
            spec.cmd,
            shell=True,
            cwd=spec.dir,
            env=child_env,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=proctree.die_with_parent,
        )
    finally:
        if spec.log and output is not None:
            output.close()  # the child holds its own descriptor
    return RunningJob(spec, popen, Run(spec.name, gpus, popen.pid, now))


def stop_all(
    jobs: Sequence[RunningJob],
    grace_s: float,
    proc_root: str = "/proc",
    monotonic: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """SIGTERM each job's group (and strays), SIGKILL what is left after `grace_s`."""
    if not jobs:
        return
    remaining = _signal(jobs, signal.SIGTERM, proc_root)
    deadline = monotonic() + grace_s
    while remaining and monotonic() < deadline:
        sleep(POLL_S)
        remaining = _alive(jobs, proc_root)
    if remaining:
        log.warning(
            "%d job process(es) outlived SIGTERM by %gs; sending SIGKILL", len(remaining), grace_s
        )
        _signal(jobs, signal.SIGKILL, proc_root)
        deadline = monotonic() + KILL_WAIT_S
        while _alive(jobs, proc_root) and monotonic() < deadline:
            sleep(POLL_S)
    if left := _alive(jobs, proc_root):
        log.error("job processes %s did not die even after SIGKILL", sorted(left))


def leftovers(job: RunningJob, proc_root: str = "/proc") -> set[int]:
    """Live processes of a job (its group and strays), reaping what has exited."""
    return _alive([job], proc_root)


def _signal(jobs: Sequence[RunningJob], signum: int, proc_root: str) -> set[int]:
    procs = proctree.snapshot(proc_root)
    pids: set[int] = set()
    for job in jobs:
        tree = proctree.members(procs, [job.pgid])
        strays = {pid for pid in tree if procs[pid].pgid != job.pgid}
        # Only signal the group while it has members: an empty group's number may be reused.
        proctree.signal_tree(job.pgid if tree - strays else None, strays, signum)
        pids |= tree
    return pids


def _alive(jobs: Sequence[RunningJob], proc_root: str) -> set[int]:
    for job in jobs:
        job.popen.poll()  # reap the leader, so a zombie leader does not count as alive
    procs = proctree.snapshot(proc_root)
    groups = {job.pgid for job in jobs}
    # Group members orphaned to a subreaper runner are our children now: reap them too.
    me = os.getpid()
    proctree.reap(
        p.pid for p in procs.values() if p.state == "Z" and p.ppid == me and p.pgid in groups
    )
    return proctree.members(procs, groups)
