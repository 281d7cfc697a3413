"""`host=` on the lab views (usage, quotas, charts) and the status page's host sections."""

from __future__ import annotations

import re

from prometheus_client.parser import text_string_to_metric_families

from api.lab.settings import LabSettings
from runtime.quotas import Quotas
from tests.support.hub import HOST, NOW, ingest, make_hub, new_token, post

MONTH = "2026-03"
NUMBER = re.compile(rb"\d+\.\d+")


def rounded(svg: bytes) -> bytes:
    """The SVG with every decimal number rounded to 9 significant digits."""
    return NUMBER.sub(lambda m: b"%.9g" % float(m[0]), svg)


def two_hosts(fleet, hub_db, **kw):
    """A hub holding box1's hours and the same hours as box2's."""
    client = make_hub(hub_db, **kw).test_client()
    ingest(client, fleet, new_token(hub_db), fleet.hours())
    ingest(client, fleet, new_token(hub_db, "box2"), fleet.hours(), "box2")
    return client


def sent(rows: list[dict]) -> list[dict]:
    """Usage rows without the figures a host keeps to itself (held idle, energy)."""
    kept = ("held_idle_gpu_hours", "energy_kwh", "co2e_kg", "cost")
    return [{k: v for k, v in row.items() if k not in kept} for row in rows]


def test_usage_of_a_host_equals_its_own(fleet, hub_db):
    hub = two_hosts(fleet, hub_db)
    own = make_hub(fleet.path).test_client()
    span = "from=2026-03-01&to=2026-03-03"
    for by in ("user", "day", "gpu"):
        mine = own.get(f"/api/v1/usage?by={by}&{span}").get_json()
        theirs = hub.get(f"/api/v1/usage?by={by}&{span}&host={HOST}").get_json()
        assert sent(theirs["rows"]) == sent(mine["rows"]) and mine["total_gpu_hours"] > 0, by
        # held idle and energy per user stay on the host: unknown on the hub, not zero
        assert {row["held_idle_gpu_hours"] for row in theirs["rows"]} == {None}
        assert theirs["energy_kwh"] is None and mine["energy_kwh"] > 0
    both = hub.get(f"/api/v1/usage?{span}&host=all").get_json()
    assert both["total_gpu_hours"] == 2 * mine["total_gpu_hours"]


def test_quotas_on_a_hub_count_every_host(fleet, hub_db):
    lab = LabSettings(quotas=Quotas({"alice": 10.0}, None))
    hub = two_hosts(fleet, hub_db, lab=lab)
    own = make_hub(fleet.path, lab=lab).test_client()
    mine = {u["user"]: u for u in own.get(f"/api/v1/quotas?month={MONTH}").get_json()["users"]}
    fleet_wide = {
        u["user"]: u for u in hub.get(f"/api/v1/quotas?month={MONTH}").get_json()["users"]
    }
    one = {
        u["user"]: u
        for u in hub.get(f"/api/v1/quotas?month={MONTH}&host={HOST}").get_json()["users"]
    }
    for user in ("alice", "bob", "carol"):
        assert one[user]["used_gpu_hours"] == mine[user]["used_gpu_hours"] > 0
        assert abs(fleet_wide[user]["used_gpu_hours"] - 2 * mine[user]["used_gpu_hours"]) < 0.002
    assert fleet_wide["alice"]["over"] and fleet_wide["alice"]["limit_gpu_hours"] == 10.0
    text = hub.get("/metrics").data.decode()
    gauge = {
        s.labels["user"]: s.value
        for f in text_string_to_metric_families(text)
        for s in f.samples
        if s.name == "gpupulse_user_month_gpu_hours"
    }
    assert gauge["alice"] == fleet_wide["alice"]["used_gpu_hours"]


def test_charts_of_a_host_equal_its_own(fleet, hub_db):
    hub = two_hosts(fleet, hub_db)
    own = make_hub(fleet.path).test_client()
    for chart in (
        f"users.svg?month={MONTH}",
        "hours.svg?from=2026-03-01&to=2026-03-03",
        "months.svg?months=3&theme=dark",
    ):
        mine = own.get(f"/charts/{chart}")
        theirs = hub.get(f"/charts/{chart}&host={HOST}")
        assert mine.status_code == theirs.status_code == 200
        # Sums of per-hour rather than per-quarter-hour values: equal to ~1e-15, so the bars'
        # widths may differ in the 16th digit; the drawing is compared to 9 digits.
        assert rounded(theirs.data) == rounded(mine.data) and b"box1" in mine.data, chart
        everyone = hub.get(f"/charts/{chart}&host=all")
        assert everyone.status_code == 200 and everyone.data != mine.data
    assert hub.get("/charts/users.svg?host=elsewhere").status_code == 400


def snapshot(host: str, busy: int, reserved: bool, at: float = NOW) -> dict:
    gpus = [
        {
            "uuid": f"{host}-{i}",
            "index": i,
            "name": "A100 <b>",
            "util": 90 if i < busy else 0,
            "memory_total_mib": 40960,
            "mem_used_mib": 100,
            "ts": at,
            "processes": [
                {"pid": 40 + i, "user": "<script>x</script>", "command": "train", "mem_mib": 900}
            ]
            if i < busy
            else [],
        }
        for i in range(4)
    ]
    booked = [{"gpu": 3, "name": "dana", "comment": "thesis", "until": None}] if reserved else []
    return {"host": host, "sent_at": at, "every_s": 60, "gpus": gpus, "reservations": booked}


def test_status_page_shows_each_host_with_its_summary(hub_db):
    post(
        make_hub(hub_db, now=NOW - 600).test_client(),
        "/api/v1/status",
        snapshot("box2", 1, False, at=NOW - 600),
        new_token(hub_db, "box2"),
    )
    client = make_hub(hub_db).test_client()
    assert (
        post(client, "/api/v1/status", snapshot(HOST, 2, True), new_token(hub_db)).status_code
        == 200
    )
    page = client.get("/", headers={"Accept": "text/html"}).data.decode()
    assert "2 busy · 2 idle · 1 reserved of 4 GPUs" in page
    assert "1 busy · 3 idle · 0 reserved of 4 GPUs" in page
    box1, box2 = page.index(f">{HOST} <span"), page.index(">box2 <span")
    assert (
        box1 < box2 and "stale" in page[box2 : box2 + 200] and "stale" not in page[box1 : box1 + 80]
    )
    assert "<script>x</script>" not in page and "&lt;script&gt;x&lt;/script&gt;" in page
    assert "A100 &lt;b&gt;" in page and "dana" in page
    only = client.get("/?host=box2", headers={"Accept": "text/html"}).data.decode()
    assert ">box2 <span" in only and f">{HOST} <span" not in only
    bad = client.get("/?host=" + "x" * 200, headers={"Accept": "text/html"})
    assert bad.status_code == 400 and bad.get_json()["parameter"] == "host"
