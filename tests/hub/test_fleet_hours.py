"""A fleet's hours summed in SQL equal the per-host rows merged one by one."""

from __future__ import annotations

import random

import pytest

from store import atomic
from store import hub as hubstore
from store.rollups import HOST


def fill(conn, hosts: int, hours: int, seed: int) -> list[int]:
    rnd = random.Random(seed)
    ids = []
    with atomic(conn):
        for h in range(1, hosts + 1):
            ids.append(h)
            conn.execute(
                "INSERT INTO hub_hosts (id, name, source, created) VALUES (?, ?, 'push', 0)",
                (h, f"box{h}"),
            )
            for k in range(hours):
                if rnd.random() < 0.2:
                    continue  # a host that sent nothing that hour
                maybe = lambda v: None if rnd.random() < 0.25 else v  # noqa: E731
                values = {
                    "host": h,
                    "hour": 3600 * k,
                    "gpu": HOST,
                    "samples": rnd.choice((12, 60, 720)),
                    "active_ms": rnd.randint(0, 3_600_000),
                    "gpu_active_ms": rnd.randint(0, 3_600_000),
                    "util_mean": maybe(rnd.uniform(0, 100)),
                    "util_min": maybe(rnd.randint(0, 9)),
                    "util_max": maybe(rnd.randint(50, 100)),
                    "mem_used_mean": maybe(rnd.uniform(0, 8e4)),
                    "energy_j": maybe(rnd.uniform(0, 1e6)),
                    "power_mean": maybe(rnd.uniform(50, 700)),
                    "power_max": maybe(rnd.uniform(100, 700)),
                    "temp_min": maybe(rnd.randint(20, 40)),
                }
                row = tuple(values.get(column) for column in hubstore.ROW_COLUMNS)
                conn.execute(hubstore.INSERT_HOURLY, row)
    return ids


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_fleet_hours_equal_the_merged_hosts(conn, seed):
    hosts = fill(conn, 4, 60, seed)
    one_by_one = hubstore.combine(
        [hubstore.hourly(conn, h, 0, 3600 * 60, HOST) for h in hosts], ("hour", "gpu")
    )
    summed = hubstore.fleet_hourly(conn, hosts, 0, 3600 * 60)
    assert [r["hour"] for r in summed] == [r["hour"] for r in one_by_one]
    for got, want in zip(summed, one_by_one, strict=True):
        for field, value in want.items():
            if value is None:
                assert got[field] is None, (field, got, want)
            else:
                assert got[field] == pytest.approx(value), (field, got[field], value)
