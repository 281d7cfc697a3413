"""A lab app (quotas, display names, admin token) and the seeded database lab tests read."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from os import PathLike
from types import MappingProxyType
from zoneinfo import ZoneInfo

from flask import Flask

from api.app import create_app
from api.lab.names import DisplayNames
from api.lab.settings import LabSettings
from api.settings import ApiSettings
from runtime.quotas import Quotas
from store.db import Connection
from tests.support.app import NOW
from tests.support.rows import add_gpu, add_process, add_sample, add_user_days, set_meta_value

HOSTILE = '<script>alert("x")</script>&'
TOKEN = "s3cret-token"
NAMES = DisplayNames(
    MappingProxyType({"NVIDIA GeForce RTX 4090": "4090"}),
    MappingProxyType({"alice": "Alice Liddell"}),
)
QUOTAS = Quotas(MappingProxyType({"alice": 10.0, "bob": 50.0}), 100.0)
# The day /api/v1/export.csv is asked for in the export tests.
DAY_START = int(datetime(2026, 3, 3, tzinfo=UTC).timestamp())


def lab_settings(**extra) -> LabSettings:
    """Quotas, aliases and the admin token the tests use."""
    return LabSettings(**{"quotas": QUOTAS, "names": NAMES, "admin_token": TOKEN, **extra})


def lab_app(
    db_path: str | PathLike[str],
    now: float = NOW,
    clock: Callable[[], float] | None = None,
    tz: str = "UTC",
    **lab,
) -> Flask:
    """An app over `db_path` with lab settings and a fixed (or injected) clock."""
    settings = ApiSettings(
        db=str(db_path),
        tz=ZoneInfo(tz),
        clock=clock or (lambda: now),
        features={"lab": lab_settings(**lab)},
    )
    return create_app(settings)


def seed(conn: Connection, now: int = int(NOW)) -> None:
    """Two GPUs sampled at `now` with three processes; roll-ups for Feb and Mar 2026."""
    add_gpu(conn, 1, 0, "GPU-aaaa", "NVIDIA GeForce RTX 4090", seen=now)
    add_gpu(conn, 2, 1, "GPU-bbbb", "NVIDIA A100", seen=now)
    set_meta_value(conn, "interval", "5")
    set_meta_value(conn, "host_id", "labbox")
    add_sample(conn, now, 1, util=64, mem_used_mib=12_288, temp_c=71, power_dw=3012)
    add_sample(conn, now, 2, util=3, mem_used_mib=600, temp_c=40, power_dw=601)
    add_process(conn, now, 1, 4242, "alice", 10_240)
    add_process(conn, now, 1, 4343, HOSTILE, 2_048)
    add_process(conn, now, 2, 777, "bob", 512)
    # alice: 3 h + 9 h in March on GPU 0 (12 h > her 10 h quota); bob 5 h on GPU 1.
    add_user_days(conn, "alice", {"2026-03-01": 3 * 3600, "2026-03-03": 9 * 3600}, gpu=1)
    add_user_days(conn, "bob", {"2026-03-02": 5 * 3600}, gpu=2)
    add_user_days(conn, "bob", {"2026-02-10": 7200}, gpu=1)
    add_user_days(conn, HOSTILE, {"2026-03-04": 1800}, gpu=1)


def fill_day(conn: Connection, ticks: int, step: int = 60) -> int:
    """`ticks` ticks on two GPUs with one and two processes, GPU 0 at k % 100 % utilization
    and GPU 1, a MIG device reporting none, active for 40 % of each tick; then two ticks
    without any process. Returns the process rows."""
    add_gpu(conn, 1, 0, "GPU-aaaa", "A100", seen=DAY_START)
    add_gpu(conn, 2, 1, "GPU-bbbb", "A100", seen=DAY_START)
    rows = 0
    for k in range(ticks):
        ts = DAY_START + k * step
        add_sample(conn, ts, 1, util=k % 100)
        add_sample(conn, ts, 2, util=None, active_ms=2000)
        add_process(conn, ts, 1, 1000 + k, "alice", 100 + k)
        add_process(conn, ts, 2, 5000 + k, HOSTILE, 7)
        add_process(conn, ts, 2, 9000 + k, "bob", None)
        rows += 3
    for k in (ticks, ticks + 1):  # sampled, but no process anywhere
        add_sample(conn, DAY_START + k * step, 1, util=3)
    add_process(conn, DAY_START - 1, 1, 1, "yesterday", 1)  # the day before: not exported
    add_process(conn, DAY_START + 86_400, 1, 2, "tomorrow", 1)
    return rows
