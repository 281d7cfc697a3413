"""Fake /proc trees and passwd files, laid out the way Linux writes them."""

from __future__ import annotations

from pathlib import Path

BOOT = 1_700_000_000
TCK = 100

PASSWD = """root:x:0:0:root:/root:/bin/bash
alice:x:1000:1000:Alice:/home/alice:/bin/bash
bob:x:1001:1001::/home/bob:/bin/zsh
broken line without colons
"""


def write_proc(
    root: Path,
    pid: int,
    *,
    uid: int,
    cmdline: bytes,
    comm: str = "python",
    start_ticks: int = 12_345,
    euid: int | None = None,
) -> None:
    """Write /proc/PID/{stat,status,cmdline,comm} (and /proc/stat) the way Linux lays them out."""
    (root / "stat").write_text(f"cpu  1 2 3 4\nbtime {BOOT}\nprocesses 99\n")
    d = root / str(pid)
    d.mkdir(parents=True, exist_ok=True)
    # Fields 3..21 are filler; field 22 is starttime in clock ticks since boot.
    rest = " ".join(["S"] + ["0"] * 18 + [str(start_ticks)] + ["0"] * 30)
    (d / "stat").write_text(f"{pid} ({comm}) {rest}\n")
    e = uid if euid is None else euid
    (d / "status").write_text(f"Name:\t{comm}\nUmask:\t0022\nUid:\t{uid}\t{e}\t{e}\t{e}\n")
    (d / "cmdline").write_bytes(cmdline)
    (d / "comm").write_text(comm + "\n")
