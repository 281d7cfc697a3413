"""`gpupulse-idle --config FILE` (also `collector idle-run`): run jobs on idle GPUs until
SIGTERM or SIGINT."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import time
from collections.abc import Mapping
from contextlib import ExitStack

from idle import proctree
from idle.config import ConfigError, RunnerSettings, load
from idle.record import open_run_log
from idle.runner import Clocks, Runner
from sampling import factory
from sampling.backend import Backend, BackendUnavailable
from store.settings import OneLineParser, SettingError, db_path, env_str

log = logging.getLogger("idle")

SLICE_S = 0.2  # longest uninterrupted sleep, so a stop request is seen quickly


class StopFlag:
    """Set by SIGTERM/SIGINT; the loop's sleep returns early once it is set."""

    def __init__(self) -> None:
        self.signal: str | None = None

    def set(self, signum: int, _frame=None) -> None:
        """Signal handler: remember which signal asked us to stop."""
        self.signal = signal.Signals(signum).name

    def sleep(self, seconds: float) -> None:
        """Sleep up to `seconds`, returning early when a stop was requested."""
        end = time.monotonic() + seconds
        while self.signal is None and (left := end - time.monotonic()) > 0:
            time.sleep(min(left, SLICE_S))


def parser() -> argparse.ArgumentParser:
    """The idle-run command line."""

    p = OneLineParser(prog="gpupulse-idle", description=__doc__)
    p.add_argument("--config", required=True, help="INI file in gpu_mon's shape")
    p.add_argument("--backend", choices=["nvml", "simulated"], help="default GPUPULSE_BACKEND")
    p.add_argument("--db", help="record runs in this database (default GPUPULSE_DB)")
    p.add_argument("--no-db", action="store_true", help="do not record runs")
    p.add_argument("--log", help="runner log file, appended (default GPUPULSE_IDLE_LOG, stderr)")
    p.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    p.add_argument("--check", action="store_true", help="check the config file and exit")
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of `gpupulse-idle` (and of `collector idle-run`)."""
    return run(argv)


def run(
    argv: list[str] | None, *, backend=None, env: Mapping[str, str] | None = None,
    clocks: Clocks | None = None, stop: StopFlag | None = None,
) -> int:  # fmt: skip
    """Run the idle runner; `backend`, `env`, `clocks` and `stop` are injectable."""
    args = parser().parse_args(argv)
    try:
        config = load(args.config)
        settings = RunnerSettings.from_env(env)
    except (ConfigError, SettingError) as exc:
        print(f"gpupulse-idle: {exc}", file=sys.stderr)
        return 2
    if args.check:
        print(f"{args.config}: OK, {len(config.jobs)} job(s)")
        return 0
    log_path = args.log or settings.log
    _setup_logging(args.log_level, log_path)
    stop = stop or StopFlag()
    with ExitStack() as stack:
        try:
            backend = backend or make_backend(args.backend, env)
        except (BackendUnavailable, SettingError, ImportError, OSError) as exc:
            print(f"gpupulse-idle: cannot read GPU processes: {exc}", file=sys.stderr)
            return 1
        stack.callback(getattr(backend, "close", lambda: None))
        run_log = open_run_log(None if args.no_db else (args.db or db_path(env)))
        stack.callback(run_log.close)
        runner_log = stack.enter_context(open(log_path, "ab")) if log_path else sys.stderr
        runner = Runner(config, backend, settings, run_log, clocks=clocks,
                        proc_root=env_str("GPUPULSE_PROC", "/proc", env), env=env,
                        runner_log=runner_log)  # fmt: skip
        _handle_signals(stack, stop)
        proctree.become_subreaper()  # orphans of our jobs come back to us, not to init
        return _loop(runner, config.interval_s, stop)
    return 0  # unreachable; keeps type checkers content


def make_backend(name: str | None, env: Mapping[str, str] | None = None) -> Backend:
    """The NVML backend, or the simulated one when asked for explicitly."""
    return factory.make_backend(name or env_str("GPUPULSE_BACKEND", "nvml", env), env)


def _loop(runner: Runner, interval_s: float, stop: StopFlag) -> int:
    log.info("idle runner up: %d job(s), tick every %gs, hold-off %gs, grace %gs",
             len(runner.slots), interval_s, runner.settings.holdoff_s,
             runner.settings.grace_s)  # fmt: skip
    try:
        deadline = time.monotonic()
        while stop.signal is None:
            runner.tick()
            # Deadlines on the monotonic clock, so ticks do not drift with tick duration.
            deadline = max(deadline + interval_s, time.monotonic())
            stop.sleep(deadline - time.monotonic())
    except ConfigError as exc:
        print(f"gpupulse-idle: {exc}", file=sys.stderr)
        return 2
    finally:
        runner.shutdown(f"runner stopped ({stop.signal or 'error'})")
    log.info("idle runner stopped by %s; no job processes left", stop.signal)
    return 0


def _handle_signals(stack: ExitStack, stop: StopFlag) -> None:
    for signum in (signal.SIGTERM, signal.SIGINT):
        previous = signal.signal(signum, stop.set)
        stack.callback(signal.signal, signum, previous)


def _setup_logging(level: str, path: str | None) -> None:
    handler = logging.FileHandler(path) if path else logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("idle")
    root.handlers[:] = [handler]
    root.setLevel(level)
