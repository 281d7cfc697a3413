"""Pull mode: a hub's scheduler polls hosts that cannot reach it.

Targets come from GPUPULSE_PULL_HOSTS (`name=http://box1:8080,http://box2:8080`; a bare URL
is named by its host part) and from a Consul catalog service (GPUPULSE_PULL_CONSUL_URL +
GPUPULSE_PULL_CONSUL_SERVICE: `GET /v1/catalog/service/NAME`, as the older multi-host page
did; a node's ServiceMeta `host_id` names it, else its Node name).

Each poll reads a host's `/api/v1/gpus` (its live snapshot), `/api/v1/hours` (hourly
roll-ups since the newest hour stored, which is fetched again because it may have been
incomplete) and, where the lab features exist, `/api/v1/reservations`. Hosts are polled
concurrently, each request with GPUPULSE_PULL_TIMEOUT; a host that fails or does not answer
in time is marked stale and never holds up the others. Only this thread writes the database.

Pulled hours are Targoman-style (means, no exact sums or per-user time), so a pulled host's
average utilization per day is weighted by samples and its users' time is not known.
"""

from __future__ import annotations

import json
import logging
import urllib.parse
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import UTC, timedelta

from protocol.fields import Invalid
from protocol.hourly import entry
from protocol.ingest import check_hourly
from protocol.limits import ANSWERED_SPAN_DAYS
from protocol.snapshot import check_snapshot, make_snapshot
from scheduler.push import Transport, TransportError, http_transport
from scheduler.settings import Settings
from store import hub as hubstore
from store.aggregate import day_of
from store.db import Connection, atomic
from store.rollups import HOST

log = logging.getLogger(__name__)
ACCEPT = {"Accept": "application/json"}
PULL_SKEW_S = 300  # how far a polled host's clock may run ahead of the hub's


@dataclass(frozen=True)
class Target:
    """A host to poll: its name on the hub and its api's base URL."""

    name: str
    url: str


class PollError(Exception):
    """A host's answer we cannot use; the message says which request and why."""


def static_targets(spec: str) -> list[Target]:
    """Targets from GPUPULSE_PULL_HOSTS: `name=url` or bare URLs, comma-separated."""
    out = []
    for item in filter(None, (part.strip() for part in spec.split(","))):
        name, sep, url = item.partition("=")
        if not sep or "://" in name:
            url, name = item, urllib.parse.urlsplit(item).hostname or item
        out.append(Target(name.strip(), url.strip().rstrip("/")))
    return out


def consul_targets(settings: Settings, transport: Transport) -> list[Target]:
    """Targets from a Consul catalog service; [] (logged) when Consul cannot be read."""
    url = (
        f"{settings.pull_consul_url.rstrip('/')}/v1/catalog/service/"
        f"{urllib.parse.quote(settings.pull_consul_service)}"
    )
    try:
        nodes = get_json(transport, url, settings.pull_timeout_s)
    except PollError as problem:
        log.warning("pull: consul: %s", problem)
        return []
    out = []
    for node in nodes if isinstance(nodes, list) else []:
        address = node.get("ServiceAddress") or node.get("Address")
        name = (node.get("ServiceMeta") or {}).get("host_id") or node.get("Node") or address
        if address and node.get("ServicePort"):
            host = f"[{address}]" if ":" in address else address
            out.append(Target(str(name), f"http://{host}:{node['ServicePort']}"))
    return out


def get_json(transport: Transport, url: str, timeout: float):
    """GET a JSON document; PollError when there is no answer, a non-200 or bad JSON."""
    try:
        reply = transport(url, None, ACCEPT, timeout)
    except TransportError as problem:
        raise PollError(f"{url}: {problem}") from None
    if reply.status != 200:
        raise PollError(f"{url}: HTTP {reply.status}")
    try:
        return json.loads(reply.body)
    except ValueError:
        raise PollError(f"{url}: not JSON") from None


@dataclass
class Polled:
    """What one host answered: its GPUs, reservations and hourly rows."""

    target: Target
    gpus: list
    reservations: list
    hours: list


def poll(target: Target, since: int, now: float, timeout: float, transport: Transport) -> Polled:
    """Read one host (runs in a worker thread; touches no database)."""
    gpus = get_json(transport, f"{target.url}/api/v1/gpus", timeout).get("gpus", [])
    last = day_of(now, UTC) + timedelta(days=1)
    # A host silent for longer than any api answers in one go: read what a request may.
    first = max(day_of(since, UTC) - timedelta(days=1), last - timedelta(ANSWERED_SPAN_DAYS - 1))
    url = f"{target.url}/api/v1/hours?from={first}&to={last}"
    hours = get_json(transport, url, timeout).get("hours", [])
    try:
        found = get_json(transport, f"{target.url}/api/v1/reservations", timeout)
        reservations = found.get("reservations", [])
    except PollError:
        reservations = []  # a host without the lab features
    return Polled(target, gpus, reservations, hours)


def host_row(row: dict) -> bool:
    """The whole host's hour: `scope` "host" (a host on an older version: its gpu 0)."""
    return row["scope"] == "host" if "scope" in row else row.get("gpu") == HOST


def payloads(polled: Polled, since: int, now: float) -> list[dict]:
    """The polled hours as ingest payloads (the same shape the scheduler pushes)."""
    names = {g.get("uuid"): g for g in polled.gpus}
    by_hour: dict[int, dict] = {}
    for row in polled.hours:
        if row["hour"] < since or row["hour"] + 3600 > now:
            continue  # already stored, or not over yet
        hour = by_hour.setdefault(
            row["hour"], {"host": polled.target.name, "hour": row["hour"], "gpus": []}
        )
        if host_row(row):
            hour["host_summary"] = {**entry(row), "gpu_active_seconds": row["gpu_active_s"]}
        else:
            uuid = row.get("uuid", row.get("gpu_uuid"))
            gpu = names.get(uuid, {})
            hour["gpus"].append(
                {
                    "device_id": uuid or f"gpu-{row.get('gpu_index', row.get('gpu'))}",
                    "index": row.get("gpu_index"),
                    "name": gpu.get("name"),
                    "memory_total_mb": gpu.get("memory_total_mib"),
                    **entry(row),
                }
            )
    return [p for _, p in sorted(by_hour.items()) if "host_summary" in p]


def snapshot(polled: Polled, settings: Settings, now: float) -> dict:
    """The polled state as a status snapshot (the shape a host's status push sends)."""
    active = [r for r in polled.reservations if r.get("active", True)]
    return make_snapshot(polled.target.name, now, settings.pull_every_s, polled.gpus, active)


def store(conn: Connection, polled: Polled, settings: Settings, since: int, now: float) -> int:
    """Validate and write one host's answer like an ingest; return the hours stored."""
    hours = payloads(polled, since, now)
    snap = check_snapshot(snapshot(polled, settings, now), now, PULL_SKEW_S)
    for payload in hours:
        check_hourly(payload, now, 0)
    rows = [hubstore.hour_rows(payload) for payload in hours]
    with atomic(conn):
        host = hubstore.pull_host(conn, polled.target.name, now)
        hubstore.save_hours(conn, host, rows, now)
        hubstore.save_status(conn, host, snap, settings.pull_every_s, now)
    return len(hours)


def newest_hour(conn: Connection, name: str, settings: Settings, now: float) -> int:
    """The hour to fetch from: the newest stored for the host, else the backfill start."""
    row = conn.execute(
        "SELECT max(hour) FROM hub_hourly h JOIN hub_hosts n ON n.id = h.host WHERE n.name = ?",
        (name,),
    ).fetchone()
    backfill = int(now) // 3600 * 3600 - settings.pull_backfill_days * 86400
    return backfill if row[0] is None else row[0]


def run(
    conn: Connection,
    settings: Settings,
    now: float,
    *,
    transport: Transport = http_transport,
    clock: Callable[[], float] | None = None,
) -> dict:
    """The scheduled job: poll every target at once; return what each did."""
    if not settings.pulling:
        return {}
    targets = static_targets(settings.pull_hosts)
    if settings.pull_consul_url:
        targets += consul_targets(settings, transport)
    since = {t.name: newest_hour(conn, t.name, settings, now) for t in targets}
    # Each host's requests run one after another, so three timeouts bound a host.
    deadline = settings.pull_timeout_s * 3 + 1
    pool = ThreadPoolExecutor(max_workers=max(1, min(32, len(targets))))
    futures = {
        pool.submit(poll, t, since[t.name], now, settings.pull_timeout_s, transport): t
        for t in targets
    }
    done, _ = wait(futures, timeout=deadline)
    pool.shutdown(wait=False, cancel_futures=True)  # a hung host must not hold the loop
    return {t.name: _finish(conn, settings, t, futures, done, since, now) for t in targets}


def _finish(conn, settings, target: Target, futures, done, since, now) -> str:
    future = next(f for f, t in futures.items() if t is target)
    try:
        if future not in done:
            raise PollError(f"{target.url}: no answer within {settings.pull_timeout_s * 3:g} s")
        stored = store(conn, future.result(), settings, since[target.name], now)
        return f"ok: {stored} hour(s)"
    except PollError as problem:
        error = str(problem)
    except (Invalid, KeyError, TypeError, AttributeError, ValueError) as problem:
        error = f"{target.url}: unusable answer: {type(problem).__name__}: {problem}"
    log.warning("pull %s: %s", target.name, error)
    with atomic(conn):
        host = hubstore.pull_host(conn, target.name, now)
        hubstore.mark_failed(conn, host, error, settings.pull_every_s)
    return f"stale: {error}"
