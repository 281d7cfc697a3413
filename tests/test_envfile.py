"""Every command reads the settings file the systemd units read, so a check from a shell
(`sudo -u gpupulse collector --dry-run`) sees what the services see."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from runtime import envfile
from runtime.kinds import SettingError
from tests.support.commands import console

BIN = Path(sys.executable).parent


def run(argv: list[str], **env: str) -> subprocess.CompletedProcess:
    """A console script with only `env` among the GPUPULSE_* variables."""
    return console(argv, env)


def test_lines_are_read_as_systemd_reads_them():
    text = (
        "# a comment\n; another\n\nGPUPULSE_TZ=Europe/Berlin\n"
        "GPUPULSE_PUSH_TOKEN=\"a b=c\"\nGPUPULSE_HOST_ID='gpu-box'\n  GPUPULSE_INTERVAL = 10 \n"
        "not a pair\n"
    )
    assert envfile.parse(text) == {
        "GPUPULSE_TZ": "Europe/Berlin",
        "GPUPULSE_PUSH_TOKEN": "a b=c",
        "GPUPULSE_HOST_ID": "gpu-box",
        "GPUPULSE_INTERVAL": "10",
    }


def test_the_system_file_is_read_when_present_and_the_environment_wins(tmp_path):
    system = tmp_path / "env"
    assert envfile.merged({"A": "1"}, str(system)) == {"A": "1"}  # absent: nothing to read
    system.write_text("GPUPULSE_TZ=Asia/Tokyo\nGPUPULSE_INTERVAL=30\n")
    merged = envfile.merged({"GPUPULSE_INTERVAL": "5"}, str(system))
    assert merged == {"GPUPULSE_TZ": "Asia/Tokyo", "GPUPULSE_INTERVAL": "5"}


def test_an_unreadable_file_is_one_line_naming_it(tmp_path):
    with pytest.raises(SettingError, match=r"^GPUPULSE_ENV_FILE='.*': cannot read it \("):
        envfile.merged({"GPUPULSE_ENV_FILE": str(tmp_path)}, "/nonexistent")
    done = run(["collector", "--dry-run"], GPUPULSE_ENV_FILE=str(tmp_path / "missing"))
    assert done.returncode == 2
    [line] = done.stderr.splitlines()
    assert line.startswith("collector: GPUPULSE_ENV_FILE=") and "cannot read it" in line


def test_every_command_takes_its_settings_from_the_file(tmp_path):
    env_file = tmp_path / "env"
    env_file.write_text(f"GPUPULSE_BACKEND=simulated\nGPUPULSE_DB={tmp_path / 'pulse.db'}\n")
    done = run(["collector", "--dry-run", "--ticks", "1"], GPUPULSE_ENV_FILE=str(env_file))
    assert done.returncode == 0, done.stderr
    assert f"dry run with the simulated backend: nothing was written to {tmp_path}" in done.stdout
    env_file.write_text("GPUPULSE_TZ=Mars/Base\n")
    for prog in ("collector", "scheduler", "gpupulse-api"):
        done = run([prog, "--healthcheck"], GPUPULSE_ENV_FILE=str(env_file))
        assert done.returncode == 2, (prog, done.stderr)
        assert done.stderr.splitlines() == [
            f"{prog}: GPUPULSE_TZ='Mars/Base' is not an IANA time zone name"
        ]
    # A variable of the command's own environment wins over the file.
    done = run(["scheduler", "--healthcheck"], GPUPULSE_ENV_FILE=str(env_file), GPUPULSE_TZ="UTC")
    assert "GPUPULSE_TZ" not in done.stderr
