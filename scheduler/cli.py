"""`scheduler`: the roll-up/retention/push loop and its Targoman-style inspection commands."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
import time

from protocol import timeparse
from scheduler import (
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
from scheduler.settings import LOG_LEVELS, ConfigError, Settings, load, with_offline
from store import atomic, open_db
from store.db import StoreError
from store.schema import SchemaMismatch
from store.settings import OneLineParser, SettingError

RUN_ONCE = {"rollup": rollup.run, "prune": retention.run, "push": push.run,
            "status": status_push.run, "pull": pull.run}  # fmt: skip


def parser() -> argparse.ArgumentParser:
    """The command line (Targoman gpu_monitor's options plus GPU Pulse's)."""
    p = OneLineParser(prog="scheduler", description=__doc__)
    p.add_argument("--run-once", choices=sorted(RUN_ONCE), help="run one job now and exit")
    p.add_argument("-o", "--offline", action="store_true", help="aggregate but never send")
    p.add_argument("-c", "--config", metavar="FILE", help="Targoman-style JSON config file")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    p.add_argument("-l", "--log-level", choices=LOG_LEVELS, type=str.upper)
    p.add_argument("-ls", "--list-sends", action="store_true", help="list pushed hours")
    p.add_argument("-ss", "--search-send", metavar="TIME", help="every attempt for one hour")
    p.add_argument(
        "-sc",
        "--show-collection",
        metavar="TIME",
        nargs="?",
        const="",
        help="'' latest samples, an hour: its aggregate, a time: nearest samples",
    )
    p.add_argument("-f", "--output-format", choices=("json", "csv"), default="json")
    p.add_argument("--resend", metavar="TIME", help="queue one hour again and send it now")
    p.add_argument("--healthcheck", action="store_true", help="exit 0 when the loop is alive")
    return p  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code (one line on stderr for anything to fix)."""
    args = parser().parse_args(argv)
    try:
        settings = with_offline(load(config_file=args.config), args.offline)
        _logging(settings, args)
        if args.healthcheck:
            ok, line = heartbeat.check(
                settings.heartbeat, settings.heartbeat_max_age_s, time.time()
            )
            print(line, file=sys.stdout if ok else sys.stderr)
            return 0 if ok else 1
        command = _command(args)
        if command is None:
            return _run_loop(settings)
        return command(settings, args)
    except (SettingError, ConfigError, timeparse.TimeError, StoreError, SchemaMismatch) as exc:
        print(f"scheduler: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, SettingError | ConfigError | timeparse.TimeError) else 1


def _logging(settings: Settings, args) -> None:
    level = "DEBUG" if args.verbose else (args.log_level or settings.log_level)
    handlers: list[logging.Handler] = [logging.StreamHandler()]
    if settings.log_file:
        handlers.append(logging.FileHandler(settings.log_file))
    logging.basicConfig(level=level, handlers=handlers, force=True,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")  # fmt: skip


def _command(args):
    if args.run_once:
        return _run_once
    if args.list_sends:
        return _list_sends
    if args.search_send is not None:
        return _search_send
    if args.show_collection is not None:
        return _show_collection
    if args.resend is not None:
        return _resend
    return None


def _run_loop(settings: Settings) -> int:
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    return loop.run_loop(settings, stop)


def _open(settings: Settings, write: bool = False):
    """The database, checked; read-only unless `write`."""
    return open_db(settings.db, write=write)


def _run_once(settings: Settings, args) -> int:
    conn = _open(settings, write=True)
    result = RUN_ONCE[args.run_once](conn, settings, time.time())
    print(json.dumps({"job": args.run_once, "result": result}, default=str))
    return 0


def _list_sends(settings: Settings, args) -> int:
    rows = ledger.summaries(_open(settings))
    if not rows:
        print("No send attempts found")
        return 0
    print("Aggregation Time | Attempts | First Attempt | Last Attempt | Last Error | UID | State")
    for r in rows:
        first, last = (
            timeparse.iso(t) if t else "-" for t in (r["first_attempt"], r["last_attempt"])
        )
        print(f"{timeparse.iso(r['hour'])} | {r['attempts']} | {first} | {last} | "
              f"{r['last_error']} | {r['uid']} | {r['state']}")  # fmt: skip
    return 0


def _search_send(settings: Settings, args) -> int:
    hour = timeparse.hour_of(timeparse.parse(args.search_send, settings.tz))
    conn = _open(settings)
    found = ledger.summaries(conn, hour)
    if not found:
        print(f"scheduler: no aggregate queued for {timeparse.iso(hour)}", file=sys.stderr)
        return 1
    s = found[0]
    print(f"Aggregation Time: {timeparse.iso(hour)}\nAttempts: {s['attempts']}\n"
          f"State: {s['state']}\nLast Error: {s['last_error']}\nUID: {s['uid']}")  # fmt: skip
    for a in ledger.attempts(conn, hour):
        result = "ok" if a["success"] else f"failed: {a['error']}"
        print(f"  #{a['attempt']} {timeparse.iso(a['ts'])} {result} uid={a['uid']} "
              f"sha256={a['payload_hash'][:12]}")  # fmt: skip
    return 0


def _show_collection(settings: Settings, args) -> int:
    text = args.show_collection.strip()
    moment = timeparse.parse(text, settings.tz) if text else None
    data = show.collection(_open(settings), moment)
    if not data:
        print(
            f"scheduler: no collection data found for {text or 'the latest tick'}", file=sys.stderr
        )
        return 1
    print(show.render(data, args.output_format))
    return 0


def _resend(settings: Settings, args) -> int:
    hour = timeparse.hour_of(timeparse.parse(args.resend, settings.tz))
    conn = _open(settings, write=True)
    with atomic(conn):
        queued = outbox.requeue(conn, settings, hour, time.time())
    if not queued:
        print(f"scheduler: no hourly aggregate for {timeparse.iso(hour)}", file=sys.stderr)
        return 1
    if not settings.sending:
        print(f"queued {timeparse.iso(hour)}; not sent (offline or no GPUPULSE_PUSH_URL)")
        return 0
    outcome = push.send(conn, settings, hour)
    print(f"{timeparse.iso(hour)}: " + (f"sent, uid {outcome.uid}" if outcome.success
                                       else f"failed: {outcome.error}"))  # fmt: skip
    return 0 if outcome.success else 1


if __name__ == "__main__":
    sys.exit(main())
