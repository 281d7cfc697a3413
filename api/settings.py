"""The api's settings, parsed once by its entry points (the command, the gunicorn app factory
and its config) and passed down; tests build their own."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from api.hub.settings import HubSettings
from api.lab.settings import LabSettings
from runtime.settings import environment, load, nested, setting


@dataclass(frozen=True)
class ApiSettings:
    """Where the database is, how days are split, how responses are cached, and the lab's
    and the hub's own settings."""

    db: str = setting("GPUPULSE_DB")
    tz: ZoneInfo = setting("GPUPULSE_TZ")
    cache_max_age: int = setting("GPUPULSE_API_CACHE_MAX_AGE")
    svg_cache_size: int = setting("GPUPULSE_API_SVG_CACHE_SIZE")
    clock: Callable[[], float] = field(default=time.time, compare=False)
    lab: LabSettings = nested(LabSettings)  # quotas, names, token
    hub: HubSettings = nested(HubSettings)  # what hosts may send


@dataclass(frozen=True)
class ServerSettings:
    """How gunicorn serves the app."""

    bind: str = setting("GPUPULSE_API_BIND")
    workers: int = setting("GPUPULSE_API_WORKERS")
    threads: int = setting("GPUPULSE_API_THREADS")
    access_log: bool = setting("GPUPULSE_API_ACCESS_LOG")
    log_level: str = setting("GPUPULSE_LOG_LEVEL")

    @property
    def port(self) -> int:
        """The TCP port in `bind` (what --healthcheck connects to)."""
        return int(self.bind.rpartition(":")[2])


def from_environment() -> tuple[ApiSettings, ServerSettings]:
    """Both, from the process environment: every api setting is checked at start."""
    env = environment()
    return load(ApiSettings, env), load(ServerSettings, env)
