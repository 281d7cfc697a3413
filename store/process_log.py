"""The raw per-process log, one row per process per tick, read in batches so a day of
1-second ticks streams in flat memory (the CSV export and its CLI both read it here)."""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from itertools import islice
from operator import itemgetter

from store.db import Connection

# A row's GPU usage: the GPU's utilization in the tick (%). A MIG device reports none; the
# share of the tick it was active stands in; 0 where neither was measured.
USAGE_SQL = """coalesce(s.util,
    CAST(round(100.0 * min(s.active_ms, s.tick_ms) / nullif(s.tick_ms, 0)) AS INTEGER), 0)"""

# Ordered by the process_samples primary key, so SQLite walks the index and sorts nothing.
ROWS_SQL = f"""
SELECT ps.ts, coalesce(p.user, 'unknown'), p.pid, g.idx, {USAGE_SQL}
FROM process_samples ps
JOIN processes p ON p.id = ps.process
JOIN gpus g ON g.id = ps.gpu
LEFT JOIN samples s ON s.ts = ps.ts AND s.gpu = ps.gpu
WHERE ps.ts >= ? AND ps.ts < ?
ORDER BY ps.ts, ps.gpu, ps.process
"""

# Ticks the collector sampled with no process on any GPU, walking the samples' key.
NO_PROCESS_TICKS_SQL = """
SELECT s.ts FROM samples s
WHERE s.ts >= ? AND s.ts < ?
  AND NOT EXISTS (SELECT 1 FROM process_samples ps WHERE ps.ts = s.ts)
GROUP BY s.ts ORDER BY s.ts
"""


def _rows(conn: Connection, sql: str, lo: int, hi: int, batch: int) -> Iterator[tuple]:
    """Every row of `sql` over [lo, hi), fetched `batch` at a time.

    The cursor is closed when the caller stops early (a client that hung up), so no read
    transaction outlives the request."""
    cursor = conn.execute(sql, (lo, hi))
    try:
        while rows := cursor.fetchmany(batch):
            yield from rows
    finally:
        cursor.close()


def process_rows(
    conn: Connection, lo: int, hi: int, batch: int = 2000, *, no_process: bool = False
) -> Iterator[list[tuple]]:
    """Batches of (ts, user, pid, gpu index, GPU usage %) with lo <= ts < hi, in time order;
    with `no_process`, a (ts, None, None, None, 0) row for each tick without any process."""
    rows = _rows(conn, ROWS_SQL, lo, hi, batch)
    idle = ((ts, None, None, None, 0) for (ts,) in _rows(conn, NO_PROCESS_TICKS_SQL, lo, hi, batch))
    merged = heapq.merge(rows, idle, key=itemgetter(0)) if no_process else rows
    try:
        while chunk := list(islice(merged, batch)):
            yield chunk
    finally:
        rows.close()
        idle.close()
