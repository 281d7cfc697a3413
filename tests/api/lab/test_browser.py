"""The status page in a real browser: headless Chromium loads `/` from real gunicorn on
loopback; the GPU rows, a reservation and a process show, hostile names as text, and a
screenshot is saved under the test's temp directory."""

from __future__ import annotations

import json
import re
import time
import urllib.request

import pytest

from tests.support.browser import CHROMIUM, chromium
from tests.support.lab import HOSTILE, TOKEN, seed
from tests.support.rows import add_days, add_hour, add_user_days, set_meta_value
from tests.support.servers import start_gunicorn, stop

pytestmark = pytest.mark.slow


@pytest.fixture
def server(conn, db_path):
    now = int(time.time())
    seed(conn, now)
    set_meta_value(conn, "interval", "600")  # fresh for the whole test
    today = time.strftime("%Y-%m-%d", time.gmtime(now))
    add_days(conn, {today: 240, time.strftime("%Y-%m-%d", time.gmtime(now - 86400)): 60})
    add_hour(conn, now // 3600 * 3600 - 3600, 0, 5400)
    add_user_days(conn, "alice", {today: 12 * 3600}, gpu=1)  # over her 10 h quota
    env = {
        "GPUPULSE_ADMIN_TOKEN": TOKEN,
        "GPUPULSE_GPU_NAMES": "NVIDIA GeForce RTX 4090=4090",
        "GPUPULSE_QUOTAS": "alice=10,*=100",
    }
    proc, base = start_gunicorn(db_path, workers=1, **env)
    yield base
    log = stop(proc)
    assert "Traceback" not in log, log


def reserve(base: str, body: dict) -> int:
    request = urllib.request.Request(
        base + "/api/v1/reservations",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as reply:
        return reply.status


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium package is not installed")
def test_status_page_in_headless_chromium(server, tmp_path):
    assert (
        reserve(server, {"gpu": 1, "name": "bob", "until": "3h", "comment": f"{HOSTILE} sweep"})
        == 201
    )
    done = chromium(tmp_path, "--dump-dom", server + "/")
    assert done.returncode == 0, done.stderr[-2000:]
    dom = done.stdout
    assert len(re.findall(r'<tr class="gpu[ "]', dom)) == 2 and 'data-gpu-index="1"' in dom
    assert "4090" in dom and "NVIDIA A100" in dom
    assert re.search(r"4242@alice</code>\s*<span class=\"cmd\">python train.py", dom)
    assert "<strong>bob</strong>" in dom and "sweep" in dom  # the reservation, on GPU #1
    # Hostile text is shown escaped; the only script element is the page's own.
    assert '4343@&lt;script&gt;alert("x")&lt;/script&gt;&amp;' in dom
    assert '&lt;script&gt;alert("x")&lt;/script&gt;&amp; sweep' in dom
    assert len(re.findall(r"<script\b", dom)) == 1
    assert "over quota" in dom
    shot = tmp_path / "status.png"
    done = chromium(
        tmp_path,
        f"--screenshot={shot}",
        "--window-size=1280,1700",
        "--virtual-time-budget=3000",
        server + "/",
    )
    assert done.returncode == 0 and shot.stat().st_size > 20_000
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
