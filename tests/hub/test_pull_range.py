"""A hub's pull of a host silent for years asks for no wider range than every api answers."""

from __future__ import annotations

import time

import pytest

from scheduler.pull import Target, poll
from scheduler.push import http_transport
from tests.support.servers import start_gunicorn, stop

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("silent_days", [366, 800, 20_000])
def test_a_long_silent_host_is_read_in_one_answered_request(db_path, silent_days):
    proc, base = start_gunicorn(db_path, workers=1, GPUPULSE_RETAIN_HOURLY_DAYS="30")
    try:
        now = time.time()
        polled = poll(Target("box", base), int(now) - silent_days * 86_400, now, 10, http_transport)
    finally:
        stop(proc)
    assert polled.hours == [] and polled.gpus == []
