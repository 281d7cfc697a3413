"""Query parameters, declared once: parsing, the 400 they raise, and how they are documented.

The same Param objects feed request parsing, the API info at `/` and the OpenAPI document,
so a parameter cannot be documented one way and parsed another.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from runtime.text import UNSAFE_CHARS, unsafe_character

MAX_TEXT = 128
FIRST_DAY, LAST_DAY = date(1970, 1, 1), date(9000, 12, 31)
# The years FIRST_DAY..LAST_DAY, for the OpenAPI document's patterns of dates and months.
YEAR_PATTERN = "(19[7-9][0-9]|[2-8][0-9]{3}|9000)"
MONTH_PATTERN = "(0[1-9]|1[0-2])"
# Whatever the retention, no request reads more days than this: ten years.
MAX_SPAN_DAYS = 3660
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
TEXT_PATTERN = f"^[^{UNSAFE_CHARS}]*$"  # free text in the OpenAPI document
# Free text with something besides spaces in it (a name).
NAME_PATTERN = f"^[^{UNSAFE_CHARS}]*[^\\s{UNSAFE_CHARS}][^{UNSAFE_CHARS}]*$"


def is_ascii_number(text: str) -> bool:
    """True for ASCII digits only: '3', not '٣' or '³', which str.isdigit also accepts."""
    return text.isascii() and text.isdigit()


def checked_text(name: str, value: str, allowed: Any) -> str:
    """`value` if it holds no control or bidi-override character; BadParam naming `name`."""
    bad = unsafe_character(value)
    if bad is not None:
        raise BadParam(name, f"{name} contains the control character {bad}", allowed)
    return value


class BadParam(ValueError):
    """A query parameter we cannot use; becomes a 400 naming it and what it may be."""

    def __init__(self, name: str, message: str, allowed: Any) -> None:
        super().__init__(message)
        self.name, self.message, self.allowed = name, message, allowed

    def body(self) -> dict:
        """The JSON error body."""
        return {"error": self.message, "parameter": self.name, "allowed": self.allowed}


@dataclass(frozen=True)
class Param:
    """A free-text parameter (capped length); subclasses narrow what is accepted."""

    name: str
    description: str
    default: Any = None

    def parse(self, raw: str | None) -> Any:
        """The value for `raw` (None when absent), or BadParam."""
        if raw is None:
            return self.default
        if len(raw) > MAX_TEXT:
            raise BadParam(
                self.name, f"{self.name} is longer than {MAX_TEXT} characters", self.allowed()
            )
        return checked_text(self.name, raw, self.allowed())

    def allowed(self) -> Any:
        """What the error body lists as acceptable."""
        return f"text of at most {MAX_TEXT} characters, no control characters"

    def schema(self) -> dict:
        """The OpenAPI schema of the parameter."""
        return self._with_default(
            {"type": "string", "maxLength": MAX_TEXT, "pattern": TEXT_PATTERN}
        )

    def describe(self) -> dict:
        """The parameter as the API info lists it."""
        return {
            "name": self.name,
            "description": self.description,
            "default": self.default,
            "allowed": self.allowed(),
        }

    def openapi(self) -> dict:
        """The OpenAPI parameter object (an optional query parameter)."""
        return {
            "name": self.name,
            "in": "query",
            "required": False,
            "description": self.description,
            "schema": self.schema(),
        }

    def _with_default(self, schema: dict) -> dict:
        return schema if self.default is None else {**schema, "default": self.default}


@dataclass(frozen=True)
class PathParam(Param):
    """A part of the path (`/gpus/{gpu}`), always there; the route reads it, not the query."""

    def openapi(self) -> dict:
        """The OpenAPI parameter object (a required path parameter)."""
        return {**super().openapi(), "in": "path", "required": True}


@dataclass(frozen=True)
class Choice(Param):
    """One of a fixed set of words."""

    choices: tuple[str, ...] = ()

    def parse(self, raw: str | None) -> Any:
        """The chosen word, or BadParam listing the choices."""
        if raw is None:
            return self.default
        if raw not in self.choices:
            shown = raw if len(raw) <= 40 else raw[:40] + "…"
            raise BadParam(self.name, f"unknown {self.name} {shown!r}", self.allowed())
        return raw

    def allowed(self) -> Any:
        """The list of choices."""
        return list(self.choices)

    def schema(self) -> dict:
        """A string enum."""
        return self._with_default({"type": "string", "enum": list(self.choices)})


@dataclass(frozen=True)
class IntRange(Param):
    """A whole number within [low, high]."""

    low: int = 0
    high: int = 0

    def parse(self, raw: str | None) -> Any:
        """The number, or BadParam giving the range."""
        if raw is None:
            return self.default
        text = raw.strip()
        longest = len(str(max(abs(self.low), abs(self.high)))) + 1  # a sign, then the digits
        if not is_ascii_number(text.lstrip("+-")) or len(text) > longest:
            raise BadParam(self.name, f"{self.name} must be a whole number", self.allowed())
        value = int(text)
        if not self.low <= value <= self.high:
            raise BadParam(
                self.name, f"{self.name} must be from {self.low} to {self.high}", self.allowed()
            )
        return value

    def allowed(self) -> Any:
        """'1..53'."""
        return f"{self.low}..{self.high}"

    def schema(self) -> dict:
        """A bounded integer."""
        return self._with_default({"type": "integer", "minimum": self.low, "maximum": self.high})


@dataclass(frozen=True)
class Day(Param):
    """A calendar date, YYYY-MM-DD."""

    def parse(self, raw: str | None) -> Any:
        """The date, or BadParam."""
        if raw is None:
            return self.default
        try:
            value = date.fromisoformat(raw) if _DATE.fullmatch(raw) else None
        except ValueError:
            value = None
        if value is None or not FIRST_DAY <= value <= LAST_DAY:
            raise BadParam(self.name, f"{self.name} must be a date YYYY-MM-DD", self.allowed())
        return value

    def allowed(self) -> Any:
        """The format and range."""
        return f"YYYY-MM-DD from {FIRST_DAY} to {LAST_DAY}"

    def schema(self) -> dict:
        """An ISO date string."""
        days = "(0[1-9]|[12][0-9]|3[01])"
        return {
            "type": "string",
            "format": "date",
            "pattern": f"^{YEAR_PATTERN}-{MONTH_PATTERN}-{days}$",
        }


def day_range(
    query: Mapping[str, Any], today: date, default_first: Callable[[date], date], max_days: int
) -> tuple[date, date]:
    """(from, to) of a parsed query, `to` defaulting to today and `from` to default_first(to);
    BadParam naming `from` when it is after `to`, and naming the one sent when the two span
    more than `max_days` days: a request reads a bounded number of days whatever it asks."""
    last = query["to"] or today
    first = query["from"] or default_first(last)
    if first > last:
        raise BadParam("from", f"from ({first}) is after to ({last})", f"a date up to {last}")
    if (last - first).days >= max_days:
        name = "from" if query["from"] is not None else "to"
        earliest = last - timedelta(days=max_days - 1)
        raise BadParam(
            name,
            f"from and to may span at most {max_days:,} days",
            f"from no earlier than {earliest} when to is {last}",
        )
    return first, last


def parse_query(params: Sequence[Param], args: Mapping[str, str]) -> dict[str, Any]:
    """Parse every declared parameter from `args` (the first value of each); BadParam on error."""
    return {p.name: p.parse(args.get(p.name)) for p in params}
