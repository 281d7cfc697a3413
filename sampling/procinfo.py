"""Who runs a PID: user, command, start time and workload (its container, pod, Slurm job or
systemd unit), read from /proc and the host's passwd file.

NVML reports host PIDs, so in a container this needs the host PID namespace (`pid: host`)
and the host's passwd file mounted somewhere (GPUPULSE_PASSWD).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sampling import workload
from sampling.settings import DEFAULTS

COMMAND_MAX = 256
_CACHE_MAX = 4096  # distinct processes remembered; cleared wholesale when exceeded


@dataclass(frozen=True)
class ProcessIdentity:
    """A process as /proc describes it; user/command None and started 0 when it is gone."""

    user: str | None
    command: str | None
    started: int
    workload: str | None = None  # its container, pod, Slurm job or unit (sampling.workload)
    workload_id: str | None = None


GONE = ProcessIdentity(None, None, 0)


class ProcInfo:
    """Resolves PIDs to identities, caching per (pid, start time) so PID reuse is noticed."""

    def __init__(
        self,
        proc_root: str | Path = DEFAULTS.proc,
        passwd: str | Path = DEFAULTS.passwd,
        clk_tck: int | None = None,
        names: Callable[[str], str | None] | None = None,
    ) -> None:
        """`names` resolves a container id to its name (sampling.docker_names), if given."""
        self.proc_root = Path(proc_root)
        self.passwd = Path(passwd)
        self.clk_tck = clk_tck or os.sysconf("SC_CLK_TCK")
        self._boot_time: int | None = None
        self._users: dict[int, str] = {}
        self._passwd_mtime: float | None = None
        self._cache: dict[tuple[int, int], ProcessIdentity] = {}
        self.names = names

    def lookup(self, pid: int) -> ProcessIdentity:
        """The identity of `pid`; GONE when the process has vanished or cannot be read."""
        try:
            ticks = self._start_ticks(pid)
            key = (pid, ticks)
            if key not in self._cache:
                if len(self._cache) >= _CACHE_MAX:
                    self._cache.clear()
                found = workload.named(workload.of_pid(pid, self.proc_root), self.names)
                self._cache[key] = ProcessIdentity(
                    self._user(pid),
                    self._command(pid),
                    self._started(ticks),
                    found.name,
                    found.id,
                )
            return self._cache[key]
        except (OSError, ValueError, IndexError):
            # The process exited between NVML listing it and us reading /proc (or /proc
            # is not the host's): report it without identity rather than fail the tick.
            return GONE

    def _start_ticks(self, pid: int) -> int:
        stat = (self.proc_root / str(pid) / "stat").read_bytes()
        # comm (field 2) may hold spaces and ')', so split after the LAST ')'.
        fields = stat[stat.rindex(b")") + 2 :].split()
        return int(fields[19])  # field 22 of stat(5), counted from field 3 here

    def _started(self, ticks: int) -> int:
        return int(self.boot_time() + ticks / self.clk_tck)

    def boot_time(self) -> int:
        """Boot time in UTC unix seconds (btime of /proc/stat), read once."""
        if self._boot_time is None:
            for line in (self.proc_root / "stat").read_text().splitlines():
                if line.startswith("btime "):
                    self._boot_time = int(line.split()[1])
                    break
            else:
                raise ValueError(f"no btime line in {self.proc_root / 'stat'}")
        return self._boot_time

    def _user(self, pid: int) -> str:
        uid = _real_uid((self.proc_root / str(pid) / "status").read_text())
        return self.users().get(uid, str(uid))

    def users(self) -> dict[int, str]:
        """uid -> name from the passwd file, re-read when its mtime changes."""
        try:
            mtime = self.passwd.stat().st_mtime
        except OSError:
            return self._users  # keep the last good table if the file goes missing
        if mtime != self._passwd_mtime:
            self._users = _parse_passwd(self.passwd.read_text(errors="replace"))
            self._passwd_mtime = mtime
        return self._users

    def _command(self, pid: int) -> str | None:
        base = self.proc_root / str(pid)
        raw = (base / "cmdline").read_bytes().rstrip(b"\0")
        if not raw:  # kernel threads and zombies have an empty cmdline
            raw = (base / "comm").read_bytes().strip()
        text = raw.replace(b"\0", b" ").decode(errors="replace")
        return text[:COMMAND_MAX] or None


def _real_uid(status: str) -> int:
    for line in status.splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[1])
    raise ValueError("no Uid line in status")


def _parse_passwd(text: str) -> dict[int, str]:
    users: dict[int, str] = {}
    for line in text.splitlines():
        parts = line.split(":")
        if len(parts) >= 3 and parts[2].isdigit():
            users.setdefault(int(parts[2]), parts[0])  # first entry wins, like getpwuid
    return users
