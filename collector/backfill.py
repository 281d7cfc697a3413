"""Writing days of simulated history before the live loop starts (the demo's graph)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from sampling.backend import Backend
from store.samples import Recorder, Tick, newest_sample_ts

BACKFILL_TICK_S = 60
TICKS_PER_TRANSACTION = 1440  # one day of 60 s ticks per write: few, large transactions


def backfill(
    backend: Backend,
    recorder: Recorder,
    days: float,
    end: int,
    *,
    tick_s: int = BACKFILL_TICK_S,
    logger: logging.Logger | None = None,
    stop: Callable[[], bool] = lambda: False,
) -> int:
    """Write `days` of history ending before `end` if the store has no samples; return ticks."""
    log = logger or logging.getLogger("collector")
    if days <= 0 or newest_sample_ts(recorder.conn) is not None:
        return 0
    end -= end % tick_s
    first = end - int(days * 86_400)
    batch: list[Tick] = []
    written = 0
    for ts in range(first + tick_s, end + 1, tick_s):
        reading = backend.sample(ts, tick_s)
        batch.append(Tick(ts, tick_s, reading.samples, reading.processes))
        if len(batch) >= TICKS_PER_TRANSACTION:
            recorder.write(batch)
            written, batch = written + len(batch), []
            if stop():
                break
    recorder.write(batch)
    written += len(batch)
    log.info("backfilled %g day(s) of simulated history: %d ticks of %d s", days, written, tick_s)
    return written
