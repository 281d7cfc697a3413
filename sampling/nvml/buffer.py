"""Active time from the driver's utilization sample buffer (nvmlDeviceGetSamples).

The buffer holds the newest few dozen utilization samples, each the GPU's utilization over
one sample period (about 1/6 s on datacenter GPUs, 1 s on others). Reading everything
newer than the last tick tells which parts of the tick the GPU was busy, instead of one
point reading at the end. Three properties of the buffer vary between GPUs and drivers, so
they are measured, not assumed:

- the sample period: one sample stands for at most two periods before it, so when an idle
  GPU emits no samples the quiet gap is not credited to the next burst;
- the depth: when a tick is longer than the buffer reaches back, the part it no longer
  holds is estimated from the share of active time in the part it does hold;
- the timestamp base: wall-clock or monotonic microseconds; tick windows are converted.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

# sampleValType -> member of the c_nvmlValue_t union that holds the value
VALUE_FIELDS = ("dVal", "uiVal", "ulVal", "ullVal", "sllVal", "siVal", "usVal")
COVER_PERIODS = 2  # one sample covers at most this many measured periods before it
DEFAULT_COVER_US = 1_000_000  # until the period is measured: the longest common period
MIN_STEPS = 8  # sample steps seen before a period is trusted
WALL, MONOTONIC = "wall-clock", "monotonic"


def sample_value(value: Any, value_type: int | None) -> float:
    """The number in an nvmlValue_t union, read through the member its sampleValType names."""
    member = VALUE_FIELDS[value_type] if value_type in range(len(VALUE_FIELDS)) else "uiVal"
    return getattr(value, member)


@dataclass
class BufferShape:
    """What was measured about one GPU's sample buffer."""

    period_us: float | None = None
    depth: int = 0  # the most samples one read has returned
    base: str | None = None  # WALL or MONOTONIC
    offset_us: int = 0  # add to a wall-clock time to get the buffer's time
    last_us: int = 0  # newest sample already counted, in the buffer's time
    warned_short: bool = False

    @property
    def cover_us(self) -> float:
        """How far back one sample may stand for."""
        return DEFAULT_COVER_US if self.period_us is None else COVER_PERIODS * self.period_us

    @property
    def span_s(self) -> float | None:
        """How many seconds the buffer holds, once measured."""
        return None if self.period_us is None else self.depth * self.period_us / 1e6

    def learn(self, stamps: list[int], wall_us: int, mono_us: int) -> bool:
        """Measure period, depth and base from one read; True when the period was first found.

        `wall_us` and `mono_us` are read together: the offset between the two clocks is
        taken afresh every tick, so a wall-clock step or a suspend does not shift it."""
        self.depth = max(self.depth, len(stamps))
        if self.base is None and stamps:
            newest = max(stamps)
            # Wall-clock microseconds are ~1.7e15; monotonic ones count from boot (< 3e14).
            self.base = WALL if abs(newest - wall_us) < abs(newest - mono_us) else MONOTONIC
        self.offset_us = 0 if self.base != MONOTONIC else mono_us - wall_us
        steps = sorted(b - a for a, b in itertools.pairwise(stamps) if b > a)
        if self.period_us is None and len(steps) >= MIN_STEPS:
            # The lower quartile: a quiet buffer's long gaps are steps too, but rarer.
            self.period_us = float(steps[len(steps) // 4])
            return True
        return False

    def forget_future(self, end_us: int) -> None:
        """After the clock stepped back, a 'newest sample' ahead of now would hide new ones."""
        if self.last_us > end_us + self.cover_us:
            self.last_us = 0

    def describe(self) -> str:
        """One line for the log and `collector doctor`."""
        if self.period_us is None:
            return "sample buffer: period not measured yet"
        return (
            f"sample buffer: one sample every {self.period_us / 1000:.1f} ms, "
            f"{self.depth} kept ({self.span_s:.1f} s), {self.base} timestamps"
        )


def active_seconds(
    points: list[tuple[int, float]],
    start_us: int,
    end_us: int,
    threshold: float,
    since_us: int,
    point: float | None,
    *,
    cover_us: float | None = None,
    overflowed: bool = False,
) -> float | None:
    """Seconds of (start_us, end_us] with utilization above `threshold`, never above the tick."""
    window = end_us - start_us
    if window <= 0:
        return 0.0
    if not points:
        return None if point is None else (window / 1e6 if point > threshold else 0.0)
    points = sorted(points)
    # Each sample stands for the time since the sample before it (the first one since the
    # newest sample of the last tick), but never more than `cover_us`: a quiet stretch in
    # which the driver emitted nothing is idle, not part of the next burst.
    prev = since_us or start_us
    covered = active = 0.0
    first_lo = None
    for ts, value in points:
        lo = prev if cover_us is None else max(prev, ts - cover_us)
        first_lo = lo if first_lo is None else first_lo
        span = _overlap(lo, ts, start_us, end_us)
        covered += span
        active += span if value > threshold else 0
        prev = max(prev, ts)
    if overflowed and covered and first_lo is not None:
        # The buffer no longer held the start of the tick: estimate it from the rest.
        active += _overlap(start_us, first_lo, start_us, end_us) * active / covered
    # After the newest sample: its value for as long as one sample may stand for. Beyond
    # that the buffer emitted nothing, which a quiet buffer does only while the GPU is idle
    # (the point reading, averaged over a longer window, would still show the last burst).
    tail_end = end_us if cover_us is None else min(end_us, prev + cover_us)
    if points[-1][1] > threshold:
        active += _overlap(prev, tail_end, start_us, end_us)
    return min(active, window) / 1e6


def _overlap(a: float, b: float, start: float, end: float) -> float:
    return max(0.0, min(b, end) - max(a, start))
