"""Energy, carbon and cost per user and GPU: ticks written by the collector's recorder (an
energy counter on one GPU, power only on the other), rolled up by the real scheduler job,
read through /api/v1/usage, /metrics, the usage command and store.energy."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime

import pytest
from prometheus_client.parser import text_string_to_metric_families

from scheduler import rollup
from scheduler.settings import load
from store import open_db
from store.energy import Rates, gpu_kwh, user_kwh
from store.samples import GpuInfo, GpuSample, ProcessSample, Recorder, Tick, set_meta
from tests.support.lab import lab_app

START = int(datetime(2026, 3, 3, 8, tzinfo=UTC).timestamp())
NOW = START + 86400
GPUS = [GpuInfo("GPU-c", 0, "NVIDIA A100"), GpuInfo("GPU-p", 1, "NVIDIA A100")]
RATES = Rates(carbon_g_per_kwh=400.0, price_per_kwh=0.3, currency="EUR")
ALICE_J = 30 * 60 * 300 + 30 * 60 * 300 * 0.75  # alone, then 75 % of the SM beside bob
BOB_J = 30 * 60 * 300 * 0.25 + 60 * 60 * 200  # his share on GPU 0, alone on GPU 1
IDLE_J = 30 * 60 * 50  # GPU 0 with no process: no one's


def ticks() -> list[Tick]:
    """GPU 0 (counter): alice 30 min at 300 W, alice and bob 30 min, nobody 30 min at 50 W.
    GPU 1 (no counter, 200 W): bob for an hour."""
    out, counter = [], 5_000_000
    for i in range(90):
        watts = 300 if i < 60 else 50
        counter += watts * 60
        procs = []
        if i < 60:
            procs.append(ProcessSample("GPU-c", 1, 1, "alice", "python a.py", 4096, 75))
        if 30 <= i < 60:
            procs.append(ProcessSample("GPU-c", 2, 1, "bob", "python b.py", 4096, 25))
        if i < 60:
            procs.append(ProcessSample("GPU-p", 3, 1, "bob", "python c.py", 4096, 90))
        samples = [
            GpuSample(GPUS[0], util=90 if i < 60 else 0, power_w=watts, energy_j=counter),
            GpuSample(GPUS[1], util=90 if i < 60 else 0, power_w=200 if i < 60 else 0),
        ]
        out.append(Tick(START + 60 * i, 60, samples, procs))
    return out


@pytest.fixture
def rolled(conn, db_path, tmp_path):
    Recorder(conn).write(ticks())
    set_meta(conn, [("host_id", "labbox")])
    env = {"GPUPULSE_DB": str(db_path), "GPUPULSE_HEARTBEAT": str(tmp_path / "hb")}
    rollup.run(conn, load(env), NOW)
    return db_path


def test_energy_is_shared_like_gpu_time(rolled):
    conn = open_db(rolled)
    users = user_kwh(conn, "2026-03-01", "2026-03-31")
    assert users == pytest.approx({"alice": ALICE_J / 3.6e6, "bob": BOB_J / 3.6e6})
    gpus = gpu_kwh(conn, "2026-03-01", "2026-03-31")
    assert gpus[0] == pytest.approx((ALICE_J + BOB_J + IDLE_J) / 3.6e6)  # the host's draw
    ids = dict(conn.execute("SELECT idx, id FROM gpus").fetchall())
    assert gpus[ids[0]] == pytest.approx((60 * 300 + 30 * 50) * 60 / 3.6e6)  # counter's rise
    assert gpus[ids[1]] == pytest.approx(60 * 200 * 60 / 3.6e6)  # power x time
    conn.close()


def test_usage_reports_kwh_carbon_and_cost(rolled):
    client = lab_app(rolled, now=NOW, rates=RATES).test_client()
    body = client.get("/api/v1/usage?from=2026-03-01").get_json()
    alice = next(r for r in body["rows"] if r["user"] == "alice")
    kwh = ALICE_J / 3.6e6
    assert alice["energy_kwh"] == pytest.approx(kwh, abs=1e-4)
    assert alice["co2e_kg"] == pytest.approx(kwh * 0.4, abs=1e-4)
    assert alice["cost"] == pytest.approx(kwh * 0.3, abs=1e-4)
    assert body["currency"] == "EUR"
    assert body["energy_kwh"] == pytest.approx((ALICE_J + BOB_J) / 3.6e6, abs=1e-4)
    assert body["host_energy_kwh"] == pytest.approx((ALICE_J + BOB_J + IDLE_J) / 3.6e6, abs=1e-4)
    months = client.get("/api/v1/usage?by=month&from=2026-03-01").get_json()["rows"]
    assert months[0]["energy_kwh"] == body["energy_kwh"]
    plain = lab_app(rolled, now=NOW).test_client().get("/api/v1/usage?from=2026-03-01")
    assert (plain.get_json()["co2e_kg"], plain.get_json()["cost"]) == (None, None)


def test_metrics_give_energy_carbon_and_cost(rolled):
    text = lab_app(rolled, now=NOW, rates=RATES).test_client().get("/metrics").data.decode()
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    alice = (("host", "labbox"), ("user", "alice"))
    assert samples[("gpupulse_user_energy_joules_total", alice)] == pytest.approx(ALICE_J)
    kwh = samples[("gpupulse_user_month_energy_kwh", alice)]
    assert kwh == pytest.approx(ALICE_J / 3.6e6)
    assert samples[("gpupulse_user_month_co2e_kg", alice)] == pytest.approx(kwh * 0.4)
    cost = ("gpupulse_user_month_energy_cost", (("currency", "EUR"), *alice))
    assert samples[cost] == pytest.approx(kwh * 0.3)


def test_usage_command_shows_carbon_and_cost_when_rates_are_set(rolled):
    cli = (sys.executable, "-c", "from api.cli import main; raise SystemExit(main())")
    env = {
        **os.environ,
        "GPUPULSE_DB": str(rolled),
        "GPUPULSE_TZ": "UTC",
        "GPUPULSE_CARBON_G_PER_KWH": "400",
        "GPUPULSE_PRICE_PER_KWH": "0.3",
        "GPUPULSE_CURRENCY": "EUR",
    }
    args = [*cli, "usage", "--from", "2026-03-01", "--to", "2026-03-04"]
    done = subprocess.run(args, capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[1].split() == ["GPU-hours", "held", "idle", "h", "kWh", "kg", "CO2e", "cost"]
    alice = next(line.split() for line in lines if line.startswith("alice"))
    assert alice[3:] == ["0.26", "0.10", "0.08"]  # 0.2625 kWh, 0.105 kg, 0.07875 EUR
    done = subprocess.run([*args, "--json"], capture_output=True, text=True, timeout=60, env=env)
    assert json.loads(done.stdout)["currency"] == "EUR"
