"""The exchange around an hourly payload, compatible with Targoman's gpu_monitor client:
the request's headers and the receiver's reply.

A sender POSTs the payload as JSON with `X-Contract-Number` (and GPU Pulse's
`Authorization: Bearer` and `Idempotency-Key`). Success is HTTP 200 with a JSON object
holding `uid`; if it holds `params`, that must equal the body sent ("Server response data
does not match sent data"), else the attempt failed. A GPU Pulse hub also takes an array of
payloads and answers `uids`, one per payload in order, with the array as `params`.
"""

from __future__ import annotations

import json

import orjson

CONTRACT_HEADER = "X-Contract-Number"
IDEMPOTENCY_HEADER = "Idempotency-Key"


def request_headers(
    contract_number: str, idempotency_key: str | None, token: str
) -> dict[str, str]:
    """Targoman's two headers, plus the bearer token and the idempotency key when there are
    any (an array of payloads has none: each payload carries its own)."""
    out = {"Content-Type": "application/json", CONTRACT_HEADER: contract_number}
    if idempotency_key is not None:
        out[IDEMPOTENCY_HEADER] = idempotency_key
    if token:
        out["Authorization"] = f"Bearer {token}"
    return out


def reply_body(uids: list[str], received: bytes, batch: bool) -> bytes:
    """The receiver's 200 body: the uid (an array's uids) and the body as received, verbatim,
    as `params`, so it equals what was sent whatever its spacing."""
    head = b'{"uids":' + orjson.dumps(uids) if batch else b'{"uid":' + orjson.dumps(uids[0])
    return head + b',"params":' + received + b"}"


class BadReply(ValueError):
    """A 200 reply that does not confirm the push; `uid` when the receiver named one."""

    def __init__(self, message: str, uid: str | None = None) -> None:
        super().__init__(message)
        self.uid = uid


def _answer(body: bytes, sent: dict | list, key: str) -> object:
    """The reply's `key`, once the reply is a JSON object whose `params` (if any) is `sent`."""
    try:
        answer = json.loads(body)
    except ValueError:
        raise BadReply("Server response is not valid JSON") from None
    if not isinstance(answer, dict):
        raise BadReply("Server response is not a valid JSON object")
    if key not in answer:
        raise BadReply(f"Server response missing required '{key}' field")
    value = answer[key]
    if "params" in answer and answer["params"] != sent:
        uid = str(value) if key == "uid" else None
        raise BadReply("Server response data does not match sent data", uid)
    return value


def read_uid(body: bytes, sent: dict) -> str:
    """The uid confirming one payload; BadReply saying why the reply does not."""
    return str(_answer(body, sent, "uid"))


def read_uids(body: bytes, sent: list) -> list[str]:
    """The uids confirming an array of payloads, one each in order; BadReply otherwise."""
    uids = _answer(body, sent, "uids")
    if not (isinstance(uids, list) and len(uids) == len(sent)):
        raise BadReply(f"Server response 'uids' does not hold {len(sent)} uids")
    return [str(uid) for uid in uids]
