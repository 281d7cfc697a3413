"""One collector per database: an OS lock on a file beside it, held for the collector's life.

Two collectors on one file would mix their GPUs and overwrite each other's host name. The
lock is `flock` on `<database>.collector.lock`; the kernel drops it when the process ends,
however it ends, and it holds across containers that share the volume.
"""

from __future__ import annotations

import fcntl
import os
import socket
from pathlib import Path

from store.problems import DatabaseUnusable, explain

LOCK_SUFFIX = ".collector.lock"


def lock_path(db: str | os.PathLike[str]) -> Path:
    """The lock file beside the database."""
    return Path(f"{os.fspath(db)}{LOCK_SUFFIX}")


def hold(db: str | os.PathLike[str]) -> int:
    """Take the collector lock of `db` and return its descriptor (keep it open to keep the
    lock); DatabaseUnusable in one line when another collector holds it."""
    path = lock_path(db)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise explain(exc, db) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise DatabaseUnusable(
            f"another collector ({holder}) is already writing to {db}; stop it, or give "
            "this collector its own GPUPULSE_DB"
        ) from None
    try:  # who holds it, for the message a second collector prints (a full disk may refuse)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode(), 0)
    except OSError:
        pass
    return fd
