"""Push against a fake central server on loopback that misbehaves in every listed way."""

from __future__ import annotations

import json
import socket
import struct
import time
from datetime import date

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Response

from scheduler import ledger, push, rollup
from scheduler.settings import load
from store import aggregate
from tests.support import fleet


class Central:
    """Scripted receiver: faults first, then accept; de-duplicates by idempotency key."""

    def __init__(self, script: list[str]):
        self.script = list(script)
        self.requests: list[dict] = []
        self.accepted: dict[str, int] = {}
        self.bodies: dict[str, dict] = {}

    def __call__(self, request):
        body = json.loads(request.get_data())
        self.requests.append({"headers": dict(request.headers), "body": body})
        action = self.script.pop(0) if self.script else "accept"
        if action == "400-arrays":
            action = "400" if isinstance(body, list) else "accept"
        if action == "500":
            return Response("boom", status=500)
        if action == "429":
            return Response("slow down", status=429, headers={"Retry-After": "120"})
        if action == "400":
            return Response("bad contract", status=400)
        if action == "stall":
            time.sleep(1.0)  # past the client's 0.5 s timeout
            return Response("{}", status=200)
        if action == "reset":
            sock = request.environ["werkzeug.socket"]
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.shutdown(socket.SHUT_RDWR)  # the client sees the connection drop mid-request
            return Response("", status=200)
        if action == "wrong-params":
            return Response(json.dumps({"uid": "x", "params": {**body, "hour": 0}}), status=200)
        for payload in body if isinstance(body, list) else [body]:
            key = payload["idempotency_key"]
            self.accepted[key] = self.accepted.get(key, 0) + 1
            self.bodies[key] = payload
        if isinstance(body, list):
            uids = [f"u-{p['idempotency_key']}" for p in body]
            return Response(json.dumps({"uids": uids, "params": body}), status=200)
        return Response(
            json.dumps({"uid": f"u-{key}", "params": body}),
            status=200,
            content_type="application/json",
        )


@pytest.fixture
def server():
    srv = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    srv.start()
    yield srv
    srv.clear()
    srv.stop()


def online(settings, server, **extra):
    env = {
        "GPUPULSE_DB": settings.db,
        "GPUPULSE_TZ": "Europe/Berlin",
        "GPUPULSE_HOST_ID": "host-a",
        "GPUPULSE_CONTRACT_NUMBER": "C-42",
        "GPUPULSE_PUSH_TIMEOUT": "0.5",
        "GPUPULSE_PUSH_TOKEN": "tok",
        "GPUPULSE_PUSH_URL": server.url_for("/api/v1/ingest"),
        "GPUPULSE_PUSH_PER_REQUEST": "1",
        **extra,
    }  # Targoman: one per POST
    return load(env)


def hours_of_data(conn, settings, start, hours):
    gpus = fleet.add_gpus(conn, 2)
    fleet.insert(conn, *fleet.generate(gpus, start, start + hours * 3600, 60))
    now = start + hours * 3600 + 3600
    rollup.run(conn, settings, now)
    return now


def drain(conn, settings, now, rand=lambda: 0.5, limit=200):
    """Run the push job on a fake clock, jumping to each backoff deadline."""
    clock = [float(now)]
    for _ in range(limit):
        push.run(conn, settings, clock[0], rand=rand, clock=lambda: clock[0])
        oldest = conn.execute(
            "SELECT next_at FROM push_queue WHERE state = 'pending' ORDER BY hour LIMIT 1"
        ).fetchone()
        if oldest is None:
            return clock[0]
        clock[0] = max(clock[0] + 1, oldest[0])
    raise AssertionError("queue never drained")


def test_every_fault_then_each_hour_arrives_once(conn, settings, server):
    start = aggregate.day_start(date(2026, 3, 28), settings.tz)
    now = hours_of_data(conn, settings, start, 6)
    central = Central(["500", "429", "stall", "reset", "wrong-params"])
    server.expect_request("/api/v1/ingest", method="POST").respond_with_handler(central)
    cfg = online(settings, server)
    drain(conn, cfg, now)
    hours = [h for (h,) in conn.execute("SELECT hour FROM hourly WHERE gpu = 0 ORDER BY hour")]
    assert len(hours) == 6
    assert sorted(central.accepted) == sorted(f"host-a/{rollup_iso(h)}" for h in hours)
    assert set(central.accepted.values()) == {1}  # exactly once after de-dup by key
    attempts = ledger.attempts(conn)
    assert len(attempts) == len(central.requests) == 5 + 6
    first = [a for a in attempts if a["hour"] == hours[0]]
    assert [a["success"] for a in first] == [0, 0, 0, 0, 0, 1]
    assert [a["status"] for a in first] == [500, 429, None, None, 200, 200]
    assert "timeout" in first[2]["error"] and "connection" in first[3]["error"]
    assert first[4]["error"] == "Server response data does not match sent data"
    assert first[2]["ts"] - first[1]["ts"] >= 120  # Retry-After honoured
    headers = central.requests[0]["headers"]
    assert headers["X-Contract-Number"] == "C-42"
    assert headers["Authorization"] == "Bearer tok"
    assert headers["Idempotency-Key"] == central.requests[0]["body"]["idempotency_key"]
    body = central.bodies[f"host-a/{rollup_iso(hours[0])}"]
    assert body["contract_number"] == "C-42" and body["hour"] == hours[0]
    assert {g["device_id"] for g in body["gpus"]} == {"GPU-0000", "GPU-0001"}
    assert all(s["state"] == "sent" for s in ledger.summaries(conn))


def test_client_error_fails_at_once_and_max_attempts_gives_up(conn, settings, server):
    start = aggregate.day_start(date(2026, 3, 28), settings.tz)
    now = hours_of_data(conn, settings, start, 2)
    central = Central(["400"] + ["500"] * 3)
    server.expect_request("/api/v1/ingest").respond_with_handler(central)
    drain(conn, online(settings, server, GPUPULSE_PUSH_MAX_ATTEMPTS="3"), now)
    states = {
        s["hour"]: (s["state"], s["attempts"], s["last_error"]) for s in ledger.summaries(conn)
    }
    first, second = sorted(states)
    assert states[first] == ("failed", 1, "HTTP 400: bad contract")
    assert states[second][:2] == ("failed", 3)
    assert states[second][2].startswith("gave up after 3 attempts")


def test_backoff_is_full_jitter_between_bounds(settings):
    delays = [push.backoff(settings, n, lambda: 1.0) for n in range(1, 12)]
    assert delays[0] == 5 and delays[-1] == 600 and delays == sorted(delays)
    assert push.backoff(settings, 9, lambda: 0.0) == 5


def test_week_offline_then_reconnect_delivers_backlog_oldest_first(conn, settings, server):
    start = aggregate.day_start(date(2026, 3, 23), settings.tz)
    gpus = fleet.add_gpus(conn, 2)
    offline = online(settings, server, GPUPULSE_OFFLINE="1")
    for day in range(7):  # a week of data arriving and rolled up daily, never sent
        lo = start + day * 86400
        fleet.insert(conn, *fleet.generate(gpus, lo, lo + 86400, 300, seed=day))
        rollup.run(conn, offline, lo + 86400 + 600)
        assert push.run(conn, offline, lo + 86400 + 600) == {"sent": 0, "failed": 0, "retry": 0}
    assert not central_requests(server)
    pending = conn.execute("SELECT count(*) FROM push_queue WHERE state='pending'").fetchone()[0]
    assert pending >= 7 * 24 - 1
    central = Central(["500"])
    server.expect_request("/api/v1/ingest").respond_with_handler(central)
    drain(conn, online(settings, server), start + 7 * 86400 + 700)
    sent = [r["body"]["hour"] for r in central.requests[1:]]
    assert sent == sorted(sent) and len(set(sent)) == pending
    assert len(central.accepted) == pending


def test_a_backlog_goes_out_in_arrays_and_each_hour_arrives_once(conn, settings, server):
    start = aggregate.day_start(date(2026, 3, 28), settings.tz)
    now = hours_of_data(conn, settings, start, 30)
    central = Central(["500"])
    server.expect_request("/api/v1/ingest").respond_with_handler(central)
    drain(conn, online(settings, server, GPUPULSE_PUSH_PER_REQUEST="8"), now)
    hours = [h for (h,) in conn.execute("SELECT hour FROM hourly WHERE gpu = 0 ORDER BY hour")]
    assert sorted(central.accepted) == sorted(f"host-a/{rollup_iso(h)}" for h in hours)
    assert set(central.accepted.values()) == {1}
    sizes = [len(r["body"]) for r in central.requests]
    assert sizes == [8, 8, 8, 8, 6]  # the 500 first, then every hour oldest first
    assert all("Idempotency-Key" not in r["headers"] for r in central.requests)
    attempts = ledger.attempts(conn)
    assert len(attempts) == 8 + 30 and sum(a["success"] for a in attempts) == 30
    uids = dict(conn.execute("SELECT hour, uid FROM push_queue"))
    assert all(uids[h] == f"u-host-a/{rollup_iso(h)}" for h in hours)


def test_a_refused_array_is_sent_again_hour_by_hour(conn, settings, server):
    start = aggregate.day_start(date(2026, 3, 28), settings.tz)
    now = hours_of_data(conn, settings, start, 3)
    central = Central(["400-arrays"])  # a receiver that takes one payload per request
    server.expect_request("/api/v1/ingest").respond_with_handler(central)
    counts = push.run(conn, online(settings, server, GPUPULSE_PUSH_PER_REQUEST="10"), now)
    assert counts == {"sent": 3, "failed": 0, "retry": 0}
    assert [isinstance(r["body"], list) for r in central.requests] == [True, False, False, False]
    for summary in ledger.summaries(conn):
        assert summary["state"] == "sent" and summary["attempts"] == 2
    first = [a for a in ledger.attempts(conn) if not a["success"]]
    assert len(first) == 3 and all("sent alone next" in a["error"] for a in first)


def test_a_hub_url_gets_arrays_by_default_and_any_other_url_one_hour_each():
    base = {"GPUPULSE_DB": "/tmp/x.db"}
    hub = load({**base, "GPUPULSE_PUSH_URL": "https://hub.example/api/v1/ingest"})
    other = load({**base, "GPUPULSE_PUSH_URL": "https://monitor.example.org/api/gpu"})
    chosen = load(
        {
            **base,
            "GPUPULSE_PUSH_URL": "https://hub.example/api/v1/ingest",
            "GPUPULSE_PUSH_PER_REQUEST": "7",
        }
    )
    assert (hub.push_per_request, other.push_per_request, chosen.push_per_request) == (50, 1, 7)


def central_requests(server):
    return list(server.log)


def rollup_iso(hour):
    from protocol.timeparse import iso

    return iso(hour)
