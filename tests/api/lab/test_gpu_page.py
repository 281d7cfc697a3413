"""The GPU page at /gpus/<index or UUID>: its readings (clocks-event reasons and Xid
decoded), the processes seen with their workload, its users, its charts; a clear 404 for a
GPU that is not there."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from api.lab.every import Every
from api.lab.readings import clocks_event_text
from store.db import atomic
from store.rollups import LIVE_TS, set_rollup_state
from tests.support.app import NOW
from tests.support.lab import HOSTILE, lab_app, seed
from tests.support.rows import add_gpu, add_process, add_sample

BROWSER = {"Accept": "text/html"}
T = int(NOW)


class Text(HTMLParser):
    """All text of a page, whitespace collapsed."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []

    def handle_data(self, data):
        if data.strip():
            self.parts.append(" ".join(data.split()))


def text_of(html: str) -> str:
    parser = Text()
    parser.feed(html)
    return " ".join(parser.parts)


def seeded_page(conn, db_path):
    """The lab seed plus GPU #0's state (power limit, Xid), throttling, and workloads."""
    seed(conn, T)
    add_sample(conn, T - 300, 1, util=90, sm_mhz=1980)
    with atomic(conn):
        conn.execute(
            "UPDATE samples SET clocks_event = 36, pstate = 2, sm_mhz = 1410 "
            "WHERE ts = ? AND gpu = 1",
            (T,),
        )
        conn.execute(
            "INSERT INTO gpu_state (gpu, updated, power_limit_w, xid_count, xid_last, "
            "ecc_uncorrected) VALUES (1, ?, 450, 2, 79, 0)",
            (T,),
        )
        conn.execute(
            "UPDATE processes SET workload = 'slurm job 17', workload_id = '17.0' WHERE pid = 4242"
        )
        conn.execute(
            "INSERT INTO user_daily (day, gpu, user, gpu_seconds, peak_mem_mib) "
            "VALUES ('2026-03-04', 1, 'alice', 7200, 100), "
            "('2026-03-04', 2, 'bob', 3600, 100)"
        )
        conn.execute(
            "INSERT INTO user_hourly (hour, gpu, user, gpu_seconds, peak_mem_mib) "
            "VALUES (?, 1, 'alice', 1800, 100)",
            (T - 3600,),
        )
    return lab_app(db_path).test_client()


def test_gpu_page_shows_readings_processes_and_users(conn, db_path):
    client = seeded_page(conn, db_path)
    for ref in ("0", "GPU-aaaa", "gpu-AAAA"):
        reply = client.get(f"/gpus/{ref}", headers=BROWSER)
        assert reply.status_code == 200 and reply.mimetype == "text/html"
        assert "script-src 'self'" in reply.headers["Content-Security-Policy"]
    html = client.get("/gpus/0", headers=BROWSER).get_data(as_text=True)
    text = text_of(html)
    assert "#0 4090" in text and "GPU-aaaa" in text
    assert "Temperature 71 °C" in text and "Power 301 W of 450 W" in text
    assert "Clocks (SM / memory) 1,410 MHz / 9,000 MHz" in text and "Performance state P2" in text
    assert "Clocks held down by software power cap, software thermal slowdown check" in text
    assert "Xid errors seen 2 (newest: Xid 79) check" in text
    assert "Uncorrected ECC errors 0" in text
    # Processes of the last 24 h with their workload; users of this GPU only.
    assert "4242 Alice Liddell slurm job 17 python train.py --pid 4242" in text
    assert f'<td title="{HOSTILE}">' not in html and "&lt;script&gt;" in html
    # alice: 14 h on GPU #0 in 30 days, half an hour of it rolled up in the last 24 h; bob's
    # hour on GPU #1 is not counted here.
    assert "Alice Liddell 0.5 GPU-h 14 GPU-h bob 0 GPU-h 2 GPU-h" in text
    for kind in ("util", "mem", "temp", "power"):
        assert html.count(f'<svg class="spark {kind}"') == (2 if kind in ("util", "mem") else 1)


def test_unknown_gpu_is_a_clear_404(conn, db_path):
    client = seeded_page(conn, db_path)
    page = client.get("/gpus/7", headers=BROWSER)
    assert page.status_code == 404 and page.mimetype == "text/html"
    text = text_of(page.get_data(as_text=True))
    assert "No GPU “7” on labbox" in text and "#0 NVIDIA GeForce RTX 4090" in text
    assert 'href="/gpus/1"' in page.get_data(as_text=True)
    script = client.get("/gpus/GPU-zzzz")
    assert script.status_code == 404
    body = script.get_json()
    assert body["parameter"] == "gpu" and "GPU-zzzz" in body["error"]
    assert body["allowed"] == ["/gpus/0", "/gpus/1"]
    hostile = client.get(f"/gpus/{HOSTILE}", headers=BROWSER).get_data(as_text=True)
    assert "<script>" not in hostile


def test_a_reused_index_links_by_uuid(conn, db_path):
    add_gpu(conn, 1, 0, "GPU-old", "A100", seen=T - 86_400)
    add_gpu(conn, 2, 0, "GPU-new", "H100", seen=T)
    add_sample(conn, T, 2)
    client = lab_app(db_path).test_client()
    status = client.get("/", headers=BROWSER).get_data(as_text=True)
    assert 'href="/gpus/GPU-new"' in status and 'href="/gpus/GPU-old"' in status
    newest = text_of(client.get("/gpus/0", headers=BROWSER).get_data(as_text=True))
    assert "H100" in newest and "GPU-new" in newest


def test_clocks_event_bits_are_named():
    assert clocks_event_text(None) == ("not reported", False)
    assert clocks_event_text(0) == ("none", False)
    assert clocks_event_text(0x1) == ("idle", False)
    assert clocks_event_text(0x48) == ("hardware slowdown, hardware thermal slowdown", True)
    assert clocks_event_text(0x1001) == ("idle, other (0x1000)", False)


def test_process_without_workload_shows_a_dash(conn, db_path):
    add_gpu(conn, 1, 0, "GPU-aaaa", "A100", seen=T)
    add_sample(conn, T, 1)
    add_process(conn, T, 1, 55, "carol", 100)
    text = text_of(lab_app(db_path).test_client().get("/gpus/0", headers=BROWSER).get_data(True))
    assert "55 carol \N{EN DASH} python train.py --pid 55" in text


def test_day_chart_marks_rolled_up_hours_by_their_held_idle_share(conn, db_path):
    """10-minute slots of an hour the scheduler rolled up take that hour's held-idle share."""
    add_gpu(conn, 1, 0, "GPU-aaaa", "A100", seen=T)
    hour = T - 3 * 3600
    for ts in range(hour, T + 1, 600):
        add_sample(conn, ts, 1, tick_ms=600_000, active_ms=0, util=0)
    with atomic(conn):
        conn.execute(
            "INSERT INTO hourly (hour, gpu, samples, active_s, gpu_active_s, process_rows, "
            "held_idle_s) VALUES (?, 1, 6, 0, 0, 0, 2700)",
            (hour,),
        )
        set_rollup_state(conn, LIVE_TS, hour + 3600)
    html = lab_app(db_path).test_client().get("/gpus/0", headers=BROWSER).get_data(as_text=True)
    util = re.search(r'<svg class="spark util".*?</svg>', html, re.S).group(0)
    opacities = re.findall(r'<rect class="mark" x="[\d.]+" width="[\d.]+" opacity="([\d.]+)"', util)
    assert opacities == ["0.75"] * 6  # the rolled-up hour's six slots; nothing held after


def test_every_keeps_a_value_for_its_period():
    calls = []
    every = Every(30)
    assert every.get(60, lambda: calls.append(1) or "a") == "a"
    assert every.get(89, lambda: calls.append(1) or "b") == "a"
    assert every.get(90, lambda: calls.append(1) or "c") == "c"
    assert len(calls) == 2


def test_gpu_energy_of_30_days(conn, db_path):
    client = seeded_page(conn, db_path)
    with atomic(conn):
        conn.execute(
            "INSERT INTO daily (day, gpu, samples, active_minutes, gpu_minutes, energy_kwh) "
            "VALUES ('2026-03-01', 1, 10, 1, 1, 3.25), ('2026-03-02', 1, 10, 1, 1, 1.0), "
            "('2026-03-02', 2, 10, 1, 1, 9.0)"
        )
    text = text_of(client.get("/gpus/0", headers=BROWSER).get_data(as_text=True))
    assert "Energy, last 30 days 4.2 kWh" in text
