"""The settings file of an installation without Docker, read as systemd reads it.

The systemd units load `/etc/gpu-pulse/env` with `EnvironmentFile=`; every command reads
the same file (or the one `GPUPULSE_ENV_FILE` names), so `sudo -u gpupulse collector
--dry-run` from a shell sees the settings the services run with.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from runtime.kinds import SettingError

VARIABLE = "GPUPULSE_ENV_FILE"
SYSTEM_FILE = "/etc/gpu-pulse/env"
QUOTES = ("'", '"')


def chosen(env: Mapping[str, str], system_file: str = SYSTEM_FILE) -> str:
    """The file to read: GPUPULSE_ENV_FILE, else the system file when it exists, else ''."""
    named = env.get(VARIABLE, "").strip()
    if named:
        return named
    return system_file if os.path.exists(system_file) else ""


def parse(text: str) -> dict[str, str]:
    """`NAME=value` lines as systemd's EnvironmentFile= takes them: `#` and `;` start a
    comment line, blank lines are skipped, one pair of matching quotes is removed."""
    values: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")) or "=" not in line:
            continue
        name, value = (part.strip() for part in line.split("=", 1))
        if len(value) >= 2 and value[0] in QUOTES and value[-1] == value[0]:
            value = value[1:-1]
        values[name] = value
    return values


def read(path: str) -> dict[str, str]:
    """The file's values; SettingError in one line when it cannot be read."""
    try:
        with open(path, encoding="utf-8") as handle:
            return parse(handle.read())
    except OSError as exc:
        raise SettingError(
            f"{VARIABLE}={path!r}: cannot read it ({exc.strerror or exc}); run the command as "
            "the service's user (sudo -u gpupulse ...) or name another file"
        ) from None


def merged(env: Mapping[str, str], system_file: str = SYSTEM_FILE) -> Mapping[str, str]:
    """`env` over the values of its settings file (the process's own variables win)."""
    path = chosen(env, system_file)
    return {**read(path), **env} if path else env
