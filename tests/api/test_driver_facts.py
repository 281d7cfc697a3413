"""What the views show of real-driver readings: driver versions, MIG devices, missing reasons.

The rows are written by the collector's own Recorder, as a MIG-mode A100 would produce them.
"""

from __future__ import annotations

from sampling.nvml.device import MIG_PARENT_NOTE, MIG_PRESENCE_NOTE
from store.samples import GpuInfo, GpuSample, GpuState, Recorder, Tick, set_meta
from tests.support.app import NOW, make_app

PARENT = GpuInfo("GPU-p", 0, "NVIDIA A100-SXM4-80GB", "00000000:17:00.0", 81920)
MIG = GpuInfo(
    "MIG-1",
    100,
    "NVIDIA A100-SXM4-80GB MIG 3g.40gb",
    "00000000:17:00.0",
    40192,
    parent_uuid="GPU-p",
    mig_profile="3g.40gb",
)


def record_mig_host(conn) -> None:
    """One tick of a MIG parent (utilization NULL) and one busy MIG device."""
    set_meta(conn, [("driver_version", "535.183.01"), ("cuda_driver_version", "12.2")])
    tick = Tick(
        int(NOW) - 5,
        5.0,
        [GpuSample(PARENT, temp_c=44, power_w=120.0), GpuSample(MIG, active_s=5.0)],
        states=[
            GpuState(PARENT, None, MIG_PARENT_NOTE, mem_reserved_mib=512),
            GpuState(MIG, "processes", MIG_PRESENCE_NOTE),
        ],
    )
    Recorder(conn).write([tick])


def test_gpus_json_carries_the_driver_the_mig_layout_and_why_util_is_missing(conn, db_path):
    record_mig_host(conn)
    body = make_app(db_path).test_client().get("/api/v1/gpus").get_json()
    assert body["host"]["driver_version"] == "535.183.01"
    assert body["host"]["cuda_driver_version"] == "12.2"
    parent, mig = body["gpus"]
    assert (parent["util"], parent["note"], parent["mem_reserved_mib"]) == (
        None,
        MIG_PARENT_NOTE,
        512,
    )
    assert (mig["index"], mig["parent_uuid"], mig["mig_profile"]) == (100, "GPU-p", "3g.40gb")
    assert (mig["activity"], mig["active_s"]) == ("processes", 5.0)


def test_the_status_page_says_why_a_gpu_shows_no_utilization(conn, db_path):
    record_mig_host(conn)
    page = (
        make_app(db_path)
        .test_client()
        .get("/", headers={"Accept": "text/html"})
        .get_data(as_text=True)
    )
    assert "NVIDIA driver 535.183.01 · CUDA 12.2" in page
    assert MIG_PARENT_NOTE in page and MIG_PRESENCE_NOTE in page
    assert '<span class="badge">MIG 3g.40gb</span>' in page


def test_state_rows_are_written_only_when_something_changes(conn):
    recorder = Recorder(conn)
    same = GpuState(PARENT, "buffer", None, mem_reserved_mib=512)
    for ts in range(100, 110):
        recorder.write([Tick(ts, 1.0, [GpuSample(PARENT, util=5)], states=[same])])
    assert conn.execute("SELECT updated FROM gpu_state").fetchall() == [(100,)]
    changed = GpuState(PARENT, "buffer", None, mem_reserved_mib=512, xid_count=1, xid_last=79)
    recorder.write([Tick(110, 1.0, [GpuSample(PARENT, util=5)], states=[changed])])
    assert conn.execute("SELECT updated, xid_last FROM gpu_state").fetchall() == [(110, 79)]
    # A fresh recorder (a restarted collector) knows what is stored and writes nothing new.
    Recorder(conn).write([Tick(111, 1.0, [GpuSample(PARENT, util=5)], states=[changed])])
    assert conn.execute("SELECT updated FROM gpu_state").fetchall() == [(110,)]
