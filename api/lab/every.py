"""Per-worker results recomputed at most once per period: what the status page shows
changes with the collector's ticks, but the page itself refreshes every 30 s, so a result
of the same period is as good as a fresh one."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Every(Generic[T]):
    """The value `compute()` gave in the current `period_s`-second slot of the clock."""

    def __init__(self, period_s: float) -> None:
        self.period_s = period_s
        self._slot: int | None = None
        self._value: T | None = None
        self._lock = threading.Lock()  # gthread workers share this object

    def get(self, now: float, compute: Callable[[], T]) -> T:
        """The slot's value, computed on the slot's first call."""
        slot = int(now // self.period_s)
        with self._lock:
            if slot != self._slot or self._value is None:
                self._value, self._slot = compute(), slot
            return self._value
