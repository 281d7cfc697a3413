"""When a reservation ends: durations, ISO date-times and dates."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from api.lab.until import BadUntil, parse_duration, parse_until

NOW = datetime(2026, 3, 4, 15, 0, tzinfo=UTC).timestamp()
BERLIN = ZoneInfo("Europe/Berlin")


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("2d 3h", 2 * 86400 + 3 * 3600),
        ("90m", 5400),
        ("1w2d", 9 * 86400),
        ("45s", 45),
        ("1H 30M", 5400),
        ("3 h", 10800),
    ],
)
def test_durations(text, seconds):
    assert parse_duration(text) == seconds
    assert parse_until(text, NOW, BERLIN) == NOW + seconds


@pytest.mark.parametrize("text", ["", "2x", "d", "2d 3", "-1h", "1.5h"])
def test_not_durations(text):
    assert parse_duration(text) is None


def test_iso_date_times_and_dates():
    assert parse_until("2026-03-05T12:00:00Z", NOW, BERLIN) == NOW + 21 * 3600
    # Naive times are in GPUPULSE_TZ (Berlin is UTC+1 in March).
    assert parse_until("2026-03-05 13:00", NOW, BERLIN) == NOW + 21 * 3600
    # A date means until that day is over.
    end_of_day = datetime(2026, 3, 5, 23, tzinfo=UTC).timestamp()  # Berlin midnight
    assert parse_until("2026-03-05", NOW, BERLIN) == end_of_day


@pytest.mark.parametrize("text", ["yesterday", "2026-03-04T14:00:00Z", "0h", "2027-06-01", None])
def test_rejected(text):
    with pytest.raises(BadUntil):
        parse_until(text, NOW, BERLIN)
