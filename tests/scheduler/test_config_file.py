"""`scheduler --config FILE` over the config files Targoman gpu_monitor ships and documents
(reproductions under tests/data/targoman), as a real child process in the config's folder."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from store import open_db
from tests.support import commands
from tests.support.commands import without_settings

DATA = Path(__file__).parent.parent / "data" / "targoman"
# (config file, its database path, its log path), the paths relative to where it runs
CONFIGS = (
    ("repro_config.json.sample", "run/metrics.db", "run/db_monitor.log"),
    ("repro_config_first.json.sample", "run/gpu_metrics.db", "run/server_communication.log"),
    ("repro_config_paths.json", "run/gpu_metrics.db", "run/gpu_monitor.log"),
    ("repro_config_readme.json", "gpu_metrics.db", "gpu_monitor.log"),
)


def scheduler(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    """The real scheduler run in `cwd`, with no GPUPULSE_* variables but its heartbeat."""
    env = without_settings()
    env["GPUPULSE_HEARTBEAT"] = str(cwd / "hb")
    env["PYTHONPATH"] = str(Path(__file__).parents[2])
    return commands.scheduler(env, *args, cwd=cwd, timeout=60)


@pytest.mark.parametrize(("name", "db", "log"), CONFIGS)
def test_targoman_configs_name_the_database_and_the_log(tmp_path, name, db, log):
    shutil.copy(DATA / name, tmp_path / "config.json")
    (tmp_path / db).parent.mkdir(exist_ok=True)
    open_db(tmp_path / db, migrate=True).close()
    out = scheduler(tmp_path, "--config", "config.json", "--resend", "2026-03-01T10:00")
    assert out.returncode == 1, out.stderr  # the config's database, opened: no such hour
    assert "no hourly aggregate for 2026-03-01" in out.stderr
    assert "unknown keys" not in out.stderr
    assert (tmp_path / log).exists()


def test_unknown_keys_are_named_in_one_warning_line(tmp_path):
    config = json.loads((DATA / "repro_config_paths.json").read_text())
    config["server"]["api_key"] = "x"
    config["retention"] = {"days": 30}
    (tmp_path / "config.json").write_text(json.dumps(config))
    (tmp_path / "run").mkdir()
    open_db(tmp_path / "run/gpu_metrics.db", migrate=True).close()
    out = scheduler(tmp_path, "--config", "config.json", "list-sends")
    assert out.returncode == 0 and "No send attempts found" in out.stdout
    warnings = [line for line in out.stderr.splitlines() if "unknown keys" in line]
    assert len(warnings) == 1 and "server.api_key, retention.days" in warnings[0]
    assert warnings[0] in (tmp_path / "run/gpu_monitor.log").read_text()
