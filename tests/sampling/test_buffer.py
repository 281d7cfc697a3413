"""Active time from a sample buffer: the arithmetic, against hand-computed windows."""

from __future__ import annotations

import pytest

from sampling.nvml.buffer import MONOTONIC, WALL, BufferShape, active_seconds

US = 1_000_000
PERIOD = US // 6  # the 1/6 s period of datacenter GPUs


def grid(start_s: float, end_s: float, value, period: int = PERIOD) -> list[tuple[int, float]]:
    """Samples every `period` us from start to end (both in seconds), value(t_seconds)."""
    first, last = round(start_s * US) // period + 1, round(end_s * US) // period
    return [(k * period, value(k * period / US)) for k in range(first, last + 1)]


def square(busy_s: float, idle_s: float):
    """100 % for busy_s, then 0 % for idle_s, repeating from t = 0."""
    return lambda t: 100 if t % (busy_s + idle_s) <= busy_s else 0


def test_a_healthy_buffer_gives_the_exact_busy_time_of_a_duty_cycle():
    points = grid(0, 20, square(2, 2))
    total = 0.0
    for t in range(0, 20, 5):
        window = [p for p in points if t * US < p[0] <= (t + 5) * US]
        since = max((p[0] for p in points if p[0] <= t * US), default=0)
        total += active_seconds(window, t * US, (t + 5) * US, 1.0, since, None, cover_us=2 * PERIOD)
    assert total == pytest.approx(10.0, abs=0.4)  # 50 % of 20 s


def test_a_quiet_gap_is_idle_not_credited_to_the_next_burst():
    # An idle GPU emits no samples: only 1 s bursts every 5 s leave samples.
    points = [(ts + 4 * US, v) for ts, v in grid(0, 1, lambda t: 100)]  # burst in (4, 5]
    naive = active_seconds(points, 0, 5 * US, 1.0, 1, 0)
    capped = active_seconds(points, 0, 5 * US, 1.0, 1, 0, cover_us=2 * PERIOD)
    assert naive == pytest.approx(5.0, abs=0.01)  # the first burst sample covered the gap
    assert capped == pytest.approx(1.0 + PERIOD / US, abs=0.01)  # one extra period at most


def test_a_buffer_shorter_than_the_tick_estimates_what_it_no_longer_holds():
    # 20 samples (3.3 s) of a 5 s tick survive; the GPU was busy the whole tick.
    points = grid(0, 5, lambda t: 100)[-20:]
    since = 1  # the previous tick's newest sample was long overwritten
    short = active_seconds(points, 0, 5 * US, 1.0, since, 100, cover_us=2 * PERIOD)
    estimated = active_seconds(
        points, 0, 5 * US, 1.0, since, 100, cover_us=2 * PERIOD, overflowed=True
    )
    assert short == pytest.approx(21 * PERIOD / US, abs=0.01)  # the first covers two periods
    assert estimated == pytest.approx(5.0, abs=0.01)


def test_active_time_never_exceeds_the_tick():
    points = [(i * US // 10, 100) for i in range(1, 200)]  # 100 % ten times a second
    assert active_seconds(points, 5 * US, 10 * US, 1.0, 0, 100) == 5.0
    assert active_seconds(points, 5 * US, 10 * US, 1.0, 0, 100, overflowed=True) == 5.0
    assert active_seconds([], 5 * US, 10 * US, 1.0, 4 * US, None) is None
    assert active_seconds([], 5 * US, 10 * US, 1.0, 4 * US, 50) == 5.0


def test_the_newest_sample_stands_for_one_cover_after_it_then_the_gpu_was_idle():
    points = [(US, 100), (2 * US, 100)]
    # The buffer went quiet 3 s ago: a quiet buffer does that only while the GPU is idle,
    # whatever a point reading averaged over the last second still says.
    assert active_seconds(points, 0, 5 * US, 1.0, 0, 0, cover_us=US) == 3.0
    assert active_seconds(points, 0, 5 * US, 1.0, 0, 80, cover_us=US) == 3.0
    assert active_seconds(points, 0, 5 * US, 1.0, 0, None, cover_us=US) == 3.0
    # A fresh newest sample (0.5 s old) decides the tail.
    fresh = [(US, 100), (4.5 * US, 0)]
    assert active_seconds(fresh, 0, 5 * US, 1.0, 0, 80, cover_us=US) == 1.0
    # No sample at all in the tick: the point reading is all there is.
    assert active_seconds([], 0, 5 * US, 1.0, 4 * US, 80, cover_us=US) == 5.0


def test_the_shape_is_measured_period_depth_and_base():
    wall_us, mono_us = 1_750_000_000 * US, 86_400 * US
    stamps = [wall_us - k * PERIOD for k in range(120, 0, -1)]
    shape = BufferShape()
    assert shape.learn(stamps, wall_us, mono_us) is True
    assert (shape.period_us, shape.depth, shape.base, shape.offset_us) == (PERIOD, 120, WALL, 0)
    assert shape.span_s == pytest.approx(20.0, abs=0.001)
    assert shape.learn(stamps[-3:], wall_us, mono_us) is False  # measured once
    assert "166.7 ms, 120 kept (20.0 s), wall-clock" in shape.describe()

    boot = BufferShape()
    boot.learn([mono_us - PERIOD, mono_us], wall_us, mono_us)
    assert boot.base == MONOTONIC and boot.offset_us == mono_us - wall_us
    assert boot.period_us is None  # two samples are not enough to trust a period
