"""The scheduler's settings: GPUPULSE_* environment over a Targoman-shaped JSON config file."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from runtime.quotas import Quotas, load_quotas
from runtime.settings import SettingError, default, derived, setting
from runtime.settings import load as load_settings
from scheduler import heartbeat
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


def checked_alert_urls(urls: str) -> str:
    """GPUPULSE_ALERT_URLS as given, once Apprise knows every URL in it (SettingError else)."""
    if not urls:
        return ""
    import apprise  # loaded only where alerts are on

    for url in apprise.utils.parse.parse_urls(urls):
        if apprise.Apprise.instantiate(url) is None:
            raise SettingError(f"GPUPULSE_ALERT_URLS: {url!r} is not a URL Apprise can send to")
    return urls


@dataclass(frozen=True)
class Settings:
    """Everything the scheduler's jobs read; built once at start."""

    db: str = setting("GPUPULSE_DB")
    tz: ZoneInfo = setting("GPUPULSE_TZ")
    threshold: float = setting("GPUPULSE_ACTIVE_THRESHOLD")
    held_mib: int = setting("GPUPULSE_HELD_MEMORY")
    held_idle_alert_s: int = setting("GPUPULSE_HELD_IDLE_ALERT")
    alert_urls: str = derived(("GPUPULSE_ALERT_URLS",), checked_alert_urls, default="")
    alert_every_s: int = setting("GPUPULSE_ALERT_EVERY")
    quotas: Quotas = derived(
        ("GPUPULSE_QUOTAS", "GPUPULSE_QUOTAS_FILE"), load_quotas, default_factory=Quotas
    )
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
    heartbeat: str = derived(
        ("GPUPULSE_HEARTBEAT", "GPUPULSE_DB"),
        heartbeat.location,
        default=heartbeat.location("", default("GPUPULSE_DB")),
    )
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
    env: Mapping[str, str],
    config_file: str | None = None,
    given: Mapping[str, Any] | None = None,
    warn: Callable[[str], None] | None = None,
) -> Settings:
    """Settings from the config file (if any), GPUPULSE_* variables over it, and command-line
    values (`given`, by variable) over both; `warn` hears of keys the file holds that GPU
    Pulse does not use, in one line."""
    from_file: dict[str, str] = {}
    if config_file:
        from_file, unknown = read_config(config_file)
        if unknown and warn is not None:
            warn(f"--config {config_file}: ignoring unknown keys: {', '.join(unknown)}")
    return load_settings(Settings, {**from_file, **env}, given)


# Config keys of Targoman gpu_monitor's config.json (its README's shape, the shipped
# config.json.sample's `files`, and the `paths` its code reads) -> our variables.
FILE_KEYS = {
    ("server", "url"): "GPUPULSE_PUSH_URL",
    ("server", "contract_number"): "GPUPULSE_CONTRACT_NUMBER",
    ("server", "token"): "GPUPULSE_PUSH_TOKEN",
    ("server", "offline"): "GPUPULSE_OFFLINE",
    ("database", "file"): "GPUPULSE_DB",
    ("paths", "database"): "GPUPULSE_DB",
    ("files", "database"): "GPUPULSE_DB",
    ("logging", "level"): "GPUPULSE_LOG_LEVEL",
    ("logging", "file"): "GPUPULSE_LOG_FILE",
    ("paths", "log"): "GPUPULSE_LOG_FILE",
    ("files", "log"): "GPUPULSE_LOG_FILE",
    ("intervals", "retry"): "GPUPULSE_PUSH_BACKOFF_MIN",
}
# Keys Targoman's configs hold that need no setting here: the collector's sampling interval,
# and the aggregation interval (GPU Pulse always aggregates and sends whole UTC hours).
KNOWN_KEYS = {
    ("intervals", "collection"),
    ("intervals", "aggregation"),
    ("collection", "interval_seconds"),
    ("collection", "aggregation_interval_hours"),
}


def read_config(path: str) -> tuple[dict[str, str], list[str]]:
    """A Targoman-style config.json (// comments allowed) as GPUPULSE_* values, and the
    dotted names of the keys it holds that mean nothing here."""
    data = _parse_config(path)
    out: dict[str, str] = {}
    unknown: list[str] = []
    for section, body in data.items():
        if not isinstance(body, dict):
            unknown.append(section)
            continue
        for key, value in body.items():
            name = FILE_KEYS.get((section, key))
            if name is None:
                if (section, key) not in KNOWN_KEYS:
                    unknown.append(f"{section}.{key}")
            elif value is not None and value != "":
                out[name] = str(value).lower() if isinstance(value, bool) else str(value)
    return out, unknown


def _parse_config(path: str) -> dict:
    """The config file's top-level object; ConfigError naming the file and the problem."""
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
    return data


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
