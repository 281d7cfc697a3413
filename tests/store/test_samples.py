"""Recording ticks and reading the newest state back from a real SQLite file."""

from __future__ import annotations

import pytest

from store import open_db
from store.db import OperationalError
from store.samples import GpuInfo, GpuSample, ProcessSample, Recorder, Tick, latest_state

GPU0 = GpuInfo("GPU-aaaa", 0, "NVIDIA A100", "00000000:01:00.0", 81920)
GPU1 = GpuInfo("GPU-bbbb", 1, "NVIDIA T4", "00000000:02:00.0", 15360)


def _tick(ts: int, util: int, fan: int | None = 40) -> Tick:
    return Tick(
        ts=ts,
        tick_s=5.0,
        samples=[
            GpuSample(
                GPU0, util=util, fan_pct=fan, power_w=251.3, energy_j=1000 + ts, active_s=2.5
            ),
            GpuSample(GPU1, util=0, fan_pct=None, power_w=None),
        ],
        processes=[
            ProcessSample(
                "GPU-aaaa",
                4242,
                1_700_000_000,
                "alice",
                "python train.py",
                2048,
                77,
                "slurm job 17",
                "17.0",
            )
        ],
    )


def test_ticks_round_trip_with_nulls_kept_as_null(conn, db_path):
    rec = Recorder(conn)
    rec.write([_tick(1000, 10), _tick(1005, 90)])
    state = {g["uuid"]: g for g in latest_state(open_db(db_path))}
    a, t4 = state["GPU-aaaa"], state["GPU-bbbb"]
    assert (a["ts"], a["util"], a["power_w"], a["active_s"], a["tick_ms"]) == (
        1005,
        90,
        251.3,
        2.5,
        5000,
    )
    assert a["fan_pct"] == 40 and t4["fan_pct"] is None and t4["power_w"] is None
    assert a["processes"] == [
        {
            "pid": 4242,
            "user": "alice",
            "command": "python train.py",
            "mem_mib": 2048,
            "sm_util": 77,
            "started": 1_700_000_000,
            "workload": "slurm job 17",
            "workload_id": "17.0",
        }
    ]
    assert a["first_seen"] == 1000 and a["last_seen"] == 1005
    # The same process across ticks is one row; its samples are one per tick.
    assert conn.execute("SELECT count(*) FROM processes").fetchone()[0] == 1
    assert conn.execute("SELECT count(*) FROM process_samples").fetchone()[0] == 2


def test_failed_transaction_leaves_no_stale_ids(conn):
    rec = Recorder(conn)
    bad = _tick(1000, 10)
    bad.samples.append(GpuSample(GPU0, util=1))  # second row for the same (ts, gpu) is fine
    rec.write([bad])
    conn.execute("PRAGMA query_only = ON")
    with pytest.raises(OperationalError, match="readonly"):
        Recorder(conn).write([Tick(2000, 5.0, [GpuSample(GpuInfo("GPU-new", 2, "X"))])])
    conn.execute("PRAGMA query_only = OFF")
    fresh = Recorder(conn)
    assert fresh.gpu_id("GPU-new") is None
    fresh.write([Tick(2005, 5.0, [GpuSample(GpuInfo("GPU-new", 2, "X"), util=3)])])
    assert fresh.gpu_id("GPU-new") is not None


def test_lost_gpu_is_marked_once_and_cleared_when_it_answers(conn):
    rec = Recorder(conn)
    rec.write([_tick(1000, 10)])
    assert rec.mark_lost("GPU-bbbb", 1005, "GPU is lost") is True
    assert rec.mark_lost("GPU-bbbb", 1010, "GPU is lost") is False
    lost = conn.execute("SELECT lost_at FROM gpus WHERE uuid = 'GPU-bbbb'").fetchone()[0]
    assert lost == 1005
    assert conn.execute("SELECT count(*) FROM events WHERE kind='gpu_lost'").fetchone()[0] == 1
    rec.write([_tick(1015, 10)])
    assert conn.execute("SELECT lost_at FROM gpus WHERE uuid = 'GPU-bbbb'").fetchone()[0] is None


def test_one_host_identity_for_collector_scheduler_and_api(conn):
    """The collector records host_id; the api and scheduler read that one key."""
    import socket

    from scheduler.settings import host_id, load
    from store.samples import recorded_host, set_meta

    assert recorded_host(conn) == socket.gethostname()  # nothing recorded yet
    set_meta(conn, [("host_id", "lab-box-7")])
    assert recorded_host(conn) == "lab-box-7"
    assert host_id(load({}), conn) == "lab-box-7"
    assert host_id(load({"GPUPULSE_HOST_ID": "override"}), conn) == "override"


@pytest.mark.parametrize(
    ("recorded", "expected"), [(None, 7.0), ("2", 2.0), ("junk", 7.0), ("-1", 7.0), ("1e9", 7.0)]
)
def test_collector_interval_is_read_one_way_for_every_staleness_check(conn, recorded, expected):
    from store.samples import collector_interval, set_meta

    if recorded is not None:
        set_meta(conn, [("interval", recorded)])
    assert collector_interval(conn, default=7.0) == expected


def test_collector_healthcheck_and_api_health_agree_on_stale(conn, db_path):
    from api.health import health
    from collector.health import healthcheck
    from store.samples import set_meta

    Recorder(conn).write([_tick(1000, 10)])
    set_meta(conn, [("interval", "junk")])  # unusable: both fall back to a 5 s tick
    assert healthcheck(str(db_path), 5.0, clock=lambda: 1015) == 0
    assert health(conn, 1015)[0] == 200
    assert healthcheck(str(db_path), 5.0, clock=lambda: 1016) == 1
    assert health(conn, 1016)[0] == 503
