"""Versions of one host-hour against a real gunicorn hub: the newest built wins, whatever
order they arrive in, and an older one replayed late is answered 200 with the current uid
(so its sender stops retrying) and changes nothing."""

from __future__ import annotations

import json
import urllib.request

import pytest

from scheduler import push
from store import open_db
from tests.support.hub import new_token
from tests.support.servers import start_gunicorn, stop

pytestmark = pytest.mark.slow


def send(url: str, token: str, payload: dict) -> dict:
    body = json.dumps(payload).encode()
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.status == 200
        return json.loads(answer.read())


def gpu_samples(db, hour: int) -> list[int]:
    conn = open_db(db)
    try:
        rows = conn.execute("SELECT samples FROM hub_hourly WHERE hour = ? ORDER BY gpu", (hour,))
        return [n for (n,) in rows]
    finally:
        conn.close()


def test_an_older_version_replayed_late_keeps_the_newer_one(fleet, hub_db):
    hour = fleet.hours()[5]
    old = json.loads(fleet.body(hour))
    assert isinstance(old["built_at"], float | int)
    new = json.loads(fleet.body(hour))
    new["built_at"] = old["built_at"] + 60  # rebuilt after late samples came in
    for entry in (new["host_summary"], *new["gpus"]):
        entry["samples"] += 1
    proc, base = start_gunicorn(hub_db, GPUPULSE_HUB_RATE="1000")
    try:
        url, token = base + "/api/v1/ingest", new_token(hub_db)
        first = send(url, token, old)["uid"]
        current = send(url, token, new)["uid"]
        assert current != first
        replay = send(url, token, old)
        assert replay == {"uid": current, "params": old}  # Targoman's check passes
        assert gpu_samples(hub_db, hour) == [
            e["samples"] for e in (new["host_summary"], *new["gpus"])
        ]
        assert send(url, token, new)["uid"] == current  # a retry of the newest: same uid
        outcome = push.judge(push.Reply(200, {}, json.dumps(replay).encode()), old, 0)
        assert outcome.success and outcome.uid == current
    finally:
        logs = stop(proc)
    assert "Traceback" not in logs
    conn = open_db(hub_db)
    receipts = conn.execute("SELECT uid, built_at FROM hub_receipts").fetchall()
    conn.close()
    assert receipts == [(current, new["built_at"])]
