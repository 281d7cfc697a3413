"""Every from/to range is bounded: a range wider than the roll-ups are kept for is a 400 naming
`from` or `to`, so no request reads more than a bounded number of days, on a host or a hub."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from api.params import MAX_SPAN_DAYS
from api.settings import ApiSettings
from store import open_db
from tests.support.app import make_app
from tests.support.commands import run_api
from tests.support.hub import make_hub, new_token
from tests.support.lab import lab_app

WIDE = "from=1970-01-02&to=9000-12-31"
DAILY = ("/api/v1/days", "/api/v1/usage")
HOURLY = ("/api/v1/hours", "/charts/hours.svg")
TODAY = date(2026, 3, 4)  # the day of the in-process apps' clock (tests.support.app.NOW), UTC


def span(days: int) -> str:
    """from..to covering `days` days, ending today."""
    return f"from={TODAY - timedelta(days=days - 1)}&to={TODAY}"


@pytest.mark.parametrize("path", DAILY + HOURLY)
def test_the_widest_range_is_refused_naming_from(db_path, path):
    reply = lab_app(db_path).test_client().get(f"{path}?{WIDE}")
    assert reply.status_code == 400
    body = reply.get_json()
    assert body["parameter"] == "from" and "span at most" in body["error"]


@pytest.mark.parametrize("path", ("/api/v1/days", "/api/v1/hours"))
def test_a_hub_refuses_the_widest_range_for_every_host(tmp_path, path):
    db = tmp_path / "hub.db"
    open_db(db, migrate=True).close()
    new_token(db, "box1")
    client = make_hub(db).test_client()
    for host in ("all", "box1"):
        reply = client.get(f"{path}?host={host}&{WIDE}")
        assert reply.status_code == 400 and reply.get_json()["parameter"] == "from"
    assert client.get("/charts/hours.svg?host=all&" + WIDE).status_code == 400


def test_only_from_sent_too_far_back_names_from(db_path):
    reply = make_app(db_path).test_client().get("/api/v1/days?from=1970-01-02")
    assert reply.status_code == 400 and reply.get_json()["parameter"] == "from"


@pytest.mark.parametrize(("path", "limit"), [("/api/v1/days", 730), ("/api/v1/hours", 371)])
def test_the_retention_is_the_limit(db_path, path, limit):
    client = make_app(db_path).test_client()
    assert client.get(f"{path}?{span(limit)}").status_code == 200
    reply = client.get(f"{path}?{span(limit + 1)}")
    assert reply.status_code == 400 and f"{limit:,} days" in reply.get_json()["error"]


def test_longer_retention_allows_longer_ranges_up_to_the_fixed_maximum(db_path):
    client = make_app(db_path, daily_days=100_000).test_client()
    assert client.get(f"/api/v1/days?{span(MAX_SPAN_DAYS)}").status_code == 200
    assert client.get(f"/api/v1/days?{span(MAX_SPAN_DAYS + 1)}").status_code == 400
    assert ApiSettings(daily_days=100_000).span_days() == MAX_SPAN_DAYS


def test_a_far_future_range_of_allowed_width_is_empty_not_an_error(db_path):
    reply = make_app(db_path).test_client().get("/api/v1/days?from=8999-12-01&to=9000-12-31")
    assert reply.status_code == 200 and reply.get_json()["days"] == []


def test_the_command_line_refuses_the_widest_range_in_one_line(db_path):
    done = run_api("usage", "--db", str(db_path), "--from", "1970-01-02", "--to", "9000-12-31")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [done.stderr.strip()]
    assert "--from" in done.stderr and "span at most" in done.stderr


def test_the_documents_state_each_range_limit(db_path):
    client = lab_app(db_path).test_client()
    document = client.get("/openapi.json").get_json()["paths"]
    limits = {path: document[path]["get"].get("x-max-span-days") for path in DAILY + HOURLY}
    assert limits == {path: 730 for path in DAILY} | {path: 371 for path in HOURLY}
    assert "730 days" in document["/api/v1/days"]["get"]["description"]
    listed = {e["path"]: e.get("max_span_days") for e in client.get("/api").get_json()["endpoints"]}
    assert listed["/api/v1/usage"] == 730 and listed["/charts/hours.svg"] == 371


def test_a_short_retention_still_answers_53_weeks(db_path):
    client = make_app(db_path, daily_days=30, hourly_days=7).test_client()
    assert client.get(f"/api/v1/days?{span(371)}").status_code == 200
    assert client.get(f"/api/v1/hours?{span(371)}").status_code == 200
    assert client.get(f"/api/v1/hours?{span(372)}").status_code == 400
