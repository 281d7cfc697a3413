"""The OpenAPI document says what the parsers accept, checked against real gunicorn on
loopback: a request the document allows is answered, unless it breaks a rule between
parameters that a schema cannot state; and a method an endpoint lacks is a 405 with Allow."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests.support.lab import TOKEN, seed
from tests.support.servers import serving

pytestmark = pytest.mark.slow
METHODS = ("GET", "POST", "DELETE", "PUT", "PATCH")
# 400s a schema-valid request may still get: rules between parameters or about the data
# (a metric kept per user, a range's order and width, a GPU or host this server lacks, a
# booking's end in the coming year, one of gpu= or id=), which OpenAPI 3.0 cannot state.
NOT_IN_A_SCHEMA = (
    "is not recorded per user",
    "is after to",
    "span at most",
    "unknown gpu",
    "unknown host",
    "gpu must be the index of a GPU on this host",
    "give either gpu=INDEX or id=ID",
    "until ",
)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    from store import open_db

    path = tmp_path_factory.mktemp("contract") / "pulse.db"
    open_db(path, migrate=True).close()
    conn = open_db(path, write=True)
    seed(conn, int(time.time()))
    conn.close()
    with serving(path, workers=1, GPUPULSE_ADMIN_TOKEN=TOKEN) as (_proc, base):
        yield base


def answer(base: str, path: str, method: str) -> tuple[int, dict]:
    request = urllib.request.Request(base + path, method=method, data=b"" if method else None)
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return reply.status, dict(reply.headers)
    except urllib.error.HTTPError as reply:
        return reply.code, dict(reply.headers)


def test_a_method_an_endpoint_lacks_is_a_405_listing_allow(served):
    with urllib.request.urlopen(served + "/openapi.json", timeout=10) as reply:
        document = json.loads(reply.read())["paths"]
    for path, item in document.items():
        documented = {m.upper() for m in item}
        for method in sorted(set(METHODS) - documented):
            status, headers = answer(served, path, method)
            assert status == 405, (path, method, status)
            allow = {m.strip() for m in headers["Allow"].split(",")}
            assert allow - {"HEAD", "OPTIONS"} == documented, (path, allow)


def test_requests_the_document_allows_are_answered(served):
    schema = schemathesis.openapi.from_url(served + "/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    refused: list[tuple] = []

    for operation in operations:

        @given(case=operation.as_strategy(generation_mode=GenerationMode.POSITIVE))
        @settings(
            max_examples=25, deadline=None, database=None, suppress_health_check=list(HealthCheck)
        )
        def check(case):
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {TOKEN}"}
            response = case.call(timeout=10)
            assert response.status_code < 500, (case.path, case.query, response.text)
            if response.status_code == 400:
                error = response.json().get("error", "")
                if not any(reason in error for reason in NOT_IN_A_SCHEMA):
                    refused.append((case.method, case.path, case.query, case.body, error))
            case.validate_response(response, excluded_checks=[positive_data_acceptance])

        check()
    assert sorted({r[-1] for r in refused}) == [], refused[:5]
