"""`host=NAME|all`: a host view is an in-memory database in the local schema, filled with one
remote host's roll-ups (or every host's, summed) for the days a request needs.

Every view (the calendar, /api/v1/days|hours, the lab pages) then reads it exactly as it reads
the local database, so a remote host's graph is drawn by the same code, from the same kind of
rows, as on the host itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from zoneinfo import ZoneInfo

from api.gpus import MAX_LISTED
from api.params import BadParam, Param
from api.svg_cache import RenderCache
from store import atomic, open_db
from store import hub as hubstore
from store.aggregate import day_bounds, day_span
from store.db import Connection
from store.rollups import (
    DAILY_FIELDS,
    DATA_VERSION,
    HOST,
    HOURLY_FIELDS,
    daily_rows,
    data_version,
    hourly_rows,
    set_rollup_state,
    user_daily_rows,
)
from store.samples import recorded_host

ALL_HOSTS = "all"
HOST_PARAM = Param(
    "host", "the local host (default), a host known to this hub by name, or all (summed)"
)


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


def cache_key(conn: Connection, hosts: Hosts | None) -> tuple:
    """What a cached rendering for these hosts depends on besides the local data version."""
    return () if hosts is None else (hosts.name, hubstore.hub_version(conn))


def view(conn: Connection, hosts: Hosts, first: date, last: date, tz: ZoneInfo,
         hours: bool = False, days: bool = True,
         cache: RenderCache | None = None) -> Connection:  # fmt: skip
    """An in-memory database holding the roll-ups of `hosts` for the days first..last: the
    per-user ones, the daily ones unless not `days` (usage and quotas read only per-user
    rows) and the hourly ones when `hours` (only two views read those). Several hosts' sums
    are kept in `cache` until the data changes."""
    mem = open_db(":memory:", migrate=True)
    start, end = day_span(first, last, tz)
    span = (first, last, start, end if hours else start)
    with atomic(mem):
        mem.execute("INSERT INTO meta VALUES ('host_id', ?)", (hosts.name,))
        version = data_version(conn) + hubstore.hub_version(conn)  # both only ever grow
        set_rollup_state(mem, DATA_VERSION, version)
        if not hosts.local and len(hosts.remote) == 1:
            _one_host(conn, mem, hosts.remote[0], span, tz)
            return mem
        key = (hosts, first, last, tz.key, hours, days, version)
        rows = None if cache is None else cache.get(key)
        if rows is None:
            rows = _fleet_rows(conn, hosts, span, tz, days)
            if cache is not None:
                cache.put(key, rows)
        _fill(mem, *rows)
    return mem


def _fleet_rows(conn: Connection, hosts: Hosts, span: tuple, tz: ZoneInfo,
                days: bool) -> tuple[list, list, list]:  # fmt: skip
    """(daily, per-user, hourly) rows of several hosts summed (the local one included)."""
    first, last, start, end = span
    a, b = first.isoformat(), last.isoformat()
    daily, users, hourly = [], [], []
    if hosts.local:
        daily.append(daily_rows(conn, a, b, HOST) if days else [])
        users.append([r for r in user_daily_rows(conn, a, b) if r["gpu"] == HOST])
        hourly.append(hourly_rows(conn, start, end, HOST))
    query = hubstore.DayQuery(day_bounds(first, last, tz), hosts.remote)  # summed in SQL
    if days:
        daily.append(hubstore.daily(conn, query))
    users.append(hubstore.user_daily(conn, query))
    hourly += [hubstore.hourly(conn, host, start, end, HOST) for host in hosts.remote
               if end > start]  # fmt: skip
    return (hubstore.combine(daily, ("day", "gpu")),
            hubstore.combine(users, ("day", "gpu", "user")),
            hubstore.combine(hourly, ("hour", "gpu")))  # fmt: skip


def _one_host(conn: Connection, mem: Connection, host: int, span: tuple, tz: ZoneInfo) -> None:
    first, last, start, end = span
    mem.executemany(
        "INSERT INTO gpus (id, uuid, idx, name, pci_bus_id, memory_total_mib, first_seen, "
        "last_seen) VALUES (?,?,?,?,?,?,0,?)",
        hubstore.gpu_rows(conn, host),
    )
    query = hubstore.DayQuery(day_bounds(first, last, tz), [host], gpu=None)
    hours = hubstore.hourly(conn, host, start, end)
    _fill(mem, hubstore.daily(conn, query), hubstore.user_daily(conn, query), hours)


def _fill(mem: Connection, days: Iterable[Mapping], users: Iterable[Mapping],
          hours: Iterable[Mapping]) -> None:  # fmt: skip
    names = ", ".join(f":{f}" for f in DAILY_FIELDS)
    mem.executemany(f"INSERT INTO daily ({', '.join(DAILY_FIELDS)}) VALUES ({names})", days)
    mem.executemany(
        "INSERT INTO user_daily VALUES (:day, :gpu, :user, :gpu_seconds, :peak_mem_mib)", users
    )
    cols = (*HOURLY_FIELDS, "process_rows")
    mem.executemany(
        f"INSERT INTO hourly ({', '.join(cols)}) VALUES ({', '.join(':' + c for c in cols)})",
        ({**h, "process_rows": 0} for h in hours),
    )
