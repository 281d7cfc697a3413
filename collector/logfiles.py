"""What every imported log shares: decoding real files, time stamps, and what a file yields.

Logs reach GPU Pulse from other tools and other machines: UTF-8 with or without a BOM,
UTF-16 from a Windows PowerShell `>` redirect, CRLF line ends. They are decoded here once,
so the parsers see text lines.
"""

from __future__ import annotations

import csv
import io
import re
import uuid as uuidlib
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from store.samples import GpuInfo, GpuSample, ProcessSample

SYNTHETIC_NS = uuidlib.UUID("5b0c6f1e-3c55-4d5e-9a47-6a2f1b9f0c11")
UNIX_SECONDS = re.compile(r"\d{9,11}(\.\d+)?")
# nvidia-smi's local time, as it writes it, and the ISO forms other tools write.
LOCAL_FORMATS = (
    "%Y/%m/%d %H:%M:%S.%f",
    "%Y/%m/%d %H:%M:%S",
    "%Y-%m-%d %H:%M:%S.%f",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M:%S.%f",
    "%Y-%m-%dT%H:%M:%S",
)


class Unusable(ValueError):
    """The file as a whole cannot be imported; the message says why and what to do."""


class BadRow(ValueError):
    """One row cannot be imported; the message says which value is wrong."""


@dataclass
class Parsed:
    """What a file yielded: per GPU its samples by time, processes, and every row's fate."""

    gpus: dict[str, GpuInfo] = field(default_factory=dict)
    samples: dict[str, dict[int, GpuSample]] = field(default_factory=lambda: defaultdict(dict))
    processes: dict[tuple[str, int], list[ProcessSample]] = field(
        default_factory=lambda: defaultdict(list)
    )
    bad: list[tuple[int, str]] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)
    merged: int = 0  # rows folded into another row's second (nvidia-smi -lms)
    notes: list[str] = field(default_factory=list)  # how the file was read, said once


def synthetic_uuid(key: str) -> str:
    """A stable GPU UUID for a GPU the file does not identify by UUID."""
    return f"GPU-{uuidlib.uuid5(SYNTHETIC_NS, key)}"


def decode(raw: bytes, path: str | Path) -> str:
    """The file's text: UTF-16 (with its BOM) or UTF-8 (with or without one)."""
    try:
        if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
            return raw.decode("utf-16")
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        reason = f"{exc.reason} at byte {exc.start}"
        raise Unusable(f"{path}: not UTF-8 or UTF-16 text ({reason})") from None


def read_rows(path: str | Path) -> list[tuple[int, list[str]]]:
    """(line number, cells) of every non-empty CSV row; Unusable if the file cannot be read."""
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise Unusable(f"cannot read {path}: {exc.strerror or exc}") from None
    text = decode(raw, path)
    try:
        rows = list(csv.reader(io.StringIO(text, newline=""), skipinitialspace=True))
    except csv.Error as exc:
        raise Unusable(f"{path}: not CSV ({exc})") from None
    numbered = [(n, r) for n, r in enumerate(rows, 1) if any(c.strip() for c in r)]
    if not numbered:
        raise Unusable(f"{path} has no rows")
    return numbered


def parse_time(raw: str, tz: ZoneInfo) -> float:
    """UTC seconds from unix seconds, ISO 8601 with an offset or Z, or local time in `tz`."""
    if UNIX_SECONDS.fullmatch(raw):
        return float(raw)
    try:
        stamp = datetime.fromisoformat(raw.replace("Z", "+00:00").replace("/", "-"))
    except ValueError:
        stamp = None
    if stamp is not None and stamp.tzinfo is not None:
        return stamp.timestamp()
    for fmt in LOCAL_FORMATS:
        try:
            return datetime.strptime(raw, fmt).replace(tzinfo=tz).timestamp()
        except ValueError:
            continue
    raise BadRow(f"timestamp {raw!r} is not like 2024/05/01 12:00:00.123 or ISO 8601")
