"""The usage charts: /charts/users.svg, /charts/hours.svg and /charts/months.svg.

Same themes, escaping, caching and headers as the activity graph: rendered SVGs are cached
per worker keyed by the parameters, today and the data version of the rows drawn.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from flask import Blueprint, Response

from api.activity_stats import level_function, level_tops
from api.catalog import HOURLY, SVG, Endpoint
from api.lab.names import DisplayNames
from api.lab.params import HOURS_CHART_PARAMS, MONTHS_CHART_PARAMS, USERS_CHART_PARAMS
from api.lab.quotas import month_span, this_month
from api.lab.settings import lab_settings
from api.lab.usage import no_process_by, user_totals
from api.params import day_range
from api.routes import svg_reply
from api.source import Source
from api.state import state
from api.svg.bars import Bar, render_bars
from api.svg.chart import OTHERS
from api.svg.heatmap import render_heatmap
from api.svg.stacked import Column, amount, render_stacked
from api.svg.text import DASH, MONTHS, WEEKDAYS, clean_label, number, short_date
from store.aggregate import day_span
from store.rollups import HOST
from store.usage import Span, month_of, seconds_by

bp = Blueprint("lab_charts", __name__)
LABEL = 24
NO_PROCESS = "no process"  # GPU time no person's process accounts for
ERRORS = (304, 400, 503)
ENDPOINTS = (
    Endpoint(
        "/charts/users.svg", "GPU-hours per user in a month (bars)", SVG, USERS_CHART_PARAMS, ERRORS
    ),
    Endpoint(
        "/charts/hours.svg",
        "GPU activity by weekday and hour (heat map)",
        SVG,
        HOURS_CHART_PARAMS,
        ERRORS,
        span=HOURLY,
    ),
    Endpoint(
        "/charts/months.svg",
        "GPU-hours per month stacked by user",
        SVG,
        MONTHS_CHART_PARAMS,
        ERRORS,
    ),
)


def gpu_hours_text(hours: float, digits: int = 1) -> str:
    """'1 GPU-hour', '2.5 GPU-hours' (singular only for exactly one as shown)."""
    return amount(hours, "GPU-hours", digits)


def month_name(year: int, month: int) -> str:
    """'March 2026'."""
    return f"{MONTHS[month - 1]} {year}"


def users_svg(source: Source, names: DisplayNames, year: int, month: int, theme: str) -> str:
    """GPU-hours per user in a month, as horizontal bars, busiest first."""
    when = month_name(year, month)
    span = month_span(year, month)
    bars = []
    unbooked = sum(no_process_by(source, span, source.user_days(span), str).values()) / 3600
    if unbooked > 0:
        bars.append(
            Bar(
                NO_PROCESS,
                unbooked,
                gpu_hours_text(unbooked),
                f"{NO_PROCESS}: {gpu_hours_text(unbooked, 2)} in {when}, a GPU busy and "
                "no person's process on it",
                hollow=True,
            )
        )
    for user, seconds in user_totals(source, span).items():
        who, hours = clean_label(names.user(user), LABEL), seconds / 3600
        bars.append(
            Bar(
                who,
                hours,
                gpu_hours_text(hours),
                f"{who}: {gpu_hours_text(hours, 2)} in {when}",
            )
        )
    title = f"GPU-hours per user in {when} on {clean_label(source.host_name(), 32)}"
    return render_bars(title, bars, theme, f"no GPU use recorded in {when}")


def hours_svg(source: Source, first: date, last: date, tz: ZoneInfo, theme: str) -> str:
    """GPU-hours by weekday and local hour of day over a range of days."""
    start, end = day_span(first, last, tz)
    values = [[0.0] * 24 for _ in range(7)]
    for row in source.hourly(start, end, HOST):
        local = datetime.fromtimestamp(row["hour"], tz)
        values[local.weekday()][local.hour] += (row["gpu_active_s"] or 0) / 3600
    flat = [v for day in values for v in day]
    level = level_function(flat, "quartiles", (0, 0, 0))

    def cell_title(day: int, hour: int, value: float) -> str:
        slot = f"{WEEKDAYS[day]}s {hour:02d}:00 to {(hour + 1) % 24:02d}:00"
        return f"{gpu_hours_text(value, 2)} on {slot}" if value > 0 else f"No GPU use on {slot}"

    period = f"{short_date(first)} to {short_date(last)}"
    title = f"GPU activity by hour of the week on {clean_label(source.host_name(), 32)}"
    note = None if any(flat) else f"no GPU activity from {period}"
    footer = f"{gpu_hours_text(sum(flat))} from {period} ({tz.key} time)"
    legend = heat_legend(flat, level)
    return render_heatmap(title, values, level, cell_title, theme, note, footer, legend)


def heat_legend(flat: list[float], level) -> list[str]:
    """What each of the five shades means: none, then each quarter's largest hour-slot in
    GPU-hours (a dash for a level no slot has)."""
    tops = level_tops("quartiles", (0, 0, 0), flat, level)
    return ["0 GPU-h", *(DASH if t is None else f"≤{number(t)} GPU-h" for t in tops)]


def month_starts(year: int, month: int, count: int) -> list[tuple[int, int]]:
    """The `count` months ending with (year, month), oldest first."""
    serial = year * 12 + month - 1
    return [divmod(s, 12) for s in range(serial - count + 1, serial + 1)]


def months_svg(
    source: Source, names: DisplayNames, year: int, month: int, count: int, theme: str
) -> str:
    """GPU-hours per month stacked by user: the top users by name, the rest as "others"."""
    months = [(y, m + 1) for y, m in month_starts(year, month, count)]
    span = Span(date(months[0][0], months[0][1], 1), month_span(year, month).last)
    days = source.user_days(span)
    per_month = seconds_by(days, month_of)
    unbooked = no_process_by(source, span, days, month_of)
    totals: dict[str, float] = {}
    for users in per_month.values():
        for user, seconds in users.items():
            totals[user] = totals.get(user, 0.0) + seconds
    ranked = sorted(totals, key=lambda u: (-totals[u], u))
    top = ranked if len(ranked) <= OTHERS else ranked[: OTHERS - 1]
    series = [(clean_label(names.user(u), LABEL), k) for k, u in enumerate(top)]
    others = len(ranked) > len(top)
    if others:
        series.append(("others", OTHERS))
    nobody = any(v > 0 for v in unbooked.values())
    if nobody:
        series.append((NO_PROCESS, None))  # on top of each bar, drawn hollow
    columns = []
    for y, m in months:
        users = per_month.get(f"{y:04d}-{m:02d}", {})
        values = [users.get(u, 0.0) / 3600 for u in top]
        if others:
            values.append(sum(s for u, s in users.items() if u not in top) / 3600)
        if nobody:
            values.append(unbooked.get(f"{y:04d}-{m:02d}", 0.0) / 3600)
        label = MONTHS[m - 1][:3]
        if m == 1 or (y, m) == months[0]:  # the year where it changes, and at the start
            label = f"{label} {y % 100:02d}"
        columns.append(Column(label, values, month_name(y, m)))
    title = f"GPU-hours per month by user on {clean_label(source.host_name(), 32)}"
    note = f"no GPU use recorded since {month_name(*months[0])}"
    return render_stacked(title, series, columns, theme, "GPU-hours", note)


def users_job(query: dict, app_state) -> Callable[[Source], str]:
    """Draws /charts/users.svg for parsed parameters."""
    year, month = query["month"] or this_month(app_state.now(), app_state.settings.tz)
    names = lab_settings(app_state.settings).names
    return lambda source: users_svg(source, names, year, month, query["theme"])


def hours_job(query: dict, app_state) -> Callable[[Source], str]:
    """Draws /charts/hours.svg (default: the last four weeks); BadParam if `from` > `to` or
    the range is wider than the hourly roll-ups are kept for."""
    limit = app_state.settings.span_days(hourly=True)
    four_weeks = timedelta(days=27)
    first, last = day_range(query, app_state.today(), lambda end: end - four_weeks, limit)
    tz = app_state.settings.tz
    return lambda source: hours_svg(source, first, last, tz, query["theme"])


def months_job(query: dict, app_state) -> Callable[[Source], str]:
    """Draws /charts/months.svg, the months ending with this one."""
    year, month = this_month(app_state.now(), app_state.settings.tz)
    names = lab_settings(app_state.settings).names
    return lambda source: months_svg(source, names, year, month, query["months"], query["theme"])


# Chart name -> what prepares its drawing; each is served at /charts/NAME.svg.
CHARTS = {"users": users_job, "hours": hours_job, "months": months_job}


def chart(name: str) -> Response:
    """One chart: parameters checked before any SQL, the SVG from the cache when it can."""
    app_state = state()
    query = app_state.query(f"/charts/{name}.svg")
    draw = CHARTS[name](query, app_state)
    source = app_state.source(query)
    key = (name, *sorted(query.items()), app_state.today(), source.data_version())
    return svg_reply(key, lambda: draw(source))


for _name in CHARTS:
    bp.add_url_rule(f"/charts/{_name}.svg", f"{_name}_chart", chart, defaults={"name": _name})
