"""What a GPU backend needs to know: which one, the simulated fleet's shape, where /proc and
the passwd file are, and when a driver mismatch should end the process."""

from __future__ import annotations

from dataclasses import dataclass

from runtime.settings import setting


@dataclass(frozen=True)
class BackendSettings:
    """Built by the collector's and the idle runner's entry points, passed to the factory."""

    backend: str = setting("GPUPULSE_BACKEND")
    sim_gpus: int = setting("GPUPULSE_SIM_GPUS")
    sim_processes: int = setting("GPUPULSE_SIM_PROCESSES")
    sim_seed: int = setting("GPUPULSE_SIM_SEED")
    proc: str = setting("GPUPULSE_PROC")
    passwd: str = setting("GPUPULSE_PASSWD")
    docker_api: str = setting("GPUPULSE_DOCKER_API")
    mismatch_exit_s: float = setting("GPUPULSE_DRIVER_MISMATCH_EXIT")
    threshold: float = setting("GPUPULSE_ACTIVE_THRESHOLD")


DEFAULTS = BackendSettings()
