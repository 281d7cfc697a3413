"""The hub's rate limits against a real gunicorn: every request counts, per token and per
client address, whether its body is invalid, its host wrong or its token bad; the answer
past the burst is 429 with Retry-After, and other addresses are not slowed down."""

from __future__ import annotations

import http.client
import json
import secrets
import urllib.parse

import pytest

from tests.support.hub import as_host, new_token
from tests.support.servers import start_gunicorn, stop

pytestmark = pytest.mark.slow
BURST = 4


@pytest.fixture
def hub(hub_db):
    proc, url = start_gunicorn(
        hub_db,
        GPUPULSE_HUB_RATE="0.01",
        GPUPULSE_HUB_ADDRESS_RATE="0.01",
        GPUPULSE_HUB_BURST=str(BURST),
    )
    yield url
    assert "Traceback" not in stop(proc)


def post_from(address: str, url: str, body: bytes, token: str) -> tuple[int, dict, dict]:
    """POST to the ingest from a loopback `address`: (status, headers, JSON body)."""
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(
        parts.hostname, parts.port, timeout=10, source_address=(address, 0)
    )
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    try:
        conn.request("POST", "/api/v1/ingest", body=body, headers=headers)
        answer = conn.getresponse()
        return answer.status, dict(answer.headers), json.loads(answer.read())
    finally:
        conn.close()


def test_invalid_and_wrong_host_requests_count_against_the_token(fleet, hub_db, hub):
    token = new_token(hub_db)
    good = fleet.body(fleet.hours()[0])
    wrong_host = json.dumps(as_host(good, "someone-else")).encode()
    bad = [b"{not json", wrong_host, b'{"host": "box1"}', b"[1, 2]"]
    codes = [post_from("127.0.0.2", hub, body, token)[0] for body in bad]
    assert codes == [400, 403, 400, 400]
    status, headers, body = post_from("127.0.0.2", hub, good, token)
    assert status == 429 and int(headers["Retry-After"]) >= 1
    assert "GPUPULSE_HUB_RATE" in body["error"]


def test_bad_tokens_count_against_their_client_address(fleet, hub_db, hub):
    good = fleet.body(fleet.hours()[0])
    guesses = [f"gpp_1_{secrets.token_urlsafe(32)}" for _ in range(BURST + 1)]
    codes = [post_from("127.0.0.3", hub, good, guess)[0] for guess in guesses[:BURST]]
    assert codes == [401] * BURST
    status, headers, body = post_from("127.0.0.3", hub, good, guesses[BURST])
    assert status == 429 and int(headers["Retry-After"]) >= 1
    assert "GPUPULSE_HUB_ADDRESS_RATE" in body["error"]
    token = new_token(hub_db)  # the real host, from another address, is not slowed down
    assert post_from("127.0.0.4", hub, good, token)[0] == 200
