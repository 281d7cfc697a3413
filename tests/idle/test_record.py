"""Runs recorded in idle_runs (a real SQLite file), and a runner without a database."""

from __future__ import annotations

import logging

from idle.jobs import Run
from idle.record import RunLog, open_run_log
from store import atomic, open_db
from tests.support.idle.fakes import WALL_ORIGIN
from tests.support.idle.jobs import job_cmd, reports, wait_for


def config(report) -> str:
    return f"[process-batch]\ncmd = {job_cmd(report)}\ngpus = 0,1\n"


def rows(db_path) -> list[tuple]:
    conn = open_db(db_path, write=True)
    try:
        return conn.execute(
            "SELECT job, gpus, pid, started, updated, stopped, reason, gpu_seconds "
            "FROM idle_runs ORDER BY id"
        ).fetchall()
    finally:
        conn.close()


def test_runs_are_recorded_with_reason_and_gpu_seconds(harness, tmp_path, db_path):
    report = tmp_path / "r.jsonl"
    h = harness(config(report), run_log=open_run_log(db_path))
    h.tick_at(60)
    pgid = h.running()["batch"]
    started = int(WALL_ORIGIN + 60)
    assert rows(db_path) == [("batch", "0,1", pgid, started, started, None, None, 0.0)]

    info = wait_for(lambda: reports(report))[0]
    h.backend.put(0, pid=info["pid"], command="python job.py", started=4242)  # our own
    h.tick_at(90)
    assert rows(db_path)[0][4:] == (started + 30, None, None, 60.0)  # heartbeat, 2 GPUs x 30 s

    h.backend.put(1, pid=999_999, command="python train.py", user="bob")
    h.tick_at(100)
    *_, stopped, reason, gpu_seconds = rows(db_path)[0]
    assert (stopped, gpu_seconds) == (started + 40, 80.0)
    assert reason.startswith("GPU 1 used by pid 999999 (bob: python train.py)")

    conn = open_db(db_path, write=True)
    own = conn.execute("SELECT pid, started, run FROM idle_run_processes").fetchall()
    conn.close()
    assert own == [(info["pid"], 4242, 1)]  # the job's process, kept apart from people's


def test_writes_are_kept_while_the_database_is_locked(db_path):
    log = open_run_log(db_path)
    blocker = open_db(db_path, write=True)
    blocker.execute("PRAGMA busy_timeout = 0")
    log.conn.execute("PRAGMA busy_timeout = 0")
    run = Run("batch", (0,), 123, WALL_ORIGIN)
    with atomic(blocker):
        log.save(run, WALL_ORIGIN + 5)
        assert log.flush() is False
    assert log.pending
    assert log.flush() is True
    assert blocker.execute("SELECT job, gpu_seconds FROM idle_runs").fetchall() == [("batch", 5.0)]
    blocker.close()
    log.close()


def test_a_run_left_open_by_a_dead_runner_is_closed_at_its_last_heartbeat(db_path):
    first = open_run_log(db_path)
    first.save(Run("batch", (0, 1), 123, WALL_ORIGIN), WALL_ORIGIN + 50)
    first.close()  # ... and the runner was SIGKILLed: the run stays open
    open_run_log(db_path).close()
    assert rows(db_path) == [
        (
            "batch",
            "0,1",
            123,
            int(WALL_ORIGIN),
            int(WALL_ORIGIN) + 50,
            int(WALL_ORIGIN) + 50,
            "runner lost",
            100.0,
        ),
    ]


def test_without_a_database_the_runner_works_and_says_runs_are_not_recorded(
    harness, tmp_path, caplog
):
    caplog.set_level(logging.WARNING, logger="idle")
    missing = open_run_log(tmp_path / "none.db")
    assert "does not exist" in caplog.text and "not recorded" in caplog.text
    assert not (tmp_path / "none.db").exists()  # it does not create one either
    assert isinstance(missing, RunLog) and missing.conn is None
    h = harness(config(tmp_path / "r.jsonl"), run_log=missing)
    h.tick_at(60)
    assert list(h.running()) == ["batch"]
    caplog.clear()
    open_run_log(None)
    assert "no database configured" in caplog.text
