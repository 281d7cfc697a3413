"""The hourly payload: Targoman's keys as before, plus the sums and per-user time a hub
needs, checked against the raw samples and the host's own roll-ups."""

from __future__ import annotations

import json

from scheduler import outbox
from store.db import atomic
from store.rollups import hourly_rows, user_daily_rows
from tests.support.hub import HOST

OLD_SUMMARY = ("samples", "active_seconds", "gpu_active_seconds", "energy_wh")


def test_targoman_keys_keep_their_values_and_sums_are_added(fleet):
    hour = fleet.hours()[10]
    sent = json.loads(fleet.body(hour))
    assert sent["host"] == HOST and sent["idempotency_key"] == f"{HOST}/{sent['aggregation_time']}"
    (host_row,) = hourly_rows(fleet.conn, hour, hour + 3600, 0)
    assert [sent["host_summary"][k] for k in OLD_SUMMARY] == [
        host_row["samples"],
        round(host_row["active_s"], 3),
        round(host_row["gpu_active_s"], 3),
        round(host_row["energy_wh"], 3),
    ]
    active = "coalesce(min(active_ms, tick_ms), CASE WHEN util > 1 THEN 1 ELSE 0 END) > 0"
    found = fleet.conn.execute(
        f"SELECT g.uuid, count(util), sum(util), count(CASE WHEN {active} THEN util END), "
        f"total(CASE WHEN {active} THEN util END) FROM samples s JOIN gpus g ON g.id = s.gpu "
        "WHERE ts >= ? AND ts < ? GROUP BY g.uuid",
        (hour, hour + 3600),
    )
    raw = {row[0]: row[1:] for row in found}
    for gpu in sent["gpus"]:
        n, total, active_n, active_total = raw[gpu["device_id"]]
        assert gpu["sm_utilization_percent_count"] == n
        assert gpu["sm_utilization_percent_sum"] == total
        assert gpu["sm_utilization_percent_active_count"] == active_n
        assert gpu["sm_utilization_percent_active_sum"] == active_total
        assert gpu["sm_utilization_percent_mean"] == round(total / n, 3)
        assert abs(gpu["energy_j"] / 3600 - gpu["energy_wh"]) <= 0.0005  # unrounded
    assert sent["host_summary"]["sm_utilization_percent_count"] == sum(v[0] for v in raw.values())


def test_users_time_in_the_hours_of_a_day_adds_up_to_the_hosts_own_day(fleet):
    day = "2026-03-02"  # a whole Berlin day inside the data: 23:00 UTC to 23:00 UTC
    hours = [h for h in fleet.hours() if 1772406000 <= h < 1772406000 + 86400]
    assert len(hours) == 24
    seconds: dict[str, float] = {}
    for hour in hours:
        for user in json.loads(fleet.body(hour))["host_summary"]["users"]:
            seconds[user["user"]] = seconds.get(user["user"], 0.0) + user["gpu_seconds"]
    own = {
        r["user"]: r["gpu_seconds"] for r in user_daily_rows(fleet.conn, day, day) if r["gpu"] == 0
    }
    assert set(seconds) == set(own) == {"alice", "bob", "carol"}
    for user, total in own.items():
        assert abs(seconds[user] - total) < 1e-6 * total


def test_a_resend_after_pruning_sends_the_same_sums_from_the_rollups(fleet):
    hour = fleet.hours()[7]
    frozen = fleet.body(hour)
    with atomic(fleet.conn):
        fleet.conn.execute(
            "DELETE FROM process_samples WHERE ts >= ? AND ts < ?", (hour, hour + 3600)
        )
        fleet.conn.execute("DELETE FROM samples WHERE ts >= ? AND ts < ?", (hour, hour + 3600))
        assert outbox.requeue(fleet.conn, fleet.settings, hour, 0)
    assert fleet.body(hour) == frozen
    rebuilt = outbox.build_payload(fleet.conn, fleet.settings, hour, 0)
    assert outbox.payload_hash(rebuilt) == outbox.payload_hash(json.loads(frozen))  # roll-ups
    summary = rebuilt["host_summary"]
    assert summary["users"] and summary["sm_utilization_percent_count"] == summary["samples"]
