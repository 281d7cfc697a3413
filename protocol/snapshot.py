"""The live status snapshot a host sends a hub every GPUPULSE_STATUS_EVERY seconds
(scheduler.status_push), and a hub's pull mode builds from a host's api (scheduler.pull):

    {"host": "gpu-box-1", "sent_at": 1774011600.5, "every_s": 30,
     "gpus": [{<GPU_KEYS>, "processes": [{<PROCESS_KEYS>}]}],
     "reservations": [{"gpu": index, "name", "comment", "until": UTC seconds or null}]}

Only the newest one counts: a hub marks the host stale after three missed sends.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from protocol.fields import Invalid, items, number, text
from protocol.limits import EARLIEST_TIME, LATEST_TIME, MAX_GPU_INDEX, MAX_GPUS

MAX_PROCESSES = 4096
GPU_KEYS = (
    "uuid",
    "index",
    "name",
    "memory_total_mib",
    "ts",
    "lost_at",
    "util",
    "mem_util",
    "mem_used_mib",
    "temp_c",
    "fan_pct",
    "power_w",
    "note",
    "mig_profile",
    "parent_uuid",
)
PROCESS_KEYS = ("pid", "user", "command", "mem_mib", "sm_util")
RESERVATION_KEYS = ("gpu", "name", "comment", "until")


def gpu_entry(gpu: Mapping) -> dict:
    """The snapshot's part for one GPU of store.samples.latest_state (or of a host's
    /api/v1/gpus): every key present, None where the GPU did not report it."""
    processes = [{k: p.get(k) for k in PROCESS_KEYS} for p in gpu.get("processes") or ()]
    return {**{k: gpu.get(k) for k in GPU_KEYS}, "processes": processes}


def reservation_entry(reservation: Mapping) -> dict:
    """A reservation as a snapshot sends it; an end past LATEST_TIME (a booking "until
    9999-12-31") goes as no end, which is what it means, and what a receiver accepts."""
    out = {k: reservation.get(k) for k in RESERVATION_KEYS}
    until = out["until"]
    if isinstance(until, int | float) and until > LATEST_TIME:
        out["until"] = None
    return out


def make_snapshot(
    host: str, sent_at: float, every_s: int, gpus: Iterable[Mapping], reservations: list[dict]
) -> dict:
    """The whole snapshot of a host's GPUs (as gpu_entry makes them) and reservations."""
    return {
        "host": host,
        "sent_at": sent_at,
        "every_s": every_s,
        "gpus": [gpu_entry(g) for g in gpus],
        "reservations": [reservation_entry(r) for r in reservations],
    }


def check_time(obj: dict, key: str, path: str, latest: float) -> None:
    """obj[key], when present, a UTC time from 2000 to `latest` (at most 2200)."""
    number(obj, key, path, EARLIEST_TIME, min(latest, LATEST_TIME))


def check_gpu(gpu: dict, path: str, now: float, skew_s: float) -> None:
    """One GPU of a snapshot, with its processes."""
    text(gpu, "uuid", path, required=True, most=128)
    number(gpu, "index", path, 0, MAX_GPU_INDEX, whole=True)
    text(gpu, "name", path)
    for key in ("note", "mig_profile", "parent_uuid"):
        text(gpu, key, path, most=256)
    for key in ("util", "mem_util", "fan_pct"):
        number(gpu, key, path, 0, 255)
    for key in ("mem_used_mib", "memory_total_mib"):
        number(gpu, key, path, 0, 10**7)
    number(gpu, "temp_c", path, -60, 200)
    number(gpu, "power_w", path, 0, 10_000)
    for key in ("ts", "lost_at"):  # readings: not ahead of the receiver's clock
        check_time(gpu, key, path, now + skew_s)
    for j, proc in enumerate(items(gpu, "processes", path, MAX_PROCESSES)):
        where = f"{path}processes[{j}]."
        number(proc, "pid", where, 0, 2**32, whole=True, required=True)
        text(proc, "user", where)
        text(proc, "command", where, most=4096)
        number(proc, "mem_mib", where, 0, 10**7)
        number(proc, "sm_util", where, 0, 100)


def check_reservation(res: dict, path: str) -> None:
    """A sent reservation: flat, its GPU an index, its end a sane time or none, its strings
    short enough to show."""
    number(res, "gpu", path, 0, MAX_GPU_INDEX, whole=True)
    check_time(res, "until", path, LATEST_TIME)
    for key, value in res.items():
        if not isinstance(value, str | int | float | bool | None):
            raise Invalid(f"{path}{key}", f"{path}{key} must be a string or number")
        if isinstance(value, str):
            text(res, key, path, most=4096)


def check_snapshot(data: dict, now: float, skew_s: float) -> dict:
    """A live snapshot received at `now` (senders' clocks may be up to `skew_s` ahead);
    returns it unchanged, or Invalid naming the field."""
    text(data, "host", "", required=True, most=128)
    number(data, "every_s", "", 1, 86400, whole=True, required=True)
    check_time(data, "sent_at", "", now + skew_s)
    for i, gpu in enumerate(items(data, "gpus", "", MAX_GPUS, required=True)):
        check_gpu(gpu, f"gpus[{i}].", now, skew_s)
    for i, res in enumerate(items(data, "reservations", "", MAX_GPUS * 16)):
        check_reservation(res, f"reservations[{i}].")
    return data
