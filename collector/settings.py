"""The collector's settings, parsed once by `collector`'s entry point and passed down."""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo

from runtime.cli import SHARED_OPTIONS
from runtime.settings import nested, setting
from sampling.settings import BackendSettings

# Command-line options that stand for a setting (and win over it).
OPTIONS = {
    **SHARED_OPTIONS,
    "backend": "GPUPULSE_BACKEND",
    "interval": "GPUPULSE_INTERVAL",
    "tz": "GPUPULSE_TZ",
}


@dataclass(frozen=True)
class CollectorSettings:
    """Where samples go, how often they are taken, and the GPU source."""

    db: str = setting("GPUPULSE_DB")
    tz: ZoneInfo = setting("GPUPULSE_TZ")
    threshold: float = setting("GPUPULSE_ACTIVE_THRESHOLD")
    log_level: str = setting("GPUPULSE_LOG_LEVEL")
    host_id: str = setting("GPUPULSE_HOST_ID")
    interval: float = setting("GPUPULSE_INTERVAL")
    buffer_ticks: int = setting("GPUPULSE_BUFFER_TICKS")
    backfill_days: int = setting("GPUPULSE_SIM_BACKFILL_DAYS")
    failure_pause_s: float = setting("GPUPULSE_FAILURE_PAUSE")
    sampling: BackendSettings = nested(BackendSettings)
