"""What a failed database operation means to the person running GPU Pulse, in one line.

Every service turns SQLite's and the file system's errors into the same sentences here, so
a corrupt file, a directory in the file's place, a read-only volume or a full disk reads
the same from the collector, the scheduler and their healthchecks.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

from store.db import Error, StoreError

# SQLite's primary result codes (the low byte of an extended code).
PERM, BUSY, LOCKED, READONLY, IOERR = 3, 5, 6, 8, 10
CORRUPT, FULL, CANTOPEN, AUTH, NOTADB = 11, 13, 14, 23, 26
# Problems that go away by themselves (another writer, a full disk being cleaned up):
# a writer keeps its data in memory and tries again. Everything else needs a person.
PASSING = {BUSY, LOCKED, FULL, IOERR}
OS_READ_ONLY = {errno.EROFS, errno.EACCES, errno.EPERM}
RESTORE = "restore a backup, or move it aside and let the collector create a new one"


class DatabaseUnusable(StoreError):
    """The database cannot be used until a person fixes it; waiting will not help."""


def primary_code(exc: BaseException) -> int | None:
    """SQLite's primary result code of an error, or None for other errors."""
    code = getattr(exc, "sqlite_errorcode", None)
    return None if code is None else code & 0xFF


def passes(exc: BaseException) -> bool:
    """True for a database error worth retrying later (locked, busy, disk full, I/O)."""
    return isinstance(exc, Error) and primary_code(exc) in PASSING


def unusable_folder(path: str | os.PathLike[str]) -> DatabaseUnusable | None:
    """DatabaseUnusable when the database's folder is something else than a folder (nobody
    can create the file there), else None."""
    folder = Path(path).parent
    if folder.exists() and not folder.is_dir():
        return DatabaseUnusable(f"{folder} is not a folder; fix GPUPULSE_DB ({path})")
    return None


def explain(exc: BaseException, path: str | os.PathLike[str]) -> StoreError:
    """The StoreError (DatabaseUnusable unless it passes) that says what is wrong and what
    to do, for an exception raised while using the database at `path`."""
    if isinstance(exc, StoreError):
        return exc
    if isinstance(exc, OSError):
        return _os_problem(exc, Path(path))
    if not isinstance(exc, Error):  # a schema newer than this code: its message says it all
        return StoreError(str(exc))
    code = primary_code(exc)
    detail = f"(SQLite: {exc})"
    if code == FULL or (code == IOERR and _no_space_left(Path(path))):
        return StoreError(f"the disk holding {path} is full {detail}; free space on it")
    if code in (BUSY, LOCKED):
        return StoreError(f"{path} stayed locked by another writer {detail}; try again")
    if code == IOERR:
        return StoreError(
            f"disk I/O error on {path} {detail}; check the disk and its file system "
            "(dmesg), and that the volume is still mounted"
        )
    if code in (CORRUPT, NOTADB):
        return DatabaseUnusable(f"{path} is not a usable GPU Pulse database {detail}; {RESTORE}")
    if code in (READONLY, PERM, AUTH):
        return _read_only(Path(path), detail)
    if code == CANTOPEN:
        return _cannot_open(Path(path), detail)
    return DatabaseUnusable(f"cannot use the database {path} {detail}")


def check_writable(path: str | os.PathLike[str]) -> None:
    """DatabaseUnusable now if this process cannot write the database or its folder (SQLite
    would open it read-only without a word and fail at the first write)."""
    path = Path(path)
    folder_ok = os.access(path.parent, os.W_OK) or not path.parent.exists()
    if not folder_ok or (path.exists() and not os.access(path, os.W_OK)):
        raise _read_only(path, "(no write permission)")


def _no_space_left(path: Path) -> bool:
    """True when the file system holding `path` has no free block left."""
    try:
        return os.statvfs(path.parent).f_bavail == 0
    except OSError:
        return False


def _os_problem(exc: OSError, path: Path) -> StoreError:
    """A file-system error on the database, its folder or its lock file."""
    detail = f"({exc.strerror or exc})"
    if exc.errno == errno.ENOSPC:
        return StoreError(f"the disk holding {path} is full {detail}; free space on it")
    if exc.errno in OS_READ_ONLY:
        return _read_only(path, detail)
    return _cannot_open(path, detail)


def _read_only(path: Path, detail: str) -> DatabaseUnusable:
    """The database, its folder or its volume cannot be written by this user."""
    return DatabaseUnusable(
        f"{path} is read-only for uid {os.getuid()} {detail}; make the file and its folder "
        "writable by that user, and mount the volume read-write"
    )


def _cannot_open(path: Path, detail: str) -> StoreError:
    """Why the file cannot be opened, looked up on the file system."""
    folder = path.parent
    if path.is_dir():
        return DatabaseUnusable(
            f"{path} is a directory, not a database file; point GPUPULSE_DB at a file "
            f"(for example {path / 'pulse.db'})"
        )
    if not folder.is_dir():
        return unusable_folder(path) or DatabaseUnusable(
            f"{folder} does not exist; fix GPUPULSE_DB ({path})"
        )
    if path.exists() and not os.access(path, os.R_OK):
        return DatabaseUnusable(
            f"{path} cannot be read by uid {os.getuid()} {detail}; fix its owner or mode"
        )
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        return _read_only(path, detail)
    return DatabaseUnusable(f"cannot open the database {path} {detail}")
