"""The days a lab chart reads, so a host view (`host=`) holds just those."""

from __future__ import annotations

from datetime import date, timedelta
from zoneinfo import ZoneInfo

from api.lab.quotas import month_span, this_month


def chart_days(name: str, query: dict, now: float, today: date, tz: ZoneInfo) -> tuple:
    """(first, last) day of /charts/NAME.svg for parsed parameters (defaults as api.lab.charts:
    the hours chart's last four weeks, the users chart's month, the months chart's months)."""
    if name == "hours":
        last = query["to"] or today
        return query["from"] or last - timedelta(days=27), last
    year, month = query.get("month") or this_month(now, tz)
    span = month_span(year, month)
    if name == "users":
        return span.first, span.last
    serial = year * 12 + month - 1 - (query["months"] - 1)
    return date(serial // 12, serial % 12 + 1, 1), span.last
