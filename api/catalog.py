"""The endpoints the api serves, each declared once: the core's here, a feature's next to its
routes. The API info at `/` and the OpenAPI document are both built from an app's Catalog, and
a test checks it against the Flask URL map."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from importlib import metadata

from api.activity import SVG_PARAMS
from api.params import Day, Param

JSON, SVG, TEXT = "application/json", "image/svg+xml", "text/plain"
DAILY, HOURLY = "daily", "hourly"  # which roll-ups a from..to range reads
CSV, CSS, JS = "text/csv", "text/css", "text/javascript"
ICO = "image/x-icon"
HTML = "text/html"
GPU_FILTER = Param("gpu", "all (every row), a GPU index, or a GPU UUID", "all")
DAYS_PARAMS = (
    Day("from", "first day, YYYY-MM-DD in GPUPULSE_TZ (default: 29 days before `to`)"),
    Day("to", "last day, inclusive (default: today in GPUPULSE_TZ)"),
    GPU_FILTER,
)
# Which GPU a /api/v1/days or /api/v1/hours row is about: the whole host, or one GPU by its
# index and UUID (never the store's internal id, which a reader would take for an index).
ROW_SCOPE = {
    "scope": {
        "type": "string",
        "enum": ["host", "gpu"],
        "description": "host: the whole host (every GPU together); gpu: one GPU",
    },
    "gpu_index": {
        "type": "integer",
        "nullable": True,
        "description": "the GPU's index as nvidia-smi shows it; null for the host row",
    },
    "uuid": {
        "type": "string",
        "nullable": True,
        "description": "the GPU's UUID (GPU-… or MIG-…); null for the host row",
    },
}


def rows_reply(key: str, row_fields: dict) -> dict:
    """The schema of a days or hours reply: the range, the zone and the rows under `key`."""
    row = {
        "type": "object",
        "required": list(ROW_SCOPE),
        "properties": {**ROW_SCOPE, **row_fields},
    }
    return {
        "type": "object",
        "required": ["from", "to", "timezone", key],
        "properties": {
            "from": {"type": "string", "format": "date"},
            "to": {"type": "string", "format": "date"},
            "timezone": {"type": "string"},
            key: {"type": "array", "items": row},
        },
    }


DAYS_REPLY = rows_reply(
    "days",
    {
        "day": {"type": "string", "format": "date", "description": "local day in GPUPULSE_TZ"},
        "active_minutes": {
            "type": "number",
            "description": "minutes with the GPU (host: at least one GPU) busy",
        },
        "gpu_minutes": {"type": "number", "description": "busy minutes summed over GPUs"},
        "energy_kwh": {"type": "number", "nullable": True},
    },
)
HOURS_REPLY = rows_reply(
    "hours",
    {
        "hour": {"type": "integer", "description": "the hour's start, UTC seconds"},
        "active_s": {"type": "number"},
        "gpu_active_s": {"type": "number", "description": "busy seconds summed over GPUs"},
    },
)
HOURS_PARAMS = (
    Day("from", "first day whose hours are listed (default: `to`)"),
    Day("to", "last day, inclusive (default: today in GPUPULSE_TZ)"),
    GPU_FILTER,
)


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
    reply: dict | None = None  # the success body's schema, when more than "an object"
    span: str | None = None  # DAILY or HOURLY: from..to is bounded by that roll-up's retention


ENDPOINTS = (
    Endpoint(
        "/", "API information (JSON); browsers preferring HTML get the status page", errors=()
    ),
    Endpoint("/api", "API information (the same document as /)", errors=()),
    Endpoint(
        "/gpu-activity.svg",
        "GitHub-style calendar of daily GPU activity",
        SVG,
        SVG_PARAMS,
        (304, 400, 503),
    ),
    Endpoint("/health", "ok, or 503 stale/error with the newest sample's age"),
    Endpoint("/api/v1/gpus", "Current state of each GPU with its processes"),
    Endpoint(
        "/api/v1/days",
        "Daily roll-ups: a row per GPU (scope gpu) and one for the whole host (scope host)",
        JSON,
        DAYS_PARAMS,
        (400, 503),
        reply=DAYS_REPLY,
        span=DAILY,
    ),
    Endpoint(
        "/api/v1/hours",
        "Hourly roll-ups per GPU and for the whole host (hour = UTC seconds)",
        JSON,
        HOURS_PARAMS,
        (400, 503),
        reply=HOURS_REPLY,
        span=HOURLY,
    ),
    Endpoint("/metrics", "Prometheus text exposition of the newest state", TEXT),
    Endpoint("/openapi.json", "This API as an OpenAPI 3 document", errors=()),
)


class Catalog:
    """The endpoints of one app in the order listed: the core's, then each feature's."""

    def __init__(self, endpoints: Iterable[Endpoint] = ENDPOINTS) -> None:
        self._endpoints: dict[tuple[str, str], Endpoint] = {}
        self.add(*endpoints)

    def add(self, *endpoints: Endpoint) -> None:
        """List endpoints (a path may have one per method)."""
        for e in endpoints:
            self._endpoints[(e.path, e.method)] = e

    def add_params(self, path: str, *params: Param, method: str = "GET") -> None:
        """Give a listed endpoint more query parameters, after its own."""
        e = self._endpoints[(path, method)]
        self._endpoints[(path, method)] = replace(e, params=(*e.params, *params))

    def params(self, path: str, method: str = "GET") -> tuple[Param, ...]:
        """The query parameters of a listed endpoint."""
        return self._endpoints[(path, method)].params

    def endpoints(self) -> tuple[Endpoint, ...]:
        """Every endpoint listed."""
        return tuple(self._endpoints.values())


def package_version() -> str:
    """The installed gpu-pulse version."""
    try:
        return metadata.version("gpu-pulse")
    except metadata.PackageNotFoundError:
        return "0.0.0"


def api_info(endpoints: tuple[Endpoint, ...], spans: Mapping[str, int]) -> dict:
    """What GET / returns: each endpoint, its parameters, their defaults and allowed values,
    and the most days its from..to may span (`spans` by DAILY and HOURLY)."""
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
                **({"max_span_days": spans[e.span]} if e.span else {}),
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
    ICO: {"type": "string", "format": "binary"},
    HTML: {"type": "string"},
}
STATUS_TEXT = {
    304: "Not modified (If-None-Match matched the ETag)",
    400: "Bad parameter",
    503: "Database unreadable, or (for /health) samples stale",
    401: "Missing or wrong Bearer token",
    404: "Not found: no such reservation, or no such GPU",
    403: "Not allowed: reservation writes are off (no GPUPULSE_ADMIN_TOKEN), "
    "or a host token used for another host",
    413: "Body over the size limit (16 KiB for reservations, GPUPULSE_HUB_MAX_BODY for the hub)",
    429: "A host sends faster than the hub's rate limit (see Retry-After)",
}


def operation(e: Endpoint, spans: Mapping[str, int]) -> dict:
    """The OpenAPI operation object for one endpoint (`spans`: as for api_info)."""
    body = {e.media_type: {"schema": e.reply or BODY_SCHEMAS[e.media_type]}}
    ok = str(e.ok)
    responses: dict[str, dict] = {ok: {"description": "OK", "content": body}}
    error = {JSON: {"schema": {"$ref": "#/components/schemas/Error"}}}
    for code in e.errors:
        responses[str(code)] = {"description": STATUS_TEXT[code]}
        if code != 304:
            responses[str(code)]["content"] = error
    if e.path == "/health":  # its 503 body is a health report, not an error
        responses["503"]["content"] = {JSON: {"schema": {"type": "object"}}}
    op = {
        "summary": e.summary,
        "operationId": operation_id(e.path, e.method),
        "parameters": [p.openapi() for p in e.params],
        "responses": responses,
    }
    if e.span is not None:  # a rule between two parameters: said in words and an extension
        op["description"] = f"`from` and `to` may span at most {spans[e.span]:,} days."
        op["x-max-span-days"] = spans[e.span]
    if e.body is not None:
        op["requestBody"] = {"required": True, "content": {JSON: {"schema": e.body}}}
    return op


def operation_id(path: str, method: str = "GET") -> str:
    """'/api/v1/days' -> 'get_api_v1_days'."""
    slug = "".join(c if c.isalnum() else "_" for c in path.strip("/")) or "root"
    return f"{method.lower()}_{slug}"


def openapi(endpoints: tuple[Endpoint, ...], spans: Mapping[str, int]) -> dict:
    """The OpenAPI 3.0 document for `endpoints` (`spans`: as for api_info)."""
    return {
        "openapi": "3.0.3",
        "info": {"title": "GPU Pulse", "version": package_version()},
        "paths": paths(endpoints, spans),
        "components": {"schemas": {"Error": ERROR_SCHEMA}},
    }


def paths(endpoints: tuple[Endpoint, ...], spans: Mapping[str, int]) -> dict:
    """The OpenAPI paths object: each path with an operation per method."""
    out: dict[str, dict] = {}
    for e in endpoints:
        out.setdefault(e.path, {})[e.method.lower()] = operation(e, spans)
    return out
