"""The status page's "last 24 h" per user: recent GPU-seconds (or held-idle seconds), kept
per worker."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from store.aggregate import merge_partial
from store.db import Connection
from store.held_idle import held_rows
from store.history import user_hour_held
from store.rollups import rolled_up_until, user_hour_totals
from store.tick_sql import IDLE_LABEL
from store.usage import merge, user_seconds_buckets

HOUR = 3600
PerHour = dict[int, dict[str, float]]


@dataclass(frozen=True)
class Measure:
    """What is counted per user: read from the roll-ups for whole hours (`rolled`: conn, lo,
    hi), computed from the raw samples for the rest (`raw`: conn, lo, hi, bucket, the rule's
    arguments), both as {slot start: {user: seconds}}."""

    rolled: Callable[[Connection, int, int], PerHour]
    raw: Callable[..., PerHour]


def gpu_seconds_raw(conn: Connection, lo: int, hi: int, bucket: int, threshold: float) -> PerHour:
    """GPU-seconds per user and slot from the raw samples."""
    return user_seconds_buckets(conn, lo, hi, threshold, bucket)


def held_seconds_raw(
    conn: Connection, lo: int, hi: int, bucket: int, threshold: float, held_mib: int
) -> PerHour:
    """Held-idle seconds per person and slot on the whole host (store.held_idle)."""
    out: PerHour = {}
    for row in held_rows(conn, lo, hi, bucket, threshold, held_mib):
        if row["user"] != IDLE_LABEL:
            merge_partial(out.setdefault(row["b"] * bucket, {}), {row["user"]: row["seconds"]})
    return out


GPU_TIME = Measure(user_hour_totals, gpu_seconds_raw)
HELD_IDLE = Measure(user_hour_held, held_seconds_raw)


class RecentUsage:
    """Per-user seconds of the last 24 h (GPU time unless another Measure), kept per worker.

    Whole UTC hours the scheduler has rolled up come from user_hourly (the same per-user
    rule, already computed); only hours it has not reached yet, and the partial hours at
    both ends of the window, are scanned raw (a day of raw samples takes most of a second).
    Whole hours are kept; a refresh runs at most once a minute. An hour counts as whole a
    minute after it ends, so ticks written a little late still land in it."""

    def __init__(self, ttl_s: float = 60, grace_s: int = 60, measure: Measure = GPU_TIME) -> None:
        self.ttl_s, self.grace_s, self.measure = ttl_s, grace_s, measure
        self._key: int | None = None
        self._value: dict[str, float] = {}
        self._hours: dict[int, dict[str, float]] = {}
        self._lock = threading.Lock()  # a worker's requests share this object

    def get(self, conn: Connection, now: float, *rule: float) -> dict[str, float]:
        """Seconds per user in the 24 h up to and including `now`; `rule` is what the
        measure's raw computation takes (the active threshold, the memory that holds)."""
        key = int(now // self.ttl_s)
        with self._lock:
            if key != self._key:
                self._value, self._key = self._compute(conn, int(now) + 1, rule), key
            return self._value

    def _compute(self, conn: Connection, hi: int, rule: tuple) -> dict[str, float]:
        lo = hi - 86_400
        first = -(-lo // HOUR) * HOUR  # the first whole hour in the window
        done = max(first, (hi - self.grace_s) // HOUR * HOUR)  # whole hours end here
        self._hours = {h: u for h, u in self._hours.items() if first <= h < done}
        missing = [h for h in range(first, done, HOUR) if h not in self._hours]
        live = rolled_up_until(conn)
        rolled = [h for h in missing if h + HOUR <= live]
        if rolled:
            stored = self.measure.rolled(conn, rolled[0], rolled[-1] + HOUR)
            self._hours.update({h: stored.get(h, {}) for h in rolled})
        raw = [h for h in missing if h + HOUR > live]
        if raw:
            fresh = self.measure.raw(conn, raw[0], raw[-1] + HOUR, HOUR, *rule)
            self._hours.update({h: fresh.get(h, {}) for h in raw})
        edges = [self._between(conn, lo, first, rule), self._between(conn, done, hi, rule)]
        return merge([*self._hours.values(), *edges])

    def _between(self, conn: Connection, lo: int, hi: int, rule: tuple) -> dict[str, float]:
        """Seconds per user in [lo, hi) from the raw samples (nothing when empty)."""
        return merge(self.measure.raw(conn, lo, hi, hi - lo, *rule).values()) if lo < hi else {}
