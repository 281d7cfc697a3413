"""The `collector` command: run the loop, or dry-run, show the data, import, healthcheck."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence

from sampling import factory
from sampling.backend import Backend, BackendFailed, BackendUnavailable
from store import settings
from store.db import StoreError, check_sqlite_version
from store.schema import SchemaMismatch
from store.settings import OneLineParser, SettingError, env_int, env_str

BACKENDS = ("nvml", "simulated")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
log = logging.getLogger("collector")


def build_parser() -> argparse.ArgumentParser:
    """The options of `collector` (the loop and its one-shot modes)."""
    p = OneLineParser(
        prog="collector",
        description="Sample every GPU and its processes into the GPU Pulse database.",
        epilog="Also: `collector import FILE...` imports nvidia-smi CSV logs or gpu_stats CSVs;"
        " `collector doctor` checks what this machine's driver lets GPU Pulse read.",
    )
    p.add_argument("--backend", choices=BACKENDS, help="GPU source (GPUPULSE_BACKEND, nvml)")
    p.add_argument(
        "--interval", type=float, help="seconds between ticks, >= 1 (GPUPULSE_INTERVAL, 5)"
    )
    p.add_argument("--db", help=f"database file (GPUPULSE_DB, {settings.DEFAULT_DB})")
    p.add_argument("--log-level", type=str.upper, choices=LOG_LEVELS, help="(GPUPULSE_LOG_LEVEL)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument(
        "--dry-run", action="store_true", help="sample a few ticks, print, write nothing"
    )
    mode.add_argument(
        "--show-db", action="store_true", help="print daily activity from the database"
    )
    mode.add_argument("--healthcheck", action="store_true", help="exit 0 if samples are fresh")
    mode.add_argument(
        "--migrate", action="store_true", help="create/upgrade the database schema and exit"
    )
    p.add_argument("--ticks", type=int, default=3, help="ticks for --dry-run (default 3)")
    p.add_argument("--gpu", type=int, help="--show-db: one GPU by index (default: whole host)")
    p.add_argument("--days", type=int, default=7, help="--show-db: days back (default 7)")
    p.add_argument("--format", choices=("table", "json", "csv"), default="table")
    return p


def resolve(args: argparse.Namespace, env: dict[str, str] | None = None) -> argparse.Namespace:
    """Fill unset options from GPUPULSE_* settings and check ranges (SettingError on misuse)."""
    args.backend = args.backend or env_str("GPUPULSE_BACKEND", "nvml", env)
    if args.backend not in BACKENDS:
        raise SettingError(
            f"GPUPULSE_BACKEND={args.backend!r} must be one of {', '.join(BACKENDS)}"
        )
    args.interval = settings.interval(env) if args.interval is None else args.interval
    if not 1 <= args.interval <= 3600:
        raise SettingError(f"--interval {args.interval:g} is out of range: use 1 to 3600 seconds")
    args.db = args.db or settings.db_path(env)
    args.log_level = args.log_level or env_str("GPUPULSE_LOG_LEVEL", "INFO", env).upper()
    if args.log_level not in LOG_LEVELS:
        raise SettingError(f"GPUPULSE_LOG_LEVEL={args.log_level!r} must be one of {LOG_LEVELS}")
    if args.ticks < 1 or args.days < 1:
        raise SettingError("--ticks and --days must be at least 1")
    return args


def make_backend(args: argparse.Namespace) -> Backend:
    """The backend the options name; simulated only when asked for."""
    return factory.make_backend(args.backend)


def main(
    argv: Sequence[str] | None = None,
    backend_factory: Callable[[argparse.Namespace], Backend] = make_backend,
) -> int:
    """Entry point of the `collector` console script; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "import":
        from collector.importer import main as import_main

        return import_main(argv[1:])
    if argv and argv[0] == "doctor":
        return doctor_main(argv[1:])
    if argv and argv[0] == "idle-run":
        # The idle runner is a service of its own; this spelling hands the process over.
        os.execv(sys.executable, [sys.executable, "-m", "idle", *argv[1:]])
    args = build_parser().parse_args(argv)
    try:
        resolve(args)
        setup_logging(args.log_level)
        return dispatch(args, backend_factory)
    except SettingError as exc:
        return fail(str(exc), 2)
    except BackendFailed as exc:
        return fail(str(exc))
    except BackendUnavailable as exc:
        return fail(backend_hint(str(exc)))
    except (StoreError, SchemaMismatch) as exc:
        return fail(str(exc))
    except KeyboardInterrupt:
        return 130


def doctor_main(argv: list[str]) -> int:
    """`collector doctor`: check what this machine's driver lets GPU Pulse read."""
    p = OneLineParser(prog="collector doctor", description="Check the driver, GPUs and access.")
    p.add_argument("--log-level", type=str.upper, choices=LOG_LEVELS, default="ERROR")
    args = p.parse_args(argv)
    setup_logging(args.log_level)
    from collector.doctor import doctor

    try:
        return doctor(interval=settings.interval())
    except SettingError as exc:
        return fail(str(exc), 2)


def dispatch(args: argparse.Namespace, backend_factory: Callable) -> int:
    """Run the mode the options ask for."""
    if args.healthcheck:
        from collector.health import healthcheck

        return healthcheck(args.db, args.interval)
    if args.migrate:
        return migrate_only(args.db)
    if args.show_db:
        from collector.showdb import show_db

        return show_db(args.db, gpu=args.gpu, days=args.days, fmt=args.format)
    stop = threading.Event()
    install_signal_handlers(stop)
    if args.dry_run:
        from collector.dryrun import dry_run

        return dry_run(backend_factory(args), args.ticks, args.db, wait=stop.wait)
    return run_collector(args, backend_factory(args), stop)


def migrate_only(db: str) -> int:
    """Bring the schema up to date without sampling (a hub or a host without GPUs)."""
    from store import open_db
    from store.db import OperationalError

    try:
        conn = open_db(db, migrate=True)
    except OperationalError as exc:
        raise StoreError(f"cannot open the database {db}: {exc}") from None
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    conn.close()
    print(f"collector: {db} is at schema v{version}")
    return 0


def run_collector(args: argparse.Namespace, backend: Backend, stop: threading.Event) -> int:
    """Open (and migrate) the database, backfill the demo if asked, run until signalled."""
    from collector.backfill import backfill
    from collector.loop import DEFAULT_BUFFER_TICKS, CollectorLoop
    from store import open_db
    from store.db import OperationalError
    from store.samples import Recorder

    log.info("SQLite %s (WAL-reset fix present)", check_sqlite_version())
    buffer_ticks = env_int("GPUPULSE_BUFFER_TICKS", DEFAULT_BUFFER_TICKS, minimum=1)
    backfill_days = env_int("GPUPULSE_SIM_BACKFILL_DAYS", 0, minimum=0, maximum=3650)
    try:
        conn = open_db(args.db, migrate=True)
    except OperationalError as exc:
        backend.close()
        raise StoreError(f"cannot open the database {args.db}: {exc}") from None
    recorder = Recorder(conn)
    log.info("collecting from %s every %g s into %s", backend.name, args.interval, args.db)
    try:
        if backend.name == "simulated" and backfill_days:
            backfill(backend, recorder, backfill_days, int(time.time()), stop=stop.is_set)
        loop = CollectorLoop(
            backend, recorder, interval=args.interval, wait=stop.wait, buffer_ticks=buffer_ticks
        )
        if not stop.is_set():
            loop.run()
        log.info("stopped after %d tick(s)", loop.ticks)
    finally:
        backend.close()
        conn.close()
    return 0


def install_signal_handlers(stop: threading.Event) -> None:
    """SIGTERM and SIGINT set `stop`; the loop finishes its write and returns."""

    def handler(signum: int, _frame: object) -> None:
        log.info("received %s; finishing the current write", signal.Signals(signum).name)
        stop.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)


def backend_hint(message: str) -> str:
    """The one line shown when no backend can sample, with what to check."""
    if "check" in message:
        return message
    return (
        f"{message}; check the NVIDIA driver (nvidia-smi on the host), that the container "
        "has the GPUs (--gpus all or a compose device reservation) and runs with pid: host"
    )


def fail(message: str, code: int = 1) -> int:
    """Print one line to stderr and return the exit code."""
    print(f"collector: {' '.join(message.split())}", file=sys.stderr)
    return code


def setup_logging(level: str) -> None:
    """Log to stderr with times in UTC."""
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%Y-%m-%dT%H:%M:%S%z",
        stream=sys.stderr,
        force=True,
    )
