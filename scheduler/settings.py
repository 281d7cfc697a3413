"""The scheduler's settings: GPUPULSE_* environment over a Targoman-shaped JSON config file."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from runtime.settings import derived, setting
from runtime.settings import load as load_settings
from store.db import Connection
from store.samples import recorded_host

INGEST_PATH = "/api/v1/ingest"
HUB_PER_REQUEST = 50  # payloads per array to a GPU Pulse hub: ~500 KB of 8-GPU hours
TARGOMAN_PER_REQUEST = 1  # what the Targoman protocol sends


def per_request(chosen: int | None, push_url: str) -> int:
    """Payloads per request by default: arrays to a GPU Pulse hub's ingest URL (a receiver
    that refuses them gets each hour alone), else one, as the Targoman protocol sends."""
    if chosen is not None:
        return chosen
    return HUB_PER_REQUEST if push_url.endswith(INGEST_PATH) else TARGOMAN_PER_REQUEST


def status_url(chosen: str, push_url: str) -> str:
    """Where snapshots go by default: next to a GPU Pulse hub's ingest URL, else nowhere."""
    if chosen or not push_url.endswith(INGEST_PATH):
        return chosen
    return push_url[: -len(INGEST_PATH)] + "/api/v1/status"


@dataclass(frozen=True)
class Settings:
    """Everything the scheduler's jobs read; built once at start."""

    db: str = setting("GPUPULSE_DB")
    tz: ZoneInfo = setting("GPUPULSE_TZ")
    threshold: float = setting("GPUPULSE_ACTIVE_THRESHOLD")
    rollup_every_s: int = setting("GPUPULSE_ROLLUP_EVERY")
    audit_every_s: int = setting("GPUPULSE_ROLLUP_AUDIT_EVERY")
    lateness_s: int = setting("GPUPULSE_ROLLUP_LATENESS")
    prune_every_s: int = setting("GPUPULSE_PRUNE_EVERY")
    raw_days: int = setting("GPUPULSE_RETAIN_RAW_DAYS")
    hourly_days: int = setting("GPUPULSE_RETAIN_HOURLY_DAYS")
    daily_days: int = setting("GPUPULSE_RETAIN_DAILY_DAYS")
    prune_lock_ms: int = setting("GPUPULSE_PRUNE_LOCK_MS")
    push_url: str = setting("GPUPULSE_PUSH_URL")
    contract_number: str = setting("GPUPULSE_CONTRACT_NUMBER")
    push_token: str = setting("GPUPULSE_PUSH_TOKEN", repr=False)
    offline: bool = setting("GPUPULSE_OFFLINE")
    push_every_s: int = setting("GPUPULSE_PUSH_EVERY")
    push_grace_s: int = setting("GPUPULSE_PUSH_GRACE")
    push_timeout_s: float = setting("GPUPULSE_PUSH_TIMEOUT")
    push_max_attempts: int = setting("GPUPULSE_PUSH_MAX_ATTEMPTS")
    backoff_min_s: float = setting("GPUPULSE_PUSH_BACKOFF_MIN")
    backoff_max_s: float = setting("GPUPULSE_PUSH_BACKOFF_MAX")
    push_batch: int = setting("GPUPULSE_PUSH_BATCH")
    push_per_request: int = derived(
        ("GPUPULSE_PUSH_PER_REQUEST", "GPUPULSE_PUSH_URL"),
        per_request,
        default=TARGOMAN_PER_REQUEST,
    )
    host_id: str = setting("GPUPULSE_HOST_ID")
    heartbeat: str = setting("GPUPULSE_HEARTBEAT")
    heartbeat_max_age_s: int = setting("GPUPULSE_HEARTBEAT_MAX_AGE")
    db_wait_s: float = setting("GPUPULSE_DB_WAIT")
    failure_pause_s: float = setting("GPUPULSE_FAILURE_PAUSE")
    log_level: str = setting("GPUPULSE_LOG_LEVEL")
    log_file: str = setting("GPUPULSE_LOG_FILE")
    status_url: str = derived(("GPUPULSE_STATUS_URL", "GPUPULSE_PUSH_URL"), status_url, default="")
    status_every_s: int = setting("GPUPULSE_STATUS_EVERY")
    pull_hosts: str = setting("GPUPULSE_PULL_HOSTS")
    pull_consul_url: str = setting("GPUPULSE_PULL_CONSUL_URL")
    pull_consul_service: str = setting("GPUPULSE_PULL_CONSUL_SERVICE")
    pull_every_s: int = setting("GPUPULSE_PULL_EVERY")
    pull_timeout_s: float = setting("GPUPULSE_PULL_TIMEOUT")
    pull_backfill_days: int = setting("GPUPULSE_PULL_BACKFILL_DAYS")

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


def load(
    env: Mapping[str, str], config_file: str | None = None, given: Mapping[str, Any] | None = None
) -> Settings:
    """Settings from the config file (if any), GPUPULSE_* variables over it, and command-line
    values (`given`, by variable) over both."""
    merged = {**(_from_file(config_file) if config_file else {}), **env}
    return load_settings(Settings, merged, given)


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
