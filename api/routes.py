"""The GET endpoints. Parsing lives in api.params, rendering in api.svg, queries in store."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from datetime import timedelta

from flask import Blueprint, Response, jsonify, request
from prometheus_client import CONTENT_TYPE_PLAIN_0_0_4, generate_latest

from api.activity import SVG_PARAMS, activity_svg, check_combination
from api.catalog import DAYS_PARAMS, HOURS_PARAMS, JSON
from api.gpus import ALL, HOST_REF, known_gpus, resolve_gpu
from api.health import error_body, health
from api.hub.hostview import cache_key
from api.hub.views import host_reader, reader_for, requested_hosts
from api.lab.names import with_display_names
from api.lab.status import prefers_html, status_page
from api.params import BadParam, parse_query
from api.state import state
from api.svg.calendar import window
from api.svg_cache import Rendered
from store.aggregate import day_span
from store.db import Connection, Error, StoreError
from store.rollups import daily_rows, data_version, hourly_rows
from store.samples import host_facts, latest_state, newest_sample_ts
from store.schema import SchemaMismatch

bp = Blueprint("gpupulse", __name__)
SVG_TYPE = "image/svg+xml; charset=utf-8"
# Inline <style> is what theme=auto needs; everything else, scripts included, is refused.
SVG_CSP = "default-src 'none'; style-src 'unsafe-inline'; sandbox"
DB_ERRORS = (StoreError, SchemaMismatch, Error)


@bp.get("/")
@bp.get("/api")
def info() -> Response:
    """Every endpoint with its parameters and defaults; `/` is the status page for browsers."""
    if request.path == "/" and prefers_html():
        return status_page()
    return Response(state().info_body, mimetype=JSON, headers={"Vary": "Accept"})


@bp.get("/openapi.json")
def openapi_document() -> Response:
    """The OpenAPI document."""
    return Response(state().openapi_body, mimetype=JSON)


@bp.get("/health")
def health_check() -> tuple[Response, int]:
    """200 ok, 503 stale, or 503 error when the database cannot be read."""
    app_state = state()
    try:
        code, body = health(app_state.readers.get(), app_state.now())
    except DB_ERRORS as problem:
        app_state.readers.reset()
        code, body = 503, error_body(problem)
    response = jsonify(body)
    response.headers["Cache-Control"] = "no-store"
    return response, code


@bp.get("/gpu-activity.svg")
def activity() -> Response:
    """The activity calendar, from the cache when the roll-ups have not changed."""
    app_state = state()
    query = app_state.svg_queries.get(request.query_string)
    if query is None:
        query = parse_query(SVG_PARAMS, request.args)
        check_combination(query)  # only valid queries are remembered
        app_state.svg_queries.put(request.query_string, query)
    conn = app_state.readers.get()
    today = app_state.today()
    hosts = requested_hosts(conn)  # host=NAME|all (api.hub)
    key = (*(query[p.name] for p in SVG_PARAMS), today, data_version(conn),
           *cache_key(conn, hosts))  # fmt: skip

    def render() -> str:
        shown = reader_for(conn, hosts, window(today, query["weeks"])[0], today)
        return activity_svg(shown, query, today, app_state.settings.lab.names)

    return svg_reply(key, render)


def svg_reply(key: Hashable, render: Callable[[], str]) -> Response:
    """An SVG from this worker's cache (rendered on a miss) with strong ETag and 304,
    gzip when accepted, and a no-scripts CSP: the activity graph's and the charts' reply."""
    app_state = state()
    rendered = app_state.svg_cache.get(key)
    if rendered is None:
        rendered = Rendered.of(render())
        app_state.svg_cache.put(key, rendered)
    gzip_ok = "gzip" in request.accept_encodings
    body, tag = rendered.variant(gzip_ok)
    # Parse If-None-Match only when sent: most fetches are unconditional.
    not_modified = "If-None-Match" in request.headers and request.if_none_match.contains_weak(tag)
    # One header list handed to Response: this path is the hot one, so no per-header calls.
    headers = [("Content-Type", SVG_TYPE), ("ETag", f'"{tag}"'), ("Vary", "Accept-Encoding"),
               ("Cache-Control", f"public, max-age={app_state.settings.cache_max_age}"),
               ("Content-Security-Policy", SVG_CSP)]  # fmt: skip
    if gzip_ok and not not_modified:
        headers.append(("Content-Encoding", "gzip"))
    return Response(b"" if not_modified else body, 304 if not_modified else 200, headers)


@bp.get("/api/v1/gpus")
def gpus() -> Response:
    """Each GPU's newest sample and processes."""
    conn = state().readers.get()
    gpus = with_display_names(latest_state(conn), state().settings.lab.names)
    body = {"gpus": gpus, "newest_sample_ts": newest_sample_ts(conn), "host": host_facts(conn)}
    return jsonify(body)


def date_range(query: dict, default_days: int) -> tuple:
    """(from, to) with defaults filled in; BadParam when from is after to."""
    last = query["to"] or state().today()
    first = query["from"] or last - timedelta(days=default_days - 1)
    if first > last:
        raise BadParam("from", f"from ({first}) is after to ({last})", f"a date up to {last}")
    return first, last


def selected_gpus(conn: Connection, ref: str, with_host: bool) -> list:
    """The GPUs a `gpu=` filter selects (all: every GPU, plus the host row for daily data)."""
    if ref != ALL:
        return [resolve_gpu(conn, ref)]
    return ([HOST_REF] if with_host else []) + list({g.id: g for g in known_gpus(conn)}.values())


def labelled(rows: list[dict], gpus: list) -> list[dict]:
    """Rows with the GPU's index and UUID next to its id (None for the host row)."""
    by_id = {g.id: g for g in gpus}
    return [{**r, "gpu_index": by_id[r["gpu"]].index, "gpu_uuid": by_id[r["gpu"]].uuid}
            for r in rows if r["gpu"] in by_id]  # fmt: skip


@bp.get("/api/v1/days")
def days() -> Response:
    """Daily roll-ups for a date range."""
    query = parse_query(DAYS_PARAMS, request.args)
    first, last = date_range(query, 30)
    conn = host_reader(state().readers.get(), query["host"], first, last)
    chosen = selected_gpus(conn, query["gpu"], with_host=True)
    rows = [r for g in chosen for r in daily_rows(conn, str(first), str(last), g.id)]
    rows.sort(key=lambda r: (r["day"], r["gpu"]))
    return jsonify({"from": str(first), "to": str(last), "timezone": state().settings.tz.key,
                    "days": labelled(rows, chosen)})  # fmt: skip


@bp.get("/api/v1/hours")
def hours() -> Response:
    """Hourly roll-ups for the hours of a range of days (in GPUPULSE_TZ)."""
    query = parse_query(HOURS_PARAMS, request.args)
    first, last = date_range(query, 1)
    tz = state().settings.tz
    start, end = day_span(first, last, tz)
    conn = host_reader(state().readers.get(), query["host"], first, last, hours=True)
    chosen = selected_gpus(conn, query["gpu"], with_host=True)
    gpu = None if query["gpu"] == ALL else chosen[0].id
    rows = labelled(hourly_rows(conn, start, end, gpu), chosen)
    return jsonify({"from": str(first), "to": str(last), "timezone": tz.key, "start": start,
                    "end": end, "hours": rows})  # fmt: skip


@bp.get("/metrics")
def metrics() -> Response:
    """Prometheus exposition, read from the store at scrape time."""
    body = generate_latest(state().metrics)
    return Response(body, headers={"Content-Type": CONTENT_TYPE_PLAIN_0_0_4,
                                   "Cache-Control": "no-store"})  # fmt: skip
