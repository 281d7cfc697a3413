"""Command lines of the project's own programs, run with this interpreter."""

from __future__ import annotations

import os
import subprocess
import sys


def python_m(module: str, *args: str) -> list[str]:
    """`python -m MODULE ARGS...` with the interpreter running the tests."""
    return [sys.executable, "-m", module, *args]


def simulated_collector(db: object, *extra: str) -> list[str]:
    """A quiet `collector` over the simulated fleet, one tick a second, into `db`."""
    args = ("--backend", "simulated", "--interval", "1", "--db", str(db), "--log-level", "WARNING")
    return python_m("collector", *args, *extra)


def run_api(*args: str, stdin: str | None = None, **env: str) -> subprocess.CompletedProcess:
    """`gpupulse-api ARGS...` as a child process (environment plus `env`), its output as text."""
    return subprocess.run(
        [sys.executable, "-c", "from api.cli import main; raise SystemExit(main())", *args],
        env={**os.environ, **env},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )
