"""Slow and idle clients cannot take the api down: real gunicorn with the shipped config on
loopback, with slowloris and idle connections held open while a fresh client asks."""

from __future__ import annotations

import json
import time
import urllib.request

import pytest

from tests.support.rows import seed_fresh_host
from tests.support.servers import serving
from tests.support.slow_clients import SlowClients

pytestmark = pytest.mark.slow


def fetch(url: str, timeout: float) -> tuple[int, bytes]:
    """Status and body of one GET over a fresh connection."""
    with urllib.request.urlopen(url, timeout=timeout) as reply:
        return reply.status, reply.read()


@pytest.fixture
def served(conn, db_path):
    seed_fresh_host(conn, interval_s=600)  # stays fresh for the whole test
    with serving(db_path) as (proc, base):
        yield proc, base


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
