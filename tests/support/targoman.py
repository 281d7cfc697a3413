"""A faithful reproduction of how Targoman gpu_monitor's client sends an aggregate
(Targoman/gpu_monitor @ 333152c2e83cae9ddccb6eede0e199e80b0f5d1d: src/gpu_monitor/server.py,
`ServerClient.send_data`; GPL-3.0, so rewritten, not copied), and the bodies it sends.

The request: a `requests` session POSTs the object with `json=` after setting its
`contract_number`, with only `Content-Type: application/json` and `X-Contract-Number`
headers and a 30 s timeout. The reply succeeds when it is HTTP 200 with a JSON object
holding `uid`, whose `params`, if present, equals the object sent.
"""

from __future__ import annotations

import json

import requests


def send_data(url: str, contract_number: str, data: dict) -> tuple[bool, str | None, str | None]:
    """(success, error, uid) as the client records them; `data` gains `contract_number`."""
    session = requests.Session()
    headers = {"Content-Type": "application/json", "X-Contract-Number": contract_number}
    try:
        data["contract_number"] = contract_number
        response = session.post(url, headers=headers, json=data, timeout=30)
        if response.status_code != 200:
            return False, f"Server returned non-200 status: {response.status_code}", None
        answer = response.json()
        if not isinstance(answer, dict):
            return False, "Server response is not a valid JSON object", None
        if "uid" not in answer:
            return False, "Server response missing required 'uid' field", None
        if "params" in answer and answer["params"] != data:
            return False, "Server response data does not match sent data", answer["uid"]
        return True, None, answer["uid"]
    finally:
        session.close()


def aggregate_entry(device_id: str, name: str, util: tuple[float, float, float]) -> dict:
    """One GPU as its `aggregate_gpu_data` writes it: device_id, name, and each numeric
    reading of its collections as `_mean`, `_min`, `_max` (the keys of its own tests)."""
    readings = {
        "memory_total_mb": (10240, 10240, 10240),
        "memory_used_mb": (5632.0, 5120, 6144),
        "memory_free_mb": (4608.0, 4096, 5120),
        "sm_utilization_percent": util,
        "memory_utilization_percent": (62.5, 60, 65),
        "temperature_celsius": (66.5, 65, 68),
        "fan_speed_percent": (52.5, 50, 55),
        "power_usage_watts": (210.0, 200, 220),
        "graphics_clock_mhz": (1825.0, 1800, 1850),
        "memory_clock_mhz": (9550.0, 9500, 9600),
    }
    out: dict = {"device_id": device_id, "name": name}
    for key, (mean, low, high) in readings.items():
        out.update({f"{key}_mean": mean, f"{key}_min": low, f"{key}_max": high})
    return out


def queued_row(row_id: int, aggregation_time: str, gpus: list[dict]) -> dict:
    """A row of its `aggregated_data` table as `send_pending_data` hands it to `send_data`:
    the GPU entries as JSON text under `data`."""
    return {"id": row_id, "aggregation_time": aggregation_time, "data": json.dumps(gpus)}
