"""Recording idle-job runs in the store's idle_runs table.

Every write is an idempotent upsert keyed by (job, started), so writes that fail while
the database is locked are simply kept and retried on the next tick.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from pathlib import Path

from idle.jobs import Run
from store import StoreError, atomic, open_db
from store.db import Connection, Error
from store.samples import ProcessSample
from store.schema import SchemaMismatch

log = logging.getLogger(__name__)

MAX_PENDING = 10_000  # statements held while the database refuses writes

UPSERT_RUN = """
INSERT INTO idle_runs (job, gpus, pid, started, updated, stopped, reason, gpu_seconds)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (job, started) DO UPDATE SET
    pid = excluded.pid, updated = excluded.updated, stopped = excluded.stopped,
    reason = excluded.reason, gpu_seconds = excluded.gpu_seconds
"""
ADD_PROCESS = """
INSERT OR IGNORE INTO idle_run_processes (pid, started, run)
SELECT ?, ?, id FROM idle_runs WHERE job = ? AND started = ?
"""
# A run still open from an earlier runner that died without stopping it: its last
# heartbeat is the best stop time we know.
CLOSE_LOST = """
UPDATE idle_runs SET stopped = updated, reason = 'runner lost' WHERE stopped IS NULL
"""


class RunLog:
    """Writes runs to idle_runs; with no connection it only logs that it does not."""

    def __init__(self, conn: Connection | None) -> None:
        self.conn = conn
        self.pending: list[tuple[str, tuple]] = []
        self.dropped = 0
        self._failing = False

    def save(self, run: Run, now: float) -> None:
        """Queue the run's current state (start, heartbeat or stop)."""
        stopped = None if run.stopped is None else int(run.stopped)
        gpus = ",".join(str(i) for i in run.gpus)
        row = (run.job, gpus, run.pid, int(run.started), int(now), stopped, run.reason)
        self._queue(UPSERT_RUN, (*row, round(run.gpu_seconds(now), 3)))

    def processes(self, run: Run, seen: Iterable[ProcessSample]) -> None:
        """Queue the job's processes seen on a GPU, so roll-ups can set them apart."""
        for p in seen:
            self._queue(ADD_PROCESS, (p.pid, p.started, run.job, int(run.started)))

    def flush(self) -> bool:
        """Write what is queued in one transaction; keep it for next time on failure."""
        if self.conn is None or not self.pending:
            self.pending.clear()
            return self.conn is not None
        try:
            with atomic(self.conn):
                for sql, params in self.pending:
                    self.conn.execute(sql, params)
        except Error as exc:
            if not self._failing:
                log.warning(
                    "cannot record idle runs yet (%s); %d write(s) kept for retry",
                    exc,
                    len(self.pending),
                )
            self._failing = True
            return False
        if self._failing:
            log.info("recording idle runs again")
        self._failing = False
        self.pending.clear()
        return True

    def close(self) -> None:
        """Flush and close the connection."""
        self.flush()
        if self.conn is not None:
            self.conn.close()

    def _queue(self, sql: str, params: tuple) -> None:
        if self.conn is None:
            return
        self.pending.append((sql, params))
        if len(self.pending) > MAX_PENDING:
            del self.pending[0]
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                log.error("database unwritable: %d idle-run write(s) dropped", self.dropped)


def open_run_log(path: str | os.PathLike[str] | None) -> RunLog:
    """A RunLog on the collector's database, or one that records nothing (logged why)."""
    if path is None:
        log.warning("no database configured: idle runs are not recorded")
        return RunLog(None)
    if not Path(path).is_file():
        log.warning(
            "database %s does not exist (start the collector first): idle runs are not recorded",
            path,
        )
        return RunLog(None)
    try:
        conn = open_db(path, write=True)
        with atomic(conn):
            conn.execute(CLOSE_LOST)
    except (StoreError, SchemaMismatch, Error) as exc:
        log.warning("cannot use database %s (%s): idle runs are not recorded", path, exc)
        return RunLog(None)
    log.info("recording idle runs in %s", path)
    return RunLog(conn)
