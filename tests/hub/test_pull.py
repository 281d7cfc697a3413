"""Pull mode against hosts on loopback: a real host api (found through a fake Consul
catalog), one that accepts connections and never answers, and one that answers 500. The
silent one is marked stale and holds up nobody."""

from __future__ import annotations

import json
import socket
import threading
import time

import pytest
from pytest_httpserver import HTTPServer

from scheduler import pull
from scheduler.settings import load
from store import open_db
from tests.support.hub import HOST, TZ, make_hub, scheduler_env
from tests.support.servers import start_gunicorn, stop

pytestmark = pytest.mark.slow
TIMEOUT = 0.5


@pytest.fixture
def silent():
    """A TCP port that accepts connections and never says a word."""
    server = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stopping = threading.Event()

    def accept() -> None:
        server.settimeout(0.1)
        while not stopping.is_set():
            try:
                held.append(server.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    stopping.set()
    thread.join()
    for conn in [*held, server]:
        conn.close()


@pytest.fixture
def host_api(fleet):
    proc, url = start_gunicorn(fleet.path, GPUPULSE_TZ=TZ)
    yield url
    assert "Traceback" not in stop(proc)


def test_pull_polls_everyone_at_once_and_marks_the_silent_stale(
    fleet, hub_db, host_api, silent, httpserver: HTTPServer, tmp_path
):
    port = int(host_api.rsplit(":", 1)[1])
    httpserver.expect_request("/v1/catalog/service/gpu-pulse").respond_with_json(
        [
            {
                "Node": "node-7",
                "Address": "10.9.9.9",
                "ServiceAddress": "127.0.0.1",
                "ServicePort": port,
                "ServiceMeta": {"host_id": HOST},
            }
        ]
    )
    httpserver.expect_request("/api/v1/gpus").respond_with_data("oops", status=500)
    env = scheduler_env(
        hub_db,
        tmp_path,
        GPUPULSE_PULL_TIMEOUT=str(TIMEOUT),
        GPUPULSE_PULL_HOSTS=f"quiet={silent},broken={httpserver.url_for('')}",
        GPUPULSE_PULL_CONSUL_URL=httpserver.url_for(""),
        GPUPULSE_PULL_BACKFILL_DAYS="366",
    )
    settings = load(env)
    conn = open_db(hub_db, write=True)
    started = time.monotonic()
    result = pull.run(conn, settings, time.time())
    elapsed = time.monotonic() - started
    assert result[HOST] == f"ok: {len(fleet.hours())} hour(s)"
    assert result["quiet"].startswith("stale:") and "timeout" in result["quiet"]
    assert result["broken"].startswith("stale:") and "HTTP 500" in result["broken"]
    assert elapsed < 3 * TIMEOUT + 2  # the silent host bounded by timeouts, not awaited

    stored = [h for (h,) in conn.execute("SELECT hour FROM hub_hourly WHERE gpu = 0 ORDER BY hour")]
    assert stored == fleet.hours()
    again = pull.run(conn, settings, time.time())  # only the newest hour is read again
    assert again[HOST] == "ok: 1 hour(s)"
    conn.close()

    hub = make_hub(hub_db, now=time.time()).test_client()
    lines = {h["host"]: h for h in hub.get("/api/v1/hosts").get_json()["hosts"]}
    assert not lines[HOST]["stale"] and lines[HOST]["gpus"] == 4
    assert lines["quiet"]["stale"] and lines["broken"]["stale"]
    days = hub.get(f"/api/v1/days?from=2026-03-01&to=2026-03-02&host={HOST}").get_json()
    mine = make_hub(fleet.path).test_client().get("/api/v1/days?from=2026-03-01&to=2026-03-02")
    for a, b in zip(mine.get_json()["days"], days["days"], strict=True):
        assert (a["day"], a["samples"], a["peak_utilization"]) == (
            b["day"],
            b["samples"],
            b["peak_utilization"],
        )
        for key in ("active_minutes", "gpu_minutes", "energy_kwh", "avg_utilization"):
            assert b[key] == pytest.approx(a[key], rel=1e-4), key


def test_targets_from_the_static_list():
    targets = pull.static_targets(" a=http://10.0.0.1:8080/ , http://box9:8080,,b=https://x/y")
    assert [(t.name, t.url) for t in targets] == [
        ("a", "http://10.0.0.1:8080"),
        ("box9", "http://box9:8080"),
        ("b", "https://x/y"),
    ]


def test_an_unreadable_consul_gives_no_targets_and_no_error(
    httpserver: HTTPServer, hub_db, tmp_path
):
    httpserver.expect_request("/v1/catalog/service/gpu-pulse").respond_with_data("no", 503)
    env = scheduler_env(hub_db, tmp_path, GPUPULSE_PULL_CONSUL_URL=httpserver.url_for(""))
    conn = open_db(hub_db, write=True)
    assert pull.run(conn, load(env), time.time()) == {}
    conn.close()
    assert json.loads(json.dumps(pull.consul_targets(load(env), pull.http_transport))) == []
