"""TTY watch: utmp parsing and typing detection from the terminal's access time."""

from __future__ import annotations

import os

from idle.config import TtyWatch
from idle.tty import UTMP, active_users, pack_login, read_utmp
from tests.support.idle.fakes import WALL_ORIGIN
from tests.support.idle.jobs import job_cmd

DEAD_PROCESS = 8


def make_tty(tmp_path, logins: list[tuple[str, str, float]]) -> tuple[str, str]:
    """A utmp file and a /dev tree: (user, line, seconds since last keypress) each."""
    dev = tmp_path / "dev"
    records = [pack_login("gone", "pts/9", 10, ut_type=DEAD_PROCESS)]
    for user, line, idle in logins:
        device = dev / line
        device.parent.mkdir(parents=True, exist_ok=True)
        device.touch()
        os.utime(device, (WALL_ORIGIN - idle, WALL_ORIGIN - idle))
        records.append(pack_login(user, line, 100 + len(records)))
    utmp = tmp_path / "utmp"
    utmp.write_bytes(b"".join(records))
    return str(utmp), str(dev)


def test_utmp_records_are_384_bytes_and_only_user_processes_count(tmp_path):
    utmp, _ = make_tty(tmp_path, [("alice", "pts/3", 0), ("bob", "tty1", 0)])
    assert UTMP.size == 384
    logins = read_utmp(utmp)
    assert [(x.user, x.line) for x in logins] == [("alice", "pts/3"), ("bob", "tty1")]
    assert read_utmp(tmp_path / "missing") == []


def test_active_users_are_recent_typists_outside_the_whitelist(tmp_path):
    logins = [("alice", "pts/1", 10), ("bob", "pts/2", 5), ("carol", "pts/3", 4000)]
    utmp, dev = make_tty(tmp_path, [*logins, ("dave", "pts/../../x", 0)])
    watch = TtyWatch(enabled=True, whitelist=frozenset({"bob"}), idle_seconds=300)
    assert active_users(watch, WALL_ORIGIN, utmp, dev) == ["alice"]
    assert active_users(TtyWatch(enabled=False), WALL_ORIGIN, utmp, dev) == []


def tty_config(report, whitelist: str) -> str:
    return f"""
[process-batch]
cmd = {job_cmd(report)}
[tty]
enabled = true
whitelist = {whitelist}
idle_seconds = 300
"""


def test_non_whitelisted_active_tty_stops_jobs_and_they_resume_after(harness, tmp_path):
    utmp, dev = make_tty(tmp_path, [("alice", "pts/4", 100_000)])
    h = harness(tty_config(tmp_path / "r.jsonl", "bob"), utmp=utmp, dev=dev)
    h.tick_at(60)
    assert list(h.running()) == ["batch"]
    typed = WALL_ORIGIN + 61  # alice presses a key
    os.utime(tmp_path / "dev/pts/4", (typed, typed))
    h.tick_at(65)
    assert h.running() == {}
    h.tick_at(65 + 290)
    assert h.running() == {}  # typed 294 s ago: still active
    h.tick_at(61 + 300)
    assert list(h.running()) == ["batch"]  # idle long enough; the GPUs never got busy


def test_whitelisted_active_tty_does_not_stop_jobs(harness, tmp_path):
    utmp, dev = make_tty(tmp_path, [("alice", "pts/4", 1)])
    h = harness(tty_config(tmp_path / "r.jsonl", "bob,alice"), utmp=utmp, dev=dev)
    h.tick_at(60)
    h.tick_at(65)
    assert list(h.running()) == ["batch"]
