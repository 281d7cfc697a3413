"""What hosts send to a hub: POST /api/v1/ingest (hourly aggregates, Targoman protocol) and
POST /api/v1/status (live snapshots). Each host authenticates with its own bearer token.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from flask import Blueprint, Flask, Response, current_app, jsonify, request

from api.catalog import JSON, Endpoint
from api.hub.settings import HubSettings, hub_settings
from api.hub.writers import Writers
from api.settings import ApiSettings
from api.svg_cache import RenderCache
from protocol import targoman
from protocol.fields import Invalid, parse_json
from protocol.ingest import check_ingest
from protocol.snapshot import check_snapshot
from store import hub as hubstore
from store.db import Connection, atomic, require_transaction

HUB = "gpupulse_hub"
receive = Blueprint("gpupulse_hub_receive", __name__)
HUB_ERRORS = (400, 401, 403, 413, 429, 503)
ENDPOINTS = (
    Endpoint(
        "/api/v1/ingest",
        "Hub: store a host-hour pushed by a host's scheduler, or an array of them (Bearer host "
        "token, X-Contract-Number); echoes the body as params",
        JSON,
        errors=HUB_ERRORS,
        method="POST",
        body={"oneOf": [{"type": "object"}, {"type": "array", "items": {"type": "object"}}]},
    ),
    Endpoint(
        "/api/v1/status",
        "Hub: a host's live snapshot of GPUs, processes and reservations (Bearer host token)",
        JSON,
        errors=HUB_ERRORS,
        method="POST",
        body={"type": "object"},
    ),
)


class HubState:
    """Per-app hub state: its limits, writer connections, the app's clock and a cache."""

    def __init__(self, settings: HubSettings, db: str, clock) -> None:
        self.settings = settings
        self.writers = Writers(db)
        self.clock = clock
        self.fleet_rows = RenderCache(32)  # several hosts' summed roll-ups (api.hub.source)


class Refused(Exception):
    """A request the hub answers with `status` and a JSON error (plus headers)."""

    def __init__(self, status: int, message: str, field: str | None = None, **headers) -> None:
        super().__init__(message)
        self.status, self.message, self.field, self.headers = status, message, field, headers

    def response(self) -> tuple[Response, int, dict]:
        """The Flask response triple."""
        body = {"error": self.message, **({"field": self.field} if self.field else {})}
        return jsonify(body), self.status, self.headers


def hub_state() -> HubState:
    """The HubState of the app handling the current request."""
    return current_app.extensions[HUB]


def read_body(limit: int) -> bytes:
    """The request body, or 413 when it is over GPUPULSE_HUB_MAX_BODY."""
    size = request.content_length
    if size is not None and size > limit:
        raise Refused(
            413,
            f"body of {size} bytes is over the limit of {limit} bytes (GPUPULSE_HUB_MAX_BODY)",
            "body",
        )
    raw = request.stream.read(limit + 1)
    if len(raw) > limit:
        raise Refused(
            413, f"body is over the limit of {limit} bytes (GPUPULSE_HUB_MAX_BODY)", "body"
        )
    return raw


def authenticate(conn: Connection) -> tuple[int, str]:
    """(host id, name) for the request's bearer token, or 401."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    found = hubstore.token_host(conn, token.strip()) if scheme.lower() == "bearer" else None
    if found is None:
        raise Refused(
            401,
            "a valid host token is needed: Authorization: Bearer <token> "
            "from `gpupulse-api hosts add NAME` on the hub",
            "Authorization",
            **{"WWW-Authenticate": 'Bearer realm="gpu-pulse hub"'},
        )
    return found


def too_fast(wait: float) -> Refused:
    """429 telling the host when to come back."""
    return Refused(
        429,
        f"this host sends faster than GPUPULSE_HUB_RATE; retry in {wait:.1f} s",
        **{"Retry-After": str(max(1, math.ceil(wait)))},
    )


@dataclass(frozen=True)
class Admitted:
    """A request that passed the size, token, rate and body checks."""

    host: int
    name: str
    data: dict | list
    items: list[dict]  # the objects in the body that each name the sending host
    raw: bytes
    now: float


def admit(
    conn: Connection, check: Callable[[dict | list, float], list[dict]], lists: bool = False
) -> Admitted:
    """Size (413), token (401), rate (429, a first look), then the body (400) and its host
    (403); `check` validates the parsed body and returns the objects naming the host."""
    hub = hub_state()
    raw = read_body(hub.settings.max_body)
    host, name = authenticate(conn)
    now = hub.clock()
    wait = hubstore.rate_wait(conn, host, now, hub.settings.rate, hub.settings.burst)
    if wait > 0:
        raise too_fast(wait)
    data = parse_json(raw, lists=lists)
    items = check(data, now)
    for i, item in enumerate(items):
        if item["host"] != name:
            field = f"[{i}].host" if isinstance(data, list) else "host"
            raise Refused(403, f"this token belongs to host {name!r}, not {item['host']!r}", field)
    return Admitted(host, name, data, items, raw, now)


def spend(conn: Connection, host: int, now: float) -> None:
    """Take one request from the host's bucket; 429 if another worker won."""
    require_transaction(conn)
    s = hub_state().settings
    wait = hubstore.take_rate(conn, host, now, s.rate, s.burst)
    if wait > 0:
        raise too_fast(wait)


@receive.post("/api/v1/ingest")
def ingest() -> Response:
    """Store host-hours (upsert by host + GPU + hour) and echo the body for the sender's
    check: one payload answers {"uid"}, an array of them (a backlog) {"uids"} in order."""
    hub = hub_state()
    contract = request.headers.get(targoman.CONTRACT_HEADER, "")
    if hub.settings.contract_number and contract != hub.settings.contract_number:
        message = f"{targoman.CONTRACT_HEADER} does not match this hub's contract number"
        raise Refused(400, message, targoman.CONTRACT_HEADER)
    conn = hub.writers.get()
    s = hub.settings
    got = admit(
        conn, lambda data, now: check_ingest(data, now, s.max_skew_s, s.max_batch), lists=True
    )
    rows = [(hubstore.hour_rows(p), hubstore.payload_digest(p)) for p in got.items]
    with atomic(conn):  # only SQL in here: other workers wait for this lock
        spend(conn, got.host, got.now)
        uids = hubstore.receive_hours(conn, got.host, rows, got.now)
    body = targoman.reply_body(uids, got.raw, batch=isinstance(got.data, list))
    return Response(body, 200, mimetype=JSON)


@receive.post("/api/v1/status")
def status() -> tuple[Response, int]:
    """Keep a host's live snapshot (GPUs, processes, reservations)."""
    conn = hub_state().writers.get()
    got = admit(conn, lambda data, now: [check_snapshot(data)])
    with atomic(conn):
        spend(conn, got.host, got.now)
        hubstore.save_status(conn, got.host, got.data, int(got.data["every_s"]), got.now)
    return jsonify({"host": got.name, "received": int(got.now)}), 200


def refused(problem: Refused) -> tuple[Response, int, dict]:
    """401/403/413/429 (and 400 for headers) as JSON."""
    return problem.response()


def invalid(problem: Invalid) -> tuple[Response, int]:
    """400 naming the field."""
    return jsonify(problem.body()), 400


def init_app(app: Flask, api: ApiSettings) -> HubState:
    """The hub's state on an app, with the api's hub settings, and the receiving side's
    error handlers."""
    hub = app.extensions[HUB] = HubState(hub_settings(api), api.db, api.clock)
    app.teardown_appcontext(hub.writers.release)
    app.register_error_handler(Refused, refused)
    app.register_error_handler(Invalid, invalid)
    return hub
