"""Reading the scheduler's roll-ups: the queries the api, CLI and hub share.

The scheduler writes `hourly`, `user_hourly`, `daily` and `user_daily`; after each write it
bumps the `data_version` counter so readers can cache rendered output and check one integer.
That counter and the roll-up watermarks live in `rollup_state`, read and written only here.
"""

from __future__ import annotations

from store.db import Connection, dict_rows, require_transaction

HOST = 0  # the gpu value of whole-host rows

DAILY_FIELDS = (
    "day",
    "gpu",
    "samples",
    "active_minutes",
    "gpu_minutes",
    "peak_utilization",
    "avg_utilization",
    "avg_active_utilization",
    "energy_kwh",
)
HOURLY_FIELDS = (
    "hour",
    "gpu",
    "samples",
    "active_s",
    "util_mean",
    "util_max",
    "mem_util_mean",
    "mem_used_mean",
    "mem_used_max",
    "temp_mean",
    "temp_max",
    "power_mean",
    "power_max",
    "energy_wh",
    "sm_mhz_mean",
    "mem_mhz_mean",
    "gpu_active_s",
    "util_min",
    "mem_util_max",
    "mem_used_min",
    "temp_min",
    "power_min",
    "fan_mean",
    "fan_max",
)
# hourly's exact sums and counts of utilization readings (for the push payload, not the api)
HOURLY_SUMS = ("util_sum", "util_n", "act_util_sum", "act_util_n")


LIVE_TS = "rollup_live_ts"  # the newest raw sample the roll-ups cover
DATA_VERSION = "data_version"  # bumped whenever roll-ups change


def rollup_state(conn: Connection, name: str, default: int | None = None) -> int | None:
    """One integer of rollup_state (watermarks and data versions), or `default`."""
    row = conn.execute("SELECT value FROM rollup_state WHERE name = ?", (name,)).fetchone()
    return default if row is None else row[0]


def set_rollup_state(conn: Connection, name: str, value: int, *, keep_larger: bool = False) -> None:
    """Store one integer of rollup_state; `keep_larger` never lets a watermark go back."""
    require_transaction(conn)
    update = "max(value, excluded.value)" if keep_larger else "excluded.value"
    conn.execute(
        "INSERT INTO rollup_state (name, value) VALUES (?, ?) "
        f"ON CONFLICT (name) DO UPDATE SET value = {update}",
        (name, value),
    )


def bump_rollup_state(conn: Connection, name: str) -> None:
    """Add one to a counter of rollup_state (1 the first time)."""
    require_transaction(conn)
    conn.execute(
        "INSERT INTO rollup_state (name, value) VALUES (?, 1) "
        "ON CONFLICT (name) DO UPDATE SET value = value + 1",
        (name,),
    )


def rolled_up_until(conn: Connection) -> int:
    """UTC second of the newest raw sample the roll-ups cover (0 before the first run);
    an hour ending at or before it is complete in hourly and user_hourly."""
    return rollup_state(conn, LIVE_TS, 0)


def user_hour_totals(conn: Connection, start: int, end: int) -> dict[int, dict[str, float]]:
    """{hour: {user: GPU-seconds on the whole host}} for start <= hour < end (host rows)."""
    out: dict[int, dict[str, float]] = {}
    rows = conn.execute(
        "SELECT hour, user, gpu_seconds FROM user_hourly WHERE hour >= ? AND hour < ? AND gpu = ?",
        (start, end, HOST),
    )
    for hour, user, seconds in rows:
        out.setdefault(hour, {})[user] = seconds
    return out


def data_version(conn: Connection) -> int:
    """A counter the scheduler bumps whenever roll-ups change (0 before the first)."""
    return rollup_state(conn, DATA_VERSION, 0)


def bump_data_version(conn: Connection) -> None:
    """Mark roll-ups changed, with the rows that change them."""
    require_transaction(conn)
    bump_rollup_state(conn, DATA_VERSION)


def daily_rows(conn: Connection, first: str, last: str, gpu: int = HOST) -> list[dict]:
    """Daily roll-ups from `first` to `last` (YYYY-MM-DD, inclusive) for one GPU or the host."""
    return dict_rows(
        conn.execute(
            f"SELECT {', '.join(DAILY_FIELDS)} FROM daily "
            "WHERE day BETWEEN ? AND ? AND gpu = ? ORDER BY day",
            (first, last, gpu),
        )
    )


def hourly_rows(conn: Connection, start: int, end: int, gpu: int | None = None) -> list[dict]:
    """Hourly roll-ups with start <= hour < end (UTC seconds); gpu None means every row."""
    where = "hour >= ? AND hour < ?" + ("" if gpu is None else " AND gpu = ?")
    params = (start, end) if gpu is None else (start, end, gpu)
    return dict_rows(
        conn.execute(
            f"SELECT {', '.join(HOURLY_FIELDS)} FROM hourly WHERE {where} ORDER BY hour, gpu",
            params,
        )
    )


def user_hourly_rows(conn: Connection, start: int, end: int) -> list[dict]:
    """Per-user GPU-seconds and peak memory per hour and GPU, start <= hour < end."""
    return dict_rows(
        conn.execute(
            "SELECT hour, gpu, user, gpu_seconds, peak_mem_mib FROM user_hourly "
            "WHERE hour >= ? AND hour < ? ORDER BY hour, gpu, user",
            (start, end),
        )
    )


def user_daily_rows(conn: Connection, first: str, last: str, user: str | None = None) -> list[dict]:
    """Per-user GPU-seconds per day and GPU, optionally for one user."""
    sql = (
        "SELECT day, gpu, user, gpu_seconds, peak_mem_mib FROM user_daily WHERE day BETWEEN ? AND ?"
    )
    params: tuple = (first, last)
    if user is not None:
        sql, params = sql + " AND user = ?", (*params, user)
    return dict_rows(conn.execute(sql + " ORDER BY day", params))
