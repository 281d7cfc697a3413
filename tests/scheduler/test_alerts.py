"""Alerts delivered through real Apprise (`json://`) to an HTTP receiver on loopback: by the
real `scheduler run-once alerts` command, and in-process with an injected clock. Each episode
is told once, its end once, and both are recorded in the events table."""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import replace

import pytest

from runtime.settings import SettingError
from scheduler import alerts, rollup
from scheduler.settings import load
from store import atomic
from store.samples import GpuInfo, GpuSample, ProcessSample, Recorder, Tick, set_meta
from tests.support.commands import entry_point
from tests.support.receiver import receiver

GPUS = [GpuInfo("GPU-nb", 0, "NVIDIA A100"), GpuInfo("GPU-tr", 1, "NVIDIA A100")]
POD = "pod 3d274242"


def lab_ticks(end: int, minutes: int, notebook_busy: bool = False) -> list[Tick]:
    """alice's notebook holds GPU 0 (6 GiB) idle; bob trains on GPU 1; ticks end at `end`."""
    start = end - 60 * (minutes - 1)
    return [
        Tick(
            start + 60 * i,
            60,
            [
                GpuSample(GPUS[0], util=90 if notebook_busy else 0),
                GpuSample(GPUS[1], util=95),
            ],
            [
                ProcessSample(
                    "GPU-nb", 4242, 1, "alice", "jupyter-lab", 6144, None, "pod 3d274242"
                ),
                ProcessSample("GPU-tr", 5252, 1, "bob", "python train.py", 20480),
            ],
        )
        for i in range(minutes)
    ]


def add_stale_hub_host(conn, now: float) -> None:
    """A hub host whose last live status came ten minutes ago (it sends every 60 s)."""
    with atomic(conn):
        conn.execute(
            "INSERT INTO hub_hosts (id, name, source, created) VALUES (7, 'gpu-box-3', 'push', 0)"
        )
        conn.execute(
            "INSERT INTO hub_status (host, received, every_s, body) VALUES (7, ?, 60, '{}')",
            (int(now) - 600,),
        )


def scheduler_alerts(db_path, url: str, tmp_path) -> subprocess.CompletedProcess:
    """`scheduler run-once alerts` as a child process, alerts to `url`."""
    env = {
        **os.environ,
        "GPUPULSE_DB": str(db_path),
        "GPUPULSE_HEARTBEAT": str(tmp_path / "hb"),
        "GPUPULSE_ALERT_URLS": url,
        "GPUPULSE_QUOTAS": "bob=0.75",
        "GPUPULSE_HOST_ID": "labbox",
    }
    cmd = entry_point("scheduler.cli", "run-once", "alerts")
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)


def events(conn) -> list[tuple[str, str]]:
    return conn.execute("SELECT kind, detail FROM events ORDER BY id").fetchall()


def test_a_real_scheduler_run_tells_each_episode_once_and_its_end(conn, db_path, tmp_path):
    now = int(time.time())
    Recorder(conn).write(lab_ticks(now, 40))
    set_meta(conn, [("interval", "60")])
    env = {"GPUPULSE_DB": str(db_path), "GPUPULSE_HEARTBEAT": str(tmp_path / "hb")}
    rollup.run(conn, load(env), now)  # bob's 40 GPU-minutes: 89 % of his 0.75 h
    with atomic(conn):
        conn.execute("UPDATE gpus SET lost_at = ? WHERE uuid = 'GPU-tr'", (now - 30,))
    add_stale_hub_host(conn, now)
    with receiver() as (address, got):
        done = scheduler_alerts(db_path, f"json://{address}/alerts", tmp_path)
        assert done.returncode == 0, done.stderr
        titles = sorted(m["title"] for m in got)
        assert titles == [
            "GPU 0 held idle on labbox",
            "GPU 1 lost on labbox",
            "bob at 80 % of the GPU quota",
            "host gpu-box-3 stale on the hub",
        ]
        held = next(m for m in got if m["title"].startswith("GPU 0"))
        assert "held idle for 40 min" in held["message"]
        assert "alice (pid 4242, jupyter-lab, pod 3d274242, 6.0 GiB)" in held["message"]
        assert all(m["path"] == "/alerts" for m in got)
        assert [k for k, _ in events(conn)] == ["alert"] * 4

        again = scheduler_alerts(db_path, f"json://{address}/alerts", tmp_path)
        assert again.returncode == 0 and len(got) == 4  # once per episode

        # the notebook works again and the GPU came back: two recovery messages
        Recorder(conn).write(lab_ticks(now, 1, notebook_busy=True))  # its newest tick, redone
        with atomic(conn):
            conn.execute("UPDATE gpus SET lost_at = NULL")
        third = scheduler_alerts(db_path, f"json://{address}/alerts", tmp_path)
        assert third.returncode == 0, third.stderr
        assert sorted(m["title"] for m in got[4:]) == [
            "Resolved: GPU 0 held idle on labbox",
            "Resolved: GPU 1 lost on labbox",
        ]
        assert got[4]["message"] in (
            "GPU 0 on labbox is no longer held idle.",
            "GPU 1 on labbox is back.",
        )
    kinds = [k for k, _ in events(conn)]
    assert kinds == ["alert"] * 4 + ["alert_resolved"] * 2
    assert conn.execute("SELECT count(*) FROM alert_state").fetchone()[0] == 2


def test_undelivered_alerts_are_tried_again_and_quota_levels(conn, db_path, tmp_path):
    now = 2_000_000_000
    Recorder(conn).write(lab_ticks(now, 10))
    set_meta(conn, [("interval", "60"), ("host_id", "labbox")])
    env = {"GPUPULSE_DB": str(db_path), "GPUPULSE_HEARTBEAT": str(tmp_path / "hb")}
    rollup.run(conn, load(env), now)
    with receiver([500]) as (address, got):  # the receiver fails the first message
        settings = load(
            {**env, "GPUPULSE_ALERT_URLS": f"json://{address}", "GPUPULSE_QUOTAS": "bob=0.1"}
        )
        first = alerts.run(conn, settings, now)
        assert first["opened"] == 2 and first["sent"] == 1 and len(got) == 1
        second = alerts.run(conn, settings, now + 60)
        assert (second["opened"], second["sent"]) == (0, 1)
        assert sorted(m["title"] for m in got) == [
            "bob at 100 % of the GPU quota",
            "bob at 80 % of the GPU quota",
        ]
        assert "bob has used 0.2 of 0.1 GPU-hours (167 %)" in got[0]["message"]
        # the collector stops: ten minutes without a sample is an episode of its own
        third = alerts.run(conn, settings, now + 600)
        assert third["opened"] == 1
        assert got[-1]["title"] == "collector on labbox not writing"
        assert "cannot write the database" in got[-1]["message"]


def test_without_urls_episodes_are_recorded_only(conn, db_path, tmp_path):
    now = 2_000_000_000
    Recorder(conn).write(lab_ticks(now, 40))
    set_meta(conn, [("interval", "60")])
    env = {"GPUPULSE_DB": str(db_path), "GPUPULSE_HEARTBEAT": str(tmp_path / "hb")}
    result = alerts.run(conn, load(env), now + 30)
    assert (result["opened"], result["sent"]) == (1, 1)
    assert events(conn)[0][0] == "alert" and "held idle" in events(conn)[0][1]
    shorter = replace(load(env), held_idle_alert_s=3600)  # 40 min is not yet too long
    assert alerts.conditions(conn, shorter, now + 30) == []


def test_a_url_apprise_cannot_send_to_is_refused_in_one_line():
    with pytest.raises(SettingError, match="GPUPULSE_ALERT_URLS: 'bogus://x' is not a URL"):
        load({"GPUPULSE_ALERT_URLS": "json://127.0.0.1:9/x, bogus://x"})
