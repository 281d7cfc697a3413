"""Real gunicorn on loopback, started through `gpupulse-api`, against a real database file."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.rows import add_days, add_gpu, add_sample, seed_fresh_host
from tests.support.servers import free_port, serving, start_gunicorn, stop
from tests.support.svg_parse import day_cells, parse

pytestmark = pytest.mark.slow


def fetch(url: str, headers: dict | None = None) -> tuple[int, dict, bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return reply.status, dict(reply.headers), reply.read()
    except urllib.error.HTTPError as reply:
        return reply.code, dict(reply.headers), reply.read()


def cli(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", "from api.cli import main; raise SystemExit(main())", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def server(conn, db_path):
    seed_fresh_host(conn)  # stays fresh for the whole test
    with serving(db_path) as (proc, base):
        yield base, proc


def test_smoke(server):
    base, _ = server
    status, headers, body = fetch(base + "/health")
    assert status == 200 and json.loads(body)["status"] == "ok"

    status, headers, body = fetch(base + "/gpu-activity.svg?theme=auto&weeks=10")
    assert status == 200 and headers["Content-Type"] == "image/svg+xml; charset=utf-8"
    assert len(day_cells(parse(body))) > 63
    status, _, body304 = fetch(
        base + "/gpu-activity.svg?theme=auto&weeks=10", {"If-None-Match": headers["ETag"]}
    )
    assert status == 304 and body304 == b""

    status, _, body = fetch(base + "/metrics")
    families = {f.name for f in text_string_to_metric_families(body.decode())}
    assert {"gpupulse_gpu_utilization_percent", "gpupulse_user_gpu_memory_bytes"} <= families

    status, _, body = fetch(base + "/gpu-activity.svg?weeks=99")
    assert status == 400 and json.loads(body)["parameter"] == "weeks"
    status, _, body = fetch(base + "/no/such/path")
    assert status == 404 and json.loads(body)["status"] == 404
    status, _, body = fetch(base + "/api/v1/gpus")
    assert json.loads(body)["gpus"][0]["processes"][0]["user"] == "carol"


def test_workers_serve_concurrently_after_fork(server):
    base, _ = server
    # Many requests over fresh connections land on both workers; each opened its own reader.
    for _ in range(20):
        assert fetch(base + "/api/v1/days")[0] == 200


def test_healthcheck_command(server, db_path):
    import os

    base, _ = server
    env = {**os.environ, "GPUPULSE_API_BIND": "0.0.0.0:" + base.rsplit(":", 1)[1]}
    done = cli("--healthcheck", env=env)
    assert done.returncode == 0 and done.stdout.startswith("ok")
    assert len(done.stdout.strip().splitlines()) == 1


def test_healthcheck_fails_in_one_line_when_nothing_listens(tmp_path):
    import os

    env = {**os.environ, "GPUPULSE_API_BIND": f"127.0.0.1:{free_port()}"}
    done = cli("--healthcheck", env=env)
    assert done.returncode == 1 and done.stdout.startswith("unhealthy: cannot reach")
    assert len(done.stdout.strip().splitlines()) == 1


def test_healthcheck_reports_stale(conn, db_path):
    import os

    add_gpu(conn, 1, 0, "GPU-aaaa", "A100", seen=1000)
    add_sample(conn, 1000, 1)
    proc, base = start_gunicorn(db_path, workers=1)
    try:
        env = {**os.environ, "GPUPULSE_API_BIND": "127.0.0.1:" + base.rsplit(":", 1)[1]}
        done = cli("--healthcheck", env=env)
    finally:
        stop(proc)
    assert done.returncode == 1 and done.stdout.startswith("unhealthy: stale")


def test_bad_setting_is_one_line(db_path):
    import os

    env = {**os.environ, "GPUPULSE_DB": str(db_path), "GPUPULSE_API_WORKERS": "lots"}
    # The healthcheck answers at once; serving waits first (tests/test_setting_errors.py).
    done = cli("healthcheck", env=env)
    assert done.returncode == 2
    assert done.stderr.strip() == "gpupulse-api: GPUPULSE_API_WORKERS='lots' is not a number"


def test_render_svg_command(conn, db_path, tmp_path):
    import os

    add_days(conn, {time.strftime("%Y-%m-%d", time.gmtime()): 100})
    out = tmp_path / "gpu-activity-dark.svg"
    env = dict(os.environ)
    done = cli("render-svg", "--db", str(db_path), "--theme", "dark", "--out", str(out), env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    cells = day_cells(parse(out.read_bytes()))
    assert cells[-1].get("fill") == "#56d364"  # the only active day, dark level 4
    bad = cli("render-svg", "--db", str(db_path), "--theme", "pink", "--out", str(out), env=env)
    assert bad.returncode == 2
    assert bad.stderr.strip().startswith("gpupulse-api: --theme: unknown theme 'pink'")
    missing = cli("render-svg", "--db", str(tmp_path / "none.db"), "--out", str(out), env=env)
    assert missing.returncode == 2 and "does not exist" in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1
