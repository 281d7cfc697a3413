"""Each GPU's history as sparkline slots: the status page's last 24 h, the GPU page's 24 h
and 30 days.

Hours the scheduler has rolled up come from `hourly` (one row per GPU and hour, already
computed); only the hours it has not reached yet are bucketed from the raw samples, so the
status page reads a few hundred rows however long the collector has run.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from api.svg.spark import Frame, Slot, sparkline
from api.svg.text import number
from store.db import Connection
from store.held_idle import gpu_buckets
from store.history import hourly_held, sample_buckets
from store.rollups import HOST, hourly_rows, rolled_up_until

HOUR = 3600
DAY = 86_400


@dataclass(frozen=True)
class Bucket:
    """One GPU's readings over UTC seconds [start, end): means and peaks, memory in MiB."""

    start: int
    end: int
    util_mean: float | None
    util_max: float | None
    mem_mean: float | None
    mem_max: float | None
    temp_mean: float | None = None
    temp_max: float | None = None
    power_mean: float | None = None  # watts
    power_max: float | None = None
    held_idle: float = 0.0  # the share of the bucket the GPU was held but idle


def from_hourly(row: dict) -> Bucket:
    """A bucket from an `hourly` roll-up row."""
    return Bucket(
        row["hour"],
        row["hour"] + HOUR,
        row["util_mean"],
        row["util_max"],
        row["mem_used_mean"],
        row["mem_used_max"],
        row["temp_mean"],
        row["temp_max"],
        row["power_mean"],
        row["power_max"],
    )


def from_raw(row: dict, size: int) -> Bucket:
    """A bucket from a store.history.sample_buckets row."""
    return Bucket(
        row["start"],
        row["start"] + size,
        row["util_mean"],
        row["util_max"],
        row["mem_mean"],
        row["mem_max"],
        row["temp_mean"],
        row["temp_max"],
        row["power_mean"],
        row["power_max"],
    )


@dataclass(frozen=True)
class HeldRule:
    """What makes a GPU held idle (store.held_idle): the active threshold and the process
    memory that holds a GPU."""

    threshold: float
    held_mib: int

    def args(self) -> tuple[float, int]:
        """(threshold, held MiB), in store.held_idle's argument order."""
        return self.threshold, self.held_mib


def with_held(bucket: Bucket, seconds: float, until: int) -> Bucket:
    """The bucket with the share of it (up to `until`, for the bucket still filling) that
    the GPU was held idle."""
    span = max(min(bucket.end, until) - bucket.start, 1)
    return replace(bucket, held_idle=min(seconds / span, 1.0))


def hour_buckets(
    conn: Connection, lo: int, hi: int, rule: HeldRule, gpu: int | None = None
) -> dict[int, list[Bucket]]:
    """{GPU row id: hourly buckets} for the UTC hours from the one holding `lo` to the one
    holding `hi`: rolled-up hours from `hourly`, the rest from raw samples."""
    first = lo // HOUR * HOUR
    rolled = max(first, min(rolled_up_until(conn) // HOUR * HOUR, hi // HOUR * HOUR + HOUR))
    held = hourly_held(conn, first, rolled, gpu)
    held.update(gpu_buckets(conn, rolled, hi + 1, HOUR, *rule.args()))
    out: dict[int, list[Bucket]] = {}
    for row in hourly_rows(conn, first, rolled, gpu):
        if row["gpu"] != HOST:
            out.setdefault(row["gpu"], []).append(from_hourly(row))
    for row in sample_buckets(conn, rolled, hi + 1, HOUR, gpu):
        out.setdefault(row["gpu"], []).append(from_raw(row, HOUR))
    return {
        g: [with_held(b, held.get((b.start, g), 0.0), hi + 1) for b in buckets]
        for g, buckets in out.items()
    }


def raw_buckets(
    conn: Connection, lo: int, hi: int, size: int, gpu: int, rule: HeldRule
) -> list[Bucket]:
    """One GPU's `size`-second buckets (a divisor of an hour) from the raw samples in
    [lo, hi]; how much of them it was held idle comes from the hourly roll-ups where the
    scheduler has been (each bucket gets its hour's share), from the raw ticks after."""
    rolled = min(max(rolled_up_until(conn) // HOUR * HOUR, lo), hi + 1)
    by_hour = hourly_held(conn, lo // HOUR * HOUR, rolled, gpu)
    fresh = gpu_buckets(conn, rolled, hi + 1, size, *rule.args())
    out = []
    for row in sample_buckets(conn, lo, hi + 1, size, gpu):
        bucket, start = from_raw(row, size), row["start"]
        if start < rolled:
            out.append(
                replace(bucket, held_idle=by_hour.get((start // HOUR * HOUR, gpu), 0) / HOUR)
            )
        else:
            out.append(with_held(bucket, fresh.get((start, gpu), 0.0), hi + 1))
    return out


def percent(mib: float | None, total: float | None) -> float | None:
    """Memory as a share of the GPU's, %."""
    return None if mib is None or not total else 100 * mib / total


def util_slots(buckets: Iterable[Bucket]) -> list[Slot]:
    """Utilization slots (mean line, peak band, held-idle marks)."""
    return [Slot(b.start, b.end, b.util_mean, b.util_max, b.held_idle) for b in buckets]


def mem_slots(buckets: Iterable[Bucket], total_mib: float | None) -> list[Slot]:
    """Memory slots as % of the GPU's memory."""
    return [
        Slot(
            b.start,
            b.end,
            percent(b.mem_mean, total_mib),
            percent(b.mem_max, total_mib),
            b.held_idle,
        )
        for b in buckets
    ]


def peak_text(slots: list[Slot]) -> str:
    """'peak 99 %' of the slots' peaks, or 'no samples'."""
    peaks = [s.peak for s in slots if s.peak is not None]
    return f"peak {number(max(peaks), 0)} %" if peaks else "no samples"


def spark_pair(
    buckets: list[Bucket], total_mib: float | None, frame: Frame, span: str
) -> dict[str, str]:
    """The utilization and memory sparklines of one GPU over `frame`."""
    util, mem = util_slots(buckets), mem_slots(buckets, total_mib)
    held = sum((b.end - b.start) * b.held_idle for b in buckets)
    held_text = f", held idle {number(held / HOUR)} h" if held else ""
    return {
        "held": held_text,
        "util": sparkline(
            frame, util, f"Utilization, {span}: {peak_text(util)}{held_text}", "util"
        ),
        "mem": sparkline(frame, mem, f"Memory used, {span}: {peak_text(mem)}{held_text}", "mem"),
    }


STATUS_WIDTH, STATUS_HEIGHT = 96, 20


def detail_path(gpu: dict, gpus: list[dict]) -> str:
    """`/gpus/<index>` while no other GPU recorded has that index, else `/gpus/<UUID>`."""
    shared = sum(1 for g in gpus if g["index"] == gpu["index"]) > 1
    return f"/gpus/{gpu['uuid'] if shared else gpu['index']}"


def add_history(gpus: list[dict], views: list[dict], sparks: dict[int, dict]) -> None:
    """Give the status page's own GPU rows their sparklines (status_sparks) and a link to
    the GPU page."""
    for gpu, view in zip(gpus, views, strict=True):
        view["history"] = sparks.get(gpu["id"])
        view["detail"] = detail_path(gpu, gpus)


def status_sparks(
    conn: Connection, gpus: list[dict], now: float, rule: HeldRule
) -> dict[int, dict[str, str]]:
    """{GPU row id: its utilization and memory sparklines} over the 24 UTC hours up to the
    current one, for the status page (one slot per hour)."""
    first = int(now) // HOUR * HOUR - 23 * HOUR
    frame = Frame(first, first + DAY, STATUS_WIDTH, STATUS_HEIGHT)
    buckets = hour_buckets(conn, first, int(now), rule)
    return {
        g["id"]: spark_pair(buckets.get(g["id"], []), g["memory_total_mib"], frame, "last 24 h")
        for g in gpus
    }
