"""The backend a command line or setting names: NVML, or the simulated fleet on request."""

from __future__ import annotations

from collections.abc import Mapping

from sampling.backend import Backend, BackendUnavailable
from store import settings
from store.settings import SettingError, env_float, env_int

BACKENDS = ("nvml", "simulated")


def make_backend(name: str, env: Mapping[str, str] | None = None) -> Backend:
    """The backend called `name`; simulated only when asked for, never as a fallback."""
    if name not in BACKENDS:
        raise SettingError(f"GPUPULSE_BACKEND={name!r} must be one of {', '.join(BACKENDS)}")
    if name == "simulated":
        from sampling.simulated import SimulatedBackend

        processes = env_int("GPUPULSE_SIM_PROCESSES", 0, env, minimum=0, maximum=10_000)
        return SimulatedBackend(
            gpus=env_int("GPUPULSE_SIM_GPUS", 4, env, minimum=1, maximum=64),
            seed=env_int("GPUPULSE_SIM_SEED", 1, env),
            processes=processes or None,
            threshold=settings.active_threshold(env),
        )
    try:
        from sampling.nvml import NvmlBackend
    except ImportError as exc:
        raise BackendUnavailable(f"the NVML backend cannot be loaded ({exc})") from None
    grace = env_float("GPUPULSE_DRIVER_MISMATCH_EXIT", 300, env, minimum=1, maximum=86_400)
    return NvmlBackend(mismatch_exit_s=grace)
