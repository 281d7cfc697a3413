"""Horizontal bars, one per row, longest first, each with its value at the end (the
GPU-hours-per-user chart)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from api.svg.chart import PAD, TOP, Chart, swatch

BAR_H, BAR_GAP = 16, 6
LABEL_W, VALUE_W, WIDTH = 140, 110, 600
MAX_BARS = 40


@dataclass(frozen=True)
class Bar:
    """One bar: its label, length (value) and how the value reads, plus a tooltip."""

    label: str
    value: float
    shown: str
    title: str
    hollow: bool = False  # nobody's time (no process): a dashed outline, not a filled bar


def render_bars(title: str, bars: Sequence[Bar], theme: str, empty_note: str) -> str:
    """The chart as an SVG document; `bars` are drawn largest first, at most MAX_BARS."""
    ranked = sorted(bars, key=lambda b: -b.value)[:MAX_BARS]
    rows = max(len(ranked), 2)
    chart = Chart(WIDTH, TOP + rows * (BAR_H + BAR_GAP) + PAD, title, theme)
    top = max((b.value for b in ranked), default=0.0)
    if top <= 0:
        chart.note(empty_note)
        return chart.tostring()
    span = WIDTH - 2 * PAD - LABEL_W - VALUE_W
    group = chart.root.add(chart.dwg.g(class_="bars"))
    for i, bar in enumerate(ranked):
        y = TOP + i * (BAR_H + BAR_GAP)
        length = max(1.0, span * bar.value / top)
        chart.text(bar.label, (PAD + LABEL_W - 6, y + BAR_H - 4), text_anchor="end")
        if bar.hollow:
            swatch(chart, (PAD + LABEL_W, y), (length, BAR_H), None, bar.title, parent=group, rx=2)
        else:
            chart.rect(
                (PAD + LABEL_W, y),
                (length, BAR_H),
                "l3",
                chart.colours.levels[3],
                bar.title,
                parent=group,
                rx=2,
            )
        chart.text(bar.shown, (PAD + LABEL_W + length + 6, y + BAR_H - 4), muted=True)
    return chart.tostring()
