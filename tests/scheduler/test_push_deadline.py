"""A receiver that drips its answer one byte at a time: each push attempt still ends at its
deadline, and a real scheduler process stops on SIGTERM in the middle of such a push, well
inside Docker's 10 s stop grace."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from scheduler import push, rollup
from tests.support import fleet
from tests.support.commands import without_settings
from tests.support.drip import DripServer

START = int(datetime(2026, 3, 1, tzinfo=UTC).timestamp())


@pytest.fixture
def drip():
    server = DripServer(every_s=0.2, for_s=60)
    yield server
    server.close()


@pytest.fixture
def backlog(conn, settings):
    """Six hours of two GPUs, rolled up and queued."""
    fleet.insert(conn, *fleet.generate(fleet.add_gpus(conn, 2), START, START + 6 * 3600, 60))
    rollup.run(conn, settings, START + 8 * 3600)
    assert conn.execute("SELECT count(*) FROM push_queue").fetchone()[0] == 6
    return conn


def test_an_attempt_ends_at_its_deadline_however_slowly_the_answer_drips(backlog, settings, drip):
    online = replace(settings, push_url=drip.url, push_timeout_s=1.0, push_per_request=1)
    started = time.monotonic()
    outcome = push.send(backlog, online, START)
    took = time.monotonic() - started
    assert not outcome.success and outcome.retry
    assert outcome.error == "timeout: no whole answer within 1 s"
    assert took < 10  # the drip goes on for 60 s: only the deadline ended it


def test_sigterm_during_a_dripping_push_stops_the_scheduler_at_once(
    backlog, db_path, tmp_path, drip
):
    env = without_settings()
    env.update(
        GPUPULSE_DB=str(db_path),
        GPUPULSE_HOST_ID="host-a",
        GPUPULSE_HEARTBEAT=str(tmp_path / "hb"),
        GPUPULSE_PUSH_URL=drip.url,
        GPUPULSE_PUSH_TIMEOUT="300",  # the longest allowed: only the stop may end it
        GPUPULSE_PUSH_PER_REQUEST="1",
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "scheduler.cli"], env=env, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 60
        while drip.connections == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert drip.connections == 1, "the scheduler never started its push"
        time.sleep(0.5)  # the answer is dripping now
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
        took = time.monotonic() - sent
    finally:
        proc.kill()
        stderr = proc.stderr.read()
    assert code == 0, stderr
    assert took < 5, f"SIGTERM took {took:.1f} s"
    assert "scheduler stopped" in stderr and "Traceback" not in stderr
    assert drip.connections == 1  # no further hour was tried after the stop
