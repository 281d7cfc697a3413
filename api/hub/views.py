"""GET /api/v1/hosts: a summary of every host (GPUs busy, idle and reserved; stale or not)."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from api.catalog import Endpoint
from api.health import health
from api.hub.receive import hub_state
from api.lab.page_rows import gpu_counts
from api.state import state
from store import hub as hubstore
from store.db import Connection
from store.reservations import in_force, reservations_in_force
from store.samples import latest_state, recorded_host

views = Blueprint("gpupulse_hub_views", __name__)
ENDPOINTS = (
    Endpoint("/api/v1/hosts", "Hub: each host's GPUs busy, idle and reserved, and staleness"),
)


# What a stored snapshot that no view can use raises (one kept from before its fields were
# checked as they are now): the host is shown as broken, the others as usual.
BROKEN = (ValueError, OverflowError, TypeError, KeyError, AttributeError)


def unshowable(problem: Exception) -> str:
    """Why a host's snapshot is not shown, in one line."""
    return f"its last snapshot cannot be shown ({type(problem).__name__}: {problem})"[:300]


def active_reservations(snapshot: dict, now: float) -> set:
    """GPU indices with a reservation in force in a snapshot."""
    sent = snapshot.get("reservations", ())
    return {r.get("gpu") for r in sent if in_force(r.get("until"), now)}


def local_summary(conn: Connection, now: float, threshold: float) -> dict | None:
    """The local host's line, when it has GPUs of its own."""
    gpus = latest_state(conn)
    if not gpus:
        return None
    reserved = {r.gpu for r in reservations_in_force(conn, now, hosts=None)}
    code, body = health(conn, now)
    return {
        "host": recorded_host(conn),
        "source": "local",
        "stale": code != 200,
        "age_s": body["newest_sample_age_s"],
        **gpu_counts(gpus, reserved, threshold),
    }


def host_summaries(conn: Connection, now: float, threshold: float) -> list[dict]:
    """Every host's line: the local one first, then the hub's hosts by name."""
    here = local_summary(conn, now, threshold)
    lines = [] if here is None else [here]
    seen = {line["host"] for line in lines}
    for snap in hubstore.snapshots(conn, now):
        if snap["host"] in seen:
            continue
        line = {"host": snap["host"], "source": snap["source"], "age_s": snap["age_s"]}
        try:
            counts = gpu_counts(snap["gpus"], active_reservations(snap, now), threshold)
            lines.append({**line, "stale": snap["stale"], **counts})
        except BROKEN as problem:  # one host's bad snapshot must not hide the others
            lines.append({**line, "stale": True, **gpu_counts([], set(), threshold)})
            lines[-1]["broken"] = unshowable(problem)
    return lines


@views.get("/api/v1/hosts")
def hosts() -> Response:
    """Each host's GPUs busy, idle and reserved now, and whether its data is stale."""
    app_state = state()
    now = app_state.now()
    conn = app_state.readers.get()
    lines = host_summaries(conn, now, hub_state().settings.threshold)
    known = {line["host"] for line in lines}
    silent = [
        h["name"]
        for h in hubstore.list_hosts(conn)
        if h["name"] not in known and h["revoked"] is None
    ]
    return jsonify({"now": now, "hosts": lines, "never_reported": silent})
