"""Live snapshots for a hub: every GPUPULSE_STATUS_EVERY seconds, POST this host's GPUs,
their processes and its reservations to GPUPULSE_STATUS_URL (a hub's /api/v1/status).

No retries and no queue: a snapshot is only worth something while it is fresh, and the next
one replaces it. The hub marks the host stale after three missed snapshots.
"""

from __future__ import annotations

import json
import logging

from protocol.snapshot import RESERVATION_KEYS, make_snapshot
from scheduler.push import Transport, TransportError, http_transport
from scheduler.settings import Settings, host_id
from store.db import Connection
from store.reservations import LOCAL, reservations_in_force
from store.samples import latest_state

log = logging.getLogger(__name__)


def reservations(conn: Connection, host: str, now: float) -> list[dict]:
    """Reservations in force on this host's GPUs (gpu = the GPU index)."""
    return [
        {key: getattr(r, key) for key in RESERVATION_KEYS}
        for r in reservations_in_force(conn, now, (LOCAL, host))
    ]


def snapshot(conn: Connection, settings: Settings, now: float) -> dict:
    """What one status push carries (protocol.snapshot describes and checks it)."""
    host = host_id(settings, conn)
    gpus = latest_state(conn)
    return make_snapshot(host, now, settings.status_every_s, gpus, reservations(conn, host, now))


def run(
    conn: Connection, settings: Settings, now: float, *, transport: Transport = http_transport
) -> dict:
    """The scheduled job: send one snapshot; return what happened."""
    if not settings.status_url or settings.offline:
        return {"sent": False}
    body = json.dumps(snapshot(conn, settings, now), separators=(",", ":")).encode()
    headers = {"Content-Type": "application/json"}
    if settings.push_token:
        headers["Authorization"] = f"Bearer {settings.push_token}"
    try:
        reply = transport(settings.status_url, body, headers, settings.push_timeout_s)
    except TransportError as problem:
        log.warning("status push: %s", problem)
        return {"sent": False, "error": str(problem)}
    if reply.status != 200:
        text = reply.body[:200].decode("utf-8", "replace").strip()
        log.warning("status push: HTTP %d %s", reply.status, text)
        return {"sent": False, "status": reply.status, "error": text}
    return {"sent": True, "status": 200}
