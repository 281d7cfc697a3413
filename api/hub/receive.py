"""What hosts send to a hub: POST /api/v1/ingest (hourly aggregates, Targoman protocol) and
POST /api/v1/status (live snapshots). Each host authenticates with its own bearer token.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from flask import Blueprint, Flask, Response, current_app, jsonify, request

from api.catalog import JSON, Endpoint
from api.hub.settings import HubSettings, hub_settings
from api.hub.writers import Writers
from api.settings import ApiSettings
from api.svg_cache import RenderCache
from protocol import targoman, targoman_client
from protocol.fields import Invalid, parse_json
from protocol.ingest import check_ingest
from protocol.snapshot import check_snapshot
from store import hub as hubstore
from store.db import Connection, atomic

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

    def __init__(self, settings: HubSettings, db: str, clock, tz: ZoneInfo) -> None:
        self.settings = settings
        self.tz = tz  # zone-less times of Targoman hosts without a zone of their own
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


def authenticate(conn: Connection) -> tuple[hubstore.Sender, bool]:
    """The host of the request's bearer token, or of its X-Contract-Number for a host added
    with --targoman (whose unmodified client sends no Authorization); whether the token
    came as the contract number. 401 otherwise."""
    as_contract = request.headers.get("Authorization", "").partition(" ")[0].lower() != "bearer"
    found = hubstore.token_host(conn, presented_token(), as_contract=as_contract)
    if found is None:
        raise Refused(
            401,
            "a valid host token is needed: Authorization: Bearer <token> "
            "from `gpupulse-api hosts add NAME` on the hub (or, for a host added with "
            "--targoman, the token as X-Contract-Number)",
            "Authorization",
            **{"WWW-Authenticate": 'Bearer realm="gpu-pulse hub"'},
        )
    return found, as_contract


def too_fast(wait: float, key: str) -> Refused:
    """429 telling the client which limit it hit and when to come back."""
    who, setting = (
        ("this client address", "GPUPULSE_HUB_ADDRESS_RATE")
        if key.startswith("addr:")
        else ("this token", "GPUPULSE_HUB_RATE")
    )
    return Refused(
        429,
        f"{who} sends faster than {setting}; retry in {wait:.1f} s",
        **{"Retry-After": str(max(1, math.ceil(wait)))},
    )


def presented_token() -> str:
    """What the request offers as a token: its bearer token, else its X-Contract-Number."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer":
        return token.strip()
    return request.headers.get(targoman.CONTRACT_HEADER, "").strip()


def count_request(conn: Connection, now: float) -> None:
    """Take this request, whatever it holds, from its client address's bucket and from the
    bucket of the token it presents (if any); 429 when either is empty. It runs before the
    body is read, so a flood of invalid bodies or bad tokens costs little."""
    s = hub_state().settings
    token = presented_token()
    limits = [(f"token:{hubstore.hash_token(token)}", s.rate, s.burst)] if token else []
    limits.append((f"addr:{request.remote_addr}", s.address_rate, s.burst))
    refill_s = s.burst / min(s.rate, s.address_rate)
    with atomic(conn):
        wait, key = hubstore.take_requests(conn, limits, now, refill_s)
    if wait > 0:
        raise too_fast(wait, key)


@dataclass(frozen=True)
class Admitted:
    """A request that passed the size, token, rate and body checks."""

    host: int
    name: str
    data: dict | list
    items: list[dict]  # the objects in the body that each name the sending host
    raw: bytes
    now: float


Check = Callable[[dict | list, float, hubstore.Sender], list[dict]]


def admit(conn: Connection, check: Check, lists: bool = False, contract: bool = False) -> Admitted:
    """Rate (429, counting every request), size (413), token (401), the hub's contract
    number when `contract` and the token came as a bearer (400), then the body (400) and
    its host (403);
    `check` validates the parsed body and returns the objects naming the host."""
    hub = hub_state()
    now = hub.clock()
    count_request(conn, now)
    raw = read_body(hub.settings.max_body)
    sender, as_contract = authenticate(conn)
    if contract and not as_contract:
        check_contract(hub.settings.contract_number)
    data = parse_json(raw, lists=lists)
    items = check(data, now, sender)
    for i, item in enumerate(items):
        if item["host"] != sender.name:
            field = f"[{i}].host" if isinstance(data, list) else "host"
            message = f"this token belongs to host {sender.name!r}, not {item['host']!r}"
            raise Refused(403, message, field)
    return Admitted(sender.host, sender.name, data, items, raw, now)


def check_contract(expected: str) -> None:
    """400 unless the request carries the hub's contract number (when it has one)."""
    if expected and request.headers.get(targoman.CONTRACT_HEADER, "") != expected:
        message = f"{targoman.CONTRACT_HEADER} does not match this hub's contract number"
        raise Refused(400, message, targoman.CONTRACT_HEADER)


def ingest_check(data: dict | list, now: float, sender: hubstore.Sender) -> list[dict]:
    """The payloads of an ingest body; from a host added with --targoman, a single object
    may be what its Targoman client sends, completed first (protocol.targoman_client)."""
    hub = hub_state()
    s = hub.settings
    if isinstance(data, dict) and sender.targoman:
        tz = ZoneInfo(sender.tz) if sender.tz else hub.tz
        data = targoman_client.complete(data, sender.name, now, tz, s.threshold)
    return check_ingest(data, now, s.max_skew_s, s.max_batch)


@receive.post("/api/v1/ingest")
def ingest() -> Response:
    """Store host-hours (upsert by host + GPU + hour) and echo the body for the sender's
    check: one payload answers {"uid"}, an array of them (a backlog) {"uids"} in order."""
    hub = hub_state()
    conn = hub.writers.get()
    got = admit(conn, ingest_check, lists=True, contract=True)
    rows = [
        hubstore.Received(hubstore.hour_rows(p), hubstore.payload_digest(p), p.get("built_at"))
        for p in got.items
    ]
    with atomic(conn):  # only SQL in here: other workers wait for this lock
        uids = hubstore.receive_hours(conn, got.host, rows, got.now)
    body = targoman.reply_body(uids, got.raw, batch=isinstance(got.data, list))
    return Response(body, 200, mimetype=JSON)


@receive.post("/api/v1/status")
def status() -> tuple[Response, int]:
    """Keep a host's live snapshot (GPUs, processes, reservations)."""
    conn = hub_state().writers.get()
    skew = hub_state().settings.max_skew_s
    got = admit(conn, lambda data, now, sender: [check_snapshot(data, now, skew)])
    with atomic(conn):
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
    hub = app.extensions[HUB] = HubState(hub_settings(api), api.db, api.clock, api.tz)
    app.teardown_appcontext(hub.writers.release)
    app.register_error_handler(Refused, refused)
    app.register_error_handler(Invalid, invalid)
    return hub
