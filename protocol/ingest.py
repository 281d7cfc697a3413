"""What a receiver accepts of the hourly aggregate (protocol.hourly describes it): one
payload, or an array of one host's payloads. Each check returns the data unchanged, or raises
Invalid naming the field (`gpus[2].samples`, `[3].hour` in an array)."""

from __future__ import annotations

from protocol.fields import Invalid, NumberField, items, number, numbers, obj, text
from protocol.hourly import HOUR_S, STAT_KEYS, SUM_KEYS
from protocol.limits import EARLIEST_TIME, MAX_GPU_INDEX, MAX_GPUS
from protocol.timeparse import iso

MAX_USERS = 10_000
EARLIEST_HOUR = EARLIEST_TIME  # older "hours" are a broken clock
SAMPLES_MAX = 10**8
ACTIVE_MAX = 2 * HOUR_S  # a restarted collector's ticks may overlap a little

# Targoman statistic key suffix -> allowed range
RANGES = (
    ("percent", 0, 100),
    ("memory_used_mb", 0, 10**7),
    ("celsius", -60, 200),
    ("watts", 0, 10_000),
    ("mhz", 0, 100_000),
)


def _stat_range(key: str) -> tuple[float, float]:
    for part, low, high in RANGES:
        if part in key:
            return low, high
    raise AssertionError(key)  # every STAT_KEYS name has one


# Every number in an entry; `gpu_active_seconds` and users' time scale with the GPUs.
ENTRY_NUMBERS: tuple[NumberField, ...] = (
    ("samples", 0, SAMPLES_MAX, True, True),
    ("active_seconds", 0, ACTIVE_MAX, False, True),
    ("energy_wh", 0, 10**7, False, False),
    ("energy_j", 0, 3.6e10, False, False),
    *((key, *_stat_range(key), False, False) for key, _ in STAT_KEYS),
    *((key, 0, 100 * SAMPLES_MAX, True, False) for key, _ in SUM_KEYS),
)
USER_NUMBERS: tuple[NumberField, ...] = (("memory_used_mb_max", 0, 10**9, True, False),)


def check_entry(entry: dict, path: str, gpus: int = 1) -> None:
    """The statistics, sums and users of one GPU entry or of the host summary."""
    numbers(entry, ENTRY_NUMBERS, path)
    number(entry, "gpu_active_seconds", path, 0, ACTIVE_MAX * gpus)
    for i, user in enumerate(items(entry, "users", path, MAX_USERS)):
        where = f"{path}users[{i}]."
        text(user, "user", where, required=True)
        number(user, "gpu_seconds", where, 0, ACTIVE_MAX * gpus, required=True)
        numbers(user, USER_NUMBERS, where)


def check_hour(data: dict, now: float, max_skew_s: int) -> None:
    """`hour` the start of a UTC hour that is over (allowing `max_skew_s` of clock skew),
    and the fields that restate it."""
    hour = number(data, "hour", "", EARLIEST_HOUR, now + max_skew_s, whole=True, required=True)
    if hour % HOUR_S:
        raise Invalid("hour", "hour must be the start of a UTC hour (a multiple of 3600)")
    if hour + HOUR_S > now + max_skew_s:
        raise Invalid("hour", f"hour {iso(hour)} has not ended yet (check the sender's clock)")
    if "aggregation_time" in data and data["aggregation_time"] != iso(hour):
        raise Invalid("aggregation_time", f"aggregation_time must be {iso(hour)}, as hour says")
    number(data, "built_at", "", EARLIEST_HOUR, now + max_skew_s)
    if data.get("interval_seconds", HOUR_S) != HOUR_S:
        raise Invalid("interval_seconds", "interval_seconds must be 3600")


def check_gpu(gpu: dict, path: str, seen: set[str]) -> None:
    """One GPU entry, whose device id must not be in `seen` (it is added)."""
    device = text(gpu, "device_id", path, required=True, most=128)
    if device in seen:
        raise Invalid(f"{path}device_id", f"{path}device_id {device!r} appears twice")
    seen.add(device)
    number(gpu, "index", path, 0, MAX_GPU_INDEX, whole=True)
    text(gpu, "name", path)
    text(gpu, "pci_bus_id", path, most=64)
    number(gpu, "memory_total_mb", path, 0, 10**7, whole=True)
    check_entry(gpu, path)


def check_hourly(data: dict, now: float, max_skew_s: int) -> dict:
    """An hourly payload as the scheduler pushes it; returns it unchanged, or Invalid."""
    text(data, "host", "", required=True, most=128)
    check_hour(data, now, max_skew_s)
    gpus = items(data, "gpus", "", MAX_GPUS, required=True)
    check_entry(obj(data, "host_summary"), "host_summary.", max(len(gpus), 1))
    seen: set[str] = set()
    for i, gpu in enumerate(gpus):
        check_gpu(gpu, f"gpus[{i}].", seen)
    return data


def check_ingest(data: dict | list, now: float, max_skew_s: int, max_batch: int) -> list[dict]:
    """An ingest body: one hourly payload, or an array of up to `max_batch` of them (a GPU
    Pulse scheduler sending its backlog); the payloads, or Invalid naming `[i].field`."""
    if isinstance(data, dict):
        return [check_hourly(data, now, max_skew_s)]
    if not 1 <= len(data) <= max_batch:
        raise Invalid(
            "body",
            f"an array of payloads must hold 1 to {max_batch} of them (GPUPULSE_HUB_MAX_BATCH)",
        )
    hours: dict[int, int] = {}
    for i, payload in enumerate(data):
        try:
            if not isinstance(payload, dict):
                raise Invalid("", "must be an object")
            check_hourly(payload, now, max_skew_s)
        except Invalid as problem:
            field = f"[{i}].{problem.field}".rstrip(".")
            raise Invalid(field, f"payload [{i}]: {problem.message}") from None
        hour = payload["hour"]
        if hour in hours:
            message = f"payload [{i}]: hour {iso(hour)} is also payload [{hours[hour]}]"
            raise Invalid(f"[{i}].hour", message)
        hours[hour] = i
    return data
