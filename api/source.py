"""Where a view's roll-ups come from: a Source. Views read this host's tables through
LocalSource; a feature may answer a query with another source (the hub: one remote host's
rows, or every host's summed), chosen through api.features."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from api.gpus import GpuRef, host_name, known_gpus
from store import aggregate, usage, workloads
from store.db import Connection
from store.rollups import HOST, daily_rows, data_version, hourly_rows, user_daily_rows
from store.usage import Span


class Source(Protocol):
    """The roll-ups a view reads, as rows shaped like this host's tables."""

    def host_name(self) -> str:
        """Whose rows these are, as a view's title names them."""
        ...

    def gpus(self) -> list[GpuRef]:
        """Every GPU the rows name, newest sighting first within an index."""
        ...

    def data_version(self) -> int:
        """A number that grows whenever the rows change (rendered views are cached on it)."""
        ...

    def daily(self, first: str, last: str, gpu: int = HOST) -> list[dict]:
        """Daily rows (store.rollups.DAILY_FIELDS) of one GPU or the host, first..last."""
        ...

    def hourly(self, start: int, end: int, gpu: int | None = None) -> list[dict]:
        """Hourly rows (store.rollups.HOURLY_FIELDS), start <= hour < end; None: every GPU."""
        ...

    def user_daily(self, first: str, last: str, user: str | None = None) -> list[dict]:
        """Per-user rows (day, gpu, user, gpu_seconds, peak_mem_mib), first..last."""
        ...

    def user_days(self, span: Span) -> list[tuple[str, str, float]]:
        """(day, user, GPU-seconds on the whole host) by store.usage's host-level rule."""
        ...

    def idle_harvest(self, span: Span, tz: ZoneInfo) -> list[dict]:
        """GPU-seconds idle-runner jobs harvested per day (store.aggregate.idle_harvest)."""
        ...

    def workload_users(self, span: Span) -> dict[str, dict[str, float]]:
        """{workload: {user: GPU-seconds}} (store.workloads; '' = no workload)."""
        ...

    def user_day_extras(self, span: Span) -> list[dict]:
        """Per-user rows (day, gpu, user, store.usage.EXTRA_FIGURES: held idle, ...)."""
        ...


# Which source answers a query: (this host's connection, the parsed query, whether the view
# counts across hosts, as quotas do) -> the source.
ChooseSource = Callable[[Connection, Mapping[str, Any], bool], Source]


class LocalSource:
    """This host's own tables."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def host_name(self) -> str:
        """The collector's recorded host id."""
        return host_name(self.conn)

    def gpus(self) -> list[GpuRef]:
        """Every GPU the collector recorded."""
        return known_gpus(self.conn)

    def data_version(self) -> int:
        """The counter the scheduler bumps with every roll-up write."""
        return data_version(self.conn)

    def daily(self, first: str, last: str, gpu: int = HOST) -> list[dict]:
        """The daily table's rows."""
        return daily_rows(self.conn, first, last, gpu)

    def hourly(self, start: int, end: int, gpu: int | None = None) -> list[dict]:
        """The hourly table's rows."""
        return hourly_rows(self.conn, start, end, gpu)

    def user_daily(self, first: str, last: str, user: str | None = None) -> list[dict]:
        """The user_daily table's rows."""
        return user_daily_rows(self.conn, first, last, user)

    def user_days(self, span: Span) -> list[tuple[str, str, float]]:
        """Summed in SQL."""
        return list(usage.user_days(self.conn, span))

    def idle_harvest(self, span: Span, tz: ZoneInfo) -> list[dict]:
        """From the idle runner's runs on this host."""
        return aggregate.idle_harvest(self.conn, span.first.isoformat(), span.last.isoformat(), tz)

    def workload_users(self, span: Span) -> dict[str, dict[str, float]]:
        """From this host's workload_daily."""
        return workloads.workload_users(self.conn, span)

    def user_day_extras(self, span: Span) -> list[dict]:
        """From this host's user_daily."""
        return usage.user_day_extras(self.conn, span)


def local_source(conn: Connection, query: Mapping[str, Any], fleet: bool) -> Source:
    """Every query reads this host's tables (an api without the hub)."""
    return LocalSource(conn)
