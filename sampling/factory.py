"""The backend the settings name: NVML, or the simulated fleet on request."""

from __future__ import annotations

from sampling import docker_names
from sampling.backend import Backend, BackendUnavailable
from sampling.procinfo import ProcInfo
from sampling.settings import BackendSettings


def make_backend(settings: BackendSettings) -> Backend:
    """The backend `settings.backend` names; simulated only when asked for, never as a fallback."""
    if settings.backend == "simulated":
        from sampling.simulated import SimulatedBackend

        return SimulatedBackend(
            gpus=settings.sim_gpus,
            seed=settings.sim_seed,
            processes=settings.sim_processes or None,
            threshold=settings.threshold,
        )
    return make_nvml(settings)


def make_nvml(settings: BackendSettings) -> Backend:
    """The NVML backend; BackendUnavailable when the binding cannot be loaded."""
    try:
        from sampling.nvml import NvmlBackend
    except ImportError as exc:
        raise BackendUnavailable(f"the NVML backend cannot be loaded ({exc})") from None
    return NvmlBackend(
        procinfo=procinfo(settings),
        threshold=settings.threshold,
        mismatch_exit_s=settings.mismatch_exit_s,
    )


def procinfo(settings: BackendSettings) -> ProcInfo:
    """Process owners, commands and workloads from the /proc and passwd file the settings
    name, container names from the Docker API when one is set."""
    return ProcInfo(
        settings.proc, settings.passwd, names=docker_names.from_setting(settings.docker_api)
    )
