"""The hub's read side: `host=` for the existing views, and GET /api/v1/hosts, a summary of
every host (GPUs busy, idle and reserved; stale or not)."""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, has_app_context, jsonify, request

from api.health import health
from api.hub.hostview import ALL_HOSTS, HOST_PARAM, Hosts, choose, view
from api.hub.receive import hub_state
from api.state import state
from store import hub as hubstore
from store.db import Connection
from store.reservations import in_force, reservations_in_force
from store.samples import latest_state, recorded_host

views = Blueprint("gpupulse_hub_views", __name__)


def requested_hosts(conn: Connection) -> Hosts | None:
    """The hosts the request's `host=` names (None: the local host); BadParam if unknown."""
    return choose(conn, HOST_PARAM.parse(request.args.get("host")))


def reader_for(conn: Connection, hosts: Hosts | None, first: date, last: date,
               hours: bool = False) -> Connection:  # fmt: skip
    """What a view reads: the local database itself, or a host view of the days first..last
    (with their hourly roll-ups when `hours`)."""
    tz, cache = state().settings.tz, hub_state().fleet_rows
    return conn if hosts is None else view(conn, hosts, first, last, tz, hours, cache=cache)


def host_reader(conn: Connection, raw: str | None, first: date, last: date,
                hours: bool = False) -> Connection:  # fmt: skip
    """reader_for the hosts a parsed `host` parameter names."""
    return reader_for(conn, choose(conn, raw), first, last, hours)


def fleet_reader(conn: Connection, first: date, last: date, tz: ZoneInfo) -> Connection:
    """What counts across hosts reads outside a request (the quota gauges): every host's
    days on a hub, else the local database."""
    hosts = choose(conn, fleet_default(conn, None))
    cache = hub_state().fleet_rows if has_app_context() else None
    return conn if hosts is None else view(conn, hosts, first, last, tz, days=False, cache=cache)


def fleet_default(conn: Connection, raw: str | None) -> str | None:
    """`host` for views that count across hosts on a hub (quotas): all when this database
    holds other hosts and no host was asked for."""
    return raw if raw is not None or not hubstore.host_ids(conn) else ALL_HOSTS


def active_reservations(snapshot: dict, now: float) -> set:
    """GPU indices with a reservation in force in a snapshot."""
    sent = snapshot.get("reservations", ())
    return {r.get("gpu") for r in sent if in_force(r.get("until"), now)}


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
        counts = gpu_counts(snap["gpus"], active_reservations(snap, now), threshold)
        lines.append({"host": snap["host"], "source": snap["source"], "stale": snap["stale"],
                      "age_s": snap["age_s"], **counts})  # fmt: skip
    return lines


@views.get("/api/v1/hosts")
def hosts() -> Response:
    """Each host's GPUs busy, idle and reserved now, and whether its data is stale."""
    app_state = state()
    now = app_state.now()
    conn = app_state.readers.get()
    lines = host_summaries(conn, now, hub_state().settings.threshold)
    known = {line["host"] for line in lines}
    silent = [h["name"] for h in hubstore.list_hosts(conn)
              if h["name"] not in known and h["revoked"] is None]  # fmt: skip
    return jsonify({"now": now, "hosts": lines, "never_reported": silent})
