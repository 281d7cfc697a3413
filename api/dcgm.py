"""NVIDIA dcgm-exporter's metric names and labels, for what GPU Pulse measures.

Dashboards and alerts written for dcgm-exporter (NVIDIA's official Grafana dashboard among
them) read `DCGM_FI_DEV_*` series labelled `gpu`, `UUID`, `pci_bus_id`, `device`
(`nvidiaN`), `modelName`, `Hostname` and, on MIG devices, `GPU_I_PROFILE` and `GPU_I_ID`.
These families serve the newest sample of each GPU under those names, in dcgm-exporter's
units (MiB, MHz, W, mJ), as released dcgm-exporter versions label them. A reading the
driver does not give is left out, as dcgm-exporter leaves out a blank field.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from prometheus_client.core import GaugeMetricFamily, Metric, UnknownMetricFamily
from prometheus_client.samples import Sample

from store.db import Connection
from store.samples import (
    STALE_AFTER_TICKS,
    collector_interval,
    host_facts,
    recorded_host,
)

GAUGE, COUNTER = "gauge", "counter"
XID = "DCGM_FI_DEV_XID_ERRORS"


def fb_free(gpu: dict) -> float | None:
    """Framebuffer MiB free as DCGM counts it: total less used less reserved."""
    total, used = gpu.get("memory_total_mib"), gpu.get("mem_used_mib")
    if total is None or used is None:
        return None
    return max(0, total - used - (gpu.get("mem_reserved_mib") or 0))


def energy_mj(gpu: dict) -> float | None:
    """The driver's energy counter in millijoules (dcgm-exporter's unit)."""
    return None if gpu.get("energy_j") is None else gpu["energy_j"] * 1000


def key(name: str) -> Callable[[dict], float | None]:
    """A reading straight from the newest state."""
    return lambda gpu: gpu.get(name)


@dataclass(frozen=True)
class Field:
    """One dcgm-exporter field: its name, Prometheus type, help text and our reading."""

    name: str
    kind: str
    doc: str
    value: Callable[[dict], float | None]


# Names, types and help texts as in dcgm-exporter's etc/default-counters.csv; the fan, the
# power limit, the P-state and the clocks-event bits as its other field lists name them.
# The clocks-event bits go out under both names DCGM has used for them.
FIELDS = (
    Field("DCGM_FI_DEV_SM_CLOCK", GAUGE, "SM clock frequency (in MHz).", key("sm_mhz")),
    Field("DCGM_FI_DEV_MEM_CLOCK", GAUGE, "Memory clock frequency (in MHz).", key("mem_mhz")),
    Field("DCGM_FI_DEV_GPU_TEMP", GAUGE, "GPU temperature (in C).", key("temp_c")),
    Field("DCGM_FI_DEV_POWER_USAGE", GAUGE, "Power draw (in W).", key("power_w")),
    Field(
        "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION",
        COUNTER,
        "Total energy consumption since boot (in mJ).",
        energy_mj,
    ),
    Field("DCGM_FI_DEV_GPU_UTIL", GAUGE, "GPU utilization (in %).", key("util")),
    Field("DCGM_FI_DEV_MEM_COPY_UTIL", GAUGE, "Memory utilization (in %).", key("mem_util")),
    Field("DCGM_FI_DEV_ENC_UTIL", GAUGE, "Encoder utilization (in %).", key("enc_util")),
    Field("DCGM_FI_DEV_DEC_UTIL", GAUGE, "Decoder utilization (in %).", key("dec_util")),
    Field(XID, GAUGE, "Value of the last XID error encountered.", key("xid_last")),
    Field("DCGM_FI_DEV_FB_FREE", GAUGE, "Framebuffer memory free (in MiB).", fb_free),
    Field("DCGM_FI_DEV_FB_USED", GAUGE, "Framebuffer memory used (in MiB).", key("mem_used_mib")),
    Field(
        "DCGM_FI_DEV_FB_RESERVED",
        GAUGE,
        "Framebuffer memory reserved (in MiB).",
        key("mem_reserved_mib"),
    ),
    Field("DCGM_FI_DEV_FAN_SPEED", GAUGE, "Fan speed (in %).", key("fan_pct")),
    Field(
        "DCGM_FI_DEV_POWER_MGMT_LIMIT",
        GAUGE,
        "Power management limit (in W).",
        key("power_limit_w"),
    ),
    Field("DCGM_FI_DEV_PSTATE", GAUGE, "Performance state (P-State) 0-15.", key("pstate")),
    Field(
        "DCGM_FI_DEV_CLOCK_THROTTLE_REASONS",
        GAUGE,
        "Current clock throttle reasons (bitmask).",
        key("clocks_event"),
    ),
    Field(
        "DCGM_FI_DEV_CLOCKS_EVENT_REASONS",
        GAUGE,
        "Current clock event reasons (bitmask).",
        key("clocks_event"),
    ),
)


def dcgm_families(conn: Connection, state: list[dict]) -> Iterator[Metric]:
    """One family per field, one series per GPU (or MIG device) that reports it, from the
    store's newest state (`latest_state`)."""
    by_uuid = {gpu["uuid"]: gpu for gpu in state}
    host, driver = recorded_host(conn), host_facts(conn)["driver_version"]
    gpus = [
        (gpu, series_labels(gpu, by_uuid.get(gpu["parent_uuid"]), host, driver))
        for gpu in present(conn, state)
    ]
    for field in FIELDS:
        family = new_family(field)
        for gpu, labels in gpus:
            value = field.value(gpu)
            if value is None:
                continue
            if field.name == XID:  # dcgm-exporter names the code in a label too
                labels = {**labels, "err_code": str(int(value))}
            family.samples.append(Sample(field.name, labels, value))
        yield family


def series_labels(gpu: dict, parent: dict | None, host: str, driver: str | None) -> dict:
    """dcgm-exporter's labels of a GPU's series; a MIG device is named by its physical GPU
    (index, UUID, bus, model) plus its profile and GPU instance id."""
    card = parent if gpu["parent_uuid"] and parent is not None else gpu
    labels = {
        "gpu": str(card["index"]),
        "UUID": card["uuid"],
        "pci_bus_id": card["pci_bus_id"] or "",
        "device": f"nvidia{card['index']}",
        "modelName": card["name"],
        "Hostname": host,
    }
    if gpu["parent_uuid"]:
        labels["GPU_I_PROFILE"] = gpu["mig_profile"] or ""
        labels["GPU_I_ID"] = "" if gpu["gpu_instance"] is None else str(gpu["gpu_instance"])
    if driver:
        labels["DCGM_FI_DRIVER_VERSION"] = driver
    return labels


def new_family(field: Field) -> Metric:
    """An empty family for `field`; its series carry their own label sets (MIG ones two more).

    The Prometheus client appends `_total` to every counter's name, which would rename
    dcgm-exporter's energy counter; it goes out untyped under its own name instead."""
    if field.kind == COUNTER:
        return UnknownMetricFamily(field.name, field.doc)
    return GaugeMetricFamily(field.name, field.doc)


def present(conn: Connection, gpus: list[dict]) -> list[dict]:
    """The GPUs in the newest ticks, as dcgm-exporter lists only the GPUs it sees now: not
    a GPU the driver reports lost, nor one gone from the collector's recent ticks (a
    replaced card, a MIG device of an older layout)."""
    sampled = [g for g in gpus if g["ts"] is not None and g["lost_at"] is None]
    if not sampled:
        return []
    newest = max(g["ts"] for g in sampled)
    window = STALE_AFTER_TICKS * collector_interval(conn)
    return [g for g in sampled if g["ts"] >= newest - window]
