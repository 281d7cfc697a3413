"""The kinds of value a setting holds: how its text is read and what fits, for errors and docs."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


class SettingError(ValueError):
    """A setting has a value we cannot use; the message names it and says what fits."""


class Misfit(ValueError):
    """A text that does not fit a kind; the message says why, without the setting's name."""


def number_text(value: float) -> str:
    """A number as a person writes it: 5 rather than 5.0."""
    return str(int(value)) if float(value).is_integer() else str(value)


@dataclass(frozen=True)
class Kind:
    """Text as it is: a name, a token, a list parsed later by its feature."""

    label: str = field(default="text", kw_only=True)

    def parse(self, raw: str) -> object:
        """The value of `raw` (never empty: empty means unset); Misfit when it does not fit."""
        return raw

    def unset(self) -> object:
        """The value of a setting left empty that has no default."""
        return ""

    def allowed(self) -> str:
        """What fits, for the docs ('' when anything does)."""
        return ""


@dataclass(frozen=True)
class Path(Kind):
    """A file or directory path, used as written."""

    label: str = field(default="path", kw_only=True)


@dataclass(frozen=True)
class Number(Kind):
    """A number within [low, high]; `whole` asks for an integer."""

    low: float | None = None
    high: float | None = None
    whole: bool = False
    label: str = field(default="number", kw_only=True)

    def parse(self, raw: str) -> int | float:
        """The number, checked against its range."""
        try:
            value = float(raw)
        except ValueError:
            raise Misfit("is not a number") from None
        if not math.isfinite(value):
            raise Misfit("is not a number")
        if (self.low is not None and value < self.low) or (
            self.high is not None and value > self.high
        ):
            raise Misfit(f"is out of range; use {self.range()}")
        if self.whole and value != int(value):
            raise Misfit("must be a whole number")
        return int(value) if self.whole else value

    def unset(self) -> None:
        """No number: the reader derives one."""
        return None

    def range(self) -> str:
        """'1 to 3600', 'at least 1' or 'any'."""
        low, high = self.low, self.high
        if low is not None and high is not None:
            return f"{number_text(low)} to {number_text(high)}"
        if low is not None:
            return f"at least {number_text(low)}"
        return "any" if high is None else f"at most {number_text(high)}"

    def allowed(self) -> str:
        """The range, unless any number fits."""
        text = self.range()
        return "" if text == "any" else text


def whole(low: int | None = None, high: int | None = None, label: str = "integer") -> Number:
    """A whole number within [low, high]."""
    return Number(low, high, whole=True, label=label)


def seconds(low: float | None = None, high: float | None = None, *, whole: bool = False) -> Number:
    """A duration in seconds within [low, high]."""
    return Number(low, high, whole=whole, label="seconds")


TRUE = frozenset({"1", "true", "yes", "on"})
FALSE = frozenset({"0", "false", "no", "off"})


@dataclass(frozen=True)
class Flag(Kind):
    """Yes or no: 1/true/yes/on or 0/false/no/off."""

    label: str = field(default="yes/no", kw_only=True)

    def parse(self, raw: str) -> bool:
        """True or False."""
        if raw.lower() in TRUE:
            return True
        if raw.lower() in FALSE:
            return False
        raise Misfit("must be one of 1/0, true/false, yes/no, on/off")

    def allowed(self) -> str:
        """The spellings."""
        return "`true`/`false` (or `1`/`0`, `yes`/`no`, `on`/`off`)"


@dataclass(frozen=True)
class Choice(Kind):
    """One of a few words; `upper` reads them case-insensitively, in capitals."""

    options: tuple[str, ...] = ()
    upper: bool = False
    label: str = field(default="choice", kw_only=True)

    def parse(self, raw: str) -> str:
        """The word, if it is one of the options."""
        value = raw.upper() if self.upper else raw
        if value not in self.options:
            raise Misfit(f"must be one of {', '.join(self.options)}")
        return value

    def allowed(self) -> str:
        """The options."""
        return "one of " + ", ".join(f"`{o}`" for o in self.options)


@dataclass(frozen=True)
class TimeZone(Kind):
    """An IANA time zone name such as Europe/Berlin."""

    label: str = field(default="time zone", kw_only=True)

    def parse(self, raw: str) -> ZoneInfo:
        """The zone."""
        try:
            return ZoneInfo(raw)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            raise Misfit("is not an IANA time zone name") from None

    def allowed(self) -> str:
        """Any zone the system's tz database has (the doc says so already)."""
        return ""


@dataclass(frozen=True)
class HostPort(Kind):
    """HOST:PORT to listen on."""

    label: str = field(default="HOST:PORT", kw_only=True)

    def parse(self, raw: str) -> str:
        """The text, once its port is checked."""
        host, _, port = raw.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise Misfit("must be HOST:PORT with a port from 1 to 65535")
        return raw

    def allowed(self) -> str:
        """The shape."""
        return "`HOST:PORT`"


@dataclass(frozen=True)
class Endpoint(Kind):
    """Where an HTTP API answers: a unix socket (`unix:///path` or a bare `/path`) or an
    `http://` / `https://` (or `tcp://`) URL."""

    label: str = field(default="socket or URL", kw_only=True)

    def parse(self, raw: str) -> str:
        """The text, once its form is checked."""
        if raw.startswith("/") or raw.startswith("unix:///"):
            return raw
        scheme, _, rest = raw.partition("://")
        if scheme in ("http", "https", "tcp") and rest.strip("/"):
            return raw
        raise Misfit("must be unix:///path, a socket path, or an http(s):// URL")

    def allowed(self) -> str:
        """The shapes."""
        return "`unix:///path`, `/path` or `http(s)://host:port`"
