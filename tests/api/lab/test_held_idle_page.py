"""The status page flags a GPU held idle longer than GPUPULSE_HELD_IDLE_ALERT with who holds
it, since when and how much memory; the Users table shows held-idle hours of the last 24 h
and 7 days; a process shows its workload next to its user."""

from __future__ import annotations

from html.parser import HTMLParser

from store.db import atomic
from store.energy import Rates
from tests.support.app import NOW
from tests.support.lab import lab_app
from tests.support.rows import add_gpu, add_sample, set_meta_value

BROWSER = {"Accept": "text/html"}
T = int(NOW)  # 15:00 UTC
TICK = 300


class Text(HTMLParser):
    """The page's text, and the text inside the held-idle alert on its own."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self.alert: list[str] = []
        self.depth = 0

    def handle_starttag(self, tag, attrs):
        if self.depth or "held-alert" in (dict(attrs).get("class") or ""):
            self.depth += 1

    def handle_endtag(self, tag):
        self.depth = max(self.depth - 1, 0)

    def handle_data(self, data):
        if data.strip():
            words = " ".join(data.split())
            self.parts.append(words)
            if self.depth:
                self.alert.append(words)


def page(db_path, **lab) -> Text:
    reply = lab_app(db_path, **lab).test_client().get("/", headers=BROWSER)
    assert reply.status_code == 200
    parsed = Text()
    parsed.feed(reply.get_data(as_text=True))
    return parsed


def notebook(conn) -> None:
    """GPU #1 held by carol's notebook (20 GiB, a Slurm job) and idle since 13:00; GPU #0
    busy with bob's training run in a container; carol held GPUs idle 10 h this week."""
    add_gpu(conn, 1, 0, "GPU-aaaa", "A100", seen=T)
    add_gpu(conn, 2, 1, "GPU-bbbb", "A100", seen=T)
    set_meta_value(conn, "interval", str(TICK))
    with atomic(conn):
        for pid, user, command, workload in (
            (10, "carol", "jupyter-kernel", "slurm job 17"),
            (20, "bob", "python train.py", "docker 9d5b23edb1ba"),
        ):
            conn.execute(
                "INSERT INTO processes (id, pid, started, user, command, first_seen, last_seen, "
                "workload) VALUES (?,?,1,?,?,?,?,?)",
                (pid, pid, user, command, T - 2 * 3600, T, workload),
            )
        conn.execute(
            "INSERT INTO user_daily (day, gpu, user, gpu_seconds, held_idle_s) "
            "VALUES ('2026-03-02', 0, 'carol', 600, 36000)"
        )
    for ts in range(T - 2 * 3600, T + 1, TICK):
        add_sample(conn, ts, 2, util=0, active_ms=0, tick_ms=TICK * 1000, mem_used_mib=20_480)
        add_sample(conn, ts, 1, util=90, active_ms=TICK * 1000, tick_ms=TICK * 1000)
        with atomic(conn):
            conn.execute("INSERT INTO process_samples VALUES (?, 2, 10, 20480, 0)", (ts,))
            conn.execute("INSERT INTO process_samples VALUES (?, 1, 20, 30000, 90)", (ts,))


def test_gpu_held_idle_past_the_alert_is_flagged_with_its_holder(conn, db_path):
    notebook(conn)
    parsed = page(db_path)  # the alert's default: 30 minutes
    alert = " ".join(parsed.alert)
    # 25 ticks of 5 minutes from 13:00 to the one at 15:00: 2 h 5 min held idle.
    assert alert.startswith("1 GPU held but idle for more than 30 min")
    assert "#1 A100: idle 2 h 5 min since 13:00, 20 GiB held by carol slurm job 17 10" in alert
    assert "jupyter-kernel (20 GiB)" in alert
    assert "#0" not in alert  # bob's GPU is busy
    text = " ".join(parsed.parts)
    assert "held idle 2 h 5 min" in text  # the badge on GPU #1's row


def test_no_flag_below_the_alert(conn, db_path):
    notebook(conn)
    parsed = page(db_path, held_idle_alert_s=3 * 3600)
    assert parsed.alert == [] and "held idle 2 h" not in " ".join(parsed.parts)


def test_users_table_shows_held_idle_hours(conn, db_path):
    notebook(conn)
    text = " ".join(page(db_path).parts)
    assert "Held idle 24 h · 7 d" in text
    # Raw ticks (nothing rolled up yet) for the last 24 h; the daily roll-up for the week.
    assert "carol #1 0 GPU-h 2.1 GPU-h · 10 GPU-h" in text
    assert "bob #0" in text and "0 GPU-h · 0 GPU-h" in text


def test_workload_shown_next_to_the_user(conn, db_path):
    notebook(conn)
    text = " ".join(page(db_path).parts)
    assert "20@bob docker 9d5b23edb1ba python train.py" in text
    assert "10@carol slurm job 17 jupyter-kernel" in text


def test_energy_per_user_with_carbon_and_cost(conn, db_path):
    notebook(conn)
    with atomic(conn):
        conn.execute(
            "INSERT INTO user_daily (day, gpu, user, gpu_seconds, energy_wh) "
            "VALUES ('2026-03-03', 0, 'bob', 7200, 12500)"
        )
    plain = " ".join(page(db_path).parts)
    assert "Energy Mar 2026" in plain and "bob #0 2.1 GPU-h 0 GPU-h · 0 GPU-h 12.5 kWh" in plain
    rates = Rates(carbon_g_per_kwh=400, price_per_kwh=0.2, currency="EUR")
    text = " ".join(page(db_path, rates=rates).parts)
    assert "12.5 kWh · 5 kg CO2e · 2.5 EUR" in text
    assert "People's share of the GPUs' energy in Mar 2026: 12.5 kWh · 5 kg CO2e · 2.5 EUR" in text
