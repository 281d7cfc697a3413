"""When a reservation ends: an ISO date-time, a date (the end of that day), or a duration
from now such as `2d 3h`, `90m` or `1w 2d`."""

from __future__ import annotations

import re
from datetime import date, datetime, tzinfo

from store.aggregate import day_span

UNITS = {"w": 604_800, "d": 86_400, "h": 3_600, "m": 60, "s": 1}
_PART = re.compile(r"\s*(\d{1,6})\s*(w|d|h|m|s)\s*", re.IGNORECASE | re.ASCII)
MAX_AHEAD_S = 366 * 86_400


class BadUntil(ValueError):
    """`until` is neither a date-time nor a duration we understand."""


def parse_duration(text: str) -> int | None:
    """Seconds in '2d 3h' / '90m' / '1w2d'; None when `text` is not a duration."""
    pos, total = 0, 0
    while pos < len(text):
        match = _PART.match(text, pos)
        if match is None:
            return None
        total += int(match.group(1)) * UNITS[match.group(2).lower()]
        pos = match.end()
    return total if text.strip() else None


FOREVER = 253_402_300_799  # 9999-12-31T23:59:59Z: where calendar arithmetic ends
# An end from here on is "9999-12-31" in some time zone (UTC-12 to UTC+14): no real end.
NO_END_FROM = FOREVER - 2 * 86_400


def parse_instant(text: str, tz: tzinfo) -> int | None:
    """UTC seconds of an ISO date-time (naive: in `tz`) or of the midnight ending an ISO
    date; None when `text` is neither. Dates past the calendar's end (9999-12-31, a common
    way to say "for ever") give FOREVER."""
    text = text.strip()
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            return day_span(day, day, tz)[1]
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace(" ", "T", 1))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=tz)
        return min(int(moment.timestamp()), FOREVER)
    except OverflowError:
        return FOREVER
    except ValueError:
        return None


def parse_until(text: str, now: float, tz: tzinfo) -> int:
    """UTC seconds when a reservation ends; BadUntil unless it is in the coming year."""
    if not isinstance(text, str) or not text.strip() or len(text) > 64:
        raise BadUntil("until must be an ISO date-time (2026-03-06T18:00) or a duration (2d 3h)")
    seconds = parse_duration(text)
    end = int(now) + seconds if seconds is not None else parse_instant(text, tz)
    if end is None:
        raise BadUntil(f"until {text[:40]!r} is neither an ISO date-time nor a duration like 2d 3h")
    if end <= now:
        raise BadUntil("until must be in the future")
    if end - now > MAX_AHEAD_S:
        raise BadUntil("until must be at most a year ahead")
    return end


def iso(ts: int | None, tz: tzinfo) -> str | None:
    """'2026-03-06T18:00:00+01:00' in `tz`, or None for no end: None, or an end at the
    calendar's last days or past them (a booking "until 9999-12-31" is until removed)."""
    if ts is None or ts >= NO_END_FROM:
        return None
    return datetime.fromtimestamp(ts, tz).isoformat()
