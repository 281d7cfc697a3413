"""The `scheduler` command as a real child process."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
import time
from datetime import date

import pytest

from scheduler import rollup
from store import SCHEMA_VERSION, aggregate
from tests.support import commands, fleet
from tests.support.commands import without_settings

cli = commands.scheduler


@pytest.fixture
def env(db_path, tmp_path):
    e = without_settings()
    e.update(
        GPUPULSE_DB=str(db_path),
        GPUPULSE_TZ="Europe/Berlin",
        GPUPULSE_HEARTBEAT=str(tmp_path / "hb"),
        GPUPULSE_HOST_ID="host-a",
    )
    return e


@pytest.fixture
def filled(conn, settings):
    gpus = fleet.add_gpus(conn, 2)
    start = aggregate.day_start(date(2026, 3, 28), settings.tz)
    fleet.insert(conn, *fleet.generate(gpus, start, start + 3 * 3600, 60))
    rollup.run(conn, settings, start + 5 * 3600)
    return start


@pytest.mark.parametrize("flag", ["-ss", "-sc", "--resend"])
@pytest.mark.parametrize("bad", ["yesterday", "2026-13-01T10:00", "2026-03-29T02:30"])
def test_bad_times_get_one_line_and_nonzero(env, flag, bad):
    out = cli(env, flag, bad)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and bad in lines[0]


def test_show_collection_hour_raw_and_latest(env, filled):
    hour = cli(env, "-sc", "2026-03-28T01:00")  # Berlin 01:00 = 00:00 UTC, an hour
    data = json.loads(hour.stdout)
    assert data[0]["timestamp"] == "2026-03-28T00:00:00Z"
    assert {g["device_id"] for g in data[0]["gpus"]} == {"GPU-0000", "GPU-0001"}
    assert data[0]["gpus"][0]["samples"] == 60
    raw = cli(env, "-sc", "2026-03-28 01:30:25", "-f", "csv")
    rows = list(csv.DictReader(io.StringIO(raw.stdout)))
    assert [r["timestamp"] for r in rows] == ["2026-03-28T00:30:00Z"] * 2
    latest = json.loads(cli(env, "-sc").stdout)
    assert latest[0]["timestamp"] == "2026-03-28T01:59:00Z"
    missing = cli(env, "-sc", "2020-01-01T10:00")
    assert missing.returncode == 1 and "no collection data" in missing.stderr


def test_list_search_and_resend_offline(env, filled):
    listed = cli(env, "-ls")
    assert listed.returncode == 0 and listed.stdout.count("| pending") == 3
    found = cli(env, "-ss", "2026-03-28T01:00")
    assert found.returncode == 0 and "State: pending" in found.stdout
    resend = cli(env, "--resend", "2026-03-28T02:00", "--offline")
    assert resend.returncode == 0 and "not sent" in resend.stdout
    unknown = cli(env, "--resend", "2020-01-01T10:00")
    assert unknown.returncode == 1 and len(unknown.stderr.strip().splitlines()) == 1


def test_run_once_and_config_file(env, filled, tmp_path):
    config = tmp_path / "config.json"
    config.write_text(
        '{"server": {"url": "", "contract_number": "77"}, // Targoman style\n'
        ' "database": {"file": "/nowhere/x.db"}, "logging": {"level": "INFO"}}'
    )
    out = cli(env, "--config", str(config), "--run-once", "rollup")  # env GPUPULSE_DB wins
    assert out.returncode == 0 and json.loads(out.stdout)["job"] == "rollup"
    broken = tmp_path / "broken.json"
    broken.write_text("{nope")
    out = cli(env, "--config", str(broken), "--run-once", "prune")
    assert out.returncode == 2 and "not JSON" in out.stderr


def test_loop_waits_for_db_healthcheck_and_sigterm(env, tmp_path):
    env = {**env, "GPUPULSE_DB": str(tmp_path / "later.db"), "GPUPULSE_DB_WAIT": "0.2"}
    assert cli(env, "--healthcheck").returncode == 1  # no loop yet
    proc = subprocess.Popen(
        [sys.executable, "-m", "scheduler.cli"], env=env, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.time() + 20
        while not os.path.exists(tmp_path / "hb") and time.time() < deadline:
            time.sleep(0.1)
        health = cli(env, "--healthcheck")
        assert health.returncode == 0, health.stderr
        from store import open_db

        open_db(tmp_path / "later.db", migrate=True).close()  # the collector arrives and migrates
        time.sleep(1.5)
        started = time.time()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=5) == 0
        assert time.time() - started < 3
    finally:
        proc.kill() if proc.poll() is None else None
    log = proc.stderr.read()
    assert "waiting for the collector to create" in log and f"schema v{SCHEMA_VERSION}" in log
