"""`scheduler`: the roll-up/retention/push loop and its Targoman-style inspection commands."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Callable, Sequence

from protocol import timeparse
from runtime import logs
from runtime.cli import (
    DATABASE_PROBLEM,
    SHARED_OPTIONS,
    OneLineParser,
    chosen,
    fail,
    fail_after_pause,
    given,
    optional,
    output_closed,
    setting_failed,
    shared_options,
    subcommands,
    with_defaults,
)
from runtime.settings import SettingError, check_all, environment
from runtime.signals import StopRequest
from runtime.table import SCHEDULER
from scheduler import (
    alerts,
    heartbeat,
    ledger,
    loop,
    outbox,
    pull,
    push,
    retention,
    rollup,
    show,
    status_push,
)
from scheduler.settings import ConfigError, Settings, load, with_offline
from store import atomic, open_db
from store.db import Error, StoreError
from store.problems import explain
from store.schema import SchemaMismatch

log = logging.getLogger("scheduler")
RUN_ONCE = {
    "rollup": rollup.run,
    "prune": retention.run,
    "push": push.run,
    "status": status_push.run,
    "pull": pull.run,
    "alerts": alerts.run,
}
# Targoman gpu_monitor's spellings of the commands: `scheduler -ls` is `scheduler list-sends`.
ALIASES = {
    "run_once": "run-once",
    "list_sends": "list-sends",
    "search_send": "search-send",
    "show_collection": "show-collection",
    "resend": "resend",
    "healthcheck": "healthcheck",
}
DEFAULTS = {"offline": False, "verbose": False, "output_format": "json", "config": None}
TIME_HELP = "local (GPUPULSE_TZ) or offset time, or unix seconds"


def option_groups() -> dict[str, argparse.ArgumentParser]:
    """Options the subcommands share with the top level; absent unless given."""
    shared = shared_options(
        log_level=("-l", "--log-level"),
        config=("-c", "--config"),
        config_help="Targoman-style JSON config file",
    )
    mode, output = argparse.ArgumentParser(add_help=False), argparse.ArgumentParser(add_help=False)
    optional(mode, "-o", "--offline", action="store_true", help="aggregate but never send")
    optional(mode, "-v", "--verbose", action="store_true", help="debug logging")
    optional(
        output,
        "-f",
        "--output-format",
        choices=("json", "csv"),
        help="for show-collection (default json)",
    )
    return {"shared": shared, "mode": mode, "output": output}


def add_aliases(p: argparse.ArgumentParser) -> None:
    """The Targoman-style options, each naming a command."""
    p.add_argument("--run-once", choices=sorted(RUN_ONCE), help="= run-once JOB")
    p.add_argument("-ls", "--list-sends", action="store_true", help="= list-sends")
    p.add_argument("-ss", "--search-send", metavar="TIME", help="= search-send TIME")
    p.add_argument(
        "-sc",
        "--show-collection",
        metavar="TIME",
        nargs="?",
        const="",
        help="= show-collection [TIME]",
    )
    p.add_argument("--resend", metavar="TIME", help="= resend TIME")
    p.add_argument("--healthcheck", action="store_true", help="= healthcheck")


def parser() -> argparse.ArgumentParser:
    """`scheduler [OPTIONS] [COMMAND [ARGS]]` (Targoman gpu_monitor's options kept)."""
    groups = option_groups()
    p = OneLineParser(prog="scheduler", description=__doc__, parents=list(groups.values()))
    add_aliases(p)
    sub = subcommands(p)
    everyday = [groups["shared"], groups["mode"]]
    sub.add_parser("run", parents=everyday, help="the roll-up, retention and push loop (default)")
    once = sub.add_parser("run-once", parents=everyday, help="run one job now and exit")
    once.add_argument("run_once", choices=sorted(RUN_ONCE), metavar="JOB")
    sub.add_parser("list-sends", parents=everyday, help="list the pushed hours")
    search = sub.add_parser("search-send", parents=everyday, help="every attempt for one hour")
    search.add_argument("search_send", metavar="TIME", help=TIME_HELP)
    collection = sub.add_parser(
        "show-collection",
        parents=[*everyday, groups["output"]],
        help="latest samples, an hour's aggregate, or the nearest samples",
    )
    collection.add_argument(
        "show_collection", metavar="TIME", nargs="?", default="", help=TIME_HELP
    )
    resend = sub.add_parser("resend", parents=everyday, help="queue one hour again and send it now")
    resend.add_argument("resend", metavar="TIME", help=TIME_HELP)
    sub.add_parser("healthcheck", parents=everyday, help="exit 0 when the loop is alive")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code (one line on stderr for anything to fix)."""
    p = parser()
    args = with_defaults(p.parse_args(argv), **DEFAULTS)
    command = chosen(p, args, ALIASES, "run")
    try:
        env = environment()
        check_all(SCHEDULER, env)
        warnings: list[str] = []
        settings = load(env, args.config, given(args, SHARED_OPTIONS), warnings.append)
        settings = with_offline(settings, args.offline)
        start_logging(settings, args.verbose)
        for line in warnings:
            log.warning("%s", line)
    except SettingError as exc:
        return setting_failed("scheduler", exc, service=command == "run")
    except ConfigError as exc:
        return fail("scheduler", exc, 2)
    try:
        code = COMMANDS[command](settings, args)
        sys.stdout.flush()  # a reader gone (`| head`) fails here, not at interpreter exit
        return code
    except timeparse.TimeError as exc:
        return fail("scheduler", exc, 2)
    except (StoreError, SchemaMismatch, Error) as exc:
        return fail("scheduler", explain(exc, settings.db), DATABASE_PROBLEM)
    except BrokenPipeError:
        return output_closed()


def start_logging(settings: Settings, verbose: bool) -> None:
    """Log to stderr and GPUPULSE_LOG_FILE; ConfigError when that file cannot be opened."""
    level = "DEBUG" if verbose else settings.log_level
    try:
        logs.setup(level, file=settings.log_file or None)
    except OSError as exc:
        raise ConfigError(f"log file {settings.log_file}: {exc.strerror or exc}") from None


def _healthcheck(settings: Settings, _args: argparse.Namespace) -> int:
    """Exit 0 while the loop's heartbeat is fresh."""
    ok, line = heartbeat.check(settings.heartbeat, settings.heartbeat_max_age_s, time.time())
    print(line, file=sys.stdout if ok else sys.stderr)
    return 0 if ok else 1


def _run_loop(settings: Settings, _args: argparse.Namespace) -> int:
    """Roll up, prune and push until SIGTERM or SIGINT; a database that needs a person is
    one line, then a pause before the exit."""
    stop = StopRequest()
    stop.install()
    try:
        return loop.run_loop(settings, stop)
    except (StoreError, Error) as exc:
        problem = explain(exc, settings.db)
        heartbeat.give_up(settings.heartbeat, " ".join(str(problem).split()))
        return fail_after_pause(
            "scheduler", problem, DATABASE_PROBLEM, settings.failure_pause_s, stop.wait
        )


def _open(settings: Settings, write: bool = False):
    """The database, checked; read-only unless `write`."""
    return open_db(settings.db, write=write)


def _run_once(settings: Settings, args: argparse.Namespace) -> int:
    """Run one job now and print its result as JSON."""
    conn = _open(settings, write=True)
    result = RUN_ONCE[args.run_once](conn, settings, time.time())
    print(json.dumps({"job": args.run_once, "result": result}, default=str))
    return 0


def _list_sends(settings: Settings, _args: argparse.Namespace) -> int:
    """One line per pushed hour, as Targoman's -ls prints it."""
    rows = ledger.summaries(_open(settings))
    if not rows:
        print("No send attempts found")
        return 0
    print("Aggregation Time | Attempts | First Attempt | Last Attempt | Last Error | UID | State")
    for r in rows:
        first, last = (
            timeparse.iso(t) if t else "-" for t in (r["first_attempt"], r["last_attempt"])
        )
        print(
            f"{timeparse.iso(r['hour'])} | {r['attempts']} | {first} | {last} | "
            f"{r['last_error']} | {r['uid']} | {r['state']}"
        )
    return 0


def _search_send(settings: Settings, args: argparse.Namespace) -> int:
    """Every push attempt for one hour."""
    hour = timeparse.hour_of(timeparse.parse(args.search_send, settings.tz))
    conn = _open(settings)
    found = ledger.summaries(conn, hour)
    if not found:
        return fail("scheduler", f"no aggregate queued for {timeparse.iso(hour)}")
    s = found[0]
    print(
        f"Aggregation Time: {timeparse.iso(hour)}\nAttempts: {s['attempts']}\n"
        f"State: {s['state']}\nLast Error: {s['last_error']}\nUID: {s['uid']}"
    )
    for a in ledger.attempts(conn, hour):
        result = "ok" if a["success"] else f"failed: {a['error']}"
        print(
            f"  #{a['attempt']} {timeparse.iso(a['ts'])} {result} uid={a['uid']} "
            f"sha256={a['payload_hash'][:12]}"
        )
    return 0


def _show_collection(settings: Settings, args: argparse.Namespace) -> int:
    """The latest samples, an hour's aggregate, or the samples nearest a time."""
    text = args.show_collection.strip()
    moment = timeparse.parse(text, settings.tz) if text else None
    data = show.collection(_open(settings), moment)
    if not data:
        return fail("scheduler", f"no collection data found for {text or 'the latest tick'}")
    print(show.render(data, args.output_format))
    return 0


def _resend(settings: Settings, args: argparse.Namespace) -> int:
    """Queue one hour again and send it now (unless offline)."""
    hour = timeparse.hour_of(timeparse.parse(args.resend, settings.tz))
    conn = _open(settings, write=True)
    with atomic(conn):
        queued = outbox.requeue(conn, settings, hour, time.time())
    if not queued:
        return fail("scheduler", f"no hourly aggregate for {timeparse.iso(hour)}")
    if not settings.sending:
        print(f"queued {timeparse.iso(hour)}; not sent (offline or no GPUPULSE_PUSH_URL)")
        return 0
    outcome = push.send(conn, settings, hour)
    print(
        f"{timeparse.iso(hour)}: "
        + (f"sent, uid {outcome.uid}" if outcome.success else f"failed: {outcome.error}")
    )
    return 0 if outcome.success else 1


COMMANDS: dict[str, Callable[[Settings, argparse.Namespace], int]] = {
    "run": _run_loop,
    "run-once": _run_once,
    "list-sends": _list_sends,
    "search-send": _search_send,
    "show-collection": _show_collection,
    "resend": _resend,
    "healthcheck": _healthcheck,
}

if __name__ == "__main__":
    sys.exit(main())
