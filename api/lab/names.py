"""Display names: short GPU names (GPUPULSE_GPU_NAMES) and people's names for logins
(GPUPULSE_USER_ALIASES), applied by every view. The raw names stay in the data and in JSON
next to the display names, so scripts keep working when an alias changes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from api.params import unsafe_character
from runtime.settings import SettingError

MAX_NAME = 64


@dataclass(frozen=True)
class DisplayNames:
    """Aliases for GPUs (by model name, index or UUID) and for users (by login)."""

    gpus: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    users: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    def gpu(self, name: str | None, index: int | None = None, uuid: str | None = None) -> str:
        """The alias of a GPU: by UUID, then index, then model name; else the model name."""
        for key in (uuid, None if index is None else str(index), name):
            if key is not None and key in self.gpus:
                return self.gpus[key]
        return name or ""

    def user(self, login: str | None) -> str:
        """The alias of a login, else the login itself."""
        return self.users.get(login or "", login or "")


def parse_pairs(text: str, variable: str, separator: str = ",") -> dict[str, str]:
    """'a=b,c=d' -> {'a': 'b', 'c': 'd'}; SettingError naming `variable` on a bad item."""
    out: dict[str, str] = {}
    for number, item in enumerate(text.split(separator), start=1):
        item = item.split("#", 1)[0].strip() if separator == "\n" else item.strip()
        if not item:
            continue
        key, eq, value = item.partition("=")
        if not eq or not key.strip() or not value.strip():
            where = f"line {number}" if separator == "\n" else f"item {item!r}"
            raise SettingError(f"{variable}: {where} must look like NAME=VALUE")
        if len(value.strip()) > MAX_NAME:
            raise SettingError(f"{variable}: alias for {key.strip()!r} is over {MAX_NAME} chars")
        bad = unsafe_character(item)
        if bad is not None:
            raise SettingError(f"{variable}: item {number} contains the control character {bad}")
        out[key.strip()] = value.strip()
    return out


def read_setting_file(path: str, variable: str) -> str:
    """A settings file's text; SettingError naming `variable` when it cannot be read."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as problem:
        raise SettingError(f"{variable}={path!r} cannot be read: {problem}") from None


def load_names(gpu_names: str, alias_file: str) -> DisplayNames:
    """DisplayNames from GPUPULSE_GPU_NAMES text and the GPUPULSE_USER_ALIASES file path."""
    users = {}
    if alias_file:
        text = read_setting_file(alias_file, "GPUPULSE_USER_ALIASES")
        users = parse_pairs(text, "GPUPULSE_USER_ALIASES", "\n")
    gpus = parse_pairs(gpu_names, "GPUPULSE_GPU_NAMES")
    return DisplayNames(MappingProxyType(gpus), MappingProxyType(users))


def with_display_names(gpus: list[dict], names: DisplayNames) -> list[dict]:
    """GPU states (store.samples.latest_state) with `display_name` on each GPU and process."""
    return [
        {
            **g,
            "display_name": names.gpu(g["name"], g["index"], g["uuid"]),
            "processes": [{**p, "display_name": names.user(p["user"])} for p in g["processes"]],
        }
        for g in gpus
    ]
