"""gpu_stats' daily CSV, as its scripts write it: the file GPU Pulse exports and imports.

gpu_stats (geblanco/gpu_stats_service) runs `gpu_stats.sh` every few minutes; the shell
script starts each day's `$HOME/gpu_stats/YYYYMMDD_gpu_stats.csv` with the lowercase header
`timestamp,user,pid,gpu,usage` and appends what `gpu_info.py` prints: per GPU with a
process, `unix seconds,login,pid,GPU index,the GPU's utilization in %`, and one
`unix seconds,-,-,-,0` row when no GPU has a process. Its README shows the columns as
`Timestamp,User,PID,GPU Number,GPU Usage`; the files carry the script's header.

User names reach spreadsheets through this file, so a name a spreadsheet would run as a
formula is written with a leading single quote (OWASP's advice against CSV injection) and
read back without it.
"""

from __future__ import annotations

from datetime import date
from functools import lru_cache

HEADER = ("timestamp", "user", "pid", "gpu", "usage")
README_HEADER = ("timestamp", "user", "pid", "gpu number", "gpu usage")  # lowercased
NO_PROCESS = "-"  # user, pid and gpu of the row saying no GPU had a process
# A cell starting with one of these is run as a formula by Excel, LibreOffice or Sheets.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def file_name(day: date) -> str:
    """gpu_stats' name for a day's file: 20260303_gpu_stats.csv."""
    return f"{day:%Y%m%d}_gpu_stats.csv"


def neutralise(cell: str) -> str:
    """A text cell no spreadsheet runs as a formula: a single quote before one that starts
    like a formula."""
    return f"'{cell}" if cell.startswith(FORMULA_START) else cell


def restore(cell: str) -> str:
    """The text `neutralise` was given (a login never starts with a quote)."""
    return cell[1:] if cell.startswith("'") and cell[1:].startswith(FORMULA_START) else cell


@lru_cache(maxsize=4096)  # a day repeats a few logins hundreds of thousands of times
def cell(text: str) -> str:
    """A text cell as written: neutralised, and quoted as CSV quotes (a comma, a quote or a
    line break inside; Python's csv writer leaves a lone CR unquoted, which would split the
    row)."""
    text = neutralise(text)
    if any(c in text for c in ',"\r\n'):
        return '"' + text.replace('"', '""') + '"'
    return text


def row_line(ts: int, user: str | None, pid: int | None, gpu: int | None, usage: int) -> str:
    """One line of the file; `user` None for the row saying no GPU had a process."""
    if user is None:
        return f"{ts},{NO_PROCESS},{NO_PROCESS},{NO_PROCESS},{usage}\n"
    return f"{ts},{cell(user)},{pid},{gpu},{usage}\n"


HEADER_LINE = ",".join(HEADER) + "\n"
