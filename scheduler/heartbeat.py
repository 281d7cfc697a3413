"""A file the loop touches every second; `scheduler --healthcheck` reads its age, and the
reason the loop gave up, which a scheduler that cannot use the database writes into it."""

from __future__ import annotations

import os
from pathlib import Path

# Beside the database, in the scheduler's state directory: a `scheduler --healthcheck` run
# from a shell (or from another container on the volume) sees the file the service touches,
# which a private /tmp (systemd's PrivateTmp, a container's tmpfs) would hide.
NAME = "scheduler.heartbeat"


def location(configured: str, db: str) -> str:
    """The heartbeat file: GPUPULSE_HEARTBEAT when set, else `scheduler.heartbeat` beside
    the database."""
    return configured or str(Path(db).parent / NAME)


def touch(path: str, now: float) -> None:
    """Mark the loop alive at `now` (creates the file)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    if p.exists() and p.stat().st_size:
        p.write_text("")  # a new start: the last one's reason no longer holds
    p.touch()
    os.utime(p, (now, now))


def give_up(path: str, reason: str) -> None:
    """Leave `reason` for the healthcheck: the loop is about to exit because of it."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(reason)


def check(path: str, max_age_s: float, now: float) -> tuple[bool, str]:
    """(healthy, one line) from the heartbeat file's age."""
    try:
        age = now - Path(path).stat().st_mtime
        reason = Path(path).read_text().strip()
    except OSError:
        return False, f"scheduler loop not running: no heartbeat file at {path}"
    if reason:
        return False, f"scheduler stopped: {reason}"
    if age > max_age_s:
        return (
            False,
            f"scheduler loop stalled: last heartbeat {age:.0f} s ago (limit {max_age_s:g} s)",
        )
    return True, f"scheduler loop alive: last heartbeat {age:.0f} s ago"
