"""A database that needs a person (corrupt, random bytes, a directory, unopenable, read-only,
on a full disk, taken by another collector) gets one line and a non-zero exit from every
service, never a traceback; the real commands run on real bad files."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from collector.backfill import backfill
from collector.single import lock_path
from runtime.cli import DATABASE_PROBLEM, OUTPUT_CLOSED
from sampling.simulated import SimulatedBackend
from store import open_db
from store.samples import Recorder, get_meta
from tests.support.commands import simulated_collector, without_settings
from tests.support.mounts import namespaces_work, private_mounts

BIN = Path(sys.executable).parent
PAGE = 4096
NEEDS_NAMESPACES = pytest.mark.skipif(
    not namespaces_work(), reason="unshare -rm cannot create a private mount namespace here"
)


def env(**extra: str) -> dict[str, str]:
    """The caller's environment without GPUPULSE_*, no pause before exits, and `extra`."""
    clean = without_settings()
    return {**clean, "GPUPULSE_FAILURE_PAUSE": "0", **extra}


def run(argv: list[str], **kw) -> subprocess.CompletedProcess:
    """Run a command to its end (bounded), text output captured."""
    kw.setdefault("env", env())
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, **kw)


def one_line(done: subprocess.CompletedProcess, code: int = DATABASE_PROBLEM) -> str:
    """The single stderr line of a command that exited with `code`."""
    assert done.returncode == code, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "Traceback" not in done.stderr
    return lines[0]


def with_history(path: Path, days: float = 1) -> Path:
    """A migrated database holding `days` of simulated samples (nothing rolled up yet)."""
    conn = open_db(path, migrate=True)
    backfill(SimulatedBackend(gpus=2), Recorder(conn), days, int(time.time()))
    conn.close()
    return path


def corrupt(path: Path) -> None:
    """Keep the header page, overwrite every other page with random bytes."""
    rng = random.Random(7)
    size = path.stat().st_size
    with path.open("r+b") as f:
        f.seek(PAGE)
        f.write(rng.randbytes(size - PAGE))


def bad_database(kind: str, tmp_path: Path) -> Path:
    """A database path that is wrong in the way `kind` names."""
    db = tmp_path / "pulse.db"
    if kind == "random bytes":
        db.write_bytes(random.Random(1).randbytes(50_000))
    elif kind == "corrupt":
        corrupt(with_history(db, days=0.2))
    elif kind == "a directory":
        db.mkdir()
    elif kind == "unopenable":
        (tmp_path / "data").write_text("a file where the database's folder should be\n")
        db = tmp_path / "data" / "pulse.db"
    return db


COMMANDS = {
    "collector": lambda db: simulated_collector(db),
    "collector migrate": lambda db: [str(BIN / "collector"), "--db", str(db), "migrate"],
    "scheduler loop": lambda db: [str(BIN / "scheduler"), "--db", str(db)],
    "scheduler --run-once rollup": lambda db: [
        *(str(BIN / "scheduler"), "--db", str(db)),
        *("--run-once", "rollup"),
    ],
    "scheduler -ls": lambda db: [str(BIN / "scheduler"), "--db", str(db), "-ls"],
}


@pytest.mark.parametrize("kind", ["random bytes", "corrupt", "a directory", "unopenable"])
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_bad_database_is_one_line_and_exit_status_3(tmp_path, kind, command):
    db = bad_database(kind, tmp_path)
    heartbeat = str(tmp_path / "heartbeat")
    line = one_line(run(COMMANDS[command](db), env=env(GPUPULSE_HEARTBEAT=heartbeat)))
    assert line.startswith(f"{command.split()[0]}: ") and str(db.parent) in line
    if kind == "a directory":
        assert "is a directory" in line
    elif kind != "unopenable":
        assert "restore a backup" in line


def test_the_collectors_healthcheck_says_the_same(tmp_path):
    db = bad_database("random bytes", tmp_path)
    done = run([str(BIN / "collector"), "--db", str(db), "--healthcheck"])
    assert "not a usable GPU Pulse database" in one_line(done, 1)


def test_a_service_waits_before_it_exits_and_a_stop_signal_ends_the_wait(tmp_path):
    db = bad_database("random bytes", tmp_path)
    proc = subprocess.Popen(
        simulated_collector(db),
        env=env(GPUPULSE_FAILURE_PAUSE="600"),
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stderr.readline()
        assert "not a usable GPU Pulse database" in line
        assert proc.poll() is None  # still waiting, so a restart policy cannot spin
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == DATABASE_PROBLEM
        assert proc.stderr.read() == ""
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.parametrize("argv", [["--run-once", "rollup"], ["--resend", "2026-03-01T10:00"]])
def test_the_scheduler_never_creates_a_mistyped_database_or_its_folder(tmp_path, argv):
    db = tmp_path / "pulse-typo" / "pulse.db"
    done = run([str(BIN / "scheduler"), *argv], env=env(GPUPULSE_DB=str(db)))
    assert "does not exist yet" in one_line(done)
    assert not db.parent.exists()


def test_output_closed_early_ends_quietly(tmp_path):
    db = with_history(tmp_path / "pulse.db", days=0.1)
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before anything is written, as with `| head`
    try:
        done = subprocess.run(
            [str(BIN / "scheduler"), "--db", str(db), "-ls"],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            env=env(),
            timeout=120,
        )
    finally:
        os.close(write_end)
    assert done.returncode == OUTPUT_CLOSED and done.stderr == ""


@NEEDS_NAMESPACES
@pytest.mark.parametrize("job", ["rollup", "backfill"])
def test_a_full_disk_is_one_line(tmp_path, job):
    mount = tmp_path / "volume"
    mount.mkdir()
    if job == "rollup":
        source = with_history(tmp_path / "pulse.db")
        argv = [str(BIN / "scheduler"), "--db", str(mount / "pulse.db"), "--run-once", "rollup"]
        extra = {"GPUPULSE_HEARTBEAT": str(tmp_path / "heartbeat")}
    else:
        source = tmp_path / "pulse.db"
        open_db(source, migrate=True).close()
        argv = simulated_collector(mount / "pulse.db")
        extra = {"GPUPULSE_SIM_BACKFILL_DAYS": "3"}
    # 40 KiB left: room for SQLite's shared-memory index, not for the job's pages.
    setup = ("full", str(mount), str(source), str(40 * 1024), "--", *argv)
    done = run(private_mounts(*setup), env=env(**extra))
    line = one_line(done)
    assert "is full" in line and "free space" in line


@NEEDS_NAMESPACES
@pytest.mark.parametrize("command", ["collector", "scheduler --run-once rollup"])
def test_a_read_only_volume_is_refused_at_start(tmp_path, command):
    folder = tmp_path / "volume"
    folder.mkdir()
    db = with_history(folder / "pulse.db", days=0.1)
    argv = private_mounts("readonly", str(folder), "--", *COMMANDS[command](db))
    line = one_line(run(argv, env=env(GPUPULSE_HEARTBEAT=str(tmp_path / "hb"))))
    assert "read-only" in line and "read-write" in line


@pytest.mark.skipif(
    os.getuid() == 0 and shutil.which("setpriv") is None,
    reason="as root, setpriv is needed to run without the power to write any file",
)
def test_a_read_only_file_is_refused_at_start(tmp_path):
    """File mode 0444; as root the collector runs without CAP_DAC_OVERRIDE, as any other
    user would, so the mode applies to it."""
    db = with_history(tmp_path / "pulse.db", days=0.1)
    db.chmod(0o444)
    powerless = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search", "--"]
    line = one_line(run([*(powerless if os.getuid() == 0 else []), *simulated_collector(db)]))
    assert "read-only for uid" in line and str(db) in line


def wait_for_a_tick(db: Path, timeout: float = 60) -> None:
    """Return once the collector writing `db` has stored a tick."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if db.exists():
            try:
                conn = open_db(db)
                try:
                    if conn.execute("SELECT count(*) FROM samples").fetchone()[0]:
                        return
                finally:
                    conn.close()
            except Exception:
                pass
        time.sleep(0.1)
    raise AssertionError(f"no tick stored in {db} within {timeout} s")


def test_a_second_collector_on_the_same_database_refuses_at_start(tmp_path):
    db = tmp_path / "pulse.db"
    first = subprocess.Popen(
        simulated_collector(db), env=env(GPUPULSE_HOST_ID="first"), stderr=subprocess.DEVNULL
    )
    try:
        wait_for_a_tick(db)
        second = run(simulated_collector(db), env=env(GPUPULSE_HOST_ID="second"))
        line = one_line(second)
        assert "another collector" in line and f"pid {first.pid}" in line
        assert first.poll() is None
        conn = open_db(db)
        assert get_meta(conn, "host_id") == "first"
        conn.close()
        first.send_signal(signal.SIGKILL)  # the kernel drops the lock however it ends
        first.wait(timeout=30)
        third = subprocess.Popen(simulated_collector(db), env=env(GPUPULSE_HOST_ID="third"))
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and host_of(db) != "third":
                assert third.poll() is None, "the collector after a kill -9 did not start"
                time.sleep(0.1)
            assert host_of(db) == "third"
        finally:
            third.terminate()
            third.wait(timeout=30)
    finally:
        first.kill()
        first.wait()
    assert lock_path(db).exists()


def host_of(db: Path) -> str | None:
    """The host name the newest collector recorded."""
    conn = open_db(db)
    try:
        return get_meta(conn, "host_id")
    finally:
        conn.close()


def test_the_schedulers_healthcheck_reports_why_its_loop_gave_up(tmp_path):
    db = bad_database("a directory", tmp_path)
    settings = env(GPUPULSE_FAILURE_PAUSE="600", GPUPULSE_HEARTBEAT=str(tmp_path / "hb"))
    loop = subprocess.Popen(
        [str(BIN / "scheduler"), "--db", str(db)], env=settings, stderr=subprocess.PIPE, text=True
    )
    try:
        assert "is a directory" in loop.stderr.readline()
        check = run([str(BIN / "scheduler"), "--db", str(db), "--healthcheck"], env=settings)
        assert (
            one_line(check, 1).startswith("scheduler stopped: ")
            and "is a directory" in check.stderr
        )
        loop.send_signal(signal.SIGTERM)
        assert loop.wait(timeout=60) == DATABASE_PROBLEM
    finally:
        loop.kill()
        loop.wait()
