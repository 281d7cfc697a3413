"""A host and a hub, each a real gunicorn on loopback with its own database file, and the
host's scheduler pushing between them through injected faults: dropped connections (before
and after the hub stored the hour), 5xx, duplicate deliveries, hours sent out of order and
old bodies replayed late. The hub ends with every hour exactly once, and its graph and
daily numbers for the host equal the host's own."""

from __future__ import annotations

import json
import random
import time
import urllib.request
from dataclasses import replace

import pytest

from api.activity import EMPTY_NOTE
from scheduler import push, status_push
from scheduler.push import Reply, TransportError, http_transport
from scheduler.settings import load
from store import open_db
from store.db import atomic
from store.rollups import DAILY_FIELDS
from tests.support.hub import HOST, TZ, new_token, scheduler_env
from tests.support.servers import start_gunicorn, stop

pytestmark = pytest.mark.slow
NAMES = ("day", "scope", "uuid", "gpu_index")
PLAN = (
    "ok",
    "drop_before",
    "ok",
    "5xx_after",
    "duplicate",
    "drop_after",
    "ok",
    "5xx_before",
    "ok",
    "ok",
    "slow_429",
)


class Faults:
    """The real transport with a fault from PLAN injected on each call, in turn."""

    def __init__(self) -> None:
        self.calls = 0
        self.payloads = 0  # attempts per hour: an array of payloads is one call, n attempts
        self.delivered: list[bytes] = []

    def __call__(self, url, body, headers, timeout) -> Reply:
        action = PLAN[self.calls % len(PLAN)]
        self.calls += 1
        sent = json.loads(body)
        self.payloads += len(sent) if isinstance(sent, list) else 1
        if action == "drop_before":
            raise TransportError("connection error: reset by peer (injected)")
        if action == "5xx_before":
            return Reply(503, {}, b"injected")
        if action == "slow_429":
            return Reply(429, {"retry-after": "30"}, b"injected")
        reply = http_transport(url, body, headers, timeout)
        self.delivered.append(body)
        if action == "duplicate":
            self.delivered.append(body)
            http_transport(url, body, headers, timeout)
        if action == "drop_after":  # stored by the hub; the answer never reached the host
            raise TransportError("connection error: reset after sending (injected)")
        if action == "5xx_after":
            return Reply(502, {}, b"bad gateway (injected)")
        return reply


def get(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=10) as reply:
        return reply.status, reply.read()


@pytest.fixture
def servers(fleet, hub_db):
    host, host_url = start_gunicorn(fleet.path, GPUPULSE_TZ=TZ)
    hub, hub_url = start_gunicorn(hub_db, GPUPULSE_TZ=TZ, GPUPULSE_HUB_RATE="1000")
    yield host_url, hub_url
    logs = stop(host) + stop(hub)
    assert "Traceback" not in logs, logs


def deliver(fleet, settings, faults: Faults) -> None:
    """Some hours first in random order (as --resend would), then the loop, oldest first."""
    clock = iter(range(10**9, 10**10, 10**4))  # every backoff has passed by the next call
    tick = lambda: float(next(clock))  # noqa: E731
    hours = fleet.hours()
    for hour in random.Random(3).sample(hours, 8):
        push.send(fleet.conn, settings, hour, transport=faults, rand=lambda: 0.0, clock=tick)
    for _ in range(400):
        pending = fleet.conn.execute("SELECT count(*) FROM push_queue WHERE state = 'pending'")
        if pending.fetchone()[0] == 0:
            return
        push.run(fleet.conn, settings, tick(), transport=faults, rand=lambda: 0.0, clock=tick)
    pytest.fail("the backlog did not drain")


@pytest.mark.parametrize("per_request", [1, 12])  # Targoman's one hour per POST; arrays
def test_every_hour_arrives_exactly_once_and_the_graphs_match(fleet, hub_db, servers, per_request):
    host_url, hub_url = servers
    settings = replace(
        fleet.settings,
        push_url=hub_url + "/api/v1/ingest",
        push_token=new_token(hub_db),
        push_per_request=per_request,
    )
    faults = Faults()
    deliver(fleet, settings, faults)
    for body in reversed(faults.delivered[:20]):  # old deliveries replayed late
        sent = json.loads(body)
        one = None if isinstance(sent, list) else sent
        http_transport(settings.push_url, body, push.headers(settings, one), 5)

    states = fleet.conn.execute("SELECT state, count(*) FROM push_queue GROUP BY 1").fetchall()
    assert states == [("sent", len(fleet.hours()))]
    attempts = fleet.conn.execute("SELECT count(*) FROM push_ledger").fetchone()[0]
    assert attempts == faults.payloads and faults.payloads > len(fleet.hours()) + 8
    if per_request > 1:  # most hours went in arrays: far fewer requests than hours
        assert faults.calls < len(fleet.hours()) / 2

    hub = open_db(hub_db, write=True)
    stored = [h for (h,) in hub.execute("SELECT hour FROM hub_hourly WHERE gpu = 0 ORDER BY 1")]
    per_hour = hub.execute("SELECT count(*) FROM hub_hourly GROUP BY hour").fetchall()
    receipts = hub.execute("SELECT count(*) FROM hub_receipts").fetchone()[0]
    hub.close()
    assert stored == fleet.hours() and receipts == len(stored)
    assert {n for (n,) in per_hour} == {5}  # the host row and four GPUs, once each

    span = "from=2026-02-28&to=2026-03-04&gpu=all"
    mine = json.loads(get(f"{host_url}/api/v1/days?{span}")[1])["days"]
    theirs = json.loads(get(f"{hub_url}/api/v1/days?{span}&host={HOST}")[1])["days"]
    assert len(mine) == len(theirs) == 3 * 5  # 3 local days (Berlin), host + 4 GPUs
    for a, b in zip(mine, theirs, strict=True):
        assert [a[k] for k in NAMES] == [b[k] for k in NAMES]
        for key in DAILY_FIELDS[2:]:  # every figure after (day, gpu)
            assert b[key] == pytest.approx(a[key], rel=1e-12), (a["day"], a["uuid"], key)

    for query in (
        "",
        "metric=gpu_hours",
        "metric=utilization",
        "metric=energy&theme=dark",
        "user=alice",
        "metric=gpu_hours&user=bob",
        "gpu=2",
        "scale=fixed",
    ):
        host_svg = get(f"{host_url}/gpu-activity.svg?{query}")[1]
        hub_svg = get(f"{hub_url}/gpu-activity.svg?{query}&host={HOST}")[1]
        assert hub_svg == host_svg, query
        assert b"on box1" in hub_svg and EMPTY_NOTE.encode() not in hub_svg


def test_status_snapshots_reach_the_hub(fleet, hub_db, servers):
    _, hub_url = servers
    with atomic(fleet.conn):
        fleet.conn.execute(
            "INSERT INTO reservations (host, gpu, name, comment, created, until) "
            "VALUES ('', 2, 'dana', 'thesis run', 0, NULL)"
        )
    env = scheduler_env(
        fleet.path,
        fleet.path.parent,
        GPUPULSE_PUSH_URL=f"{hub_url}/api/v1/ingest",
        GPUPULSE_PUSH_TOKEN=new_token(hub_db),
    )
    settings = load(env)
    assert settings.status_url == f"{hub_url}/api/v1/status"
    assert status_push.run(fleet.conn, settings, time.time()) == {"sent": True, "status": 200}
    lines = json.loads(get(f"{hub_url}/api/v1/hosts")[1])["hosts"]
    (line,) = [h for h in lines if h["host"] == HOST]
    assert (line["gpus"], line["reserved"], line["stale"]) == (4, 1, False)

    refused = status_push.run(fleet.conn, replace(settings, push_token="gpp_1_nope"), time.time())
    assert refused["sent"] is False and refused["status"] == 401
