"""The `collector` command: real processes where signals and exit codes matter."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from collector.cli import main
from sampling.backend import BackendUnavailable
from sampling.simulated import SimulatedBackend
from store import open_db
from store.samples import Recorder, Tick, set_meta
from tests.support.commands import python_m, run_text, without_settings

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def collector(*args: str, env: dict | None = None, timeout: float = 60):
    """Run `python -m collector` as a child process and return the CompletedProcess."""
    return run_text(python_m("collector", *args), without_settings(env), ROOT, timeout)


def test_dry_run_prints_gpus_and_processes_and_writes_nothing(tmp_path):
    db = tmp_path / "sub" / "pulse.db"
    result = collector("--backend", "simulated", "--dry-run", "--ticks", "2", "--db", str(db))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.count("tick ") == 2
    assert out.count("NVIDIA A100 80GB PCIe") == 2
    assert "fan n/a" in out  # the GPU without a fan sensor
    assert "nothing was written" in out
    assert not db.exists() and not db.parent.exists()


def test_dry_run_shows_processes_when_jobs_run(capsys, tmp_path):
    busy = lambda _args: SimulatedBackend(gpus=2, processes=3)  # noqa: E731
    code = main(["--dry-run", "--ticks", "1", "--db", str(tmp_path / "x.db")], busy)
    out = capsys.readouterr().out
    assert code == 0
    assert out.count("    pid ") == 3
    assert not (tmp_path / "x.db").exists()


def test_dry_run_without_nvml_fails_in_one_line(tmp_path):
    result = collector("--backend", "nvml", "--dry-run", "--db", str(tmp_path / "x.db"))
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "NVML" in lines[0] or "nvidia-ml-py" in lines[0]
    assert "driver" in lines[0] and "pid: host" in lines[0]
    assert not (tmp_path / "x.db").exists()


def test_backend_factory_failure_is_one_line_naming_what_to_check(capsys, tmp_path):
    def broken(_args):
        raise BackendUnavailable("NVML Shared Library Not Found")

    assert main(["--dry-run", "--db", str(tmp_path / "x.db")], broken) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "NVML Shared Library Not Found" in err[0]
    assert "--gpus" in err[0] and "pid: host" in err[0] and "driver" in err[0]


@pytest.mark.parametrize(
    ("args", "env", "needle"),
    [
        (["--bogus"], {}, "--bogus"),
        (["--interval", "0.5"], {}, "--interval"),
        (["--interval", "abc"], {}, "--interval"),
        (["--backend", "fake"], {}, "--backend"),
        (["--dry-run", "--show-db"], {}, "--show-db"),
        (["--show-db", "--format", "xml"], {}, "--format"),
        # The sampling loop itself waits before it exits (tests/test_setting_errors.py).
        (["--dry-run"], {"GPUPULSE_INTERVAL": "fast"}, "GPUPULSE_INTERVAL"),
        (["--dry-run"], {"GPUPULSE_BACKEND": "cuda"}, "GPUPULSE_BACKEND"),
    ],
)
def test_bad_options_are_one_line_errors(tmp_path, args, env, needle):
    result = collector(*args, "--db", str(tmp_path / "x.db"), env=env)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert needle in lines[0]
    assert result.stdout == ""


def test_sigterm_finishes_the_write_and_exits_within_two_seconds(tmp_path):
    db = tmp_path / "pulse.db"
    env = without_settings()
    proc = subprocess.Popen(
        python_m("collector", "--backend", "simulated", "--interval", "1", "--db", str(db)),
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and _ticks(db) < 3:
            time.sleep(0.1)
        assert _ticks(db) >= 3
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
        elapsed = time.monotonic() - sent
    finally:
        proc.kill()
    _, err = proc.communicate()
    assert proc.returncode == 0, err
    assert elapsed < 2.0
    assert "received SIGTERM" in err
    conn = open_db(db)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    stopped = int(err.split("stopped after ")[1].split()[0])
    # Every tick taken before the signal (and the one in progress) is on disk.
    assert conn.execute("SELECT count(DISTINCT ts) FROM samples").fetchone()[0] == stopped
    assert conn.execute("SELECT value FROM meta WHERE key = 'interval'").fetchone()[0] == "1"
    conn.close()


def _ticks(db) -> int:
    if not db.exists():
        return 0
    try:
        conn = open_db(db)
    except Exception:
        return 0
    try:
        return conn.execute("SELECT count(DISTINCT ts) FROM samples").fetchone()[0]
    except Exception:
        return 0
    finally:
        conn.close()


def test_simulated_backfill_fills_an_empty_store_once(tmp_path):
    db = tmp_path / "pulse.db"
    env = {"GPUPULSE_SIM_BACKFILL_DAYS": "2"}
    proc = subprocess.Popen(
        python_m("collector", "--backend", "simulated", "--interval", "1", "--db", str(db)),
        cwd=ROOT,
        env={**os.environ, **env},
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and _ticks(db) < 2 * 1440 + 1:
            time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
    finally:
        proc.kill()
    conn = open_db(db)
    history = conn.execute("SELECT count(DISTINCT ts) FROM samples WHERE tick_ms = 60000")
    assert history.fetchone()[0] == 2 * 1440
    assert conn.execute("SELECT count(*) FROM samples WHERE tick_ms = 1000").fetchone()[0] >= 4
    conn.close()


def _store_ticks(conn, times, interval="5"):
    backend = SimulatedBackend()
    Recorder(conn).write([Tick(t, 5, backend.sample(t, 5).samples) for t in times])
    set_meta(conn, [("interval", interval)])


def test_healthcheck(conn, db_path):
    result = collector("--healthcheck", "--db", str(db_path))
    assert result.returncode == 1
    assert "no samples" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    newest = int(time.time()) - 60
    _store_ticks(conn, [newest])
    before = time.time()
    result = collector("--healthcheck", "--db", str(db_path))
    after = time.time()
    assert result.returncode == 1
    # The age is taken while the command runs, however long it takes to start.
    age = int(
        re.fullmatch(r"unhealthy: newest sample is (\d+) s old \(limit 15 s\)\n", result.stderr)[1]
    )
    assert before - newest - 1 <= age <= after - newest + 1
    _store_ticks(conn, [int(time.time())])
    result = collector("--healthcheck", "--db", str(db_path))
    assert result.returncode == 0, result.stderr
    missing = collector("--healthcheck", "--db", str(db_path.parent / "none.db"))
    assert missing.returncode == 1 and "does not exist" in missing.stderr


def test_healthcheck_uses_the_collectors_interval_from_meta(conn, db_path):
    _store_ticks(conn, [int(time.time()) - 60], interval="30")
    assert collector("--healthcheck", "--db", str(db_path)).returncode == 0


def test_show_db_formats(conn, db_path):
    now = int(time.time())
    today_start = now - now % 86400
    busy = SimulatedBackend(gpus=2, processes=2)  # always busy: util > 1 % in every tick
    ticks = [Tick(t, 60, busy.sample(t, 60).samples) for t in range(today_start, now, 60)]
    Recorder(conn).write(ticks)
    minutes = len(ticks)

    table = collector("--show-db", "--db", str(db_path), "--days", "2")
    assert table.returncode == 0, table.stderr
    lines = table.stdout.strip().splitlines()
    assert "active min" in lines[1] and len(lines) == 4
    assert lines[-1].split()[1] == f"{float(minutes):.1f}"

    js = collector("--show-db", "--db", str(db_path), "--format", "json", "--days", "3")
    rows = json.loads(js.stdout)
    assert [r["active_minutes"] for r in rows] == [0.0, 0.0, float(minutes)]
    assert rows[-1]["gpu_hours"] == round(2 * minutes / 60, 2)
    assert rows[-1]["peak_utilization"] <= 100

    csv = collector("--show-db", "--db", str(db_path), "--format", "csv", "--gpu", "1")
    head, *body = csv.stdout.strip().splitlines()
    assert head == "day,active_minutes,gpu_hours,peak_utilization,avg_utilization"
    assert len(body) == 7
    assert body[-1].split(",")[2] == f"{round(minutes / 60, 2)}"

    missing = collector("--show-db", "--db", str(db_path), "--gpu", "9")
    assert missing.returncode == 1 and "--gpu 9" in missing.stderr


def test_migrate_only_creates_the_schema_without_a_gpu(tmp_path, capsys):
    from store import SCHEMA_VERSION

    db = tmp_path / "hub" / "pulse.db"
    assert main(["--migrate", "--db", str(db)]) == 0
    assert f"schema v{SCHEMA_VERSION}" in capsys.readouterr().out
    conn = open_db(db)  # a reader accepts it: the schema is current
    assert conn.execute("SELECT count(*) FROM samples").fetchone()[0] == 0


def test_idle_run_subcommand_reaches_the_idle_runner(tmp_path):
    config = tmp_path / "idle.conf"
    config.write_text("[defaults]\nbogus = 1\n")
    collector = Path(sys.executable).parent / "collector"
    done = subprocess.run(
        [str(collector), "idle-run", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    err = done.stderr.strip().splitlines()
    assert len(err) == 1 and "idle.conf:2: [defaults] bogus is not a known key" in err[0]
