"""`collector import FILE...`: history from nvidia-smi CSV logs and gpu_stats CSVs.

Two formats are recognised by their header:

* `nvidia-smi --query-gpu=... --format=csv` (with or without `nounits`): any subset and
  order of columns, nvidia-smi's units in the header and values (`45 %`, `1234 MiB`),
  `[Not Supported]`/`[N/A]` stored as NULL, local timestamps (`2024/05/01 12:00:00.123`)
  read in --tz (default GPUPULSE_TZ).
* the gpu_stats service's per-user CSV `Timestamp,User,PID,GPU Number,GPU Usage` (unix
  seconds). gpu_stats writes one row per process found in `nvidia-smi -q -x`, with the
  GPU's own `utilization.gpu` (%) as "GPU Usage", and a `ts,-,-,-,0` row when no GPU has
  a process. So "GPU Usage" becomes the GPU's utilization (not a per-process share), and
  a GPU that has no row at a timestamp the file covers had no process: utilization 0.

Each sample stands for the median gap between that GPU's consecutive samples.
Exit codes: 0 all rows imported, 1 some rows skipped (each reported with its line
number on stderr), 2 the file cannot be used at all.
"""

from __future__ import annotations

import csv
import re
import statistics
import sys
import uuid as uuidlib
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import pairwise
from pathlib import Path
from zoneinfo import ZoneInfo

from runtime.cli import fail
from store import atomic, open_db
from store.db import Error, StoreError
from store.samples import GpuInfo, GpuSample, ProcessSample, Recorder, Tick, add_event

SYNTHETIC_NS = uuidlib.UUID("5b0c6f1e-3c55-4d5e-9a47-6a2f1b9f0c11")
NA_VALUES = {"", "[not supported]", "[n/a]", "n/a", "[unknown error]", "[gpu is lost]",
             "[insufficient permissions]", "not supported"}  # fmt: skip
TICKS_PER_WRITE = 5000
# nvidia-smi query names -> GpuSample fields (several names mean the same thing).
SMI_COLUMNS = {
    "timestamp": "ts", "index": "index", "name": "name", "gpu_name": "name",
    "pci.bus_id": "pci", "gpu_bus_id": "pci", "uuid": "uuid", "gpu_uuid": "uuid",
    "utilization.gpu": "util", "utilization.memory": "mem_util",
    "memory.used": "mem_used_mib", "memory.total": "memory_total_mib",
    "temperature.gpu": "temp_c", "fan.speed": "fan_pct",
    "power.draw": "power_w", "power.draw.instant": "power_w", "power.draw.average": "power_w",
    "clocks.sm": "sm_mhz", "clocks.current.sm": "sm_mhz",
    "clocks.gr": "gr_mhz", "clocks.current.graphics": "gr_mhz",
    "clocks.mem": "mem_mhz", "clocks.current.memory": "mem_mhz", "pstate": "pstate",
}  # fmt: skip
METRICS = {  # field -> (allowed range, integer?)
    "util": ((0, 100), True), "mem_util": ((0, 100), True), "fan_pct": ((0, 100), True),
    "mem_used_mib": ((0, 10**7), True), "memory_total_mib": ((0, 10**7), True),
    "temp_c": ((-60, 200), True), "power_w": ((0, 10_000), False),
    "sm_mhz": ((0, 100_000), True), "gr_mhz": ((0, 100_000), True),
    "mem_mhz": ((0, 100_000), True),
}  # fmt: skip
NUMBER = re.compile(r"^(-?\d+(?:\.\d+)?)\s*(%|MiB|GiB|W|MHz|C)?$", re.IGNORECASE)
GPU_STATS_HEADERS = (
    ("timestamp", "user", "pid", "gpu number", "gpu usage"),
    ("timestamp", "user", "pid", "gpu", "usage"),
)
TIME_FORMATS = ("%Y/%m/%d %H:%M:%S.%f", "%Y/%m/%d %H:%M:%S", "%Y-%m-%d %H:%M:%S.%f",
                "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S.%f", "%Y-%m-%dT%H:%M:%S")  # fmt: skip


class Unusable(ValueError):
    """The file as a whole cannot be imported; the message says why."""


class BadRow(ValueError):
    """One row cannot be imported; the message says which value is wrong."""


@dataclass
class Parsed:
    """What a file yielded: per GPU its samples by time, processes, and the bad rows."""

    gpus: dict[str, GpuInfo] = field(default_factory=dict)
    samples: dict[str, dict[int, GpuSample]] = field(default_factory=lambda: defaultdict(dict))
    processes: dict[tuple[str, int], list[ProcessSample]] = field(
        default_factory=lambda: defaultdict(list)
    )
    bad: list[tuple[int, str]] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)


def synthetic_uuid(key: str) -> str:
    """A stable GPU UUID for a GPU the file does not identify by UUID."""
    return f"GPU-{uuidlib.uuid5(SYNTHETIC_NS, key)}"


def parse_file(path: str | Path, tz: ZoneInfo) -> Parsed:
    """Read a file of either format (Unusable if neither fits)."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            rows = list(csv.reader(fh, skipinitialspace=True))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise Unusable(f"cannot read {path}: {exc}") from None
    numbered = [(n, r) for n, r in enumerate(rows, 1) if any(c.strip() for c in r)]
    if not numbered:
        raise Unusable(f"{path} is empty")
    header = tuple(c.strip().lower() for c in numbered[0][1])
    if header in GPU_STATS_HEADERS:
        return parse_gpu_stats(numbered[1:])
    if len(header) == 5 and header[0].isdigit():  # gpu_stats' Python logger wrote no header
        return parse_gpu_stats(numbered)
    return parse_smi(header, numbered[1:], tz)


# -- nvidia-smi --------------------------------------------------------------------------


def smi_columns(header: tuple[str, ...], parsed: Parsed) -> list[str | None]:
    """Map each header cell ('utilization.gpu [%]') to a field name, or None to ignore."""
    names = [cell.split("[", 1)[0].strip() for cell in header]
    fields: list[str | None] = []
    for name in names:
        target = SMI_COLUMNS.get(name)
        if target is None or target in fields:
            parsed.ignored_columns.append(name)
            target = None
        fields.append(target)
    if "ts" not in fields:
        raise Unusable("no timestamp column: log with --query-gpu=timestamp,... --format=csv")
    if not {"uuid", "pci", "index", "name"} & set(fields):
        raise Unusable("no GPU identity column: add uuid (or pci.bus_id, index) to --query-gpu")
    return fields


def parse_smi(header: tuple[str, ...], rows: list[tuple[int, list[str]]], tz: ZoneInfo) -> Parsed:
    """Parse nvidia-smi CSV rows; bad rows are collected with their line numbers."""
    parsed = Parsed()
    fields = smi_columns(header, parsed)
    if not set(fields) & (set(METRICS) | {"pstate"}):
        raise Unusable("no measurement column (utilization.gpu, memory.used, ...) to import")
    for line, row in rows:
        try:
            if len(row) != len(fields):
                raise BadRow(f"{len(row)} values for {len(fields)} columns")
            values = {f: v.strip() for f, v in zip(fields, row, strict=True) if f}
            ts = parse_time(values["ts"], tz)
            gpu = smi_gpu(values, parsed)
            metrics = {f: smi_value(f, values[f]) for f in values if f in METRICS or f == "pstate"}
        except BadRow as exc:
            parsed.bad.append((line, str(exc)))
            continue
        sm = metrics.pop("sm_mhz", None)
        gr = metrics.pop("gr_mhz", None)
        metrics.pop("memory_total_mib", None)
        parsed.samples[gpu.uuid][ts] = GpuSample(
            gpu, sm_mhz=sm if sm is not None else gr, **metrics
        )
    return parsed


def smi_gpu(values: dict[str, str], parsed: Parsed) -> GpuInfo:
    """The GPU a row is about, by UUID, else bus id, else index, else name."""
    for key in ("uuid", "pci", "index", "name"):
        raw = values.get(key, "")
        if raw.lower() not in NA_VALUES:
            break
    else:
        raise BadRow("the GPU is not identified (uuid, pci.bus_id, index and name are empty)")
    uuid = raw if key == "uuid" else synthetic_uuid(f"nvidia-smi:{key}:{raw}")
    gpu = parsed.gpus.get(uuid)
    if gpu is None:
        index = values.get("index", "")
        total = values.get("memory_total_mib")
        gpu = GpuInfo(
            uuid=uuid,
            index=int(index) if index.isdigit() else len(parsed.gpus),
            name=values.get("name") or f"GPU {raw}",
            pci_bus_id=values.get("pci") or None,
            memory_total_mib=None if total is None else smi_value("memory_total_mib", total),
        )
        parsed.gpus[uuid] = gpu
    return gpu


def smi_value(name: str, raw: str) -> int | float | None:
    """One nvidia-smi value: units stripped, [Not Supported]/[N/A] as None, range-checked."""
    if raw.lower() in NA_VALUES:
        return None
    if name == "pstate":
        match = re.fullmatch(r"P(\d{1,2})", raw, re.IGNORECASE)
        if not match:
            raise BadRow(f"pstate {raw!r} is not P0..P15")
        return int(match.group(1))
    match = NUMBER.match(raw)
    if not match:
        raise BadRow(f"{name} {raw!r} is not a number")
    value = float(match.group(1)) * (1024 if (match.group(2) or "").lower() == "gib" else 1)
    (lo, hi), whole = METRICS[name]
    if not lo <= value <= hi:
        raise BadRow(f"{name} {raw!r} is outside {lo}..{hi}")
    return round(value) if whole else round(value, 2)


def parse_time(raw: str, tz: ZoneInfo) -> int:
    """UTC seconds from unix seconds or a local nvidia-smi timestamp."""
    if re.fullmatch(r"\d{9,11}(\.\d+)?", raw):
        return int(float(raw))
    for fmt in TIME_FORMATS:
        try:
            return int(datetime.strptime(raw, fmt).replace(tzinfo=tz).timestamp())
        except ValueError:
            continue
    raise BadRow(f"timestamp {raw!r} is not like 2024/05/01 12:00:00.123")


# -- gpu_stats ---------------------------------------------------------------------------


def parse_gpu_stats(rows: list[tuple[int, list[str]]]) -> Parsed:
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
        uuid = synthetic_uuid(f"gpu_stats:{i}")
        parsed.gpus[uuid] = GpuInfo(uuid, i, f"GPU {i} (gpu_stats import)")
    started: dict[tuple[int, str], int] = {}
    for ts in sorted(busy):
        for i in indexes:
            gpu = parsed.gpus[synthetic_uuid(f"gpu_stats:{i}")]
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
    if not re.fullmatch(r"\d{9,11}(\.\d+)?", ts_raw):
        raise BadRow(f"Timestamp {ts_raw!r} is not unix seconds")
    util_match = NUMBER.match(util_raw)
    if not util_match or not 0 <= float(util_match.group(1)) <= 100:
        raise BadRow(f"GPU Usage {util_raw!r} is not a percentage 0..100")
    util = round(float(util_match.group(1)))
    if user == "-" and pid_raw == "-" and gpu_raw == "-":
        return int(float(ts_raw)), "", 0, None, util
    if not pid_raw.isdigit() or not gpu_raw.isdigit() or not user or user == "-":
        raise BadRow(f"User/PID/GPU Number {user!r}, {pid_raw!r}, {gpu_raw!r} are not valid")
    return int(float(ts_raw)), user, int(pid_raw), int(gpu_raw), util


# -- writing -------------------------------------------------------------------------------


def tick_seconds(times: list[int], fallback: float) -> float:
    """The median gap between consecutive samples (what one imported sample stands for)."""
    gaps = [b - a for a, b in pairwise(times) if b > a]
    return float(statistics.median(gaps)) if gaps else fallback


def ticks(parsed: Parsed, fallback_s: float) -> Iterator[Tick]:
    """One Tick per GPU and timestamp, each with that GPU's median gap as its length."""
    all_times = sorted({ts for per_gpu in parsed.samples.values() for ts in per_gpu})
    file_tick = tick_seconds(all_times, fallback_s)
    for uuid, per_gpu in parsed.samples.items():
        times = sorted(per_gpu)
        tick_s = tick_seconds(times, file_tick)
        for ts in times:
            yield Tick(ts, tick_s, [per_gpu[ts]], parsed.processes.get((uuid, ts), []))


def store(parsed: Parsed, recorder: Recorder, source: str, fallback_s: float) -> int:
    """Write the parsed samples in large transactions; return how many were written."""
    batch: list[Tick] = []
    count, first, last = 0, None, None
    for tick in ticks(parsed, fallback_s):
        batch.append(tick)
        first = tick.ts if first is None else min(first, tick.ts)
        last = tick.ts if last is None else max(last, tick.ts)
        if len(batch) >= TICKS_PER_WRITE:
            recorder.write(batch)
            count, batch = count + len(batch), []
    recorder.write(batch)
    count += len(batch)
    if count:
        detail = f"{count} samples from {source}, ts {first}..{last}"
        with atomic(recorder.conn):
            add_event(recorder.conn, last, "history_imported", None, detail)
    return count


def import_files(files: Sequence[str], db: str, tz: ZoneInfo, fallback_s: float) -> int:
    """`collector import FILE...`: 0 all imported, 1 rows skipped, 2 a file is unusable."""
    try:
        parsed = [(f, parse_file(f, tz)) for f in files]
    except Unusable as exc:
        return fail("collector import", exc, 2)
    try:
        conn = open_db(db, migrate=True)
    except (StoreError, Error, RuntimeError) as exc:
        return fail("collector import", f"cannot open {db}: {exc}", 2)
    skipped = 0
    try:
        recorder = Recorder(conn)
        for name, result in parsed:
            skipped += report(name, result, store(result, recorder, Path(name).name, fallback_s))
    except Error as exc:
        return fail("collector import", f"writing to {db} failed: {exc}", 2)
    finally:
        conn.close()
    return 1 if skipped else 0


def report(name: str, parsed: Parsed, written: int) -> int:
    """Print bad rows (stderr) and a summary line; return how many rows were skipped."""
    for line, reason in parsed.bad:
        print(f"{name}:{line}: skipped: {reason}", file=sys.stderr)
    if parsed.ignored_columns:
        print(f"{name}: ignored columns: {', '.join(parsed.ignored_columns)}", file=sys.stderr)
    print(
        f"{name}: imported {written} samples of {len(parsed.gpus)} GPU(s); "
        f"skipped {len(parsed.bad)} bad row(s)"
    )
    return len(parsed.bad)
