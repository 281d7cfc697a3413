"""Checking what hosts send: the hourly payload (scheduler.outbox) and the live snapshot
(scheduler.status_push). Every problem is an Invalid naming the field, e.g. `gpus[2].samples`.
"""

from __future__ import annotations

import math
import re

import orjson

from scheduler.timeparse import iso
from store.hub import STAT_KEYS, SUM_KEYS
from store.samples import MAX_GPU_INDEX

MAX_GPUS = 64
MAX_USERS = 10_000
MAX_PROCESSES = 4096
MAX_TEXT = 256
EARLIEST_HOUR = 946_684_800  # 2000-01-01: older "hours" are a broken clock
HOUR_S = 3600
SAMPLES_MAX = 10**8
ACTIVE_MAX = 2 * HOUR_S  # a restarted collector's ticks may overlap a little
CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class Invalid(ValueError):
    """A body we cannot store; becomes a 400 naming the field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field, self.message = field, message

    def body(self) -> dict:
        """The JSON error body."""
        return {"error": self.message, "field": self.field}


def parse_json(raw: bytes, *, lists: bool = False) -> dict | list:
    """The body as a JSON object (or, with `lists`, an array); Invalid naming `body`.
    orjson parses a payload about 3x faster than json, and refuses what JSON does not
    allow (NaN, Infinity, bad UTF-8)."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as problem:
        raise Invalid("body", f"body is not valid JSON: {problem}") from None
    if not isinstance(data, dict) and not (lists and isinstance(data, list)):
        raise Invalid("body", "body must be a JSON object" + (" or array" if lists else ""))
    return data


def present(obj: dict, key: str, path: str, required: bool) -> tuple:
    """(obj[key] or None, the field's name); Invalid when it is required and missing."""
    value, where = obj.get(key), f"{path}{key}"
    if value is None and required:
        raise Invalid(where, f"{where} is required")
    return value, where


def number(obj: dict, key: str, path: str, low: float, high: float, *, whole: bool = False,
           required: bool = False):  # fmt: skip
    """obj[key] if it is a number in [low, high] (or absent/null when not required)."""
    value, where = present(obj, key, path, required)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise Invalid(where, f"{where} must be a number")
    if whole and value != int(value):
        raise Invalid(where, f"{where} must be a whole number")
    if not low <= value <= high:
        raise Invalid(where, f"{where} must be from {low:g} to {high:g}")
    return value


def text(obj: dict, key: str, path: str, *, required: bool = False, most: int = MAX_TEXT):
    """obj[key] if it is a string of at most `most` characters without control characters."""
    value, where = present(obj, key, path, required)
    if value is None:
        return None
    if not isinstance(value, str) or (required and not value.strip()):
        raise Invalid(where, f"{where} must be a non-empty string")
    if len(value) > most or CONTROL.search(value):
        raise Invalid(where, f"{where} must be at most {most} printable characters")
    return value


def items(obj: dict, key: str, path: str, most: int, *, required: bool = False) -> list:
    """obj[key] if it is a list of at most `most` JSON objects."""
    value = obj.get(key)
    where = f"{path}{key}"
    if value is None and not required:
        return []
    if not isinstance(value, list) or len(value) > most:
        raise Invalid(where, f"{where} must be a list of at most {most} objects")
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            raise Invalid(f"{where}[{i}]", f"{where}[{i}] must be an object")
    return value


def obj(data: dict, key: str, path: str = "") -> dict:
    """data[key] if it is a JSON object."""
    value = data.get(key)
    if not isinstance(value, dict):
        raise Invalid(f"{path}{key}", f"{path}{key} must be an object")
    return value


# Targoman statistic key suffix -> allowed range
RANGES = (
    ("percent", 0, 100), ("memory_used_mb", 0, 10**7), ("celsius", -60, 200),
    ("watts", 0, 10_000), ("mhz", 0, 100_000),
)  # fmt: skip


def _stat_range(key: str) -> tuple[float, float]:
    for part, low, high in RANGES:
        if part in key:
            return low, high
    raise AssertionError(key)  # every STAT_KEYS name has one


# (key, low, high, whole, required) of every number in an entry; `gpus` scales two bounds.
ENTRY_NUMBERS = (
    ("samples", 0, SAMPLES_MAX, True, True), ("active_seconds", 0, ACTIVE_MAX, False, True),
    ("energy_wh", 0, 10**7, False, False), ("energy_j", 0, 3.6e10, False, False),
    *((key, *_stat_range(key), False, False) for key, _ in STAT_KEYS),
    *((key, 0, 100 * SAMPLES_MAX, True, False) for key, _ in SUM_KEYS),
)  # fmt: skip
USER_NUMBERS = (("memory_used_mb_max", 0, 10**9, True, False),)
NUMERIC = (int, float)


def numbers(obj: dict, fields: tuple, path: str) -> None:
    """Check many numbers at once; only a bad one takes the slow path that words the error.
    (NaN and infinities cannot pass: JSON parsing refuses them and ranges exclude them.)"""
    for key, low, high, whole, required in fields:
        value = obj.get(key)
        if value is None:
            if required:
                number(obj, key, path, low, high, required=True)
        elif type(value) not in NUMERIC or not low <= value <= high or (
                whole and value != int(value)):  # fmt: skip
            number(obj, key, path, low, high, whole=whole, required=required)


def check_entry(entry: dict, path: str, gpus: int = 1) -> None:
    """The statistics, sums and users of one GPU entry or of the host summary."""
    numbers(entry, ENTRY_NUMBERS, path)
    number(entry, "gpu_active_seconds", path, 0, ACTIVE_MAX * gpus)
    for i, user in enumerate(items(entry, "users", path, MAX_USERS)):
        where = f"{path}users[{i}]."
        text(user, "user", where, required=True)
        number(user, "gpu_seconds", where, 0, ACTIVE_MAX * gpus, required=True)
        numbers(user, USER_NUMBERS, where)


def check_hourly(data: dict, now: float, max_skew_s: int) -> dict:
    """An hourly payload as the scheduler pushes it; returns it unchanged, or Invalid."""
    text(data, "host", "", required=True, most=128)
    hour = number(data, "hour", "", EARLIEST_HOUR, 10**11, whole=True, required=True)
    if hour % HOUR_S:
        raise Invalid("hour", "hour must be the start of a UTC hour (a multiple of 3600)")
    if hour + HOUR_S > now + max_skew_s:
        raise Invalid("hour", f"hour {iso(hour)} has not ended yet (check the sender's clock)")
    if "aggregation_time" in data and data["aggregation_time"] != iso(hour):
        raise Invalid("aggregation_time", f"aggregation_time must be {iso(hour)}, as hour says")
    if data.get("interval_seconds", HOUR_S) != HOUR_S:
        raise Invalid("interval_seconds", "interval_seconds must be 3600")
    gpus = items(data, "gpus", "", MAX_GPUS, required=True)
    check_entry(obj(data, "host_summary"), "host_summary.", max(len(gpus), 1))
    seen: set[str] = set()
    for i, gpu in enumerate(gpus):
        path = f"gpus[{i}]."
        device = text(gpu, "device_id", path, required=True, most=128)
        if device in seen:
            raise Invalid(f"{path}device_id", f"{path}device_id {device!r} appears twice")
        seen.add(device)
        number(gpu, "index", path, 0, MAX_GPU_INDEX, whole=True)
        text(gpu, "name", path)
        text(gpu, "pci_bus_id", path, most=64)
        number(gpu, "memory_total_mb", path, 0, 10**7, whole=True)
        check_entry(gpu, path)
    return data


def check_ingest(data: dict | list, now: float, max_skew_s: int, max_batch: int) -> list[dict]:
    """An ingest body: one hourly payload, or an array of up to `max_batch` of them (a GPU
    Pulse scheduler sending its backlog); the payloads, or Invalid naming `[i].field`."""
    if isinstance(data, dict):
        return [check_hourly(data, now, max_skew_s)]
    if not 1 <= len(data) <= max_batch:
        raise Invalid("body", f"an array of payloads must hold 1 to {max_batch} of them "
                              "(GPUPULSE_HUB_MAX_BATCH)")  # fmt: skip
    hours: dict[int, int] = {}
    for i, payload in enumerate(data):
        try:
            if not isinstance(payload, dict):
                raise Invalid("", "must be an object")
            check_hourly(payload, now, max_skew_s)
        except Invalid as problem:
            raise Invalid(f"[{i}].{problem.field}".rstrip("."),
                          f"payload [{i}]: {problem.message}") from None  # fmt: skip
        if payload["hour"] in hours:
            raise Invalid(f"[{i}].hour", f"payload [{i}]: hour {iso(payload['hour'])} is "
                                         f"also payload [{hours[payload['hour']]}]")  # fmt: skip
        hours[payload["hour"]] = i
    return data


def check_snapshot(data: dict) -> dict:
    """A live snapshot (scheduler.status_push); returns it unchanged, or Invalid."""
    text(data, "host", "", required=True, most=128)
    number(data, "every_s", "", 1, 86400, whole=True, required=True)
    number(data, "sent_at", "", 0, 10**11)
    for i, gpu in enumerate(items(data, "gpus", "", MAX_GPUS, required=True)):
        path = f"gpus[{i}]."
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
        for key in ("ts", "lost_at"):
            number(gpu, key, path, 0, 10**11)
        for j, proc in enumerate(items(gpu, "processes", path, MAX_PROCESSES)):
            where = f"{path}processes[{j}]."
            number(proc, "pid", where, 0, 2**32, whole=True, required=True)
            text(proc, "user", where)
            text(proc, "command", where, most=4096)
            number(proc, "mem_mib", where, 0, 10**7)
            number(proc, "sm_util", where, 0, 100)
    for i, res in enumerate(items(data, "reservations", "", MAX_GPUS * 16)):
        path = f"reservations[{i}]."
        for key, value in res.items():
            if not isinstance(value, str | int | float | bool | None):
                raise Invalid(f"{path}{key}", f"{path}{key} must be a string or number")
            if isinstance(value, str):
                text(res, key, path, most=4096)
    return data
