"""The api's settings, parsed once by its entry points (the command, the gunicorn app factory
and its config) and passed down; tests build their own."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from api.features import feature_modules
from api.params import MAX_SPAN_DAYS
from protocol.limits import ANSWERED_SPAN_DAYS
from runtime.settings import environment, load, setting

T = TypeVar("T")


@dataclass(frozen=True)
class ApiSettings:
    """Where the database is, how days are split, how responses are cached, and each
    feature's own settings by its name (a feature missing there gets its defaults)."""

    db: str = setting("GPUPULSE_DB")
    tz: ZoneInfo = setting("GPUPULSE_TZ")
    cache_max_age: int = setting("GPUPULSE_API_CACHE_MAX_AGE")
    svg_cache_size: int = setting("GPUPULSE_API_SVG_CACHE_SIZE")
    dcgm_metrics: bool = setting("GPUPULSE_DCGM_METRICS")
    daily_days: int = setting("GPUPULSE_RETAIN_DAILY_DAYS")
    hourly_days: int = setting("GPUPULSE_RETAIN_HOURLY_DAYS")
    clock: Callable[[], float] = field(default=time.time, compare=False)
    features: Mapping[str, Any] = field(default_factory=dict)

    def span_days(self, hourly: bool = False) -> int:
        """The most days one request's from..to may span: what the daily (or hourly) roll-ups
        are kept for, at least ANSWERED_SPAN_DAYS and never more than MAX_SPAN_DAYS."""
        kept = self.hourly_days if hourly else self.daily_days
        return min(max(kept, ANSWERED_SPAN_DAYS), MAX_SPAN_DAYS)

    def feature(self, name: str, cls: type[T]) -> T:
        """The settings of feature `name` (its defaults if none were given)."""
        found = self.features.get(name)
        return cls() if found is None else found


@dataclass(frozen=True)
class ServerSettings:
    """How gunicorn serves the app."""

    bind: str = setting("GPUPULSE_API_BIND")
    workers: int = setting("GPUPULSE_API_WORKERS")
    connections: int = setting("GPUPULSE_API_CONNECTIONS")
    idle_timeout: int = setting("GPUPULSE_API_IDLE_TIMEOUT")
    access_log: bool = setting("GPUPULSE_API_ACCESS_LOG")
    log_level: str = setting("GPUPULSE_LOG_LEVEL")

    @property
    def port(self) -> int:
        """The TCP port in `bind` (what --healthcheck connects to)."""
        return int(self.bind.rpartition(":")[2])


def load_api(env: Mapping[str, str], given: Mapping[str, Any] | None = None) -> ApiSettings:
    """The api's settings with every feature's, from `env` (and `given` values that win)."""
    features = {m.NAME: load(m.SETTINGS, env, given) for m in feature_modules()}
    return replace(load(ApiSettings, env, given), features=features)


def from_environment() -> tuple[ApiSettings, ServerSettings]:
    """Both, from the process environment: every api setting is checked at start."""
    env = environment()
    return load_api(env), load(ServerSettings, env)
