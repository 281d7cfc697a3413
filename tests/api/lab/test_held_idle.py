"""Held idle end to end: ticks written by the collector's recorder, rolled up by the real
scheduler job, read through /api/v1/usage, /metrics, the usage command and the alert rule."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from scheduler import rollup
from scheduler.settings import load
from store.samples import GpuInfo, GpuSample, ProcessSample, Recorder, Tick, set_meta
from tests.support.lab import lab_app

DAY = int(datetime(2026, 3, 3, tzinfo=UTC).timestamp())
NOW = DAY + 86400 + 9 * 3600  # 2026-03-04 09:00 UTC
GPUS = [GpuInfo("GPU-nb", 0, "NVIDIA A100"), GpuInfo("GPU-tr", 1, "NVIDIA A100")]
RULES = Path(__file__).resolve().parents[3] / "docs" / "prometheus" / "rules.yml"


def notebook_day(start: int, minutes: int) -> list[Tick]:
    """alice's notebook holds GPU 0 (6 GiB) idle; bob trains on GPU 1 (busy, 20 GiB), and
    his 300 MiB helper process on GPU 0 holds nothing."""
    return [
        Tick(
            start + 60 * i,
            60,
            [GpuSample(GPUS[0], util=0), GpuSample(GPUS[1], util=95)],
            [
                ProcessSample("GPU-nb", 4242, 1, "alice", "jupyter-lab", 6144),
                ProcessSample("GPU-nb", 5151, 1, "bob", "python helper.py", 300),
                ProcessSample("GPU-tr", 5252, 1, "bob", "python train.py", 20480),
            ],
        )
        for i in range(minutes)
    ]


@pytest.fixture
def rolled(conn, db_path, tmp_path):
    """Two hours on 2026-03-03 and the hour before NOW, rolled up by the scheduler."""
    Recorder(conn).write(notebook_day(DAY + 8 * 3600, 120) + notebook_day(NOW - 3600, 60))
    set_meta(conn, [("host_id", "labbox")])
    env = {"GPUPULSE_DB": str(db_path), "GPUPULSE_HEARTBEAT": str(tmp_path / "hb")}
    rollup.run(conn, load(env), NOW)
    return db_path


def test_usage_reports_held_idle_beside_gpu_hours(rolled):
    client = lab_app(rolled, now=NOW).test_client()
    body = client.get("/api/v1/usage?from=2026-03-01").get_json()
    rows = {r["user"]: r for r in body["rows"]}
    assert rows["alice"]["held_idle_gpu_hours"] == 3.0 and rows["alice"]["gpu_hours"] == 0
    assert rows["bob"]["held_idle_gpu_hours"] == 0 and rows["bob"]["gpu_hours"] == 3.0
    assert body["held_idle_gpu_hours"] == 3.0
    days = client.get("/api/v1/usage?by=day&from=2026-03-01").get_json()["rows"]
    assert [(d["day"], d["held_idle_gpu_hours"]) for d in days] == [
        ("2026-03-03", 2.0),
        ("2026-03-04", 1.0),
    ]
    gpus = client.get("/api/v1/usage?by=gpu&from=2026-03-01").get_json()["rows"]
    assert [(g["gpu_index"], g["held_idle_gpu_hours"]) for g in gpus] == [(0, 3.0), (1, 0)]


def test_metrics_count_held_idle_and_the_stretch_now(rolled):
    client = lab_app(rolled, now=NOW).test_client()
    text = client.get("/metrics").data.decode()
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    user = ("gpupulse_user_held_idle_seconds_total", (("host", "labbox"), ("user", "alice")))
    assert samples[user] == 3 * 3600.0
    stretch = {
        labels: value
        for (name, labels), value in samples.items()
        if name == "gpupulse_gpu_held_idle_stretch_seconds"
    }
    by_gpu = {dict(labels)["gpu"]: (dict(labels)["user"], v) for labels, v in stretch.items()}
    assert by_gpu == {"0": ("alice", 3600.0), "1": ("", 0.0)}


CLI = (sys.executable, "-c", "from api.cli import main; raise SystemExit(main())")


def usage_command(db: Path, *args: str) -> str:
    """The usage command's output, run as a child process over `db`."""
    done = subprocess.run(
        [*CLI, "usage", "--from", "2026-03-01", "--to", "2026-03-04", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "GPUPULSE_DB": str(db), "GPUPULSE_TZ": "UTC"},
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_usage_command_prints_held_idle(rolled):
    out = usage_command(rolled)
    lines = {line.split()[0]: line.split()[1:] for line in out.splitlines()[2:]}
    assert lines["alice"][:2] == ["0.00", "3.00"] and lines["total"][:2] == ["3.00", "3.00"]
    assert json.loads(usage_command(rolled, "--json"))["held_idle_gpu_hours"] == 3.0


PROMTOOL = shutil.which("promtool")


@pytest.mark.skipif(PROMTOOL is None, reason="promtool not installed (Debian package `prometheus`)")
def test_alert_rule_fires_after_half_an_hour_held_idle(tmp_path):
    series = (
        'gpupulse_gpu_held_idle_stretch_seconds{host="labbox",gpu="0",user="alice",name="A100"}'
    )
    case = {
        "rule_files": [str(RULES)],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                # held idle from minute 0, growing 60 s a minute; GPU 1 never held idle
                "input_series": [
                    {"series": series, "values": "0+60x60"},
                    {"series": series.replace('"0"', '"1"').replace("alice", ""), "values": "0x60"},
                ],
                "alert_rule_test": [
                    {"eval_time": "29m", "alertname": "GpuPulseGpuHeldIdle", "exp_alerts": []},
                    {
                        "eval_time": "35m",
                        "alertname": "GpuPulseGpuHeldIdle",
                        "exp_alerts": [
                            {
                                "exp_labels": {
                                    "host": "labbox",
                                    "gpu": "0",
                                    "user": "alice",
                                    "name": "A100",
                                    "severity": "warning",
                                },
                                "exp_annotations": {
                                    "summary": "GPU 0 on labbox held idle by alice",
                                    "description": "alice has held GPU 0 (A100) on labbox idle "
                                    "for 35m 0s.\n",
                                },
                            }
                        ],
                    },
                ],
            }
        ],
    }
    path = tmp_path / "held_idle_test.yml"
    path.write_text(json.dumps(case))  # JSON is YAML
    done = subprocess.run(
        [PROMTOOL, "test", "rules", str(path)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
