"""gpu_stats' daily CSV, as its scripts write it: the file GPU Pulse exports and imports.

gpu_stats (geblanco/gpu_stats_service) runs `gpu_stats.sh` every few minutes; the shell
script starts each day's `$HOME/gpu_stats/YYYYMMDD_gpu_stats.csv` with the lowercase header
`timestamp,user,pid,gpu,usage` and appends what `gpu_info.py` prints: per GPU with a
process, `unix seconds,login,pid,GPU index,the GPU's utilization in %`, and one
`unix seconds,-,-,-,0` row when no GPU has a process. Its README shows the columns as
`Timestamp,User,PID,GPU Number,GPU Usage`; the files carry the script's header.
"""

from __future__ import annotations

from datetime import date

HEADER = ("timestamp", "user", "pid", "gpu", "usage")
README_HEADER = ("timestamp", "user", "pid", "gpu number", "gpu usage")  # lowercased
NO_PROCESS = "-"  # user, pid and gpu of the row saying no GPU had a process


def file_name(day: date) -> str:
    """gpu_stats' name for a day's file: 20260303_gpu_stats.csv."""
    return f"{day:%Y%m%d}_gpu_stats.csv"
