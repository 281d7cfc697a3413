"""Reading the push ledger and queue for -ls, -ss and the tests."""

from __future__ import annotations

from store.db import Connection, dict_rows

SUMMARY_SQL = """
SELECT q.hour, count(l.id) AS attempts, min(l.ts) AS first_attempt, max(l.ts) AS last_attempt,
    q.last_error, q.uid, q.state
FROM push_queue q LEFT JOIN push_ledger l ON l.hour = q.hour
{where} GROUP BY q.hour ORDER BY q.hour DESC
"""
ATTEMPTS_SQL = """
SELECT hour, attempt, ts, success, status, error, uid, payload_hash FROM push_ledger
"""


def summaries(conn: Connection, hour: int | None = None) -> list[dict]:
    """One line per queued hour (newest first): attempts, first/last try, error, uid, state."""
    where, params = ("WHERE q.hour = ?", (hour,)) if hour is not None else ("", ())
    return dict_rows(conn.execute(SUMMARY_SQL.format(where=where), params))


def attempts(conn: Connection, hour: int | None = None) -> list[dict]:
    """Every ledger row, oldest first, optionally for one hour."""
    sql = ATTEMPTS_SQL
    params: tuple = ()
    if hour is not None:
        sql, params = sql + " WHERE hour = ?", (hour,)
    return dict_rows(conn.execute(sql + " ORDER BY hour, attempt", params))
