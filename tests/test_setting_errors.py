"""A bad setting stops a service at start with one line naming the variable, exit status 2,
and a service waits before it exits so Docker or systemd never restarts it in a loop."""

from __future__ import annotations

import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from runtime.kinds import Misfit, SettingError
from runtime.settings import check_all
from runtime.table import EVERY, SETTINGS
from tests.support.commands import console, without_settings

BIN = Path(sys.executable).parent
# The long-running command of each service, and a setting only that service reads.
SERVICES = {
    "collector": (["collector"], "GPUPULSE_INTERVAL", "abc"),
    "scheduler": (["scheduler"], "GPUPULSE_PUSH_EVERY", "soon"),
    "api": (["gpupulse-api"], "GPUPULSE_API_WORKERS", "two"),
    "idle": (["gpupulse-idle", "--config", "/nonexistent"], "GPUPULSE_IDLE_GRACE", "ten"),
}
HEALTHCHECKS = {
    "collector": ["collector", "--healthcheck"],
    "scheduler": ["scheduler", "--healthcheck"],
    "api": ["gpupulse-api", "--healthcheck"],
}
BAD = "\x7fnot-a-value"


def clean_env(tmp_path: Path, **settings: str) -> dict[str, str]:
    """The caller's environment without GPUPULSE_*, a database in tmp_path, and `settings`."""
    env = without_settings()
    return {**env, "GPUPULSE_DB": str(tmp_path / "pulse.db"), **settings}


def rejects(name: str) -> bool:
    """Whether the setting's kind refuses BAD (free text such as a name takes anything)."""
    try:
        SETTINGS[name].kind.parse(BAD)
    except Misfit:
        return True
    return False


@pytest.mark.parametrize("reader", EVERY)
def test_every_setting_a_service_reads_is_checked_at_start(reader):
    names = [n for n, s in SETTINGS.items() if reader in s.readers and rejects(n)]
    assert names
    for name in names:
        with pytest.raises(SettingError, match=f"^{name}="):
            check_all(reader, {name: BAD})
    check_all(reader, {})  # every default fits


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_names_the_setting_then_waits_instead_of_restarting_in_a_loop(tmp_path, service):
    argv, name, value = SERVICES[service]
    proc = subprocess.Popen(
        [str(BIN / argv[0]), *argv[1:]],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=clean_env(tmp_path, **{name: value}),
    )
    try:
        ready, _, _ = select.select([proc.stderr], [], [], 60)
        assert ready, "no line on stderr within 60 s"
        line = proc.stderr.readline()
        assert line.startswith(f"{argv[0]}: {name}={value!r} ")
        assert "exiting in 120 s" in line
        # It holds (120 s) rather than exiting for a restart policy to start it again.
        assert proc.poll() is None
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 2
        assert time.monotonic() - started < 30
        assert proc.stderr.read() == "", "more than one line"
        assert not (tmp_path / "pulse.db").exists(), "it started before the check"
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.parametrize("service", HEALTHCHECKS)
def test_a_healthcheck_gives_the_same_reason_at_once(tmp_path, service):
    argv = HEALTHCHECKS[service]
    _, name, value = SERVICES[service]
    done = console(argv, {"GPUPULSE_DB": str(tmp_path / "pulse.db"), name: value})
    assert done.returncode == 2
    assert done.stderr.splitlines() == [f"{argv[0]}: {name}={value!r} is not a number"]


def test_the_collector_rejects_an_unknown_time_zone_as_the_scheduler_does(tmp_path):
    env = {"GPUPULSE_DB": str(tmp_path / "pulse.db"), "GPUPULSE_TZ": "Mars/Olympus_Mons"}
    for prog, argv in (
        ("collector", ["--dry-run", "--backend", "simulated"]),
        ("scheduler", ["-ls"]),
    ):
        done = console([prog, *argv], env)
        assert done.returncode == 2
        assert done.stderr.splitlines() == [
            f"{prog}: GPUPULSE_TZ='Mars/Olympus_Mons' is not an IANA time zone name"
        ]
