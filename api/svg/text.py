"""Text that goes into SVGs: data-supplied names made safe, and English date/number formats.

Names come from the database (user names, host and GPU names) and from query strings, so
they are stripped of characters XML 1.0 cannot carry and capped in length; the XML
serializer does the escaping of &, <, > and quotes.
"""

from __future__ import annotations

import re
from datetime import date

MAX_LABEL = 48
# Control characters, surrogates and the two non-characters XML 1.0 forbids, plus bidi
# overrides that could make a name display as something else.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff\u202a-\u202e\u2066-\u2069]")
DASH = "\u2013"  # an en dash: what a legend shows for a level no day reaches
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


def clean_label(text: str | None, limit: int = MAX_LABEL) -> str:
    """A name safe to put in XML text: unsafe characters removed, capped with an ellipsis."""
    cleaned = " ".join(_UNSAFE.sub(" ", text or "").split())
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1].rstrip() + "…"


def long_date(day: date) -> str:
    """'Tuesday, March 4, 2026' (fixed English, not the server's locale)."""
    return f"{WEEKDAYS[day.weekday()]}, {MONTHS[day.month - 1]} {day.day}, {day.year}"


def short_date(day: date) -> str:
    """'Mar 4, 2026'."""
    return f"{MONTHS[day.month - 1][:3]} {day.day}, {day.year}"


def duration(minutes: float) -> str:
    """'3 h 20 min', '45 min', '2 h', 'under 1 min' for a positive number of minutes."""
    whole = round(minutes)
    if whole == 0:
        return "under 1 min" if minutes > 0 else "0 min"
    hours, mins = divmod(whole, 60)
    if not hours:
        return f"{mins} min"
    return f"{hours:,} h" if not mins else f"{hours:,} h {mins} min"


def number(value: float, digits: int = 1) -> str:
    """A number with thousands separators and at most `digits` decimals, trailing zeros cut."""
    text = f"{value:,.{digits}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def plural(count: int, word: str) -> str:
    """'1 day', '3 days'."""
    return f"{count:,} {word}" if count == 1 else f"{count:,} {word}s"
