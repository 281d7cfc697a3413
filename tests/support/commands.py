"""Command lines of the project's own programs, run with this interpreter."""

from __future__ import annotations

import sys


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
