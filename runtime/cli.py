"""One command-line style for every service: subcommands, shared options that may come before
or after the subcommand, and errors as one line on stderr with exit status 2."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Mapping
from typing import Any, NoReturn

from runtime.settings import SettingError, default, option_type
from runtime.signals import StopRequest
from runtime.table import LOG_LEVELS

USAGE_ERROR = 2
# A service started with a bad setting waits this long before it exits, so Docker or systemd
# restarts it a few times an hour instead of in a loop, and Docker's healthcheck (which says
# the same line) has marked it unhealthy with the reason by then.
CONFIG_HOLD_S = 120.0
# Exit status of a service whose database needs a person (corrupt, read-only, a directory,
# taken by another collector): restarting will not help until someone fixes it.
DATABASE_PROBLEM = 3
# What a shell reports for a program killed by SIGPIPE (`scheduler -ls | head`).
OUTPUT_CLOSED = 128 + 13
# The shared options by the setting each stands for (and wins over).
SHARED_OPTIONS = {"db": "GPUPULSE_DB", "log_level": "GPUPULSE_LOG_LEVEL"}


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports a bad option in one line (no usage block) and exits 2, so a
    typo never prints a screenful."""

    def error(self, message: str) -> NoReturn:
        """Print `prog: error: message` and exit 2."""
        self.exit(USAGE_ERROR, f"{self.prog}: error: {message} (see --help)\n")


def optional(parser: argparse.ArgumentParser, *flags: str, **options: Any) -> None:
    """An option that stays absent unless given, so the same one may stand before and after
    a subcommand without the later parser resetting it."""
    parser.add_argument(*flags, default=argparse.SUPPRESS, **options)


def shared_options(
    *,
    db: bool = True,
    log_level: tuple[str, ...] = ("--log-level",),
    config: tuple[str, ...] = (),
    config_help: str = "config file",
) -> argparse.ArgumentParser:
    """The options every subcommand also takes: --db, --log-level and, where a service has
    one, --config. They default to absent, so one given before the subcommand is kept."""
    p = argparse.ArgumentParser(add_help=False)
    if db:
        optional(p, "--db", help=f"database file (GPUPULSE_DB, default {default('GPUPULSE_DB')})")
    if log_level:
        optional(
            p,
            *log_level,
            dest="log_level",
            type=option_type("GPUPULSE_LOG_LEVEL"),
            metavar="LEVEL",
            help=f"{', '.join(LOG_LEVELS)} (GPUPULSE_LOG_LEVEL)",
        )
    if config:
        optional(p, *config, metavar="FILE", help=config_help)
    return p


def subcommands(parser: argparse.ArgumentParser) -> argparse._SubParsersAction:
    """The subcommand slot of `parser` (optional: each command has a default one)."""
    return parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=OneLineParser)


def with_defaults(args: argparse.Namespace, **values: Any) -> argparse.Namespace:
    """Fill options nobody gave (shared options and the subcommands' own) with `values`."""
    for name, value in values.items():
        if not hasattr(args, name):
            setattr(args, name, value)
    return args


def chosen(
    parser: argparse.ArgumentParser,
    args: argparse.Namespace,
    aliases: Mapping[str, str],
    fallback: str,
) -> str:
    """The command to run: the subcommand, or the one an older option spells (`--dry-run`
    for `dry-run`), or `fallback`; two different ones at once is a usage error."""
    named = [cmd for dest, cmd in aliases.items() if getattr(args, dest, None) not in (None, False)]
    wanted = list(dict.fromkeys([*([args.command] if args.command else []), *named]))
    if len(wanted) > 1:
        parser.error(f"{wanted[0]} and {wanted[1]} cannot be combined; give one command")
    return wanted[0] if wanted else fallback


def given(args: argparse.Namespace, names: Mapping[str, str]) -> dict[str, Any]:
    """Options on the command line by the variable they stand for (to win over it)."""
    return {
        var: getattr(args, dest)
        for dest, var in names.items()
        if getattr(args, dest, None) is not None
    }


def fail(prog: str, message: object, code: int = 1) -> int:
    """Print one line on stderr and return the exit code."""
    print(f"{prog}: {' '.join(str(message).split())}", file=sys.stderr)
    return code


def fail_after_pause(
    prog: str, message: object, code: int, pause_s: float, wait: Callable[[float], bool]
) -> int:
    """Print one line, then wait `pause_s` (until `wait` says a stop signal came) before
    returning the exit code, so a restart policy cannot turn the failure into a tight loop."""
    fail(prog, message, code)
    if pause_s > 0:
        wait(pause_s)
    return code


def output_closed() -> int:
    """The reader of our output went away (`| head`): stop quietly, as other tools do."""
    # Anything still buffered for the closed pipe would fail again at exit.
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return OUTPUT_CLOSED


def forward(options: Mapping[str, Any]) -> list[str]:
    """Options given again as arguments (`--db X`) for a command this one hands over to."""
    return [
        part for flag, value in options.items() if value is not None for part in (flag, str(value))
    ]


def setting_failed(
    prog: str, problem: SettingError, *, service: bool, hold_s: float = CONFIG_HOLD_S
) -> int:
    """A bad setting: one line naming it, exit status 2. A service (not a person at a
    terminal) waits `hold_s` seconds first, or until it is asked to stop."""
    if not service or sys.stderr.isatty():
        return fail(prog, problem, USAGE_ERROR)
    stop = StopRequest()
    stop.install()  # before the line, so a stop that follows it is never missed
    fail(prog, f"{problem} (fix it and restart; exiting in {hold_s:g} s, not in a loop)")
    sys.stderr.flush()
    stop.wait(hold_s)
    return USAGE_ERROR
