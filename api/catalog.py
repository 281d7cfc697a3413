"""Every endpoint the api serves, declared once; the API info and the OpenAPI document are
both built from this list, and a test checks it against the Flask URL map."""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import metadata

from api.activity import SVG_PARAMS
from api.hub.hostview import HOST_PARAM
from api.lab import params as lab
from api.params import Day, Param

GPU_FILTER = Param("gpu", "all (every row), a GPU index, or a GPU UUID", "all")
DAYS_PARAMS = (
    Day("from", "first day, YYYY-MM-DD in GPUPULSE_TZ (default: 29 days before `to`)"),
    Day("to", "last day, inclusive (default: today in GPUPULSE_TZ)"),
    GPU_FILTER,
    HOST_PARAM,
)
HOURS_PARAMS = (
    Day("from", "first day whose hours are listed (default: `to`)"),
    Day("to", "last day, inclusive (default: today in GPUPULSE_TZ)"),
    GPU_FILTER,
    HOST_PARAM,
)
JSON, SVG, TEXT = "application/json", "image/svg+xml", "text/plain"
CSV, CSS, JS = "text/csv", "text/css", "text/javascript"
RESERVATION_BODY = {
    "type": "object", "required": ["gpu", "name", "until"], "additionalProperties": False,
    "properties": {"gpu": {"type": "integer", "minimum": 0},
                   "name": {"type": "string", "minLength": 1, "maxLength": 64},
                   "until": {"type": "string", "description": "ISO date-time or e.g. 2d 3h"},
                   "comment": {"type": "string", "maxLength": 1000}},
}  # fmt: skip


@dataclass(frozen=True)
class Endpoint:
    """A GET endpoint: path, what it returns, and its query parameters."""

    path: str
    summary: str
    media_type: str = JSON
    params: tuple[Param, ...] = ()
    errors: tuple[int, ...] = field(default=(503,))  # besides 200
    method: str = "GET"
    body: dict | None = None  # JSON request body schema
    ok: int = 200  # the success status


HUB_ERRORS = (400, 401, 403, 413, 429, 503)

ENDPOINTS = (
    Endpoint("/", "API information (JSON); browsers preferring HTML get the status page",
             errors=()),
    Endpoint("/api", "API information (the same document as /)", errors=()),
    Endpoint("/gpu-activity.svg", "GitHub-style calendar of daily GPU activity", SVG,
             (*SVG_PARAMS, HOST_PARAM), (304, 400, 503)),
    Endpoint("/health", "ok, or 503 stale/error with the newest sample's age"),
    Endpoint("/api/v1/gpus", "Current state of each GPU with its processes"),
    Endpoint("/api/v1/days", "Daily roll-ups (gpu 0 is the whole host)", JSON, DAYS_PARAMS,
             (400, 503)),
    Endpoint("/api/v1/hours", "Hourly roll-ups per GPU (hour = UTC seconds)", JSON,
             HOURS_PARAMS, (400, 503)),
    Endpoint("/metrics", "Prometheus text exposition of the newest state", TEXT),
    Endpoint("/openapi.json", "This API as an OpenAPI 3 document", errors=()),
    # Lab features (issue 6), see docs/lab.md
    Endpoint("/api/v1/usage", "GPU-hours by user, day, month or GPU", JSON, lab.USAGE_PARAMS,
             (400, 503)),
    Endpoint("/api/v1/export.csv", "A day's per-process log: Timestamp,User,PID,GPU Number,"
             "GPU Usage (streamed)", CSV, lab.EXPORT_PARAMS, (400, 503)),
    Endpoint("/api/v1/quotas", "Each user's GPU-hours this month against their quota", JSON,
             lab.QUOTA_PARAMS, (400, 503)),
    Endpoint("/api/v1/reservations", "Reservations: who booked which GPU until when"),
    Endpoint("/api/v1/reservations", "Book a GPU (Bearer GPUPULSE_ADMIN_TOKEN)", JSON,
             errors=(400, 401, 403, 413, 503), method="POST", body=RESERVATION_BODY, ok=201),
    Endpoint("/api/v1/reservations", "Remove a reservation (Bearer GPUPULSE_ADMIN_TOKEN)", JSON,
             lab.DELETE_PARAMS, (400, 401, 403, 404, 503), method="DELETE"),
    Endpoint("/charts/users.svg", "GPU-hours per user in a month (bars)", SVG,
             lab.USERS_CHART_PARAMS, (304, 400, 503)),
    Endpoint("/charts/hours.svg", "GPU activity by weekday and hour (heat map)", SVG,
             lab.HOURS_CHART_PARAMS, (304, 400, 503)),
    Endpoint("/charts/months.svg", "GPU-hours per month stacked by user", SVG,
             lab.MONTHS_CHART_PARAMS, (304, 400, 503)),
    # The hub (issue 8), see docs/hub.md.
    Endpoint("/api/v1/ingest", "Hub: store a host-hour pushed by a host's scheduler, or an "
             "array of them (Bearer host token, X-Contract-Number); echoes the body as params",
             JSON, errors=HUB_ERRORS, method="POST",
             body={"oneOf": [{"type": "object"},
                             {"type": "array", "items": {"type": "object"}}]}),
    Endpoint("/api/v1/status", "Hub: a host's live snapshot of GPUs, processes and "
             "reservations (Bearer host token)", JSON,
             errors=HUB_ERRORS, method="POST", body={"type": "object"}),
    Endpoint("/api/v1/hosts", "Hub: each host's GPUs busy, idle and reserved, and staleness"),
    Endpoint("/static/status.css", "The status page's stylesheet", CSS, errors=()),
    Endpoint("/static/status.js", "The status page's refresh script", JS, errors=()),
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
                "method": e.method,
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
BODY_SCHEMAS = {
    JSON: {"type": "object"},
    SVG: {"type": "string"},
    TEXT: {"type": "string"},
    CSV: {"type": "string"},
    CSS: {"type": "string"},
    JS: {"type": "string"},
}
STATUS_TEXT = {304: "Not modified (If-None-Match matched the ETag)", 400: "Bad parameter",
               503: "Database unreadable, or (for /health) samples stale",
               401: "Missing or wrong Bearer token", 404: "No such reservation",
               403: "Not allowed: reservation writes are off (no GPUPULSE_ADMIN_TOKEN), "
                    "or a host token used for another host",
               413: "Body over the size limit (16 KiB for reservations, "
                    "GPUPULSE_HUB_MAX_BODY for the hub)",
               429: "A host sends faster than the hub's rate limit (see Retry-After)"}  # fmt: skip


def operation(e: Endpoint) -> dict:
    """The OpenAPI operation object for one endpoint."""
    body = {e.media_type: {"schema": BODY_SCHEMAS[e.media_type]}}
    ok = str(e.ok)
    responses: dict[str, dict] = {ok: {"description": "OK", "content": body}}
    error = {JSON: {"schema": {"$ref": "#/components/schemas/Error"}}}
    for code in e.errors:
        responses[str(code)] = {"description": STATUS_TEXT[code]}
        if code != 304:
            responses[str(code)]["content"] = error
    if e.path == "/health":  # its 503 body is a health report, not an error
        responses["503"]["content"] = {JSON: {"schema": {"type": "object"}}}
    op = {"summary": e.summary, "operationId": operation_id(e.path, e.method),
          "parameters": [p.openapi() for p in e.params], "responses": responses}  # fmt: skip
    if e.body is not None:
        op["requestBody"] = {"required": True, "content": {JSON: {"schema": e.body}}}
    return op


def operation_id(path: str, method: str = "GET") -> str:
    """'/api/v1/days' -> 'get_api_v1_days'."""
    slug = "".join(c if c.isalnum() else "_" for c in path.strip("/")) or "root"
    return f"{method.lower()}_{slug}"


def openapi(endpoints: tuple[Endpoint, ...] = ENDPOINTS) -> dict:
    """The OpenAPI 3.0 document for `endpoints`."""
    return {
        "openapi": "3.0.3",
        "info": {"title": "GPU Pulse", "version": package_version()},
        "paths": paths(endpoints),
        "components": {"schemas": {"Error": ERROR_SCHEMA}},
    }


def paths(endpoints: tuple[Endpoint, ...]) -> dict:
    """The OpenAPI paths object: each path with an operation per method."""
    out: dict[str, dict] = {}
    for e in endpoints:
        out.setdefault(e.path, {})[e.method.lower()] = operation(e)
    return out
