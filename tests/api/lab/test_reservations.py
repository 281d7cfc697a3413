"""Reservations over HTTP: auth, validation, size limit, and expiry with an injected clock."""

from __future__ import annotations

import json

import pytest

from tests.support.app import NOW
from tests.support.lab import TOKEN, lab_app

AUTH = {"Authorization": f"Bearer {TOKEN}"}
HOUR, DAY = 3600, 86_400


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return Clock(NOW)


@pytest.fixture
def api(seeded, clock):
    return lab_app(seeded, clock=clock).test_client()


def post(api, body, headers=AUTH):
    return api.post(
        "/api/v1/reservations",
        data=json.dumps(body),
        headers=headers,
        content_type="application/json",
    )


def test_create_list_and_delete(api):
    reply = post(api, {"gpu": 1, "name": "alice", "until": "2d 3h", "comment": "ICML run"})
    assert reply.status_code == 201
    made = reply.get_json()["reservation"]
    assert made["until"] == int(NOW) + 2 * DAY + 3 * HOUR and made["active"] is True
    assert made["display_name"] == "Alice Liddell" and made["until_iso"].startswith("2026-03-06")
    listed = api.get("/api/v1/reservations").get_json()["reservations"]
    assert [(r["gpu"], r["name"], r["comment"]) for r in listed] == [(1, "alice", "ICML run")]
    # A new booking of the same GPU replaces the old one.
    post(api, {"gpu": 1, "name": "bob", "until": "2026-03-05T12:00:00+00:00"})
    listed = api.get("/api/v1/reservations").get_json()["reservations"]
    assert [(r["name"], r["until"]) for r in listed] == [("bob", int(NOW) + 21 * HOUR)]
    assert api.delete("/api/v1/reservations?gpu=1", headers=AUTH).get_json() == {"deleted": 1}
    assert api.get("/api/v1/reservations").get_json()["reservations"] == []
    assert api.delete("/api/v1/reservations?gpu=1", headers=AUTH).status_code == 404


def test_writes_refused_without_a_configured_token(seeded):
    api = lab_app(seeded, admin_token="").test_client()
    reply = post(api, {"gpu": 0, "name": "x", "until": "1h"})
    assert reply.status_code == 403 and "GPUPULSE_ADMIN_TOKEN" in reply.get_json()["error"]
    assert api.delete("/api/v1/reservations?gpu=0", headers=AUTH).status_code == 403


@pytest.mark.parametrize("header", [None, "Bearer wrong", f"Basic {TOKEN}", f"Bearer {TOKEN}x"])
def test_wrong_or_missing_token_is_401(api, header):
    headers = {} if header is None else {"Authorization": header}
    reply = post(api, {"gpu": 0, "name": "x", "until": "1h"}, headers)
    assert reply.status_code == 401 and reply.headers["WWW-Authenticate"].startswith("Bearer")
    assert api.get("/api/v1/reservations").get_json()["reservations"] == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x", "until": "1h"}, "gpu"),
        ({"gpu": 7, "name": "x", "until": "1h"}, "gpu"),
        ({"gpu": True, "name": "x", "until": "1h"}, "gpu"),
        ({"gpu": 0, "until": "1h"}, "name"),
        ({"gpu": 0, "name": "   ", "until": "1h"}, "name"),
        ({"gpu": 0, "name": "x" * 65, "until": "1h"}, "name"),
        ({"gpu": 0, "name": "x"}, "until"),
        ({"gpu": 0, "name": "x", "until": "soon"}, "until"),
        ({"gpu": 0, "name": "x", "until": "2026-03-01T00:00"}, "until"),
        ({"gpu": 0, "name": "x", "until": "400d"}, "until"),
        ({"gpu": 0, "name": "x", "until": "1h", "comment": 5}, "comment"),
        ({"gpu": 0, "name": "x", "until": "1h", "colour": "red"}, "colour"),
        ([1, 2], "body"),
    ],
)
def test_invalid_bodies_are_400_naming_the_field(api, body, field):
    reply = post(api, body)
    assert reply.status_code == 400, reply.get_json()
    assert reply.get_json()["parameter"] == field


def test_not_json_is_400(api):
    reply = api.post("/api/v1/reservations", data=b"gpu=0", headers=AUTH)
    assert reply.status_code == 400 and reply.get_json()["parameter"] == "body"


def test_bodies_over_16_kib_are_413(api):
    body = {"gpu": 0, "name": "x", "until": "1h", "comment": "y" * 17_000}
    reply = post(api, body)
    assert reply.status_code == 413 and "16 KiB" in reply.get_json()["error"]


def test_delete_needs_exactly_one_of_gpu_and_id(api):
    assert api.delete("/api/v1/reservations", headers=AUTH).get_json()["parameter"] == "gpu"
    reply = api.delete("/api/v1/reservations?gpu=zero", headers=AUTH)
    assert reply.status_code == 400 and reply.get_json()["parameter"] == "gpu"
    rid = post(api, {"gpu": 0, "name": "x", "until": "1h"}).get_json()["reservation"]["id"]
    assert api.delete(f"/api/v1/reservations?id={rid}", headers=AUTH).status_code == 200


def test_expiry_is_immediate_and_rows_go_two_days_later(api, clock, seeded):
    post(api, {"gpu": 0, "name": "alice", "until": "1h"})
    clock.now += HOUR - 1
    assert api.get("/api/v1/reservations").get_json()["reservations"][0]["active"] is True
    clock.now += 1  # the end itself: no longer active
    listed = api.get("/api/v1/reservations").get_json()["reservations"]
    assert listed[0]["active"] is False
    clock.now += 2 * DAY - 1
    assert len(api.get("/api/v1/reservations").get_json()["reservations"]) == 1
    clock.now += 1
    assert api.get("/api/v1/reservations").get_json()["reservations"] == []
    # The next write deletes the row for good.
    from store import open_db

    reader = open_db(seeded)
    assert reader.execute("SELECT count(*) FROM reservations").fetchone()[0] == 1
    post(api, {"gpu": 1, "name": "bob", "until": "1d"})
    assert reader.execute("SELECT name FROM reservations").fetchall() == [("bob",)]
    reader.close()
