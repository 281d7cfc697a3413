"""`gpupulse-api`: serve under gunicorn, check health, render the SVG to a file, or run a lab
command (usage, export, reservations)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path

from api.activity import SVG_PARAMS, activity_svg, check_combination
from api.hub.cli import COMMANDS as HUB_COMMANDS
from api.hub.cli import add_commands as add_hub_commands
from api.hub.cli import run as run_hub_command
from api.lab.cli import COMMANDS as LAB_COMMANDS
from api.lab.cli import add_commands as add_lab_commands
from api.lab.cli import run as run_lab_command
from api.params import BadParam, parse_query
from api.settings import ApiSettings, ServerSettings
from api.source import LocalSource
from store import open_db
from store.aggregate import day_of
from store.db import Error, StoreError
from store.schema import SchemaMismatch
from store.settings import OneLineParser, SettingError

GUNICORN_ARGS = ["-m", "gunicorn", "-c", "python:api.gunicorn_conf", "api.app:create_app()"]


def parser() -> argparse.ArgumentParser:
    """The command line: no subcommand serves; --healthcheck; render-svg."""
    p = OneLineParser(prog="gpupulse-api", description=__doc__)
    p.add_argument("--healthcheck", action="store_true",
                   help="GET /health on this host's port and exit 0 if ok, else 1")  # fmt: skip
    sub = p.add_subparsers(dest="command", parser_class=OneLineParser)
    sub.add_parser("serve", help="run gunicorn (the default)")
    render = sub.add_parser("render-svg", help="write the activity SVG from a database file")
    render.add_argument("--db", help="database file (default: GPUPULSE_DB)")
    render.add_argument("--out", required=True, help="SVG file to write ('-' for stdout)")
    for param in SVG_PARAMS:
        default = f" (default {param.default})" if param.default is not None else ""
        render.add_argument(f"--{param.name}", help=param.description + default)
    add_lab_commands(sub)
    add_hub_commands(sub)
    return p


def healthcheck(port: int, opener: Callable = urllib.request.urlopen) -> tuple[int, str]:
    """(exit status, one line) for GET http://127.0.0.1:PORT/health."""
    url = f"http://127.0.0.1:{port}/health"
    try:
        with opener(url, timeout=5) as reply:
            body = json.load(reply)
    except urllib.error.HTTPError as reply:
        try:
            body = json.load(reply)
        except ValueError:
            return 1, f"unhealthy: {url} answered {reply.code}"
        return 1, f"unhealthy: {body.get('status')}: {body.get('detail')}"
    except (OSError, ValueError) as problem:
        return 1, f"unhealthy: cannot reach {url}: {problem}"
    return 0, f"ok: newest sample {body.get('newest_sample_age_s')} s old"


def render_svg(args: argparse.Namespace, env=None) -> str:
    """Render the SVG for the command-line options, as the server would for that query."""
    settings = ApiSettings.from_env(env)
    raw = {p.name: getattr(args, p.name) for p in SVG_PARAMS if getattr(args, p.name) is not None}
    query = parse_query(SVG_PARAMS, raw)
    check_combination(query)
    conn = open_db(args.db or settings.db)
    try:
        today = day_of(settings.clock(), settings.tz)
        return activity_svg(LocalSource(conn), query, today, settings.lab.names)
    finally:
        conn.close()


def write_svg(args: argparse.Namespace) -> None:
    """render-svg: write the file (atomically, so a README never shows half an SVG)."""
    svg = render_svg(args)
    if args.out == "-":
        sys.stdout.write(svg)
        return
    out = Path(args.out)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(svg, encoding="utf-8")
    tmp.replace(out)
    print(f"wrote {out} ({len(svg):,} bytes)")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the gpupulse-api console script."""
    args = parser().parse_args(argv)
    try:
        server = ServerSettings.from_env()
        if args.healthcheck:
            code, line = healthcheck(server.port)
            print(line)
            return code
        if args.command == "render-svg":
            write_svg(args)
            return 0
        if args.command in HUB_COMMANDS:
            return run_hub_command(args, ApiSettings.from_env())
        if args.command in LAB_COMMANDS:
            return run_lab_command(args, ApiSettings.from_env())
        ApiSettings.from_env()  # fail here, in one line, rather than in every worker
        server.port  # noqa: B018 - validates GPUPULSE_API_BIND
    except BadParam as problem:
        print(f"gpupulse-api: --{problem.name}: {problem.message}; allowed: {problem.allowed}")
        return 2
    except (SettingError, StoreError, SchemaMismatch, Error, OSError) as problem:
        print(f"gpupulse-api: {problem}")
        return 2
    os.execv(sys.executable, [sys.executable, *GUNICORN_ARGS])
    return 0  # not reached: exec replaces this process
