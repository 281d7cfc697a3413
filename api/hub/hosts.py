"""`host=NAME|all`: which hosts a view shows on a hub.

Absent, or the hub's own name: the local tables, exactly as without the hub. A host's name:
that host's rows, rebuilt from the hours it sent. `all`: every host summed, this one included.
api.hub.source turns the choice into the rows a view reads.
"""

from __future__ import annotations

from dataclasses import dataclass

from api.gpus import MAX_LISTED
from api.params import BadParam, Param
from store import hub as hubstore
from store.db import Connection
from store.samples import recorded_host

ALL_HOSTS = "all"
HOST_PARAM = Param(
    "host", "the local host (default), a host known to this hub by name, or all (summed)"
)
QUOTAS_HOST_PARAM = Param(
    "host",
    "whose GPU-hours count: on a hub every host's by default, or one host by name; "
    "elsewhere the local host",
)
# The views that read roll-ups, and so take host=: the core's, and the lab's when it is there.
CORE_VIEWS = ("/gpu-activity.svg", "/api/v1/days", "/api/v1/hours")
LAB_VIEWS = ("/api/v1/usage", "/charts/users.svg", "/charts/hours.svg", "/charts/months.svg")


@dataclass(frozen=True)
class Hosts:
    """Which hosts a request shows: the local database and/or hub hosts by id."""

    name: str  # what the view calls itself: a host name or "all hosts"
    local: bool
    remote: tuple[int, ...]


def choose(conn: Connection, raw: str | None) -> Hosts | None:
    """The hosts `host=` names; None for the local host alone (the plain local views)."""
    if raw is None:
        return None
    here = recorded_host(conn)
    if raw == here:
        return None
    known = hubstore.host_ids(conn)
    if raw == ALL_HOSTS:
        return Hosts("all hosts", True, tuple(i for n, i in known.items() if n != here))
    if raw in known:
        return Hosts(raw, False, (known[raw],))
    allowed = [here, ALL_HOSTS, *list(known)[:MAX_LISTED]]
    raise BadParam("host", f"unknown host {raw[:64]!r}: use a host name or all", allowed)
