"""/metrics speaks dcgm-exporter too: NVIDIA's own Grafana dashboard (vendored unmodified)
finds every metric it reads, with dcgm-exporter's names, types, units and labels, checked
in-process and through a real Prometheus scraping a real gunicorn."""

from __future__ import annotations

import csv
import re
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from api.settings import load_api
from store.db import Connection
from store.samples import GpuInfo, GpuSample, GpuState, Recorder, Tick, set_meta
from tests.support.app import make_app
from tests.support.prometheus import (
    api_get,
    dashboard_exprs,
    instant,
    needs_prometheus,
    prometheus_scraping,
    wait_for_series,
)
from tests.support.servers import start_gunicorn, stop

DATA = Path(__file__).resolve().parents[1] / "data" / "dcgm"
DASHBOARD = DATA / "nvidia_dcgm-exporter-dashboard.json"
LABEL_VALUES = re.compile(r"label_values\((\w+),\s*(\w+)\)")
DCGM_NAME = re.compile(r"\bDCGM_FI_[A-Z0-9_]+\b")
# What the dashboard reads that GPU Pulse cannot measure, and why (its panel shows
# "No data", as it does under dcgm-exporter on GPUs without DCGM profiling).
NOT_MEASURED = {"DCGM_FI_PROF_PIPE_TENSOR_ACTIVE": "a DCGM profiling counter NVML does not give"}
HOST = "gpu-box-1"
DRIVER = "550.54.15"
TS = 1_772_636_400  # 2026-03-04 15:00 UTC

RTX = GpuInfo(
    "GPU-7e50e093-2f0c-4a11-9b6e-0c1d2e3f4a5b",
    0,
    "NVIDIA GeForce RTX 4090",
    "00000000:01:00.0",
    24564,
)
A100 = GpuInfo(
    "GPU-0902bc29-aaaa-bbbb-cccc-0123456789ab",
    1,
    "NVIDIA A100-SXM4-80GB",
    "00000000:41:00.0",
    81920,
)
MIG = [
    GpuInfo(
        f"MIG-6c3f1a2b-0000-5000-8000-00000000000{k}",
        200 + k,
        "NVIDIA A100-SXM4-80GB MIG 3g.40gb",
        A100.pci_bus_id,
        40192,
        parent_uuid=A100.uuid,
        mig_profile="3g.40gb",
        gpu_instance=gi,
    )
    for k, gi in ((0, 1), (1, 2))
]
LOST = GpuInfo("GPU-11111111-2222-3333-4444-555555555555", 2, "Tesla T4", "00000000:81:00.0", 15360)
GONE = GpuInfo(
    "GPU-99999999-8888-7777-6666-555555555555", 3, "Tesla V100-SXM2-16GB", "00000000:82:00.0", 16160
)


def record_fleet(conn: Connection) -> None:
    """Ticks as the collector writes them: a GeForce, a MIG-mode A100 split in two same-profile
    devices, a GPU the driver lost, and one last seen an hour ago."""
    set_meta(conn, [("host_id", HOST), ("interval", "5"), ("driver_version", DRIVER)])
    recorder = Recorder(conn)
    old = Tick(TS - 3600, 5.0, [GpuSample(GONE, util=50, temp_c=60)])
    tick = Tick(
        TS,
        5.0,
        [
            GpuSample(
                RTX,
                util=87,
                mem_util=40,
                mem_used_mib=20480,
                temp_c=71,
                fan_pct=55,
                power_w=301.5,
                energy_j=123_456,
                sm_mhz=2520,
                mem_mhz=10501,
                pstate=2,
                active_s=5.0,
                clocks_event=0x4,
                enc_util=3,
                dec_util=5,
            ),
            GpuSample(
                A100,
                mem_used_mib=1024,
                temp_c=40,
                power_w=60.1,
                energy_j=9_000,
                sm_mhz=1410,
                mem_mhz=1593,
                pstate=0,
                clocks_event=0x1,
            ),
            GpuSample(MIG[0], util=35, mem_used_mib=8000, active_s=5.0),
            GpuSample(MIG[1], util=0, mem_used_mib=13, active_s=0.0),
            GpuSample(LOST, util=10, temp_c=50),
        ],
        states=[
            GpuState(
                RTX,
                activity="buffer",
                mem_reserved_mib=300,
                power_limit_w=450.0,
                xid_count=1,
                xid_last=79,
            ),
            GpuState(A100, activity="point", mem_reserved_mib=512, xid_count=0, xid_last=0),
        ],
    )
    recorder.write([old, tick])
    recorder.mark_lost(LOST.uuid, TS, "GPU is lost")


@pytest.fixture
def fleet_db(db_path, conn):
    record_fleet(conn)
    return db_path


def scrape(db_path, **extra) -> dict[str, object]:
    """/metrics of an in-process app, as families by name."""
    text = make_app(db_path, **extra).test_client().get("/metrics").get_data(as_text=True)
    return {f.name: f for f in text_string_to_metric_families(text)}


def dcgm_series(families) -> dict[tuple[str, str, str], tuple[dict, float]]:
    """(metric, UUID, GPU instance) -> (labels, value) of every DCGM_ series."""
    out = {}
    for name, family in families.items():
        for s in family.samples if name.startswith("DCGM_") else ():
            key = (s.name, s.labels["UUID"], s.labels.get("GPU_I_ID", ""))
            assert key not in out, f"two series for {key}"
            out[key] = (s.labels, s.value)
    return out


def dashboard_metrics() -> set[str]:
    """Every DCGM metric a query or variable of NVIDIA's dashboard reads."""
    return {m for expr in dashboard_exprs(DASHBOARD) for m in DCGM_NAME.findall(expr)}


def test_every_metric_the_official_dashboard_reads_is_served(fleet_db):
    used = dashboard_metrics()
    assert {"DCGM_FI_DEV_GPU_TEMP", "DCGM_FI_DEV_FB_USED"} <= used  # the file was read
    assert set(NOT_MEASURED) <= used  # nothing listed as unmeasured that it does not read
    served = {s.name for f in scrape(fleet_db).values() for s in f.samples}
    assert used - set(NOT_MEASURED) <= served, used - served


def test_names_types_and_help_are_dcgm_exporters(fleet_db):
    families = scrape(fleet_db)
    with (DATA / "nvidia_default-counters.csv").open(encoding="utf-8") as handle:
        rows = [r for r in csv.reader(handle) if r and not r[0].startswith("#")]
    listed = {r[0].strip(): (r[1].strip(), r[2].strip()) for r in rows}
    ours = {name for name in families if name.startswith("DCGM_")}
    for name in ours & set(listed):
        kind, doc = listed[name]
        assert families[name].documentation == doc, name
        # prometheus_client would rename a counter to NAME_total: the energy counter
        # goes out untyped under dcgm-exporter's own name.
        assert families[name].type == ("unknown" if kind == "counter" else kind), name
    assert len(ours & set(listed)) >= 13


def test_values_are_in_dcgm_units_with_its_labels(fleet_db):
    series = dcgm_series(scrape(fleet_db))
    labels, util = series[("DCGM_FI_DEV_GPU_UTIL", RTX.uuid, "")]
    assert labels == {
        "gpu": "0",
        "UUID": RTX.uuid,
        "pci_bus_id": RTX.pci_bus_id,
        "device": "nvidia0",
        "modelName": "NVIDIA GeForce RTX 4090",
        "Hostname": HOST,
        "DCGM_FI_DRIVER_VERSION": DRIVER,
    }
    assert util == 87

    def value(name, gpu=RTX, instance=""):
        return series[(name, gpu.uuid, instance)][1]

    assert value("DCGM_FI_DEV_FB_USED") == 20480  # MiB
    assert value("DCGM_FI_DEV_FB_FREE") == 24564 - 20480 - 300  # total - used - reserved
    assert value("DCGM_FI_DEV_FB_RESERVED") == 300
    assert value("DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION") == 123_456_000  # mJ
    assert value("DCGM_FI_DEV_POWER_USAGE") == 301.5  # W
    assert value("DCGM_FI_DEV_SM_CLOCK") == 2520 and value("DCGM_FI_DEV_MEM_CLOCK") == 10501
    assert value("DCGM_FI_DEV_GPU_TEMP") == 71 and value("DCGM_FI_DEV_FAN_SPEED") == 55
    assert value("DCGM_FI_DEV_MEM_COPY_UTIL") == 40
    assert value("DCGM_FI_DEV_ENC_UTIL") == 3 and value("DCGM_FI_DEV_DEC_UTIL") == 5
    assert value("DCGM_FI_DEV_POWER_MGMT_LIMIT") == 450 and value("DCGM_FI_DEV_PSTATE") == 2
    assert value("DCGM_FI_DEV_CLOCK_THROTTLE_REASONS") == 0x4
    assert value("DCGM_FI_DEV_CLOCKS_EVENT_REASONS") == 0x4
    xid_labels, xid = series[("DCGM_FI_DEV_XID_ERRORS", RTX.uuid, "")]
    assert xid == 79 and xid_labels["err_code"] == "79"
    assert value("DCGM_FI_DEV_XID_ERRORS", A100) == 0
    assert ("DCGM_FI_DEV_FAN_SPEED", A100.uuid, "") not in series  # no fan: no series


def test_mig_devices_carry_their_gpu_instance(fleet_db):
    series = dcgm_series(scrape(fleet_db))
    for device, instance in zip(MIG, ("1", "2"), strict=True):
        labels, util = series[("DCGM_FI_DEV_GPU_UTIL", A100.uuid, instance)]
        assert labels["gpu"] == "1" and labels["device"] == "nvidia1"
        assert labels["modelName"] == A100.name and labels["pci_bus_id"] == A100.pci_bus_id
        assert labels["GPU_I_PROFILE"] == "3g.40gb"
        assert util == (35 if device is MIG[0] else 0)
    fb = series[("DCGM_FI_DEV_FB_FREE", A100.uuid, "2")][1]
    assert fb == 40192 - 13
    # The parent in MIG mode answers no utilization: its own series leave it out.
    assert ("DCGM_FI_DEV_GPU_UTIL", A100.uuid, "") not in series
    assert series[("DCGM_FI_DEV_GPU_TEMP", A100.uuid, "")][1] == 40


def test_lost_and_departed_gpus_are_not_served(fleet_db):
    uuids = {uuid for _, uuid, _ in dcgm_series(scrape(fleet_db))}
    assert uuids == {RTX.uuid, A100.uuid}
    # GPU Pulse's own metrics keep reporting them (the lost one as lost).
    lost = scrape(fleet_db)["gpupulse_gpu_lost"].samples
    assert {s.labels["uuid"]: s.value for s in lost}[LOST.uuid] == 1


def test_the_setting_switches_them_off(fleet_db):
    settings = load_api({"GPUPULSE_DCGM_METRICS": "false"})
    assert settings.dcgm_metrics is False and load_api({}).dcgm_metrics is True
    families = scrape(fleet_db, dcgm_metrics=False)
    assert not [name for name in families if name.startswith("DCGM_")]
    assert "gpupulse_gpu_utilization_percent" in families


def test_labels_match_a_real_dcgm_exporter_page(fleet_db):
    real = (DATA / "datadog_dcgm_metrics_fixture.txt").read_text(encoding="utf-8")
    theirs = next(
        s.labels
        for f in text_string_to_metric_families(real)
        for s in f.samples
        if s.name == "DCGM_FI_DEV_GPU_UTIL"
    )
    ours = dcgm_series(scrape(fleet_db))[("DCGM_FI_DEV_GPU_UTIL", RTX.uuid, "")][0]
    identity = {"gpu", "UUID", "device", "modelName", "Hostname", "DCGM_FI_DRIVER_VERSION"}
    assert identity <= set(theirs) and identity <= set(ours)
    assert re.fullmatch(r"nvidia\d+", theirs["device"]) and ours["device"] == "nvidia0"


@needs_prometheus
def test_a_real_prometheus_answers_every_dashboard_query(fleet_db, tmp_path):
    proc, base = start_gunicorn(fleet_db, workers=1)
    try:
        with prometheus_scraping(base.removeprefix("http://"), tmp_path) as prom:
            wait_for_series(prom, "DCGM_FI_DEV_GPU_TEMP")
            check_dashboard_queries(prom)
    finally:
        stop(proc)


def check_dashboard_queries(prom: str) -> None:
    """Each metric, each panel query (variables set to all) and each variable answers."""
    for metric in dashboard_metrics() - set(NOT_MEASURED):
        found = instant(prom, metric)
        assert found, metric
        for s in found:
            labels = s["metric"]
            assert labels["Hostname"] == HOST and labels["job"] == "gpu-pulse", labels
            assert labels["device"] == f"nvidia{labels['gpu']}", labels
            assert labels["UUID"] in {RTX.uuid, A100.uuid} and labels["modelName"], labels
    board = dashboard_exprs(DASHBOARD)
    for expr in board:
        variable = LABEL_VALUES.fullmatch(expr)
        if variable:  # a dashboard variable: the label's values among the metric's series
            metric, label = variable.groups()
            values = api_get(prom, f"/api/v1/label/{label}/values", **{"match[]": metric})
            assert values, expr
            continue
        if set(DCGM_NAME.findall(expr)) & set(NOT_MEASURED):
            continue
        query = expr.replace('"$instance"', '".+"').replace('"$gpu"', '".+"')
        assert instant(prom, query), expr
    gpus = instant(prom, "count by (gpu) (DCGM_FI_DEV_GPU_TEMP)")
    assert {s["metric"]["gpu"] for s in gpus} == {"0", "1"}
    instances = instant(prom, "count by (instance) (DCGM_FI_DEV_GPU_TEMP)")
    assert len(instances) == 1


def test_gpupulse_dcgm_metrics_false_reaches_the_served_app(fleet_db):
    proc, base = start_gunicorn(fleet_db, workers=1, GPUPULSE_DCGM_METRICS="false")
    try:
        with urllib.request.urlopen(base + "/metrics", timeout=10) as reply:
            text = reply.read().decode()
    finally:
        stop(proc)
    assert "gpupulse_gpu_temperature_celsius" in text and "DCGM_FI_" not in text
