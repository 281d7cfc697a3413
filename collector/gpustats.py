"""gpu_stats' per-user CSV: `timestamp,user,pid,gpu,usage`, a row per process and sample.

Its script (gpu_stats.sh) writes that lowercase header; its README shows
`Timestamp,User,PID,GPU Number,GPU Usage`: both are read (protocol.gpustats). It logs
every 5 minutes the processes it finds in `nvidia-smi -q -x`, each with its GPU's own
utilization (%) as `usage`, and a `ts,-,-,-,0` row when no GPU has a process. So `usage`
becomes the GPU's utilization (not a per-process share), and a GPU without a row at a
timestamp the file covers had no process: utilization 0. A user name GPU Pulse's export
quoted against spreadsheet formulas is read back as it was.
"""

from __future__ import annotations

import re
from collections import defaultdict

from collector.logfiles import UNIX_SECONDS, BadRow, Parsed, synthetic_uuid
from protocol.gpustats import HEADER, NO_PROCESS, README_HEADER, restore
from store.samples import GpuInfo, GpuSample, ProcessSample

HEADERS = (README_HEADER, HEADER)
PERCENT = re.compile(r"^(\d+(?:\.\d+)?)\s*%?$")


def parse_gpu_stats(rows: list[tuple[int, list[str]]], host: str) -> Parsed:
    """Parse gpu_stats rows: per timestamp, each GPU's utilization and its processes."""
    parsed = Parsed()
    busy: dict[int, dict[int, int]] = defaultdict(dict)  # ts -> gpu index -> util
    procs: dict[tuple[int, int], list[tuple[int, str]]] = defaultdict(list)
    for line, row in rows:
        try:
            ts, user, pid, index, util = gpu_stats_row(row)
        except BadRow as exc:
            parsed.bad.append((line, str(exc)))
            continue
        busy.setdefault(ts, {})
        if index is not None:
            busy[ts][index] = max(util, busy[ts].get(index, 0))
            procs[(ts, index)].append((pid, user))
    indexes = sorted({i for per_ts in busy.values() for i in per_ts})
    for i in indexes:
        uuid = synthetic_uuid(f"gpu_stats:{host}:{i}")
        parsed.gpus[uuid] = GpuInfo(uuid, i, f"GPU {i} (gpu_stats import)")
    started: dict[tuple[int, str], int] = {}
    for ts in sorted(busy):
        for i in indexes:
            gpu = parsed.gpus[synthetic_uuid(f"gpu_stats:{host}:{i}")]
            parsed.samples[gpu.uuid][ts] = GpuSample(gpu, util=busy[ts].get(i, 0))
            for pid, user in procs.get((ts, i), ()):
                first = started.setdefault((pid, user), ts)
                parsed.processes[(gpu.uuid, ts)].append(ProcessSample(gpu.uuid, pid, first, user))
    return parsed


def gpu_stats_row(row: list[str]) -> tuple[int, str, int, int | None, int]:
    """(ts, user, pid, gpu index or None for the idle marker, util) from one row."""
    if len(row) != 5:
        raise BadRow(f"{len(row)} values, expected 5 (Timestamp,User,PID,GPU Number,GPU Usage)")
    ts_raw, user, pid_raw, gpu_raw, util_raw = (c.strip() for c in row)
    if not UNIX_SECONDS.fullmatch(ts_raw):
        raise BadRow(f"Timestamp {ts_raw!r} is not unix seconds")
    util_match = PERCENT.match(util_raw)
    if not util_match or not 0 <= float(util_match.group(1)) <= 100:
        raise BadRow(f"GPU Usage {util_raw!r} is not a percentage 0..100")
    util = round(float(util_match.group(1)))
    if user == pid_raw == gpu_raw == NO_PROCESS:
        return int(float(ts_raw)), "", 0, None, util
    if not pid_raw.isdigit() or not gpu_raw.isdigit() or not user or user == NO_PROCESS:
        raise BadRow(f"User/PID/GPU Number {user!r}, {pid_raw!r}, {gpu_raw!r} are not valid")
    return int(float(ts_raw)), restore(user), int(pid_raw), int(gpu_raw), util
