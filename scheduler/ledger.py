"""Reading the push ledger and queue for -ls, -ss and the tests."""

from __future__ import annotations

from store.db import Connection

SUMMARY_KEYS = ("hour", "attempts", "first_attempt", "last_attempt", "last_error", "uid",
                "state")  # fmt: skip
ATTEMPT_KEYS = ("hour", "attempt", "ts", "success", "status", "error", "uid", "payload_hash")

SUMMARY_SQL = """
SELECT q.hour, count(l.id), min(l.ts), max(l.ts), q.last_error, q.uid, q.state
FROM push_queue q LEFT JOIN push_ledger l ON l.hour = q.hour
{where} GROUP BY q.hour ORDER BY q.hour DESC
"""


def summaries(conn: Connection, hour: int | None = None) -> list[dict]:
    """One line per queued hour (newest first): attempts, first/last try, error, uid, state."""
    where, params = ("WHERE q.hour = ?", (hour,)) if hour is not None else ("", ())
    rows = conn.execute(SUMMARY_SQL.format(where=where), params)
    return [dict(zip(SUMMARY_KEYS, r, strict=True)) for r in rows]


def attempts(conn: Connection, hour: int | None = None) -> list[dict]:
    """Every ledger row, oldest first, optionally for one hour."""
    sql = f"SELECT {', '.join(ATTEMPT_KEYS)} FROM push_ledger"
    params: tuple = ()
    if hour is not None:
        sql, params = sql + " WHERE hour = ?", (hour,)
    rows = conn.execute(sql + " ORDER BY hour, attempt", params)
    return [dict(zip(ATTEMPT_KEYS, r, strict=True)) for r in rows]
