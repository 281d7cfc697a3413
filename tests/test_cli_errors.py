"""Every command line of every service answers a bad option in one line, exit status 2, and
takes its shared options before or after the subcommand, old spellings included."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from store import open_db
from tests.support.commands import console
from tests.support.rows import add_gpu, add_sample

BIN = Path(sys.executable).parent
GPU_STATS = "Timestamp,User,PID,GPU Number,GPU Usage\n1616584200,alice,456815,0,90\n"


def command(argv: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run one of the console scripts without the caller's GPUPULSE_* settings."""
    return console(argv, env)


def assert_one_line_usage_error(done: subprocess.CompletedProcess) -> None:
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "error:" in lines[0] and "(see --help)" in lines[0], lines


@pytest.mark.parametrize(
    "argv",
    [
        ["collector", "--bogus"],
        ["collector", "import", "--bogus"],
        ["collector", "idle-run", "--bogus"],
        ["scheduler", "--bogus"],
        ["scheduler", "-f", "xml"],
        ["gpupulse-api", "--bogus"],
    ],
)
def test_every_command_answers_a_bad_option_in_one_line(argv):
    assert_one_line_usage_error(command(argv))


@pytest.mark.parametrize(
    "argv",
    [
        ["collector", "--db", "x.db", "import"],
        ["collector", "dry-run", "--ticks", "0"],
        ["collector", "--dry-run", "show-db"],
        ["collector", "--interval", "0.5"],
        ["scheduler", "-ls", "-ss", "2026-03-01T10:00"],
        ["scheduler", "run-once", "nap"],
        ["scheduler", "--db"],
        ["gpupulse-api", "--db", "x.db", "usage", "--bogus"],
        ["gpupulse-idle", "--bogus"],
        ["gpupulse-idle", "check"],
    ],
)
def test_the_new_spellings_answer_mistakes_in_one_line_too(argv):
    assert_one_line_usage_error(command(argv))


@pytest.fixture
def files(tmp_path) -> dict[str, str]:
    """A migrated database, a gpu_stats CSV and an idle-runner config, by placeholder."""
    db = tmp_path / "pulse.db"
    conn = open_db(db, migrate=True)
    add_gpu(conn, 1, 0, "GPU-aaaa", "NVIDIA A100", seen=1_700_000_000)
    add_sample(conn, 1_700_000_000, 1, util=50)  # so show-collection has a tick to show
    conn.close()
    (tmp_path / "stats.csv").write_text(GPU_STATS)
    (tmp_path / "idle.conf").write_text("[process-a]\ncmd = true\n")
    return {
        "DB": str(db),
        "CSV": str(tmp_path / "stats.csv"),
        "CONF": str(tmp_path / "idle.conf"),
        "HB": str(tmp_path / "heartbeat"),
    }


@pytest.mark.parametrize(
    "argv",
    [
        ["collector", "--db", "DB", "import", "CSV"],
        ["collector", "import", "--db", "DB", "CSV"],
        ["collector", "import", "CSV", "--db", "DB"],
        ["collector", "--db", "DB", "--migrate"],
        ["collector", "--db", "DB", "migrate"],
        ["collector", "migrate", "--db", "DB"],
        ["collector", "--show-db", "--db", "DB"],
        ["collector", "--db", "DB", "show-db", "--days", "2"],
        ["collector", "--db", "DB", "--backend", "simulated", "dry-run", "--ticks", "1"],
        ["collector", "--backend", "simulated", "--dry-run", "--ticks", "1"],
        ["scheduler", "--db", "DB", "-ls"],
        ["scheduler", "-ls", "--db", "DB"],
        ["scheduler", "--db", "DB", "list-sends"],
        ["scheduler", "list-sends", "--db", "DB"],
        ["scheduler", "--db", "DB", "--run-once", "rollup"],
        ["scheduler", "run-once", "rollup", "--db", "DB"],
        ["scheduler", "--db", "DB", "-sc", "-f", "csv"],
        ["scheduler", "--db", "DB", "show-collection"],
        ["gpupulse-api", "--db", "DB", "usage"],
        ["gpupulse-api", "usage", "--db", "DB"],
        ["gpupulse-api", "--db", "DB", "hosts", "list"],
        ["gpupulse-api", "hosts", "list", "--db", "DB"],
        ["gpupulse-idle", "--config", "CONF", "--check"],
        ["gpupulse-idle", "check", "--config", "CONF"],
        ["gpupulse-idle", "--config", "CONF", "check"],
    ],
    ids=" ".join,
)
def test_shared_options_work_before_or_after_the_command(files, argv):
    done = command([files.get(a, a) for a in argv], {"GPUPULSE_HEARTBEAT": files["HB"]})
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize(
    ("argv", "variable"),
    [
        (["collector", "--healthcheck"], "GPUPULSE_TZ"),
        (["collector", "migrate"], "GPUPULSE_TZ"),
        (["scheduler", "-ls"], "GPUPULSE_TZ"),
        (["gpupulse-api", "usage"], "GPUPULSE_TZ"),
        (["gpupulse-idle", "check", "--config", "CONF"], "GPUPULSE_IDLE_GRACE"),
        (["gpupulse-api", "--healthcheck"], "GPUPULSE_HUB_RATE"),
        (["collector", "--healthcheck"], "GPUPULSE_SIM_GPUS"),
    ],
)
def test_every_service_checks_every_setting_it_reads_at_start(files, argv, variable):
    env = {"GPUPULSE_DB": files["DB"], "GPUPULSE_HEARTBEAT": files["HB"], variable: "Mars/Base"}
    done = command([files.get(a, a) for a in argv], env)
    assert done.returncode == 2, done.stdout + done.stderr
    [line] = done.stderr.strip().splitlines()
    assert f"{variable}='Mars/Base'" in line and done.stdout == ""
