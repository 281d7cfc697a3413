"""The activity graph: which numbers a calendar shows, read from the daily roll-ups.

`activity_calendar` turns parsed query parameters and a source's rows into a `Calendar`;
`render_calendar` (api.svg.calendar) draws it. The route and `gpupulse-api render-svg`
both go through `activity_svg`, so the README's SVG is the one the server would send.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from api.activity_stats import SCALES, level_function, stats
from api.gpus import GpuRef, resolve_gpu
from api.names import AS_RECORDED, Names
from api.params import BadParam, Choice, IntRange, Param
from api.source import Source
from api.svg.calendar import Calendar, Cell, render_calendar, window
from api.svg.text import clean_label, duration, long_date, number, plural, short_date
from api.svg.theme import THEMES
from store.rollups import HOST

EMPTY_NOTE = "no GPU activity recorded yet"


@dataclass(frozen=True)
class Metric:
    """One thing a day's cell can show: where it comes from and how it reads."""

    column: str  # daily column
    divisor: float  # daily value / divisor = shown value
    user_divisor: float | None  # user_daily gpu_seconds / this; None: not per user
    bands: tuple[float, float, float]  # scale=fixed upper edges of levels 1-3
    fmt: Callable[[float], str]
    phrase: str  # "{v} of GPU activity"


METRICS = {
    "active_minutes": Metric(
        "active_minutes", 1, 60, (60, 180, 360), duration, "{v} of GPU activity"
    ),
    "gpu_hours": Metric(
        "gpu_minutes", 60, 3600, (1, 3, 6), lambda v: f"{number(v)} GPU-hours", "{v}"
    ),
    "utilization": Metric(
        "avg_utilization",
        1,
        None,
        (25, 50, 75),
        lambda v: f"{number(v, 0)} %",
        "{v} average GPU utilization",
    ),
    "energy": Metric(
        "energy_kwh", 1, None, (1, 3, 6), lambda v: f"{number(v, 2)} kWh", "{v} of GPU energy"
    ),
}

SVG_PARAMS: tuple[Param, ...] = (
    Choice(
        "theme", "colours: light, dark, or auto (follows prefers-color-scheme)", "light", THEMES
    ),
    IntRange("weeks", "week columns shown, ending with this week", 53, 1, 53),
    Choice("metric", "what a day's colour shows", "active_minutes", tuple(METRICS)),
    Param("gpu", "all (the whole host), a GPU index, or a GPU UUID", "all"),
    Param("user", "show this user's GPU time instead (metrics active_minutes, gpu_hours)"),
    Choice(
        "scale", "levels: quartiles of the active days in view, or fixed bands", "quartiles", SCALES
    ),
)


def check_combination(query: dict) -> None:
    """Reject parameter combinations with no data behind them (before any SQL)."""
    if query["user"] is not None and METRICS[query["metric"]].user_divisor is None:
        allowed = [name for name, m in METRICS.items() if m.user_divisor is not None]
        raise BadParam("metric", f"metric {query['metric']} is not recorded per user", allowed)


def day_values(source: Source, query: dict, gpu: GpuRef, days: list[date]) -> tuple:
    """(shown values, GPU-hours) per day in `days`, zero where no roll-up exists."""
    metric, first, last = METRICS[query["metric"]], days[0].isoformat(), days[-1].isoformat()
    values: dict[str, float] = {}
    hours: dict[str, float] = {}
    if query["user"] is None:
        for row in source.daily(first, last, gpu.id):
            values[row["day"]] = (row[metric.column] or 0) / metric.divisor
            hours[row["day"]] = (row["gpu_minutes"] or 0) / 60
    else:
        seconds = user_seconds(source, first, last, query["user"], gpu.id)
        values = {day: s / metric.user_divisor for day, s in seconds.items()}
        hours = {day: s / 3600 for day, s in seconds.items()}
    keys = [d.isoformat() for d in days]
    return [values.get(k, 0.0) for k in keys], [hours.get(k, 0.0) for k in keys]


def user_seconds(source: Source, first: str, last: str, user: str, gpu: int) -> dict:
    """A user's GPU-seconds per day: one GPU's rows, or for the host its gpu=0 rows where the
    scheduler wrote them, else the sum over GPUs (never both, so nothing counts twice)."""
    host: dict[str, float] = {}
    per_gpu: dict[str, float] = {}
    for row in source.user_daily(first, last, user):
        if gpu != HOST and row["gpu"] != gpu:
            continue
        into = host if row["gpu"] == HOST else per_gpu
        into[row["day"]] = into.get(row["day"], 0.0) + (row["gpu_seconds"] or 0)
    return {**per_gpu, **host}


def subject(source: Source, query: dict, gpu: GpuRef, names: Names) -> str:
    """Whose activity the graph shows, for the header (GPU and user by display name)."""
    where = clean_label(source.host_name(), 32)
    if gpu.id != HOST:
        shown = names.gpu(gpu.name, gpu.index, gpu.uuid)
        where = f"GPU {gpu.index} ({clean_label(shown, 32)}) on {where}"
    if query["user"] is not None:
        return f"by {clean_label(names.user(query['user']), 32)} on {where}"
    return f"on {where}"


def activity_calendar(
    source: Source, query: dict, today: date, names: Names = AS_RECORDED
) -> Calendar:
    """The calendar for parsed SVG parameters, ending `today` (in GPUPULSE_TZ)."""
    check_combination(query)
    gpu = resolve_gpu(query["gpu"], source.gpus)
    metric = METRICS[query["metric"]]
    days = window(today, query["weeks"])
    values, hours = day_values(source, query, gpu, days)
    level = level_function(values, query["scale"], metric.bands)
    who = None if query["user"] is None else clean_label(names.user(query["user"]), 32)
    pairs = zip(days, values, strict=True)
    cells = [Cell(d, level(v), cell_title(metric, v, d, who)) for d, v in pairs]
    period = "year" if query["weeks"] == 53 else plural(query["weeks"], "week")
    who_where = subject(source, query, gpu, names)
    header = f"{number(sum(hours))} GPU-hours {who_where} in the last {period}"
    legend = legend_titles(metric, query["scale"], values, level)
    return Calendar(cells, header, footer(metric, days, values, hours), legend, query["theme"])


def cell_title(metric: Metric, value: float, day: date, user: str | None) -> str:
    """'3 h 20 min of GPU activity on Tuesday, March 4, 2026'."""
    when = long_date(day)
    if user is not None:
        if value <= 0:
            return f"No GPU time for {user} on {when}"
        return f"{metric.fmt(value)} of GPU time for {user} on {when}"
    if value <= 0:
        return f"No GPU activity on {when}"
    return f"{metric.phrase.format(v=metric.fmt(value))} on {when}"


def footer(metric: Metric, days: list[date], values: list[float], hours: list[float]) -> list:
    """Footer items: active days, streaks, GPU-hours, busiest day (or the empty note)."""
    s = stats(days, values)
    if s.busiest is None:
        return [EMPTY_NOTE]
    busiest_day, busiest_value = s.busiest
    return [
        plural(s.active_days, "active day"),
        f"current streak {plural(s.current_streak, 'day')}",
        f"longest streak {plural(s.longest_streak, 'day')}",
        f"{number(sum(hours))} GPU-hours",
        f"busiest day {short_date(busiest_day)} ({metric.fmt(busiest_value)})",
    ]


def legend_titles(metric: Metric, scale: str, values: list[float], level) -> list[str]:
    """Tooltips for the five legend squares."""
    titles = ["No GPU activity"]
    if scale == "fixed":
        a, b, c = (metric.fmt(edge) for edge in metric.bands)
        return [
            *titles,
            f"up to {a}",
            f"more than {a}, up to {b}",
            f"more than {b}, up to {c}",
            f"more than {c}",
        ]
    for k in range(1, 5):
        top = max((v for v in values if v > 0 and level(v) == k), default=None)
        note = "" if top is None else f", up to {metric.fmt(top)}"
        titles.append(f"quarter {k} of the active days{note}")
    return titles


def activity_svg(source: Source, query: dict, today: date, names: Names = AS_RECORDED) -> str:
    """The activity SVG for parsed parameters (GPU and user display names from `names`)."""
    return render_calendar(activity_calendar(source, query, today, names))
