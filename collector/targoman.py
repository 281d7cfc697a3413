"""Targoman gpu_monitor's SQLite history (`gpu_metrics.db`): its `collections` table.

Each row is one collection: `timestamp` is the collecting machine's local time without a
zone (`datetime.now().isoformat()`), read in `--tz`; `data` is JSON `{"gpus": [...]}`, each
GPU with `uid`, `pci_bus_id`, `name`, `temperature`, `memory_used` and `memory_total` in
bytes, `gpu_utilization`, `memory_utilization` (%), `power_usage` (W), `fan_speed` (%),
`graphics_clock` and `memory_clock` (MHz). Early versions wrote `gpus` as an object keyed
by the GPU index ("0", "1", ...) without `uid` and `pci_bus_id`.
"""

from __future__ import annotations

import json
from pathlib import Path
from zoneinfo import ZoneInfo

from pysqlite3 import dbapi2 as sqlite3

from collector.logfiles import BadRow, Parsed, Unusable, parse_time, synthetic_uuid
from store.samples import GpuInfo, GpuSample

MAGIC = b"SQLite format 3\x00"
MIB = 1024 * 1024


def is_sqlite(path: str | Path) -> bool:
    """Whether the file is an SQLite database (by its first 16 bytes)."""
    try:
        with open(path, "rb") as fh:
            return fh.read(16) == MAGIC
    except OSError:
        return False


def parse_targoman(path: str | Path, host: str, tz: ZoneInfo) -> Parsed:
    """Every collection of a Targoman database, opened read-only."""
    try:
        conn = sqlite3.connect(f"file:{Path(path).resolve()}?mode=ro", uri=True)
        rows = conn.execute("SELECT id, timestamp, data FROM collections ORDER BY id").fetchall()
        conn.close()
    except sqlite3.Error as exc:
        raise Unusable(f"{path}: not a Targoman gpu_monitor database ({exc})") from None
    parsed = Parsed()
    for row_id, stamp, data in rows:
        try:
            ts = int(parse_time(str(stamp), tz))
            for gpu, values in gpus_of(data, host, parsed):
                parsed.samples[gpu.uuid][ts] = sample_of(gpu, values)
        except BadRow as exc:
            parsed.bad.append((row_id, f"collection {row_id}: {exc}"))
    return parsed


def gpus_of(data: str, host: str, parsed: Parsed) -> list[tuple[GpuInfo, dict]]:
    """(GPU, its values) for each GPU of one collection, in either format."""
    try:
        gpus = json.loads(data)["gpus"]
    except (ValueError, TypeError, KeyError):
        raise BadRow("data is not JSON with a gpus list") from None
    if not isinstance(gpus, list | dict):
        raise BadRow("data's gpus is neither a list nor an object")
    listed = enumerate(gpus) if isinstance(gpus, list) else gpus.items()
    found = []
    for index, values in listed:
        if not isinstance(values, dict):
            raise BadRow(f"GPU {index} is not an object")
        found.append((gpu_info(int(index), values, host, parsed), values))
    return found


def gpu_info(index: int, values: dict, host: str, parsed: Parsed) -> GpuInfo:
    """The GPU one entry describes, remembered by UUID."""
    uuid = values.get("uid") or synthetic_uuid(f"targoman:{host}:{index}")
    if uuid not in parsed.gpus:
        total = values.get("memory_total")
        parsed.gpus[uuid] = GpuInfo(
            uuid,
            index,
            str(values.get("name") or f"GPU {index}"),
            values.get("pci_bus_id"),
            None if total is None else int(total) // MIB,
        )
    return parsed.gpus[uuid]


def sample_of(gpu: GpuInfo, v: dict) -> GpuSample:
    """One GPU's readings in GPU Pulse's units."""
    used = number(v, "memory_used")
    return GpuSample(
        gpu,
        util=whole(v, "gpu_utilization", 100),
        mem_util=whole(v, "memory_utilization", 100),
        mem_used_mib=None if used is None else int(used) // MIB,
        temp_c=whole(v, "temperature", 200),
        fan_pct=whole(v, "fan_speed", 100),
        power_w=number(v, "power_usage"),
        sm_mhz=whole(v, "graphics_clock", 100_000),
        mem_mhz=whole(v, "memory_clock", 100_000),
    )


def number(values: dict, key: str) -> float | None:
    """A numeric reading, None when absent; BadRow when it is not a number."""
    value = values.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise BadRow(f"{key} {value!r} is not a non-negative number")
    return float(value)


def whole(values: dict, key: str, most: int) -> int | None:
    """A reading that is a whole number up to `most`."""
    value = number(values, key)
    if value is not None and value > most:
        raise BadRow(f"{key} {value:g} is above {most}")
    return None if value is None else round(value)
