"""The activity SVG, parsed as XML: grid, colours, levels, labels, legend, titles, footer."""

from __future__ import annotations

import itertools
import random
from datetime import date, timedelta

import pytest

from store import open_db
from tests.support.app import make_app
from tests.support.rows import add_days, add_gpu, add_user_days, set_meta_value
from tests.support.svg_parse import NS, day_cells, legend_cells, parse, texts, title_of

TODAY = date(2026, 3, 4)  # a Wednesday; conftest's NOW
# The palettes exactly as GitHub's contribution graph draws them (not imported from the code
# under test).
PALETTES = {
    "light": ["#eff2f5", "#aceebb", "#4ac26b", "#2da44e", "#116329"],
    "dark": ["#151b23", "#033a16", "#196c2e", "#2ea043", "#56d364"],
}


def get_svg(db_path, query: str = "", **app_args):
    response = make_app(db_path, **app_args).test_client().get(f"/gpu-activity.svg?{query}")
    assert response.status_code == 200, response.get_data(as_text=True)
    return parse(response.data)


def days_back(n: int) -> str:
    return (TODAY - timedelta(days=n)).isoformat()


@pytest.mark.parametrize("weeks", [1, 2, 17, 52, 53])
def test_cell_count_is_the_days_in_view(db_path, weeks):
    cells = day_cells(get_svg(db_path, f"weeks={weeks}"))
    # Full weeks before this one, plus Sunday..Wednesday of this week.
    assert len(cells) == 7 * (weeks - 1) + 4
    assert cells[-1].get("data-date") == "2026-03-04"
    first = date.fromisoformat(cells[0].get("data-date"))
    assert first.isoweekday() == 7  # a Sunday
    assert len({c.get("x") for c in cells}) == weeks


def test_grid_geometry_is_githubs(db_path):
    cells = day_cells(get_svg(db_path, "weeks=3"))
    assert {(c.get("width"), c.get("height"), c.get("rx")) for c in cells} == {("10", "10", "2")}
    assert len(legend_cells(get_svg(db_path, "weeks=3"))) == 5
    xs = sorted({float(c.get("x")) for c in cells})
    ys = sorted({float(c.get("y")) for c in cells})
    assert [b - a for a, b in itertools.pairwise(xs)] == [13, 13]
    assert [b - a for a, b in itertools.pairwise(ys)] == [13] * 6
    sunday = next(c for c in cells if c.get("data-date") == "2026-03-01")
    assert float(sunday.get("y")) == ys[0] and float(sunday.get("x")) == xs[-1]


@pytest.mark.parametrize("today", [date(2026, 2, 28), date(2026, 3, 1)])  # Saturday, Sunday
def test_week_edges(db_path, today):
    from datetime import UTC, datetime

    now = datetime(today.year, today.month, today.day, 12, tzinfo=UTC).timestamp()
    cells = day_cells(get_svg(db_path, "weeks=2", now=now))
    assert len(cells) == 7 + today.isoweekday() % 7 + 1
    assert cells[-1].get("data-date") == today.isoformat()


def quartile_expectation(values: list[float]) -> dict[float, int]:
    """The levels' rule, computed by ranking: the quarter of the active days a value falls in."""
    active = sorted(v for v in values if v > 0)
    out = {}
    for v in active:
        share = sum(1 for a in active if a <= v) / len(active)
        out[v] = next(level for level in (1, 2, 3, 4) if share <= level / 4)
    return out


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_quartile_levels_and_colours(conn, db_path, theme):
    minutes = [10, 20, 30, 40, 50, 60, 70, 80]
    add_days(conn, {days_back(i + 1): m for i, m in enumerate(minutes)})
    expected = quartile_expectation(minutes)
    assert sorted(expected.values()) == [1, 1, 2, 2, 3, 3, 4, 4]
    cells = {c.get("data-date"): c for c in day_cells(get_svg(db_path, f"theme={theme}"))}
    for i, m in enumerate(minutes):
        cell = cells[days_back(i + 1)]
        assert cell.get("data-level") == str(expected[m])
        assert cell.get("fill") == PALETTES[theme][expected[m]]
    assert cells[days_back(20)].get("fill") == PALETTES[theme][0]


def test_quartiles_with_ties_and_a_single_day(conn, db_path):
    add_days(conn, {days_back(1): 5})
    cells = {c.get("data-date"): c for c in day_cells(get_svg(db_path))}
    assert cells[days_back(1)].get("data-level") == "4"  # the only active day is the busiest


def test_fixed_bands(conn, db_path):
    bands = {30: 1, 60: 1, 61: 2, 180: 2, 181: 3, 360: 3, 361: 4, 900: 4}
    add_days(conn, {days_back(i + 1): m for i, m in enumerate(bands)})
    cells = {c.get("data-date"): c for c in day_cells(get_svg(db_path, "scale=fixed"))}
    for i, (minutes, level) in enumerate(bands.items()):
        assert cells[days_back(i + 1)].get("data-level") == str(level), minutes


def test_auto_theme_follows_prefers_color_scheme(conn, db_path):
    add_days(conn, {days_back(1): 100})
    root = get_svg(db_path, "theme=auto")
    style = "".join(root.find("{http://www.w3.org/2000/svg}defs").itertext())
    assert "@media (prefers-color-scheme: dark)" in style
    light_part, dark_part = style.split("@media (prefers-color-scheme: dark)")
    for level in range(5):
        assert f".l{level}{{fill:{PALETTES['light'][level]}}}" in light_part
        assert f".l{level}{{fill:{PALETTES['dark'][level]}}}" in dark_part
    cell = next(c for c in day_cells(root) if c.get("data-date") == days_back(1))
    assert f"l{cell.get('data-level')}" in cell.get("class").split()


def test_day_and_month_labels(db_path):
    root = get_svg(db_path)
    cells = day_cells(root)
    first = date.fromisoformat(cells[0].get("data-date"))
    by_text = {}
    for t in texts(root):
        by_text.setdefault(t.text, []).append((float(t.get("x")), float(t.get("y"))))
    row_y = sorted({float(c.get("y")) for c in cells})
    for row, name in ((1, "Mon"), (3, "Wed"), (5, "Fri")):
        ((_, y),) = by_text[name]
        assert row_y[row] <= y <= row_y[row] + 10
    assert "Sun" not in by_text and "Tue" not in by_text
    grid_x = min(float(c.get("x")) for c in cells)
    # A label over each week in which a month starts; the first column shows its own month.
    expected = [(grid_x, first.strftime("%b"))]
    for i in range((TODAY - first).days + 1):
        day = first + timedelta(days=i)
        if day.day == 1:
            expected.append((grid_x + 13 * (i // 7), day.strftime("%b")))
    month_names = {
        "Jan",
        "Feb",
        "Mar",
        "Apr",
        "May",
        "Jun",
        "Jul",
        "Aug",
        "Sep",
        "Oct",
        "Nov",
        "Dec",
    }
    shown = sorted(
        (x, name) for name, spots in by_text.items() if name in month_names for x, _ in spots
    )
    assert shown == sorted(expected)
    assert len(shown) == 13


def test_legend(db_path):
    root = get_svg(db_path, "theme=dark")
    legend = legend_cells(root)
    assert [r.get("fill") for r in legend] == PALETTES["dark"]
    assert title_of(legend[0]) == "No GPU activity"


def legend_words(root) -> list[str]:
    """The texts drawn right of the first legend square, left to right."""
    first = float(legend_cells(root)[0].get("x"))
    y = float(legend_cells(root)[0].get("y"))
    beside = [t for t in texts(root) if float(t.get("x")) > first and float(t.get("y")) == y + 9]
    return [t.text for t in sorted(beside, key=lambda t: float(t.get("x")))]


def test_legend_says_each_level_in_the_graphs_unit(conn, db_path):
    """No hover needed: beside each square, the range it stands for (fixed bands)."""
    add_days(conn, {days_back(1): 30})
    assert legend_words(get_svg(db_path, "scale=fixed")) == ["0 h", "≤1 h", "≤3 h", "≤6 h", ">6 h"]
    assert legend_words(get_svg(db_path, "scale=fixed&metric=gpu_hours")) == [
        "0 GPU-h",
        "≤1 GPU-h",
        "≤3 GPU-h",
        "≤6 GPU-h",
        ">6 GPU-h",
    ]


def test_quartile_legend_gives_each_quarters_largest_day(conn, db_path):
    add_days(conn, {days_back(i): 60 * i for i in range(1, 9)})  # 1 h ... 8 h
    root = get_svg(db_path)
    assert legend_words(root) == ["0 h", "≤2 h", "≤4 h", "≤6 h", "≤8 h"]
    # The labels sit left of the right edge, clear of each other.
    xs = [float(r.get("x")) for r in legend_cells(root)]
    assert xs == sorted(xs) and all(b - a > 30 for a, b in itertools.pairwise(xs))
    assert xs[-1] + 30 < float(root.get("width"))


def test_cell_titles(conn, db_path):
    add_days(conn, {"2026-03-03": 200, "2026-03-02": 45, "2026-03-01": 120})
    cells = {c.get("data-date"): c for c in day_cells(get_svg(db_path))}
    assert title_of(cells["2026-03-03"]) == "3 h 20 min of GPU activity on Tuesday, March 3, 2026"
    assert title_of(cells["2026-03-02"]) == "45 min of GPU activity on Monday, March 2, 2026"
    assert title_of(cells["2026-03-01"]) == "2 h of GPU activity on Sunday, March 1, 2026"
    assert title_of(cells["2026-03-04"]) == "No GPU activity on Wednesday, March 4, 2026"


def test_other_metrics_titles(conn, db_path):
    add_days(conn, {"2026-03-03": 200}, gpu_minutes=150, avg_utilization=37.4, energy_kwh=2.414)
    expected = {
        "gpu_hours": "2.5 GPU-hours on Tuesday, March 3, 2026",
        "utilization": "37 % average GPU utilization on Tuesday, March 3, 2026",
        "energy": "2.41 kWh of GPU energy on Tuesday, March 3, 2026",
    }
    for metric, text in expected.items():
        cells = {c.get("data-date"): c for c in day_cells(get_svg(db_path, f"metric={metric}"))}
        assert title_of(cells["2026-03-03"]) == text


def expected_footer(values: dict[date, float], first: date) -> str:
    """The footer computed the slow, obvious way."""
    span = [first + timedelta(days=i) for i in range((TODAY - first).days + 1)]
    active = [values.get(d, 0) > 0 for d in span]
    longest = max(
        (j - i for i in range(len(span)) for j in range(i, len(span) + 1) if all(active[i:j])),
        default=0,
    )
    end = len(span) - (0 if active[-1] else 1)
    current = 0
    while end - current - 1 >= 0 and active[end - current - 1]:
        current += 1
    busiest = max(span, key=lambda d: (values.get(d, 0), -d.toordinal()))
    minutes = round(values[busiest])
    h, m = divmod(minutes, 60)
    busy = f"{h} h {m} min" if h and m else (f"{h} h" if h else f"{m} min")
    ties = sum(1 for d in span if values.get(d, 0) == values[busiest])
    total = f"{sum(values.get(d, 0) for d in span) / 60:,.1f}".removesuffix(".0")
    top = (
        f"busiest day {busiest.strftime('%b')} {busiest.day}, {busiest.year} ({busy})"
        if ties == 1
        else f"busiest: {ties} days at {busy}"
    )
    return (
        f"{sum(active)} active days · current streak {current} days · longest streak "
        f"{longest} days · {total} GPU-hours · {top}"
    )


def test_footer_stats(conn, db_path):
    rng = random.Random(7)
    values = {}
    for i in range(1, 400):
        if rng.random() < 0.6:
            values[TODAY - timedelta(days=i)] = rng.choice([15, 59, 200, 333, 481])
    for i in range(1, 6):  # a known current streak ending yesterday (today has nothing yet)
        values[TODAY - timedelta(days=i)] = 30
    values[TODAY - timedelta(days=6)] = 0
    add_days(conn, {d.isoformat(): v for d, v in values.items()})
    root = get_svg(db_path)
    first = date.fromisoformat(day_cells(root)[0].get("data-date"))
    footer = texts(root)[-1].text
    assert footer == expected_footer(values, first)
    assert "current streak 5 days" in footer


def test_empty_database_gives_an_empty_grid(db_path):
    root = get_svg(db_path)
    cells = day_cells(root)
    assert len(cells) == 7 * 52 + 4
    assert {c.get("data-level") for c in cells} == {"0"}
    assert any(t.text == "no GPU activity recorded yet" for t in texts(root))


def test_one_gpu_and_one_user(conn, db_path):
    add_gpu(conn, 1, 0, "GPU-aaaa", "NVIDIA A100")
    add_gpu(conn, 2, 1, "GPU-bbbb", "NVIDIA H100")
    add_days(conn, {"2026-03-03": 100})
    add_days(conn, {"2026-03-02": 50}, gpu=2)
    add_user_days(conn, "alice", {"2026-03-01": 1800}, gpu=1)
    add_user_days(conn, "alice", {"2026-03-01": 1200}, gpu=2)
    add_user_days(conn, "bob", {"2026-03-01": 600}, gpu=2)

    by_uuid = {c.get("data-date"): c for c in day_cells(get_svg(db_path, "gpu=GPU-bbbb"))}
    assert by_uuid["2026-03-02"].get("data-level") == "4"
    assert by_uuid["2026-03-03"].get("data-level") == "0"
    by_index = {c.get("data-date"): c for c in day_cells(get_svg(db_path, "gpu=1"))}
    assert title_of(by_index["2026-03-02"]) == title_of(by_uuid["2026-03-02"])

    root = get_svg(db_path, "user=alice")
    alice = {c.get("data-date"): c for c in day_cells(root)}
    assert title_of(alice["2026-03-01"]) == (
        "50 min of GPU time for alice on Sunday, March 1, 2026"  # 1800 s + 1200 s
    )
    assert "by alice" in texts(root)[0].text
    alice_gpu2 = {c.get("data-date"): c for c in day_cells(get_svg(db_path, "user=alice&gpu=1"))}
    assert title_of(alice_gpu2["2026-03-01"]).startswith("20 min of GPU time for alice")


def test_days_follow_gpupulse_tz(conn, db_path):
    add_days(conn, {"2026-03-05": 60})
    # 15:00 UTC on March 4 is 04:00 on March 5 in Auckland (UTC+13 in March).
    cells = day_cells(get_svg(db_path, tz="Pacific/Auckland"))
    assert cells[-1].get("data-date") == "2026-03-05"
    assert cells[-1].get("data-level") == "4"


MARKUP = "<script>alert(\"x\")</script> & 'quotes' "
HOSTILE = MARKUP + "\x00\x07\x1b\u202e"


def test_hostile_names_are_escaped_and_stripped(conn, db_path):
    add_gpu(conn, 1, 0, "GPU-evil", HOSTILE + "x" * 200)
    set_meta_value(conn, "host_id", HOSTILE)
    add_user_days(conn, MARKUP, {"2026-03-03": 600}, gpu=1)
    from urllib.parse import quote

    client = make_app(db_path).test_client()
    # A recorded name may hold control characters; a query parameter may not.
    refused = client.get(f"/gpu-activity.svg?gpu=0&user={quote(HOSTILE)}")
    assert refused.status_code == 400 and refused.get_json()["parameter"] == "user"
    response = client.get(f"/gpu-activity.svg?gpu=0&user={quote(MARKUP)}")
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    root = parse(response.data)  # well-formed despite the control characters
    assert "<script" not in body and "&lt;script&gt;" in body
    assert not any(ch in body for ch in "\x00\x07\x1b\u202e")
    assert not list(root.iter("{http://www.w3.org/2000/svg}script"))
    header = root.get("aria-label")
    assert header == " ".join(t.text for t in texts(root) if t.get("class") == "fg")
    assert header.count('<script>alert("x")</script> &') == 3  # user, GPU and host name
    assert "…" in header  # each capped with an ellipsis
    assert len(header) < 200 and "x" * 40 not in header  # names are length-capped


def test_render_is_deterministic_for_one_database(conn, db_path):
    add_days(conn, {days_back(3): 90})
    writer = open_db(db_path, write=True)
    writer.close()
    a = make_app(db_path).test_client().get("/gpu-activity.svg").data
    b = make_app(db_path).test_client().get("/gpu-activity.svg").data
    assert a == b


def test_footer_names_the_one_busiest_day(conn, db_path):
    add_days(conn, {days_back(1): 300, days_back(2): 200})
    assert texts(get_svg(db_path))[-1].text.endswith("busiest day Mar 3, 2026 (5 h)")


def test_tied_busiest_days_are_counted_not_picked(conn, db_path):
    add_days(conn, {days_back(i): 1440 for i in (1, 2, 5)} | {days_back(3): 600})
    assert texts(get_svg(db_path))[-1].text.endswith("busiest: 3 days at 24 h")


def test_idle_power_alone_makes_no_active_or_streak_day(conn, db_path):
    """metric=energy: a day counts when a GPU was active at all; kWh drawn idle only shows in
    the square's title."""
    add_days(conn, {days_back(1): 0, days_back(2): 0}, gpu_minutes=0, energy_kwh=0.8)
    add_days(conn, {days_back(3): 120}, energy_kwh=4.2)
    root = get_svg(db_path, "metric=energy")
    cells = {c.get("data-date"): c for c in day_cells(root)}
    assert cells[days_back(1)].get("data-level") == "0"
    assert title_of(cells[days_back(1)]) == (
        "No GPU activity on Tuesday, March 3, 2026 (0.8 kWh while idle)"
    )
    assert cells[days_back(3)].get("data-level") == "4"
    footer = texts(root)[-1].text
    assert footer.startswith("1 active day · current streak 0 days · longest streak 1 day")
    assert footer.endswith("busiest day Mar 1, 2026 (4.2 kWh)")
    assert texts(root)[0].text.startswith("5.8 kWh of GPU energy on ")  # every kWh drawn


def test_headline_states_the_squares_measure_and_the_period_covered(conn, db_path):
    """Three weeks of data read 'since', not 'in the last year'; the hours with a GPU busy
    (what the squares show) add up to the headline, next to the GPU-hours."""
    values = {days_back(i): 31 + 7 * i for i in range(0, 21)}  # 2,121 min in all
    add_days(conn, values, gpu_minutes=120)
    root = get_svg(db_path)
    assert texts(root)[0].text == "35.4 h with a GPU busy (42 GPU-hours) on vm since Feb 12, 2026"
    squares = [c for c in day_cells(root) if c.get("data-level") != "0"]
    assert len(squares) == 21 and texts(root)[-1].text.startswith("21 active days")
    full = get_svg(db_path, "weeks=2")  # data before the view: the view is covered
    assert full.get("aria-label").endswith("on vm in the last 2 weeks")
    # A narrow graph wraps its headline between words rather than cutting it off.
    lines = [t.text for t in texts(full) if t.get("class") == "fg"]
    assert lines == ["12.1 h with a GPU busy (22 GPU-hours) on vm in", "the last 2 weeks"]
    moved = [g for g in full.iter(f"{NS}g") if g.get("transform") == "translate(0,16)"]
    assert len(moved) == 1 and len(day_cells(moved[0])) == len(day_cells(full))  # a line down
    assert texts(get_svg(db_path, "metric=gpu_hours"))[0].text.startswith("42 GPU-hours on vm")


def test_empty_headline_says_nothing_is_recorded(db_path):
    assert texts(get_svg(db_path))[0].text == "No GPU activity recorded on vm yet"
