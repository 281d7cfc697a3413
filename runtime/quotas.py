"""Monthly GPU-hour limits: GPUPULSE_QUOTAS (`alice=200,bob=50,*=100`) and/or the file
GPUPULSE_QUOTAS_FILE (one `user=hours` a line, `#` comments); the variable wins on a clash."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from runtime.kinds import SettingError
from runtime.pairs import parse_pairs, read_setting_file

DEFAULT_KEY = "*"


@dataclass(frozen=True)
class Quotas:
    """Per-user monthly limits in GPU-hours and the default for everyone else (None: none)."""

    limits: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    default: float | None = None

    def limit(self, user: str) -> float | None:
        """The user's monthly limit in GPU-hours, or None for no limit."""
        return self.limits.get(user, self.default)

    def __bool__(self) -> bool:
        return bool(self.limits) or self.default is not None


def hours(variable: str, user: str, text: str) -> float:
    """A limit in GPU-hours (>= 0); SettingError naming the variable and user otherwise."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value < 1e9:
        raise SettingError(f"{variable}: the limit for {user!r} must be GPU-hours >= 0")
    return value


def load_quotas(inline: str, path: str) -> Quotas:
    """Quotas from the GPUPULSE_QUOTAS text and the GPUPULSE_QUOTAS_FILE path (both optional)."""
    raw: dict[str, float] = {}
    if path:
        pairs = parse_pairs(
            read_setting_file(path, "GPUPULSE_QUOTAS_FILE"), "GPUPULSE_QUOTAS_FILE", "\n"
        )
        raw.update({u: hours("GPUPULSE_QUOTAS_FILE", u, v) for u, v in pairs.items()})
    pairs = parse_pairs(inline, "GPUPULSE_QUOTAS")
    raw.update({u: hours("GPUPULSE_QUOTAS", u, v) for u, v in pairs.items()})
    default = raw.pop(DEFAULT_KEY, None)
    return Quotas(MappingProxyType(raw), default)
