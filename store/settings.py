"""Reading GPUPULSE_* environment settings with errors that name the variable."""

from __future__ import annotations

import argparse
import os
import socket
from collections.abc import Mapping
from typing import NoReturn
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_DB = "/var/lib/gpu-pulse/pulse.db"


class SettingError(ValueError):
    """A setting has a value we cannot use; the message names it and says what fits."""


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports a bad option in one line (no usage block) and exits 2;
    every service's command line uses it, so a typo never prints a screenful."""

    def error(self, message: str) -> NoReturn:
        """Print `prog: error: message` and exit 2."""
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def env_str(name: str, default: str, env: Mapping[str, str] | None = None) -> str:
    """A string setting; empty counts as unset."""
    value = (os.environ if env is None else env).get(name, "").strip()
    return value or default


def env_float(
    name: str,
    default: float,
    env: Mapping[str, str] | None = None,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
) -> float:
    """A number setting, checked against its range."""
    raw = env_str(name, "", env)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingError(f"{name}={raw!r} is not a number") from None
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise SettingError(f"{name}={raw} is out of range [{minimum}, {maximum}]")
    return value


def env_int(
    name: str,
    default: int,
    env: Mapping[str, str] | None = None,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
) -> int:
    """A whole-number setting, checked against its range."""
    value = env_float(name, default, env, minimum=minimum, maximum=maximum)
    if value != int(value):
        raise SettingError(f"{name}={value} must be a whole number")
    return int(value)


def env_bool(name: str, default: bool, env: Mapping[str, str] | None = None) -> bool:
    """A yes/no setting: 1/true/yes/on or 0/false/no/off."""
    raw = env_str(name, "", env).lower()
    if not raw:
        return default
    if raw in {"1", "true", "yes", "on"}:
        return True
    if raw in {"0", "false", "no", "off"}:
        return False
    raise SettingError(f"{name}={raw!r} must be one of 1/0, true/false, yes/no, on/off")


def db_path(env: Mapping[str, str] | None = None) -> str:
    """GPUPULSE_DB: the shared SQLite file."""
    return env_str("GPUPULSE_DB", DEFAULT_DB, env)


def host_id(env: Mapping[str, str] | None = None) -> str:
    """GPUPULSE_HOST_ID: this host's name in graphs and pushes (default: the hostname)."""
    return env_str("GPUPULSE_HOST_ID", "", env) or socket.gethostname()


def timezone(env: Mapping[str, str] | None = None) -> ZoneInfo:
    """GPUPULSE_TZ: the IANA zone whose midnight splits days (default UTC)."""
    name = env_str("GPUPULSE_TZ", "UTC", env)
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise SettingError(f"GPUPULSE_TZ={name!r} is not an IANA time zone name") from None


def active_threshold(env: Mapping[str, str] | None = None) -> float:
    """GPUPULSE_ACTIVE_THRESHOLD: utilization % above which a GPU counts as active."""
    return env_float("GPUPULSE_ACTIVE_THRESHOLD", 1.0, env, minimum=0, maximum=100)


def interval(env: Mapping[str, str] | None = None) -> float:
    """GPUPULSE_INTERVAL: seconds between collector ticks (1 to 3600, default 5)."""
    return env_float("GPUPULSE_INTERVAL", 5.0, env, minimum=1, maximum=3600)
