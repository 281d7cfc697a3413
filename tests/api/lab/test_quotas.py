"""Quotas: the settings, the math, /api/v1/quotas and the Prometheus gauges."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from api.lab.settings import LabSettings
from runtime.quotas import load_quotas
from runtime.settings import SettingError, load
from tests.support.lab import HOSTILE


def test_quota_setting_and_file_merge_with_the_variable_winning(tmp_path):
    path = tmp_path / "quotas"
    path.write_text("# lab quotas\nalice = 20\ncarol=5  # visiting\n*=80\n", encoding="utf-8")
    quotas = load_quotas("alice=200,bob=50", str(path))
    assert quotas.limit("alice") == 200 and quotas.limit("bob") == 50
    assert quotas.limit("carol") == 5 and quotas.limit("dave") == 80
    assert load_quotas("", "").limit("anyone") is None


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"GPUPULSE_QUOTAS": "alice=lots"}, "GPUPULSE_QUOTAS: the limit for 'alice'"),
        ({"GPUPULSE_QUOTAS": "alice"}, "GPUPULSE_QUOTAS: item 'alice'"),
        ({"GPUPULSE_QUOTAS": "bob=-3"}, "GPUPULSE_QUOTAS: the limit for 'bob'"),
        ({"GPUPULSE_QUOTAS_FILE": "/no/such/file"}, "GPUPULSE_QUOTAS_FILE='/no/such/file'"),
    ],
)
def test_bad_quota_settings_name_the_variable(env, named):
    with pytest.raises(SettingError, match="^" + named.replace("*", r"\*")):
        load(LabSettings, env)


def test_used_limit_and_percent(lab_client):
    body = lab_client.get("/api/v1/quotas").get_json()
    assert body["month"] == "2026-03" and body["default_limit_gpu_hours"] == 100
    users = {u["user"]: u for u in body["users"]}
    assert users["alice"] == {
        "user": "alice",
        "display_name": "Alice Liddell",
        "used_gpu_hours": 12.0,
        "limit_gpu_hours": 10.0,
        "percent": 120.0,
        "over": True,
    }
    assert (users["bob"]["percent"], users["bob"]["over"]) == (10.0, False)
    assert users[HOSTILE]["limit_gpu_hours"] == 100 and users[HOSTILE]["percent"] == 0.5
    assert body["users"][0]["user"] == "alice"  # the most used share first


def test_other_month_and_users_with_a_limit_but_no_use(lab_client):
    body = lab_client.get("/api/v1/quotas?month=2026-02").get_json()
    users = {u["user"]: u for u in body["users"]}
    assert users["bob"]["used_gpu_hours"] == 2.0 and users["alice"]["used_gpu_hours"] == 0


@pytest.mark.parametrize("month", ["2026-13", "March", "2026-3", "1969-12"])
def test_bad_month_is_400(lab_client, month):
    reply = lab_client.get(f"/api/v1/quotas?month={month}")
    assert reply.status_code == 400 and reply.get_json()["parameter"] == "month"


def test_prometheus_gauges(lab_client):
    text = lab_client.get("/metrics").get_data(as_text=True)
    families = {f.name: f for f in text_string_to_metric_families(text)}
    ratio = {s.labels["user"]: s.value for s in families["gpupulse_user_quota_used_ratio"].samples}
    assert ratio["alice"] == pytest.approx(1.2) and ratio["bob"] == pytest.approx(0.1)
    used = {s.labels["user"]: s.value for s in families["gpupulse_user_month_gpu_hours"].samples}
    assert used[HOSTILE] == 0.5
    limit = families["gpupulse_user_quota_limit_gpu_hours"].samples
    assert {s.labels["user"]: s.value for s in limit}["alice"] == 10
    assert "gpupulse_gpu_utilization_percent" in families  # the existing gauges stay
