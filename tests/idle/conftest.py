"""Fixtures for the idle-runner tests: real job processes, a fake backend and clock."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from idle import proctree
from idle.config import parse
from idle.record import RunLog
from idle.runner import Clocks, Runner
from idle.settings import RunnerSettings
from tests.support.idle.fakes import FakeBackend, FakeClock


@pytest.fixture
def subreaper():
    """Make this test process adopt orphans, as `collector idle-run` does for itself.

    Without it orphaned grandchildren go to PID 1, which in some sandboxes never reaps.
    """
    proctree.become_subreaper()
    yield
    proctree._prctl(proctree.PR_SET_CHILD_SUBREAPER, 0)


class Harness:
    """A Runner on a fake backend and clock, with real jobs; stops them all at the end."""

    def __init__(
        self,
        tmp_path: Path,
        config_text: str,
        *,
        holdoff: float = 60.0,
        grace: float = 0.5,
        gpus: int = 2,
        run_log: RunLog | None = None,
        utmp: str | None = None,
        dev: str | None = None,
    ) -> None:
        self.tmp = tmp_path
        self.clock = FakeClock()
        self.backend = FakeBackend(gpus)
        self.config = parse(config_text, str(tmp_path / "idle.conf"))
        settings = RunnerSettings(
            holdoff_s=holdoff,
            grace_s=grace,
            utmp=utmp or str(tmp_path / "no-utmp"),
            dev=dev or str(tmp_path),
        )
        env = dict(os.environ, IDLE_TEST_MARKER="from-runner-env")
        self.run_log = run_log or RunLog(None)
        self.runner = Runner(
            self.config,
            self.backend,
            settings,
            self.run_log,
            clocks=Clocks(self.clock.wall, self.clock.monotonic),
            env=env,
        )

    def tick_at(self, t: float) -> None:
        """Move the fake clock to `t` seconds and tick once."""
        self.clock.t = t
        self.runner.tick()

    def running(self) -> dict[str, int]:
        """job name -> pgid of what runs now."""
        return {job.spec.name: job.pgid for job in self.runner.running()}


@pytest.fixture
def harness(tmp_path, subreaper):
    """Build Harness objects; whatever they started is stopped after the test."""
    made: list[Harness] = []

    def make(config_text: str, **kwargs) -> Harness:
        made.append(Harness(tmp_path, config_text, **kwargs))
        return made[-1]

    yield make
    for h in made:
        h.runner.shutdown("test over")
