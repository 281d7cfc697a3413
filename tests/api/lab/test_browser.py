"""The status page in a real browser: headless Chromium loads `/` from real gunicorn on
loopback; the GPU rows, a reservation and a process show, hostile names as text; at 1280 px
and 420 px, light and dark, nothing scrolls sideways and no command is split inside a word
(full-page screenshots are saved under the test's temp directory)."""

from __future__ import annotations

import json
import re
import time
import urllib.request

import pytest

from store import atomic
from tests.support.browser import CHROMIUM, Page, chromium
from tests.support.lab import HOSTILE, TOKEN, seed
from tests.support.rows import add_days, add_hour, add_user_days, set_meta_value
from tests.support.servers import start_gunicorn, stop

pytestmark = pytest.mark.slow
LONG_COMMAND = (
    "/opt/conda/envs/lab/bin/python -m torch.distributed.run --nproc_per_node=8 "
    "train.py --config configs/sweep_lr.yaml --output runs/2026-12-01"
)
# The words of every command on the page that the layout split over two lines.
SPLIT_WORDS = """(() => {
  const split = [];
  for (const el of document.querySelectorAll(".cmd .w")) {
    const range = document.createRange();
    range.selectNodeContents(el);
    if (range.getClientRects().length > 1) split.push(el.textContent);
  }
  return split;
})()"""


@pytest.fixture
def server(conn, db_path):
    now = int(time.time())
    seed(conn, now)
    set_meta_value(conn, "interval", "600")  # fresh for the whole test
    today = time.strftime("%Y-%m-%d", time.gmtime(now))
    add_days(conn, {today: 240, time.strftime("%Y-%m-%d", time.gmtime(now - 86400)): 60})
    add_hour(conn, now // 3600 * 3600 - 3600, 0, 5400)
    add_user_days(conn, "alice", {today: 12 * 3600}, gpu=1)  # over her 10 h quota
    with atomic(conn):
        conn.execute("UPDATE processes SET command = ? WHERE pid = 4242", (LONG_COMMAND,))
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
    assert re.search(
        r'4242@alice</code>\s*<span class="cmd" title="[^"]*"><span class="w">/opt/conda', dom
    )
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


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium package is not installed")
@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_page_fits_the_screen_at_1280_and_420_px(server, tmp_path, scheme):
    """No sideways scroll, tables as tables when wide and as cards when narrow, commands
    broken only between words, and each chart loaded."""
    day = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 86_400))
    assert reserve(server, {"gpu": 0, "name": "bob", "until": day, "comment": "ICML"}) == 201
    page = Page(tmp_path / "profile")
    try:
        for width in (1280, 420):
            page.open(server + "/", width, scheme)
            assert page.evaluate("matchMedia('(prefers-color-scheme: dark)').matches") == (
                scheme == "dark"
            )
            assert page.evaluate("document.scrollingElement.scrollWidth <= innerWidth"), width
            assert page.evaluate("document.querySelectorAll('.cmd .w').length") >= 12
            assert page.evaluate(SPLIT_WORDS) == [], width
            head = page.evaluate("getComputedStyle(document.querySelector('thead')).display")
            assert head == ("none" if width == 420 else "table-header-group")
            loaded = page.evaluate("[...document.images].map(i => i.naturalWidth > 0)")
            assert loaded == [True] * 4
            graph = page.evaluate("document.images[0].currentSrc")
            assert f"theme={scheme}" in graph and ("weeks=26" in graph) == (width == 420)
            fits = "[...document.images].every(i => i.naturalWidth <= i.width * 1.6)"
            assert page.evaluate(fits), width  # no chart shrunk past readable
            text = page.evaluate("document.body.innerText")
            assert f"until the end of {day}" in text and "GPU-h" in text
            shot = page.screenshot(tmp_path / f"status-{width}-{scheme}.png")
            assert shot[:8] == b"\x89PNG\r\n\x1a\n" and len(shot) > 20_000
    finally:
        page.close()
