"""`gpupulse-api usage | export | reservations`: the lab features from the command line,
reading the same database file and settings as the server."""

from __future__ import annotations

import argparse
import json
import sys
from contextlib import closing
from datetime import date
from pathlib import Path

from api.gpus import host_name
from api.lab.comments import CommentsError, comments_document, parse_comments
from api.lab.export import write_day_files
from api.lab.params import USAGE_GROUPS, USAGE_PARAMS
from api.lab.settings import lab_settings
from api.lab.usage import span_of, usage_report
from api.params import parse_query
from api.settings import ApiSettings
from api.source import LocalSource
from store import atomic, open_db
from store.aggregate import day_of
from store.db import Connection
from store.reservations import list_reservations, prune, replace

COMMANDS = ("usage", "export", "reservations")


def add_commands(
    sub: argparse._SubParsersAction, parents: list[argparse.ArgumentParser] | None = None
) -> None:
    """Add the lab subcommands to gpupulse-api's parser; `parents` add its shared options."""
    parents = parents or []
    usage = sub.add_parser(
        "usage", parents=parents, help="GPU-hours by user, day, month, gpu or workload"
    )
    usage.add_argument("--by", default="user", help=f"one of {', '.join(USAGE_GROUPS)}")
    export = sub.add_parser(
        "export", parents=parents, help="write one CSV per day as gpu_stats writes it"
    )
    export.add_argument("--dir", required=True, help="directory for YYYYMMDD_gpu_stats.csv")
    for p in (usage, export):
        p.add_argument("--from", dest="first", help="first day YYYY-MM-DD")
        p.add_argument("--to", dest="last", help="last day YYYY-MM-DD (default: today)")
    usage.add_argument("--json", action="store_true", help="print the /api/v1/usage JSON")
    res = sub.add_parser("reservations", parents=parents, help="import or export comments.json")
    res.add_argument("action", choices=("import", "export"))
    res.add_argument("file", help="comments.json to read or write ('-': stdin/stdout)")


def run(args: argparse.Namespace, settings: ApiSettings) -> int:
    """Run a lab subcommand; 2 with one line on stderr for a problem to fix."""
    now = settings.clock()
    today = day_of(now, settings.tz)
    try:
        if args.command == "usage":
            return print_usage(args, settings, today)
        if args.command == "export":
            return export_days(args, settings, today)
        if args.action == "import":
            return import_comments(args, settings, now)
        return export_comments(args, settings, now)
    except CommentsError as problem:
        print(f"gpupulse-api: {args.file}: {problem}", file=sys.stderr)
    except (OSError, UnicodeDecodeError) as problem:
        print(f"gpupulse-api: {problem}", file=sys.stderr)
    return 2


def open_args(args: argparse.Namespace, settings: ApiSettings, writing: bool = False) -> Connection:
    """The --db file (or GPUPULSE_DB), schema-checked, read-only unless `writing`."""
    return open_db(args.db or settings.db, write=writing)


def days_of(args: argparse.Namespace, today: date) -> dict:
    """--from/--to parsed like the API's parameters (BadParam names the option)."""
    query = parse_query(
        USAGE_PARAMS, {"by": getattr(args, "by", "user"), "from": args.first, "to": args.last}
    )
    if args.first is None and args.command == "export":  # export defaults to one day
        query["from"] = query["to"] or today
    return query


def print_usage(args: argparse.Namespace, settings: ApiSettings, today: date) -> int:
    """Print GPU-hours grouped --by, as a table or as JSON."""
    query = days_of(args, today)
    span = span_of(query, today, settings.span_days())
    with closing(open_args(args, settings)) as conn:
        source = LocalSource(conn)
        lab = lab_settings(settings)
        report = usage_report(source, query["by"], span, lab.names, settings.tz, lab.rates)
    if args.json:
        print(json.dumps(report, indent=1))
        return 0
    print(f"GPU-hours by {report['by']}, {report['from']} to {report['to']} ({report['timezone']})")
    rows = report["rows"]
    columns = [
        (t, f)
        for t, f in TABLE_COLUMNS
        if (f not in RATED or report[f] is not None) and all(f in row for row in rows)
    ]
    print(f"{'':<32}" + "".join(f" {title:>12}" for title, _ in columns))
    names = lab_settings(settings).names
    for row in report["rows"]:
        print(f"{row_label(row, report['by'], names)!s:<32}{table_cells(row, columns)}")
    print(f"{'total':<32}{table_cells(report, columns, 'total_')}")
    print(f"{'no process (not in the total)':<32} {report['no_process_gpu_hours']:>12,.2f}")
    print(f"{'all GPU time (the graph)':<32} {report['host_gpu_hours']:>12,.2f}")
    print(f"{'idle jobs (not in the total)':<32} {report['idle_harvested_gpu_hours']:>12,.2f}")
    return 0


# The usage table's columns: title and the row's JSON field.
TABLE_COLUMNS = (
    ("GPU-hours", "gpu_hours"),
    ("held idle h", "held_idle_gpu_hours"),
    ("kWh", "energy_kwh"),
    ("kg CO2e", "co2e_kg"),
    ("cost", "cost"),
)


RATED = ("co2e_kg", "cost")  # shown only where their rate is set


def table_cells(row: dict, columns: list, prefix: str = "") -> str:
    """One usage table line's numbers (`prefix`: the report's total_ fields)."""
    cells = []
    for _title, field in columns:
        value = row.get(prefix + field, row.get(field))
        cells.append(f" {'-':>12}" if value is None else f" {value:>12,.2f}")
    return "".join(cells)


def row_label(row: dict, by: str, names) -> str:
    """The first column of a usage table line: the user's display name, the GPU, the day."""
    if by == "user":
        return names.user(row["user"])
    if by == "gpu":
        index = "?" if row["gpu_index"] is None else row["gpu_index"]  # a GPU seen only in roll-ups
        return f"{index} {row['display_name']}"
    if by == "workload":
        return row["workload"] or "(no workload)"
    return row[by]


def export_days(args: argparse.Namespace, settings: ApiSettings, today: date) -> int:
    """Write one CSV file per day from --from to --to into --dir."""
    query = days_of(args, today)
    span = span_of(query, today, settings.span_days())
    with closing(open_args(args, settings)) as conn:
        for path, rows in write_day_files(conn, span.first, span.last, settings.tz, Path(args.dir)):
            print(f"wrote {path} ({rows:,} rows)")
    return 0


def import_comments(args: argparse.Namespace, settings: ApiSettings, now: float) -> int:
    """Book the GPUs a comments.json lists (each replaces that GPU's reservation)."""
    text = sys.stdin.read() if args.file == "-" else Path(args.file).read_text(encoding="utf-8")
    try:
        doc = json.loads(text)
    except ValueError as problem:
        raise CommentsError(f"not JSON: {problem}") from None
    with closing(open_args(args, settings, writing=True)) as conn:
        parsed = parse_comments(doc, host_name(conn), now, settings.tz)
        with atomic(conn):
            prune(conn, now)
            for item in parsed.reservations:
                replace(conn, item)
    notes = [f"{parsed.expired} already ended, skipped"] if parsed.expired else []
    notes += [f"{parsed.forever} without a real end, kept until removed"] if parsed.forever else []
    extra = f" ({'; '.join(notes)})" if notes else ""
    print(f"imported {len(parsed.reservations)} reservations from {args.file}{extra}")
    return 0


def export_comments(args: argparse.Namespace, settings: ApiSettings, now: float) -> int:
    """Write every reservation not yet deleted as comments.json."""
    with closing(open_args(args, settings)) as conn:
        local = host_name(conn)
        count = conn.execute("SELECT count(DISTINCT idx) FROM gpus").fetchone()[0]
        doc = comments_document(
            list_reservations(conn, now, host=None), local, {local: count}, settings.tz
        )
    text = json.dumps(doc, indent=1, ensure_ascii=False) + "\n"
    if args.file == "-":
        sys.stdout.write(text)
    else:
        Path(args.file).write_text(text, encoding="utf-8")
        print(
            f"wrote {args.file} ({sum(1 for h in doc.values() for e in h if e['name'])} "
            "reservations)"
        )
    return 0
