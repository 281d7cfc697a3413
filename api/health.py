"""What /health reports: ok, stale (no fresh samples) or error (database unreadable)."""

from __future__ import annotations

from store.db import Connection
from store.samples import STALE_AFTER_TICKS, collector_interval, newest_sample_ts
from store.schema import current_version


def health(conn: Connection, now: float) -> tuple[int, dict]:
    """(HTTP status, body): 200 ok, or 503 stale when the newest sample is too old or absent."""
    newest = newest_sample_ts(conn)
    interval = collector_interval(conn)
    body = {
        "schema_version": current_version(conn),
        "newest_sample_ts": newest,
        "newest_sample_age_s": None if newest is None else round(now - newest, 3),
        "collector_interval_s": interval,
        "stale_after_s": STALE_AFTER_TICKS * interval,
    }
    if newest is None:
        return 503, {"status": "stale", "detail": "no samples recorded yet", **body}
    limit = STALE_AFTER_TICKS * interval
    if now - newest > limit:
        detail = f"newest sample is {now - newest:.0f} s old (limit {limit:g} s)"
        return 503, {"status": "stale", "detail": detail, **body}
    return 200, {"status": "ok", **body}


def error_body(problem: Exception) -> dict:
    """The 503 body when the database cannot be read."""
    return {"status": "error", "detail": f"database unreadable: {problem}"}
