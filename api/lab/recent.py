"""The status page's "last 24 h" per user: recent GPU-seconds, kept per worker."""

from __future__ import annotations

import threading

from store.db import Connection
from store.rollups import rolled_up_until, user_hour_totals
from store.usage import merge, user_seconds_between, user_seconds_buckets

HOUR = 3600


class RecentUsage:
    """Per-user GPU-seconds of the last 24 h, kept per worker.

    Whole UTC hours the scheduler has rolled up come from user_hourly (the same per-user
    rule, already computed); only hours it has not reached yet, and the partial hours at
    both ends of the window, are scanned raw (a day of raw samples takes most of a second).
    Whole hours are kept; a refresh runs at most once a minute. An hour counts as whole a
    minute after it ends, so ticks written a little late still land in it."""

    def __init__(self, ttl_s: float = 60, grace_s: int = 60) -> None:
        self.ttl_s, self.grace_s = ttl_s, grace_s
        self._key: int | None = None
        self._value: dict[str, float] = {}
        self._hours: dict[int, dict[str, float]] = {}
        self._lock = threading.Lock()  # a worker's requests share this object

    def get(self, conn: Connection, now: float, threshold: float) -> dict[str, float]:
        """GPU-seconds per user in the 24 h up to and including `now`."""
        key = int(now // self.ttl_s)
        with self._lock:
            if key != self._key:
                self._value, self._key = self._compute(conn, int(now) + 1, threshold), key
            return self._value

    def _compute(self, conn: Connection, hi: int, threshold: float) -> dict[str, float]:
        lo = hi - 86_400
        first = -(-lo // HOUR) * HOUR  # the first whole hour in the window
        done = max(first, (hi - self.grace_s) // HOUR * HOUR)  # whole hours end here
        self._hours = {h: u for h, u in self._hours.items() if first <= h < done}
        missing = [h for h in range(first, done, HOUR) if h not in self._hours]
        live = rolled_up_until(conn)
        rolled = [h for h in missing if h + HOUR <= live]
        if rolled:
            stored = user_hour_totals(conn, rolled[0], rolled[-1] + HOUR)
            self._hours.update({h: stored.get(h, {}) for h in rolled})
        raw = [h for h in missing if h + HOUR > live]
        if raw:
            fresh = user_seconds_buckets(conn, raw[0], raw[-1] + HOUR, threshold, HOUR)
            self._hours.update({h: fresh.get(h, {}) for h in raw})
        edges = [
            user_seconds_between(conn, lo, first, threshold) if lo < first else {},
            user_seconds_between(conn, done, hi, threshold),
        ]
        return merge([*self._hours.values(), *edges])
