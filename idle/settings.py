"""The idle runner's settings, parsed once by `gpupulse-idle`'s entry point and passed down."""

from __future__ import annotations

from dataclasses import dataclass

from runtime.cli import SHARED_OPTIONS
from runtime.settings import nested, setting
from sampling.settings import BackendSettings

# Command-line options that stand for a setting (and win over it).
OPTIONS = {**SHARED_OPTIONS, "backend": "GPUPULSE_BACKEND", "log": "GPUPULSE_IDLE_LOG"}


@dataclass(frozen=True)
class RunnerSettings:
    """How patient the runner is with other people's GPUs, and where it logs."""

    holdoff_s: float = setting("GPUPULSE_IDLE_HOLDOFF")
    grace_s: float = setting("GPUPULSE_IDLE_GRACE")
    utmp: str = setting("GPUPULSE_IDLE_UTMP")
    dev: str = setting("GPUPULSE_IDLE_DEV")
    log: str = setting("GPUPULSE_IDLE_LOG")  # empty: stderr


@dataclass(frozen=True)
class IdleSettings:
    """Everything `gpupulse-idle` reads: the runner's own, the database, the GPU source."""

    db: str = setting("GPUPULSE_DB")
    log_level: str = setting("GPUPULSE_LOG_LEVEL")
    runner: RunnerSettings = nested(RunnerSettings)
    sampling: BackendSettings = nested(BackendSettings)
