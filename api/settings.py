"""The api's settings, read once from GPUPULSE_* variables (tests pass their own)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from api.lab.settings import LabSettings
from store import settings as env

DEFAULT_BIND = "0.0.0.0:8080"


@dataclass(frozen=True)
class ApiSettings:
    """Where the database is, how days are split, and how responses are cached."""

    db: str
    tz: ZoneInfo
    cache_max_age: int = 300
    svg_cache_size: int = 256
    clock: Callable[[], float] = field(default=time.time, compare=False)
    lab: LabSettings = field(default_factory=LabSettings)  # issue 6: quotas, names, token

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ApiSettings:
        """Settings from the environment; SettingError names a bad variable."""
        return cls(
            db=env.db_path(environ),
            tz=env.timezone(environ),
            cache_max_age=env.env_int("GPUPULSE_API_CACHE_MAX_AGE", 300, environ,
                                      minimum=0, maximum=31_536_000),
            svg_cache_size=env.env_int("GPUPULSE_API_SVG_CACHE_SIZE", 256, environ,
                                       minimum=0, maximum=100_000),
            lab=LabSettings.from_env(environ),
        )  # fmt: skip


@dataclass(frozen=True)
class ServerSettings:
    """How gunicorn serves the app."""

    bind: str = DEFAULT_BIND
    workers: int = 2
    threads: int = 4
    access_log: bool = False

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ServerSettings:
        """Server settings from the environment; SettingError names a bad variable."""
        return cls(
            bind=env.env_str("GPUPULSE_API_BIND", DEFAULT_BIND, environ),
            workers=env.env_int("GPUPULSE_API_WORKERS", 2, environ, minimum=1, maximum=64),
            threads=env.env_int("GPUPULSE_API_THREADS", 4, environ, minimum=1, maximum=64),
            access_log=env.env_bool("GPUPULSE_API_ACCESS_LOG", False, environ),
        )

    @property
    def port(self) -> int:
        """The TCP port in `bind` (what --healthcheck connects to)."""
        host, _, port = self.bind.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise env.SettingError(
                f"GPUPULSE_API_BIND={self.bind!r} must be HOST:PORT, e.g. {DEFAULT_BIND}"
            )
        return int(port)
