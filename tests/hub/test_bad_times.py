"""Times and text on the wire are bounded, and one host's unusable snapshot cannot take a
hub's views down: against a real gunicorn hub, snapshots and hours with absurd times or
unsafe text get a 400 naming the field, and a bad snapshot already stored shows its host as
broken and the rest as usual."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import pytest

from protocol.snapshot import check_snapshot, make_snapshot
from scheduler import status_push
from store import hub as hubstore
from store import open_db
from store.db import atomic
from tests.support.hub import new_token
from tests.support.servers import start_gunicorn, stop

pytestmark = pytest.mark.slow
GPU = {"uuid": "GPU-1", "index": 0, "name": "A100", "util": 50, "ts": None}


def snapshot(host: str, now: float, **change) -> dict:
    body = make_snapshot(host, now, 30, [{**GPU, "ts": now - 5}], [])
    body["reservations"] = [{"gpu": 0, "name": "ana", "comment": "", "until": now + 3600}]
    for path, value in change.items():
        where, _, key = path.rpartition("__")
        target = body if not where else body[where.split("_")[0]][0]
        target[key] = value
    return body


def request(url: str, body: dict | None = None, token: str = "") -> tuple[int, bytes]:
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json", "Accept": "text/html"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data, headers), timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


@pytest.fixture
def hub(hub_db):
    proc, url = start_gunicorn(hub_db, GPUPULSE_HUB_RATE="1000")
    yield url
    assert "Traceback" not in stop(proc)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"reservations__until": 3e11}, "reservations[0].until"),
        ({"reservations__until": -5}, "reservations[0].until"),
        ({"reservations__gpu": "zero"}, "reservations[0].gpu"),
        ({"sent_at": 3e11}, "sent_at"),
        ({"gpus__ts": 3e11}, "gpus[0].ts"),
        ({"gpus__lost_at": 5.0}, "gpus[0].lost_at"),
        # text a host sends reaches the hub's pages: no bidi override, no C1 or C0 control
        ({"reservations__name": "ana\u202egnp.exe"}, "reservations[0].name"),
        ({"gpus__name": "A100\x85"}, "gpus[0].name"),
        ({"gpus__uuid": "GPU-\x9b1"}, "gpus[0].uuid"),
    ],
)
def test_snapshots_with_absurd_times_get_400_naming_the_field(hub_db, hub, change, field):
    token = new_token(hub_db)
    code, body = request(hub + "/api/v1/status", snapshot("box1", time.time(), **change), token)
    assert code == 400 and json.loads(body)["field"] == field
    assert request(hub + "/api/v1/status", snapshot("box1", time.time()), token)[0] == 200


def test_an_hour_far_ahead_or_built_in_the_future_gets_400(fleet, hub_db, hub):
    token = new_token(hub_db)
    payload = json.loads(fleet.body(fleet.hours()[0]))
    code, body = request(hub + "/api/v1/ingest", {**payload, "built_at": 3e11}, token)
    assert code == 400 and json.loads(body)["field"] == "built_at"
    ahead = {**payload, "hour": 10**11 // 3600 * 3600}
    ahead.pop("aggregation_time")
    code, body = request(hub + "/api/v1/ingest", ahead, token)
    assert code == 400 and json.loads(body)["field"] == "hour"


def test_a_stored_bad_snapshot_shows_its_host_broken_and_the_rest_rendered(hub_db, hub):
    now = time.time()
    for host in ("good-box", "bad-box"):
        assert request(hub + "/api/v1/status", snapshot(host, now), new_token(hub_db, host))
    conn = open_db(hub_db, write=True)  # as kept before times were checked as they are now
    bad_id = hubstore.host_ids(conn)["bad-box"]
    bad = snapshot("bad-box", now, reservations__until=3e11, gpus__util="high")
    with atomic(conn):
        hubstore.save_status(conn, bad_id, bad, 30, now)
    conn.close()
    code, page = request(hub + "/")
    assert code == 200, page[-500:]
    assert b"good-box" in page and b"A100" in page and b"ana" in page
    assert b"bad-box" in page and b"cannot be shown" in page
    code, body = request(hub + "/api/v1/hosts")
    lines = {line["host"]: line for line in json.loads(body)["hosts"]}
    assert code == 200 and lines["good-box"]["gpus"] == 1 and "broken" not in lines["good-box"]
    assert lines["bad-box"]["stale"] and "cannot be shown" in lines["bad-box"]["broken"]


def test_a_booking_without_a_real_end_goes_as_no_end_and_is_accepted(fleet):
    with atomic(fleet.conn):
        fleet.conn.execute(
            "INSERT INTO reservations (host, gpu, name, comment, created, until) "
            "VALUES ('', 2, 'dana', 'forever', 0, 253402214400)"  # 9999-12-31
        )
    now = time.time()
    sent = status_push.snapshot(fleet.conn, fleet.settings, now)
    assert sent["reservations"] == [{"gpu": 2, "name": "dana", "comment": "forever", "until": None}]
    assert check_snapshot(sent, now, 300) is sent
