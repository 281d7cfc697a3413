"""`host=NAME|all` on the graph and /api/v1/days|hours, in-process over real files."""

from __future__ import annotations

import json

from api.activity import EMPTY_NOTE
from tests.support.hub import HOST, ingest, make_hub, new_token

SPAN = "from=2026-03-01&to=2026-03-03"


def test_all_sums_the_hosts_and_the_default_stays_local(fleet, hub_db):
    client = make_hub(hub_db).test_client()
    ingest(client, fleet, new_token(hub_db), fleet.hours())
    ingest(client, fleet, new_token(hub_db, "box2"), fleet.hours(), "box2")
    days = client.get(f"/api/v1/days?{SPAN}&host={HOST}").get_json()["days"]
    one = [d for d in days if d["gpu_index"] is None]  # the whole-host rows
    both = client.get(f"/api/v1/days?{SPAN}&host=all").get_json()["days"]
    assert (
        [d["day"] for d in both]
        == [d["day"] for d in one]
        == ["2026-03-01", "2026-03-02", "2026-03-03"]
    )
    for a, b in zip(one, both, strict=True):
        assert b["gpu_minutes"] == 2 * a["gpu_minutes"] and b["samples"] == 2 * a["samples"]
        assert b["avg_utilization"] == a["avg_utilization"]  # the same host twice
    assert client.get(f"/api/v1/days?{SPAN}").get_json()["days"] == []  # the hub has no GPUs
    local_svg = client.get("/gpu-activity.svg").data
    assert EMPTY_NOTE.encode() in local_svg
    fleet_svg = client.get("/gpu-activity.svg?host=all&metric=gpu_hours").data
    assert b"on all hosts" in fleet_svg and EMPTY_NOTE.encode() not in fleet_svg
    gpu_of_all = client.get("/gpu-activity.svg?host=all&gpu=1")
    assert gpu_of_all.status_code == 400 and gpu_of_all.get_json()["parameter"] == "gpu"


def test_unknown_host_is_a_400_listing_the_hosts(fleet, hub_db):
    new_token(hub_db)
    client = make_hub(hub_db).test_client()
    for path in ("/gpu-activity.svg", "/api/v1/days", "/api/v1/hours"):
        answer = client.get(f"{path}?host=nobody")
        body = answer.get_json()
        assert answer.status_code == 400 and body["parameter"] == "host"
        assert HOST in body["allowed"] and "all" in body["allowed"]


def test_the_cached_graph_follows_new_hours_for_that_host(fleet, hub_db):
    client = make_hub(hub_db).test_client()
    token = new_token(hub_db)
    ingest(client, fleet, token, fleet.hours()[:24])
    before = client.get(f"/gpu-activity.svg?host={HOST}")
    assert client.get(f"/gpu-activity.svg?host={HOST}").headers["ETag"] == before.headers["ETag"]
    ingest(client, fleet, token, fleet.hours()[24:])
    after = client.get(f"/gpu-activity.svg?host={HOST}")
    assert after.headers["ETag"] != before.headers["ETag"] and after.data != before.data


def test_hours_of_a_host(fleet, hub_db):
    client = make_hub(hub_db).test_client()
    ingest(client, fleet, new_token(hub_db), fleet.hours()[:30])
    hours = client.get(f"/api/v1/hours?host={HOST}&from=2026-03-02&to=2026-03-02&gpu=1")
    rows = hours.get_json()["hours"]
    assert len(rows) == 7 and {r["gpu_index"] for r in rows} == {1}  # 23:00 to 06:00 UTC
    sent = json.loads(fleet.body(rows[0]["hour"]))["gpus"][1]
    assert rows[0]["util_mean"] == sent["sm_utilization_percent_mean"]
    assert rows[0]["active_s"] == sent["active_seconds"]
