"""The GET endpoints. Parsing lives in api.params, rendering in api.svg, queries in store."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from datetime import timedelta

from flask import Blueprint, Response, jsonify, request
from prometheus_client import CONTENT_TYPE_PLAIN_0_0_4, generate_latest

from api.activity import activity_svg, check_combination
from api.catalog import JSON
from api.gpus import ALL, HOST_REF, resolve_gpu
from api.health import error_body, health
from api.names import with_display_names
from api.params import day_range
from api.source import Source
from api.state import state
from api.svg_cache import Rendered
from store.aggregate import day_span
from store.db import Error, StoreError
from store.rollups import HOST
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
    home_page = state().features.home_page
    if request.path == "/" and home_page is not None and prefers_html():
        return home_page()
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
        query = app_state.query("/gpu-activity.svg")
        check_combination(query)  # only valid queries are remembered
        app_state.svg_queries.put(request.query_string, query)
    source = app_state.source(query)
    today = app_state.today()
    key = (*query.values(), today, source.data_version())

    def render() -> str:
        return activity_svg(source, query, today, app_state.features.names)

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
    headers = [
        ("Content-Type", SVG_TYPE),
        ("ETag", f'"{tag}"'),
        ("Vary", "Accept-Encoding"),
        ("Cache-Control", f"public, max-age={app_state.settings.cache_max_age}"),
        ("Content-Security-Policy", SVG_CSP),
    ]
    if gzip_ok and not not_modified:
        headers.append(("Content-Encoding", "gzip"))
    return Response(b"" if not_modified else body, 304 if not_modified else 200, headers)


@bp.get("/api/v1/gpus")
def gpus() -> Response:
    """Each GPU's newest sample and processes."""
    conn = state().readers.get()
    gpus = with_display_names(latest_state(conn), state().features.names)
    body = {"gpus": gpus, "newest_sample_ts": newest_sample_ts(conn), "host": host_facts(conn)}
    return jsonify(body)


def prefers_html() -> bool:
    """True when the client ranks HTML above JSON (browsers do; curl and scripts don't)."""
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return best == "text/html" and request.accept_mimetypes["text/html"] > 0


def date_range(query: dict, default_days: int, hourly: bool = False) -> tuple:
    """(from, to) with defaults filled in; BadParam when reversed or wider than the roll-ups
    are kept for."""
    app_state = state()
    limit = app_state.settings.span_days(hourly)
    back = timedelta(days=default_days - 1)
    return day_range(query, app_state.today(), lambda last: last - back, limit)


def selected_gpus(source: Source, ref: str, with_host: bool) -> list:
    """The GPUs a `gpu=` filter selects (all: every GPU, plus the host row for daily data)."""
    if ref != ALL:
        return [resolve_gpu(ref, source.gpus)]
    return ([HOST_REF] if with_host else []) + list({g.id: g for g in source.gpus()}.values())


def labelled(rows: list[dict], gpus: list) -> list[dict]:
    """Rows as the public JSON names them: `scope` "host" (the whole host, `gpu_index` and
    `uuid` null) or "gpu" with the GPU's index and UUID; the store's internal GPU id (0 for
    the host) stays out, so an index is never mistaken for it."""
    by_id = {g.id: g for g in gpus}
    return [
        {
            "scope": "host" if r["gpu"] == HOST else "gpu",
            "gpu_index": by_id[r["gpu"]].index,
            "uuid": by_id[r["gpu"]].uuid,
            **{k: v for k, v in r.items() if k != "gpu"},
        }
        for r in rows
        if r["gpu"] in by_id
    ]


@bp.get("/api/v1/days")
def days() -> Response:
    """Daily roll-ups for a date range."""
    query = state().query("/api/v1/days")
    first, last = date_range(query, 30)
    source = state().source(query)
    chosen = selected_gpus(source, query["gpu"], with_host=True)
    rows = [r for g in chosen for r in source.daily(str(first), str(last), g.id)]
    rows.sort(key=lambda r: (r["day"], r["gpu"]))
    return jsonify(
        {
            "from": str(first),
            "to": str(last),
            "timezone": state().settings.tz.key,
            "days": labelled(rows, chosen),
        }
    )


@bp.get("/api/v1/hours")
def hours() -> Response:
    """Hourly roll-ups for the hours of a range of days (in GPUPULSE_TZ)."""
    query = state().query("/api/v1/hours")
    first, last = date_range(query, 1, hourly=True)
    tz = state().settings.tz
    start, end = day_span(first, last, tz)
    source = state().source(query)
    chosen = selected_gpus(source, query["gpu"], with_host=True)
    gpu = None if query["gpu"] == ALL else chosen[0].id
    rows = labelled(source.hourly(start, end, gpu), chosen)
    return jsonify(
        {
            "from": str(first),
            "to": str(last),
            "timezone": tz.key,
            "start": start,
            "end": end,
            "hours": rows,
        }
    )


@bp.get("/metrics")
def metrics() -> Response:
    """Prometheus exposition, read from the store at scrape time."""
    body = generate_latest(state().metrics)
    return Response(
        body, headers={"Content-Type": CONTENT_TYPE_PLAIN_0_0_4, "Cache-Control": "no-store"}
    )
