"""`collector import FILE...`: history from other tools' files into the store.

Recognised by their content: nvidia-smi `--query-gpu` CSV logs (collector.smilog: every
shape nvidia-smi writes), gpu_stats' per-user CSV (collector.gpustats) and Targoman
gpu_monitor's SQLite history (collector.targoman). GPUs a file names without a UUID are
keyed by the machine the file comes from (`--host`, by default this database's host) and
their index, bus id or name, so two machines' "GPU 0" stay two GPUs.

Each sample stands for the median gap between that GPU's consecutive samples.
Exit codes: 0 every row imported (or merged into its second), 1 some rows were bad (each
reported with its line number on stderr), 2 nothing could be imported.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import sys
from collections.abc import Iterator, Sequence
from itertools import pairwise
from pathlib import Path
from zoneinfo import ZoneInfo

from collector.gpustats import HEADERS as GPU_STATS_HEADERS
from collector.gpustats import parse_gpu_stats
from collector.logfiles import Parsed, Unusable, read_rows
from collector.smilog import Options, field_name, is_header, parse_smi
from collector.targoman import is_sqlite, parse_targoman
from runtime.cli import fail
from store import atomic, open_db
from store.db import Error, StoreError
from store.samples import Recorder, Tick, add_event, recorded_host

TICKS_PER_WRITE = 5000


def parse_file(path: str | Path, opts: Options) -> Parsed:
    """Read a file of any format GPU Pulse knows (Unusable if none fits)."""
    if is_sqlite(path):
        return parse_targoman(path, opts.host, opts.tz)
    numbered = read_rows(path)
    header = tuple(c.strip().lower() for c in numbered[0][1])
    if header in GPU_STATS_HEADERS:
        return parse_gpu_stats(numbered[1:], opts.host)
    if len(header) == 5 and header[0].isdigit() and not is_header(numbered[0][1]):
        return parse_gpu_stats(numbered, opts.host)  # gpu_stats' Python logger wrote no header
    return parse_smi(numbered, opts, str(path))


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


def columns_option(text: str) -> tuple[str, ...]:
    """`--columns timestamp,index,utilization.gpu` -> its field names."""
    names = tuple(field_name(c) for c in text.split(",") if c.strip())
    if not names:
        raise argparse.ArgumentTypeError("name the --query-gpu fields, e.g. timestamp,index")
    return names


def import_files(
    files: Sequence[str],
    db: str,
    tz: ZoneInfo,
    fallback_s: float,
    *,
    host: str | None = None,
    columns: tuple[str, ...] | None = None,
) -> int:
    """0 every row imported or merged, 1 some rows were bad, 2 nothing could be imported."""
    opts = Options(host or host_of(db), tz, columns)
    parsed, code = parse_all(files, opts)
    if not parsed:
        return code
    try:
        conn = open_db(db, migrate=True)
    except (StoreError, Error, RuntimeError) as exc:
        return fail("collector import", f"cannot open {db}: {exc}", 2)
    try:
        recorder = Recorder(conn)
        written = [report(n, p, store(p, recorder, Path(n).name, fallback_s)) for n, p in parsed]
    except Error as exc:
        return fail("collector import", f"writing to {db} failed: {exc}", 2)
    finally:
        conn.close()
    if not any(written):
        return 2
    return 1 if code or not all(written) or any(p.bad for _, p in parsed) else 0


def host_of(db: str) -> str:
    """The host this database records (this machine's name for a new database)."""
    if not Path(db).exists():
        return socket.gethostname()
    try:
        conn = open_db(db)
    except (StoreError, Error, RuntimeError):
        return socket.gethostname()
    try:
        return recorded_host(conn)
    finally:
        conn.close()


def parse_all(files: Sequence[str], opts: Options) -> tuple[list[tuple[str, Parsed]], int]:
    """The files that could be read, and 2 if any could not (each said in one line)."""
    parsed, code = [], 0
    for name in files:
        try:
            parsed.append((name, parse_file(name, opts)))
        except Unusable as exc:
            code = fail("collector import", exc, 2)
    return parsed, code


def report(name: str, parsed: Parsed, written: int) -> int:
    """Print bad rows (stderr), how the file was read, and a summary line; `written`."""
    for line, reason in parsed.bad:
        print(f"{name}:{line}: skipped: {reason}", file=sys.stderr)
    if parsed.ignored_columns:
        print(f"{name}: ignored columns: {', '.join(parsed.ignored_columns)}", file=sys.stderr)
    for note in parsed.notes:
        print(f"{name}: {note}")
    rows = written + parsed.merged
    print(
        f"{name}: imported {written} samples of {len(parsed.gpus)} GPU(s) from {rows} row(s) "
        f"({parsed.merged} merged into their second); skipped {len(parsed.bad)} bad row(s)"
    )
    return written
