"""ProcInfo against a fake /proc tree in tmp_path, and once against the real /proc."""

from __future__ import annotations

import os
import pwd
import time
from pathlib import Path

import pytest

from runtime.settings import load
from sampling.factory import procinfo
from sampling.procinfo import COMMAND_MAX, GONE, ProcInfo
from sampling.settings import BackendSettings
from tests.support.procfs import BOOT, PASSWD, TCK, write_proc


@pytest.fixture
def proc(tmp_path):
    root = tmp_path / "proc"
    root.mkdir()
    passwd = tmp_path / "passwd"
    passwd.write_text(PASSWD)
    return root, passwd


def test_lookup_reads_real_uid_command_and_start_time(proc):
    root, passwd = proc
    write_proc(
        root,
        4242,
        uid=1000,
        euid=0,
        cmdline=b"python\0train.py\0--lr\x000.1\0",
        start_ticks=123_456,
    )
    who = ProcInfo(root, passwd, clk_tck=TCK).lookup(4242)
    assert who.user == "alice"  # the real uid, not the effective one (setuid)
    assert who.command == "python train.py --lr 0.1"
    assert who.started == BOOT + 1234  # 123456 ticks / 100 Hz, whole seconds


def test_comm_with_spaces_and_parentheses_does_not_shift_fields(proc):
    root, passwd = proc
    write_proc(root, 7, uid=1001, cmdline=b"x\0", comm="a) (b c", start_ticks=500)
    assert ProcInfo(root, passwd, clk_tck=TCK).lookup(7).started == BOOT + 5


def test_empty_cmdline_falls_back_to_comm_and_long_commands_are_capped(proc):
    root, passwd = proc
    write_proc(root, 10, uid=0, cmdline=b"", comm="kworker/0:1")
    write_proc(root, 11, uid=0, cmdline=b"a" * 1000 + b"\0")
    info = ProcInfo(root, passwd, clk_tck=TCK)
    assert info.lookup(10).command == "kworker/0:1"
    assert info.lookup(11).command == "a" * COMMAND_MAX


def test_unknown_uid_is_the_number_and_passwd_is_reread_when_it_changes(proc):
    root, passwd = proc
    write_proc(root, 20, uid=2000, cmdline=b"job\0", start_ticks=1)
    info = ProcInfo(root, passwd, clk_tck=TCK)
    assert info.lookup(20).user == "2000"
    passwd.write_text(PASSWD + "carol:x:2000:2000::/home/carol:/bin/sh\n")
    stamp = passwd.stat().st_mtime + 5  # a new mtime even on coarse-timestamp file systems
    os.utime(passwd, (stamp, stamp))
    write_proc(root, 20, uid=2000, cmdline=b"job\0", start_ticks=2)  # a new process, same PID
    assert info.lookup(20).user == "carol"


def test_reused_pid_is_resolved_again(proc):
    root, passwd = proc
    write_proc(root, 30, uid=1000, cmdline=b"first\0", start_ticks=100)
    info = ProcInfo(root, passwd, clk_tck=TCK)
    first = info.lookup(30)
    write_proc(root, 30, uid=1001, cmdline=b"second\0", start_ticks=900)
    second = info.lookup(30)
    assert (first.user, first.command, first.started) == ("alice", "first", BOOT + 1)
    assert (second.user, second.command, second.started) == ("bob", "second", BOOT + 9)


def test_vanished_or_unreadable_pid_gives_no_identity(proc):
    root, passwd = proc
    info = ProcInfo(root, passwd, clk_tck=TCK)
    assert info.lookup(99999) == GONE
    assert (GONE.user, GONE.command, GONE.started) == (None, None, 0)
    write_proc(root, 40, uid=1000, cmdline=b"x\0")
    (root / "40" / "status").unlink()  # exited between reading stat and status
    assert info.lookup(40) is GONE


def test_missing_passwd_file_still_gives_the_uid(proc, tmp_path):
    root, _ = proc
    write_proc(root, 50, uid=1000, cmdline=b"x\0")
    assert ProcInfo(root, tmp_path / "nope", clk_tck=TCK).lookup(50).user == "1000"


def test_settings_choose_the_paths(tmp_path):
    info = procinfo(
        load(BackendSettings, {"GPUPULSE_PROC": "/host/proc", "GPUPULSE_PASSWD": "/host/passwd"})
    )
    assert (info.proc_root, info.passwd) == (Path("/host/proc"), Path("/host/passwd"))
    default = procinfo(load(BackendSettings, {}))
    assert (default.proc_root, default.passwd) == (Path("/proc"), Path("/etc/passwd"))


def test_real_proc_for_this_process():
    who = ProcInfo().lookup(os.getpid())
    assert who.user == pwd.getpwuid(os.getuid()).pw_name
    assert "python" in who.command or "pytest" in who.command
    # We started within the last day, and not in the future.
    assert time.time() - 86_400 < who.started <= time.time() + 1


def test_a_process_s_workload_comes_from_its_cgroup_file(proc):
    root, passwd = proc
    write_proc(root, 4242, uid=1000, cmdline=b"python\0train.py\0")
    cgroup = Path(__file__).resolve().parents[1] / "data" / "cgroup" / "libdatadog_cgroup.docker"
    (root / "4242" / "cgroup").write_bytes(cgroup.read_bytes())
    who = ProcInfo(root, passwd, clk_tck=TCK).lookup(4242)
    assert (who.user, who.workload) == ("alice", "docker 9d5b23edb1ba")
    assert who.workload_id == "9d5b23edb1ba181e8910389a99906598d69ac9a0ead109ee55730cc416d95f7f"
    write_proc(root, 4343, uid=1001, cmdline=b"sleep\0")  # no cgroup file readable
    assert ProcInfo(root, passwd, clk_tck=TCK).lookup(4343).workload is None
