"""A weekday x hour-of-day grid (Monday at the top, midnight at the left), coloured in the
calendar's five levels (the hours-of-activity chart)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from api.svg.chart import PAD, TOP, Chart
from api.svg.text import WEEKDAYS

CELL, GAP = 18, 3
PITCH = CELL + GAP
LABEL_W = 34
HOUR_LABELS = (0, 3, 6, 9, 12, 15, 18, 21)


def render_heatmap(
    title: str,
    values: Sequence[Sequence[float]],
    level: Callable[[float], int],
    cell_title: Callable[[int, int, float], str],
    theme: str,
    empty_note: str | None,
    footer: str,
) -> str:
    """`values[weekday][hour]` (Monday = 0) as a grid; `level` maps a value to 0..4."""
    width = PAD + LABEL_W + 24 * PITCH + PAD
    grid_top = TOP + 14
    height = grid_top + 7 * PITCH + 30
    chart = Chart(width, height, title, theme)
    for hour in HOUR_LABELS:
        chart.text(f"{hour:02d}:00", (PAD + LABEL_W + hour * PITCH, grid_top - 4), muted=True)
    cells = chart.root.add(
        chart.dwg.g(
            class_="cell",
            stroke=chart.colours.outline,
            stroke_opacity=chart.colours.outline_opacity,
        )
    )
    for day in range(7):
        y = grid_top + day * PITCH
        chart.text(WEEKDAYS[day][:3], (PAD, y + CELL - 5), muted=True)
        for hour in range(24):
            value = values[day][hour]
            k = level(value)
            chart.rect(
                (PAD + LABEL_W + hour * PITCH, y),
                (CELL, CELL),
                f"l{k}",
                chart.colours.levels[k],
                cell_title(day, hour, value),
                parent=cells,
                rx=2,
                data_weekday=day,
                data_hour=hour,
                data_level=k,
            )
    chart.text(footer, (PAD, height - 10), muted=True, size=11)
    if empty_note:
        chart.note(empty_note)
    return chart.tostring()
