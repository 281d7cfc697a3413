"""`collector --healthcheck`: is the newest sample recent enough?"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

from store import open_db
from store.db import Error, StoreError
from store.problems import explain
from store.samples import STALE_AFTER_TICKS, collector_interval, newest_sample_ts


def healthcheck(db: str, interval: float, clock: Callable[[], float] = time.time) -> int:
    """Exit code 0 if the newest sample is at most 3 intervals old, else 1 with one line."""
    try:
        conn = open_db(db)
        try:
            newest = newest_sample_ts(conn)
            interval = collector_interval(conn, interval)
        finally:
            conn.close()
    except (StoreError, Error) as exc:
        print(f"unhealthy: {' '.join(str(explain(exc, db)).split())}", file=sys.stderr)
        return 1
    except (RuntimeError, ValueError) as exc:
        print(f"unhealthy: {' '.join(str(exc).split())}", file=sys.stderr)
        return 1
    if newest is None:
        print(f"unhealthy: no samples in {db} yet", file=sys.stderr)
        return 1
    age = clock() - newest
    limit = STALE_AFTER_TICKS * interval
    if age > limit:
        print(f"unhealthy: newest sample is {age:.0f} s old (limit {limit:g} s)", file=sys.stderr)
        return 1
    print(f"healthy: newest sample is {max(age, 0):.0f} s old")
    return 0
