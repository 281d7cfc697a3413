"""The three usage charts, parsed as XML: content, themes, escaping, empty notes and 400s."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime

import pytest

from api.svg.text import clean_label
from tests.support.lab import HOSTILE
from tests.support.rows import add_days, add_hour, add_user_days
from tests.support.svg_parse import NS, parse, texts, title_of

HOSTILE_LABEL = clean_label(HOSTILE, 24)


def rects(root, cls: str) -> list:
    return [r for r in root.iter(f"{NS}rect") if cls in r.get("class", "").split()]


def test_users_chart_bars_sorted_with_values_and_aliases(lab_client):
    reply = lab_client.get("/charts/users.svg?month=2026-03")
    assert reply.status_code == 200 and reply.mimetype == "image/svg+xml"
    assert "script-src" not in reply.headers["Content-Security-Policy"]
    root = parse(reply.data)
    words = [t.text for t in texts(root)]
    assert words[0] == "GPU-hours per user in March 2026 on labbox"
    labels = [w for w in words if w in ("Alice Liddell", "bob") or w.startswith(HOSTILE[:9])]
    assert labels == ["Alice Liddell", "bob", clean_label(HOSTILE, 24)]  # busiest first
    assert "12 GPU-hours" in words and "5 GPU-hours" in words and "0.5 GPU-hours" in words
    bars = rects(root, "l3")
    widths = [float(b.get("width")) for b in bars]
    assert widths == sorted(widths, reverse=True) and len(bars) == 3
    assert title_of(bars[0]) == "Alice Liddell: 12 GPU-hours in March 2026"
    assert b"<script>" not in reply.data  # the hostile name is escaped text


def test_users_chart_for_an_empty_month_has_a_note(lab_client):
    root = parse(lab_client.get("/charts/users.svg?month=2025-01").data)
    assert "no GPU use recorded in January 2025" in [t.text for t in texts(root)]
    assert rects(root, "l3") == []


def test_hours_heat_map(lab_client, conn):
    # Wednesday 2026-03-04 09:00 UTC: 2 GPU-hours; Monday 2026-03-02 23:00: 30 min.
    add_hour(conn, int(datetime(2026, 3, 4, 9, tzinfo=UTC).timestamp()), 0, 7200)
    add_hour(conn, int(datetime(2026, 3, 2, 23, tzinfo=UTC).timestamp()), 0, 1800)
    root = parse(lab_client.get("/charts/hours.svg?theme=dark").data)
    cells = [r for r in root.iter(f"{NS}rect") if "data-hour" in r.attrib]
    assert len(cells) == 7 * 24
    busy = {
        (c.get("data-weekday"), c.get("data-hour")): c for c in cells if c.get("data-level") != "0"
    }
    assert set(busy) == {("2", "9"), ("0", "23")}
    assert busy[("2", "9")].get("fill") == "#56d364"  # dark theme, top level
    assert title_of(busy[("2", "9")]) == "2 GPU-hours on Wednesdays 09:00 to 10:00"
    assert "2.5 GPU-hours from Feb 5, 2026 to Mar 4, 2026 (UTC time)" in [
        t.text for t in texts(root)
    ]


def test_hours_heat_map_empty_range_has_a_note(lab_client):
    root = parse(lab_client.get("/charts/hours.svg?from=2020-01-01&to=2020-01-31").data)
    assert any(t.text.startswith("no GPU activity from") for t in texts(root))


def test_months_stacked_by_user_with_others(lab_client, conn):
    for k in range(9):  # nine more users in January: the top seven are named, the rest grouped
        add_user_days(conn, f"user{k}", {"2026-01-15": 3600 * (k + 1)}, gpu=1)
    root = parse(lab_client.get("/charts/months.svg?months=3&theme=auto").data)
    style = root.find(f"{NS}defs/{NS}style").text
    assert "prefers-color-scheme: dark" in style and ".s7{fill:#9198a1}" in style
    legend = [t.text for t in texts(root)][-7:]  # top of the stack first: the rest, then users
    assert legend == ["others", "user5", "user6", "bob", "user7", "user8", "Alice Liddell"]
    stacks = [r for r in root.iter(f"{NS}rect") if "data-series" in r.attrib]
    titles = {title_of(r) for r in stacks}
    assert "Alice Liddell: 12 GPU-hours in March 2026" in titles
    assert "others: 15 GPU-hours in January 2026" in titles  # user0..user4: 1+2+3+4+5 h
    assert "others: 0.5 GPU-hours in March 2026" in titles
    labels = [t.text for t in texts(root) if t.text in ("Jan 26", "Feb", "Mar")]
    assert labels == ["Jan 26", "Feb", "Mar"]


def test_months_chart_empty_has_a_note(client):
    root = parse(client.get("/charts/months.svg").data)
    assert any(t.text.startswith("no GPU use recorded since") for t in texts(root))


@pytest.mark.parametrize(
    ("path", "parameter"),
    [
        ("/charts/users.svg?month=2026-00", "month"),
        ("/charts/users.svg?theme=pink", "theme"),
        ("/charts/hours.svg?from=2026-03-05&to=2026-03-01", "from"),
        ("/charts/hours.svg?to=03/01/2026", "to"),
        ("/charts/months.svg?months=0", "months"),
        ("/charts/months.svg?months=37", "months"),
        ("/charts/months.svg?months=x", "months"),
    ],
)
def test_bad_parameters_are_400(lab_client, path, parameter):
    reply = lab_client.get(path)
    assert reply.status_code == 400 and reply.get_json()["parameter"] == parameter


def test_etag_and_304(lab_client):
    first = lab_client.get("/charts/months.svg")
    again = lab_client.get("/charts/months.svg", headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304 and again.data == b""


def test_charts_share_the_activity_graphs_headers_and_gzip(lab_client):
    plain = lab_client.get("/charts/users.svg")
    packed = lab_client.get("/charts/users.svg", headers={"Accept-Encoding": "gzip"})
    assert plain.headers["Content-Type"] == "image/svg+xml; charset=utf-8"
    assert "script-src" not in plain.headers["Content-Security-Policy"]
    assert "default-src 'none'" in plain.headers["Content-Security-Policy"]
    assert plain.headers["Cache-Control"].startswith("public, max-age=")
    assert packed.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(packed.data) == plain.data
    assert packed.headers["ETag"] != plain.headers["ETag"]  # each encoding its own strong tag


def test_months_legend_runs_as_the_stack_and_the_axis_has_a_unit(lab_client, conn):
    """The legend's first line is the top of each bar; the time no process accounts for
    sits hollow on top; the axis's top value says GPU-h."""
    add_days(conn, {"2026-03-03": 9 * 60}, gpu_minutes=10 * 60)  # alice's 9 h + 1 h no one's
    root = parse(lab_client.get("/charts/months.svg?months=2").data)
    words = [t.text for t in texts(root)]
    assert words[-4:] == ["no process", HOSTILE_LABEL, "bob", "Alice Liddell"]
    assert "GPU-h" in words and "17.5" not in words  # 18.5 h in March, the top of the axis
    stacks = [r for r in root.iter(f"{NS}rect") if "data-series" in r.attrib]
    march = [r for r in stacks if title_of(r).endswith("in March 2026")]
    assert [title_of(r).split(":")[0] for r in march] == [
        "Alice Liddell",
        "bob",
        HOSTILE_LABEL,
        "no process",
    ]
    heights = [float(r.get("y")) for r in march]
    assert heights == sorted(heights, reverse=True)  # each later series drawn higher up
    assert march[-1].get("stroke-dasharray") == "3 2"
    assert title_of(march[-1]) == "no process: 1 GPU-hour in March 2026"


def test_users_chart_shows_time_no_process_accounts_for(lab_client, conn):
    add_days(conn, {"2026-03-03": 9 * 60}, gpu_minutes=9 * 60 + 90)
    root = parse(lab_client.get("/charts/users.svg?month=2026-03").data)
    words = [t.text for t in texts(root)]
    assert "no process" in words and "1.5 GPU-hours" in words
    hollow = [r for r in root.iter(f"{NS}rect") if "hollow" in r.get("class", "")]
    assert len(hollow) == 1 and title_of(hollow[0]).startswith("no process: 1.5 GPU-hours")


def test_heat_map_legend_and_singular_hour(lab_client, conn):
    add_hour(conn, int(datetime(2026, 3, 4, 9, tzinfo=UTC).timestamp()), 0, 3600)
    add_hour(conn, int(datetime(2026, 3, 3, 9, tzinfo=UTC).timestamp()), 0, 1800)
    root = parse(lab_client.get("/charts/hours.svg").data)
    words = [t.text for t in texts(root)]
    assert "1.5 GPU-hours from Feb 5, 2026 to Mar 4, 2026 (UTC time)" in words
    cells = {
        (c.get("data-weekday"), c.get("data-hour")): c
        for c in root.iter(f"{NS}rect")
        if "data-hour" in c.attrib
    }
    assert title_of(cells[("2", "9")]) == "1 GPU-hour on Wednesdays 09:00 to 10:00"
    legend = [w for w in words if "GPU-h" in w and "from" not in w]
    assert legend[0] == "0 GPU-h" and legend[-1] == "≤1 GPU-h"
    assert len(legend) + words.count("\u2013") == 5
