"""The daily CSV exactly as gpu_stats writes it (protocol.gpustats): the header
`timestamp,user,pid,gpu,usage`, then one row per process per tick (unix seconds, login, PID,
GPU index, the GPU's utilization in %), and `ts,-,-,-,0` for a tick with no process on any
GPU. A user name a spreadsheet would run as a formula gets a leading single quote. Streamed
from a cursor in batches: memory stays flat as the day grows."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, request, stream_with_context

from api.catalog import CSV, Endpoint
from api.lab.params import EXPORT_PARAMS
from api.params import parse_query
from api.state import state
from protocol.gpustats import HEADER_LINE, file_name, row_line
from store.aggregate import dates, day_span
from store.db import Connection
from store.process_log import process_rows

bp = Blueprint("lab_export", __name__)
ENDPOINTS = (
    Endpoint(
        "/api/v1/export.csv",
        "A day's per-process log as gpu_stats writes it: timestamp,user,pid,gpu,usage (streamed)",
        CSV,
        EXPORT_PARAMS,
        (400, 503),
    ),
)


def csv_chunks(conn: Connection, day: date, tz: ZoneInfo) -> Iterator[str]:
    """The day's CSV as text chunks: the header, then one chunk per batch of rows."""
    yield HEADER_LINE
    for batch in process_rows(conn, *day_span(day, day, tz), no_process=True):  # 23/25 h DST
        yield "".join(row_line(*row) for row in batch)


@bp.get("/api/v1/export.csv")
def export_csv() -> Response:
    """One day's per-process log as CSV, streamed."""
    query = parse_query(EXPORT_PARAMS, request.args)
    app_state = state()
    day = query["date"] or app_state.today()
    chunks = csv_chunks(app_state.readers.get(), day, app_state.settings.tz)
    headers = {
        "Content-Disposition": f'attachment; filename="{file_name(day)}"',
        "Cache-Control": "no-store",
    }
    return Response(stream_with_context(chunks), mimetype="text/csv", headers=headers)


def write_day_files(
    conn: Connection, first: date, last: date, tz: ZoneInfo, directory: Path
) -> Iterator[tuple[Path, int]]:
    """Write gpu_stats' YYYYMMDD_gpu_stats.csv per day into `directory` (atomically); yield
    each file with its row count."""
    directory.mkdir(parents=True, exist_ok=True)
    for day in dates(first, last):
        target = directory / file_name(day)
        tmp = target.with_name(f".{target.name}.tmp")
        lines = 0
        with tmp.open("w", encoding="utf-8", newline="") as handle:
            for chunk in csv_chunks(conn, day, tz):
                handle.write(chunk)
                lines += chunk.count("\n")
        tmp.replace(target)
        yield target, lines - 1
