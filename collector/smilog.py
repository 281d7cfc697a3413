"""nvidia-smi `--query-gpu` CSV logs, in the shapes users' files really come in.

- `--format=csv`: a header names the query fields (`utilization.gpu [%]`) and values carry
  units; with `nounits` the header keeps its units and the values lose them.
- A shell loop around one nvidia-smi call repeats the header before every row: repeated
  headers are skipped, they are not bad rows.
- `--format=csv,noheader`: `--columns` names the fields; a common field order is also
  recognised on its own when exactly one fits the values.
- `-lms`: several rows per GPU in one second are folded into one sample per second
  (the mean, or the largest where a peak matters) and counted as merged.
- GPUs are told apart by their UUID, else by bus id and index together; known only by
  `name`, or not named at all: one GPU per name, and identical GPUs polled together (rows
  under 50 ms apart) are kept apart by their order within each poll.
- Missing values: `[N/A]`, `N/A`, `[Not Supported]`, `[Unknown Error]`,
  `[Insufficient Permissions]`, ... are NULL; units `%`, `MiB`, `MB` (old drivers), `GiB`,
  `W`, `MHz`, `C`.
"""

from __future__ import annotations

import re
import statistics
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from collector.logfiles import BadRow, Parsed, Unusable, parse_time, synthetic_uuid
from store.samples import GpuInfo, GpuSample

NA_VALUES = {
    "",
    "-",
    "n/a",
    "[n/a]",
    "not supported",
    "[not supported]",
    "[unknown error]",
    "[insufficient permissions]",
    "[gpu is lost]",
    "[requested functionality has been deprecated]",
}
# nvidia-smi query names -> GpuSample fields (several names mean the same thing).
FIELDS = {
    "timestamp": "ts",
    "index": "index",
    "name": "name",
    "gpu_name": "name",
    "pci.bus_id": "pci",
    "gpu_bus_id": "pci",
    "uuid": "uuid",
    "gpu_uuid": "uuid",
    "utilization.gpu": "util",
    "utilization.memory": "mem_util",
    "memory.used": "mem_used_mib",
    "memory.total": "memory_total_mib",
    "temperature.gpu": "temp_c",
    "fan.speed": "fan_pct",
    "power.draw": "power_w",
    "power.draw.instant": "power_w",
    "power.draw.average": "power_w",
    "clocks.sm": "sm_mhz",
    "clocks.current.sm": "sm_mhz",
    "clocks.gr": "gr_mhz",
    "clocks.current.graphics": "gr_mhz",
    "clocks.mem": "mem_mhz",
    "clocks.current.memory": "mem_mhz",
    "pstate": "pstate",
}
IDENTITY = ("uuid", "pci", "index", "name")
METRICS = {  # field -> (allowed range, integer?, how rows of one second combine)
    "util": ((0, 100), True, "mean"),
    "mem_util": ((0, 100), True, "mean"),
    "fan_pct": ((0, 100), True, "mean"),
    "mem_used_mib": ((0, 10**7), True, "max"),
    "memory_total_mib": ((0, 10**7), True, "max"),
    "temp_c": ((-60, 200), True, "max"),
    "power_w": ((0, 10_000), False, "mean"),
    "sm_mhz": ((0, 100_000), True, "mean"),
    "gr_mhz": ((0, 100_000), True, "mean"),
    "mem_mhz": ((0, 100_000), True, "mean"),
}
UNIT_SCALE = {"": 1, "%": 1, "mib": 1, "mb": 1, "gib": 1024, "w": 1, "mhz": 1, "c": 1}
NUMBER = re.compile(r"^(-?\d+(?:\.\d+)?)\s*(%|MiB|MB|GiB|W|MHz|C)?$", re.IGNORECASE)
HEADER_CELL = re.compile(r"^[a-z][a-z0-9_.]*(\s*\[[^\]]+\])?$", re.IGNORECASE)
POLL_GAP_S = 0.05  # rows of one name closer than this are different GPUs of one poll
MAX_IDENTICAL = 16
# Field orders of widely copied logging commands, for files written without a header:
# NVIDIA's own example, and the LIP6 gpu-monitor's collection script.
KNOWN_ORDERS = (
    (
        "timestamp",
        "name",
        "pci.bus_id",
        "driver_version",
        "pstate",
        "pcie.link.gen.max",
        "pcie.link.gen.current",
        "temperature.gpu",
        "utilization.gpu",
        "utilization.memory",
        "memory.total",
        "memory.free",
        "memory.used",
    ),
    (
        "index",
        "uuid",
        "name",
        "memory.used",
        "memory.total",
        "utilization.gpu",
        "utilization.memory",
        "temperature.gpu",
        "timestamp",
    ),
)
SHAPES = {  # how a value of a field looks, for telling field orders apart
    "timestamp": re.compile(r"^\d{4}[/-]\d\d[/-]\d\d[ T]\d\d:\d\d:\d\d"),
    "uuid": re.compile(r"^(GPU|MIG)-[0-9a-f-]+$", re.IGNORECASE),
    "pci.bus_id": re.compile(r"^[0-9a-f]{4,8}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$", re.IGNORECASE),
    "pstate": re.compile(r"^P\d{1,2}$"),
    "index": re.compile(r"^\d{1,3}$"),
    "driver_version": re.compile(r"^\d{3}\.\d+(\.\d+)?$"),
    "name": re.compile(r"[A-Za-z]"),
}


@dataclass(frozen=True)
class Options:
    """How to read one file: its host (for GPUs without a UUID), zone, and field names."""

    host: str
    tz: ZoneInfo
    columns: tuple[str, ...] | None = None


def field_name(cell: str) -> str:
    """'utilization.gpu [%]' -> 'utilization.gpu'."""
    return cell.split("[", 1)[0].strip().lower()


def is_header(cells: Sequence[str]) -> bool:
    """A row of query field names (with nvidia-smi's unit tags), not of values."""
    cleaned = [c.strip() for c in cells]
    return all(HEADER_CELL.match(c) for c in cleaned) and any(
        field_name(c) in FIELDS for c in cleaned
    )


def parse_smi(rows: list[tuple[int, list[str]]], opts: Options, path: str) -> Parsed:
    """Parse a whole nvidia-smi log; bad rows are collected with their line numbers."""
    parsed = Parsed()
    columns, data = columns_of(rows, opts, path, parsed)
    fields = targets(columns, parsed, path)
    readings: dict[str, dict[int, list[dict]]] = defaultdict(lambda: defaultdict(list))
    polls = Polls()
    for line, cells in data:
        try:
            values = row_values(cells, fields)
            ts = parse_time(values["ts"], opts.tz)
            gpu = gpu_of(values, ts, opts, parsed, polls)
            metrics = {f: value_of(f, values[f]) for f in values if f in METRICS or f == "pstate"}
        except BadRow as exc:
            parsed.bad.append((line, str(exc)))
            continue
        readings[gpu.uuid][int(ts)].append(metrics)
    if any(n > 1 for n in polls.identical.values()):
        parsed.notes.append(polls.note())
    for uuid, seconds in readings.items():
        for ts, rows_in_second in seconds.items():
            parsed.merged += len(rows_in_second) - 1
            parsed.samples[uuid][ts] = sample_of(parsed.gpus[uuid], rows_in_second)
    return parsed


def columns_of(
    rows: list[tuple[int, list[str]]], opts: Options, path: str, parsed: Parsed
) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """The field names and the data rows (repeated headers dropped and counted)."""
    first = rows[0][1]
    if is_header(first):
        header = [field_name(c) for c in first]
        data = [(n, r) for n, r in rows[1:] if [field_name(c) for c in r] != header]
        repeated = len(rows) - 1 - len(data)
        if repeated:
            parsed.notes.append(f"skipped {repeated} repeated header line(s)")
        if opts.columns:
            parsed.notes.append("the file's own header was used, not --columns")
        return header, data
    if opts.columns:
        return list(opts.columns), rows
    return list(recognised_order(rows, path, parsed)), rows


def recognised_order(rows: list[tuple[int, list[str]]], path: str, parsed: Parsed) -> tuple:
    """The one common field order the values fit, or Unusable saying which option to add."""
    sample = [cells for _, cells in rows[:20]]
    fitting = [order for order in KNOWN_ORDERS if all(fits(order, cells) for cells in sample)]
    if len(fitting) != 1:
        raise Unusable(
            f"{path}: line {rows[0][0]} is not a header (a --format=csv,noheader log?): add "
            "--columns naming its --query-gpu fields in order, e.g. "
            "--columns timestamp,index,utilization.gpu,memory.used"
        )
    parsed.notes.append(f"no header: read as --columns {','.join(fitting[0])}")
    return fitting[0]


def fits(order: tuple[str, ...], cells: list[str]) -> bool:
    """Whether one value row looks like the fields of `order`."""
    if len(order) != len(cells):
        return False
    for name, raw in zip(order, cells, strict=True):
        value = raw.strip()
        shape = SHAPES.get(name)
        if shape is not None and value.lower() not in NA_VALUES and not shape.search(value):
            return False
        target = FIELDS.get(name)
        if target in METRICS and value.lower() not in NA_VALUES and not NUMBER.match(value):
            return False
    return True


def targets(columns: list[str], parsed: Parsed, path: str) -> list[str | None]:
    """Each column's GpuSample field, or None for a column GPU Pulse does not keep."""
    fields: list[str | None] = []
    for name in columns:
        target = FIELDS.get(name)
        if target is None or target in fields:
            parsed.ignored_columns.append(name)
            target = None
        fields.append(target)
    if "ts" not in fields:
        raise Unusable(f"{path}: no timestamp column: log with --query-gpu=timestamp,...")
    if not set(fields) & (set(METRICS) | {"pstate"}):
        raise Unusable(f"{path}: no measurement column (utilization.gpu, memory.used, ...)")
    return fields


def row_values(cells: list[str], fields: list[str | None]) -> dict[str, str]:
    """The kept cells of one row by field name."""
    if len(cells) != len(fields):
        raise BadRow(f"{len(cells)} values for {len(fields)} columns")
    return {f: v.strip() for f, v in zip(fields, cells, strict=True) if f}


class Polls:
    """Tells identical GPUs apart by their order within each poll of nvidia-smi."""

    def __init__(self) -> None:
        self.last: dict[str, tuple[float, int]] = {}
        self.identical: dict[str, int] = {}

    def ordinal(self, key: str, ts: float) -> int:
        """0 for the first GPU of this name in a poll, 1 for the next one, ..."""
        previous = self.last.get(key)
        n = previous[1] + 1 if previous is not None and ts - previous[0] < POLL_GAP_S else 0
        if n >= MAX_IDENTICAL:
            raise Unusable(
                f"rows of {key!r} come {n + 1} times within {POLL_GAP_S * 1000:.0f} ms: the "
                "GPUs cannot be told apart; log with --query-gpu=index,uuid,..."
            )
        self.last[key] = (ts, n)
        self.identical[key] = max(self.identical.get(key, 1), n + 1)
        return n

    def note(self) -> str:
        """What was done about identical GPUs, for the summary."""
        many = {k: n for k, n in self.identical.items() if n > 1}
        names = ", ".join(f"{n} x {k or 'unnamed'}" for k, n in many.items())
        return f"identical GPUs without index or uuid ({names}) kept apart by order in each poll"


def gpu_of(
    values: dict[str, str], ts: float, opts: Options, parsed: Parsed, polls: Polls
) -> GpuInfo:
    """The GPU a row is about: its UUID, else its bus id and index together, else its name
    and its order within the poll (identical cards logged without an identity)."""
    known = {k: values[k] for k in IDENTITY if values.get(k, "").lower() not in NA_VALUES}
    if "uuid" in known:
        uuid = known["uuid"]
    else:
        parts = [f"{k}={known[k]}" for k in ("pci", "index") if k in known]
        if not parts:
            name = known.get("name", "")
            parts = [f"name={name}#{polls.ordinal(name, ts)}"]
        uuid = synthetic_uuid(f"nvidia-smi:{opts.host}:{'|'.join(parts)}")
    gpu = parsed.gpus.get(uuid)
    if gpu is None:
        gpu = new_gpu(uuid, values, len(parsed.gpus))
        parsed.gpus[uuid] = gpu
    return gpu


def new_gpu(uuid: str, values: dict[str, str], position: int) -> GpuInfo:
    """A GPU first seen in this row."""
    index = values.get("index", "")
    total = values.get("memory_total_mib")
    return GpuInfo(
        uuid=uuid,
        index=int(index) if index.isdigit() else position,
        name=values.get("name") or f"GPU {position}",
        pci_bus_id=values.get("pci") or None,
        memory_total_mib=None if total is None else value_of("memory_total_mib", total),
    )


def value_of(name: str, raw: str) -> int | float | None:
    """One value: units stripped, N/A markers as None, range-checked."""
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
    value = float(match.group(1)) * UNIT_SCALE[(match.group(2) or "").lower()]
    (lo, hi), whole, _ = METRICS[name]
    if not lo <= value <= hi:
        raise BadRow(f"{name} {raw!r} is outside {lo}..{hi}")
    return round(value) if whole else round(value, 2)


def sample_of(gpu: GpuInfo, rows: list[dict]) -> GpuSample:
    """One sample for one second from its rows: the mean, or the largest where a peak matters."""
    combined: dict[str, int | float | None] = {}
    for name in {k for row in rows for k in row}:
        values = [row[name] for row in rows if row.get(name) is not None]
        if not values:
            combined[name] = None
        elif name == "pstate":
            combined[name] = min(values)  # the busiest state in the second
        else:
            (_, _), whole, how = METRICS[name]
            value = max(values) if how == "max" else statistics.fmean(values)
            combined[name] = round(value) if whole else round(value, 2)
    sm, gr = combined.pop("sm_mhz", None), combined.pop("gr_mhz", None)
    combined.pop("memory_total_mib", None)
    return GpuSample(gpu, sm_mhz=sm if sm is not None else gr, **combined)
