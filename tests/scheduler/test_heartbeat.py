"""The scheduler's heartbeat lives beside the database, so a healthcheck from any shell that
reads the same settings sees the running service's file."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from scheduler import heartbeat
from scheduler.settings import load
from tests.support.commands import without_settings

BIN = Path(sys.executable).parent


def test_the_heartbeat_is_beside_the_database_unless_set(tmp_path):
    db = tmp_path / "state" / "pulse.db"
    assert load({"GPUPULSE_DB": str(db)}).heartbeat == str(db.parent / "scheduler.heartbeat")
    chosen = str(tmp_path / "elsewhere")
    assert load({"GPUPULSE_DB": str(db), "GPUPULSE_HEARTBEAT": chosen}).heartbeat == chosen
    assert load({}).heartbeat == "/var/lib/gpu-pulse/scheduler.heartbeat"
    assert heartbeat.location("", "/srv/gpu-pulse/pulse.db") == "/srv/gpu-pulse/scheduler.heartbeat"


def test_a_healthcheck_from_another_shell_sees_the_running_loop(db_path):
    env = without_settings()
    env["GPUPULSE_DB"] = str(db_path)
    loop = subprocess.Popen(
        [str(BIN / "scheduler"), "--offline"], env=env, stderr=subprocess.PIPE, text=True
    )
    beat = db_path.parent / "scheduler.heartbeat"
    try:
        deadline = time.monotonic() + 30
        while not beat.exists():
            assert time.monotonic() < deadline, "no heartbeat beside the database"
            assert loop.poll() is None, loop.stderr.read()
            time.sleep(0.1)
        check = subprocess.run(
            [str(BIN / "scheduler"), "--healthcheck"],
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert check.returncode == 0, check.stderr
        assert check.stdout.startswith("scheduler loop alive")
    finally:
        loop.send_signal(signal.SIGTERM)
        loop.wait(timeout=30)
