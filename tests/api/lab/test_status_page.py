"""The status page at `/`: HTML for browsers, JSON for scripts, everything from the data
escaped, stale GPUs and users over quota flagged."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from html.parser import HTMLParser

from api.lab.until import parse_until
from store import atomic, open_db
from tests.support.app import NOW
from tests.support.lab import HOSTILE, lab_app
from tests.support.rows import add_idle_run, add_process, add_sample, set_meta_value

BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


class Rows(HTMLParser):
    """Collects each element's classes and all text (to check what the page shows)."""

    def __init__(self) -> None:
        super().__init__()
        self.classes: list[str] = []
        self.text: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.classes.extend((dict(attrs).get("class") or "").split())

    def handle_data(self, data):
        if data.strip():
            self.text.append(" ".join(data.split()))


def page(client) -> tuple[str, Rows]:
    reply = client.get("/", headers=BROWSER)
    assert reply.status_code == 200 and reply.mimetype == "text/html"
    html = reply.get_data(as_text=True)
    parsed = Rows()
    parsed.feed(html)
    return html, parsed


def book(db_path, gpu: int, name: str, comment: str, until: int) -> None:
    conn = open_db(db_path, write=True)
    with atomic(conn):
        conn.execute(
            "INSERT INTO reservations (gpu, name, comment, created, until) VALUES (?,?,?,?,?)",
            (gpu, name, comment, int(NOW), until),
        )
    conn.close()


def test_json_for_scripts_html_for_browsers(lab_client):
    assert lab_client.get("/").mimetype == "application/json"
    assert lab_client.get("/", headers={"Accept": "*/*"}).get_json()["name"] == "GPU Pulse"
    assert lab_client.get("/api", headers=BROWSER).mimetype == "application/json"
    reply = lab_client.get("/", headers=BROWSER)
    csp = reply.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert reply.headers["Vary"] == "Accept"


def test_gpus_processes_and_reservation_shown(seeded):
    book(seeded, 1, "bob", "<b>paper</b> deadline", int(NOW) + 7200)
    html, parsed = page(lab_app(seeded).test_client())
    assert parsed.classes.count("gpu") == 2
    text = " ".join(parsed.text)
    assert "#0 4090" in text and "#1 NVIDIA A100" in text  # GPU alias applied
    assert "4242@Alice Liddell" in text and "python train.py --pid 4242" in text
    assert "64 %" in text and "71 °C" in text and "301 W" in text and "12 GiB / 24 GiB" in text
    assert "<b>paper</b> deadline" in text  # shown as text ...
    assert "<b>paper</b>" not in html  # ... never as markup
    assert "until 2026-03-04 17:00 (2 h left)" in text


def test_hostile_names_are_text(lab_client):
    html, parsed = page(lab_client)
    assert f"4343@{HOSTILE}" in " ".join(parsed.text)
    assert "<script>" not in html.replace('<script src="/static/status.js" defer></script>', "")
    assert parsed.tags.count("script") == 1  # only the page's own refresh script


def test_users_recent_hours_and_quota_flag(seeded, conn):
    # Two hours ago bob ran alone on GPU 0 for a one-hour tick: 1 h in the last 24 h.
    add_sample(conn, int(NOW) - 7200, 1, tick_ms=3_600_000, active_ms=3_600_000)
    add_process(conn, int(NOW) - 7200, 1, 55, "bob", 100)
    _html, parsed = page(lab_app(seeded).test_client())
    text = " ".join(parsed.text)
    # GPUs now, last 24 h, held idle (24 h · 7 days), energy, last 7 days (roll-ups)
    assert "bob #1 1 GPU-h 0 GPU-h · 0 GPU-h 0 kWh 5 GPU-h" in text
    # alice: 12 h this month against a 10 h quota -> over, flagged.
    assert "12 GPU-h / 10 GPU-h" in text and "120 %" in text and "over quota" in text
    assert "Mar 2026 (to date) / quota" in text  # the month column says which month
    assert "over" in parsed.classes
    assert "Idle jobs harvested" in text


def test_idle_hours_shown_apart(seeded, conn):
    add_idle_run(conn, int(NOW) - 7200, int(NOW) - 3600, 5400)  # 1.5 GPU-hours today
    _, parsed = page(lab_app(seeded).test_client())
    text = " ".join(parsed.text)
    assert "Idle jobs harvested 1.5 GPU-hours in the last 7 days (1.5 in Mar 2026 to date)" in text


def test_stale_gpus_are_flagged(seeded):
    set_meta_value(open_db(seeded, write=True), "interval", "5")
    _html, parsed = page(lab_app(seeded, now=NOW + 3600).test_client())
    assert parsed.classes.count("stale") >= 2
    assert "The newest samples are stale" in " ".join(parsed.text)
    _, fresh = page(lab_app(seeded).test_client())
    assert "stale" not in fresh.classes


def test_empty_database_renders(client):
    _html, parsed = page(client)
    assert "No GPUs recorded yet." in parsed.text


def test_static_files(lab_client):
    css = lab_client.get("/static/status.css")
    assert css.status_code == 200 and css.mimetype == "text/css"
    assert "prefers-color-scheme: dark" in css.get_data(as_text=True)
    js = lab_client.get("/static/status.js")
    assert js.mimetype == "text/javascript" and b"setInterval" in js.data
    assert lab_client.get("/static/other.js").status_code == 404


def test_info_lists_the_lab_endpoints(lab_client):
    info = json.loads(lab_client.get("/api").data)
    methods = {(e["path"], e["method"]) for e in info["endpoints"]}
    assert {
        ("/api/v1/reservations", "POST"),
        ("/api/v1/reservations", "DELETE"),
        ("/api/v1/usage", "GET"),
        ("/charts/hours.svg", "GET"),
    } <= methods
    doc = lab_client.get("/openapi.json").get_json()
    assert set(doc["paths"]["/api/v1/reservations"]) == {"get", "post", "delete"}


def test_a_reservation_until_a_date_reads_as_that_day(seeded):
    """Booked 'until 2026-03-06' ends at the midnight after it: the page says the day entered."""
    end = int(datetime(2026, 3, 7, tzinfo=UTC).timestamp())  # what parse_until stores
    assert parse_until("2026-03-06", NOW, UTC) == end
    book(seeded, 0, "carol", "", end)
    book(seeded, 1, "dave", "", end - 1800)  # 23:30: a time of day, shown as one
    text = " ".join(page(lab_app(seeded).test_client())[1].text)
    assert "until the end of 2026-03-06 (57 h left)" in text  # now is Mar 4, 15:00
    assert "until 2026-03-06 23:30 (56 h 30 min left)" in text
    assert "2026-03-07" not in text


def test_favicon_is_an_icon(lab_client):
    reply = lab_client.get("/favicon.ico")
    assert reply.status_code == 200 and reply.mimetype == "image/x-icon"
    assert reply.data[:4] == b"\x00\x00\x01\x00"  # an ICO header: reserved 0, type 1 (icon)
    count = int.from_bytes(reply.data[4:6], "little")
    size, offset = (int.from_bytes(reply.data[14 + k : 18 + k], "little") for k in (0, 4))
    assert count == 1 and offset + size == len(reply.data)
    assert reply.data[offset : offset + 8] == b"\x89PNG\r\n\x1a\n"
    html = lab_client.get("/", headers=BROWSER).get_data(as_text=True)
    assert '<link rel="icon" href="/favicon.ico" type="image/x-icon">' in html
