"""Command lines of the project's own programs, run with this interpreter."""

from __future__ import annotations

import subprocess
import sys
from os import PathLike


def python_m(module: str, *args: str) -> list[str]:
    """`python -m MODULE ARGS...` with the interpreter running the tests."""
    return [sys.executable, "-m", module, *args]


def simulated_collector(db: object, *extra: str) -> list[str]:
    """A quiet `collector` over the simulated fleet, one tick a second, into `db`."""
    args = ("--backend", "simulated", "--interval", "1", "--db", str(db), "--log-level", "WARNING")
    return python_m("collector", *args, *extra)


def scheduler(
    env: dict[str, str], *args: str, cwd: str | PathLike[str] | None = None, timeout: float = 30
) -> subprocess.CompletedProcess:
    """Run the real `scheduler` command to its end, its output captured as text."""
    return subprocess.run(
        python_m("scheduler.cli", *args),
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
