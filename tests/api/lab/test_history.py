"""The status page's 24 h sparklines, read back from the page and checked against the rows
they were drawn from: one vertex per hour with data, the line's highest point at the
largest hourly mean, the peak band's top at the largest reading, and gaps left open."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from api.svg.spark import Frame, Slot, line_path, sparkline
from store.db import atomic
from store.rollups import LIVE_TS, set_rollup_state
from tests.support.app import NOW
from tests.support.lab import lab_app
from tests.support.rows import add_gpu, add_sample
from tests.support.svg_parse import NS

BROWSER = {"Accept": "text/html"}
HOUR = 3600
END = int(NOW)  # 15:00 UTC: the current hour starts now
TOTAL_MIB = 24_576  # add_gpu's memory


def add_hourly(conn, hour: int, gpu: int, util_mean: float, util_max: int, mem: float) -> None:
    """An hourly roll-up row with the columns the sparklines read."""
    with atomic(conn):
        conn.execute(
            "INSERT INTO hourly (hour, gpu, samples, active_s, gpu_active_s, util_mean, "
            "util_max, mem_used_mean, mem_used_max, process_rows) VALUES (?,?,?,?,?,?,?,?,?,0)",
            (hour, gpu, 720, 100.0, 100.0, util_mean, util_max, mem, mem * 1.5),
        )


def seeded(conn) -> tuple[list[float], list[float]]:
    """GPU #0: rolled-up hours 05:00-12:00, raw 5-minute samples 13:00-15:00; returns the
    expected hourly util means and peaks in order."""
    add_gpu(conn, 1, 0, "GPU-aaaa", "A100", seen=END)
    means, peaks = [], []
    for k, hour in enumerate(range(END - 10 * HOUR, END - 2 * HOUR, HOUR)):
        add_hourly(conn, hour, 1, 10.0 + k, 40 + k, 1000.0 * (k + 1))
        means.append(10.0 + k)
        peaks.append(40 + k)
    with atomic(conn):
        set_rollup_state(conn, LIVE_TS, END - 2 * HOUR)
    by_hour: dict[int, list[int]] = {}
    for ts in range(END - 2 * HOUR, END + 1, 300):
        util = (ts // 300 * 37) % 101
        add_sample(conn, ts, 1, util=util, mem_used_mib=2048 + ts % 7000)
        by_hour.setdefault(ts // HOUR, []).append(util)
    for values in by_hour.values():
        means.append(sum(values) / len(values))
        peaks.append(max(values))
    return means, peaks


def spark_of(html: str, kind: str) -> ET.Element:
    """The first GPU row's sparkline of one kind, parsed as XML."""
    svg = re.search(rf'<svg class="spark {kind}".*?</svg>', html, re.S)
    assert svg is not None, f"no {kind} sparkline on the page"
    return ET.fromstring(svg.group(0))


def vertices(d: str) -> list[list[tuple[float, float]]]:
    """Path data as runs of (x, y): one run per M."""
    return [
        [tuple(map(float, p.split(","))) for p in run.split("L")] for run in d.split("M") if run
    ]


def y_of(value: float, height: int = 20) -> float:
    """Where the status page's sparkline puts a 0-100 value."""
    return round(height - 1 - value / 100 * (height - 2), 1)


def test_sparkline_points_and_peaks_match_the_rows(conn, db_path):
    means, peaks = seeded(conn)
    html = lab_app(db_path).test_client().get("/", headers=BROWSER).get_data(as_text=True)
    util = spark_of(html, "util")
    (line,) = [p for p in util.iter(f"{NS}path") if p.get("class") == "mean"]
    (run,) = vertices(line.get("d"))  # one unbroken run: hourly rows then raw hours
    assert len(run) == len(means) == 11
    assert min(y for _, y in run) == y_of(max(means))
    assert [y for _, y in run] == [y_of(m) for m in means]
    (band,) = [p for p in util.iter(f"{NS}path") if p.get("class") == "peak"]
    tops = [y for r in vertices(band.get("d").replace("Z", "")) for _, y in r]
    assert min(tops) == y_of(max(peaks))
    # Memory: the newest hour holds one sample at 15:00; its mean is that reading's share.
    mem = spark_of(html, "mem")
    (mem_line,) = [p for p in mem.iter(f"{NS}path") if p.get("class") == "mean"]
    (mem_run,) = vertices(mem_line.get("d"))
    assert len(mem_run) == 11
    assert mem_run[-1][1] == y_of(100 * (2048 + END % 7000) / TOTAL_MIB)
    assert f"peak {max(peaks)} %" in util.find(f"{NS}title").text


def test_gpu_row_links_to_its_page(conn, db_path):
    seeded(conn)
    html = lab_app(db_path).test_client().get("/", headers=BROWSER).get_data(as_text=True)
    assert 'href="/gpus/0"' in html


def test_a_gap_in_the_data_breaks_the_line_and_a_lone_slot_spans_its_width():
    frame = Frame(0, 400, 400, 22)
    slots = [Slot(0, 100, 50, 60), Slot(100, 200, 20, 30), Slot(300, 400, 80, 90)]
    runs = vertices(line_path(frame, slots, "mean"))
    assert [len(r) for r in runs] == [2, 2]
    assert runs[1] == [(300.0, y_of(80, 22)), (400.0, y_of(80, 22))]


def test_labels_are_escaped_and_the_svg_is_well_formed():
    svg = sparkline(Frame(0, 10), [Slot(0, 10, 5, 9)], '<script>"x"</script>&', "util")
    root = ET.fromstring(str(svg))
    assert root.find(f"{NS}title").text == '<script>"x"</script>&'
    assert "<script>" not in svg


def hold(conn, ts: int, gpu: int, pid: int, user: str, mem_mib: int) -> None:
    """A process holding `mem_mib` of a GPU at one tick (the same process every tick)."""
    with atomic(conn):
        row = conn.execute(
            "INSERT INTO processes (pid, started, user, command, first_seen, last_seen) "
            "VALUES (?, 1, ?, 'jupyter-kernel', ?, ?) ON CONFLICT (pid, started) DO UPDATE "
            "SET last_seen = excluded.last_seen RETURNING id",
            (pid, user, ts, ts),
        ).fetchone()[0]
        conn.execute("INSERT INTO process_samples VALUES (?,?,?,?,NULL)", (ts, gpu, row, mem_mib))


def marks_of(svg: ET.Element) -> list[tuple[float, float, float]]:
    """(x, width, opacity) of each held-idle mark."""
    return [
        (float(r.get("x")), float(r.get("width")), float(r.get("opacity")))
        for r in svg.iter(f"{NS}rect")
        if r.get("class") == "mark"
    ]


def test_held_idle_hours_are_marked_as_much_as_they_were_held(conn, db_path):
    """A rolled-up hour half held idle, and a raw hour held idle at every tick but its
    first, are marked with those shares; the other hours are not marked."""
    seeded(conn)
    with atomic(conn):
        conn.execute(
            "UPDATE hourly SET held_idle_s = 1800 WHERE hour = ? AND gpu = 1", (END - 5 * HOUR,)
        )
        conn.execute(
            "UPDATE samples SET util = 0, active_ms = 0 WHERE ts >= ? AND ts < ?",
            (END - HOUR + 300, END),
        )
    for ts in range(END - HOUR, END, 300):
        hold(conn, ts, 1, 99, "carol", 30_000)
    # The first tick of 14:00 is active (util from the seed, active_ms 5 s of a 5 s tick):
    # 11 ticks of 5 s held idle in that hour. Ticks stand for 5 s (add_sample's tick_ms).
    html = lab_app(db_path).test_client().get("/", headers=BROWSER).get_data(as_text=True)
    frame_lo = END - 23 * HOUR
    width = 96 / 24  # pixels per hour on the status page
    got = marks_of(spark_of(html, "util"))
    assert got == [
        (round((END - 5 * HOUR - frame_lo) / HOUR * width, 1), width, 0.5),
        (round((END - HOUR - frame_lo) / HOUR * width, 1), width, round(11 * 5 / 3600, 2)),
    ]
    assert marks_of(spark_of(html, "mem")) == got
    assert "held idle 0.5 h" in spark_of(html, "util").find(f"{NS}title").text


def test_a_gpu_new_since_the_sparklines_were_drawn_keeps_the_table_aligned(conn, db_path):
    seeded(conn)
    app = lab_app(db_path)
    client = app.test_client()
    client.get("/", headers=BROWSER)  # draws (and keeps) the sparklines of GPU #0
    add_gpu(conn, 2, 1, "GPU-bbbb", "A100", seen=END)
    add_sample(conn, END, 2)
    html = client.get("/", headers=BROWSER).get_data(as_text=True)
    rows = re.findall(r'<tr class="gpu[ "].*?</tr>', html, re.S)
    assert len(rows) == 2
    assert [row.count("<td") for row in rows] == [7, 7]
    assert '<svg class="spark util"' in rows[0] and "<svg" not in rows[1]
