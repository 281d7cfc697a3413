"""POST /api/v1/ingest and /api/v1/status in-process over real database files: the echo the
sender checks, idempotent upserts, and every refusal (400 naming the field, 401, 403, 413,
429 with Retry-After)."""

from __future__ import annotations

import json

import pytest

from protocol.timeparse import iso
from scheduler.push import Reply, judge
from store import hub as hubstore
from store import open_db
from store.db import atomic
from tests.support.hub import HOST, NOW, make_hub, new_token, post


def payload(fleet, index: int = 5) -> dict:
    return json.loads(fleet.body(fleet.hours()[index]))


def rows(db, table: str) -> int:
    conn = open_db(db, write=True)
    try:
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    finally:
        conn.close()


def test_ingest_echoes_the_body_so_the_senders_check_passes(fleet, hub_db):
    token = new_token(hub_db)
    client = make_hub(hub_db).test_client()
    hour = fleet.hours()[3]
    sent = json.loads(fleet.body(hour))
    answer = post(client, "/api/v1/ingest", fleet.body(hour), token, **{"X-Contract-Number": "C-7"})
    assert answer.status_code == 200
    reply = Reply(200, dict(answer.headers), answer.data)
    outcome = judge(reply, sent, NOW)  # the scheduler's own success rule
    assert outcome.success and outcome.uid == answer.get_json()["uid"]
    assert rows(hub_db, "hub_hourly") == 1 + len(sent["gpus"])


def test_a_repeat_changes_nothing_and_a_new_version_replaces_the_hour(fleet, hub_db):
    token = new_token(hub_db)
    client = make_hub(hub_db).test_client()
    body = payload(fleet)
    first = post(client, "/api/v1/ingest", body, token).get_json()["uid"]
    again = post(client, "/api/v1/ingest", body, token).get_json()["uid"]
    assert first == again
    conn = open_db(hub_db, write=True)
    version = conn.execute("SELECT value FROM rollup_state WHERE name = 'hub_version'").fetchone()
    body["host_summary"]["samples"] += 1  # a late recompute of the same hour
    body["gpus"] = body["gpus"][:2]
    changed = post(client, "/api/v1/ingest", body, token).get_json()["uid"]
    assert changed != first
    samples = conn.execute("SELECT samples FROM hub_hourly WHERE gpu = 0").fetchall()
    newer = conn.execute("SELECT value FROM rollup_state WHERE name = 'hub_version'").fetchone()
    conn.close()
    assert version == (1,) and newer == (2,)
    assert samples == [(body["host_summary"]["samples"],)]
    assert rows(hub_db, "hub_hourly") == 3  # the host row and the two GPUs left


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda p: p.pop("hour"), "hour"),
        (lambda p: p.update(hour=p["hour"] + 1), "hour"),
        (lambda p: p.update(hour=int(NOW) // 3600 * 3600), "hour"),  # not over yet
        (lambda p: p.update(host=""), "host"),
        (lambda p: p.update(aggregation_time="2020-01-01T00:00:00Z"), "aggregation_time"),
        (lambda p: p.pop("host_summary"), "host_summary"),
        (lambda p: p.update(gpus={}), "gpus"),
        (lambda p: p["gpus"][1].update(samples=-1), "gpus[1].samples"),
        (
            lambda p: p["gpus"][0].update(sm_utilization_percent_mean=101),
            "gpus[0].sm_utilization_percent_mean",
        ),
        (
            lambda p: p["gpus"][2].update(temperature_celsius_max="hot"),
            "gpus[2].temperature_celsius_max",
        ),
        (lambda p: p["gpus"][0].update(device_id=p["gpus"][1]["device_id"]), "gpus[1].device_id"),
        (
            lambda p: p["host_summary"]["users"][0].update(gpu_seconds=True),
            "host_summary.users[0].gpu_seconds",
        ),
        (lambda p: p["gpus"][3].update(name="bad\x00name"), "gpus[3].name"),
    ],
)
def test_bad_payloads_get_400_naming_the_field(fleet, hub_db, change, field):
    token = new_token(hub_db)
    client = make_hub(hub_db).test_client()
    body = payload(fleet, 20)
    change(body)
    answer = post(client, "/api/v1/ingest", body, token)
    assert answer.status_code == 400, answer.get_json()
    assert answer.get_json()["field"] == field
    assert rows(hub_db, "hub_hourly") == 0


def test_json_that_is_not_json_is_refused(fleet, hub_db):
    token = new_token(hub_db)
    client = make_hub(hub_db).test_client()
    text = fleet.body(fleet.hours()[0]).replace(b'"samples":', b'"samples":NaN,"x":', 1)
    for body in (text, b'"a string"', b"{", b"[]"):
        answer = post(client, "/api/v1/ingest", body, token)
        assert answer.status_code == 400 and answer.get_json()["field"] == "body"
    answer = post(client, "/api/v1/ingest", b"[1, 2]", token)
    assert answer.status_code == 400 and answer.get_json()["field"] == "[0]"


def test_tokens(fleet, hub_db):
    token = new_token(hub_db)
    other = new_token(hub_db, "box2")
    client = make_hub(hub_db).test_client()
    body = payload(fleet)
    for bad in (None, "", "gpp_1_wrong", token + "x", "gpp_999_" + token.split("_", 2)[2]):
        answer = post(client, "/api/v1/ingest", body, bad)
        assert answer.status_code == 401 and answer.get_json()["field"] == "Authorization"
        assert answer.headers["WWW-Authenticate"].startswith("Bearer")
    wrong_host = post(client, "/api/v1/ingest", body, other)
    assert wrong_host.status_code == 403 and wrong_host.get_json()["field"] == "host"
    assert post(client, "/api/v1/ingest", body, token).status_code == 200
    replaced = new_token(hub_db)  # adding the host again replaces its token
    assert post(client, "/api/v1/ingest", body, token).status_code == 401
    assert post(client, "/api/v1/ingest", body, replaced).status_code == 200


def test_body_over_the_limit_gets_413_before_anything_is_read(fleet, hub_db):
    token = new_token(hub_db)
    client = make_hub(hub_db, max_body=2048).test_client()
    body = fleet.body(fleet.hours()[0])
    assert len(body) > 2048
    answer = post(client, "/api/v1/ingest", body, token)
    assert answer.status_code == 413 and answer.get_json()["field"] == "body"
    assert "GPUPULSE_HUB_MAX_BODY" in answer.get_json()["error"]
    unauthenticated = post(client, "/api/v1/ingest", body, None)
    assert unauthenticated.status_code == 413  # size is checked first: nothing is parsed


def test_a_host_sending_too_fast_gets_429_with_retry_after(fleet, hub_db):
    token = new_token(hub_db)
    client = make_hub(hub_db, rate=0.5, burst=3).test_client()
    codes = [post(client, "/api/v1/ingest", payload(fleet, i), token).status_code for i in range(5)]
    assert codes == [200, 200, 200, 429, 429]
    answer = post(client, "/api/v1/ingest", payload(fleet, 9), token)
    assert answer.status_code == 429 and int(answer.headers["Retry-After"]) == 2
    assert rows(hub_db, "hub_receipts") == 3
    later = make_hub(hub_db, now=NOW + 2, rate=0.5, burst=3).test_client()
    assert post(later, "/api/v1/ingest", payload(fleet, 9), token).status_code == 200


def test_a_request_that_waited_for_the_lock_is_not_refused_for_its_older_clock(hub_db):
    # Under load a request reads the clock, then waits for the write lock while a later one
    # stores its time; the bucket must neither refuse it nor move back to its clock.
    conn = open_db(hub_db, write=True)
    limit = [("token:x", 100.0, 50.0)]
    with atomic(conn):
        assert hubstore.take_requests(conn, limit, NOW, 1.0) == (0.0, "")
        assert hubstore.take_requests(conn, limit, NOW - 0.6, 1.0) == (0.0, "")
    at = conn.execute("SELECT at FROM hub_rate WHERE key = 'token:x'").fetchone()[0]
    conn.close()
    assert at == NOW


def test_contract_number_is_checked_when_the_hub_sets_one(fleet, hub_db):
    token = new_token(hub_db)
    client = make_hub(hub_db, contract_number="C-7").test_client()
    body = payload(fleet)
    wrong = post(client, "/api/v1/ingest", body, token, **{"X-Contract-Number": "C-8"})
    assert wrong.status_code == 400 and wrong.get_json()["field"] == "X-Contract-Number"
    right = post(client, "/api/v1/ingest", body, token, **{"X-Contract-Number": "C-7"})
    assert right.status_code == 200


def test_status_snapshots_and_staleness(hub_db):
    token = new_token(hub_db)
    idle = [
        {"uuid": f"GPU-{i}", "index": i, "name": "A100", "util": 0, "processes": []} for i in (1, 2)
    ]
    busy = {
        "uuid": "GPU-0",
        "index": 0,
        "name": "A100",
        "util": 97,
        "processes": [{"pid": 7, "user": "erin", "command": "python", "mem_mib": 900}],
    }
    snap = {
        "host": HOST,
        "sent_at": NOW,
        "every_s": 60,
        "gpus": [busy, *idle],
        "reservations": [{"gpu": 1, "name": "dana", "comment": "<b>x</b>", "until": NOW + 900}],
    }
    assert post(make_hub(hub_db).test_client(), "/api/v1/status", snap, token).status_code == 200
    for age, stale in ((179, False), (181, True)):
        hosts = make_hub(hub_db, now=NOW + age).test_client().get("/api/v1/hosts").get_json()
        (line,) = [h for h in hosts["hosts"] if h["host"] == HOST]
        assert line["stale"] is stale
        assert (line["gpus"], line["busy"], line["idle"], line["reserved"]) == (3, 1, 2, 1)
        assert line["users"] == ["erin"]
    bad = {**snap, "gpus": [{"uuid": "GPU-a", "util": 400}]}
    answer = post(make_hub(hub_db).test_client(), "/api/v1/status", bad, token)
    assert answer.status_code == 400 and answer.get_json()["field"] == "gpus[0].util"


def test_an_array_of_payloads_is_stored_in_one_request_with_a_uid_each(fleet, hub_db):
    token = new_token(hub_db)
    client = make_hub(hub_db).test_client()
    batch = [payload(fleet, i) for i in (4, 2, 9)]  # any order, as a backlog may be
    answer = post(client, "/api/v1/ingest", batch, token)
    assert answer.status_code == 200
    body = answer.get_json()
    assert body["params"] == batch and len(set(body["uids"])) == 3
    conn = open_db(hub_db, write=True)
    stored = conn.execute("SELECT hour, count(*) FROM hub_hourly GROUP BY hour").fetchall()
    receipts = dict(conn.execute("SELECT hour, uid FROM hub_receipts"))
    conn.close()
    assert sorted(stored) == sorted((p["hour"], 1 + len(p["gpus"])) for p in batch)
    assert [receipts[p["hour"]] for p in batch] == body["uids"]
    again = post(client, "/api/v1/ingest", batch[1:], token).get_json()
    assert again["uids"] == body["uids"][1:]  # a resent backlog changes nothing
    single = post(client, "/api/v1/ingest", batch[0], token).get_json()
    assert single["uid"] == body["uids"][0]  # a payload is the same whichever way it came


@pytest.mark.parametrize(
    ("index", "change", "field"),
    [
        (1, lambda p: p["gpus"][0].update(samples=-1), "[1].gpus[0].samples"),
        (2, lambda p: p.update(host="other"), "[2].host"),
        (
            1,
            lambda p: p.update(hour=p["hour"] - 3600, aggregation_time=iso(p["hour"] - 3600)),
            "[1].hour",
        ),  # the same hour as [0]
    ],
)
def test_one_bad_payload_refuses_the_whole_array_naming_it(fleet, hub_db, index, change, field):
    token = new_token(hub_db)
    client = make_hub(hub_db).test_client()
    batch = [payload(fleet, i) for i in (3, 4, 5)]
    change(batch[index])
    answer = post(client, "/api/v1/ingest", batch, token)
    assert answer.status_code in (400, 403)
    assert answer.get_json()["field"] == field
    assert f"[{index}]" in answer.get_json()["error"] or answer.status_code == 403
    assert rows(hub_db, "hub_hourly") == rows(hub_db, "hub_receipts") == 0


def test_an_array_over_the_batch_limit_is_refused(fleet, hub_db):
    token = new_token(hub_db)
    client = make_hub(hub_db, max_batch=2).test_client()
    answer = post(client, "/api/v1/ingest", [payload(fleet, i) for i in (1, 2, 3)], token)
    assert answer.status_code == 400 and answer.get_json()["field"] == "body"
    assert "GPUPULSE_HUB_MAX_BATCH" in answer.get_json()["error"]
    assert rows(hub_db, "hub_hourly") == 0
