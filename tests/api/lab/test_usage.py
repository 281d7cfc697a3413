"""GET /api/v1/usage over real per-user roll-ups: grouping, defaults, aliases and 400s."""

from __future__ import annotations

import pytest

from tests.support.lab import HOSTILE
from tests.support.rows import add_days, add_idle_run, add_user_days
from tests.support.svg_parse import parse, texts


def test_by_user_defaults_to_this_month_busiest_first(lab_client):
    body = lab_client.get("/api/v1/usage").get_json()
    assert (body["by"], body["from"], body["to"]) == ("user", "2026-03-01", "2026-03-04")
    assert [(r["user"], r["gpu_hours"], r["active_days"]) for r in body["rows"]] == [
        ("alice", 12.0, 2),
        ("bob", 5.0, 1),
        (HOSTILE, 0.5, 1),
    ]
    assert body["total_gpu_hours"] == 17.5
    assert body["display_names"]["alice"] == "Alice Liddell"
    assert body["display_names"]["bob"] == "bob"


def test_by_month_and_day(lab_client):
    body = lab_client.get("/api/v1/usage?by=month&from=2026-02-01&to=2026-03-31").get_json()
    assert [(r["month"], r["gpu_hours"]) for r in body["rows"]] == [
        ("2026-02", 2.0),
        ("2026-03", 17.5),
    ]
    assert body["rows"][1]["users"]["alice"] == 12.0
    days = lab_client.get("/api/v1/usage?by=day&from=2026-03-02&to=2026-03-03").get_json()
    assert [(r["day"], r["users"]) for r in days["rows"]] == [
        ("2026-03-02", {"bob": 5.0}),
        ("2026-03-03", {"alice": 9.0}),
    ]


def test_by_gpu_uses_gpu_aliases(lab_client):
    body = lab_client.get("/api/v1/usage?by=gpu&from=2026-02-01").get_json()
    rows = {r["gpu_index"]: r for r in body["rows"]}
    assert rows[0]["display_name"] == "4090" and rows[0]["gpu_name"] == "NVIDIA GeForce RTX 4090"
    assert rows[0]["users"] == {"alice": 12.0, "bob": 2.0, HOSTILE: 0.5}
    assert rows[1]["display_name"] == "NVIDIA A100" and rows[1]["gpu_hours"] == 5.0
    # GPUs are named as /api/v1/days names them: no internal id beside the index
    assert all("gpu" not in r and r["uuid"].startswith("GPU-") for r in body["rows"])


def test_host_rows_are_not_counted_twice(lab_client, conn):
    # The scheduler also writes gpu 0 (whole host) rows: those win over the per-GPU sum.
    add_user_days(conn, "alice", {"2026-03-01": 2 * 3600}, gpu=0)
    body = lab_client.get("/api/v1/usage").get_json()
    assert body["rows"][0] == {
        "user": "alice",
        "gpu_hours": 11.0,
        "active_days": 2,
        "held_idle_gpu_hours": 0,
        "energy_kwh": 0,
        "co2e_kg": None,
        "cost": None,
    }


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("by=team", "by"),
        ("from=2026-13-01", "from"),
        ("to=yesterday", "to"),
        ("from=2026-03-05&to=2026-03-01", "from"),
    ],
)
def test_bad_parameters_are_400_naming_them(lab_client, query, parameter):
    reply = lab_client.get(f"/api/v1/usage?{query}")
    assert reply.status_code == 400 and reply.get_json()["parameter"] == parameter


def test_empty_database_gives_empty_rows(client):
    body = client.get("/api/v1/usage?by=month").get_json()
    assert body["rows"] == [] and body["total_gpu_hours"] == 0


def test_idle_harvest_is_reported_apart(lab_client, conn):
    # 2026-03-02 10:00-12:00 UTC on two GPUs: 4 GPU-hours harvested.
    add_idle_run(conn, 1_772_445_600, 1_772_452_800, 14_400)
    body = lab_client.get("/api/v1/usage").get_json()
    assert body["idle_harvested_gpu_hours"] == 4.0
    assert body["total_gpu_hours"] == 17.5  # people's hours, unchanged
    assert (
        lab_client.get("/api/v1/usage?from=2026-03-03").get_json()["idle_harvested_gpu_hours"] == 0
    )


def test_span_is_capped(lab_client):
    reply = lab_client.get("/api/v1/usage?from=1970-01-02&to=9000-12-31")
    assert reply.status_code == 400 and reply.get_json()["parameter"] == "from"
    assert "730 days" in reply.get_json()["error"]  # GPUPULSE_RETAIN_DAILY_DAYS


def test_no_process_time_closes_the_gap_to_the_graph(lab_client, conn):
    """People's total plus the time no process accounts for is the graph's GPU-hours, per
    day and in all; a day with GPU time and no process at all still has its row."""
    add_days(conn, {"2026-03-02": 300}, gpu_minutes=5 * 60 + 30)  # bob's 5 h + 30 min
    add_days(conn, {"2026-03-03": 600}, gpu_minutes=9 * 60)  # alice's 9 h exactly
    add_days(conn, {"2026-03-04": 90}, gpu_minutes=120)  # 30 min hostile + 1.5 h none
    add_days(conn, {"2026-03-01": 180}, gpu_minutes=180)  # alice's 3 h
    body = lab_client.get("/api/v1/usage?by=day").get_json()
    rows = {r["day"]: r for r in body["rows"]}
    assert rows["2026-03-02"]["no_process_gpu_hours"] == 0.5
    assert rows["2026-03-03"]["no_process_gpu_hours"] == 0.0
    assert rows["2026-03-04"]["no_process_gpu_hours"] == 1.5
    assert body["no_process_gpu_hours"] == 2.0 and body["host_gpu_hours"] == 19.5
    assert body["total_gpu_hours"] + body["no_process_gpu_hours"] == body["host_gpu_hours"]
    graph = texts(parse(lab_client.get("/gpu-activity.svg").data))
    assert f"({body['host_gpu_hours']:g} GPU-hours)" in graph[0].text
    assert f" · {body['host_gpu_hours']:g} GPU-hours · " in graph[-1].text
    add_days(conn, {"2026-03-05": 60}, gpu_minutes=60)
    alone = lab_client.get("/api/v1/usage?by=day&from=2026-03-05&to=2026-03-05").get_json()
    assert alone["rows"] == [
        {
            "day": "2026-03-05",
            "gpu_hours": 0.0,
            "no_process_gpu_hours": 1.0,
            "users": {},
            "held_idle_gpu_hours": 0.0,
            "energy_kwh": 0.0,
            "co2e_kg": None,
            "cost": None,
        }
    ]


def test_usage_fields_are_documented(lab_client):
    doc = lab_client.get("/openapi.json").get_json()["paths"]["/api/v1/usage"]["get"]
    schema = doc["responses"]["200"]["content"]["application/json"]["schema"]
    body = lab_client.get("/api/v1/usage").get_json()
    assert set(body) == set(schema["properties"]) and set(schema["required"]) <= set(body)
