"""GPUs held but idle: the one definition, its roll-up statement and the queries views share.

Definition (the README's "Held idle" says the same to people):

- A process *holds* a GPU in a tick when its GPU memory in that tick is at least
  GPUPULSE_HELD_MEMORY MiB (default 1024).
- A GPU's *held-idle* time in a tick: when at least one process holds it, the part of the
  tick that is not active (the tick less the sample's active time, `tick_sql.active_sql`).
  Held idle plus active time never exceed the tick; a GPU read by point utilization is held
  idle for its whole tick when the reading is at or below GPUPULSE_ACTIVE_THRESHOLD.
- Per user: a tick's held-idle time is shared equally among the processes holding the GPU
  (memory held is what they share, not work done). The idle runner's processes take their
  share under IDLE_LABEL, left out of people's rows as for GPU time.
- The host (gpu 0) adds its GPUs' held-idle seconds, like GPU time.
- A *held-idle stretch* ("episode") of a GPU runs from the first held-idle tick after its
  last tick that was active or not held (or after a gap in its samples), to its newest one.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from runtime.settings import default
from store.db import Connection, dict_rows
from store.rollups import HOST
from store.tick_sql import IDLE_LABEL, IDLE_PROCESSES_SQL, active_sql, user_of

DEFAULT_HELD_MIB: int = default("GPUPULSE_HELD_MEMORY")
FIRST_LOOK_S = 300  # held_idle_now looks this far back first, then four times further each step
LOOK_BACK_S = 31 * 86400  # ... and no further than this (a stretch longer shows as this long)

# Per (bucket, gpu, user): held-idle seconds, `:held` being the MiB that hold a GPU. `h` is
# one row per held tick and GPU in key order; a GPU held by one process (the usual case)
# books the tick's idle time to it by process id, naming users only afterwards; ticks held
# by several processes split it equally among them.
HELD_ROWS_SQL = f"""
WITH idle AS ({IDLE_PROCESSES_SQL}), h AS (
    SELECT ts, gpu, count(*) AS n, min(process) AS p1, max(process) AS p2
    FROM process_samples WHERE ts >= :lo AND ts < :hi AND mem_mib >= :held GROUP BY ts, gpu
), i AS (
    SELECT h.ts, h.gpu, h.n, h.p1, h.p2, s.tick_ms - ({active_sql("s.")}) AS ms
    FROM h JOIN samples s ON s.ts = h.ts AND s.gpu = h.gpu
), alone AS (
    SELECT ts / :bucket AS b, gpu, p1 AS process, total(ms) AS ms
    FROM i WHERE p1 = p2 AND ms > 0 GROUP BY 1, 2, 3
), shared AS (
    SELECT i.ts / :bucket AS b, i.gpu, ps.process, total(i.ms * 1.0 / i.n) AS ms
    FROM i CROSS JOIN process_samples ps ON ps.ts = i.ts AND ps.gpu = i.gpu  -- few ticks
    WHERE i.p1 <> i.p2 AND i.ms > 0 AND ps.mem_mib >= :held GROUP BY 1, 2, 3
)
SELECT x.b, x.gpu, {user_of()} AS user, total(x.ms) / 1000.0 AS seconds
FROM (SELECT * FROM alone UNION ALL SELECT * FROM shared) x
JOIN processes pr ON pr.id = x.process GROUP BY 1, 2, 3
"""

# Per GPU in [lo, hi): its newest and oldest sample and where its newest held-idle stretch
# begins after: a tick that was active or held by no process (its ts), or a gap in the data
# (more than 1.5 ticks without a sample: the ts just before the sample after it), as the
# collector cannot say what happened while it did not sample. Lookups by primary key only;
# `:gpus` (a JSON list, or NULL for all) keeps a look further back to the GPUs whose stretch
# is still open, so one GPU held idle for hours does not make every GPU's past read again.
BREAKS_SQL = f"""
SELECT s.gpu, max(s.ts) AS newest, min(s.ts) AS oldest,
    max(CASE WHEN ({active_sql("s.")}) > 0 OR NOT EXISTS (
            SELECT 1 FROM process_samples ps WHERE ps.ts = s.ts AND ps.gpu = s.gpu
            AND ps.mem_mib >= :held) THEN s.ts
        WHEN NOT EXISTS (
            SELECT 1 FROM samples q WHERE q.ts < s.ts AND q.gpu = s.gpu
            AND q.ts >= s.ts - max(1, s.tick_ms * 3 / 2000)) THEN s.ts - 1 END) AS broke
FROM samples s WHERE s.ts >= :lo AND s.ts < :hi
    AND (:gpus IS NULL OR s.gpu IN (SELECT value FROM json_each(:gpus)))
GROUP BY s.gpu
"""

HOLDERS_SQL = """
SELECT p.pid, coalesce(p.user, 'unknown') AS user, p.command, p.workload,
    ps.mem_mib FROM process_samples ps JOIN processes p ON p.id = ps.process
WHERE ps.ts = ? AND ps.gpu = ? AND ps.mem_mib >= ? ORDER BY ps.mem_mib DESC, p.pid
"""


def held_rows(
    conn: Connection, lo: int, hi: int, bucket: int, threshold: float, held_mib: int
) -> list[dict]:
    """Held-idle {b, gpu, user, seconds} per `bucket`-second slot (b = ts // bucket) and GPU
    in UTC seconds [lo, hi), the idle runner's share under IDLE_LABEL."""
    args = {"lo": lo, "hi": hi, "bucket": bucket, "thr": threshold, "held": held_mib}
    return dict_rows(conn.execute(HELD_ROWS_SQL, args))


def gpu_buckets(
    conn: Connection, lo: int, hi: int, bucket: int, threshold: float, held_mib: int
) -> dict[tuple[int, int], float]:
    """{(slot start, gpu): held-idle seconds} in [lo, hi) from the raw samples (sparklines)."""
    out: dict[tuple[int, int], float] = {}
    for row in held_rows(conn, lo, hi, bucket, threshold, held_mib):
        key = (row["b"] * bucket, row["gpu"])
        out[key] = out.get(key, 0.0) + row["seconds"]
    return out


def user_seconds_between(
    conn: Connection, lo: int, hi: int, threshold: float, held_mib: int
) -> dict[str, float]:
    """{user: held-idle seconds on the whole host} in UTC seconds [lo, hi), from the raw
    samples (windows that are not whole days, such as the last 24 h); people only."""
    out: dict[str, float] = {}
    for row in held_rows(conn, lo, hi, max(hi - lo, 1), threshold, held_mib):
        if row["user"] != IDLE_LABEL:
            out[row["user"]] = out.get(row["user"], 0.0) + row["seconds"]
    return out


def user_seconds_days(conn: Connection, first: str, last: str) -> dict[str, float]:
    """{user: held-idle seconds on the whole host} over the local days first..last
    (YYYY-MM-DD, inclusive), from the user_daily roll-ups (host rows)."""
    rows = conn.execute(
        "SELECT user, total(held_idle_s) FROM user_daily "
        "WHERE day BETWEEN ? AND ? AND gpu = ? GROUP BY user",
        (first, last, HOST),
    )
    return {user: seconds for user, seconds in rows if seconds > 0}


def totals(held: Iterable[Mapping], key, per_user: bool) -> dict[tuple, float]:
    """Held-idle seconds of held_rows merged into {(key(b), gpu[, user]): seconds}, host
    (gpu 0) sums included; `per_user` keeps people's rows by user (the idle runner left
    out), else every holder's time counts towards its GPU."""
    out: dict[tuple, float] = {}
    for row in held:
        if per_user and row["user"] == IDLE_LABEL:
            continue
        who = (row["user"],) if per_user else ()
        for gpu in (row["gpu"], HOST):
            k = (key(row["b"]), gpu, *who)
            out[k] = out.get(k, 0.0) + row["seconds"]
    return out


def fill(rows: Iterable[dict], found: Mapping[tuple, float], key) -> None:
    """Set each roll-up row's `held_idle_s` from totals(), matched by `key(row)` (0 where
    nothing was held idle)."""
    for row in rows:
        row["held_idle_s"] = found.get(key(row), 0.0)


@dataclass(frozen=True)
class Stretch:
    """A GPU held idle now: since when (UTC seconds of its first held-idle tick), for how
    long up to the end of its newest tick, and who holds it in that tick (largest first)."""

    gpu: int
    since: int
    seconds: float
    holders: list[dict]


def held_idle_now(
    conn: Connection, threshold: float, held_mib: int, now: float | None = None
) -> list[Stretch]:
    """Every GPU whose newest sample is held idle, with its stretch, by GPU id; `now` (UTC
    seconds) bounds the search, else the newest sample does. Looks back in growing steps,
    so a GPU that was just active costs one short scan."""
    top = conn.execute("SELECT max(ts) FROM samples").fetchone()[0]
    if top is None:
        return []
    end = top + 1 if now is None else min(top + 1, int(now) + 1)
    open_: dict[int, dict] = {}  # gpu -> {newest, since}: stretches not yet started
    done: dict[int, dict] = {}
    step, hi, first = FIRST_LOOK_S, end, True
    while hi > end - LOOK_BACK_S and (first or open_):
        lo = max(hi - step, end - LOOK_BACK_S)
        gpus = None if first else json.dumps(sorted(open_))
        args = {"lo": lo, "hi": hi, "thr": threshold, "held": held_mib, "gpus": gpus}
        for row in dict_rows(conn.execute(BREAKS_SQL, args)):
            gpu, broke = row["gpu"], row["broke"]
            if first and broke != row["newest"]:
                open_[gpu] = {"newest": row["newest"], "since": row["oldest"]}
            if gpu not in open_:
                continue
            if broke is not None:
                done[gpu] = open_.pop(gpu) | {"broke": broke}
            else:
                open_[gpu]["since"] = row["oldest"]
        first, hi, step = False, lo, step * 4
    done.update(open_)
    return [_stretch(conn, gpu, found, held_mib) for gpu, found in sorted(done.items())]


def _stretch(conn: Connection, gpu: int, found: dict, held_mib: int) -> Stretch:
    """The Stretch of one GPU from what held_idle_now found (its newest tick, its break)."""
    since = found["since"]
    if "broke" in found:
        since = conn.execute(
            "SELECT min(ts) FROM samples WHERE gpu = ? AND ts > ? AND ts <= ?",
            (gpu, found["broke"], found["newest"]),
        ).fetchone()[0]
    newest = found["newest"]
    tick_ms = conn.execute(
        "SELECT tick_ms FROM samples WHERE ts = ? AND gpu = ?", (newest, gpu)
    ).fetchone()[0]
    holders = dict_rows(conn.execute(HOLDERS_SQL, (newest, gpu, held_mib)))
    return Stretch(gpu, since, newest - since + tick_ms / 1000, holders)
