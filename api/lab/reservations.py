"""GET/POST/DELETE /api/v1/reservations: who has booked which GPU until when.

Reading is open like every other view. Writes need `Authorization: Bearer <token>` matching
GPUPULSE_ADMIN_TOKEN (compared in constant time); with no token configured they are refused
with 403 and how to enable them. Every write first deletes reservations that expired more
than two days ago.
"""

from __future__ import annotations

import hmac
import json
from contextlib import closing

from flask import Blueprint, Response, jsonify, request

from api.catalog import JSON, Endpoint
from api.gpus import known_gpus
from api.lab.params import DELETE_PARAMS
from api.lab.settings import lab_settings
from api.lab.until import BadUntil, iso, parse_until
from api.params import (
    NAME_PATTERN,
    TEXT_PATTERN,
    BadParam,
    checked_text,
    is_ascii_number,
    parse_query,
)
from api.state import state
from protocol.limits import MAX_GPU_INDEX
from store import atomic, open_db
from store.db import Connection
from store.reservations import Reservation, delete, list_reservations, prune, replace

bp = Blueprint("lab_reservations", __name__)
RESERVATION_BODY = {
    "type": "object",
    "required": ["gpu", "name", "until"],
    "additionalProperties": False,
    "properties": {
        "gpu": {"type": "integer", "minimum": 0, "maximum": MAX_GPU_INDEX},
        "name": {"type": "string", "minLength": 1, "maxLength": 64, "pattern": NAME_PATTERN},
        "until": {
            "type": "string",
            "minLength": 1,
            "maxLength": 64,
            "description": "ISO date-time, a date, or e.g. 2d 3h; in the coming year",
        },
        "comment": {"type": "string", "maxLength": 1000, "pattern": TEXT_PATTERN},
    },
}
ENDPOINTS = (
    Endpoint("/api/v1/reservations", "Reservations: who booked which GPU until when"),
    Endpoint(
        "/api/v1/reservations",
        "Book a GPU (Bearer GPUPULSE_ADMIN_TOKEN)",
        JSON,
        errors=(400, 401, 403, 413, 503),
        method="POST",
        body=RESERVATION_BODY,
        ok=201,
    ),
    Endpoint(
        "/api/v1/reservations",
        "Remove a reservation (Bearer GPUPULSE_ADMIN_TOKEN)",
        JSON,
        DELETE_PARAMS,
        (400, 401, 403, 404, 503),
        method="DELETE",
    ),
)
MAX_BODY = 16 * 1024
MAX_NAME, MAX_COMMENT = 64, 1000
FIELDS = ("gpu", "name", "until", "comment")
HOW_TO_ENABLE = (
    "reservation changes are turned off: set GPUPULSE_ADMIN_TOKEN on the api "
    "and send it as 'Authorization: Bearer <token>'"
)


def reservation_json(r: Reservation, now: float) -> dict:
    """A reservation for the API: raw fields, display names, ISO end, active flag."""
    app_state = state()
    names, tz = lab_settings(app_state.settings).names, app_state.settings.tz
    return {
        **r.as_dict(now),
        "display_name": names.user(r.name),
        "until_iso": iso(r.until, tz),
        "created_iso": iso(r.created, tz),
    }


@bp.get("/api/v1/reservations")
def list_all() -> Response:
    """Every reservation not yet deleted, active ones first-class, expired ones flagged."""
    app_state = state()
    now = app_state.now()
    rows = list_reservations(app_state.readers.get(), now)
    return jsonify(
        {
            "now": int(now),
            "timezone": app_state.settings.tz.key,
            "reservations": [reservation_json(r, now) for r in rows],
        }
    )


def refused() -> Response | None:
    """The 403/401/413 answer when this write may not go ahead, else None."""
    token = lab_settings(state().settings).admin_token
    if not token:
        return error(403, HOW_TO_ENABLE)
    scheme, _, sent = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(sent.strip().encode(), token.encode()):
        reply = error(401, "send 'Authorization: Bearer <GPUPULSE_ADMIN_TOKEN>'")
        reply.headers["WWW-Authenticate"] = 'Bearer realm="gpu-pulse"'
        return reply
    if (request.content_length or 0) > MAX_BODY:
        return error(413, f"the body is over {MAX_BODY // 1024} KiB")
    return None


def error(status: int, message: str) -> Response:
    """A JSON error response."""
    reply = jsonify({"error": message, "status": status})
    reply.status_code = status
    return reply


def read_body() -> dict | Response:
    """The JSON object sent (at most MAX_BODY bytes), or the 400/413 answer."""
    raw = request.stream.read(MAX_BODY + 1)
    if len(raw) > MAX_BODY:
        return error(413, f"the body is over {MAX_BODY // 1024} KiB")
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise BadParam("body", "the body must be a JSON object", list(FIELDS)) from None
    if not isinstance(body, dict):
        raise BadParam("body", "the body must be a JSON object", list(FIELDS))
    return body


def text_field(body: dict, name: str, limit: int, required: bool) -> str:
    """A string field, stripped and capped, without control characters; BadParam naming it
    otherwise."""
    value = body.get(name, "")
    allowed = f"text, 1..{limit} characters" if required else f"text, 0..{limit}"
    if not isinstance(value, str) or (required and not value.strip()) or len(value) > limit:
        need = "a non-empty string" if required else "a string"
        raise BadParam(name, f"{name} must be {need} of at most {limit} characters", allowed)
    return checked_text(name, value, f"{allowed}, no control characters").strip()


def gpu_field(conn: Connection, body: dict) -> int:
    """The GPU index sent, which must be a GPU this host has; BadParam naming `gpu`."""
    indices = sorted({g.index for g in known_gpus(conn)})
    value = body.get("gpu")
    if isinstance(value, str) and is_ascii_number(value.strip()):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value not in indices:
        raise BadParam("gpu", "gpu must be the index of a GPU on this host", indices)
    return value


def parse_reservation(body: dict, now: float) -> Reservation:
    """A Reservation from a POST body; BadParam naming the first bad field."""
    unknown = sorted(set(body) - set(FIELDS))
    if unknown:
        raise BadParam(unknown[0], f"unknown field {unknown[0][:40]!r}", list(FIELDS))
    gpu = gpu_field(state().readers.get(), body)
    name = text_field(body, "name", MAX_NAME, required=True)
    comment = text_field(body, "comment", MAX_COMMENT, required=False)
    try:
        until = parse_until(body.get("until"), now, state().settings.tz)
    except BadUntil as problem:
        raise BadParam("until", str(problem), "ISO date-time, a date, or e.g. 2d 3h") from None
    return Reservation(gpu=gpu, name=name, comment=comment, until=until, created=int(now))


def writer() -> Connection:
    """A connection for one write (writes are rare; readers stay read-only)."""
    return open_db(state().settings.db, write=True)


@bp.post("/api/v1/reservations")
def create() -> tuple[Response, int] | Response:
    """Book a GPU (replacing its current reservation); 201 with the reservation."""
    no = refused()
    if no is not None:
        return no
    body = read_body()
    if isinstance(body, Response):
        return body
    now = state().now()
    wanted = parse_reservation(body, now)
    with closing(writer()) as conn, atomic(conn):
        prune(conn, now)
        saved = replace(conn, wanted)
    return jsonify({"reservation": reservation_json(saved, now)}), 201


@bp.delete("/api/v1/reservations")
def remove() -> Response:
    """Remove a GPU's reservation (`gpu=INDEX`) or one by `id=`; 404 when there was none."""
    no = refused()
    if no is not None:
        return no
    query = parse_query(DELETE_PARAMS, request.args)
    if (query["gpu"] is None) == (query["id"] is None):
        raise BadParam("gpu", "give either gpu=INDEX or id=ID", ["gpu", "id"])
    now = state().now()
    with closing(writer()) as conn, atomic(conn):
        prune(conn, now)
        removed = delete(conn, gpu=query["gpu"], rid=query["id"])
    if not removed:
        return error(404, "no such reservation")
    return jsonify({"deleted": removed})
