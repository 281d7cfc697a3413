"""Command lines of the project's own programs, run with this interpreter."""

from __future__ import annotations

import os
import subprocess
import sys
from os import PathLike
from pathlib import Path


def python_m(module: str, *args: str) -> list[str]:
    """`python -m MODULE ARGS...` with the interpreter running the tests."""
    return [sys.executable, "-m", module, *args]


def simulated_collector(db: object, *extra: str) -> list[str]:
    """A quiet `collector` over the simulated fleet, one tick a second, into `db`."""
    args = ("--backend", "simulated", "--interval", "1", "--db", str(db), "--log-level", "WARNING")
    return python_m("collector", *args, *extra)


def entry_point(module: str, *args: str) -> list[str]:
    """A program's `main()` from `module` (`api.cli`, `scheduler.cli`) with ARGS."""
    code = f"from {module} import main; raise SystemExit(main())"
    return [sys.executable, "-c", code, *args]


def gpupulse_api(*args: str) -> list[str]:
    """`gpupulse-api ARGS...` with the interpreter running the tests."""
    return entry_point("api.cli", *args)


def scheduler_command(*args: str) -> list[str]:
    """`scheduler ARGS...` as a command line, with the interpreter running the tests."""
    return entry_point("scheduler.cli", *args)


def run_text(
    argv: list[str],
    env: dict[str, str],
    cwd: str | PathLike[str] | None = None,
    timeout: float = 60,
    stdin: str | None = None,
) -> subprocess.CompletedProcess:
    """Run a command to its end in exactly `env`, its output captured as text."""
    return subprocess.run(
        argv, env=env, cwd=cwd, input=stdin, capture_output=True, text=True, timeout=timeout
    )


def without_settings(env: dict[str, str] | None = None) -> dict[str, str]:
    """This environment with none of its GPUPULSE_* settings, plus `env`."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("GPUPULSE_")}
    return {**clean, **(env or {})}


def console(
    argv: list[str], env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess:
    """Run one of the console scripts of this environment with none of the caller's
    GPUPULSE_* settings, only `env`'s."""
    script = [str(Path(sys.executable).parent / argv[0]), *argv[1:]]
    return run_text(script, without_settings(env), timeout=timeout)


def scheduler(
    env: dict[str, str], *args: str, cwd: str | PathLike[str] | None = None, timeout: float = 30
) -> subprocess.CompletedProcess:
    """Run the real `scheduler` command to its end, its output captured as text."""
    return run_text(python_m("scheduler.cli", *args), env, cwd, timeout)


def run_api(*args: str, stdin: str | None = None, **env: str) -> subprocess.CompletedProcess:
    """`gpupulse-api ARGS...` as a child process (environment plus `env`), its output as text."""
    return run_text(gpupulse_api(*args), {**os.environ, **env}, stdin=stdin)
