"""The collector's run loop: sample on monotonic deadlines, write through the Recorder.

Everything that touches the outside world is injected (backend, recorder, clocks, the
wait function, the logger) so tests drive it with fake clocks and real SQLite files.
"""

from __future__ import annotations

import logging
import math
import socket
import time
from collections import deque
from collections.abc import Callable

from runtime.settings import default
from sampling.backend import Backend, BackendFailed, Reading
from store.db import Error, atomic
from store.problems import passes
from store.samples import Recorder, Tick, add_event, newest_sample_ts, set_meta


class CollectorLoop:
    """Samples every `interval` seconds and records ticks; a busy database only delays them."""

    def __init__(
        self,
        backend: Backend,
        recorder: Recorder,
        *,
        interval: float,
        wait: Callable[[float], bool],
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        logger: logging.Logger | None = None,
        buffer_ticks: int = default("GPUPULSE_BUFFER_TICKS"),
        write_wait_s: float | None = None,
        host: str | None = None,
    ) -> None:
        self.backend = backend
        self.recorder = recorder
        self.interval = interval
        self.wait = wait  # returns True when asked to stop (threading.Event.wait)
        self.monotonic = monotonic
        self.wall = wall
        self.log = logger or logging.getLogger("collector")
        self.buffer_ticks = max(1, buffer_ticks)
        # How long one write may wait for another writer's lock before we buffer instead:
        # short, so a stop request or the next deadline is never held up for long.
        self.write_wait_s = min(1.5, interval / 2) if write_wait_s is None else write_wait_s
        self.pending: deque[Tick] = deque()
        self.pending_lost: list[tuple[str, int, str]] = []
        self.pending_meta: list[tuple[str, str]] = [
            ("interval", f"{interval:g}"),
            ("backend", backend.name),
            ("host_id", host or socket.gethostname()),  # GPUPULSE_HOST_ID, else the hostname
        ]
        self.dropped = 0  # ticks dropped since the database last accepted a write
        self.dropped_span: tuple[int, int] | None = None
        self.db_down_since: int | None = None
        self.lost: set[str] = set()
        self.sample_failing = False
        self.last_ts = newest_sample_ts(recorder.conn) or 0
        self.ticks = 0
        self.skipped = 0

    def run(self, max_ticks: int | None = None) -> int:
        """Tick until `wait` says stop (or `max_ticks`); return the number of ticks taken."""
        deadline = self.monotonic()
        last_mono: float | None = None
        while max_ticks is None or self.ticks < max_ticks:
            start = self.monotonic()
            tick_s = self.interval if last_mono is None else start - last_mono
            last_mono = start
            self.tick(tick_s)
            deadline = self._next_deadline(deadline)
            if self.wait(max(0.0, deadline - self.monotonic())):
                break
        self.flush(final=True)
        return self.ticks

    def _next_deadline(self, deadline: float) -> float:
        """The next deadline on the grid start + k * interval, skipping any we overran."""
        deadline += self.interval
        now = self.monotonic()
        if now > deadline:
            missed = math.ceil((now - deadline) / self.interval)
            deadline += missed * self.interval
            self.skipped += missed
            self.log.warning(
                "tick overran by %.2f s; skipping %d tick(s) to stay on schedule",
                now - deadline + missed * self.interval,
                missed,
            )
        return deadline

    def tick(self, tick_s: float) -> None:
        """Sample once, queue the tick, and try to write everything queued."""
        now = self.wall()
        ts = max(int(now), self.last_ts + 1)  # strictly increasing, even if the clock steps back
        reading = self._sample(now, tick_s)
        self.ticks += 1
        if reading is not None:
            self.last_ts = ts
            self._note_lost(reading, ts)
            self.pending_meta.extend(reading.meta)
            self.pending.append(
                Tick(ts, round(tick_s, 3), reading.samples, reading.processes, reading.states)
            )
        if not self.flush():
            self._trim()

    def _sample(self, now: float, tick_s: float) -> Reading | None:
        try:
            reading = self.backend.sample(now, tick_s)
        except BackendFailed:
            raise  # the backend gave up for good: the process must end and be restarted
        except Exception as exc:  # the backend re-initializes itself; we keep ticking
            if not self.sample_failing:
                self.log.error("sampling failed: %s; will keep trying every tick", exc)
            self.sample_failing = True
            return None
        if self.sample_failing:
            self.log.info("sampling works again")
            self.sample_failing = False
        return reading

    def _note_lost(self, reading: Reading, ts: int) -> None:
        """Log a lost GPU once (and queue its mark); log again when it answers."""
        for gpu, reason in reading.lost:
            if gpu.uuid not in self.lost:
                self.lost.add(gpu.uuid)
                self.pending_lost.append((gpu.uuid, ts, reason))
                self.log.warning("GPU %d (%s) is lost: %s", gpu.index, gpu.uuid, reason)
        for sample in reading.samples if self.lost else ():
            if sample.gpu.uuid in self.lost:
                self.lost.discard(sample.gpu.uuid)
                self.log.info("GPU %d (%s) answers again", sample.gpu.index, sample.gpu.uuid)

    def _trim(self) -> None:
        """Keep at most `buffer_ticks` unwritten ticks, dropping (and counting) the oldest."""
        while len(self.pending) > self.buffer_ticks:
            old = self.pending.popleft()
            self.dropped += 1
            first = old.ts if self.dropped_span is None else self.dropped_span[0]
            self.dropped_span = (first, old.ts)
            if self.dropped == 1 or self.dropped % 100 == 0:
                self.log.error(
                    "database unavailable and the buffer is full (%d ticks): "
                    "dropped the oldest tick, %d dropped so far",
                    self.buffer_ticks,
                    self.dropped,
                )

    def flush(self, final: bool = False) -> bool:
        """Write everything queued; on a busy or full database keep it for the next try.

        A database that waiting cannot fix (read-only, corrupt, gone) raises, so the
        collector says so and exits instead of dropping ticks until the buffer runs out.
        """
        queued = len(self.pending)
        try:
            self._set_busy_wait(self.write_wait_s)
            self._write_pending()
        except Error as exc:
            if not passes(exc):
                raise
            if final:
                self.log.error(
                    "stopping with %d tick(s) unwritten: database error: %s", len(self.pending), exc
                )
            elif self.db_down_since is None:
                self.db_down_since = self.last_ts
                self.log.warning(
                    "database write failed (%s); keeping ticks in memory (up to %d) and retrying",
                    exc,
                    self.buffer_ticks,
                )
            return False
        if self.db_down_since is not None:
            self.log.info("database writable again; wrote %d buffered tick(s)", queued)
            self.db_down_since = None
        return True

    def _set_busy_wait(self, seconds: float) -> None:
        self.recorder.conn.execute(f"PRAGMA busy_timeout = {max(1, round(seconds * 1000))}")

    def _write_pending(self) -> None:
        conn = self.recorder.conn
        if self.pending_meta:
            set_meta(conn, self.pending_meta)
            self.pending_meta = []
        if self.dropped:
            self._record_drops()
        if self.pending:
            self.recorder.write(list(self.pending))
            self.pending.clear()
        while self.pending_lost:
            uuid, ts, reason = self.pending_lost[0]
            self.recorder.mark_lost(uuid, ts, reason)
            self.pending_lost.pop(0)

    def _record_drops(self) -> None:
        first, last = self.dropped_span or (0, 0)
        detail = (
            f"{self.dropped} tick(s) from ts {first} to {last} dropped: the database was "
            f"unavailable longer than the buffer ({self.buffer_ticks} ticks)"
        )
        with atomic(self.recorder.conn):
            add_event(self.recorder.conn, self.last_ts, "samples_dropped", None, detail)
        self.log.error("%s", detail)
        self.dropped, self.dropped_span = 0, None
