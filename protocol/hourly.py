"""The hourly aggregate: one JSON object per host and UTC hour, built from the host's roll-ups
(scheduler.outbox), sent Targoman gpu_monitor compatible (scheduler.push, protocol.targoman)
and stored by a hub (store.hub). This is its one description:

    {"contract_number": "...",            # Targoman's client adds this to every body
     "aggregation_time": "2026-03-20T13:00:00Z", "hour": 1774011600,
     "built_at": 1774015325.5,            # when this version of the hour was built
     "host": "gpu-box-1", "idempotency_key": "gpu-box-1/2026-03-20T13:00:00Z",
     "interval_seconds": 3600, "schema": "gpu-pulse.hourly/1",
     "host_summary": {"samples", "active_seconds", "gpu_active_seconds", "energy_wh",
                      <the per-GPU statistics and sums below, for the whole host>},
     "gpus": [{"device_id": UUID, "index", "name", "pci_bus_id", "memory_total_mb",
               "samples", "active_seconds", "energy_wh",
               "sm_utilization_percent_{mean,min,max}", "memory_utilization_percent_{mean,max}",
               "memory_used_mb_{mean,min,max}", "temperature_celsius_{mean,min,max}",
               "fan_speed_percent_{mean,max}", "power_usage_watts_{mean,min,max}",
               "graphics_clock_mhz_mean", "memory_clock_mhz_mean",
               # added for the hub (receivers that do not know them ignore them):
               "energy_j",                          # unrounded
               "sm_utilization_percent_{sum,count,active_sum,active_count}",
               "users": [{"user", "gpu_seconds", "memory_used_mb_max"}]}]}

The per-GPU names are Targoman's aggregation keys (`device_id`, `<metric>_mean/_min/_max`,
STAT_KEYS), numbers rounded to 3 decimals. The added sums (SUM_KEYS) let a hub build days
that equal the host's own (mean utilization over all samples and over active ones) and count
users' GPU time across hosts for quotas; a Targoman-style payload without them is accepted,
its utilization sum estimated as mean x samples. `gpu_active_seconds` is the host's GPU time
summed over its GPUs; `active_seconds` on the host is wall-clock time with any GPU active.

What a receiver accepts (protocol.ingest): `host` (at most 128 characters), `hour` the start
of a UTC hour that is over, `aggregation_time` (when sent) that hour as `iso`,
`interval_seconds` 3600, at most MAX_GPUS GPUs with distinct `device_id`s, every number in
its range. A body may also be an array of payloads of one host (a backlog), each hour once.
`built_at` (optional, not in the future) orders versions of an hour: a receiver keeps the
newest and answers an older one replayed late with the current uid, storing nothing.
The answer is `{"uid", "params"}`, or `{"uids", "params"}` for an array (protocol.targoman).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from typing import Any

import orjson

from protocol.timeparse import iso

SCHEMA = "gpu-pulse.hourly/1"
HOUR_S = 3600

# Targoman statistics keys of a payload entry -> the hourly column they come from/go to.
STAT_KEYS = (
    ("sm_utilization_percent_mean", "util_mean"),
    ("sm_utilization_percent_min", "util_min"),
    ("sm_utilization_percent_max", "util_max"),
    ("memory_utilization_percent_mean", "mem_util_mean"),
    ("memory_utilization_percent_max", "mem_util_max"),
    ("memory_used_mb_mean", "mem_used_mean"),
    ("memory_used_mb_min", "mem_used_min"),
    ("memory_used_mb_max", "mem_used_max"),
    ("temperature_celsius_mean", "temp_mean"),
    ("temperature_celsius_min", "temp_min"),
    ("temperature_celsius_max", "temp_max"),
    ("fan_speed_percent_mean", "fan_mean"),
    ("fan_speed_percent_max", "fan_max"),
    ("power_usage_watts_mean", "power_mean"),
    ("power_usage_watts_min", "power_min"),
    ("power_usage_watts_max", "power_max"),
    ("graphics_clock_mhz_mean", "sm_mhz_mean"),
    ("memory_clock_mhz_mean", "mem_mhz_mean"),
)
# Exact sums GPU Pulse adds to each entry (absent from a Targoman client's payloads).
SUM_KEYS = (
    ("sm_utilization_percent_sum", "util_sum"),
    ("sm_utilization_percent_count", "util_n"),
    ("sm_utilization_percent_active_sum", "act_util_sum"),
    ("sm_utilization_percent_active_count", "act_util_n"),
)
# Every key of an entry taken from its hourly roll-up row -> that row's column.
ENTRY_KEYS = (
    ("samples", "samples"),
    ("active_seconds", "active_s"),
    ("energy_wh", "energy_wh"),
    *STAT_KEYS,
)
# What a GPU entry says about the GPU itself, besides its device_id.
GPU_DESCRIPTION = ("index", "name", "pci_bus_id", "memory_total_mb")
# (uuid, index, name, pci_bus_id, memory_total_mib) of a GPU, by its roll-up id.
GpuRow = tuple[str, int | None, str, str | None, int | None]


def rounded(value: Any) -> Any:
    """Floats to 3 decimals (as Targoman's client writes them), anything else as it is."""
    return round(value, 3) if isinstance(value, float) else value


def entry(row: Mapping) -> dict:
    """An hourly roll-up row as Targoman keys (3 decimals), plus the unrounded energy."""
    out = {key: rounded(row[col]) for key, col in ENTRY_KEYS}
    out["energy_j"] = None if row["energy_wh"] is None else row["energy_wh"] * 3600
    return out


def exact_sums(sum_rows: Iterable[Mapping], user_rows: Iterable[Mapping]) -> dict[int, dict]:
    """Per roll-up GPU id the sums and per-user time of an hour: `sum_rows` are its hourly
    rows (gpu and the SUM_KEYS columns), `user_rows` its user_hourly rows."""
    out = {row["gpu"]: {**{k: row[col] for k, col in SUM_KEYS}, "users": []} for row in sum_rows}
    for row in user_rows:  # by gpu, then user
        if row["gpu"] in out:
            user = {
                "user": row["user"],
                "gpu_seconds": row["gpu_seconds"],
                "memory_used_mb_max": row["peak_mem_mib"],
            }
            out[row["gpu"]]["users"].append(user)
    return out


def gpu_entries(
    rows: Iterable[Mapping], gpus: Mapping[int, GpuRow], sums: Mapping[int, dict] | None = None
) -> list[dict]:
    """The per-GPU part of an hour's payload from its GPUs' hourly rows (not the host's),
    described by `gpus`, with the exact sums if given; by index, then device id."""
    out = []
    for row in rows:
        unknown = (f"gpu-{row['gpu']}", None, "", None, None)
        uuid, idx, name, bus, mem = gpus.get(row["gpu"], unknown)
        item = {
            "device_id": uuid,
            "index": idx,
            "name": name,
            "pci_bus_id": bus,
            "memory_total_mb": mem,
            **entry(row),
        }
        out.append({**item, **(sums or {}).get(row["gpu"], {})})
    return sorted(out, key=lambda e: (e["index"] is None, e["index"], e["device_id"]))


def host_summary(row: Mapping, sums: Mapping) -> dict:
    """`host_summary` from the host's hourly row and its exact sums."""
    return {**entry(row), "gpu_active_seconds": rounded(row["gpu_active_s"]), **sums}


def payload(
    host: str, hour: int, contract_number: str, summary: dict, gpus: list, built_at: float
) -> dict:
    """The whole object pushed for one host-hour, built at `built_at` (UTC seconds)."""
    when = iso(hour)
    return {
        "contract_number": contract_number,
        "aggregation_time": when,
        "built_at": built_at,
        "hour": hour,
        "host": host,
        "idempotency_key": f"{host}/{when}",
        "interval_seconds": HOUR_S,
        "schema": SCHEMA,
        "host_summary": summary,
        "gpus": gpus,
    }


def content_digest(payload: dict) -> str:
    """sha256 hex of a payload's content: whatever its key order or spacing, and whenever
    it was built (a rebuild with the same numbers is the same payload)."""
    content = {k: v for k, v in payload.items() if k != "built_at"}
    return hashlib.sha256(orjson.dumps(content, option=orjson.OPT_SORT_KEYS)).hexdigest()
