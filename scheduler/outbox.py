"""What gets pushed: one JSON payload per UTC hour (protocol.hourly describes it), frozen
into `push_queue` when complete.

A payload is built from the roll-up tables only (hourly, user_hourly, gpus), never from raw
samples: queueing costs no second scan of the hour, and the sums are kept for as long as
the hourly roll-ups, so a `--resend` after retention pruned the raw samples sends them too.
An hour is queued once the roll-up job has run GPUPULSE_PUSH_GRACE seconds after it ended;
a later recompute that changes the payload queues it again (receivers upsert by key).
The contract number and host name are applied when a payload is sent (`as_sent`), so a
backlog follows a changed GPUPULSE_CONTRACT_NUMBER or GPUPULSE_HOST_ID.
"""

from __future__ import annotations

import json

from protocol import hourly
from protocol.hourly import GpuRow
from scheduler.settings import Settings, host_id
from store.db import Connection, dict_rows, require_transaction
from store.rollups import (
    HOST,
    HOURLY_SUMS,
    hourly_rows,
    rollup_state,
    set_rollup_state,
    user_hourly_rows,
)

ENQUEUED_UNTIL = "push_enqueued_until"


def gpu_descriptions(conn: Connection) -> dict[int, GpuRow]:
    """Every GPU the roll-ups name, by id, as a payload describes it."""
    rows = conn.execute("SELECT id, uuid, idx, name, pci_bus_id, memory_total_mib FROM gpus")
    return {gid: tuple(desc) for gid, *desc in rows}


def exact_sums(conn: Connection, hour: int) -> dict[int, dict]:
    """Per GPU id (HOST: the whole host) the sums and per-user time a receiver needs to
    rebuild days exactly, read from the hour's roll-ups (hourly and user_hourly)."""
    sql = f"SELECT gpu, {', '.join(HOURLY_SUMS)} FROM hourly WHERE hour = ?"
    sums = dict_rows(conn.execute(sql, (hour,)))
    return hourly.exact_sums(sums, user_hourly_rows(conn, hour, hour + 3600))


def gpu_entries(conn: Connection, hour: int, sums: dict[int, dict] | None = None) -> list[dict]:
    """The per-GPU part of an hour's payload (Targoman key names, plus exact sums if given)."""
    rows = [r for r in hourly_rows(conn, hour, hour + 3600) if r["gpu"] != HOST]
    return hourly.gpu_entries(rows, gpu_descriptions(conn), sums)


def build_payload(conn: Connection, settings: Settings, hour: int, built_at: float) -> dict | None:
    """The JSON object pushed for one hour, built at `built_at`, or None when the hour has
    no roll-up."""
    host_rows = hourly_rows(conn, hour, hour + 3600, HOST)
    if not host_rows:
        return None
    sums = exact_sums(conn, hour)
    summary = hourly.host_summary(host_rows[0], sums.get(HOST, {}))
    host = host_id(settings, conn)
    gpus = gpu_entries(conn, hour, sums)
    return hourly.payload(host, hour, settings.contract_number, summary, gpus, built_at)


def encode(payload: dict) -> str:
    """The exact body sent (stable key order, so the hash is reproducible)."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"))


def as_sent(conn: Connection, settings: Settings, body: str) -> dict:
    """A queued payload with the sender's current contract number and host name: a backlog
    queued before either setting changed goes out under the values in force now."""
    payload = json.loads(body)
    host = host_id(settings, conn)
    payload["contract_number"] = settings.contract_number
    payload["host"] = host
    payload["idempotency_key"] = f"{host}/{payload['aggregation_time']}"
    return payload


payload_hash = hourly.content_digest


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
    payload = build_payload(conn, settings, hour, now)
    if payload is None:
        return False
    old = conn.execute("SELECT payload_hash FROM push_queue WHERE hour = ?", (hour,)).fetchone()
    if old is not None and old[0] == payload_hash(payload):
        return False
    _store(conn, hour, payload, now)
    return True


def requeue(conn: Connection, settings: Settings, hour: int, now: float) -> bool:
    """Make one hour pending again from its current roll-up (for --resend); False if none.
    Unchanged numbers keep the queued version (and when it was built)."""
    payload = build_payload(conn, settings, hour, now)
    if payload is None:
        return False
    old = conn.execute("SELECT payload FROM push_queue WHERE hour = ?", (hour,)).fetchone()
    if old is not None and payload_hash(json.loads(old[0])) == payload_hash(payload):
        payload = json.loads(old[0])
    _store(conn, hour, payload, now)
    return True


def _store(conn: Connection, hour: int, payload: dict, now: float) -> None:
    """Queue one hour's payload as pending, its attempts starting over."""
    body = encode(payload)
    conn.execute(
        "INSERT INTO push_queue (hour, state, attempts, next_at, payload, payload_hash, updated) "
        "VALUES (?, 'pending', 0, 0, ?, ?, ?) ON CONFLICT (hour) DO UPDATE SET "
        "state = 'pending', attempts = 0, next_at = 0, payload = excluded.payload, "
        "payload_hash = excluded.payload_hash, last_error = NULL, updated = excluded.updated",
        (hour, body, payload_hash(payload), int(now)),
    )
