"""Slow and idle clients cannot take the api down: real gunicorn with the shipped config on
loopback, with slowloris and idle connections held open while a fresh client asks."""

from __future__ import annotations

import json
import time
import urllib.request

import pytest

from tests.support.rows import add_days, add_gpu, add_sample, set_meta_value
from tests.support.servers import start_gunicorn, stop
from tests.support.slow_clients import SlowClients

pytestmark = pytest.mark.slow


def fetch(url: str, timeout: float) -> tuple[int, bytes]:
    """Status and body of one GET over a fresh connection."""
    with urllib.request.urlopen(url, timeout=timeout) as reply:
        return reply.status, reply.read()


@pytest.fixture
def served(conn, db_path):
    now = int(time.time())
    add_gpu(conn, 1, 0, "GPU-aaaa", "NVIDIA A100", seen=now)
    add_sample(conn, now, 1, util=64)
    set_meta_value(conn, "interval", "600")  # stays fresh for the whole test
    add_days(conn, {time.strftime("%Y-%m-%d", time.gmtime(now - 86400)): 90})
    proc, base = start_gunicorn(db_path)
    yield proc, base
    log = stop(proc)
    assert "Traceback" not in log, log


def test_health_and_svg_answer_while_slow_and_idle_clients_hold_connections(served):
    proc, base = served
    port = int(base.rsplit(":", 1)[1])
    assert fetch(base + "/gpu-activity.svg", 10)[0] == 200  # rendered once, then cached
    with SlowClients(port, slow=64, idle=256) as hostile:
        time.sleep(1.5)  # every slow client has sent more header lines since
        for _ in range(3):
            status, body = fetch(base + "/health", 5)
            assert status == 200 and json.loads(body)["status"] == "ok"
            assert fetch(base + "/gpu-activity.svg", 5)[0] == 200
        assert hostile.opened >= 64 + 256
    assert proc.poll() is None
