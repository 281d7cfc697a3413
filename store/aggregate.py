"""The one definition of GPU Pulse's roll-ups: pure, read-only functions over a connection.

The scheduler writes what these return into `hourly`, `user_hourly`, `daily` and
`user_daily` (the push outbox reads only those); the collector's `--show-db` calls them
directly. Rules:

- A sample stands for its tick (`tick_ms`) and belongs to the bucket holding its `ts`.
- Active time of a sample: `active_ms` (capped at the tick) where the driver's sample
  buffer gave it, else the whole tick when the point reading is above the threshold.
- Host (gpu 0) active time is wall-clock: per tick (same `ts`) the largest active time
  among GPUs. `gpu_minutes` / `gpu_active_s` are the sum over GPUs.
- Energy of a sample: the energy-counter delta from the same GPU's previous sample when
  that sample is at most 1.5 ticks earlier and the counter did not go backwards (driver
  reload); otherwise mean power x tick. A data gap therefore counts neither time nor energy.
- Per user: the GPU's active time in a tick is shared among the processes present, by SM
  utilization when every one of them reports it (and the total is > 0), else equally.
  Peak memory is the largest per-tick sum of that user's process memory.
- Held idle (`held_idle_s` on every row): the part of a held tick that is not active, by
  the definition in `store.held_idle`, merged from its own statement's partials.
- Per-user energy (`energy_wh`): a tick's energy shared among its processes by the same
  share as its active time; a tick with no process on the GPU is no one's.
- Processes the idle runner started (idle_run_processes) take their share like anyone's,
  but it is harvested time, not a person's: it is left out of the per-user rows (see
  `idle_harvest` for the harvested hours).

How it stays fast (one day of 8 GPUs at 1 s is 691,200 samples): each statement reads its
table once in key order, (ts, gpu) for samples and (ts, gpu, process) for process rows,
into 15-minute partials (sums, counts, max, min); no window functions, and the per-user
work is grouped per tick in key order first, so only the rare ticks with several
processes on one GPU are looked at process by process. Python merges the partials into
UTC hours and into days in the configured zone, whose midnights fall on 15-minute
boundaries in every modern zone (a finer bucket is used otherwise); the per-user rows are
merged the same way, so hours and days come from one set of partials and agree.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

from store import held_idle
from store.db import Connection, dict_rows
from store.rollups import HOST, HOURLY_FIELDS, HOURLY_SUMS
from store.tick_sql import IDLE_LABEL, IDLE_PROCESSES_SQL, UNKNOWN_USER, active_sql, user_of

CHUNK_S = 3600  # compute() runs its statements an hour of data at a time


SUM, MAX, MIN = "sum", "max", "min"  # how two partials of a column combine

# The partial columns after (bucket, gpu) that one scan computes per bucket and GPU: name,
# SQL over the bucket's samples (`a` is a sample's active ms, `e` its joules), and how two
# partials of it combine into a longer span or the whole host.
PARTIALS = (
    ("n", "count(*)", SUM),
    ("active_ms", "total(a)", SUM),
    ("util_sum", "sum(util)", SUM),
    ("util_n", "count(util)", SUM),
    ("util_max", "max(util)", MAX),
    ("util_min", "min(util)", MIN),
    ("act_util_sum", "sum(CASE WHEN a > 0 THEN util END)", SUM),
    ("act_util_n", "count(CASE WHEN a > 0 THEN util END)", SUM),
    ("mem_util_sum", "sum(mem_util)", SUM),
    ("mem_util_n", "count(mem_util)", SUM),
    ("mem_util_max", "max(mem_util)", MAX),
    ("mem_used_sum", "sum(mem_used_mib)", SUM),
    ("mem_used_n", "count(mem_used_mib)", SUM),
    ("mem_used_max", "max(mem_used_mib)", MAX),
    ("mem_used_min", "min(mem_used_mib)", MIN),
    ("temp_sum", "sum(temp_c)", SUM),
    ("temp_n", "count(temp_c)", SUM),
    ("temp_max", "max(temp_c)", MAX),
    ("temp_min", "min(temp_c)", MIN),
    ("fan_sum", "sum(fan_pct)", SUM),
    ("fan_n", "count(fan_pct)", SUM),
    ("fan_max", "max(fan_pct)", MAX),
    ("power_sum", "sum(power_dw)", SUM),
    ("power_n", "count(power_dw)", SUM),
    ("power_max", "max(power_dw)", MAX),
    ("power_min", "min(power_dw)", MIN),
    ("energy_j", "total(e)", SUM),
    ("energy_n", "count(e)", SUM),
    ("sm_sum", "sum(sm_mhz)", SUM),
    ("sm_n", "count(sm_mhz)", SUM),
    ("memclk_sum", "sum(mem_mhz)", SUM),
    ("memclk_n", "count(mem_mhz)", SUM),
)
PARTIAL_OPS = {name: how for name, _, how in PARTIALS}
# A user's GPU time adds up; their peak memory is the largest of the parts.
USER_OPS = {"gpu_seconds": SUM, "peak_mem_mib": MAX, "energy_wh": SUM}

# Joules of a sample: the counter's rise since the same GPU's previous sample when that one
# is at most 1.5 ticks back and the counter did not go backwards; else mean power x tick.
# In whole seconds "at most 1.5 ticks back" is "at most tick_ms * 3 / 2000 s back" (integer
# division), so at 1 s ticks the only candidate is ts - 1, which the scan joins by key (`p`);
# longer ticks look the previous sample up by key range (`q`). Either costs a fraction of a
# lag() window, which SQLite runs through a temporary table, and needs no look-back.
_DELTA = "CASE WHEN {0}.energy_j <= s.energy_j THEN (s.energy_j - {0}.energy_j) * 1.0 END"
ENERGY_SQL = f"""coalesce(
    CASE WHEN s.energy_j IS NULL THEN NULL
        WHEN s.tick_ms * 3 / 2000 <= 1 THEN {_DELTA.format("p")}
        ELSE (SELECT {_DELTA.format("q")} FROM samples q
              WHERE q.ts < s.ts AND q.ts >= s.ts - s.tick_ms * 3 / 2000 AND q.gpu = s.gpu
              ORDER BY q.ts DESC LIMIT 1)
    END,
    s.power_dw * s.tick_ms / 10000.0)"""
PREVIOUS_SECOND_SQL = """LEFT JOIN samples p
    ON p.ts = s.ts - 1 AND p.gpu = s.gpu AND s.tick_ms * 3 / 2000 = 1 AND s.energy_j IS NOT NULL"""

# One scan of the range computes every per-GPU partial, energy included.
PARTIALS_SQL = f"""
SELECT ts / :bucket AS b, gpu, {", ".join(f"{sql} AS {name}" for name, sql, _ in PARTIALS)}
FROM (
    SELECT s.ts, s.gpu, s.util, s.mem_util, s.mem_used_mib, s.temp_c, s.fan_pct, s.power_dw,
        s.sm_mhz, s.mem_mhz, {active_sql("s.")} AS a, {ENERGY_SQL} AS e
    FROM samples s {PREVIOUS_SECOND_SQL}
    WHERE s.ts >= :lo AND s.ts < :hi
    -- LIMIT keeps this subquery from being flattened into the aggregate, which would
    -- copy `e` (and its lookup) into each aggregate that uses it.
    LIMIT -1
) GROUP BY 1, 2
"""

HOST_ACTIVE_SQL = f"""
SELECT ts / :bucket, total(m) FROM (
    SELECT ts, max({active_sql()}) AS m FROM samples WHERE ts >= :lo AND ts < :hi GROUP BY ts
) GROUP BY 1
"""


# Per (bucket, gpu, user): GPU-seconds, peak memory, process rows (the hourly late-data
# audit counts those) and joules, the idle runner's processes included under IDLE_LABEL.
# A tick's energy is shared like its active time (the same share), so the energy of ticks
# with no process on the GPU is no one's.
# `t` is one row per tick and GPU, grouped in key order (no sort, no window function). A
# process alone on the GPU in a tick (the usual case) gets the whole active time; grouping
# those by process id and naming users only afterwards keeps the big sort on integers.
# Ticks with several processes (`shared`) give each its share: its SM utilization over the
# total when every process reports one (and the total is > 0), else 1 / processes.
def booked_rows_sql(who: str) -> str:
    """The per-(bucket, gpu, who) statement below, `who` being SQL over a `processes` row
    `pr` naming whom its share is booked to (the user; a workload and user for workloads)."""
    return f"""
WITH idle AS ({IDLE_PROCESSES_SQL}), t AS (
    SELECT ts, gpu, count(*) AS n, count(sm_util) AS nk, total(sm_util) AS tot,
        min(process) AS p1, max(process) AS p2, sum(mem_mib) AS mem
    FROM process_samples WHERE ts >= :lo AND ts < :hi GROUP BY ts, gpu
), alone AS (
    SELECT t.ts / :bucket AS b, t.gpu, t.p1 AS process, total({active_sql("s.")}) AS ms,
        max(t.mem) AS mem, count(*) AS n, total({ENERGY_SQL}) AS e
    FROM t LEFT JOIN samples s ON s.ts = t.ts AND s.gpu = t.gpu {PREVIOUS_SECOND_SQL}
    WHERE t.p1 = t.p2 GROUP BY 1, 2, 3
), shared AS (
    SELECT t.ts, t.gpu, {who} AS user, sum(ps.mem_mib) AS mem, count(*) AS n,
        total(CASE WHEN t.nk = t.n AND t.tot > 0 THEN ps.sm_util / t.tot ELSE 1.0 / t.n END)
            AS share
    FROM t CROSS JOIN process_samples ps ON ps.ts = t.ts AND ps.gpu = t.gpu  -- few ticks
    JOIN processes pr ON pr.id = ps.process
    WHERE t.p1 <> t.p2 GROUP BY 1, 2, 3
), booked AS (
    SELECT a.b, a.gpu, {who} AS user, a.ms, a.mem, a.n, a.e
    FROM alone a JOIN processes pr ON pr.id = a.process
    UNION ALL
    SELECT h.ts / :bucket, h.gpu, h.user, h.share * ({active_sql("s.")}), h.mem, h.n,
        h.share * {ENERGY_SQL}
    FROM shared h LEFT JOIN samples s ON s.ts = h.ts AND s.gpu = h.gpu {PREVIOUS_SECOND_SQL}
)
SELECT b, gpu, user, total(ms) / 1000.0 AS seconds, max(mem) AS mem, sum(n) AS n,
    total(e) AS joules
FROM booked GROUP BY 1, 2, 3
"""


USER_ROWS_SQL = booked_rows_sql(user_of())

# People's usage only: (bucket, gpu, user, GPU-seconds, peak memory MiB).
USER_SQL = f"""
SELECT b, gpu, user, seconds, mem FROM ({USER_ROWS_SQL}) WHERE user <> '{IDLE_LABEL}'
"""

# A person's peak memory on the whole host: the largest per-tick sum over all GPUs.
USER_HOST_MEM_SQL = f"""
WITH idle AS ({IDLE_PROCESSES_SQL})
SELECT ts / :bucket AS b, user, max(mem) AS mem FROM (
    SELECT ps.ts, coalesce(pr.user, '{UNKNOWN_USER}') AS user, sum(ps.mem_mib) AS mem
    FROM process_samples ps JOIN processes pr ON pr.id = ps.process
    WHERE ps.ts >= :lo AND ps.ts < :hi AND ps.process NOT IN idle GROUP BY ps.ts, 2
) GROUP BY 1, 2
"""


@dataclass
class Rollup:
    """Roll-ups of one span of days: rows shaped like the tables of the same names."""

    hourly: list[dict]
    daily: list[dict]
    user_daily: list[dict]
    user_hourly: list[dict]


def day_start(day: date, tz: tzinfo) -> int:
    """UTC seconds of local midnight starting `day` in `tz`."""
    return int(datetime(day.year, day.month, day.day, tzinfo=tz).timestamp())


def day_of(ts: float, tz: tzinfo) -> date:
    """The local day in `tz` holding UTC second `ts` (every "today" in GPU Pulse)."""
    return datetime.fromtimestamp(ts, tz).date()


def dates(first: date, last: date) -> list[date]:
    """Every day from `first` to `last`, both included."""
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def day_span(first: date, last: date, tz: tzinfo) -> tuple[int, int]:
    """UTC seconds [start, end) from local midnight starting `first` to the one ending `last`."""
    return day_start(first, tz), day_start(last + timedelta(days=1), tz)


def day_bounds(first: date, last: date, tz: tzinfo) -> list[tuple[str, int, int]]:
    """(YYYY-MM-DD, start, end) in UTC seconds for each local day; DST days are 23/25 h."""
    return [(d.isoformat(), *day_span(d, d, tz)) for d in dates(first, last)]


def day_buckets(first: date, last: date, tz: ZoneInfo) -> tuple[list, int, Callable[[int], int]]:
    """The local days first..last (day_bounds), the partials' bucket in seconds (one that
    splits every day at its midnight) and the day index of a bucket number."""
    days = day_bounds(first, last, tz)
    bucket = next(b for b in (900, 60, 1) if all(s % b == 0 and e % b == 0 for _, s, e in days))
    starts = [s for _, s, _ in days]

    def day_index(b: int) -> int:
        return bisect.bisect_right(starts, b * bucket) - 1

    return days, bucket, day_index


def compute(
    conn: Connection,
    first: date,
    last: date,
    tz: ZoneInfo,
    threshold: float,
    held_mib: int = held_idle.DEFAULT_HELD_MIB,
) -> Rollup:
    """Hourly, daily and per-user roll-ups of the local days `first`..`last` (inclusive);
    `held_mib` is the process memory that holds a GPU (store.held_idle)."""
    days, bucket, day_index = day_buckets(first, last, tz)
    lo, hi = days[0][1], days[-1][2]
    parts, host_active, user_rows, user_mem, held = _scan(
        conn, lo, hi, bucket, (threshold, held_mib)
    )
    people = [row for row in user_rows if row["user"] != IDLE_LABEL]
    proc_rows = [(row["b"], row["gpu"], row["n"]) for row in user_rows]  # runner's included
    per_hour = 3600 // bucket

    def hour_of(b: int) -> int:
        return b // per_hour * 3600

    hourly = _hourly(parts, host_active, proc_rows, hour_of)
    daily = _daily(parts, host_active, days, day_index)
    user_daily = [{"day": days[i][0], **row} for i, row in _per_user(people, user_mem, day_index)]
    user_hourly = [{"hour": h, **row} for h, row in _per_user(people, user_mem, hour_of)]
    rollup = Rollup(hourly, daily, user_daily, user_hourly)
    _fill_held(held, rollup, hour_of, days, day_index)
    return rollup


def _fill_held(held: list[dict], rollup: Rollup, hour_of, days, day_index) -> None:
    """Give every row of `rollup` its held-idle seconds from held_idle.held_rows."""
    fill, totals = held_idle.fill, held_idle.totals

    def day_of_bucket(b: int) -> str:
        return days[day_index(b)][0]

    fill(rollup.hourly, totals(held, hour_of, False), lambda r: (r["hour"], r["gpu"]))
    fill(rollup.daily, totals(held, day_of_bucket, False), lambda r: (r["day"], r["gpu"]))
    by_hour, by_day = totals(held, hour_of, True), totals(held, day_of_bucket, True)
    fill(rollup.user_hourly, by_hour, lambda r: (r["hour"], r["gpu"], r["user"]))
    fill(rollup.user_daily, by_day, lambda r: (r["day"], r["gpu"], r["user"]))


def _scan(conn: Connection, lo: int, hi: int, bucket: int, rules: tuple[float, int]) -> tuple:
    """Run the roll-up statements over [lo, hi) a chunk at a time; concatenate their rows.
    `rules` is (active threshold, MiB that hold a GPU)."""
    threshold = rules[0]
    parts, host_active, user_rows, user_mem, held = [], {}, [], [], []
    # A chunk is a whole number of buckets (lo is a bucket boundary and bucket divides
    # CHUNK_S), so no bucket is split; the statements' sorts stay small and cache-warm.
    for start in range(lo, hi, CHUNK_S):
        args = {"lo": start, "hi": min(hi, start + CHUNK_S), "bucket": bucket, "thr": threshold}
        parts += dict_rows(conn.execute(PARTIALS_SQL, args))
        host_active.update(conn.execute(HOST_ACTIVE_SQL, args).fetchall())
        user_rows += dict_rows(conn.execute(USER_ROWS_SQL, args))
        user_mem += dict_rows(conn.execute(USER_HOST_MEM_SQL, args))
        held += held_idle.held_rows(conn, *(args[k] for k in ("lo", "hi", "bucket")), *rules)
    return parts, host_active, user_rows, user_mem, held


def compute_daily(
    conn: Connection,
    first: date,
    last: date,
    tz: ZoneInfo,
    threshold: float,
    gpu: int | None = None,
) -> list[dict]:
    """Daily roll-ups (keys DAILY_FIELDS) for every GPU and the host, or only `gpu`."""
    rows = compute(conn, first, last, tz, threshold).daily
    return rows if gpu is None else [r for r in rows if r["gpu"] == gpu]


def compute_hourly(conn: Connection, start: int, end: int, threshold: float) -> list[dict]:
    """Hourly roll-ups (keys HOURLY_FIELDS) of the whole UTC hours in [start, end)."""
    utc = ZoneInfo("UTC")
    rows = compute(conn, day_of(start, utc), day_of(end - 1, utc), utc, threshold).hourly
    return [r for r in rows if start <= r["hour"] < end]


# Runs overlapping [lo, hi); a run still going ends, for now, at its last heartbeat.
IDLE_RUNS_SQL = """
SELECT started, coalesce(stopped, updated) AS ended, gpu_seconds FROM idle_runs
WHERE started < :hi AND coalesce(stopped, updated) >= :lo
"""


def idle_harvest(conn: Connection, first: str, last: str, tz: ZoneInfo) -> list[dict]:
    """GPU-seconds harvested by idle-runner jobs on each local day `first`..`last`.

    `first`/`last` are YYYY-MM-DD in `tz` (GPUPULSE_TZ), inclusive; a malformed one raises
    ValueError. Returns one {"day", "gpu_seconds", "runs"} per day in order, zeros included:
    `gpu_seconds` is the run's recorded GPU-seconds (run time x its GPUs, from idle_runs)
    spread evenly over its run time, so a run across midnight counts in both days and a
    running one up to its last heartbeat; `runs` counts the runs that overlap the day. These
    hours are kept apart from people's usage, which user_daily holds without them.
    """
    days = day_bounds(date.fromisoformat(first), date.fromisoformat(last), tz)
    out = [{"day": day, "gpu_seconds": 0.0, "runs": 0} for day, _, _ in days]
    if not days:
        return out
    runs = conn.execute(IDLE_RUNS_SQL, {"lo": days[0][1], "hi": days[-1][2]}).fetchall()
    for started, ended, gpu_seconds in runs:
        for row, (_, lo, hi) in zip(out, days, strict=True):
            overlap = min(ended, hi) - max(started, lo)
            if overlap > 0:
                row["gpu_seconds"] += gpu_seconds * overlap / (ended - started)
                row["runs"] += 1
            elif ended <= started and lo <= started < hi:
                row["runs"] += 1  # stopped as it started: no time to spread
    return out


def merge_value(how: str, a: float | None, b: float | None) -> float | None:
    """Two partials of one column combined by `how` (sum, max or min); a None (no readings)
    gives way to the other, so a gap in the data never hides what was measured."""
    if a is None:
        return b
    if b is None:
        return a
    if how == SUM:
        return a + b
    return max(a, b) if how == MAX else min(a, b)


def merge_partial(acc: dict, part: Mapping, how: Mapping[str, str] | None = None) -> dict:
    """Fold `part` into `acc`: the columns `how` names by their rule, or every column of
    `part` summed when `how` is None (per-user seconds); returns `acc`."""
    for name, op in (how or dict.fromkeys(part, SUM)).items():
        acc[name] = merge_value(op, acc.get(name), part.get(name))
    return acc


def _mean(acc: dict, total: str, count: str, scale: float = 1.0) -> float | None:
    """The mean a partial's sum and count give, or None for no readings."""
    n = acc[count]
    return None if not n else acc[total] / n * scale


def _group(parts: list[dict], key) -> dict[tuple, dict]:
    """Merge partial rows into {(key(bucket), gpu): partial}, host (gpu 0) included."""
    out: dict[tuple, dict] = {}
    for part in parts:
        k = key(part["b"])
        merge_partial(out.setdefault((k, part["gpu"]), {}), part, PARTIAL_OPS)
        merge_partial(out.setdefault((k, HOST), {}), part, PARTIAL_OPS)
    return out


def _hourly(parts, host_active, proc_rows, hour_of) -> list[dict]:
    """Hourly rows (keys HOURLY_FIELDS, their sums and process_rows) from the partials."""
    groups = _group(parts, hour_of)
    active: dict[int, float] = {}
    for b, ms in host_active.items():
        hour = hour_of(b)
        active[hour] = active.get(hour, 0.0) + ms
    procs: dict = {}  # several rows per (bucket, gpu): one per user
    for b, gpu, n in proc_rows:
        hour = hour_of(b)
        for key in ((hour, gpu), (hour, HOST)):
            procs[key] = procs.get(key, 0) + n
    rows = []
    for (hour, gpu), acc in sorted(groups.items()):
        gpu_active = acc["active_ms"] / 1000
        host_s = active.get(hour, 0.0) / 1000
        rows.append(_hour_row(hour, gpu, acc, host_s if gpu == HOST else gpu_active, gpu_active))
        rows[-1]["process_rows"] = procs.get((hour, gpu), 0)
    return rows


def _tenth(value: float | None) -> float | None:
    """Deciwatts as watts."""
    return None if value is None else value / 10


def _hour_row(hour: int, gpu: int, acc: dict, active_s: float, gpu_active_s: float) -> dict:
    """One hourly row from an hour's merged partial."""
    row = {
        "hour": hour,
        "gpu": gpu,
        "samples": acc["n"],
        "active_s": active_s,
        "util_mean": _mean(acc, "util_sum", "util_n"),
        "util_max": acc["util_max"],
        "mem_util_mean": _mean(acc, "mem_util_sum", "mem_util_n"),
        "mem_used_mean": _mean(acc, "mem_used_sum", "mem_used_n"),
        "mem_used_max": acc["mem_used_max"],
        "temp_mean": _mean(acc, "temp_sum", "temp_n"),
        "temp_max": acc["temp_max"],
        "power_mean": _mean(acc, "power_sum", "power_n", 0.1),
        "power_max": _tenth(acc["power_max"]),
        "energy_wh": acc["energy_j"] / 3600 if acc["energy_n"] else None,
        "sm_mhz_mean": _mean(acc, "sm_sum", "sm_n"),
        "mem_mhz_mean": _mean(acc, "memclk_sum", "memclk_n"),
        "gpu_active_s": gpu_active_s,
        "util_min": acc["util_min"],
        "mem_util_max": acc["mem_util_max"],
        "mem_used_min": acc["mem_used_min"],
        "temp_min": acc["temp_min"],
        "power_min": _tenth(acc["power_min"]),
        "fan_mean": _mean(acc, "fan_sum", "fan_n"),
        "fan_max": acc["fan_max"],
        **{name: acc[name] or 0 for name in HOURLY_SUMS},  # sum() of no readings is NULL
    }
    assert set(HOURLY_FIELDS) <= {*row, "process_rows"}
    return row


def _daily(parts, host_active, days, day_index) -> list[dict]:
    """Daily rows (keys DAILY_FIELDS) from the partials; the host's active time is wall-clock."""
    groups = _group(parts, day_index)
    active: dict[int, float] = {}
    for b, ms in host_active.items():
        active[day_index(b)] = active.get(day_index(b), 0.0) + ms
    rows = []
    for (i, gpu), acc in sorted(groups.items()):
        gpu_minutes = acc["active_ms"] / 60000
        rows.append(
            {
                "day": days[i][0],
                "gpu": gpu,
                "samples": acc["n"],
                "active_minutes": active.get(i, 0.0) / 60000 if gpu == HOST else gpu_minutes,
                "gpu_minutes": gpu_minutes,
                "peak_utilization": acc["util_max"],
                "avg_utilization": _mean(acc, "util_sum", "util_n"),
                "avg_active_utilization": _mean(acc, "act_util_sum", "act_util_n"),
                "energy_kwh": acc["energy_j"] / 3.6e6 if acc["energy_n"] else None,
            }
        )
    return rows


def _per_user(users, user_mem, key) -> list[tuple[int, dict]]:
    """Per-user rows merged into (key(bucket), gpu, user), host totals (gpu 0) included."""
    acc: dict[tuple, dict] = {}
    for r in users:
        wh = r["joules"] / 3600
        part = {"gpu_seconds": r["seconds"], "peak_mem_mib": r["mem"], "energy_wh": wh}
        merge_partial(acc.setdefault((key(r["b"]), r["gpu"], r["user"]), {}), part, USER_OPS)
        # The host's peak is per tick over all GPUs (user_mem), not any one GPU's.
        host = acc.setdefault((key(r["b"]), HOST, r["user"]), {})
        merge_partial(host, {"gpu_seconds": r["seconds"], "energy_wh": wh}, USER_OPS)
    for r in user_mem:
        host = acc.setdefault((key(r["b"]), HOST, r["user"]), {"gpu_seconds": 0.0})
        merge_partial(host, {"peak_mem_mib": r["mem"]}, USER_OPS)
    return [
        (
            k,
            {
                "gpu": gpu,
                "user": user,
                "gpu_seconds": row["gpu_seconds"],
                "peak_mem_mib": None if row["peak_mem_mib"] is None else int(row["peak_mem_mib"]),
                "energy_wh": row.get("energy_wh") or 0.0,
            },
        )
        for (k, gpu, user), row in sorted(acc.items())
    ]
