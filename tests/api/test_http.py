"""Endpoints through Flask's test client over a real database file."""

from __future__ import annotations

import gzip
import re

import pytest
from prometheus_client.parser import text_string_to_metric_families

from store.db import atomic
from store.schema import SCHEMA_VERSION
from tests.support.app import NOW, make_app
from tests.support.rows import (
    add_days,
    add_gpu,
    add_hour,
    add_process,
    add_sample,
    set_meta_value,
)


def test_svg_headers(client):
    response = client.get("/gpu-activity.svg")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "image/svg+xml; charset=utf-8"
    assert response.headers["Cache-Control"] == "public, max-age=300"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "script-src" not in csp  # falls back to none
    etag = response.headers["ETag"]
    assert etag.startswith('"') and etag.endswith('"') and not etag.startswith("W/")


def test_gzip_variant(client):
    plain = client.get("/gpu-activity.svg")
    packed = client.get("/gpu-activity.svg", headers={"Accept-Encoding": "gzip, br"})
    assert packed.headers["Content-Encoding"] == "gzip" and "Content-Encoding" not in plain.headers
    assert gzip.decompress(packed.data) == plain.data
    assert len(packed.data) * 5 < len(plain.data)
    assert packed.headers["ETag"] != plain.headers["ETag"]
    assert packed.headers["Vary"] == plain.headers["Vary"] == "Accept-Encoding"
    again = client.get(
        "/gpu-activity.svg",
        headers={"Accept-Encoding": "gzip", "If-None-Match": packed.headers["ETag"]},
    )
    assert again.status_code == 304


def test_cache_max_age_setting(db_path):
    response = make_app(db_path, cache_max_age=60).test_client().get("/gpu-activity.svg")
    assert response.headers["Cache-Control"] == "public, max-age=60"


def test_etag_and_304(client):
    first = client.get("/gpu-activity.svg?theme=dark")
    etag = first.headers["ETag"]
    again = client.get("/gpu-activity.svg?theme=dark", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""
    assert again.headers["ETag"] == etag
    weak = client.get("/gpu-activity.svg?theme=dark", headers={"If-None-Match": f"W/{etag}"})
    assert weak.status_code == 304
    listed = client.get(
        "/gpu-activity.svg?theme=dark", headers={"If-None-Match": f'"nope", {etag}'}
    )
    assert listed.status_code == 304
    other = client.get("/gpu-activity.svg?theme=light", headers={"If-None-Match": etag})
    assert other.status_code == 200 and other.headers["ETag"] != etag


def test_cache_is_keyed_on_the_data_version(conn, db_path):
    app = make_app(db_path)
    client = app.test_client()
    before = client.get("/gpu-activity.svg")
    # A write without a version bump stays invisible: the cached SVG is served.
    with atomic(conn):
        conn.execute(
            "INSERT INTO daily (day, gpu, samples, active_minutes, gpu_minutes) "
            "VALUES ('2026-03-03', 0, 1, 120, 120)"
        )
    assert client.get("/gpu-activity.svg").headers["ETag"] == before.headers["ETag"]
    add_days(conn, {"2026-03-02": 30})  # bumps data_version like the scheduler
    after = client.get("/gpu-activity.svg", headers={"If-None-Match": before.headers["ETag"]})
    assert after.status_code == 200 and after.headers["ETag"] != before.headers["ETag"]
    assert b"2 h of GPU activity on Tuesday, March 3, 2026" in after.data


def test_cached_request_runs_one_query(conn, db_path):
    add_gpu(conn, 1, 0, "GPU-aaaa", "A100")
    add_days(conn, {"2026-03-03": 60}, gpu=1)
    app = make_app(db_path)
    client = app.test_client()
    assert client.get("/gpu-activity.svg?gpu=0").status_code == 200
    statements = []
    app.extensions["gpupulse"].readers.get().set_trace_callback(statements.append)
    assert client.get("/gpu-activity.svg?gpu=0").status_code == 200
    assert len(statements) == 1 and "data_version" in statements[0]


BAD_SVG = [
    ("theme=purple", "theme"),
    ("theme=", "theme"),
    ("weeks=0", "weeks"),
    ("weeks=54", "weeks"),
    ("weeks=abc", "weeks"),
    ("weeks=1.5", "weeks"),
    ("metric=commits", "metric"),
    ("scale=log", "scale"),
    ("gpu=7", "gpu"),
    ("gpu=GPU-nope", "gpu"),
    ("user=alice&metric=energy", "metric"),
    ("user=" + "x" * 200, "user"),
]


@pytest.mark.parametrize(("query", "param"), BAD_SVG)
def test_svg_bad_parameters(client, query, param):
    response = client.get(f"/gpu-activity.svg?{query}")
    assert response.status_code == 400
    body = response.get_json()
    assert body["parameter"] == param and param in body["error"]
    assert body["allowed"]


def test_400_lists_the_allowed_values(conn, db_path):
    add_gpu(conn, 1, 0, "GPU-aaaa", "A100")
    client = make_app(db_path).test_client()
    assert client.get("/gpu-activity.svg?theme=x").get_json()["allowed"] == [
        "light",
        "dark",
        "auto",
    ]
    assert client.get("/gpu-activity.svg?weeks=99").get_json()["allowed"] == "1..53"
    assert client.get("/gpu-activity.svg?gpu=3").get_json()["allowed"] == ["all", "0", "GPU-aaaa"]


BAD_RANGES = [
    ("from=2026-13-01", "from"),
    ("from=yesterday", "from"),
    ("to=2026-02-30", "to"),
    ("to=20260301", "to"),
    ("from=1969-12-31", "from"),
    ("from=2026-03-04&to=2026-03-01", "from"),
    ("gpu=9", "gpu"),
]


@pytest.mark.parametrize("path", ["/api/v1/days", "/api/v1/hours"])
@pytest.mark.parametrize(("query", "param"), BAD_RANGES)
def test_range_bad_parameters(client, path, query, param):
    response = client.get(f"{path}?{query}")
    assert response.status_code == 400
    assert response.get_json()["parameter"] == param


def test_unknown_path_and_method(client):
    response = client.get("/nope")
    assert response.status_code == 404 and response.get_json()["status"] == 404
    response = client.post("/gpu-activity.svg")
    assert response.status_code == 405 and response.is_json


def test_unexpected_error_is_json_without_traceback(db_path):
    app = make_app(db_path)

    def boom():
        raise RuntimeError("secret internals")

    app.add_url_rule("/boom", view_func=boom)
    response = app.test_client().get("/boom")
    assert response.status_code == 500 and response.is_json
    assert "secret" not in response.get_data(as_text=True)
    assert "Traceback" not in response.get_data(as_text=True)


def test_health_states(conn, db_path):
    client = make_app(db_path).test_client()
    empty = client.get("/health")
    assert empty.status_code == 503 and empty.get_json()["status"] == "stale"
    add_gpu(conn, 1, 0, "GPU-aaaa", "A100")
    add_sample(conn, int(NOW) - 10, 1)
    ok = client.get("/health")
    body = ok.get_json()
    assert ok.status_code == 200 and body["status"] == "ok"
    assert body["schema_version"] == SCHEMA_VERSION and body["newest_sample_age_s"] == 10
    stale = make_app(db_path, now=NOW + 16).test_client().get("/health")  # 26 s > 3 x 5 s
    assert stale.status_code == 503 and stale.get_json()["status"] == "stale"
    set_meta_value(conn, "interval", "60")
    assert make_app(db_path, now=NOW + 16).test_client().get("/health").status_code == 200


def test_health_error_when_database_unreadable(tmp_path):
    client = make_app(tmp_path / "missing.db").test_client()
    response = client.get("/health")
    assert response.status_code == 503 and response.get_json()["status"] == "error"
    assert client.get("/gpu-activity.svg").status_code == 503
    (tmp_path / "garbage.db").write_bytes(b"this is not sqlite" * 100)
    broken = make_app(tmp_path / "garbage.db").test_client()
    assert broken.get("/health").get_json()["status"] == "error"
    assert broken.get("/api/v1/days").status_code == 503


def test_days(conn, db_path):
    add_gpu(conn, 1, 0, "GPU-aaaa", "A100")
    add_days(conn, {"2026-03-01": 60, "2026-03-03": 30})
    add_days(conn, {"2026-03-03": 30}, gpu=1)
    client = make_app(db_path).test_client()
    body = client.get("/api/v1/days?from=2026-03-02&to=2026-03-04").get_json()
    assert [(r["day"], r["scope"], r["gpu_index"], r["uuid"]) for r in body["days"]] == [
        ("2026-03-03", "host", None, None),
        ("2026-03-03", "gpu", 0, "GPU-aaaa"),
    ]
    assert set(body["days"][0]) >= {"active_minutes", "gpu_minutes", "energy_kwh", "samples"}
    assert not any("gpu" in r or "gpu_uuid" in r for r in body["days"])  # no internal id
    for ref in ("GPU-aaaa", "0"):  # the GPU with index 0: its own row, never the host's
        one = client.get(f"/api/v1/days?gpu={ref}").get_json()
        assert [(r["scope"], r["gpu_index"]) for r in one["days"]] == [("gpu", 0)]
    default = client.get("/api/v1/days").get_json()
    assert (default["from"], default["to"]) == ("2026-02-03", "2026-03-04")


def test_hours(conn, db_path):
    add_gpu(conn, 1, 0, "GPU-aaaa", "A100")
    add_gpu(conn, 2, 1, "GPU-bbbb", "H100")
    day_start = int(NOW) - 15 * 3600  # 2026-03-04 00:00 UTC
    add_hour(conn, day_start - 3600, 1, 100)  # the day before: outside the default range
    add_hour(conn, day_start, 1, 200)
    add_hour(conn, day_start + 3600, 2, 300)
    client = make_app(db_path).test_client()
    body = client.get("/api/v1/hours").get_json()
    assert [(h["hour"], h["uuid"]) for h in body["hours"]] == [
        (day_start, "GPU-aaaa"),
        (day_start + 3600, "GPU-bbbb"),
    ]
    only = client.get("/api/v1/hours?gpu=1&from=2026-03-03").get_json()
    assert [h["active_s"] for h in only["hours"]] == [300]


def test_gpus(conn, db_path):
    add_gpu(conn, 1, 0, "GPU-aaaa", "A100")
    add_sample(conn, int(NOW) - 5, 1, util=77)
    add_process(conn, int(NOW) - 5, 1, 4242, "alice", 2048)
    body = make_app(db_path).test_client().get("/api/v1/gpus").get_json()
    (gpu,) = body["gpus"]
    assert gpu["uuid"] == "GPU-aaaa" and gpu["util"] == 77
    assert gpu["processes"][0]["pid"] == 4242 and gpu["processes"][0]["user"] == "alice"
    assert body["newest_sample_ts"] == int(NOW) - 5


def test_metrics_parse(conn, db_path):
    add_gpu(conn, 1, 0, "GPU-aaaa", "A100")
    add_gpu(conn, 2, 1, "GPU-bbbb", 'H100 "quoted"\\')
    add_sample(conn, int(NOW) - 5, 1, util=77, power_dw=3005, sm_mhz=1410)
    add_sample(conn, int(NOW) - 5, 2, util=None, temp_c=None)
    add_process(conn, int(NOW) - 5, 1, 1, "alice", 1000)
    add_process(conn, int(NOW) - 5, 1, 2, "alice", 24)
    add_process(conn, int(NOW) - 5, 1, 3, "bob", 10)
    response = make_app(db_path).test_client().get("/metrics")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(response.get_data(as_text=True))}
    util = {s.labels["uuid"]: s.value for s in families["gpupulse_gpu_utilization_percent"].samples}
    assert util == {"GPU-aaaa": 77}  # GPU-bbbb reports no utilization: no sample, not 0
    power = families["gpupulse_gpu_power_watts"].samples[0]
    assert power.value == pytest.approx(300.5)
    assert families["gpupulse_gpu_sm_clock_hertz"].samples[0].value == 1410e6
    assert families["gpupulse_gpu_energy_joules"].type == "counter"
    users = {s.labels["user"]: s.value for s in families["gpupulse_user_gpu_memory_bytes"].samples}
    assert users == {"alice": 1024 * 2**20, "bob": 10 * 2**20}
    newest = families["gpupulse_newest_sample_timestamp_seconds"].samples[0].value
    assert newest == int(NOW) - 5
    names = {s.labels["name"] for s in families["gpupulse_gpu_lost"].samples}
    assert names == {"A100", 'H100 "quoted"\\'}


def test_info_lists_every_endpoint_with_defaults(client):
    for path in ("/", "/api"):
        body = client.get(path).get_json()
        paths = {e["path"]: e for e in body["endpoints"]}
        svg = {p["name"]: p for p in paths["/gpu-activity.svg"]["parameters"]}
        assert svg["weeks"]["default"] == 53 and svg["theme"]["default"] == "light"
        assert svg["metric"]["allowed"] == ["active_minutes", "gpu_hours", "utilization", "energy"]


def flask_routes(app) -> set[tuple[str, str]]:
    """Every (path, method) the app serves, HEAD and OPTIONS aside."""
    return {
        (re.sub(r"<(\w+)>", r"{\1}", rule.rule), method)  # /gpus/<gpu> is /gpus/{gpu}
        for rule in app.url_map.iter_rules()
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }


def test_openapi_in_step_with_the_url_map(db_path):
    app = make_app(db_path)
    doc = app.test_client().get("/openapi.json").get_json()
    assert doc["openapi"].startswith("3.")
    documented = {(path, m.upper()) for path, ops in doc["paths"].items() for m in ops}
    assert documented == flask_routes(app)
    info = app.test_client().get("/").get_json()
    assert {(e["path"], e["method"]) for e in info["endpoints"]} == flask_routes(app)
    svg_params = {p["name"] for p in doc["paths"]["/gpu-activity.svg"]["get"]["parameters"]}
    assert svg_params == {"theme", "weeks", "metric", "gpu", "user", "scale", "host"}


def test_parsed_svg_queries_are_reused_but_bad_ones_never_remembered(db_path):
    client = make_app(db_path).test_client()
    for _ in range(2):  # the second bad request must be refused just the same
        bad = client.get("/gpu-activity.svg?theme=sepia")
        assert bad.status_code == 400 and bad.get_json()["parameter"] == "theme"
    first = client.get("/gpu-activity.svg?theme=dark&weeks=4")
    again = client.get("/gpu-activity.svg?theme=dark&weeks=4")
    assert first.status_code == again.status_code == 200
    assert first.headers["ETag"] == again.headers["ETag"]
    assert first.data == again.data
    other = client.get("/gpu-activity.svg?theme=light&weeks=4")
    assert other.headers["ETag"] != first.headers["ETag"]


def test_days_and_hours_rows_match_their_documented_schema(conn, db_path):
    """Every row names its scope as /openapi.json says: the host row with null index and
    UUID, a GPU's row with both; no other key the document does not list as a figure."""
    add_gpu(conn, 1, 0, "GPU-aaaa", "A100")
    add_days(conn, {"2026-03-03": 30})
    add_days(conn, {"2026-03-03": 30}, gpu=1)
    add_hour(conn, int(NOW) - 3600, 0, 100)
    add_hour(conn, int(NOW) - 3600, 1, 100)
    client = make_app(db_path).test_client()
    doc = client.get("/openapi.json").get_json()["paths"]
    for path, key in (("/api/v1/days?from=2026-03-01", "days"), ("/api/v1/hours", "hours")):
        ok = doc[path.split("?")[0]]["get"]["responses"]["200"]["content"]["application/json"]
        row_schema = ok["schema"]["properties"][key]["items"]
        rows = client.get(path).get_json()[key]
        assert {r["scope"] for r in rows} == set(row_schema["properties"]["scope"]["enum"])
        for row in rows:
            assert set(row_schema["required"]) <= set(row)
            assert set(row_schema["properties"]) <= set(row)
            host = row["scope"] == "host"
            assert (row["gpu_index"] is None, row["uuid"] is None) == (host, host)
