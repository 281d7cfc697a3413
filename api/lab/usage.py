"""GET /api/v1/usage: GPU-hours per user, day, month, GPU or workload, from the roll-ups.

Hours that idle-runner jobs harvested are never in these rows (the roll-ups leave those
processes out); they are reported apart as `idle_harvested_gpu_hours`. GPU time no person's
process accounts for (a GPU busy with no process the collector could see, or an idle-runner
job's share) is `no_process_gpu_hours`: people's total plus it is the activity graph's
GPU-hours (`host_gpu_hours`), so the two views add up.
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
from store.energy import Rates
from store.rollups import HOST
from store.usage import Span, extras_by, extras_on_host, month_of, seconds_by

bp = Blueprint("lab_usage", __name__)
HOURS_FIELD = {"type": "number", "description": "GPU-hours"}
USAGE_REPLY = {
    "type": "object",
    "required": ["by", "from", "to", "rows", "total_gpu_hours", "no_process_gpu_hours"],
    "properties": {
        "by": {"type": "string", "enum": ["user", "day", "month", "gpu", "workload"]},
        "from": {"type": "string", "format": "date"},
        "to": {"type": "string", "format": "date"},
        "timezone": {"type": "string"},
        "total_gpu_hours": {**HOURS_FIELD, "description": "people's GPU-hours (the rows)"},
        "no_process_gpu_hours": {
            **HOURS_FIELD,
            "description": "GPU time no person's process accounts for (a GPU busy with no "
            "process seen, or an idle-runner job's share); by=day and by=month rows carry it too",
        },
        "host_gpu_hours": {
            **HOURS_FIELD,
            "description": "the activity graph's GPU-hours for the same days: "
            "total_gpu_hours + no_process_gpu_hours",
        },
        "idle_harvested_gpu_hours": {
            **HOURS_FIELD,
            "description": "idle-runner jobs' run time x GPUs, not in the total",
        },
        "held_idle_gpu_hours": {
            "type": "number",
            "nullable": True,
            "description": "GPU-hours held (memory allocated) but idle; null on a hub",
        },
        "energy_kwh": {
            "type": "number",
            "nullable": True,
            "description": "people's share of the GPUs' energy; null on a hub",
        },
        "co2e_kg": {
            "type": "number",
            "nullable": True,
            "description": "energy_kwh x GPUPULSE_CARBON_G_PER_KWH; null when unset",
        },
        "cost": {
            "type": "number",
            "nullable": True,
            "description": "energy_kwh x GPUPULSE_PRICE_PER_KWH; null when unset",
        },
        "currency": {"type": "string", "nullable": True, "description": "GPUPULSE_CURRENCY"},
        "host_energy_kwh": {
            "type": "number",
            "description": "every GPU's whole draw over the span, people's shares and no one's",
        },
        "display_names": {"type": "object", "additionalProperties": {"type": "string"}},
        "rows": {"type": "array", "items": {"type": "object"}},
    },
}
ENDPOINTS = (
    Endpoint(
        "/api/v1/usage",
        "GPU-hours by user, day, month, GPU or workload",
        JSON,
        USAGE_PARAMS,
        (400, 503),
        reply=USAGE_REPLY,
        span=DAILY,
    ),
)
HOUR = 3600.0
NO_RATES = Rates()


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


def host_seconds_by(source: Source, span: Span, key) -> dict[str, float]:
    """The whole host's GPU-seconds per key(day), from the daily roll-ups the activity graph
    draws (its GPU-hours)."""
    out: dict[str, float] = {}
    for row in source.daily(span.first.isoformat(), span.last.isoformat(), HOST):
        k = key(row["day"])
        out[k] = out.get(k, 0.0) + (row["gpu_minutes"] or 0) * 60
    return out


def no_process(host: float, people: float) -> float:
    """GPU-seconds of the host that no person's process accounts for (never below zero:
    rounding in the roll-ups may leave people a hair above the host)."""
    return max(0.0, host - people)


def no_process_by(source: Source, span: Span, days: list, key) -> dict[str, float]:
    """GPU-seconds no person's process accounts for per key(day), summed day by day from
    the span's (day, user, seconds) rows `days` and the host's daily roll-ups."""
    people = {day: sum(users.values()) for day, users in seconds_by(iter(days), str).items()}
    out: dict[str, float] = {}
    for day, host in host_seconds_by(source, span, str).items():
        k = key(day)
        out[k] = out.get(k, 0.0) + no_process(host, people.get(day, 0.0))
    return out


def grouped(rows: dict[str, dict[str, float]], key: str, unbooked: dict[str, float]) -> list:
    """[{key: k, gpu_hours, no_process_gpu_hours, users: {login: hours}}] sorted by key
    (`unbooked`: the GPU-seconds no process accounts for per key)."""
    return [
        {
            key: k,
            "gpu_hours": hours(sum(users.values())),
            "no_process_gpu_hours": hours(unbooked.get(k, 0.0)),
            "users": {u: hours(s) for u, s in sorted(users.items())},
        }
        for k, users in sorted({**{k: {} for k, v in unbooked.items() if v > 0}, **rows}.items())
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
    """[{gpu, gpu_index, uuid, gpu_name, display_name, gpu_hours, users}] by GPU id; `gpu`,
    the store's own id, keys the figures added later and leaves before the reply."""
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
                "uuid": uuid,
                "gpu_name": name,
                "display_name": names.gpu(name, index, uuid),
                "gpu_hours": hours(sum(users.values())),
                "users": {u: hours(s) for u, s in sorted(users.items())},
            }
        )
    return rows


def by_workload(source: Source, span: Span) -> list[dict]:
    """[{workload, gpu_hours, users}] busiest first; workload None: processes the collector
    found in no container, pod, job or unit."""
    rows = [
        {
            "workload": workload or None,
            "gpu_hours": hours(sum(users.values())),
            "users": {u: hours(s) for u, s in sorted(users.items())},
        }
        for workload, users in source.workload_users(span).items()
    ]
    return sorted(rows, key=lambda r: (-r["gpu_hours"], r["workload"] or ""))


def usage_rows(
    source: Source, by: str, span: Span, names: DisplayNames, days: list[tuple[str, str, float]]
) -> list[dict]:
    """The rows of a usage report grouped `by` user, day, month, gpu or workload (`days`: the span's
    (day, user, seconds) rows, read once by the caller)."""
    if by == "user":
        return by_user(days)
    if by == "gpu":
        return by_gpu(source, span, names)
    if by == "workload":
        return by_workload(source, span)
    key = (lambda day: day) if by == "day" else month_of
    return grouped(seconds_by(iter(days), key), by, no_process_by(source, span, days, key))


# The group a user_daily row's figures beside GPU time count in: groups past GPUs read the
# rows by the host-level rule (store.usage.extras_on_host), by=gpu the GPUs' own rows.
EXTRA_KEYS = {
    "user": lambda r: r["user"],
    "day": lambda r: r["day"],
    "month": lambda r: month_of(r["day"]),
    "gpu": lambda r: r["gpu"] if r["gpu"] != HOST else None,
    "all": lambda _r: "all",
}


UNKNOWN_EXTRAS = {"held_idle_gpu_hours": None, "energy_kwh": None, "co2e_kg": None, "cost": None}


def extra_fields(figures: dict[str, float] | None, rates: Rates) -> dict:
    """A group's figures beside GPU time as its JSON fields: held-idle GPU-hours, and its
    share of energy in kWh with kg CO2e and cost where their rates are set; all None where
    the rows do not hold them (figures None: a hub's hosts send GPU time only)."""
    if figures is None:
        return dict(UNKNOWN_EXTRAS)
    footprint = rates.footprint(figures.get("energy_wh", 0.0) / 1000)
    del footprint["currency"]  # said once, at the top of the report
    return {"held_idle_gpu_hours": hours(figures.get("held_idle_s", 0.0)), **footprint}


def add_extras(rows: list[dict], by: str, extras: list[dict] | None, rates: Rates) -> list[dict]:
    """Give each row of a report grouped `by` its extra_fields (not per workload: those
    are rolled up per user and GPU only); returns `rows`."""
    if by not in EXTRA_KEYS:
        return rows
    if extras is None:
        found = None
    else:
        found = extras_by(extras if by == "gpu" else extras_on_host(extras), EXTRA_KEYS[by])
    for row in rows:
        row.update(extra_fields(None if found is None else found.get(row[by], {}), rates))
    return rows


def extras_total(extras: list[dict] | None) -> dict[str, float] | None:
    """The span's figures beside GPU time, None where the source does not hold them."""
    return (
        None
        if extras is None
        else extras_by(extras_on_host(extras), EXTRA_KEYS["all"]).get("all", {})
    )


def usage_report(
    source: Source, by: str, span: Span, names: DisplayNames, tz: ZoneInfo, rates: Rates = NO_RATES
) -> dict:
    """The whole /api/v1/usage body (also what `gpupulse-api usage --json` prints)."""
    days = source.user_days(span)
    extras = source.user_day_extras(span)
    rows = add_extras(usage_rows(source, by, span, names, days), by, extras, rates)
    if by == "gpu":
        for row in rows:
            del row["gpu"]  # an internal id, never mistaken for gpu_index (as in /api/v1/days)
    first, last = span.first.isoformat(), span.last.isoformat()
    drawn = sum(r["energy_kwh"] or 0.0 for r in source.daily(first, last))
    users = {u for _d, u, _s in days}
    total = sum(s for _d, _u, s in days)
    host = sum(host_seconds_by(source, span, str).values())
    unbooked = sum(no_process_by(source, span, days, str).values())
    return {
        "by": by,
        "from": span.first.isoformat(),
        "to": span.last.isoformat(),
        "timezone": tz.key,
        "total_gpu_hours": hours(total),
        "no_process_gpu_hours": hours(unbooked),
        "host_gpu_hours": hours(max(host, total)),
        **extra_fields(extras_total(extras), rates),
        "currency": rates.currency or None,
        # every GPU's whole draw over the span, people's shares and no one's ticks alike
        "host_energy_kwh": round(drawn, 4),
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
    lab = lab_settings(settings)
    body = usage_report(source, query["by"], span, lab.names, settings.tz, lab.rates)
    return jsonify(body)


def days_back(today: date, n: int) -> Span:
    """The `n` days ending today."""
    return Span(today - timedelta(days=n - 1), today)
