"""The status page's sparklines and the GPU page in real headless Chromium, served by real
gunicorn on loopback: screenshots at 1280 px in the light and the dark scheme (kept under the
test's temp directory), and the DOM Chromium built checked for what the pages promise."""

from __future__ import annotations

import re
import time

import pytest

from tests.support.browser import CHROMIUM, chromium
from tests.support.history import fill_history, hold_idle
from tests.support.lab import seed
from tests.support.rows import add_gpu, add_sample, set_meta_value
from tests.support.servers import start_gunicorn, stop

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium package is not installed"),
]
SCHEMES = {"light": (), "dark": ("--force-dark-mode", "--blink-settings=preferredColorScheme=0")}


@pytest.fixture
def server(conn, db_path):
    now = int(time.time()) // 300 * 300
    seed(conn, now)
    add_gpu(conn, 3, 2, "GPU-cccc", "NVIDIA H100 80GB HBM3", seen=now)
    add_sample(
        conn,
        now,
        3,
        util=0,
        active_ms=0,
        tick_ms=300_000,
        mem_used_mib=20_480,
        temp_c=33,
        power_dw=712,
    )
    set_meta_value(conn, "interval", "600")  # fresh for the whole test
    rolled = fill_history(conn, (1, 2, 3), now)
    hold_idle(conn, 3, now, 5, rolled)
    proc, base = start_gunicorn(
        db_path, workers=1, GPUPULSE_GPU_NAMES="NVIDIA GeForce RTX 4090=4090"
    )
    yield base
    log = stop(proc)
    assert "Traceback" not in log, log


def shoot(tmp_path, url: str, name: str, scheme: str, height: int) -> None:
    """A 1280 px wide screenshot of `url`, as a PNG of some substance."""
    shot = tmp_path / f"{name}-{scheme}.png"
    done = chromium(
        tmp_path,
        *SCHEMES[scheme],
        f"--screenshot={shot}",
        f"--window-size=1280,{height}",
        "--virtual-time-budget=3000",
        url,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000


def test_status_page_sparklines_in_chromium(server, tmp_path):
    done = chromium(tmp_path, "--dump-dom", server + "/")
    assert done.returncode == 0, done.stderr[-2000:]
    dom = done.stdout
    rows = re.findall(r'<tr class="gpu[ "].*?</tr>', dom, re.S)
    assert len(rows) == 3
    for row in rows:  # each GPU: both sparklines, drawn, and a link to its page
        assert '<svg class="spark util"' in row and '<svg class="spark mem"' in row
        assert row.count('class="mean" d="M') == 2
        assert re.search(r'href="/gpus/\d"', row)
    # GPU #2: carol's notebook has held it idle for 5 h: flagged, and its hours marked.
    assert re.search(
        r'<div class="held-alert".*?#2</span> NVIDIA H100 80GB HBM3: idle 5 h', dom, re.S
    )
    assert "slurm job 4242" in dom
    assert rows[2].count('class="mark"') >= 2 * 5
    for scheme in SCHEMES:
        shoot(tmp_path, server + "/", "status", scheme, 1500)


def test_gpu_page_in_chromium(server, tmp_path):
    done = chromium(tmp_path, "--dump-dom", server + "/gpus/0")
    assert done.returncode == 0, done.stderr[-2000:]
    dom = done.stdout
    assert "Last 24 hours" in dom and "Last 30 days" in dom and "Readings" in dom
    assert dom.count('<svg class="spark') == 6
    for scheme in SCHEMES:
        shoot(tmp_path, server + "/gpus/0", "gpu", scheme, 1600)
    held = chromium(tmp_path, "--dump-dom", server + "/gpus/2").stdout
    # carol's notebook: held idle for its last 5 h, marked on every 24 h chart's slots.
    assert held.count('<rect class="mark"') >= 4 * 5 * 6
    assert "held idle marked" in held
    assert "slurm job 4242" in held and "jupyter-kernel" in held
    shoot(tmp_path, server + "/gpus/2", "gpu-held", "light", 1600)
    missing = chromium(tmp_path, "--dump-dom", server + "/gpus/9")
    assert "No GPU “9”" in missing.stdout
