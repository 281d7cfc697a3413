"""The runner's decisions, one tick at a time: which GPUs are idle, which jobs start or stop.

A GPU is idle once no process other than the runner's own jobs and the ignored programs
has used it for the hold-off. Times for the hold-off come from the injected monotonic
clock, times recorded in the database from the injected wall clock.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import IO

from idle import jobs, proctree, tty
from idle.config import ConfigError, IdleConfig, JobSection
from idle.record import RunLog
from idle.settings import RunnerSettings
from runtime.settings import default
from sampling.backend import Reading
from store.samples import ProcessSample

log = logging.getLogger(__name__)


@dataclass
class Clocks:
    """Injected time: wall (UTC unix seconds, for records) and monotonic (for hold-offs)."""

    wall: Callable[[], float] = time.time
    monotonic: Callable[[], float] = time.monotonic


@dataclass
class _Slot:
    """A job section and what it is doing now."""

    spec: JobSection
    running: jobs.RunningJob | None = None
    not_before: float = 0.0  # monotonic time before which it may not start again


@dataclass
class _View:
    """What one tick saw: GPU indices present, busy GPUs (why), users typing."""

    present: list[int]
    busy: dict[int, str] = field(default_factory=dict)
    typing: list[str] = field(default_factory=list)
    own_on_gpu: dict[int, list[ProcessSample]] = field(default_factory=dict)  # by pgid


class Runner:
    """Starts jobs on idle GPUs and stops them when someone else needs the GPUs."""

    def __init__(
        self,
        config: IdleConfig,
        backend,
        settings: RunnerSettings,
        run_log: RunLog,
        *,
        env: Mapping[str, str],
        clocks: Clocks | None = None,
        proc_root: str = default("GPUPULSE_PROC"),
        runner_log: IO[bytes] | None = None,
    ) -> None:
        self.config = config
        self.backend = backend
        self.settings = settings
        self.run_log = run_log
        self.clocks = clocks or Clocks()
        self.proc_root = proc_root
        self.env = dict(env)  # the jobs run with the runner's own environment
        self.runner_log = runner_log
        self.slots = [_Slot(spec) for spec in config.jobs]
        self.idle_since: dict[int, float] = {}
        self.started_at = self.clocks.monotonic()
        self._last_tick = self.started_at
        self._checked_gpus = False

    def running(self) -> list[jobs.RunningJob]:
        """The jobs running now."""
        return [slot.running for slot in self.slots if slot.running is not None]

    def tick(self) -> None:
        """Observe once, then stop and start jobs accordingly."""
        mono, wall = self.clocks.monotonic(), self.clocks.wall()
        stopped_now = self._reap_exited(mono, wall)
        view = self._observe(mono, wall)
        if view is not None:
            self._stop_preempted(view, wall)
            self._start_idle(view, mono, wall, stopped_now)
        for job in self.running():
            self.run_log.save(job.run, wall)
            if view is not None:
                self.run_log.processes(job.run, view.own_on_gpu.get(job.pgid, []))
        self.run_log.flush()

    def shutdown(self, reason: str) -> None:
        """Stop every job (SIGTERM, then SIGKILL after the grace) and record why."""
        self._stop([s for s in self.slots if s.running], reason, self.clocks.wall())
        self.run_log.flush()

    def _observe(self, mono: float, wall: float) -> _View | None:
        tick_s, self._last_tick = mono - self._last_tick, mono
        # /proc is read before and after NVML, so a job's short-lived helper that exits
        # in between is still known as ours rather than taken for a person's process.
        before = self._owners()
        try:
            reading: Reading = self.backend.sample(wall, tick_s)
        except Exception as exc:  # any driver failure: we cannot see who needs the GPUs
            log.error("cannot read GPU processes (%s); stopping jobs until it works again", exc)
            self._stop([s for s in self.slots if s.running], "GPU processes unreadable", wall)
            return None
        present = sorted(s.gpu.index for s in reading.samples)
        if not self._checked_gpus:
            self._check_gpus(present)
        uuids = {s.gpu.uuid: s.gpu.index for s in reading.samples}
        view = _View(present)
        owner = before | self._owners()
        for p in reading.processes:
            index = uuids.get(p.gpu_uuid)
            if index is None:
                continue
            if p.pid in owner:
                view.own_on_gpu.setdefault(owner[p.pid], []).append(p)
            elif _program(p.command) not in self.config.ignored_on(index):
                view.busy.setdefault(index, f"pid {p.pid} ({p.user or '?'}: {p.command or '?'})")
        for index in present:
            if index in view.busy or index not in self.idle_since:
                self.idle_since[index] = mono if index in view.busy else self.started_at
        view.typing = tty.active_users(self.config.tty, wall, self.settings.utmp, self.settings.dev)
        return view

    def _check_gpus(self, present: list[int]) -> None:
        """Refuse a job whose gpus= names a GPU this host does not have (once, at start)."""
        self._checked_gpus = True
        for spec in self.config.jobs:
            missing = sorted(set(spec.gpus.resolve(present)) - set(present))
            if missing:
                raise ConfigError(
                    f"{spec.gpus_line}: [process-{spec.name}] gpus names GPU {missing[0]}, but "
                    f"this host has {_indices(present)}"
                )

    def _stop_preempted(self, view: _View, wall: float) -> None:
        doomed: dict[str, list[_Slot]] = {}
        for slot in self.slots:
            if slot.running is None:
                continue
            gpus = slot.running.run.gpus
            if view.typing:
                why = f"tty: {', '.join(view.typing)} active"
            elif busy := [g for g in gpus if g in view.busy]:
                why = f"GPU {busy[0]} used by {view.busy[busy[0]]}"
            elif lost := [g for g in gpus if g not in view.present]:
                why = f"GPU {lost[0]} not reported"
            else:
                continue
            doomed.setdefault(why, []).append(slot)
        for why, slots in doomed.items():
            self._stop(slots, why, wall)

    def _start_idle(self, view: _View, mono: float, wall: float, skip: set[str]) -> None:
        if view.typing:
            return
        taken = {g for job in self.running() for g in job.run.gpus}
        for slot in self.slots:
            if slot.running is not None or slot.spec.name in skip or mono < slot.not_before:
                continue
            gpus = slot.spec.gpus.resolve(view.present)
            if not gpus or taken & set(gpus) or any(g not in view.present for g in gpus):
                continue
            if all(mono - self.idle_since[g] >= self.settings.holdoff_s for g in gpus):
                self._start(slot, gpus, mono, wall)
                if slot.running is not None:
                    taken |= set(gpus)

    def _start(self, slot: _Slot, gpus: tuple[int, ...], mono: float, wall: float) -> None:
        try:
            slot.running = jobs.start(slot.spec, gpus, wall, self.env, self.runner_log)
        except OSError as exc:
            log.error("[process-%s] cannot start %r: %s", slot.spec.name, slot.spec.cmd, exc)
            slot.not_before = mono + self.settings.holdoff_s
            return
        log.info(
            "[process-%s] started pid %d on GPU %s: %s",
            slot.spec.name,
            slot.running.pgid,
            _indices(gpus),
            slot.spec.cmd,
        )

    def _reap_exited(self, mono: float, wall: float) -> set[str]:
        """Record jobs that ended by themselves; they wait a hold-off before restarting."""
        ended: set[str] = set()
        for slot in self.slots:
            job = slot.running
            if job is None or (code := job.popen.poll()) is None:
                continue
            if jobs.leftovers(job, self.proc_root):
                jobs.stop_all([job], self.settings.grace_s, self.proc_root)  # no strays left
            self._finish(slot, f"exited {code}", wall)
            slot.not_before = mono + self.settings.holdoff_s
            ended.add(slot.spec.name)
        return ended

    def _stop(self, slots: list[_Slot], why: str, wall: float) -> None:
        if not slots:
            return
        log.info("stopping %s: %s", ", ".join(f"[process-{s.spec.name}]" for s in slots), why)
        jobs.stop_all(
            [s.running for s in slots if s.running], self.settings.grace_s, self.proc_root
        )
        for slot in slots:
            self._finish(slot, why, wall)

    def _finish(self, slot: _Slot, why: str, wall: float) -> None:
        job = slot.running
        if job is None:
            return
        job.run.stopped, job.run.reason = wall, why
        self.run_log.save(job.run, wall)
        log.info(
            "[process-%s] ran %.0f s on GPU %s: %s",
            slot.spec.name,
            wall - job.run.started,
            _indices(job.run.gpus),
            why,
        )
        slot.running = None

    def _owners(self) -> dict[int, int]:
        """PID -> pgid of the job it belongs to, for every process of a running job."""
        procs = proctree.snapshot(self.proc_root)
        return {
            pid: job.pgid for job in self.running() for pid in proctree.members(procs, [job.pgid])
        }


def _program(command: str | None) -> str:
    """The program name of a command line: the base name of its first word."""
    first = (command or "").split(" ", 1)[0]
    return os.path.basename(first)


def _indices(gpus) -> str:
    return ",".join(str(i) for i in gpus) or "none"
