"""The README stays true: its test command, its settings table, the graph, the systemd units."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
NAME = re.compile(r"\bGPUPULSE_[A-Z0-9_]+\b")
SKIP_DIRS = {"tests", "build", "dist", "node_modules"}
UNITS = sorted((ROOT / "docs" / "systemd").glob("*.service"))


def code_files() -> list[Path]:
    """Where settings are read or set: the Python sources (tests aside), compose, .env.example."""
    sources = [
        p
        for p in ROOT.rglob("*.py")
        if not any(part.startswith(".") or part in SKIP_DIRS for part in p.relative_to(ROOT).parts)
        and not any(part.endswith(".egg-info") for part in p.parts)
    ]
    return [*sources, *ROOT.glob("compose*.yaml"), ROOT / ".env.example"]


def names_in(text: str) -> set[str]:
    """GPUPULSE_* names in a text; a trailing underscore marks a prefix, not a setting."""
    return {n for n in NAME.findall(text) if not n.endswith("_")}


def code_settings() -> dict[str, set[str]]:
    """Each setting name found in the code, with the files that mention it."""
    found: dict[str, set[str]] = {}
    for path in code_files():
        for name in names_in(path.read_text(errors="replace")):
            found.setdefault(name, set()).add(str(path.relative_to(ROOT)))
    return found


def section(title: str) -> str:
    """The text of one '## ' section of the README."""
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", README, re.M | re.S)
    assert match, f"README has no '## {title}' section"
    return match.group(1)


def table_settings() -> list[str]:
    """The variables in the first column of the README's settings table, in order."""
    rows = re.findall(r"^\| `(GPUPULSE_[A-Z0-9_]+)` \|", section("Settings"), re.M)
    assert rows, "the Settings section has no | `GPUPULSE_...` | rows"
    return rows


def readme_test_command() -> str:
    """The one command line in the README's Tests section."""
    match = re.search(r"```sh\n(.+?)\n```", section("Tests"), re.S)
    assert match and "\n" not in match.group(1), "the Tests section needs exactly one command"
    return match.group(1)


def test_ci_runs_exactly_the_readme_test_command():
    lines = (ROOT / ".ci" / "run").read_text().splitlines()
    assert readme_test_command() in lines


def test_settings_table_has_the_agreed_columns():
    assert "| Variable | Default | Meaning |\n| --- | --- | --- |\n" in section("Settings")
    rows = table_settings()
    assert len(rows) == len(set(rows)), "a setting is listed twice"


def test_every_setting_in_the_code_is_in_the_readme_table():
    found = sorted(code_settings().items())
    missing = {n: sorted(f) for n, f in found if n not in table_settings()}
    assert not missing, f"add these to the README's Settings table: {missing}"


def test_every_readme_setting_exists_in_the_code():
    stale = set(table_settings()) - set(code_settings())
    assert not stale, f"the README lists settings nothing reads or sets: {sorted(stale)}"


def test_env_example_lists_every_setting_with_a_default():
    text = (ROOT / ".env.example").read_text()
    listed = set(re.findall(r"^# (GPUPULSE_[A-Z0-9_]+)=", text, re.M))
    missing = set(code_settings()) - listed
    assert not missing, f"add '# NAME=default' lines to .env.example for {sorted(missing)}"


def test_graph_is_embedded_with_picture_and_dark_mode_fallback():
    top = README[: README.index("\n## ")]
    picture = re.search(r"<picture>(.*?)</picture>", top, re.S)
    assert picture, "no <picture> before the first section"
    assert re.search(
        r'<source media="\(prefers-color-scheme: dark\)" srcset="gpu-activity-dark\.svg">',
        picture.group(1),
    )
    assert re.search(r'<img alt="[^"]+" src="gpu-activity\.svg">', picture.group(1))
    assert "(gpu-activity-dark.svg#gh-dark-mode-only)" in README
    assert "(gpu-activity.svg#gh-light-mode-only)" in README


def test_quick_start_is_two_commands():
    commands = re.findall(r"```sh\n(.+?)\n```", section("Quick start"), re.S)
    assert commands == [
        "docker compose up -d",
        "cp .env.demo .env && docker compose up -d",
    ]


def test_readme_shows_both_dry_run_forms():
    text = section("Does the collector see the GPUs?")
    assert "docker compose run --rm collector --dry-run" in text
    assert "docker compose exec collector --dry-run" in text
    assert "docker compose exec collector collector --dry-run" in text


@pytest.mark.parametrize("unit", UNITS, ids=lambda p: p.name)
def test_systemd_unit_runs_a_console_script_as_the_service_user(unit):
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    text = unit.read_text()
    command = re.search(r"^ExecStart=/opt/gpu-pulse/bin/(\S+)$", text, re.M)
    assert command and command.group(1) in scripts
    for line in ("User=gpupulse", "StateDirectory=gpu-pulse", "NoNewPrivileges=yes"):
        assert f"\n{line}\n" in text
    assert "EnvironmentFile=-/etc/gpu-pulse/env" in text
    assert re.search(r"^TimeoutStopSec=\d+$", text, re.M)


def test_readme_installs_all_three_units():
    assert {p.name for p in UNITS} == {
        "gpu-pulse-collector.service",
        "gpu-pulse-scheduler.service",
        "gpu-pulse-api.service",
    }
    text = section("Without Docker")
    assert "docs/systemd/gpu-pulse-*.service" in text
    assert "enable --now gpu-pulse-collector gpu-pulse-scheduler gpu-pulse-api" in text


def test_without_docker_says_which_python_and_keeps_the_env_file_private():
    text = section("Without Docker")
    assert "Python 3.11 or later" in text
    assert "python install 3.12" in text
    assert "sudo install -m 0600 -o gpupulse -g gpupulse .env.example /etc/gpu-pulse/env" in text
    assert "sudo -u gpupulse /opt/gpu-pulse/bin/collector --dry-run" in text
    # The heartbeat a shell's healthcheck reads is the one the unit writes.
    assert "scheduler.heartbeat" in text
    for unit in UNITS:
        assert "GPUPULSE_HEARTBEAT" not in unit.read_text()


def test_the_units_read_the_file_every_command_reads():
    from runtime.envfile import SYSTEM_FILE

    for unit in UNITS:
        assert f"EnvironmentFile=-{SYSTEM_FILE}" in unit.read_text()
