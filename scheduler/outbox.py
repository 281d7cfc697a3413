"""What gets pushed: one JSON payload per UTC hour, frozen into `push_queue` when complete.

Payload (Targoman gpu_monitor compatible, see scheduler.push for the protocol):

    {"contract_number": "...",            # Targoman's client adds this to every body
     "aggregation_time": "2026-03-20T13:00:00Z", "hour": 1774011600,
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

The per-GPU names are Targoman's aggregation keys (`device_id`, `<metric>_mean/_min/_max`).
The added sums let a hub build days that equal the host's own (mean utilization over all
samples and over active ones) and count users' GPU time across hosts for quotas.
A payload is built from the roll-up tables only (hourly, user_hourly, gpus), never from raw
samples: queueing costs no second scan of the hour, and the sums are kept for as long as
the hourly roll-ups, so a `--resend` after retention pruned the raw samples sends them too.
An hour is queued once the roll-up job has run GPUPULSE_PUSH_GRACE seconds after it ended;
a later recompute that changes the payload queues it again (receivers upsert by key).
"""

from __future__ import annotations

import hashlib
import json

from scheduler.settings import Settings, host_id
from scheduler.timeparse import iso as iso_hour
from store.db import Connection, dict_rows, require_transaction
from store.hub import STAT_KEYS, SUM_KEYS
from store.rollups import HOST, hourly_rows, rollup_state, set_rollup_state, user_hourly_rows

ENQUEUED_UNTIL = "push_enqueued_until"
SCHEMA = "gpu-pulse.hourly/1"

# Targoman key -> hourly column (the statistics are shared with the hub, which reads them)
GPU_KEYS = (("samples", "samples"), ("active_seconds", "active_s"), ("energy_wh", "energy_wh"),
            *STAT_KEYS)  # fmt: skip


def _num(value):
    return round(value, 3) if isinstance(value, float) else value


def entry(row: dict) -> dict:
    """An hourly roll-up row as Targoman keys (3 decimals), plus the unrounded energy."""
    out = {key: _num(row[col]) for key, col in GPU_KEYS}
    out["energy_j"] = None if row["energy_wh"] is None else row["energy_wh"] * 3600
    return out


def exact_sums(conn: Connection, hour: int) -> dict[int, dict]:
    """Per GPU id (HOST: the whole host) the sums and per-user time a receiver needs to
    rebuild days exactly, read from the hour's roll-ups (hourly and user_hourly)."""
    cols = ", ".join(f"{col} AS {key}" for key, col in SUM_KEYS)
    sql = f"SELECT gpu, {cols} FROM hourly WHERE hour = ?"
    out = {row.pop("gpu"): {**row, "users": []} for row in dict_rows(conn.execute(sql, (hour,)))}
    for row in user_hourly_rows(conn, hour, hour + 3600):  # by gpu, then user
        if row["gpu"] in out:
            user = {"user": row["user"], "gpu_seconds": row["gpu_seconds"],
                    "memory_used_mb_max": row["peak_mem_mib"]}  # fmt: skip
            out[row["gpu"]]["users"].append(user)
    return out


def gpu_entries(conn: Connection, hour: int, sums: dict[int, dict] | None = None) -> list[dict]:
    """The per-GPU part of an hour's payload (Targoman key names, plus exact sums if given)."""
    gpus = {
        gid: (uuid, idx, name, bus, mem)
        for gid, uuid, idx, name, bus, mem in conn.execute(
            "SELECT id, uuid, idx, name, pci_bus_id, memory_total_mib FROM gpus"
        )
    }
    out = []
    for row in hourly_rows(conn, hour, hour + 3600):
        if row["gpu"] == HOST:
            continue
        uuid, idx, name, bus, mem = gpus.get(
            row["gpu"], (f"gpu-{row['gpu']}", None, "", None, None)
        )
        item = {"device_id": uuid, "index": idx, "name": name, "pci_bus_id": bus,
                "memory_total_mb": mem, **entry(row)}  # fmt: skip
        out.append({**item, **(sums or {}).get(row["gpu"], {})})
    return sorted(out, key=lambda e: (e["index"] is None, e["index"], e["device_id"]))


def build_payload(conn: Connection, settings: Settings, hour: int) -> dict | None:
    """The JSON object pushed for one hour, or None when the hour has no roll-up."""
    host_rows = [r for r in hourly_rows(conn, hour, hour + 3600, HOST)]
    if not host_rows:
        return None
    h = host_rows[0]
    host = host_id(settings, conn)
    sums = exact_sums(conn, hour)
    summary = {**entry(h), "gpu_active_seconds": _num(h["gpu_active_s"]), **sums.get(HOST, {})}
    return {
        "contract_number": settings.contract_number,
        "aggregation_time": iso_hour(hour), "hour": hour, "host": host,
        "idempotency_key": f"{host}/{iso_hour(hour)}", "interval_seconds": 3600,
        "schema": SCHEMA, "host_summary": summary, "gpus": gpu_entries(conn, hour, sums),
    }  # fmt: skip


def encode(payload: dict) -> str:
    """The exact body sent (stable key order, so the hash is reproducible)."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"))


def payload_hash(body: str) -> str:
    """sha256 hex of a body."""
    return hashlib.sha256(body.encode()).hexdigest()


def enqueue(conn: Connection, settings: Settings, now: float, recomputed: set[int]) -> int:
    """Queue complete hours, with the roll-up's rows; return how many changed."""
    require_transaction(conn)
    complete_before = int(now - settings.push_grace_s) // 3600 * 3600  # hours ending by then
    until = rollup_state(conn, ENQUEUED_UNTIL, 0)
    fresh = conn.execute(
        "SELECT hour FROM hourly WHERE gpu = ? AND hour >= ? AND hour + 3600 <= ?",
        (HOST, until, complete_before),
    ).fetchall()
    hours = {h for (h,) in fresh} | {h for h in recomputed if h + 3600 <= complete_before}
    changed = sum(_queue(conn, settings, hour, now) for hour in sorted(hours))
    set_rollup_state(conn, ENQUEUED_UNTIL, complete_before, keep_larger=True)
    return changed


def _queue(conn: Connection, settings: Settings, hour: int, now: float) -> bool:
    """Upsert one hour as pending unless the same payload is already queued or sent."""
    payload = build_payload(conn, settings, hour)
    if payload is None:
        return False
    body = encode(payload)
    old = conn.execute("SELECT payload_hash FROM push_queue WHERE hour = ?", (hour,)).fetchone()
    if old is not None and old[0] == payload_hash(body):
        return False
    _store(conn, hour, body, now)
    return True


def requeue(conn: Connection, settings: Settings, hour: int, now: float) -> bool:
    """Make one hour pending again from its current roll-up (for --resend); False if none."""
    payload = build_payload(conn, settings, hour)
    if payload is None:
        return False
    _store(conn, hour, encode(payload), now)
    return True


def _store(conn: Connection, hour: int, body: str, now: float) -> None:
    conn.execute(
        "INSERT INTO push_queue (hour, state, attempts, next_at, payload, payload_hash, updated) "
        "VALUES (?, 'pending', 0, 0, ?, ?, ?) ON CONFLICT (hour) DO UPDATE SET "
        "state = 'pending', attempts = 0, next_at = 0, payload = excluded.payload, "
        "payload_hash = excluded.payload_hash, last_error = NULL, updated = excluded.updated",
        (hour, body, payload_hash(body), int(now)),
    )
