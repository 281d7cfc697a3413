"""GET /api/v1/usage: GPU-hours per user, day, month or GPU, from the per-user roll-ups.

Hours that idle-runner jobs harvested are never in these rows (the roll-ups leave those
processes out); they are reported apart as `idle_harvested_gpu_hours`.
"""

from __future__ import annotations

from datetime import date, timedelta
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, jsonify

from api.catalog import DAILY, JSON, Endpoint
from api.lab.names import DisplayNames
from api.lab.params import USAGE_PARAMS
from api.lab.settings import lab_settings
from api.params import day_range
from api.source import Source
from api.state import state
from store.rollups import HOST
from store.usage import Span, month_of, seconds_by

bp = Blueprint("lab_usage", __name__)
ENDPOINTS = (
    Endpoint(
        "/api/v1/usage",
        "GPU-hours by user, day, month or GPU",
        JSON,
        USAGE_PARAMS,
        (400, 503),
        span=DAILY,
    ),
)
HOUR = 3600.0


def span_of(query: dict, today: date, max_days: int) -> Span:
    """The days a usage query covers (default: this month so far); BadParam if reversed or
    wider than `max_days` (the idle-harvest figure walks every day of the span)."""
    first, last = day_range(query, today, lambda end: end.replace(day=1), max_days)
    return Span(first, last)


def hours(seconds: float) -> float:
    """GPU-seconds as GPU-hours, rounded for JSON."""
    return round(seconds / HOUR, 3)


def harvested_seconds(source: Source, span: Span, tz: ZoneInfo) -> float:
    """GPU-seconds idle-runner jobs harvested in the span (store.aggregate.idle_harvest)."""
    return float(sum(day["gpu_seconds"] for day in source.idle_harvest(span, tz)))


def user_totals(source: Source, span: Span) -> dict[str, float]:
    """GPU-seconds per user over the span."""
    return seconds_by(source.user_days(span), lambda _day: "all").get("all", {})


def grouped(rows: dict[str, dict[str, float]], key: str) -> list[dict]:
    """[{key: k, gpu_hours, users: {login: hours}}] sorted by key."""
    return [
        {
            key: k,
            "gpu_hours": hours(sum(users.values())),
            "users": {u: hours(s) for u, s in sorted(users.items())},
        }
        for k, users in sorted(rows.items())
    ]


def by_user(days: list[tuple[str, str, float]]) -> list[dict]:
    """[{user, gpu_hours, active_days}] busiest first, from (day, user, seconds) rows."""
    totals: dict[str, list] = {}
    for _day, user, seconds in days:
        entry = totals.setdefault(user, [0.0, 0])
        entry[0] += seconds
        entry[1] += seconds > 0
    ranked = sorted(totals.items(), key=lambda item: (-item[1][0], item[0]))
    return [{"user": u, "gpu_hours": hours(s), "active_days": n} for u, (s, n) in ranked]


def by_gpu(source: Source, span: Span, names: DisplayNames) -> list[dict]:
    """[{gpu, gpu_index, gpu_uuid, gpu_name, display_name, gpu_hours, users}] by GPU id."""
    per_gpu: dict[int, dict[str, float]] = {}
    for row in source.user_daily(span.first.isoformat(), span.last.isoformat()):
        if row["gpu"] != HOST:
            users = per_gpu.setdefault(row["gpu"], {})
            users[row["user"]] = users.get(row["user"], 0.0) + row["gpu_seconds"]
    refs = {g.id: g for g in source.gpus()}
    rows = []
    for gpu, users in sorted(per_gpu.items()):
        ref = refs.get(gpu)
        index, uuid, name = (ref.index, ref.uuid, ref.name) if ref else (None, None, None)
        rows.append(
            {
                "gpu": gpu,
                "gpu_index": index,
                "gpu_uuid": uuid,
                "gpu_name": name,
                "display_name": names.gpu(name, index, uuid),
                "gpu_hours": hours(sum(users.values())),
                "users": {u: hours(s) for u, s in sorted(users.items())},
            }
        )
    return rows


def usage_rows(
    source: Source, by: str, span: Span, names: DisplayNames, days: list[tuple[str, str, float]]
) -> list[dict]:
    """The rows of a usage report grouped `by` user, day, month or gpu (`days`: the span's
    (day, user, seconds) rows, read once by the caller)."""
    if by == "user":
        return by_user(days)
    if by == "gpu":
        return by_gpu(source, span, names)
    key = (lambda day: day) if by == "day" else month_of
    return grouped(seconds_by(iter(days), key), by)


def usage_report(source: Source, by: str, span: Span, names: DisplayNames, tz: ZoneInfo) -> dict:
    """The whole /api/v1/usage body (also what `gpupulse-api usage --json` prints)."""
    days = source.user_days(span)
    rows = usage_rows(source, by, span, names, days)
    users = {u for _d, u, _s in days}
    total = sum(s for _d, _u, s in days)
    return {
        "by": by,
        "from": span.first.isoformat(),
        "to": span.last.isoformat(),
        "timezone": tz.key,
        "total_gpu_hours": hours(total),
        "idle_harvested_gpu_hours": hours(harvested_seconds(source, span, tz)),
        "display_names": {u: names.user(u) for u in sorted(users)},
        "rows": rows,
    }


@bp.get("/api/v1/usage")
def usage() -> Response:
    """GPU-hours per user, day, month or GPU for a range of days."""
    app_state = state()
    query = app_state.query("/api/v1/usage")
    span = span_of(query, app_state.today(), app_state.settings.span_days())
    settings = app_state.settings
    source = app_state.source(query)
    body = usage_report(source, query["by"], span, lab_settings(settings).names, settings.tz)
    return jsonify(body)


def days_back(today: date, n: int) -> Span:
    """The `n` days ending today."""
    return Span(today - timedelta(days=n - 1), today)
