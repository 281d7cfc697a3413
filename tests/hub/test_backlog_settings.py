"""A backlog queued under one contract number and host name, sent after both changed, to a
real gunicorn hub: every hour goes out under the values in force when it is sent."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from scheduler import push
from store import open_db
from tests.support.hub import NOW, new_token
from tests.support.servers import start_gunicorn, stop

pytestmark = pytest.mark.slow


def test_a_queued_backlog_goes_out_under_the_current_contract_and_host(fleet, hub_db):
    queued = [json.loads(fleet.body(hour)) for hour in fleet.hours()]
    assert {(p["host"], p["contract_number"]) for p in queued} == {("box1", "C-7")}
    proc, url = start_gunicorn(
        hub_db, GPUPULSE_HUB_CONTRACT_NUMBER="C-new", GPUPULSE_HUB_RATE="1000"
    )
    try:
        settings = replace(
            fleet.settings,
            push_url=url + "/api/v1/ingest",
            push_token=new_token(hub_db, "renamed-box"),
            contract_number="C-new",
            host_id="renamed-box",
        )
        for _ in range(10):
            push.run(fleet.conn, settings, NOW)
    finally:
        logs = stop(proc)
    assert "Traceback" not in logs
    states = fleet.conn.execute("SELECT state, count(*) FROM push_queue GROUP BY 1").fetchall()
    assert states == [("sent", len(queued))]
    hub = open_db(hub_db)
    stored = hub.execute(
        "SELECT h.name, count(*) FROM hub_receipts r JOIN hub_hosts h ON h.id = r.host GROUP BY 1"
    ).fetchall()
    hub.close()
    assert stored == [("renamed-box", len(queued))]
