"""A real `gpupulse-api` (gunicorn) on a free loopback port, and ways to reach and stop it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from os import PathLike

from api.cli import GUNICORN_ARGS


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, deadline_s: float = 20) -> None:
    """Poll until `url` answers with any HTTP status."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        try:
            urllib.request.urlopen(url, timeout=1).close()
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer within {deadline_s} s")


def start_gunicorn(
    db_path: str | PathLike[str],
    workers: int = 2,
    gunicorn_args: Sequence[str] = (),
    **env_extra: str,
) -> tuple[subprocess.Popen, str]:
    """Real `gpupulse-api` (gunicorn) on a free loopback port; returns (process, base URL).
    `gunicorn_args` (e.g. another worker class) are given to gunicorn itself, after the
    shipped config, which they override."""
    port = free_port()
    env = {
        **os.environ,
        "GPUPULSE_DB": str(db_path),
        "GPUPULSE_API_BIND": f"127.0.0.1:{port}",
        "GPUPULSE_API_WORKERS": str(workers),
        **env_extra,
    }
    command = [sys.executable, "-c", "from api.cli import main; raise SystemExit(main())"]
    if gunicorn_args:
        command = [sys.executable, *GUNICORN_ARGS[:-1], *gunicorn_args, GUNICORN_ARGS[-1]]
    proc = subprocess.Popen(
        command,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(base + "/health")
    except TimeoutError:
        proc.kill()
        raise
    return proc, base


def stop(proc: subprocess.Popen) -> str:
    """Stop gunicorn gracefully and return what it logged."""
    proc.terminate()
    try:
        out, _ = proc.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    return out.decode(errors="replace")


@contextmanager
def serving(
    db_path: str | PathLike[str], workers: int = 2, **env_extra: str
) -> Iterator[tuple[subprocess.Popen, str]]:
    """start_gunicorn for a `with` block; afterwards it is stopped and must have logged no
    traceback."""
    proc, base = start_gunicorn(db_path, workers, **env_extra)
    try:
        yield proc, base
    finally:
        log = stop(proc)
    assert "Traceback" not in log, log
