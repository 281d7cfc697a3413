"""Every endpoint the api serves, declared once; the API info and the OpenAPI document are
both built from this list, and a test checks it against the Flask URL map."""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import metadata

from api.activity import SVG_PARAMS
from api.params import Day, Param

GPU_FILTER = Param("gpu", "all (every row), a GPU index, or a GPU UUID", "all")
DAYS_PARAMS = (
    Day("from", "first day, YYYY-MM-DD in GPUPULSE_TZ (default: 29 days before `to`)"),
    Day("to", "last day, inclusive (default: today in GPUPULSE_TZ)"),
    GPU_FILTER,
)
HOURS_PARAMS = (
    Day("from", "first day whose hours are listed (default: `to`)"),
    Day("to", "last day, inclusive (default: today in GPUPULSE_TZ)"),
    GPU_FILTER,
)
JSON, SVG, TEXT = "application/json", "image/svg+xml", "text/plain"


@dataclass(frozen=True)
class Endpoint:
    """A GET endpoint: path, what it returns, and its query parameters."""

    path: str
    summary: str
    media_type: str = JSON
    params: tuple[Param, ...] = ()
    errors: tuple[int, ...] = field(default=(503,))  # besides 200


ENDPOINTS = (
    Endpoint("/", "API information: every endpoint with its parameters", errors=()),
    Endpoint("/api", "API information (the same document as /)", errors=()),
    Endpoint("/gpu-activity.svg", "GitHub-style calendar of daily GPU activity", SVG,
             SVG_PARAMS, (304, 400, 503)),
    Endpoint("/health", "ok, or 503 stale/error with the newest sample's age"),
    Endpoint("/api/v1/gpus", "Current state of each GPU with its processes"),
    Endpoint("/api/v1/days", "Daily roll-ups (gpu 0 is the whole host)", JSON, DAYS_PARAMS,
             (400, 503)),
    Endpoint("/api/v1/hours", "Hourly roll-ups per GPU (hour = UTC seconds)", JSON,
             HOURS_PARAMS, (400, 503)),
    Endpoint("/metrics", "Prometheus text exposition of the newest state", TEXT),
    Endpoint("/openapi.json", "This API as an OpenAPI 3 document", errors=()),
)  # fmt: skip


def package_version() -> str:
    """The installed gpu-pulse version."""
    try:
        return metadata.version("gpu-pulse")
    except metadata.PackageNotFoundError:
        return "0.0.0"


def api_info(endpoints: tuple[Endpoint, ...] = ENDPOINTS) -> dict:
    """What GET / returns: each endpoint, its parameters, their defaults and allowed values."""
    return {
        "name": "GPU Pulse",
        "version": package_version(),
        "openapi": "/openapi.json",
        "endpoints": [
            {
                "path": e.path,
                "method": "GET",
                "summary": e.summary,
                "returns": e.media_type,
                "parameters": [p.describe() for p in e.params],
            }
            for e in endpoints
        ],
    }


ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {"type": "string"}, "parameter": {"type": "string"}, "allowed": {}},
}
BODY_SCHEMAS = {JSON: {"type": "object"}, SVG: {"type": "string"}, TEXT: {"type": "string"}}
STATUS_TEXT = {304: "Not modified (If-None-Match matched the ETag)", 400: "Bad parameter",
               503: "Database unreadable, or (for /health) samples stale"}  # fmt: skip


def operation(e: Endpoint) -> dict:
    """The OpenAPI operation object for one endpoint."""
    body = {e.media_type: {"schema": BODY_SCHEMAS[e.media_type]}}
    responses: dict[str, dict] = {"200": {"description": "OK", "content": body}}
    error = {JSON: {"schema": {"$ref": "#/components/schemas/Error"}}}
    for code in e.errors:
        responses[str(code)] = {"description": STATUS_TEXT[code]}
        if code != 304:
            responses[str(code)]["content"] = error
    if e.path == "/health":  # its 503 body is a health report, not an error
        responses["503"]["content"] = {JSON: {"schema": {"type": "object"}}}
    return {"summary": e.summary, "operationId": operation_id(e.path),
            "parameters": [p.openapi() for p in e.params], "responses": responses}  # fmt: skip


def operation_id(path: str) -> str:
    """'/api/v1/days' -> 'get_api_v1_days'."""
    slug = "".join(c if c.isalnum() else "_" for c in path.strip("/")) or "root"
    return f"get_{slug}"


def openapi(endpoints: tuple[Endpoint, ...] = ENDPOINTS) -> dict:
    """The OpenAPI 3.0 document for `endpoints`."""
    return {
        "openapi": "3.0.3",
        "info": {"title": "GPU Pulse", "version": package_version()},
        "paths": {e.path: {"get": operation(e)} for e in endpoints},
        "components": {"schemas": {"Error": ERROR_SCHEMA}},
    }
