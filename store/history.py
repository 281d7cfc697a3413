"""A GPU's recent history for the status page and the GPU page: raw samples bucketed in SQL,
and the processes and users seen on one GPU.

Every query reads its table by key range (`samples` and `process_samples` are clustered by
time), so a window costs only the rows inside it.
"""

from __future__ import annotations

from store.db import Connection, dict_rows

# One row per bucket and GPU: (start, gpu, n, util_mean, util_max, mem_mean, mem_max,
# temp_mean, temp_max, power_mean, power_max, sm_mhz_mean, mem_mhz_mean).
BUCKETS_SQL = """
SELECT ts / :bucket * :bucket AS start, gpu, count(*) AS n,
       avg(util) AS util_mean, max(util) AS util_max,
       avg(mem_used_mib) AS mem_mean, max(mem_used_mib) AS mem_max,
       avg(temp_c) AS temp_mean, max(temp_c) AS temp_max,
       avg(power_dw) / 10.0 AS power_mean, max(power_dw) / 10.0 AS power_max,
       avg(sm_mhz) AS sm_mhz_mean, avg(mem_mhz) AS mem_mhz_mean
FROM samples WHERE ts >= :lo AND ts < :hi {only_gpu}
GROUP BY 1, 2 ORDER BY 1, 2
"""


def sample_buckets(
    conn: Connection, lo: int, hi: int, bucket: int, gpu: int | None = None
) -> list[dict]:
    """Raw samples in UTC seconds [lo, hi) averaged per `bucket`-second slot and GPU (slots
    aligned to multiples of `bucket`); every GPU, or the one with row id `gpu`."""
    only_gpu = "" if gpu is None else "AND gpu = :gpu"
    args = {"lo": lo, "hi": hi, "bucket": bucket, "gpu": gpu}
    return dict_rows(conn.execute(BUCKETS_SQL.format(only_gpu=only_gpu), args))


def gpu_processes(conn: Connection, gpu: int, lo: int, hi: int, limit: int = 50) -> list[dict]:
    """The processes seen on one GPU in [lo, hi), newest first: who, which workload, when
    first and last seen in the window, peak memory."""
    return dict_rows(
        conn.execute(
            """SELECT p.pid, p.user, p.command, p.workload, p.workload_id,
                      min(ps.ts) AS first, max(ps.ts) AS last, max(ps.mem_mib) AS peak_mib
               FROM process_samples ps JOIN processes p ON p.id = ps.process
               WHERE ps.ts >= ? AND ps.ts < ? AND ps.gpu = ?
               GROUP BY ps.process ORDER BY last DESC, p.pid LIMIT ?""",
            (lo, hi, gpu, limit),
        )
    )


def _gpu_user_totals(conn: Connection, table: str, key: str, lo, hi, gpu: int) -> dict:
    """{user: GPU-seconds} of one GPU's rows in a roll-up table with lo <= key <= hi."""
    rows = conn.execute(
        f"SELECT user, total(gpu_seconds) FROM {table} "
        f"WHERE {key} BETWEEN ? AND ? AND gpu = ? GROUP BY user",
        (lo, hi, gpu),
    )
    return dict(rows.fetchall())


def gpu_user_seconds(conn: Connection, gpu: int, lo: int, hi: int) -> dict[str, float]:
    """GPU-seconds per user on one GPU in the rolled-up UTC hours [lo, hi) (user_hourly)."""
    return _gpu_user_totals(conn, "user_hourly", "hour", lo, hi - 1, gpu)


def gpu_user_days(conn: Connection, gpu: int, first: str, last: str) -> dict[str, float]:
    """GPU-seconds per user on one GPU over local days first..last (user_daily)."""
    return _gpu_user_totals(conn, "user_daily", "day", first, last, gpu)


def hourly_held(conn: Connection, lo: int, hi: int, gpu: int | None = None) -> dict:
    """{(hour, GPU row id): held-idle seconds} of the rolled-up hours [lo, hi) (store.held_idle
    has the definition; the scheduler rolled it up)."""
    only_gpu = "" if gpu is None else " AND gpu = ?"
    params = (lo, hi) if gpu is None else (lo, hi, gpu)
    rows = conn.execute(
        f"SELECT hour, gpu, held_idle_s FROM hourly WHERE hour >= ? AND hour < ?{only_gpu} "
        "AND held_idle_s > 0",
        params,
    )
    return {(hour, g): seconds for hour, g, seconds in rows}


def user_hour_held(conn: Connection, start: int, end: int) -> dict[int, dict[str, float]]:
    """{hour: {user: held-idle seconds on the whole host}} for start <= hour < end."""
    out: dict[int, dict[str, float]] = {}
    rows = conn.execute(
        "SELECT hour, user, held_idle_s FROM user_hourly "
        "WHERE hour >= ? AND hour < ? AND gpu = 0 AND held_idle_s > 0",
        (start, end),
    )
    for hour, user, seconds in rows:
        out.setdefault(hour, {})[user] = seconds
    return out
