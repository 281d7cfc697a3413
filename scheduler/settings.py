"""The scheduler's settings: GPUPULSE_* environment over a Targoman-shaped JSON config file."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from zoneinfo import ZoneInfo

from store import settings as env
from store.db import Connection
from store.samples import recorded_host

DEFAULT_HEARTBEAT = "/tmp/gpupulse-scheduler.heartbeat"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


@dataclass(frozen=True)
class Settings:
    """Everything the scheduler's jobs read; built once at start."""

    db: str
    tz: ZoneInfo
    threshold: float
    rollup_every_s: int = 300
    audit_every_s: int = 3600
    lateness_s: int = 900
    prune_every_s: int = 3600
    raw_days: int = 30
    hourly_days: int = 365
    daily_days: int = 730
    prune_lock_ms: int = 100
    push_url: str = ""
    contract_number: str = ""
    push_token: str = ""
    offline: bool = False
    push_every_s: int = 60
    push_grace_s: int = 120
    push_timeout_s: float = 10.0
    push_max_attempts: int = 10
    backoff_min_s: float = 5.0
    backoff_max_s: float = 600.0
    push_batch: int = 500
    push_per_request: int = 1
    host_id: str = ""
    heartbeat: str = DEFAULT_HEARTBEAT
    heartbeat_max_age_s: int = 300
    db_wait_s: float = 5.0
    log_level: str = "INFO"
    log_file: str = ""
    status_url: str = ""
    status_every_s: int = 60
    pull_hosts: str = ""
    pull_consul_url: str = ""
    pull_consul_service: str = "gpu-pulse"
    pull_every_s: int = 60
    pull_timeout_s: float = 5.0
    pull_backfill_days: int = 7

    @property
    def pulling(self) -> bool:
        """True when this scheduler polls other hosts for a hub (pull mode)."""
        return bool(self.pull_hosts or self.pull_consul_url)

    @property
    def sending(self) -> bool:
        """True when pushes go out: a URL is set and offline mode is off."""
        return bool(self.push_url) and not self.offline


class ConfigError(ValueError):
    """The --config file cannot be used; the message says which file and why."""


def load(env_map: Mapping[str, str] | None = None, config_file: str | None = None) -> Settings:
    """Settings from the config file (if any), then GPUPULSE_* variables on top."""
    e = dict(os.environ if env_map is None else env_map)
    base = _from_file(config_file) if config_file else {}
    for name, value in base.items():
        e.setdefault(name, value)  # the environment wins over the file
    return _from_env(e)


def _from_env(e: Mapping[str, str]) -> Settings:
    level = env.env_str("GPUPULSE_LOG_LEVEL", "INFO", e).upper()
    if level not in LOG_LEVELS:
        raise env.SettingError(
            f"GPUPULSE_LOG_LEVEL={level!r} must be one of {', '.join(LOG_LEVELS)}"
        )
    return Settings(
        db=env.db_path(e), tz=env.timezone(e), threshold=env.active_threshold(e),
        rollup_every_s=env.env_int("GPUPULSE_ROLLUP_EVERY", 300, e, minimum=10, maximum=86400),
        audit_every_s=env.env_int("GPUPULSE_ROLLUP_AUDIT_EVERY", 3600, e, minimum=60),
        lateness_s=env.env_int("GPUPULSE_ROLLUP_LATENESS", 900, e, minimum=0, maximum=86400),
        prune_every_s=env.env_int("GPUPULSE_PRUNE_EVERY", 3600, e, minimum=60),
        raw_days=env.env_int("GPUPULSE_RETAIN_RAW_DAYS", 30, e, minimum=1),
        hourly_days=env.env_int("GPUPULSE_RETAIN_HOURLY_DAYS", 365, e, minimum=1),
        daily_days=env.env_int("GPUPULSE_RETAIN_DAILY_DAYS", 730, e, minimum=1),
        prune_lock_ms=env.env_int("GPUPULSE_PRUNE_LOCK_MS", 100, e, minimum=5, maximum=200),
        push_url=env.env_str("GPUPULSE_PUSH_URL", "", e),
        contract_number=env.env_str("GPUPULSE_CONTRACT_NUMBER", "", e),
        push_token=env.env_str("GPUPULSE_PUSH_TOKEN", "", e),
        offline=env.env_bool("GPUPULSE_OFFLINE", False, e),
        push_every_s=env.env_int("GPUPULSE_PUSH_EVERY", 60, e, minimum=1, maximum=3600),
        push_grace_s=env.env_int("GPUPULSE_PUSH_GRACE", 120, e, minimum=0, maximum=86400),
        push_timeout_s=env.env_float("GPUPULSE_PUSH_TIMEOUT", 10.0, e, minimum=0.1, maximum=300),
        push_max_attempts=env.env_int("GPUPULSE_PUSH_MAX_ATTEMPTS", 10, e, minimum=1),
        backoff_min_s=env.env_float("GPUPULSE_PUSH_BACKOFF_MIN", 5.0, e, minimum=0.1),
        backoff_max_s=env.env_float("GPUPULSE_PUSH_BACKOFF_MAX", 600.0, e, minimum=1),
        push_batch=env.env_int("GPUPULSE_PUSH_BATCH", 500, e, minimum=1),
        push_per_request=env.env_int("GPUPULSE_PUSH_PER_REQUEST", _per_request(e), e,
                                     minimum=1, maximum=1000),
        host_id=env.env_str("GPUPULSE_HOST_ID", "", e),
        heartbeat=env.env_str("GPUPULSE_HEARTBEAT", DEFAULT_HEARTBEAT, e),
        heartbeat_max_age_s=env.env_int("GPUPULSE_HEARTBEAT_MAX_AGE", 300, e, minimum=5),
        db_wait_s=env.env_float("GPUPULSE_DB_WAIT", 5.0, e, minimum=0.1, maximum=600),
        log_level=level, log_file=env.env_str("GPUPULSE_LOG_FILE", "", e),
        status_url=env.env_str("GPUPULSE_STATUS_URL", _status_url(e), e),
        status_every_s=env.env_int("GPUPULSE_STATUS_EVERY", 60, e, minimum=5, maximum=3600),
        pull_hosts=env.env_str("GPUPULSE_PULL_HOSTS", "", e),
        pull_consul_url=env.env_str("GPUPULSE_PULL_CONSUL_URL", "", e),
        pull_consul_service=env.env_str("GPUPULSE_PULL_CONSUL_SERVICE", "gpu-pulse", e),
        pull_every_s=env.env_int("GPUPULSE_PULL_EVERY", 60, e, minimum=5, maximum=3600),
        pull_timeout_s=env.env_float("GPUPULSE_PULL_TIMEOUT", 5.0, e, minimum=0.1, maximum=120),
        pull_backfill_days=env.env_int("GPUPULSE_PULL_BACKFILL_DAYS", 7, e, minimum=1,
                                       maximum=366),
    )  # fmt: skip


INGEST_PATH = "/api/v1/ingest"


HUB_PER_REQUEST = 50  # payloads per array to a GPU Pulse hub: ~500 KB of 8-GPU hours


def _per_request(e: Mapping[str, str]) -> int:
    """Payloads per request by default: arrays to a GPU Pulse hub's ingest URL (a receiver
    that refuses them gets each hour alone), else one, as the Targoman protocol sends."""
    hub = env.env_str("GPUPULSE_PUSH_URL", "", e).endswith(INGEST_PATH)
    return HUB_PER_REQUEST if hub else 1


def _status_url(e: Mapping[str, str]) -> str:
    """Where snapshots go by default: next to a GPU Pulse hub's ingest URL, else nowhere."""
    push = env.env_str("GPUPULSE_PUSH_URL", "", e)
    return push[: -len(INGEST_PATH)] + "/api/v1/status" if push.endswith(INGEST_PATH) else ""


# Targoman config keys -> our variables; `collection.*` belongs to the collector.
FILE_KEYS = {
    ("server", "url"): "GPUPULSE_PUSH_URL",
    ("server", "contract_number"): "GPUPULSE_CONTRACT_NUMBER",
    ("server", "token"): "GPUPULSE_PUSH_TOKEN",
    ("server", "offline"): "GPUPULSE_OFFLINE",
    ("database", "file"): "GPUPULSE_DB",
    ("logging", "level"): "GPUPULSE_LOG_LEVEL",
    ("logging", "file"): "GPUPULSE_LOG_FILE",
}


def _from_file(path: str) -> dict[str, str]:
    """Read a Targoman-style config.json (// comments allowed) into GPUPULSE_* values."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"--config {path}: {exc.strerror or exc}") from None
    try:
        data = json.loads(_strip_comments(text))
    except json.JSONDecodeError as exc:
        raise ConfigError(f"--config {path}: not JSON ({exc.msg}, line {exc.lineno})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"--config {path}: the top level must be a JSON object")
    out: dict[str, str] = {}
    for (section, key), name in FILE_KEYS.items():
        value = (data.get(section) or {}).get(key) if isinstance(data.get(section), dict) else None
        if value is not None and value != "":
            out[name] = str(value).lower() if isinstance(value, bool) else str(value)
    return out


def _strip_comments(text: str) -> str:
    """Drop // comments outside strings (Targoman's sample config has them)."""
    lines = []
    for line in text.splitlines():
        in_string, escaped, cut = False, False, len(line)
        for i, ch in enumerate(line):
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = in_string
            elif ch == '"':
                in_string = not in_string
            elif not in_string and line.startswith("//", i):
                cut = i
                break
        lines.append(line[:cut])
    return "\n".join(lines)


def host_id(settings: Settings, conn: Connection) -> str:
    """The host's name in pushes: GPUPULSE_HOST_ID, else what the collector recorded."""
    return settings.host_id or recorded_host(conn)


def with_offline(settings: Settings, offline: bool) -> Settings:
    """A copy with offline mode forced on (the --offline flag)."""
    return replace(settings, offline=settings.offline or offline)
