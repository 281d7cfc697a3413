"""A GPU's newest readings as the GPU page lists them: label, value, and whether the value
deserves a warning (throttling, Xid errors, uncorrected memory errors)."""

from __future__ import annotations

from datetime import datetime, tzinfo

from api.lab.page_rows import gib
from api.svg.text import number

NONE = "\N{EN DASH}"  # what a reading the driver does not report shows
# NVML's clocks-event (formerly "throttle") reason bits, nvml.h nvmlClocksEventReason*.
CLOCKS_EVENT_REASONS = (
    (0x1, "idle", False),
    (0x2, "application clocks setting", False),
    (0x4, "software power cap", True),
    (0x8, "hardware slowdown", True),
    (0x10, "sync boost", False),
    (0x20, "software thermal slowdown", True),
    (0x40, "hardware thermal slowdown", True),
    (0x80, "hardware power brake", True),
    (0x100, "display clock setting", False),
)


def clocks_event_text(bits: int | None) -> tuple[str, bool]:
    """The reasons a bit field names ('none' for 0) and whether one of them slows the GPU."""
    if bits is None:
        return "not reported", False
    if bits == 0:
        return "none", False
    named = [(name, bad) for bit, name, bad in CLOCKS_EVENT_REASONS if bits & bit]
    unknown = bits & ~sum(bit for bit, _, _ in CLOCKS_EVENT_REASONS)
    words = [name for name, _ in named] + ([f"other (0x{unknown:x})"] if unknown else [])
    return ", ".join(words), any(bad for _, bad in named)


def unit(value: float | None, suffix: str, digits: int = 0) -> str:
    """'71 °C', '301 W', or a dash when the driver does not report it."""
    return NONE if value is None else f"{number(value, digits)} {suffix}".strip()


def row(label: str, value: str, warn: bool = False) -> dict:
    """One line of the readings table."""
    return {"label": label, "value": value, "warn": warn}


def power_text(gpu: dict) -> str:
    """'301 W of 450 W' (the enforced limit when known)."""
    now = unit(gpu.get("power_w"), "W")
    limit = gpu.get("power_limit_w")
    return now if limit is None else f"{now} of {number(limit, 0)} W"


def error_rows(gpu: dict) -> list[dict]:
    """Xid and memory errors, flagged when any were seen."""
    xid = gpu.get("xid_count")
    xid_text = "not reported" if xid is None else str(xid)
    if xid and gpu.get("xid_last") is not None:
        xid_text += f" (newest: Xid {gpu['xid_last']})"
    out = [row("Xid errors seen", xid_text, bool(xid))]
    for key, label in (
        ("ecc_uncorrected", "Uncorrected ECC errors"),
        ("retired_pages", "Retired pages"),
        ("remapped_rows", "Remapped rows"),
    ):
        if gpu.get(key) is not None:
            out.append(row(label, str(gpu[key]), gpu[key] > 0))
    return out


def readings(gpu: dict, tz: tzinfo) -> list[dict]:
    """Every reading of the GPU's newest sample and state the page lists."""
    reasons, throttled = clocks_event_text(gpu.get("clocks_event"))
    when = "no samples" if gpu.get("ts") is None else datetime.fromtimestamp(gpu["ts"], tz)
    out = [
        row("Newest sample", str(when)[:19]),
        row("Utilization", unit(gpu.get("util"), "%")),
        row("Memory used", f"{gib(gpu.get('mem_used_mib'))} of {gib(gpu.get('memory_total_mib'))}"),
        row("Temperature", unit(gpu.get("temp_c"), "°C")),
        row("Power", power_text(gpu)),
        row(
            "Clocks (SM / memory)",
            f"{unit(gpu.get('sm_mhz'), 'MHz')} / {unit(gpu.get('mem_mhz'), 'MHz')}",
        ),
        row("Performance state", NONE if gpu.get("pstate") is None else f"P{gpu['pstate']}"),
        row("Clocks held down by", reasons, throttled),
        row("Fan", unit(gpu.get("fan_pct"), "%")),
        row(
            "Encoder / decoder",
            f"{unit(gpu.get('enc_util'), '%')} / {unit(gpu.get('dec_util'), '%')}",
        ),
        *error_rows(gpu),
    ]
    if gpu.get("pcie_tx_kbs") is not None or gpu.get("pcie_rx_kbs") is not None:
        tx, rx = gpu.get("pcie_tx_kbs"), gpu.get("pcie_rx_kbs")
        out.append(
            row(
                "PCIe (tx / rx)",
                f"{unit(tx and tx / 1024, 'MB/s', 1)} / {unit(rx and rx / 1024, 'MB/s', 1)}",
            )
        )
    for key, label in (
        ("mem_reserved_mib", "Memory reserved by the driver"),
        ("pci_bus_id", "PCI bus"),
        ("mig_profile", "MIG profile"),
        ("parent_uuid", "Physical GPU"),
        ("activity", "Active time measured by"),
        ("note", "Note"),
    ):
        if gpu.get(key) is not None:
            value = gib(gpu[key]) if key == "mem_reserved_mib" else str(gpu[key])
            out.append(row(label, value))
    return out
