"""Who is typing: logged-in users from utmp and the access time of their tty device.

A terminal's atime moves when its user types, so "typed within idle_seconds" is
now - atime(/dev/<ut_line>) < idle_seconds, the test `w` uses for its IDLE column.
"""

from __future__ import annotations

import logging
import os
import struct
from dataclasses import dataclass
from pathlib import Path

from idle.config import TtyWatch

log = logging.getLogger(__name__)

# struct utmp on Linux (glibc, x86-64 and aarch64 alike), 384 bytes: type, pid, line,
# id, user, host, exit status (2 shorts), session, tv_sec, tv_usec (32-bit), addr_v6.
UTMP = struct.Struct("<h2xi32s4s32s256shhiii4i20x")
USER_PROCESS = 7


@dataclass(frozen=True)
class Login:
    """A USER_PROCESS utmp entry: who is logged in on which terminal line."""

    user: str
    line: str
    pid: int


def read_utmp(path: str | os.PathLike[str]) -> list[Login]:
    """The logged-in users in a utmp file; [] when it is missing or unreadable."""
    try:
        data = Path(path).read_bytes()
    except OSError:
        return []
    logins = []
    for offset in range(0, len(data) - UTMP.size + 1, UTMP.size):
        ut_type, pid, line, _id, user, *_rest = UTMP.unpack_from(data, offset)
        if ut_type == USER_PROCESS and user.strip(b"\0"):
            logins.append(Login(_text(user), _text(line), pid))
    return logins


def pack_login(user: str, line: str, pid: int, ut_type: int = USER_PROCESS) -> bytes:
    """One utmp record (what login(1) writes); used to build utmp files for tests."""
    return UTMP.pack(ut_type, pid, line.encode(), b"", user.encode(), b"", *[0] * 9)


def active_users(watch: TtyWatch, now: float, utmp: str, dev: str) -> list[str]:
    """Non-whitelisted users who typed on their terminal within watch.idle_seconds."""
    if not watch.enabled:
        return []
    active: set[str] = set()
    for login in read_utmp(utmp):
        if login.user in watch.whitelist or login.user in active:
            continue
        if not login.line or login.line.startswith("/") or ".." in login.line:
            continue  # not a terminal name under /dev (utmp is data, not a path to trust)
        try:
            atime = os.stat(Path(dev) / login.line).st_atime
        except OSError:
            continue  # a stale utmp entry whose terminal is gone
        if now - atime < watch.idle_seconds:
            active.add(login.user)
    return sorted(active)


def _text(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode(errors="replace")
