"""A reservation "until 9999-12-31" (how many lab sheets say "for ever") is read as until
removed everywhere, in every time zone, or refused in one line where a real end is needed."""

from __future__ import annotations

import json

import pytest

from api.lab.until import FOREVER
from store import atomic
from store.reservations import Reservation, replace
from tests.support.commands import run_api
from tests.support.lab import TOKEN, lab_app

ZONES = ["UTC", "Europe/Berlin", "Pacific/Kiritimati", "America/New_York"]
FAR = [FOREVER, FOREVER + 3600, 300_000_000_000]  # the calendar's last second, past it


def book_far(conn, until: int) -> None:
    """A reservation of GPU 1 ending at `until`, as another tool or an older import wrote it."""
    with atomic(conn):
        replace(conn, Reservation(gpu=1, name="alice", comment="thesis", until=until, created=1))


@pytest.mark.parametrize("tz", ZONES)
@pytest.mark.parametrize("until", FAR)
def test_views_read_a_far_end_as_until_removed(conn, seeded, tz, until):
    book_far(conn, until)
    client = lab_app(seeded, tz=tz).test_client()
    listed = client.get("/api/v1/reservations")
    assert listed.status_code == 200
    (row,) = listed.get_json()["reservations"]
    assert row["until"] == until and row["until_iso"] is None and row["active"] is True
    page = client.get("/", headers={"Accept": "text/html"})
    assert page.status_code == 200 and "until removed" in page.get_data(as_text=True)


@pytest.mark.parametrize("tz", ["Europe/Berlin", "America/New_York"])
def test_export_writes_a_far_end_as_no_end(conn, seeded, tz):
    book_far(conn, FOREVER)
    done = run_api("reservations", "export", "-", "--db", str(seeded), GPUPULSE_TZ=tz)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["labbox"][1] == {
        "name": "alice",
        "date": "",
        "comment": "thesis",
    }


@pytest.mark.parametrize("tz", ZONES)
@pytest.mark.parametrize("date", ["9999-12-31", "9999-12-31T23:59:59", "9999-12-31T23:59:59Z"])
def test_import_keeps_a_far_end_until_removed(seeded, tmp_path, tz, date):
    path = tmp_path / "comments.json"
    path.write_text(json.dumps({"labbox": [{"name": "bob", "date": date, "comment": ""}]}))
    done = run_api("reservations", "import", str(path), "--db", str(seeded), GPUPULSE_TZ=tz)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (
        f"imported 1 reservations from {path} (1 without a real end, kept until removed)"
    )


@pytest.mark.parametrize("tz", ZONES)
@pytest.mark.parametrize("until", ["9999-12-31", "9999-12-31T23:59:59+14:00", "10000-01-01"])
def test_booking_for_ever_over_http_is_a_400_naming_until(seeded, tz, until):
    client = lab_app(seeded, tz=tz).test_client()
    reply = client.post(
        "/api/v1/reservations",
        data=json.dumps({"gpu": 1, "name": "alice", "until": until}),
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    assert reply.status_code == 400 and reply.get_json()["parameter"] == "until"
