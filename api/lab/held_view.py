"""GPUs held idle on the status page: the ones held idle longer than GPUPULSE_HELD_IDLE_ALERT
flagged with who holds them, since when and how much memory (store.held_idle finds them),
and each user's held-idle hours of the last 24 h and 7 days."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, tzinfo

from api.lab.names import DisplayNames
from api.lab.page_rows import gib
from api.lab.usage import days_back
from api.svg.text import duration, number
from store.db import Connection
from store.held_idle import Stretch, user_seconds_days


def since_text(ts: int, now: float, tz: tzinfo) -> str:
    """'14:05' today, else '2026-03-03 14:05', in the configured zone."""
    when, today = datetime.fromtimestamp(ts, tz), datetime.fromtimestamp(now, tz)
    return when.strftime("%H:%M" if when.date() == today.date() else "%Y-%m-%d %H:%M")


def held_flags(
    stretches: list[Stretch],
    gpus: list[dict],
    names: DisplayNames,
    alert_s: float,
    now: float,
    tz: tzinfo,
) -> dict[int, dict]:
    """{GPU row id: its flag} for every GPU held idle (store.held_idle.held_idle_now) for at
    least `alert_s` seconds."""
    by_id = {g["id"]: g for g in gpus}
    flags = {}
    for stretch in stretches:
        gpu = by_id.get(stretch.gpu)
        if gpu is None or stretch.seconds < alert_s:
            continue
        flags[stretch.gpu] = {
            "index": gpu["index"],
            "name": names.gpu(gpu["name"], gpu["index"], gpu["uuid"]),
            "for": duration(stretch.seconds / 60),
            "since": since_text(stretch.since, now, tz),
            "memory": gib(sum(h["mem_mib"] or 0 for h in stretch.holders)),
            "holders": [
                {
                    "name": names.user(h["user"]),
                    "login": h["user"],
                    "pid": h["pid"],
                    "command": h["command"] or "",
                    "workload": h["workload"],
                    "memory": gib(h["mem_mib"]),
                }
                for h in stretch.holders
            ],
        }
    return flags


def held_hours(
    conn: Connection, today: date, last_day: Callable[[], dict[str, float]]
) -> Callable[[str], tuple[str, str]]:
    """A user's held-idle hours on this host as ('1.5', '12') for the last 24 h and 7 days."""
    span = days_back(today, 7)
    week = user_seconds_days(conn, span.first.isoformat(), span.last.isoformat())
    day = last_day()

    def of(user: str) -> tuple[str, str]:
        return number(day.get(user, 0.0) / 3600), number(week.get(user, 0.0) / 3600)

    return of
