"""The numbers on screen agree across views, on roll-ups the scheduler really built from a
few days of the simulated fleet: the graph's headline adds up its own squares, and usage's
people plus "no process" is the graph's GPU-hours."""

from __future__ import annotations

import re
from datetime import date

import pytest

from scripts.render_demo_graphs import build_demo_db
from tests.support.app import NOW
from tests.support.lab import lab_app
from tests.support.svg_parse import day_cells, parse, texts, title_of

HEADLINE = re.compile(r"^([\d,.]+) h with a GPU busy \(([\d,.]+) GPU-hours\) on (\S+) since ")
DURATION = re.compile(r"^(?:([\d,]+) h)? ?(?:(\d+) min)? of GPU activity")


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    path = tmp_path_factory.mktemp("fleet") / "fleet.db"
    build_demo_db(path, 4, NOW)
    return lab_app(path).test_client()


def figure(text: str) -> float:
    return float(text.replace(",", ""))


def square_minutes(title: str) -> int:
    """'3 h 20 min of GPU activity on …' -> 200."""
    hours, minutes = DURATION.match(title).groups()
    return int((hours or "0").replace(",", "")) * 60 + int(minutes or 0)


def test_headline_is_the_sum_of_its_squares(client):
    root = parse(client.get("/gpu-activity.svg").data)
    busy, gpu_hours, _host = HEADLINE.match(root.get("aria-label")).groups()
    active = [c for c in day_cells(root) if c.get("data-level") != "0"]
    minutes = sum(square_minutes(title_of(c)) for c in active)
    # Each square rounds to a minute, the headline to a tenth of an hour.
    assert abs(minutes / 60 - figure(busy)) <= 0.05 + len(active) / 120
    assert texts(root)[-1].text.startswith(f"{len(active)} active days")
    days = client.get("/api/v1/days?from=2025-12-01").get_json()["days"]
    host = [d for d in days if d["scope"] == "host" and d["active_minutes"] > 0]
    assert len(host) == len(active) >= 3  # the weekday ones of the four
    assert sum(d["active_minutes"] for d in host) / 60 == pytest.approx(figure(busy), abs=0.05)
    per_gpu = sum(d["gpu_minutes"] for d in days if d["scope"] == "gpu") / 60
    assert per_gpu == pytest.approx(figure(gpu_hours), abs=0.05)


def test_usage_plus_no_process_is_the_graphs_gpu_hours(client):
    root = parse(client.get("/gpu-activity.svg").data)
    _busy, gpu_hours, _host = HEADLINE.match(root.get("aria-label")).groups()
    first = min(date.fromisoformat(c.get("data-date")) for c in day_cells(root))
    usage = client.get(f"/api/v1/usage?from={first}").get_json()
    assert usage["no_process_gpu_hours"] >= 0 and usage["total_gpu_hours"] > 0
    both = usage["total_gpu_hours"] + usage["no_process_gpu_hours"]
    assert both == pytest.approx(usage["host_gpu_hours"], abs=0.002)
    assert usage["host_gpu_hours"] == pytest.approx(figure(gpu_hours), abs=0.05)
    by_day = client.get(f"/api/v1/usage?from={first}&by=day").get_json()["rows"]
    days = client.get(f"/api/v1/days?from={first}").get_json()["days"]
    graph = {d["day"]: d["gpu_minutes"] / 60 for d in days if d["scope"] == "host"}
    for row in by_day:
        assert row["gpu_hours"] + row["no_process_gpu_hours"] == pytest.approx(
            graph[row["day"]], abs=0.002
        )
