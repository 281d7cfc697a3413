"""GET /api/v1/usage: GPU-hours per user, day, month or GPU, from the per-user roll-ups.

Hours that idle-runner jobs harvested are never in these rows (the roll-ups leave those
processes out); they are reported apart as `idle_harvested_gpu_hours`.
"""

from __future__ import annotations

from datetime import date, timedelta
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, jsonify, request

from api.gpus import known_gpus
from api.hub.views import host_reader
from api.lab.names import DisplayNames
from api.lab.params import USAGE_PARAMS
from api.params import BadParam, parse_query
from api.state import state
from store import aggregate
from store.db import Connection
from store.usage import Span, month_of, seconds_by, user_days, user_gpus

bp = Blueprint("lab_usage", __name__)
HOUR = 3600.0
MAX_DAYS = 3660  # ten years


def span_of(query: dict, today: date) -> Span:
    """The days a usage query covers (default: this month so far); BadParam if reversed or
    longer than MAX_DAYS (the idle-harvest figure walks every day of the span)."""
    last = query["to"] or today
    first = query["from"] or last.replace(day=1)
    if first > last:
        raise BadParam("from", f"from ({first}) is after to ({last})", f"a date up to {last}")
    if (last - first).days >= MAX_DAYS:
        earliest = last - timedelta(days=MAX_DAYS - 1)
        raise BadParam("from", f"from and to may span at most {MAX_DAYS:,} days",
                       f"a date from {earliest} to {last}")  # fmt: skip
    return Span(first, last)


def hours(seconds: float) -> float:
    """GPU-seconds as GPU-hours, rounded for JSON."""
    return round(seconds / HOUR, 3)


def harvested_seconds(conn: Connection, span: Span, tz: ZoneInfo) -> float:
    """GPU-seconds idle-runner jobs harvested in the span (store.aggregate.idle_harvest)."""
    days = aggregate.idle_harvest(conn, span.first.isoformat(), span.last.isoformat(), tz)
    return float(sum(day["gpu_seconds"] for day in days))


def grouped(rows: dict[str, dict[str, float]], key: str) -> list[dict]:
    """[{key: k, gpu_hours, users: {login: hours}}] sorted by key."""
    return [{key: k, "gpu_hours": hours(sum(users.values())),
             "users": {u: hours(s) for u, s in sorted(users.items())}}
            for k, users in sorted(rows.items())]  # fmt: skip


def by_user(days: list[tuple[str, str, float]]) -> list[dict]:
    """[{user, gpu_hours, active_days}] busiest first, from (day, user, seconds) rows."""
    totals: dict[str, list] = {}
    for _day, user, seconds in days:
        entry = totals.setdefault(user, [0.0, 0])
        entry[0] += seconds
        entry[1] += seconds > 0
    ranked = sorted(totals.items(), key=lambda item: (-item[1][0], item[0]))
    return [{"user": u, "gpu_hours": hours(s), "active_days": n} for u, (s, n) in ranked]


def by_gpu(conn: Connection, span: Span, names: DisplayNames) -> list[dict]:
    """[{gpu, gpu_index, gpu_uuid, gpu_name, display_name, gpu_hours, users}] by GPU id."""
    per_gpu: dict[int, dict[str, float]] = {}
    for gpu, user, seconds in user_gpus(conn, span):
        per_gpu.setdefault(gpu, {})[user] = seconds
    refs = {g.id: g for g in known_gpus(conn)}
    rows = []
    for gpu, users in sorted(per_gpu.items()):
        ref = refs.get(gpu)
        index, uuid, name = (ref.index, ref.uuid, ref.name) if ref else (None, None, None)
        rows.append({"gpu": gpu, "gpu_index": index, "gpu_uuid": uuid, "gpu_name": name,
                     "display_name": names.gpu(name, index, uuid),
                     "gpu_hours": hours(sum(users.values())),
                     "users": {u: hours(s) for u, s in sorted(users.items())}})  # fmt: skip
    return rows


def usage_rows(conn: Connection, by: str, span: Span, names: DisplayNames,
               days: list[tuple[str, str, float]]) -> list[dict]:  # fmt: skip
    """The rows of a usage report grouped `by` user, day, month or gpu (`days`: the span's
    (day, user, seconds) rows, read once by the caller)."""
    if by == "user":
        return by_user(days)
    if by == "gpu":
        return by_gpu(conn, span, names)
    key = (lambda day: day) if by == "day" else month_of
    return grouped(seconds_by(iter(days), key), by)


def usage_report(conn: Connection, by: str, span: Span, names: DisplayNames, tz: ZoneInfo) -> dict:
    """The whole /api/v1/usage body (also what `gpupulse-api usage --json` prints)."""
    days = list(user_days(conn, span))
    rows = usage_rows(conn, by, span, names, days)
    users = {u for _d, u, _s in days}
    total = sum(s for _d, _u, s in days)
    return {
        "by": by, "from": span.first.isoformat(), "to": span.last.isoformat(),
        "timezone": tz.key, "total_gpu_hours": hours(total),
        "idle_harvested_gpu_hours": hours(harvested_seconds(conn, span, tz)),
        "display_names": {u: names.user(u) for u in sorted(users)},
        "rows": rows,
    }  # fmt: skip


@bp.get("/api/v1/usage")
def usage() -> Response:
    """GPU-hours per user, day, month or GPU for a range of days."""
    query = parse_query(USAGE_PARAMS, request.args)
    app_state = state()
    span = span_of(query, app_state.today())
    settings = app_state.settings
    conn = host_reader(app_state.readers.get(), query["host"], span.first, span.last)  # api.hub
    body = usage_report(conn, query["by"], span, settings.lab.names, settings.tz)
    return jsonify(body)


def days_back(today: date, n: int) -> Span:
    """The `n` days ending today."""
    return Span(today - timedelta(days=n - 1), today)
