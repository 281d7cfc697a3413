"""The activity graph: which numbers a calendar shows, read from the daily roll-ups.

`activity_calendar` turns parsed query parameters and a source's rows into a `Calendar`;
`render_calendar` (api.svg.calendar) draws it. The route and `gpupulse-api render-svg`
both go through `activity_svg`, so the README's SVG is the one the server would send.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from api.activity_stats import SCALES, level_function, level_tops, stats
from api.gpus import GpuRef, resolve_gpu
from api.names import AS_RECORDED, Names
from api.params import BadParam, Choice, IntRange, Param
from api.source import Source
from api.svg.calendar import Calendar, Cell, render_calendar, window
from api.svg.text import DASH, clean_label, duration, long_date, number, plural, short_date
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
    short: Callable[[float], str]  # a legend label: "1.5 h"
    zero: str  # the legend label of a day without GPU activity


METRICS = {
    "active_minutes": Metric(
        "active_minutes",
        1,
        60,
        (60, 180, 360),
        duration,
        "{v} of GPU activity",
        lambda v: f"{number(v / 60)} h",
        "0 h",
    ),
    "gpu_hours": Metric(
        "gpu_minutes",
        60,
        3600,
        (1, 3, 6),
        lambda v: f"{number(v)} GPU-hours",
        "{v}",
        lambda v: f"{number(v)} GPU-h",
        "0 GPU-h",
    ),
    "utilization": Metric(
        "avg_utilization",
        1,
        None,
        (25, 50, 75),
        lambda v: f"{number(v, 0)} %",
        "{v} average GPU utilization",
        lambda v: f"{number(v, 0)} %",
        "idle",
    ),
    "energy": Metric(
        "energy_kwh",
        1,
        None,
        (1, 3, 6),
        lambda v: f"{number(v, 2)} kWh",
        "{v} of GPU energy",
        lambda v: f"{number(v, 1)} kWh",
        "idle",
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


@dataclass(frozen=True)
class Series:
    """The days in view: the metric's values, GPU-hours, whether a GPU was active, and the
    first day any roll-up covers (None: no data in view)."""

    values: list[float]
    hours: list[float]
    active: list[bool]
    first: date | None

    def shown(self) -> list[float]:
        """Values that colour a square: a day without GPU activity is level 0 whatever the
        metric, so idle power alone (metric=energy) makes no active or streak day."""
        return [v if a else 0.0 for v, a in zip(self.values, self.active, strict=True)]


def day_values(source: Source, query: dict, gpu: GpuRef, days: list[date]) -> Series:
    """The metric, GPU-hours and activity per day in `days`, zero where no roll-up exists."""
    metric, first, last = METRICS[query["metric"]], days[0].isoformat(), days[-1].isoformat()
    values: dict[str, float] = {}
    hours: dict[str, float] = {}
    active: dict[str, bool] = {}
    if query["user"] is None:
        for row in source.daily(first, last, gpu.id):
            values[row["day"]] = (row[metric.column] or 0) / metric.divisor
            hours[row["day"]] = (row["gpu_minutes"] or 0) / 60
            active[row["day"]] = (row["active_minutes"] or 0) > 0
    else:
        seconds = user_seconds(source, first, last, query["user"], gpu.id)
        values = {day: s / metric.user_divisor for day, s in seconds.items()}
        hours = {day: s / 3600 for day, s in seconds.items()}
        active = {day: s > 0 for day, s in seconds.items()}
    keys = [d.isoformat() for d in days]
    covered = min(values, default=None)
    return Series(
        [values.get(k, 0.0) for k in keys],
        [hours.get(k, 0.0) for k in keys],
        [active.get(k, False) for k in keys],
        None if covered is None else date.fromisoformat(covered),
    )


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
    series = day_values(source, query, gpu, days)
    shown = series.shown()
    level = level_function(shown, query["scale"], metric.bands)
    who = None if query["user"] is None else clean_label(names.user(query["user"]), 32)
    cells = [
        Cell(d, level(v), cell_title(metric, raw, v, d, who))
        for d, raw, v in zip(days, series.values, shown, strict=True)
    ]
    header = headline(query, gpu, series, subject(source, query, gpu, names), days)
    legend = legend_titles(metric, query["scale"], shown, level)
    labels = legend_labels(metric, query["scale"], shown, level)
    return Calendar(
        cells, header, footer(metric, days, shown, series.hours), legend, query["theme"], labels
    )


def headline(query: dict, gpu: GpuRef, series: Series, who_where: str, days: list[date]) -> str:
    """What the squares add up to, in their own measure, and the period the data covers:
    '303.5 h with a GPU busy (568.3 GPU-hours) on lab1 since Nov 11, 2026'."""
    if series.first is None:
        return f"No GPU activity recorded {who_where} yet"
    gpu_hours = f"{number(sum(series.hours))} GPU-hours"
    shown = series.shown()
    name = query["metric"]
    if query["user"] is not None or name == "gpu_hours":
        measure = gpu_hours
    elif name == "active_minutes":
        busy = "with a GPU busy" if gpu.id == HOST else "busy"
        measure = f"{number(sum(shown) / 60)} h {busy} ({gpu_hours})"
    elif name == "utilization":
        active = [v for v in shown if v > 0]
        mean = sum(active) / len(active) if active else 0.0
        measure = f"{number(mean, 0)} % average GPU utilization on active days"
    else:
        measure = f"{METRICS[name].fmt(sum(series.values))} of GPU energy"
    return f"{measure} {who_where} {period_text(series.first, days, query['weeks'])}"


def period_text(first: date, days: list[date], weeks: int) -> str:
    """'in the last year' when the data covers the whole view, else 'since Nov 11, 2026',
    so three weeks of data never read as a year."""
    if first > days[0]:
        return f"since {short_date(first)}"
    return "in the last year" if weeks == 53 else f"in the last {plural(weeks, 'week')}"


def cell_title(metric: Metric, raw: float, value: float, day: date, user: str | None) -> str:
    """'3 h 20 min of GPU activity on Tuesday, March 4, 2026' (`raw`: the day's figure even
    when no GPU was active, such as idle power)."""
    when = long_date(day)
    if user is not None:
        if value <= 0:
            return f"No GPU time for {user} on {when}"
        return f"{metric.fmt(value)} of GPU time for {user} on {when}"
    if value <= 0:
        idle = f" ({metric.fmt(raw)} while idle)" if raw > 0 else ""
        return f"No GPU activity on {when}{idle}"
    return f"{metric.phrase.format(v=metric.fmt(value))} on {when}"


def footer(metric: Metric, days: list[date], values: list[float], hours: list[float]) -> list:
    """Footer items: active days, streaks, GPU-hours, busiest day (or the empty note);
    days tied for busiest (as shown) are counted, not one of them picked."""
    s = stats(days, values)
    if s.busiest is None:
        return [EMPTY_NOTE]
    busiest_day, busiest_value = s.busiest
    top = metric.fmt(busiest_value)
    ties = sum(1 for v in values if v > 0 and metric.fmt(v) == top)
    busiest = f"busiest day {short_date(busiest_day)} ({top})"
    return [
        plural(s.active_days, "active day"),
        f"current streak {plural(s.current_streak, 'day')}",
        f"longest streak {plural(s.longest_streak, 'day')}",
        f"{number(sum(hours))} GPU-hours",
        busiest if ties == 1 else f"busiest: {ties:,} days at {top}",
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
    for k, top in enumerate(level_tops(scale, metric.bands, values, level), start=1):
        note = "" if top is None else f", up to {metric.fmt(top)}"
        titles.append(f"quarter {k} of the active days{note}")
    return titles


def legend_labels(metric: Metric, scale: str, values: list[float], level) -> list[str]:
    """The text beside each legend square, in the graph's own unit: '0 h', '≤2 h', … '>6 h'
    (fixed bands) or each quarter's largest day (quartiles; a dash for a level no day has)."""
    labels = [metric.zero]
    tops = level_tops(scale, metric.bands, values, level)
    for k, top in enumerate(tops):
        if top is None:
            labels.append(DASH if scale != "fixed" else f">{metric.short(tops[k - 1])}")
        else:
            labels.append(f"≤{metric.short(top)}")
    return labels


def activity_svg(source: Source, query: dict, today: date, names: Names = AS_RECORDED) -> str:
    """The activity SVG for parsed parameters (GPU and user display names from `names`)."""
    return render_calendar(activity_calendar(source, query, today, names))
