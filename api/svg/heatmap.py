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
LEGEND_H, SWATCH, ITEM_W = 16, 10, 86


def draw_legend(chart: Chart, labels: Sequence[str], top: float) -> None:
    """The five shades in a row under the grid, each followed by what it stands for."""
    group = chart.root.add(chart.dwg.g(class_="cell legend"))
    for k, label in enumerate(labels):
        x = PAD + LABEL_W + k * ITEM_W
        chart.rect((x, top), (SWATCH, SWATCH), f"l{k}", chart.colours.levels[k], parent=group, rx=2)
        chart.text(label, (x + SWATCH + 4, top + 9), muted=True)


def render_heatmap(
    title: str,
    values: Sequence[Sequence[float]],
    level: Callable[[float], int],
    cell_title: Callable[[int, int, float], str],
    theme: str,
    empty_note: str | None,
    footer: str,
    legend: Sequence[str] = (),
) -> str:
    """`values[weekday][hour]` (Monday = 0) as a grid; `level` maps a value to 0..4;
    `legend` says what each level means, drawn under the grid."""
    width = PAD + LABEL_W + 24 * PITCH + PAD
    grid_top = TOP + 14
    legend_y = grid_top + 7 * PITCH + 4
    height = legend_y + (LEGEND_H if legend else 0) + 30
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
    if legend:
        draw_legend(chart, legend, legend_y)
    chart.text(footer, (PAD, height - 10), muted=True, size=11)
    if empty_note:
        chart.note(empty_note)
    return chart.tostring()
