"""What hosts send to a hub: POST /api/v1/ingest (hourly aggregates, Targoman protocol) and
POST /api/v1/status (live snapshots). Each host authenticates with its own bearer token.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass

from flask import Blueprint, Response, current_app, jsonify, request

from api.hub.settings import HubSettings
from api.hub.validate import Invalid, check_hourly, check_snapshot, parse_json
from api.hub.writers import Writers
from api.settings import ApiSettings
from api.svg_cache import RenderCache
from store import hub as hubstore
from store.db import Connection, write

HUB = "gpupulse_hub"
JSON = "application/json"
receive = Blueprint("gpupulse_hub_receive", __name__)


class HubState:
    """Per-app hub state: its limits, writer connections, the app's clock and a cache."""

    def __init__(self, settings: HubSettings, db: str, clock) -> None:
        self.settings = settings
        self.writers = Writers(db)
        self.clock = clock
        self.fleet_rows = RenderCache(32)  # several hosts' summed roll-ups (api.hub.hostview)


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
        raise Refused(413, f"body of {size} bytes is over the limit of {limit} bytes "
                           "(GPUPULSE_HUB_MAX_BODY)", "body")  # fmt: skip
    raw = request.stream.read(limit + 1)
    if len(raw) > limit:
        raise Refused(413, f"body is over the limit of {limit} bytes (GPUPULSE_HUB_MAX_BODY)",
                      "body")  # fmt: skip
    return raw


def authenticate(conn: Connection) -> tuple[int, str]:
    """(host id, name) for the request's bearer token, or 401."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    found = hubstore.token_host(conn, token.strip()) if scheme.lower() == "bearer" else None
    if found is None:
        raise Refused(401, "a valid host token is needed: Authorization: Bearer <token> "
                           "from `gpupulse-api hosts add NAME` on the hub", "Authorization",
                      **{"WWW-Authenticate": 'Bearer realm="gpu-pulse hub"'})  # fmt: skip
    return found


def too_fast(wait: float) -> Refused:
    """429 telling the host when to come back."""
    return Refused(429, f"this host sends faster than GPUPULSE_HUB_RATE; retry in {wait:.1f} s",
                   **{"Retry-After": str(max(1, math.ceil(wait)))})  # fmt: skip


@dataclass(frozen=True)
class Admitted:
    """A request that passed the size, token, rate and body checks."""

    host: int
    name: str
    data: dict
    raw: bytes
    now: float


def admit(conn: Connection, check: Callable[[dict, float], object]) -> Admitted:
    """Size (413), token (401), rate (429, a first look), then the body (400) and its host."""
    hub = hub_state()
    raw = read_body(hub.settings.max_body)
    host, name = authenticate(conn)
    now = hub.clock()
    wait = hubstore.rate_wait(conn, host, now, hub.settings.rate, hub.settings.burst)
    if wait > 0:
        raise too_fast(wait)
    data = parse_json(raw)
    check(data, now)
    if data["host"] != name:
        raise Refused(403, f"this token belongs to host {name!r}, not {data['host']!r}", "host")
    return Admitted(host, name, data, raw, now)


def spend(conn: Connection, host: int, now: float) -> None:
    """Take one request from the host's bucket (inside the write); 429 if another worker won."""
    s = hub_state().settings
    wait = hubstore.take_rate(conn, host, now, s.rate, s.burst)
    if wait > 0:
        raise too_fast(wait)


@receive.post("/api/v1/ingest")
def ingest() -> Response:
    """Store one host-hour (upsert by host + GPU + hour); echo it for the sender's check."""
    hub = hub_state()
    contract = request.headers.get("X-Contract-Number", "")
    if hub.settings.contract_number and contract != hub.settings.contract_number:
        raise Refused(400, "X-Contract-Number does not match this hub's contract number",
                      "X-Contract-Number")  # fmt: skip
    conn = hub.writers.get()
    got = admit(conn, lambda data, now: check_hourly(data, now, hub.settings.max_skew_s))
    hour, digest = got.data["hour"], hashlib.sha256(got.raw).hexdigest()
    with write(conn):
        spend(conn, got.host, got.now)
        old = hubstore.receipt(conn, got.host, hour)
        if old is not None and old[1] == digest:
            uid = old[0]  # a retry or --resend of what is stored: nothing changes
        else:
            hubstore.save_hour(conn, got.host, got.data, got.now)
            uid = hubstore.record_receipt(conn, got.host, hour, digest, got.now)
    # The body as received goes back verbatim as `params`, so it equals what was sent.
    body = b'{"uid":"' + uid.encode() + b'","params":' + got.raw + b"}"
    return Response(body, 200, mimetype=JSON)


@receive.post("/api/v1/status")
def status() -> tuple[Response, int]:
    """Keep a host's live snapshot (GPUs, processes, reservations)."""
    conn = hub_state().writers.get()
    got = admit(conn, lambda data, now: check_snapshot(data))
    with write(conn):
        spend(conn, got.host, got.now)
        hubstore.save_status(conn, got.host, got.data, int(got.data["every_s"]), got.now)
    return jsonify({"host": got.name, "received": int(got.now)}), 200


def refused(problem: Refused) -> tuple[Response, int, dict]:
    """401/403/413/429 (and 400 for headers) as JSON."""
    return problem.response()


def invalid(problem: Invalid) -> tuple[Response, int]:
    """400 naming the field."""
    return jsonify(problem.body()), 400


def init_app(app, api: ApiSettings, settings: HubSettings | None = None) -> None:
    """Register the hub's endpoints and error handlers on an app."""
    app.extensions[HUB] = HubState(settings or HubSettings.from_env(), api.db, api.clock)
    app.register_blueprint(receive)
    app.register_error_handler(Refused, refused)
    app.register_error_handler(Invalid, invalid)
