"""What an unmodified Targoman gpu_monitor client posts, read as an hourly payload.

Its `send_data` POSTs the object it is given, plus `contract_number`, with only
`Content-Type` and `X-Contract-Number` headers. Two bodies come of it:

- `{"gpus": [GPU entry, ...], "contract_number"}` (the object handed to `send_data`);
- a queued row of its `aggregated_data` table, as its `send_pending_data` sends it:
  `{"id", "aggregation_time": "2024-03-20T13:00:00", "data": "<JSON text>",
  "contract_number"}`, `data` holding the GPU entries (a list, or an object with `gpus`).

A GPU entry is its `aggregate_gpu_data` output: `device_id`, `name` and
`<reading>_mean/_min/_max` (the keys protocol.hourly calls STAT_KEYS); older entries say
`avg_<reading>`. What it lacks is derived (`complete`): the host from the token, the hour
from `aggregation_time` (a time without a zone is read in the host's zone, then taken to
the start of its UTC hour) or else the last hour that has ended, `samples` as one per
minute (its default collection interval), active seconds from utilization, energy from
mean power, and the host summary from the GPUs. Fields a body already has are kept, so a
GPU Pulse payload passes through unchanged.
"""

from __future__ import annotations

from datetime import datetime
from statistics import fmean
from zoneinfo import ZoneInfo

import orjson

from protocol.fields import Invalid
from protocol.hourly import HOUR_S, STAT_KEYS
from protocol.timeparse import iso

SAMPLES_PER_HOUR = 60  # Targoman collects once a minute by default
STAT_NAMES = tuple(key for key, _ in STAT_KEYS)
PASSED_THROUGH = ("built_at",)


def _num(value) -> float | None:
    """A JSON number, else None (a bad value is left for the checks to name)."""
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


def hour_of(text: object, tz: ZoneInfo) -> int:
    """The UTC hour holding an `aggregation_time`; zone-less times are in `tz`."""
    if not isinstance(text, str):
        raise Invalid("aggregation_time", "aggregation_time must be an ISO 8601 time")
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise Invalid(
            "aggregation_time", f"aggregation_time {text[:40]!r} is not an ISO 8601 time"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=tz)
    return int(when.timestamp()) // HOUR_S * HOUR_S


def gpu_list(body: dict) -> object:
    """The GPU entries of a body: `gpus`, or those inside a queued row's `data`."""
    if "gpus" in body or "data" not in body:
        return body.get("gpus")
    inner = body["data"]
    if isinstance(inner, str):
        try:
            inner = orjson.loads(inner)
        except orjson.JSONDecodeError:
            raise Invalid("data", "data must hold the GPU entries as JSON") from None
    return inner.get("gpus") if isinstance(inner, dict) else inner


def active_seconds(entry: dict, threshold: float) -> float:
    """Seconds of the hour the GPU was active, estimated from its utilization: all of it
    when even the lowest reading was over the threshold, none when the highest was not,
    else the share mean/max (the GPU either at its peak or idle)."""
    mean = _num(entry.get("sm_utilization_percent_mean"))
    low = _num(entry.get("sm_utilization_percent_min"))
    high = _num(entry.get("sm_utilization_percent_max"))
    if mean is None:
        return 0.0
    high = mean if high is None else high
    if low is not None and low > threshold:
        return float(HOUR_S)
    if high <= threshold or high <= 0:
        return 0.0
    return round(HOUR_S * min(1.0, mean / high), 3)


def complete_gpu(entry: dict, threshold: float) -> dict:
    """One GPU entry with samples, active seconds, energy and total memory where missing."""
    out = dict(entry)
    if "device_id" not in out and "uid" in out:
        out["device_id"] = out["uid"]  # the key its collections use
    for key in STAT_NAMES:
        old = f"avg_{key.removesuffix('_mean')}"
        if key.endswith("_mean") and key not in out and old in out:
            out[key] = out[old]
    if out.get("memory_total_mb") is None and _num(out.get("memory_total_mb_max")) is not None:
        out["memory_total_mb"] = int(out["memory_total_mb_max"])
    out.setdefault("samples", SAMPLES_PER_HOUR)
    if out.get("active_seconds") is None:
        out["active_seconds"] = active_seconds(out, threshold)
    power = _num(out.get("power_usage_watts_mean"))
    if out.get("energy_wh") is None and power is not None:
        out["energy_wh"] = power * HOUR_S / 3600  # mean watts over one hour
    return out


def summary_of(gpus: list[dict]) -> dict:
    """A host summary from its GPU entries: the longest-active GPU as the host's active
    time, GPU time and energy summed, means averaged, extremes kept."""
    numbers = lambda key: [v for g in gpus if (v := _num(g.get(key))) is not None]  # noqa: E731
    out: dict = {
        "samples": max(numbers("samples"), default=0),
        "active_seconds": max(numbers("active_seconds"), default=0),
        "gpu_active_seconds": sum(numbers("active_seconds")),
    }
    if energy := numbers("energy_wh"):
        out["energy_wh"] = sum(energy)
    for key in STAT_NAMES:
        if values := numbers(key):
            pick = min if key.endswith("_min") else max if key.endswith("_max") else fmean
            out[key] = pick(values)
    return out


def complete(body: dict, host: str, now: float, tz: ZoneInfo, threshold: float) -> dict:
    """A Targoman client's body as an hourly payload (a complete one comes back as it is)."""
    if "host_summary" in body and "hour" in body and "host" in body:
        return body
    payload: dict = {"host": body.get("host", host)}
    if "hour" in body:
        payload["hour"] = body["hour"]
    elif "aggregation_time" in body:
        payload["hour"] = hour_of(body["aggregation_time"], tz)
        payload["aggregation_time"] = iso(payload["hour"])
    else:  # sent when an hour ended: that hour
        payload["hour"] = int(now) // HOUR_S * HOUR_S - HOUR_S
    found = gpu_list(body)
    if not isinstance(found, list):
        raise Invalid("gpus", "gpus must be a list of GPU entries (or data must hold one)")
    gpus = [complete_gpu(g, threshold) if isinstance(g, dict) else g for g in found]
    summary = body.get("host_summary") or summary_of([g for g in gpus if isinstance(g, dict)])
    payload.update(host_summary=summary, gpus=gpus)
    payload.update({k: body[k] for k in PASSED_THROUGH if k in body})
    return payload
