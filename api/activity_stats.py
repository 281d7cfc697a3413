"""The numbers behind the calendar: colour levels, streaks and the busiest day.

Levels follow GitHub: 0 for a day without activity; otherwise, with `quartiles`, the
quarter of the active days in view the value falls in (ceil(4 * share of active days with
a value <= this one)), so the busiest quarter is always level 4; with `fixed`, the
GPU-Brrrometer bands (for minutes: up to 1 h, 3 h, 6 h, more).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date

SCALES = ("quartiles", "fixed")


def level_function(
    values: Sequence[float], scale: str, bands: tuple[float, float, float]
) -> Callable[[float], int]:
    """A function value -> level 0..4 for the days in view."""
    if scale == "fixed":
        return lambda v: 0 if v <= 0 else 1 + bisect_left_bands(bands, v)
    active = sorted(v for v in values if v > 0)
    n = len(active)
    return lambda v: 0 if v <= 0 else max(1, -(-4 * bisect_right(active, v) // n))


def level_tops(
    scale: str, bands: tuple[float, float, float], values: Sequence[float], level
) -> list[float | None]:
    """The upper edge of levels 1-4, for a legend: the fixed bands (level 4: None, open), or
    with quartiles the largest value in view at that level (None for a level none reaches)."""
    if scale == "fixed":
        return [*bands, None]
    return [max((v for v in values if v > 0 and level(v) == k), default=None) for k in range(1, 5)]


def bisect_left_bands(bands: tuple[float, float, float], value: float) -> int:
    """How many band edges lie strictly below `value` (each band includes its upper edge)."""
    return sum(1 for edge in bands if value > edge)


@dataclass(frozen=True)
class Stats:
    """Footer figures for the days in view."""

    active_days: int
    current_streak: int
    longest_streak: int
    busiest: tuple[date, float] | None


def stats(days: Sequence[date], values: Sequence[float]) -> Stats:
    """Active days, streaks and the busiest day; the current streak may end yesterday,
    because today is still in progress."""
    active = [v > 0 for v in values]
    longest = run = 0
    for is_active in active:
        run = run + 1 if is_active else 0
        longest = max(longest, run)
    current, tail = 0, active[:-1] if active and not active[-1] else active
    for is_active in reversed(tail):
        if not is_active:
            break
        current += 1
    best = max(range(len(values)), key=lambda i: (values[i], -i), default=None)
    busiest = None if best is None or values[best] <= 0 else (days[best], values[best])
    return Stats(sum(active), current, longest, busiest)
