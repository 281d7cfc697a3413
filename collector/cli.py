"""The `collector` command: run the loop, or dry-run, show the data, import, healthcheck,
migrate, check the driver, or hand over to the idle runner."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import time
from collections.abc import Callable, Sequence

from collector import single
from collector.settings import OPTIONS, CollectorSettings
from runtime import logs
from runtime.cli import (
    DATABASE_PROBLEM,
    OneLineParser,
    chosen,
    fail,
    fail_after_pause,
    forward,
    given,
    optional,
    output_closed,
    setting_failed,
    shared_options,
    subcommands,
    with_defaults,
)
from runtime.settings import SettingError, check_all, environment, load, option_type
from runtime.signals import StopRequest
from runtime.table import COLLECTOR
from sampling import factory
from sampling.backend import Backend, BackendFailed, BackendUnavailable
from store.db import Error, StoreError, check_sqlite_version
from store.problems import explain
from store.samples import Recorder
from store.schema import SchemaMismatch

log = logging.getLogger("collector")
BackendFactory = Callable[[CollectorSettings], Backend]
# The one-shot modes' older spellings: `collector --dry-run` is `collector dry-run`.
ALIASES = {
    "dry_run": "dry-run",
    "show_db": "show-db",
    "healthcheck": "healthcheck",
    "migrate": "migrate",
}
DEFAULTS = {
    "ticks": 3,
    "days": 7,
    "format": "table",
    "gpu": None,
    "files": [],
    "host": None,
    "columns": None,
}


def at_least_one(raw: str) -> int:
    """A whole number of 1 or more (argparse type)."""
    if not raw.strip().isdigit() or int(raw) < 1:
        raise argparse.ArgumentTypeError(f"{raw!r} must be a whole number of at least 1")
    return int(raw)


def option_groups() -> dict[str, argparse.ArgumentParser]:
    """Options shared by the subcommands that use them; absent unless given."""
    source, interval, dry, show, tz = (argparse.ArgumentParser(add_help=False) for _ in range(5))
    optional(
        source,
        "--backend",
        type=option_type("GPUPULSE_BACKEND"),
        metavar="{nvml,simulated}",
        help="GPU source (GPUPULSE_BACKEND)",
    )
    optional(
        interval,
        "--interval",
        type=option_type("GPUPULSE_INTERVAL"),
        help="seconds between ticks (GPUPULSE_INTERVAL)",
    )
    optional(dry, "--ticks", type=at_least_one, help="ticks for dry-run (default 3)")
    optional(show, "--gpu", type=int, help="show-db: one GPU by index (default: whole host)")
    optional(show, "--days", type=at_least_one, help="show-db: days back (default 7)")
    optional(show, "--format", choices=("table", "json", "csv"))
    optional(
        tz,
        "--tz",
        type=option_type("GPUPULSE_TZ"),
        help="zone of nvidia-smi's local timestamps (GPUPULSE_TZ)",
    )
    return {
        "shared": shared_options(),
        "source": source,
        "interval": interval,
        "dry": dry,
        "show": show,
        "tz": tz,
    }


SUBCOMMANDS = {
    "run": (("shared", "source", "interval"), "sample every GPU until SIGTERM (the default)"),
    "dry-run": (("shared", "source", "dry"), "sample a few ticks, print, write nothing"),
    "show-db": (("shared", "show"), "print daily activity from the database"),
    "healthcheck": (("shared", "interval"), "exit 0 if samples are fresh"),
    "migrate": (("shared",), "create/upgrade the database schema and exit"),
    "import": (("shared", "tz"), "import nvidia-smi logs, gpu_stats CSVs or Targoman histories"),
    "doctor": (("shared", "interval"), "check what this machine's driver lets GPU Pulse read"),
}


def build_parser() -> argparse.ArgumentParser:
    """`collector [OPTIONS] [COMMAND [OPTIONS]]`; options work before or after the command."""
    groups = option_groups()
    p = OneLineParser(
        prog="collector",
        description=__doc__,
        parents=[groups[g] for g in ("shared", "source", "interval", "dry", "show")],
    )
    mode = p.add_mutually_exclusive_group()
    for dest, command in ALIASES.items():
        mode.add_argument(f"--{command}", dest=dest, action="store_true", help=f"= {command}")
    sub = subcommands(p)
    for name, (parents, text) in SUBCOMMANDS.items():
        sub.add_parser(name, parents=[groups[g] for g in parents], help=text, description=text)
    add_import_arguments(sub.choices["import"])
    # Everything after idle-run goes to the idle runner, --help included.
    sub.add_parser("idle-run", add_help=False, help="run jobs on idle GPUs (gpupulse-idle)")
    return p


def add_import_arguments(p: argparse.ArgumentParser) -> None:
    """The files and the options only `collector import` has."""
    from collector.importer import columns_option

    p.add_argument(
        "files",
        nargs="+",
        metavar="FILE",
        help="nvidia-smi CSV log, gpu_stats CSV or Targoman gpu_metrics.db",
    )
    p.add_argument(
        "--columns",
        type=columns_option,
        help="a headerless nvidia-smi log's --query-gpu fields, comma-separated",
    )
    p.add_argument(
        "--host",
        help="the machine the files come from, for GPUs they name without a UUID "
        "(default: this database's host)",
    )


def make_backend(settings: CollectorSettings) -> Backend:
    """The backend the settings name; simulated only when asked for."""
    return factory.make_backend(settings.sampling)


def main(argv: Sequence[str] | None = None, backend_factory: BackendFactory = make_backend) -> int:
    """Entry point of the `collector` console script; returns the exit code."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    command = chosen(parser, args, ALIASES, "run")
    if command == "idle-run":
        hand_over(args, extra)
    if extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    with_defaults(args, **DEFAULTS)
    try:
        env = environment()
        check_all(COLLECTOR, env)
        settings = load(CollectorSettings, env, given(args, OPTIONS))
        code = COMMANDS[command](settings, args, backend_factory)
        sys.stdout.flush()  # a reader gone (`| head`) fails here, not at interpreter exit
        return code
    except SettingError as exc:
        return setting_failed("collector", exc, service=command == "run")
    except BackendFailed as exc:
        return fail("collector", exc)
    except BackendUnavailable as exc:
        return fail("collector", backend_hint(str(exc)))
    except (StoreError, SchemaMismatch, Error) as exc:
        return fail("collector", explain(exc, settings.db), DATABASE_PROBLEM)
    except BrokenPipeError:
        return output_closed()
    except KeyboardInterrupt:
        return 130


def hand_over(args: argparse.Namespace, extra: list[str]) -> None:
    """`collector idle-run`: the idle runner is a service of its own; exec it in our place."""
    shared = forward(
        {"--db": getattr(args, "db", None), "--log-level": getattr(args, "log_level", None)}
    )
    os.execv(sys.executable, [sys.executable, "-m", "idle", *shared, *extra])


def run(settings: CollectorSettings, args: argparse.Namespace, make: BackendFactory) -> int:
    """Sample until signalled; a database that needs a person is one line, then a pause."""
    logs.setup(settings.log_level)
    stop = StopRequest(log, "finishing the current write")
    stop.install()
    log.info("SQLite %s (WAL-reset fix present)", check_sqlite_version())
    try:
        return collect(settings, make, stop)
    except (StoreError, SchemaMismatch, Error) as exc:
        problem = explain(exc, settings.db)
        return fail_after_pause(
            "collector", problem, DATABASE_PROBLEM, settings.failure_pause_s, stop.wait
        )


def collect(settings: CollectorSettings, make: BackendFactory, stop: StopRequest) -> int:
    """Hold the database's collector lock, open (and migrate) it, backfill the demo if asked,
    and sample until signalled."""
    from collector.loop import CollectorLoop

    with contextlib.ExitStack() as held:  # released in reverse, however this ends
        held.callback(os.close, single.hold(settings.db))
        backend = make(settings)
        held.callback(backend.close)
        conn = open_writer(settings.db)
        held.callback(conn.close)
        log.info(
            "collecting from %s every %g s into %s", backend.name, settings.interval, settings.db
        )
        recorder = Recorder(conn)
        backfill_demo(settings, backend, recorder, stop)
        loop = CollectorLoop(
            backend,
            recorder,
            interval=settings.interval,
            wait=stop.wait,
            buffer_ticks=settings.buffer_ticks,
            host=settings.host_id,
        )
        if not stop.is_set():
            loop.run()
        log.info("stopped after %d tick(s)", loop.ticks)
    return 0


def backfill_demo(
    settings: CollectorSettings, backend: Backend, recorder: Recorder, stop: StopRequest
) -> None:
    """The simulated fleet's history at first start, when GPUPULSE_SIM_BACKFILL_DAYS asks."""
    from collector.backfill import backfill

    if backend.name == "simulated" and settings.backfill_days:
        backfill(backend, recorder, settings.backfill_days, int(time.time()), stop=stop.is_set)


def open_writer(db: str):
    """A migrated writer connection; StoreError in one line when it cannot be opened."""
    from store import open_db

    return open_db(db, migrate=True)


def dry_run(settings: CollectorSettings, args: argparse.Namespace, make: BackendFactory) -> int:
    """Sample a few ticks and print them; nothing is written."""
    from collector.dryrun import dry_run as sample_and_print

    logs.setup(settings.log_level)
    stop = StopRequest(log, "stopping the dry run")
    stop.install()
    return sample_and_print(make(settings), args.ticks, settings.db, wait=stop.wait)


def show_db(settings: CollectorSettings, args: argparse.Namespace, _make: BackendFactory) -> int:
    """Daily activity from the database."""
    from collector.showdb import show_db as show

    logs.setup(settings.log_level)
    return show(
        settings.db, settings.tz, settings.threshold, gpu=args.gpu, days=args.days, fmt=args.format
    )


def healthcheck(
    settings: CollectorSettings, _args: argparse.Namespace, _make: BackendFactory
) -> int:
    """Exit 0 when the newest sample is fresh."""
    from collector.health import healthcheck as check

    return check(settings.db, settings.interval)


def migrate(settings: CollectorSettings, _args: argparse.Namespace, _make: BackendFactory) -> int:
    """Bring the schema up to date without sampling (a hub or a host without GPUs)."""
    logs.setup(settings.log_level)
    conn = open_writer(settings.db)
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    conn.close()
    print(f"collector: {settings.db} is at schema v{version}")
    return 0


def import_files(
    settings: CollectorSettings, args: argparse.Namespace, _make: BackendFactory
) -> int:
    """History from CSV files; 0 all imported, 1 rows skipped, 2 a file is unusable."""
    from collector.importer import import_files as load_files

    logs.setup(settings.log_level)
    return load_files(
        args.files,
        settings.db,
        settings.tz,
        settings.interval,
        host=args.host,
        columns=args.columns,
    )


def doctor(settings: CollectorSettings, args: argparse.Namespace, _make: BackendFactory) -> int:
    """Check what this machine's driver lets GPU Pulse read (quiet logs unless asked)."""
    from collector.doctor import doctor as check

    logs.setup(getattr(args, "log_level", None) or "ERROR")
    return check(lambda: factory.make_nvml(settings.sampling), interval=settings.interval)


COMMANDS = {
    "run": run,
    "dry-run": dry_run,
    "show-db": show_db,
    "healthcheck": healthcheck,
    "migrate": migrate,
    "import": import_files,
    "doctor": doctor,
}


def backend_hint(message: str) -> str:
    """The one line shown when no backend can sample, with what to check."""
    if "check" in message:
        return message
    return (
        f"{message}; check the NVIDIA driver (nvidia-smi on the host), that the container "
        "has the GPUs (--gpus all or a compose device reservation) and runs with pid: host"
    )
