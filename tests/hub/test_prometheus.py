"""docs/prometheus: promtool accepts the rules and the scrape config, and every metric the
rules and the Grafana dashboard read is one a GPU Pulse host's /metrics exposes."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from store.db import atomic
from tests.support.hub import HOST, make_hub

DOCS = Path(__file__).resolve().parents[2] / "docs" / "prometheus"
METRIC = re.compile(r"\bgpupulse_[a-z0-9_]+\b")
RECORDED = re.compile(r"\bgpupulse:[a-z0-9_:]+\b")
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool not installed (Debian package `prometheus`)"
)


def rules() -> list[dict]:
    groups = yaml.safe_load((DOCS / "rules.yml").read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def dashboard_exprs() -> list[str]:
    board = json.loads((DOCS / "grafana-dashboard.json").read_text())
    variables = [v["definition"] for v in board["templating"]["list"] if "definition" in v]
    return variables + [t["expr"] for p in board["panels"] for t in p["targets"]]


@needs_promtool
@pytest.mark.parametrize(("what", "name"), [("rules", "rules.yml"), ("config", "prometheus.yml")])
def test_promtool_accepts_the_files(what, name):
    done = subprocess.run(
        [PROMTOOL, "check", what, name], cwd=DOCS, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout + done.stderr


def test_every_metric_used_is_exposed(fleet):
    with atomic(fleet.conn):  # the GPUs' newest samples become the live state
        fleet.conn.execute(
            "UPDATE gpus SET last_seen = (SELECT max(ts) FROM samples WHERE gpu = gpus.id)"
        )
    text = make_hub(fleet.path).test_client().get("/metrics").data.decode()
    families = list(text_string_to_metric_families(text))
    exposed = {s.name for f in families for s in f.samples}
    used = {m for rule in rules() for m in METRIC.findall(rule["expr"])}
    used |= {m for expr in dashboard_exprs() for m in METRIC.findall(expr)}
    assert used and used <= exposed, used - exposed
    recorded = {rule["record"] for rule in rules() if "record" in rule}
    for expr in [r["expr"] for r in rules()] + dashboard_exprs():
        assert set(RECORDED.findall(expr)) <= recorded, expr


def test_the_counters_hold_the_calendars_numbers(fleet):
    text = make_hub(fleet.path).test_client().get("/metrics").data.decode()
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for f in text_string_to_metric_families(text)
        for s in f.samples
    }
    gpu_minutes, active_minutes = fleet.conn.execute(
        "SELECT total(gpu_minutes), total(active_minutes) FROM daily WHERE gpu = 0"
    ).fetchone()
    per_gpu = sum(
        v for (name, _), v in samples.items() if name == "gpupulse_gpu_active_seconds_total"
    )
    assert per_gpu == pytest.approx(gpu_minutes * 60)
    host = samples[("gpupulse_host_active_seconds_total", (("host", HOST),))]
    assert host == pytest.approx(active_minutes * 60)
    alice = samples[("gpupulse_user_gpu_seconds_total", (("host", HOST), ("user", "alice")))]
    (expected,) = fleet.conn.execute(
        "SELECT total(gpu_seconds) FROM user_daily WHERE gpu = 0 AND user = 'alice'"
    ).fetchone()
    assert alice == pytest.approx(expected) and alice > 0
