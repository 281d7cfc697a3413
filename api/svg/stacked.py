"""Vertical bars stacked by series, one bar per period, with a legend (GPU-hours per month
by user, the top users and the rest as "others", and the time no process accounts for).

The first series sits at the bottom of each bar and the legend lists them top down as they
stack, so the legend's first line is the bar's top; a series with colour None is drawn
hollow (dashed outline), for time that is nobody's."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from api.svg.chart import PAD, TOP, Chart, swatch
from api.svg.text import number

PLOT_H, BAR_W, BAR_GAP, AXIS_W = 160, 26, 12, 44
LEGEND_LINE = 16


@dataclass(frozen=True)
class Column:
    """One period: its axis label and each series' value (aligned with the series names)."""

    label: str
    values: Sequence[float]
    title: str


def render_stacked(
    title: str,
    series: Sequence[tuple[str, int]],
    columns: Sequence[Column],
    theme: str,
    unit: str,
    empty_note: str,
) -> str:
    """The chart as an SVG document; `series` are (name, colour index or None: hollow) pairs
    (the last colour is the grey for "others") and each column's values line up with them;
    the axis says `unit`."""
    width = max(360, PAD + AXIS_W + len(columns) * (BAR_W + BAR_GAP) + 150)
    legend_rows = max(len(series), 1)
    height = max(TOP + PLOT_H + 30, TOP + legend_rows * LEGEND_LINE + 10) + PAD
    chart = Chart(width, height, title, theme)
    top = max((sum(c.values) for c in columns), default=0.0)
    base = TOP + PLOT_H
    chart.rect(
        (PAD + AXIS_W - 2, base),
        (len(columns) * (BAR_W + BAR_GAP), 1),
        "muted",
        chart.colours.muted,
    )
    if top <= 0:
        chart.note(empty_note)
        top = 1.0
    chart.text(number(top), (PAD + AXIS_W - 6, TOP + 4), muted=True, text_anchor="end")
    chart.text(short_unit(unit), (PAD + AXIS_W - 6, TOP + 16), muted=True, text_anchor="end")
    chart.text("0", (PAD + AXIS_W - 6, base), muted=True, text_anchor="end")
    bars = chart.root.add(chart.dwg.g(class_="stacks"))
    for i, column in enumerate(columns):
        x, y = PAD + AXIS_W + i * (BAR_W + BAR_GAP), float(base)
        for k, value in enumerate(column.values):
            if value <= 0:
                continue
            h = PLOT_H * value / top
            y -= h
            name, colour = series[k]
            swatch(
                chart,
                (x, y),
                (BAR_W, h),
                colour,
                f"{name}: {amount(value, unit)} in {column.title}",
                parent=bars,
                data_series="none" if colour is None else colour,
            )
        chart.text(column.label, (x + BAR_W / 2, base + 14), muted=True, text_anchor="middle")
    legend_x = PAD + AXIS_W + len(columns) * (BAR_W + BAR_GAP) + 10
    for k, (name, colour) in enumerate(reversed(series)):  # top of the stack first
        y = TOP + k * LEGEND_LINE
        swatch(chart, (legend_x, y), (10, 10), colour, rx=2)
        chart.text(name, (legend_x + 16, y + 9))
    return chart.tostring()


def amount(value: float, unit: str, digits: int = 1) -> str:
    """'2.5 GPU-hours', '1 GPU-hour' (singular when the shown number is exactly 1)."""
    shown = number(value, digits)
    return f"{shown} {unit.removesuffix('s') if shown == '1' else unit}"


def short_unit(unit: str) -> str:
    """The axis's unit under its top value: 'GPU-hours' -> 'GPU-h'."""
    return unit.replace("hours", "h")
