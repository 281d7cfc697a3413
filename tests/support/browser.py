"""Headless Chromium (Debian's `chromium` package) run as a subprocess: DOM dumps and
screenshots of pages served by a real gunicorn."""

from __future__ import annotations

import shutil
import subprocess
import time

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)


def chromium(tmp_path, *args: str) -> subprocess.CompletedProcess:
    """Run Chromium with a fresh profile under `tmp_path` and the given arguments."""
    profile = tmp_path / f"profile-{time.monotonic_ns()}"
    return subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=90,
    )
