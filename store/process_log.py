"""The raw per-process log, one row per process per tick, read in batches so a day of
1-second ticks streams in flat memory (the CSV export and its CLI both read it here)."""

from __future__ import annotations

from collections.abc import Iterator

from store.db import Connection

# Ordered by the process_samples primary key, so SQLite walks the index and sorts nothing.
ROWS_SQL = """
SELECT ps.ts, coalesce(p.user, 'unknown'), p.pid, g.idx, ps.mem_mib
FROM process_samples ps
JOIN processes p ON p.id = ps.process
JOIN gpus g ON g.id = ps.gpu
WHERE ps.ts >= ? AND ps.ts < ?
ORDER BY ps.ts, ps.gpu, ps.process
"""


def process_rows(conn: Connection, lo: int, hi: int, batch: int = 2000) -> Iterator[list[tuple]]:
    """Batches of (ts, user, pid, gpu index, memory MiB) with lo <= ts < hi, in time order.

    The cursor is closed when the caller stops early (a client that hung up), so no read
    transaction outlives the request."""
    cursor = conn.execute(ROWS_SQL, (lo, hi))
    try:
        while rows := cursor.fetchmany(batch):
            yield rows
    finally:
        cursor.close()
