"""`gpupulse-api`: serve under gunicorn, check health, render the SVG to a file, or run a lab
or hub command (usage, export, reservations, hosts)."""

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
from api.features import command_owner, display_names, feature_modules
from api.params import BadParam, parse_query
from api.settings import ApiSettings, ServerSettings, load_api
from api.source import LocalSource
from runtime.cli import (
    SHARED_OPTIONS,
    OneLineParser,
    chosen,
    fail,
    given,
    setting_failed,
    shared_options,
    subcommands,
    with_defaults,
)
from runtime.settings import SettingError, check_all, environment, load
from runtime.table import API
from store import open_db
from store.aggregate import day_of
from store.db import Error, StoreError
from store.schema import SchemaMismatch

GUNICORN_ARGS = ["-m", "gunicorn", "-c", "python:api.gunicorn_conf", "api.app:create_app()"]


def parser() -> argparse.ArgumentParser:
    """`gpupulse-api [OPTIONS] [COMMAND]`: no command serves; options before or after it."""
    shared = shared_options()
    p = OneLineParser(prog="gpupulse-api", description=__doc__, parents=[shared])
    p.add_argument("--healthcheck", action="store_true", help="= healthcheck")
    sub = subcommands(p)
    sub.add_parser("serve", parents=[shared], help="run gunicorn (the default)")
    sub.add_parser(
        "healthcheck",
        parents=[shared],
        help="GET /health on this host's port and exit 0 if ok, else 1",
    )
    render = sub.add_parser(
        "render-svg", parents=[shared], help="write the activity SVG from a database file"
    )
    render.add_argument("--out", required=True, help="SVG file to write ('-' for stdout)")
    for param in SVG_PARAMS:
        default = f" (default {param.default})" if param.default is not None else ""
        render.add_argument(f"--{param.name}", help=param.description + default)
    for feature in feature_modules():
        feature.add_commands(sub, [shared])
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


def render_svg(args: argparse.Namespace, settings: ApiSettings) -> str:
    """Render the SVG for the command-line options, as the server would for that query."""
    raw = {p.name: getattr(args, p.name) for p in SVG_PARAMS if getattr(args, p.name) is not None}
    query = parse_query(SVG_PARAMS, raw)
    check_combination(query)
    conn = open_db(settings.db)
    try:
        today = day_of(settings.clock(), settings.tz)
        return activity_svg(LocalSource(conn), query, today, display_names(settings))
    finally:
        conn.close()


def write_svg(args: argparse.Namespace, settings: ApiSettings) -> int:
    """render-svg: write the file (atomically, so a README never shows half an SVG)."""
    svg = render_svg(args, settings)
    if args.out == "-":
        sys.stdout.write(svg)
        return 0
    out = Path(args.out)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(svg, encoding="utf-8")
    tmp.replace(out)
    print(f"wrote {out} ({len(svg):,} bytes)")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the gpupulse-api console script."""
    p = parser()
    args = with_defaults(p.parse_args(argv), db=None)
    command = chosen(p, args, {"healthcheck": "healthcheck"}, "serve")
    try:
        env, overrides = environment(), given(args, SHARED_OPTIONS)
        # Every api setting is checked here, in one line, rather than in every worker.
        check_all(API, env)
        api, server = load_api(env, overrides), load(ServerSettings, env, overrides)
        if command == "healthcheck":
            code, line = healthcheck(server.port)
            print(line)
            return code
        if command == "serve":
            serve({var: str(value) for var, value in overrides.items()})
        if command == "render-svg":
            return write_svg(args, api)
        owner = command_owner(command)
        return owner.run_command(args, api) if owner else fail("gpupulse-api", command, 2)
    except BadParam as problem:
        return fail(
            "gpupulse-api", f"--{problem.name}: {problem.message}; allowed: {problem.allowed}", 2
        )
    except SettingError as problem:
        return setting_failed("gpupulse-api", problem, service=command == "serve")
    except (StoreError, SchemaMismatch, Error, OSError) as problem:
        return fail("gpupulse-api", problem, 2)


def serve(overrides: dict[str, str]) -> None:
    """Hand the process to gunicorn; options given here reach its workers as settings."""
    os.execve(sys.executable, [sys.executable, *GUNICORN_ARGS], {**environment(), **overrides})
