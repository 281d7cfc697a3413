"""Start the stand-in job (job.py) and watch what it and its process group do."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from idle import proctree

JOB = Path(__file__).with_name("job.py")


def job_cmd(report: Path, *flags: str) -> str:
    """The shell command line of the stand-in job."""
    return " ".join([sys.executable, str(JOB), str(report), *flags])


def wait_for(check: Callable[[], Any], timeout: float = 5.0) -> Any:
    """Poll `check` until it returns something truthy (real time; jobs are real)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if result := check():
            return result
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout}s waiting for {check}")


def reports(path: Path) -> list[dict]:
    """What the job(s) wrote about themselves, one dict per start."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def alive(pid: int) -> bool:
    """True while /proc shows `pid` as a process that is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except FileNotFoundError:
        return False
    return stat[stat.rindex(b")") + 2 :].split()[0] != b"Z"


def group_entries(pgid: int) -> list[int]:
    """Every /proc entry (zombies included) whose process group is `pgid`."""
    return [p.pid for p in proctree.snapshot().values() if p.pgid == pgid]
