"""The sources a hub's views read (api.source.Source): one remote host's rows, rebuilt from the
hours it sent, or every host's summed, and `HostSources`, which picks one for a query's `host`.

Rows are read for exactly the days or hours a view asks for, in the hub's GPUPULSE_TZ, so a
host's graph is drawn by the same code from the same kind of rows as on the host itself.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date
from functools import cached_property
from typing import Any
from zoneinfo import ZoneInfo

from api.gpus import GpuRef
from api.hub.hosts import ALL_HOSTS, Hosts, choose
from api.source import LocalSource, Source
from api.svg_cache import RenderCache
from store import hub as hubstore
from store.aggregate import day_bounds
from store.db import Connection
from store.rollups import HOST, daily_rows, data_version, hourly_rows, user_daily_rows
from store.usage import Span, user_days_of


class HubRows:
    """What both hub sources share: whose rows they are, their version, and users' days."""

    def __init__(self, conn: Connection, hosts: Hosts, tz: ZoneInfo) -> None:
        self.conn, self.hosts, self.tz = conn, hosts, tz

    def host_name(self) -> str:
        """The host's name, or "all hosts"."""
        return self.hosts.name

    def data_version(self) -> int:
        """The local roll-ups' version plus the hub's: both only ever grow."""
        return self._version

    @cached_property
    def _version(self) -> int:
        return data_version(self.conn) + hubstore.hub_version(self.conn)

    def user_days(self, span: Span) -> list[tuple[str, str, float]]:
        """By store.usage's host-level rule, over the per-user rows."""
        return user_days_of(self.user_daily(span.first.isoformat(), span.last.isoformat()))

    def idle_harvest(self, span: Span, tz: ZoneInfo) -> list[dict]:
        """None: idle runs stay on the host that ran them."""
        return []

    def workload_users(self, span: Span) -> dict[str, dict[str, float]]:
        """None: workloads stay on the host (pushes carry users' GPU time)."""
        return {}

    def user_day_extras(self, span: Span) -> list[dict] | None:
        """None: held idle and energy per user stay on the host (pushes carry GPU time)."""
        return None

    def user_daily(self, first: str, last: str, user: str | None = None) -> list[dict]:
        """Per-user rows; each source reads its own."""
        raise NotImplementedError

    def _days(self, first: str, last: str, gpu: int | None) -> hubstore.DayQuery:
        """The hub's query for the local days first..last of these hosts."""
        days = day_bounds(date.fromisoformat(first), date.fromisoformat(last), self.tz)
        return hubstore.DayQuery(days, self.hosts.remote, gpu)


class HostSource(HubRows):
    """One remote host's rows."""

    @property
    def host(self) -> int:
        """The host's id on the hub."""
        return self.hosts.remote[0]

    def gpus(self) -> list[GpuRef]:
        """The GPUs the host's hours named."""
        rows = hubstore.gpu_rows(self.conn, self.host)
        return [GpuRef(gid, idx, uuid, name) for gid, uuid, idx, name, *_ in rows]

    def daily(self, first: str, last: str, gpu: int = HOST) -> list[dict]:
        """Days built from the host's hours of that GPU (or of the whole host)."""
        return hubstore.daily(self.conn, self._days(first, last, gpu))

    def hourly(self, start: int, end: int, gpu: int | None = None) -> list[dict]:
        """The host's hours."""
        return hubstore.hourly(self.conn, self.host, start, end, gpu)

    def user_daily(self, first: str, last: str, user: str | None = None) -> list[dict]:
        """Users' days built from the host's hours."""
        rows = hubstore.user_daily(self.conn, self._days(first, last, None))
        return rows if user is None else [r for r in rows if r["user"] == user]


class FleetSource(HubRows):
    """Every host's rows summed per day or hour, the local host's included: whole-host rows
    only (GPU ids repeat across hosts). Sums are cached until either version moves."""

    def __init__(self, conn: Connection, hosts: Hosts, tz: ZoneInfo, cache: RenderCache) -> None:
        super().__init__(conn, hosts, tz)
        self.cache = cache

    def gpus(self) -> list[GpuRef]:
        """None: only the whole hosts add up."""
        return []

    def daily(self, first: str, last: str, gpu: int = HOST) -> list[dict]:
        """The hosts' days summed."""
        if gpu != HOST:
            return []
        return self._cached(("daily", first, last), lambda: self._daily(first, last))

    def hourly(self, start: int, end: int, gpu: int | None = None) -> list[dict]:
        """The hosts' hours summed."""
        if gpu not in (None, HOST):
            return []
        return self._cached(("hourly", start, end), lambda: self._hourly(start, end))

    def user_daily(self, first: str, last: str, user: str | None = None) -> list[dict]:
        """Each user's days on all the hosts summed."""
        rows = self._cached(("user_daily", first, last), lambda: self._users(first, last))
        return rows if user is None else [r for r in rows if r["user"] == user]

    def _cached(self, what: tuple, read: Callable[[], list[dict]]) -> list[dict]:
        """Rows from the cache, or read and kept; copies, so no view changes the cache's."""
        key = (*what, self.hosts, self.tz.key, self._version)
        rows = self.cache.get(key)
        if rows is None:
            rows = read()
            self.cache.put(key, rows)
        return [dict(row) for row in rows]

    def _daily(self, first: str, last: str) -> list[dict]:
        local = daily_rows(self.conn, first, last, HOST) if self.hosts.local else []
        remote = hubstore.daily(self.conn, self._days(first, last, HOST))
        return hubstore.combine([local, remote], ("day", "gpu"))

    def _hourly(self, start: int, end: int) -> list[dict]:
        local = hourly_rows(self.conn, start, end, HOST) if self.hosts.local else []
        remote = hubstore.fleet_hourly(self.conn, self.hosts.remote, start, end)
        return hubstore.combine([local, remote], ("hour", "gpu"))

    def _users(self, first: str, last: str) -> list[dict]:
        rows = user_daily_rows(self.conn, first, last) if self.hosts.local else []
        local = [r for r in rows if r["gpu"] == HOST]
        remote = hubstore.user_daily(self.conn, self._days(first, last, HOST))
        return hubstore.combine([local, remote], ("day", "gpu", "user"))


class HostSources:
    """The hub's choose_source (api.features): which rows a query's `host` names."""

    def __init__(self, fleet_rows: RenderCache, tz: ZoneInfo) -> None:
        self.fleet_rows, self.tz = fleet_rows, tz

    def __call__(self, conn: Connection, query: Mapping[str, Any], fleet: bool) -> Source:
        """This host's tables, one hub host's rows, or every host's summed (`fleet` views
        count every host's when the query names none)."""
        raw = query.get("host")
        if raw is None and fleet and hubstore.host_ids(conn):
            raw = ALL_HOSTS
        hosts = choose(conn, raw)
        if hosts is None:
            return LocalSource(conn)
        if not hosts.local and len(hosts.remote) == 1:
            return HostSource(conn, hosts, self.tz)
        return FleetSource(conn, hosts, self.tz, self.fleet_rows)
