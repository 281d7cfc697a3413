"""`gpupulse-idle --config FILE` (also `collector idle-run`): run jobs on idle GPUs until
SIGTERM or SIGINT, or `check` the config file."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from typing import IO

from idle import proctree
from idle.config import ConfigError, IdleConfig, load
from idle.record import open_run_log
from idle.runner import Clocks, Runner
from idle.settings import OPTIONS, IdleSettings
from runtime import logs
from runtime.cli import (
    OneLineParser,
    chosen,
    fail,
    given,
    setting_failed,
    shared_options,
    subcommands,
)
from runtime.settings import SettingError, check_all, environment, option_type
from runtime.settings import load as load_settings
from runtime.signals import StopRequest
from runtime.table import IDLE
from sampling import factory
from sampling.backend import Backend, BackendUnavailable

log = logging.getLogger("idle")
PROG = "gpupulse-idle"


def parser() -> argparse.ArgumentParser:
    """`gpupulse-idle [run|check] --config FILE [OPTIONS]`, options before or after."""
    shared = shared_options(config=("--config",), config_help="INI file in gpu_mon's shape")
    own = argparse.ArgumentParser(add_help=False)
    own.add_argument(
        "--backend",
        type=option_type("GPUPULSE_BACKEND"),
        default=argparse.SUPPRESS,
        metavar="{nvml,simulated}",
        help="GPU source (GPUPULSE_BACKEND)",
    )
    own.add_argument(
        "--no-db", action="store_true", default=argparse.SUPPRESS, help="do not record runs"
    )
    own.add_argument(
        "--log",
        default=argparse.SUPPRESS,
        help="runner log file, appended (GPUPULSE_IDLE_LOG, default stderr)",
    )
    p = OneLineParser(prog=PROG, description=__doc__, parents=[shared, own])
    p.add_argument("--check", action="store_true", help="= check")
    sub = subcommands(p)
    sub.add_parser("run", parents=[shared, own], help="run jobs on idle GPUs (the default)")
    sub.add_parser("check", parents=[shared], help="check the config file and exit")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `gpupulse-idle` (and of `collector idle-run`)."""
    return run(argv)


def run(
    argv: Sequence[str] | None,
    *,
    backend: Backend | None = None,
    env: Mapping[str, str] | None = None,
    clocks: Clocks | None = None,
    stop: StopRequest | None = None,
) -> int:
    """Run the idle runner; `backend`, `env`, `clocks` and `stop` are injectable."""
    p = parser()
    args = p.parse_args(argv)
    command = chosen(p, args, {"check": "check"}, "run")
    if not hasattr(args, "config"):
        p.error("the following arguments are required: --config")
    try:
        env = environment() if env is None else env
        check_all(IDLE, env)
        config = load(args.config)
        settings = load_settings(IdleSettings, env, given(args, OPTIONS))
    except SettingError as exc:
        return setting_failed(PROG, exc, service=command == "run")
    except ConfigError as exc:
        return fail(PROG, exc, 2)
    if command == "check":
        print(f"{args.config}: OK, {len(config.jobs)} job(s)")
        return 0
    logs.setup(settings.log_level, file=settings.runner.log or None, stderr=not settings.runner.log)
    record = not getattr(args, "no_db", False)
    return serve(
        config,
        settings,
        stop or StopRequest(),
        backend=backend,
        env=env,
        clocks=clocks,
        record=record,
    )


def serve(
    config: IdleConfig,
    settings: IdleSettings,
    stop: StopRequest,
    *,
    backend: Backend | None,
    env: Mapping[str, str],
    clocks: Clocks | None,
    record: bool,
) -> int:
    """Tick until a stop signal; every job is stopped before this returns."""
    with ExitStack() as stack:
        try:
            backend = backend or factory.make_backend(settings.sampling)
        except (BackendUnavailable, ImportError, OSError) as exc:
            return fail(PROG, f"cannot read GPU processes: {exc}")
        stack.callback(getattr(backend, "close", lambda: None))
        run_log = open_run_log(settings.db if record else None)
        stack.callback(run_log.close)
        runner = Runner(
            config,
            backend,
            settings.runner,
            run_log,
            clocks=clocks,
            proc_root=settings.sampling.proc,
            env=env,
            runner_log=job_log(stack, settings.runner.log),
        )
        stack.callback(stop.install())
        proctree.become_subreaper()  # orphans of our jobs come back to us, not to init
        return tick_until_stopped(runner, config.interval_s, stop)


def job_log(stack: ExitStack, path: str) -> IO:
    """Where jobs without `log=` write: the runner's log file, else stderr."""
    return stack.enter_context(open(path, "ab")) if path else sys.stderr


def tick_until_stopped(runner: Runner, interval_s: float, stop: StopRequest) -> int:
    """Tick every `interval_s` on the monotonic clock until a stop signal comes."""
    log.info(
        "idle runner up: %d job(s), tick every %gs, hold-off %gs, grace %gs",
        len(runner.slots),
        interval_s,
        runner.settings.holdoff_s,
        runner.settings.grace_s,
    )
    try:
        deadline = time.monotonic()
        while not stop.is_set():
            runner.tick()
            # Deadlines on the monotonic clock, so ticks do not drift with tick duration.
            deadline = max(deadline + interval_s, time.monotonic())
            stop.wait(max(deadline - time.monotonic(), 0))
    except ConfigError as exc:
        return fail(PROG, exc, 2)
    finally:
        runner.shutdown(f"runner stopped ({stop.signal or 'error'})")
    log.info("idle runner stopped by %s; no job processes left", stop.signal)
    return 0
