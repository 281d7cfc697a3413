"""The INI file: gpu_mon's shape is accepted; every mistake names its key and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from idle.cli import run
from idle.config import ConfigError, GpuSet, parse
from idle.settings import RunnerSettings
from runtime.settings import SettingError, load

GPU_MON_SAMPLE = """\
[defaults]
; how frequently perform GPU open and tty checks
interval_seconds=10

[gpu-all]
gpus=ALL
ignore_programs=nvidia-smi

[process-all]
dir=/tmp
cmd=miner-run --pool x
gpus=ALL
log=/dev/null

[tty]
enabled=True
whitelist=user1,user2
idle_seconds=300
"""


def test_gpu_mon_config_is_accepted_as_is():
    config = parse(GPU_MON_SAMPLE)
    assert config.interval_s == 10
    assert config.watches[0].gpus == GpuSet(None)
    assert config.ignored_on(3) == {"nvidia-smi"}
    job = config.jobs[0]
    assert (job.name, job.cmd, job.dir, job.log) == (
        "all",
        "miner-run --pool x",
        "/tmp",
        "/dev/null",
    )
    assert config.tty.enabled and config.tty.whitelist == {"user1", "user2"}
    assert config.tty.idle_seconds == 300


def test_defaults_when_keys_are_left_out(tmp_path):
    config = parse("[process-a]\ncmd = run-me\n")
    assert config.interval_s == 5
    assert config.jobs[0].gpus == GpuSet(None) and config.jobs[0].log is None
    assert not config.tty.enabled and config.watches == ()


@pytest.mark.parametrize(
    ("text", "where"),
    [
        (
            "[defaults]\ninterval_seconds = 10\nintervall = 3\n",
            r":3: \[defaults\] intervall is not a known key",
        ),
        (
            "[defaults]\ninterval_seconds = soon\n",
            r":2: \[defaults\] interval_seconds = 'soon' is not a number",
        ),
        (
            "[defaults]\ninterval_seconds = 0.1\n",
            r":2: \[defaults\] interval_seconds = 0.1 is out of range",
        ),
        ("[runner]\ngpus = ALL\n", r":1: unknown section \[runner\]"),
        ("[gpu-a]\ngpus = 0,x\n", r":2: \[gpu-a\] gpus = '0,x' is not ALL or comma-separated"),
        ("[gpu-a]\ngpus = 0,0\n", r":2: \[gpu-a\] gpus"),
        ("[process-a]\ncmd = x\n\ngpus = -1\n", r":4: \[process-a\] gpus = '-1'"),
        ("[process-a]\ndir = /tmp\n", r":1: \[process-a\] cmd is missing"),
        ("[process-a]\ncmd =\n", r":2: \[process-a\] cmd is empty"),
        (
            "[process-a]\ncmd = x\ndir = /no/such/dir\n",
            r":3: \[process-a\] dir = '/no/such/dir' is not a directory",
        ),
        ("[process-a]\ncmd = x\nlog = /no/such/dir/x.log\n", r":3: \[process-a\] log"),
        ("[process-a]\ncmd = x\nenv = A=1\n", r":3: \[process-a\] env is not a known key"),
        ("[process-a]\ncmd = x\ncmd = y\n", r":3: \[process-a\] cmd is set twice"),
        (
            "[process-a]\ncmd = x\n[process-a]\ncmd = y\n",
            r":3: section \[process-a\] appears twice",
        ),
        ("[process-a b]\ncmd = x\n", r":1: section \[process-a b\] needs a NAME"),
        (
            "[process-a]\ncmd = x\n[tty]\nenabled = maybe\n",
            r":4: \[tty\] enabled = 'maybe' is not one of",
        ),
        (
            "[process-a]\ncmd = x\n[tty]\nidle_seconds = -5\n",
            r":4: \[tty\] idle_seconds = -5 is out of range",
        ),
        (
            "[process-a]\ncmd = x\n[tty]\nwhitelist = a b\n",
            r":4: \[tty\] whitelist has an invalid name",
        ),
        ("cmd = x\n", r":1: expected \[section\] or key = value"),
        ("[process-a]\ncmd = x\n  continued\n", r":3: expected \[section\] or key = value"),
        ("[defaults]\ninterval_seconds = 5\n", r": no \[process-NAME\] section"),
    ],
)
def test_mistakes_name_the_key_and_the_line(text, where):
    with pytest.raises(ConfigError, match=r"^idle\.conf" + where):
        parse(text, "idle.conf")


def test_cli_reports_a_bad_config_in_one_line_and_fails(tmp_path, capsys):
    conf = tmp_path / "idle.conf"
    conf.write_text("[process-a]\ncmd = x\ngpu = 1\n")
    assert run(["--config", str(conf)], env={}) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert f"{conf}:3: [process-a] gpu is not a known key" in err


def test_cli_missing_file_and_bad_setting_are_one_line(tmp_path, capsys):
    assert run(["--config", str(tmp_path / "nope.conf")], env={}) == 2
    assert capsys.readouterr().err.count("\n") == 1
    conf = tmp_path / "idle.conf"
    conf.write_text("[process-a]\ncmd = x\n")
    # `--check` answers at once; the runner itself waits first (tests/test_setting_errors.py).
    assert run(["--config", str(conf), "--check"], env={"GPUPULSE_IDLE_GRACE": "soon"}) == 2
    err = capsys.readouterr().err
    assert "GPUPULSE_IDLE_GRACE='soon' is not a number" in err and err.count("\n") == 1


def test_cli_check_validates_without_running(tmp_path, capsys):
    conf = tmp_path / "idle.conf"
    conf.write_text(GPU_MON_SAMPLE)
    assert run(["--config", str(conf), "--check"], env={}) == 0
    assert "1 job(s)" in capsys.readouterr().out


def test_cli_usage_errors_are_one_line(capsys):
    with pytest.raises(SystemExit) as exit_info:
        run([], env={})
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_settings_from_the_environment():
    settings = load(RunnerSettings, {"GPUPULSE_IDLE_HOLDOFF": "30", "GPUPULSE_IDLE_GRACE": "2.5"})
    assert (settings.holdoff_s, settings.grace_s) == (30.0, 2.5)
    assert load(RunnerSettings, {}) == RunnerSettings()
    with pytest.raises(SettingError, match="GPUPULSE_IDLE_HOLDOFF"):
        load(RunnerSettings, {"GPUPULSE_IDLE_HOLDOFF": "-1"})


def test_gpu_mons_own_config_is_read_as_it_is():
    config = parse(GPU_MON_SAMPLE)
    assert config.interval_s == 10
    assert [w.name for w in config.watches] == ["all"]
    assert [(j.name, j.cmd, j.dir, j.log) for j in config.jobs] == [
        ("all", "miner-run --pool x", "/tmp", "/dev/null")
    ]
    assert config.tty.enabled and config.tty.whitelist == {"user1", "user2"}


def test_section_names_gpu_mon_accepts_and_comments_after_values():
    text = (
        "[gpu0]\ngpus = 0 ; the first card\nignore_programs = nvtop  # a monitor\n"
        "[process-miner1]\ncmd = cd /tmp; ./run --fast # kept: the shell's own\ngpus = 0\n"
    )
    config = parse(text)
    assert [(w.name, w.gpus.indices, w.ignore_programs) for w in config.watches] == [
        ("0", (0,), frozenset({"nvtop"}))
    ]
    (job,) = config.jobs
    assert (job.name, job.gpus.indices) == ("miner1", (0,))
    assert job.cmd == "cd /tmp; ./run --fast # kept: the shell's own"


def test_the_documented_example_config_parses(tmp_path):
    doc = (Path(__file__).resolve().parents[2] / "docs" / "idle-run.md").read_text()
    block = doc.split("```ini\n", 1)[1].split("```", 1)[0]
    block = block.replace("/opt/miner", str(tmp_path)).replace("/var/log", str(tmp_path))
    config = parse(block)
    assert [w.gpus.indices for w in config.watches] == [None]
    assert [j.cmd for j in config.jobs] == ["./miner-run --pool example"]
