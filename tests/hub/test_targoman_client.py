"""An unmodified Targoman gpu_monitor client's request (reproduced in tests.support.targoman)
against a real gunicorn hub: a host added with `gpupulse-api hosts add NAME --targoman`
authenticates by presenting its token as the contract number, its reply check passes, and
what it lacks is derived."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, datetime

import pytest

from store import open_db
from tests.support.servers import start_gunicorn, stop
from tests.support.targoman import aggregate_entry, queued_row, send_data

pytestmark = pytest.mark.slow
GPUS = (
    ("GPU-1234", "NVIDIA GeForce RTX 3080", (78.5, 75, 82)),  # busy all hour
    ("GPU-5678", "NVIDIA GeForce RTX 3080", (20.0, 0, 80)),  # busy a quarter of it
)


def hosts_add(db, *args: str) -> str:
    """A host's token from the real `gpupulse-api hosts add`."""
    code = "from api.cli import main; raise SystemExit(main())"
    out = subprocess.run(
        [sys.executable, "-c", code, "hosts", "add", *args],
        env={**os.environ, "GPUPULSE_DB": str(db)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


@pytest.fixture
def hub(hub_db):
    # The hub's contract number binds bearer-token senders; Targoman hosts send their token.
    proc, url = start_gunicorn(
        hub_db, GPUPULSE_TZ="Europe/Berlin", GPUPULSE_HUB_CONTRACT_NUMBER="C-hub"
    )
    yield url + "/api/v1/ingest"
    assert "Traceback" not in stop(proc)


def stored(db, host: str) -> list[tuple]:
    conn = open_db(db)
    try:
        return conn.execute(
            "SELECT r.hour, g.uuid, r.samples, r.active_ms, r.util_mean, r.energy_j "
            "FROM hub_hourly r JOIN hub_hosts h ON h.id = r.host "
            "LEFT JOIN hub_gpus g ON g.id = r.gpu WHERE h.name = ? ORDER BY r.hour, r.gpu",
            (host,),
        ).fetchall()
    finally:
        conn.close()


def test_a_queued_row_with_a_zone_less_time_is_stored_in_the_hosts_zone(hub_db, hub):
    token = hosts_add(hub_db, "tehran-box", "--targoman", "--tz", "Asia/Tehran")
    entries = [aggregate_entry(*gpu) for gpu in GPUS]
    ok, error, uid = send_data(hub, token, queued_row(7, "2026-03-20T13:00:00", entries))
    assert (ok, error) == (True, None) and uid
    hour = int(datetime(2026, 3, 20, 9, tzinfo=UTC).timestamp())  # 13:00 +03:30 = 09:30 UTC
    rows = stored(hub_db, "tehran-box")
    assert [(r[0], r[1], r[2]) for r in rows] == [
        (hour, None, 60),
        (hour, "GPU-1234", 60),
        (hour, "GPU-5678", 60),
    ]
    host, busy, quarter = rows
    assert (busy[3], quarter[3], host[3]) == (3600_000, 900_000, 3600_000)
    assert busy[4] == 78.5 and busy[5] == pytest.approx(210 * 3600)


def test_the_gpus_object_goes_to_the_hour_that_just_ended(hub_db, hub):
    token = hosts_add(hub_db, "box2", "--targoman")
    before = int(time.time()) // 3600 * 3600 - 3600
    ok, error, _ = send_data(hub, token, {"gpus": [aggregate_entry(*GPUS[0])]})
    after = int(time.time()) // 3600 * 3600 - 3600
    assert (ok, error) == (True, None)
    assert {r[0] for r in stored(hub_db, "box2")} <= {before, after}
    again = send_data(hub, token, {"gpus": [aggregate_entry(*GPUS[0])]})
    assert again[0] and len(stored(hub_db, "box2")) == 2  # the same hour, once


def test_only_a_targoman_host_may_present_its_token_as_the_contract_number(hub_db, hub):
    token = hosts_add(hub_db, "plain-box")
    body = {"gpus": [aggregate_entry(*GPUS[0])]}
    assert send_data(hub, token, dict(body))[:2] == (False, "Server returned non-200 status: 401")
    targoman = hosts_add(hub_db, "t-box", "--targoman")
    wrong = targoman[:-4] + "AAAA"
    assert send_data(hub, wrong, dict(body))[:2] == (False, "Server returned non-200 status: 401")
    assert stored(hub_db, "plain-box") == stored(hub_db, "t-box") == []


def test_gpu_pulse_fields_a_body_carries_are_used_as_sent(hub_db, hub):
    token = hosts_add(hub_db, "box3", "--targoman")
    entry = {**aggregate_entry(*GPUS[0]), "samples": 30, "active_seconds": 100.5}
    body = {"hour": 1774011600, "gpus": [entry]}  # 2026-03-20 13:00 UTC
    ok, error, _ = send_data(hub, token, body)
    assert (ok, error) == (True, None)
    assert [r[:4] for r in stored(hub_db, "box3")] == [
        (1774011600, None, 30, 100_500),
        (1774011600, "GPU-1234", 30, 100_500),
    ]


def test_a_zone_less_time_without_a_host_zone_is_read_in_the_hubs_zone(hub_db, hub):
    token = hosts_add(hub_db, "berlin-box", "--targoman")
    row = queued_row(1, "2026-03-20T13:00:00", [aggregate_entry(*GPUS[0])])
    assert send_data(hub, token, row)[0]
    hour = int(datetime(2026, 3, 20, 12, tzinfo=UTC).timestamp())  # 13:00 +01:00
    assert {r[0] for r in stored(hub_db, "berlin-box")} == {hour}
