"""Times on the wire and on the command line: `iso` writes a payload's UTC hour
(`aggregation_time`), `parse` reads the scheduler commands' TIME arguments into UTC seconds,
with one-line errors."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

FORMATS_HINT = "use e.g. 2026-03-20T13:00, '2026-03-20 13:30:05', 2026-03-20T13:00Z or unix seconds"


class TimeError(ValueError):
    """A TIME argument that is malformed or names no real moment."""


@dataclass(frozen=True)
class Moment:
    """A parsed TIME: UTC seconds, and whether it names the start of a UTC hour."""

    ts: int
    is_hour: bool


def parse(text: str, tz: ZoneInfo) -> Moment:
    """Parse ISO-ish local (GPUPULSE_TZ) or offset times, or unix seconds."""
    raw = text.strip()
    if raw.isdigit():
        ts = int(raw)
        return Moment(ts, ts % 3600 == 0)
    if len(raw) < 13 or raw[10] not in "T ":
        raise TimeError(f"time {text!r} needs a date and an hour; {FORMATS_HINT}")
    try:
        when = datetime.fromisoformat(raw[:10] + "T" + raw[11:])
    except ValueError:
        raise TimeError(f"time {text!r} is not a valid time; {FORMATS_HINT}") from None
    if when.tzinfo is None:
        when = _localize(when, tz, text)
    ts = int(when.timestamp())
    return Moment(ts, when.minute == 0 and when.second == 0 and ts % 3600 == 0)


def _localize(when: datetime, tz: ZoneInfo, text: str) -> datetime:
    local = when.replace(tzinfo=tz)
    back = datetime.fromtimestamp(local.timestamp(), tz).replace(tzinfo=None)
    if back != when:
        raise TimeError(f"time {text!r} does not exist in {tz.key} (clocks skipped it)")
    return local


def hour_of(moment: Moment) -> int:
    """The UTC hour holding a moment."""
    return moment.ts // 3600 * 3600


def iso(ts: float) -> str:
    """UTC ISO 8601 with Z."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
