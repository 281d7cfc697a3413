"""The long-running loop: wait for the database, then run jobs on a `schedule.Scheduler`."""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

import schedule

from scheduler import alerts, heartbeat, pull, push, retention, rollup, status_push
from scheduler.settings import Settings
from store import open_db
from store.db import Connection, Error, StoreError
from store.problems import DatabaseUnusable, explain, unusable_folder
from store.schema import SchemaMismatch, current_version

log = logging.getLogger(__name__)

Job = Callable[[Connection, Settings, float], object]


class NewerSchema(RuntimeError):
    """The database is newer than this scheduler; waiting will not help."""


def open_when_ready(settings: Settings) -> Connection | None:
    """A checked writer connection, or None while the collector has not set it up."""
    if not Path(settings.db).exists():
        if problem := unusable_folder(settings.db):
            raise problem
        log.info("waiting for the collector to create %s", settings.db)
        return None
    try:
        return open_db(settings.db, write=True)
    except SchemaMismatch as exc:
        if "newer" in str(exc):
            raise NewerSchema(str(exc)) from None
        log.info("waiting for the collector to migrate %s: %s", settings.db, exc)
    except DatabaseUnusable:
        raise  # corrupt, read-only, a directory: the collector cannot fix it either
    except StoreError as exc:
        log.info("waiting for %s: %s", settings.db, exc)
    return None


def wait_for_db(settings: Settings, stop: threading.Event, clock=time.time) -> Connection | None:
    """Retry open_when_ready every GPUPULSE_DB_WAIT seconds (heartbeat kept) until it opens
    or stop is set."""
    while not stop.is_set():
        heartbeat.touch(settings.heartbeat, clock())
        conn = open_when_ready(settings)
        if conn is not None:
            log.info("database %s open (schema v%d)", settings.db, current_version(conn))
            return conn
        stop.wait(settings.db_wait_s)
    return None


def guarded(name: str, job: Job, conn: Connection, settings: Settings, clock) -> None:
    """Run one job; log and swallow its exception so the loop goes on."""
    try:
        result = job(conn, settings, clock())
        log.debug("%s: %s", name, result)
    except Error as exc:  # a full disk or a lock held too long: one line, not a traceback
        log.error("job %s failed: %s; the loop goes on", name, explain(exc, settings.db))
    except Exception:
        log.exception("job %s failed; the loop goes on", name)


def jobs(settings: Settings, stop: threading.Event | None = None) -> list[tuple[str, Job, int]]:
    """(name, job, every seconds) for the loop; the jobs that send end their attempt at
    once when `stop` is set, so a slow server never holds SIGTERM up."""
    transport = push.http_transport if stop is None else push.stoppable(stop)
    sending = lambda job: functools.partial(job, transport=transport)  # noqa: E731
    return [
        ("rollup", rollup.run, settings.rollup_every_s),
        ("push", sending(push.run), settings.push_every_s),
        ("prune", retention.run, settings.prune_every_s),
        ("status", sending(status_push.run), settings.status_every_s),  # a hub's live page
        ("pull", sending(pull.run), settings.pull_every_s),  # a hub polling hosts
        ("alerts", alerts.run, settings.alert_every_s),
    ]


def run_loop(
    settings: Settings,
    stop: threading.Event,
    *,
    clock: Callable[[], float] = time.time,
    job_list: list[tuple[str, Job, int]] | None = None,
) -> int:
    """Run until `stop` is set; return the exit code."""
    try:
        conn = wait_for_db(settings, stop, clock)
    except NewerSchema as exc:
        log.error("%s", exc)
        return 1
    if conn is None:
        return 0
    sched = schedule.Scheduler()
    for name, job, every in job_list or jobs(settings, stop):
        if not stop.is_set():
            guarded(name, job, conn, settings, clock)  # once at start, then on schedule
        sched.every(every).seconds.do(guarded, name, job, conn, settings, clock)
    while not stop.is_set():
        heartbeat.touch(settings.heartbeat, clock())
        sched.run_pending()
        stop.wait(1.0)
    conn.close()
    log.info("scheduler stopped")
    return 0
