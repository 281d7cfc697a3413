"""The lab endpoints' query parameters, declared once for parsing, the API info and OpenAPI."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from api.params import MONTH_PATTERN, YEAR_PATTERN, BadParam, Choice, Day, IntRange, Param
from api.svg.theme import THEMES
from protocol.limits import MAX_GPU_INDEX

_MONTH = re.compile(r"(\d{4})-(\d{2})", re.ASCII)
USAGE_GROUPS = ("user", "day", "month", "gpu", "workload")


@dataclass(frozen=True)
class Month(Param):
    """A calendar month, YYYY-MM, parsed to (year, month)."""

    def parse(self, raw: str | None) -> Any:
        """(year, month), or BadParam."""
        if raw is None:
            return self.default
        match = _MONTH.fullmatch(raw)
        if match is None or not (1970 <= int(match[1]) <= 9000 and 1 <= int(match[2]) <= 12):
            raise BadParam(self.name, f"{self.name} must be a month YYYY-MM", self.allowed())
        return int(match[1]), int(match[2])

    def allowed(self) -> Any:
        """The format."""
        return "YYYY-MM from 1970-01 to 9000-12"

    def schema(self) -> dict:
        """A YYYY-MM string."""
        return {"type": "string", "pattern": f"^{YEAR_PATTERN}-{MONTH_PATTERN}$"}


THEME = Choice(
    "theme", "colours: light, dark, or auto (follows prefers-color-scheme)", "light", THEMES
)
USAGE_PARAMS = (
    Choice("by", "group GPU-hours by user, day, month, gpu or workload", "user", USAGE_GROUPS),
    Day("from", "first day, YYYY-MM-DD in GPUPULSE_TZ (default: the first of `to`'s month)"),
    Day("to", "last day, inclusive (default: today in GPUPULSE_TZ)"),
)
QUOTA_PARAMS = (Month("month", "the month whose usage counts (default: this month)"),)
EXPORT_PARAMS = (Day("date", "the day to export, YYYY-MM-DD in GPUPULSE_TZ (default: today)"),)
DELETE_PARAMS = (
    IntRange("gpu", "remove this GPU index's reservation", None, 0, MAX_GPU_INDEX),
    IntRange("id", "remove the reservation with this id", None, 1, 2**62),
)
USERS_CHART_PARAMS = (THEME, Month("month", "the month shown (default: this month)"))
HOURS_CHART_PARAMS = (
    THEME,
    Day("from", "first day, YYYY-MM-DD in GPUPULSE_TZ (default: 27 days before `to`)"),
    Day("to", "last day, inclusive (default: today in GPUPULSE_TZ)"),
)
MONTHS_CHART_PARAMS = (THEME, IntRange("months", "months shown, ending this month", 12, 1, 36))
