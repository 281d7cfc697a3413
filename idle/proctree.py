"""The process tree as /proc shows it: which PIDs belong to the runner's jobs.

A job is its process group (it starts in a new session) plus any descendant that left
the group (setsid, daemonizing); both count as the runner's own and both are stopped.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36


@dataclass(frozen=True)
class Proc:
    """One /proc/PID/stat entry: parent, process group and state letter (Z = zombie)."""

    pid: int
    ppid: int
    pgid: int
    state: str


def snapshot(proc_root: str | os.PathLike[str] = "/proc") -> dict[int, Proc]:
    """Every process /proc lists now (ones that vanish while reading are skipped)."""
    procs: dict[int, Proc] = {}
    for entry in Path(proc_root).iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_bytes()
        except OSError:
            continue
        # comm (field 2) may hold spaces and ')', so split after the LAST ')'.
        fields = stat[stat.rindex(b")") + 2 :].split()
        procs[int(entry.name)] = Proc(
            int(entry.name), int(fields[1]), int(fields[2]), fields[0].decode()
        )
    return procs


def members(procs: dict[int, Proc], pgids: Iterable[int]) -> set[int]:
    """Live PIDs in the process groups `pgids`, plus their descendants outside them."""
    groups = set(pgids)
    found = {p.pid for p in procs.values() if p.pgid in groups and p.state != "Z"}
    children: dict[int, list[int]] = {}
    for p in procs.values():
        children.setdefault(p.ppid, []).append(p.pid)
    stack = list(found)
    while stack:
        for child in children.get(stack.pop(), ()):
            if child not in found and procs[child].state != "Z":
                found.add(child)
                stack.append(child)
    return found


def signal_tree(pgid: int | None, pids: Iterable[int], signum: int) -> None:
    """Send `signum` to a process group (None: it is empty) and to PIDs that left it."""
    targets = [(os.kill, pid) for pid in pids]
    if pgid is not None:
        targets.insert(0, (os.killpg, pgid))
    for send, target in targets:
        # Already gone, or a reused PID owned by someone we must not touch.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            send(target, signum)


def reap(pids: Iterable[int]) -> None:
    """Collect exit statuses of any of `pids` that are our (adopted) children."""
    for pid in pids:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)


def become_subreaper() -> bool:
    """Adopt orphaned descendants (PR_SET_CHILD_SUBREAPER) so none escape a stop."""
    return _prctl(PR_SET_CHILD_SUBREAPER, 1)


def die_with_parent() -> None:
    """In a job's child: get SIGTERM if the runner dies without stopping us."""
    _prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM))


def _load_prctl():
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None  # not Linux: the runner still works, just without these guards


# Looked up once here, because die_with_parent runs between fork and exec, where loading
# a library is not safe.
_PRCTL = _load_prctl()


def _prctl(option: int, value: int) -> bool:
    return _PRCTL is not None and _PRCTL(option, value, 0, 0, 0) == 0
