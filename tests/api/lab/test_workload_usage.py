"""Usage by workload: processes' containers, pods and Slurm jobs (as the collector records
them from their cgroup files), rolled up by the real scheduler job, read as JSON and by the
usage command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime

import pytest

from scheduler import rollup
from scheduler.settings import load
from store.samples import GpuInfo, GpuSample, ProcessSample, Recorder, Tick
from tests.support.lab import lab_app

START = int(datetime(2026, 3, 3, 10, tzinfo=UTC).timestamp())
NOW = START + 86400
GPUS = [GpuInfo("GPU-a", 0, "NVIDIA A100"), GpuInfo("GPU-b", 1, "NVIDIA A100")]


def ticks() -> list[Tick]:
    """Two root jobs in two containers share GPU 0 by SM share (3:1) for an hour; Slurm job
    17 of alice runs on GPU 1 for two hours; a process with no workload after that."""
    out = []
    for i in range(180):
        procs = []
        if i < 60:
            procs += [
                ProcessSample("GPU-a", 10, 1, "root", "python a.py", 4096, 75, "docker trainer"),
                ProcessSample("GPU-a", 11, 1, "root", "python b.py", 4096, 25, "pod 3d274242"),
            ]
        if i < 120:
            procs.append(ProcessSample("GPU-b", 20, 1, "alice", "srun", 8192, 90, "slurm job 17"))
        else:
            procs.append(ProcessSample("GPU-b", 30, 1, "bob", "python", 2048, 90))
        samples = [GpuSample(GPUS[0], util=90), GpuSample(GPUS[1], util=90)]
        out.append(Tick(START + 60 * i, 60, samples, procs))
    return out


@pytest.fixture
def rolled(conn, db_path, tmp_path):
    Recorder(conn).write(ticks())
    env = {"GPUPULSE_DB": str(db_path), "GPUPULSE_HEARTBEAT": str(tmp_path / "hb")}
    rollup.run(conn, load(env), NOW)
    return db_path


def test_usage_by_workload(rolled):
    client = lab_app(rolled, now=NOW).test_client()
    body = client.get("/api/v1/usage?by=workload&from=2026-03-01").get_json()
    rows = [(r["workload"], r["gpu_hours"], r["users"]) for r in body["rows"]]
    assert rows == [
        ("slurm job 17", 2.0, {"alice": 2.0}),
        (None, 1.0, {"bob": 1.0}),
        ("docker trainer", 0.75, {"root": 0.75}),
        ("pod 3d274242", 0.25, {"root": 0.25}),
    ]
    assert body["total_gpu_hours"] == 4.0  # the same hours as by user, grouped otherwise
    listed = client.get("/openapi.json").get_json()
    (param,) = [
        p for p in listed["paths"]["/api/v1/usage"]["get"]["parameters"] if p["name"] == "by"
    ]
    assert "workload" in param["schema"]["enum"]


def test_usage_command_by_workload(rolled):
    cli = (sys.executable, "-c", "from api.cli import main; raise SystemExit(main())")
    env = {**os.environ, "GPUPULSE_DB": str(rolled), "GPUPULSE_TZ": "UTC"}
    args = [*cli, "usage", "--by", "workload", "--from", "2026-03-01", "--to", "2026-03-04"]
    done = subprocess.run(args, capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("GPU-hours by workload")
    assert lines[2].split()[:4] == ["slurm", "job", "17", "2.00"]
    assert lines[3].split()[:3] == ["(no", "workload)", "1.00"]
    done = subprocess.run([*args, "--json"], capture_output=True, text=True, timeout=60, env=env)
    assert json.loads(done.stdout)["rows"][2]["workload"] == "docker trainer"
