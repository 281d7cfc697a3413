"""How the status page shows a GPU, a reservation and a host's summary; the hub draws other
hosts' GPUs with the same (api.hub.sections)."""

from __future__ import annotations

from datetime import datetime, timedelta, tzinfo

from api.lab.names import DisplayNames
from api.lab.until import iso
from api.svg.text import duration, number
from store.reservations import Reservation


def gib(mib: float | None) -> str:
    """'4.1 GiB' or '512 MiB'."""
    if mib is None:
        return "n/a"
    return f"{number(mib / 1024)} GiB" if mib >= 1024 else f"{mib:,.0f} MiB"


def until_text(until: int | None, tz: tzinfo) -> str:
    """'until 2026-12-02 18:00', or 'until the end of 2026-12-02' for a reservation that ends
    at local midnight (what booking 'until 2026-12-02' means), so the page says the day that
    was entered rather than the midnight after it."""
    ends = iso(until, tz)  # None: no end, or one past the calendar's last days
    if ends is None:
        return "until removed"
    moment = datetime.fromtimestamp(until, tz)
    if (moment.hour, moment.minute, moment.second) == (0, 0, 0):
        return f"until the end of {(moment - timedelta(days=1)).date().isoformat()}"
    return f"until {ends[:16].replace('T', ' ')}"


def reservation_view(
    r: Reservation | None, names: DisplayNames, tz: tzinfo, now: float
) -> dict | None:
    """What the page shows of a reservation."""
    if r is None:
        return None
    ends = iso(r.until, tz)  # None: until removed, "until 9999-12-31" included
    left = "" if ends is None or r.until <= now else f" ({duration((r.until - now) / 60)} left)"
    return {
        "gpu": r.gpu,
        "name": names.user(r.name),
        "comment": r.comment,
        "until": until_text(r.until, tz) + left,
        "active": r.active(now),
    }


def gpu_view(
    gpu: dict, names: DisplayNames, reservation: dict | None, now: float, stale_after: float
) -> dict:
    """One GPU row: names, load, processes and staleness."""
    total, used = gpu["memory_total_mib"], gpu["mem_used_mib"]
    age = None if gpu["ts"] is None else now - gpu["ts"]
    return {
        "index": gpu["index"],
        "name": names.gpu(gpu["name"], gpu["index"], gpu["uuid"]),
        "model": gpu["name"],
        "uuid": gpu["uuid"],
        "util": gpu["util"],
        "mem_pct": None if not total or used is None else round(100 * used / total),
        "mem_text": f"{gib(used)} / {gib(total)}",
        "temp": gpu["temp_c"],
        "power": None if gpu["power_w"] is None else round(gpu["power_w"]),
        "lost": gpu["lost_at"] is not None,
        # Why utilization is missing (a MIG parent, an unmeasurable MIG device), if it is.
        "note": gpu.get("note") if gpu["util"] is None else None,
        "mig": None if not gpu.get("mig_profile") else f"MIG {gpu['mig_profile']}",
        "stale": age is None or age > stale_after,
        "age": "no samples" if age is None else f"last sample {duration(age / 60)} ago",
        "processes": [
            {
                "pid": p["pid"],
                "user": names.user(p["user"] or "unknown"),
                "login": p["user"] or "unknown",
                "command": p["command"] or "",
                # Each word its own box: a line may break between words, never inside one
                # (browsers would split "--config" after its hyphens).
                "words": (p["command"] or "").split(),
                "memory": gib(p["mem_mib"]),
                # The container, pod or Slurm job: inside a container everyone is often root.
                "workload": p.get("workload"),
                "workload_id": p.get("workload_id"),
            }
            for p in gpu["processes"]
        ],
        "reservation": reservation,
    }


def gpu_counts(gpus: list[dict], reserved: set, threshold: float) -> dict:
    """How many GPUs are busy (above the threshold or running processes), idle and reserved."""
    busy = sum(1 for g in gpus if (g.get("util") or 0) > threshold or g.get("processes"))
    users = sorted({p.get("user") or "unknown" for g in gpus for p in g.get("processes") or ()})
    return {
        "gpus": len(gpus),
        "busy": busy,
        "idle": len(gpus) - busy,
        "reserved": sum(1 for g in gpus if g.get("index") in reserved),
        "users": users,
    }
