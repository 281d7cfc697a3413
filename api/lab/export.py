"""The daily CSV in the older lab tool's format, one row per process per tick:
`Timestamp,User,PID,GPU Number,GPU Usage` (local time, login, PID, GPU index, the process's
GPU memory in MiB). Streamed from a cursor in batches: memory stays flat as the day grows."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, request, stream_with_context

from api.catalog import CSV, Endpoint
from api.lab.params import EXPORT_PARAMS
from api.params import parse_query
from api.state import state
from store.aggregate import dates, day_span
from store.db import Connection
from store.process_log import process_rows

bp = Blueprint("lab_export", __name__)
ENDPOINTS = (
    Endpoint(
        "/api/v1/export.csv",
        "A day's per-process log: Timestamp,User,PID,GPU Number,GPU Usage (streamed)",
        CSV,
        EXPORT_PARAMS,
        (400, 503),
    ),
)
HEADER = ("Timestamp", "User", "PID", "GPU Number", "GPU Usage")


def csv_chunks(conn: Connection, day: date, tz: ZoneInfo) -> Iterator[str]:
    """The day's CSV as text chunks: the header, then one chunk per batch of rows."""
    buffer = io.StringIO()
    out = csv.writer(buffer, lineterminator="\n")
    out.writerow(HEADER)
    yield buffer.getvalue()
    last_ts, stamp = None, ""
    for batch in process_rows(conn, *day_span(day, day, tz)):  # 23 or 25 h on DST days
        buffer.seek(0)
        buffer.truncate()
        for ts, user, pid, index, mem in batch:
            if ts != last_ts:  # rows come in time order: format each tick's time once
                last_ts, stamp = ts, datetime.fromtimestamp(ts, tz).strftime("%Y-%m-%d %H:%M:%S")
            out.writerow((stamp, user, pid, index, "" if mem is None else mem))
        yield buffer.getvalue()


@bp.get("/api/v1/export.csv")
def export_csv() -> Response:
    """One day's per-process log as CSV, streamed."""
    query = parse_query(EXPORT_PARAMS, request.args)
    app_state = state()
    day = query["date"] or app_state.today()
    chunks = csv_chunks(app_state.readers.get(), day, app_state.settings.tz)
    headers = {
        "Content-Disposition": f'attachment; filename="gpupulse-{day}.csv"',
        "Cache-Control": "no-store",
    }
    return Response(stream_with_context(chunks), mimetype="text/csv", headers=headers)


def write_day_files(
    conn: Connection, first: date, last: date, tz: ZoneInfo, directory: Path
) -> Iterator[tuple[Path, int]]:
    """Write gpupulse-YYYY-MM-DD.csv per day into `directory` (atomically); yield each file
    with its row count."""
    directory.mkdir(parents=True, exist_ok=True)
    for day in dates(first, last):
        target = directory / f"gpupulse-{day}.csv"
        tmp = target.with_name(f".{target.name}.tmp")
        lines = 0
        with tmp.open("w", encoding="utf-8", newline="") as handle:
            for chunk in csv_chunks(conn, day, tz):
                handle.write(chunk)
                lines += chunk.count("\n")
        tmp.replace(target)
        yield target, lines - 1
