"""The GitHub-style contribution calendar as a pure function: days in, SVG text out.

Geometry follows GitHub's calendar: 10 px cells on a 13 px pitch with 2 px corners, one
column per week (Sunday at the top), Mon/Wed/Fri labels, a three-letter month label over
the week where a month starts, and a legend whose five squares each say what they mean.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

import svgwrite

from api.svg.text import MONTHS
from api.svg.theme import FONT_FAMILY, palette, stylesheet

CELL, GAP, RADIUS = 10, 3, 2
PITCH = CELL + GAP
PAD = 8
LABEL_W = 28  # the column of Mon/Wed/Fri labels
HEADER_Y, MONTH_Y, GRID_Y = 18, 36, 42
LINE = 16
MIN_WIDTH = 360
WIDE = 600  # narrower than this, footer items go one per line
CHAR_W = 5.4  # average advance of a 9 px sans-serif character, digits and units
HEADER_CHAR_W = 7.0  # the same at the header's 13 px
LEGEND_GAP = 8
DAY_LABELS = {1: "Mon", 3: "Wed", 5: "Fri"}  # row index, Sunday = 0


@dataclass(frozen=True)
class Cell:
    """One day of the grid: its level (0-4) and the tooltip text."""

    day: date
    level: int
    title: str


@dataclass(frozen=True)
class Calendar:
    """Everything the renderer draws; texts are already cleaned of unsafe characters."""

    cells: Sequence[Cell]
    header: str
    footer: Sequence[str]
    legend: Sequence[str]  # five tooltips, level 0 to 4
    theme: str = "light"
    labels: Sequence[str] = ()  # five texts beside the legend squares, in the graph's unit


def window(today: date, weeks: int) -> list[date]:
    """The days shown: `weeks` Sunday-first columns ending with the week holding today."""
    first = today - timedelta(days=(today.weekday() + 1) % 7 + 7 * (weeks - 1))
    return [first + timedelta(days=i) for i in range((today - first).days + 1)]


def sunday_row(day: date) -> int:
    """Row of a day in its column: Sunday 0 ... Saturday 6."""
    return (day.weekday() + 1) % 7


def month_labels(days: Sequence[date]) -> list[tuple[int, str]]:
    """(column, 'Mar') for each week where a month starts; the first column gets its month
    too when the next label is at least three columns away, so labels never overlap."""
    if not days:
        return []
    starts = [((d - days[0]).days // 7, MONTHS[d.month - 1][:3]) for d in days if d.day == 1]
    first_col = starts[0][0] if starts else 99
    if first_col >= 3 and days[0].day != 1:
        starts.insert(0, (0, MONTHS[days[0].month - 1][:3]))
    return starts


def render_calendar(cal: Calendar) -> str:
    """The calendar as a standalone SVG document."""
    weeks = ((cal.cells[-1].day - cal.cells[0].day).days + sunday_row(cal.cells[0].day)) // 7 + 1
    width = max(MIN_WIDTH, PAD + LABEL_W + weeks * PITCH - GAP + PAD)
    footer = [" · ".join(cal.footer)] if width >= WIDE else list(cal.footer)
    legend_y = GRID_Y + 7 * PITCH - GAP + 8
    header = header_lines(cal.header, width)
    shift = LINE * (len(header) - 1)  # a wrapped header pushes the grid down
    height = legend_y + CELL + 6 + LINE * len(footer) + PAD + shift
    dwg = svgwrite.Drawing(size=(width, height), profile="full", debug=False)
    dwg.viewbox(0, 0, width, height)
    dwg.attribs.update({"role": "img", "aria-label": cal.header})
    dwg.set_desc(title=cal.header)
    css = stylesheet(cal.theme)
    if css:
        dwg.defs.add(dwg.style(css))
    colours = palette(cal.theme)
    dwg.add(dwg.rect((0, 0), (width, height), rx=6, class_="bg", fill=colours.background))
    top = dwg.add(dwg.g(font_family=FONT_FAMILY, font_size=9))
    for i, line in enumerate(header):
        _text(dwg, top, line, (PAD, HEADER_Y + LINE * i), "fg", colours.text, font_size=13)
    root = top.add(dwg.g(transform=f"translate(0,{shift})")) if shift else top
    _labels(dwg, root, cal.cells, colours.muted)
    _cells(dwg, root, cal.cells, cal.theme)
    _legend(dwg, root, cal, (width - PAD, legend_y))
    for i, line in enumerate(footer):
        y = legend_y + CELL + 6 + LINE * (i + 1) - 4
        _text(dwg, root, line, (PAD, y), "muted", colours.muted, font_size=11)
    return dwg.tostring()


def _text(dwg, parent, content: str, at: tuple[float, float], cls: str, fill: str, **extra):
    parent.add(dwg.text(content, insert=at, class_=cls, fill=fill, **extra))


def _labels(dwg, root, cells: Sequence[Cell], muted: str) -> None:
    for row, name in DAY_LABELS.items():
        _text(dwg, root, name, (PAD, GRID_Y + row * PITCH + 8), "muted", muted)
    for col, name in month_labels([c.day for c in cells]):
        _text(dwg, root, name, (PAD + LABEL_W + col * PITCH, MONTH_Y), "muted", muted)


def _cells(dwg, root, cells: Sequence[Cell], theme: str) -> None:
    colours = palette(theme)
    first = cells[0].day
    offset = sunday_row(first)
    # Shared attributes sit on the group: a year is 371 cells, and bytes are latency.
    grid = root.add(dwg.g(class_="cell", **_outline(colours)))
    for cell in cells:
        index = (cell.day - first).days + offset
        x = PAD + LABEL_W + (index // 7) * PITCH
        y = GRID_Y + (index % 7) * PITCH
        rect = dwg.rect(
            (x, y),
            (CELL, CELL),
            rx=RADIUS,
            fill=colours.levels[cell.level],
            class_=f"l{cell.level}",
            data_date=cell.day.isoformat(),
            data_level=cell.level,
        )
        rect.set_desc(title=cell.title)
        grid.add(rect)


def _outline(colours) -> dict:
    return {"stroke": colours.outline, "stroke_opacity": colours.outline_opacity, "stroke_width": 1}


def header_lines(header: str, width: float) -> list[str]:
    """The header in lines that fit the graph's width (split between words, at most two:
    a narrow graph keeps its whole headline instead of cutting it off at the edge)."""
    fits = int((width - 2 * PAD) / HEADER_CHAR_W)
    if len(header) <= fits:
        return [header]
    cut = header.rfind(" ", 0, fits + 1)
    if cut <= 0:
        return [header]
    return [header[:cut], header[cut + 1 :]]


def label_width(text: str) -> float:
    """About how wide a legend label draws at 9 px (no font metrics in an SVG we send)."""
    return CHAR_W * len(text)


def _legend(dwg, root, cal: Calendar, right_baseline) -> None:
    """The five level squares, right-aligned, each followed by what it means (readable
    where the SVG is an <img> and tooltips never show)."""
    colours = palette(cal.theme)
    right, top = right_baseline
    labels = list(cal.labels) or [""] * len(cal.legend)
    widths = [CELL + 3 + label_width(text) + LEGEND_GAP for text in labels]
    x = right - sum(widths) + LEGEND_GAP
    squares = root.add(dwg.g(class_="cell legend", **_outline(colours)))
    for level, (title, text, w) in enumerate(zip(cal.legend, labels, widths, strict=True)):
        rect = dwg.rect(
            (x, top),
            (CELL, CELL),
            rx=RADIUS,
            fill=colours.levels[level],
            class_=f"l{level}",
            data_level=level,
        )
        rect.set_desc(title=title)
        squares.add(rect)
        if text:
            _text(dwg, root, text, (x + CELL + 3, top + 9), "muted", colours.muted)
        x += w
