"""Who used the GPUs: per-user GPU-seconds read from the scheduler's `user_daily` roll-ups.

Every query takes a `Span` (first and last local day, inclusive). A filter that narrows the
rows belongs on `Span`, so callers pass one value and each query gains the filter in one
place: `_where`.

Host-level rule, as the activity graph uses it: for a day and user, the scheduler's gpu = 0
row when it wrote one, else the sum of that user's per-GPU rows, so nothing counts twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date

from store.aggregate import USER_SQL, merge_partial
from store.db import Connection, dict_rows
from store.rollups import HOST


@dataclass(frozen=True)
class Span:
    """Local days `first`..`last` (inclusive, YYYY-MM-DD in GPUPULSE_TZ) of user_daily rows."""

    first: date
    last: date

    def _where(self) -> tuple[str, tuple]:
        """The SQL condition and its parameters selecting this span's rows."""
        return "day BETWEEN ? AND ?", (self.first.isoformat(), self.last.isoformat())


# user_daily's figures beside GPU time: held-idle seconds, the user's share of energy (Wh).
EXTRA_FIGURES = ("held_idle_s", "energy_wh")


def user_days(conn: Connection, span: Span) -> Iterator[tuple[str, str, float]]:
    """(day, user, GPU-seconds on the whole host) for each day and user with usage."""
    where, params = span._where()
    yield from conn.execute(
        f"""SELECT day, user,
                   CASE WHEN max(gpu = {HOST}) THEN total(CASE WHEN gpu = {HOST}
                        THEN gpu_seconds END) ELSE total(gpu_seconds) END
            FROM user_daily WHERE {where} GROUP BY day, user ORDER BY day, user""",
        params,
    )


def user_day_extras(conn: Connection, span: Span) -> list[dict]:
    """user_daily's {day, gpu, user, *EXTRA_FIGURES} rows of the span, host rows included."""
    where, params = span._where()
    return dict_rows(
        conn.execute(
            f"SELECT day, gpu, user, {', '.join(EXTRA_FIGURES)} FROM user_daily WHERE {where} "
            "ORDER BY day, gpu, user",
            params,
        )
    )


def extras_by(rows: Iterable[Mapping], key) -> dict:
    """{key(row): {figure: sum}} over user_day_extras rows; rows `key` maps to None are
    left out."""
    out: dict = {}
    for row in rows:
        k = key(row)
        if k is not None:
            merge_partial(out.setdefault(k, {}), {f: row.get(f) or 0.0 for f in EXTRA_FIGURES})
    return out


def extras_on_host(rows: Iterable[Mapping]) -> list[dict]:
    """user_day_extras rows as one host row per day and user, by the host-level rule (the
    gpu 0 row where written, else the sum of the user's GPU rows)."""
    host: dict[tuple[str, str], dict] = {}
    per_gpu: dict[tuple[str, str], dict] = {}
    for row in rows:
        into = host if row["gpu"] == HOST else per_gpu
        acc = into.setdefault((row["day"], row["user"]), {})
        merge_partial(acc, {f: row.get(f) or 0.0 for f in EXTRA_FIGURES})
    merged = {**per_gpu, **host}
    return [{"day": d, "gpu": HOST, "user": u, **v} for (d, u), v in sorted(merged.items())]


def user_days_of(rows: Iterable[Mapping]) -> list[tuple[str, str, float]]:
    """user_days over user_daily-shaped rows already read (a hub's, rebuilt from hours)."""
    host: dict[tuple[str, str], float] = {}
    per_gpu: dict[tuple[str, str], float] = {}
    for row in rows:
        into = host if row["gpu"] == HOST else per_gpu
        key = (row["day"], row["user"])
        into[key] = into.get(key, 0.0) + row["gpu_seconds"]
    return [(day, user, seconds) for (day, user), seconds in sorted({**per_gpu, **host}.items())]


def seconds_by(rows: Iterable[tuple[str, str, float]], key) -> dict[str, dict[str, float]]:
    """Group (day, user, seconds) rows as {key(day): {user: seconds}}."""
    out: dict[str, dict[str, float]] = {}
    for day, user, seconds in rows:
        merge_partial(out.setdefault(key(day), {}), {user: seconds})
    return out


def month_of(day: str) -> str:
    """'2026-03-04' -> '2026-03'."""
    return day[:7]


def user_seconds_buckets(
    conn: Connection, lo: int, hi: int, threshold: float, bucket: int
) -> dict[int, dict[str, float]]:
    """GPU-seconds per user in UTC seconds [lo, hi), per `bucket`-second slot (keyed by its
    start), from the raw samples by the roll-ups' own per-user rule (aggregate.USER_SQL),
    for windows that are not whole days."""
    args = {"lo": lo, "hi": hi, "bucket": bucket, "thr": threshold}
    out: dict[int, dict[str, float]] = {}
    for slot, _gpu, user, seconds, _mem in conn.execute(USER_SQL, args):
        merge_partial(out.setdefault(slot * bucket, {}), {user: seconds})
    return out


def user_seconds_between(conn: Connection, lo: int, hi: int, threshold: float) -> dict[str, float]:
    """GPU-seconds per user in UTC seconds [lo, hi) from the raw samples."""
    return merge(user_seconds_buckets(conn, lo, hi, threshold, max(hi - lo, 1)).values())


def merge(parts: Iterable[dict[str, float]]) -> dict[str, float]:
    """Sum {user: seconds} dicts."""
    out: dict[str, float] = {}
    for part in parts:
        merge_partial(out, part)
    return out
