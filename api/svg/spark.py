"""Sparklines drawn inline in HTML pages: a mean line over a band of peaks, on a 0-100 scale,
with marked stretches (the GPU held but idle) behind them.

The SVG carries classes only, no colours, so the page's stylesheet themes it light or dark;
it has no script and no style attribute, so the page's Content-Security-Policy holds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

from markupsafe import Markup

from api.svg.text import clean_label

EDGE = 3  # px: the strip along the bottom of a marked slot


@dataclass(frozen=True)
class Slot:
    """One bucket of a series: UTC seconds [start, end), its mean and peak (0-100, None
    when nothing was measured) and the share of it to mark (0-1)."""

    start: int
    end: int
    mean: float | None
    peak: float | None
    marked: float = 0.0


@dataclass(frozen=True)
class Frame:
    """Where a sparkline draws: the time window [lo, hi) and the size in pixels."""

    lo: int
    hi: int
    width: int = 160
    height: int = 24


def _x(frame: Frame, ts: float) -> float:
    """Pixel column of a moment."""
    return round((ts - frame.lo) / (frame.hi - frame.lo) * frame.width, 1)


def _y(frame: Frame, value: float) -> float:
    """Pixel row of a 0-100 value (1 px kept free at the top and bottom)."""
    clamped = min(max(value, 0.0), 100.0)
    return round(frame.height - 1 - clamped / 100 * (frame.height - 2), 1)


def runs(slots: Sequence[Slot], attr: str) -> list[list[Slot]]:
    """Consecutive slots that have a value of `attr`; a gap in the data breaks the line."""
    out: list[list[Slot]] = []
    for slot in slots:
        if getattr(slot, attr) is None:
            continue
        if out and out[-1][-1].end == slot.start:
            out[-1].append(slot)
        else:
            out.append([slot])
    return out


def line_path(frame: Frame, slots: Sequence[Slot], attr: str) -> str:
    """SVG path data through each slot's middle; a lone slot is drawn across its width."""
    parts = []
    for run in runs(slots, attr):
        if len(run) == 1:
            (s,) = run
            y = _y(frame, getattr(s, attr))
            parts.append(f"M{_x(frame, s.start)},{y}L{_x(frame, s.end)},{y}")
            continue
        points = [f"{_x(frame, (s.start + s.end) / 2)},{_y(frame, getattr(s, attr))}" for s in run]
        parts.append("M" + "L".join(points))
    return "".join(parts)


def band_path(frame: Frame, slots: Sequence[Slot]) -> str:
    """A closed area under the peaks, as steps across each slot."""
    parts = []
    base = frame.height - 1
    for run in runs(slots, "peak"):
        steps = []
        for s in run:
            y = _y(frame, s.peak)
            steps += [f"{_x(frame, s.start)},{y}", f"{_x(frame, s.end)},{y}"]
        parts.append(
            f"M{_x(frame, run[0].start)},{base}L"
            + "L".join(steps)
            + f"L{_x(frame, run[-1].end)},{base}Z"
        )
    return "".join(parts)


def marks(frame: Frame, slots: Sequence[Slot]) -> list[str]:
    """Per marked slot a pale wash and a solid bottom strip, as opaque as the share of it
    marked."""
    out = []
    for s in slots:
        if s.marked <= 0:
            continue
        x0, x1 = _x(frame, s.start), _x(frame, s.end)
        # A pale wash behind the lines, and a solid strip along the bottom edge.
        width, opacity = round(max(x1 - x0, 0.5), 1), round(min(s.marked, 1.0), 2)
        box = f'x="{x0}" width="{width}" opacity="{opacity}"'
        out.append(f'<rect class="mark" {box} y="0" height="{frame.height}"/>')
        out.append(f'<rect class="mark-edge" {box} y="{frame.height - EDGE}" height="{EDGE}"/>')
    return out


def sparkline(frame: Frame, slots: Sequence[Slot], label: str, kind: str) -> Markup:
    """The inline <svg> for one series, safe to put in a page as it is; `kind` names its CSS
    class (util, mem, ...), `label` is what screen readers and a hover show."""
    text = clean_label(label, 200)
    body = [
        f'<rect class="frame" x="0" y="0" width="{frame.width}" height="{frame.height}"/>',
        *marks(frame, slots),
    ]
    band = band_path(frame, slots)
    if band:
        body.append(f'<path class="peak" d="{band}"/>')
    line = line_path(frame, slots, "mean")
    if line:
        body.append(f'<path class="mean" d="{line}"/>')
    return Markup(
        f'<svg class="spark {kind}" xmlns="http://www.w3.org/2000/svg" role="img" '
        f'width="{frame.width}" height="{frame.height}" '
        f'viewBox="0 0 {frame.width} {frame.height}" aria-label={quoteattr(text)}>'
        f"<title>{escape(text)}</title>{''.join(body)}</svg>"
    )
