"""Settings made of NAME=VALUE items (a comma-separated variable, or a file of lines with
`#` comments): display names, aliases and quotas, read the same way by every service."""

from __future__ import annotations

from pathlib import Path

from runtime.kinds import SettingError
from runtime.text import unsafe_character

MAX_NAME = 64


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
            raise SettingError(f"{variable}: value for {key.strip()!r} is over {MAX_NAME} chars")
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
