"""`collector import`: nvidia-smi CSV logs and gpu_stats CSVs into a real store."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime
from zoneinfo import ZoneInfo

from collector.logfiles import synthetic_uuid
from store import open_db
from tests.support.commands import without_settings

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

SMI = """\
timestamp, name, pci.bus_id, uuid, utilization.gpu [%], memory.used [MiB], temperature.gpu, power.draw [W], fan.speed [%], pstate
2024/05/01 12:00:00.123, NVIDIA GeForce RTX 3090, 00000000:01:00.0, GPU-aaaa, 45 %, 1234 MiB, 55, 230.50 W, 40 %, P2
2024/05/01 12:00:00.130, Tesla T4, 00000000:02:00.0, GPU-bbbb, 0 %, 0 MiB, 35, 10.10 W, [Not Supported], P8
2024/05/01 12:00:10.120, NVIDIA GeForce RTX 3090, 00000000:01:00.0, GPU-aaaa, 50 %, 1300 MiB, 56, [N/A], 41 %, P2
2024/05/01 12:00:10.125, Tesla T4, 00000000:02:00.0, GPU-bbbb, 3 %, 10 MiB, 36, 12.00 W, [Not Supported], P0
2024/05/01 12:00:20.120, NVIDIA GeForce RTX 3090, 00000000:01:00.0, GPU-aaaa, 55 %, 1400 MiB, 57, 250.00 W, 42 %, P2
2024/05/01 12:00:30.120, NVIDIA GeForce RTX 3090, 00000000:01:00.0, GPU-aaaa, 60 %, 1500 MiB, 58, 260.00 W, 43 %, P2
2024/05/01 12:00:30.125, Tesla T4, 00000000:02:00.0, GPU-bbbb, 5 %, 10 MiB, 37, 13.00 W, [Not Supported], P0
"""  # noqa: E501

GPU_STATS = """\
Timestamp,User,PID,GPU Number,GPU Usage
1616584200,alice,456815,0,90
1616584200,bob,1234,1,30
1616584500,-,-,-,0
1616584800,alice,456815,0,85
1616584800,carol,777,0,85
1616585100,alice,456815,0,80
"""


def run_import(tmp_path, *files: str, tz: str = "UTC", host: str = "box"):
    env = without_settings()
    env["GPUPULSE_TZ"] = tz
    db = str(tmp_path / "p.db")
    return subprocess.run(
        [sys.executable, "-m", "collector", "import", "--db", db, "--host", host, *files],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env=env,
    )


def write(tmp_path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def samples(tmp_path, uuid: str) -> list[tuple]:
    conn = open_db(tmp_path / "p.db")
    rows = conn.execute(
        """SELECT s.ts, s.tick_ms, s.util, s.mem_used_mib, s.temp_c, s.fan_pct, s.power_dw,
                  s.pstate, s.active_ms
           FROM samples s JOIN gpus g ON g.id = s.gpu WHERE g.uuid = ? ORDER BY s.ts""",
        (uuid,),
    ).fetchall()
    conn.close()
    return rows


def test_nvidia_smi_log_with_units_and_unsupported_values(tmp_path):
    result = run_import(tmp_path, write(tmp_path, "smi.csv", SMI), tz="Europe/Berlin")
    assert result.returncode == 0, result.stderr
    assert "imported 7 samples of 2 GPU(s)" in result.stdout
    t0 = int(datetime(2024, 5, 1, 12, tzinfo=ZoneInfo("Europe/Berlin")).timestamp())
    a = samples(tmp_path, "GPU-aaaa")
    assert [r[0] - t0 for r in a] == [0, 10, 20, 30]
    assert a[0] == (t0, 10_000, 45, 1234, 55, 40, 2305, 2, None)
    assert a[1][6] is None  # [N/A] power stays NULL, never 0
    t4 = samples(tmp_path, "GPU-bbbb")
    # T4 samples are 10 s and 20 s apart: the median gap is 15 s.
    assert [r[1] for r in t4] == [15_000] * 3
    assert [r[5] for r in t4] == [None] * 3  # [Not Supported] fan
    conn = open_db(tmp_path / "p.db")
    names = dict(conn.execute("SELECT uuid, name FROM gpus"))
    assert names == {"GPU-aaaa": "NVIDIA GeForce RTX 3090", "GPU-bbbb": "Tesla T4"}
    assert conn.execute("SELECT kind FROM events").fetchall() == [("history_imported",)]
    conn.close()


def test_any_column_subset_and_order_nounits(tmp_path):
    text = (
        "utilization.gpu [%], index, timestamp\n"
        "7, 0, 2024/05/01 12:00:00\n9, 0, 2024/05/01 12:01:00\n"
    )
    result = run_import(tmp_path, write(tmp_path, "s.csv", text))
    assert result.returncode == 0, result.stderr
    rows = samples(tmp_path, synthetic_uuid("nvidia-smi:box:index=0"))
    assert [(r[1], r[2]) for r in rows] == [(60_000, 7), (60_000, 9)]


def test_bad_rows_are_reported_with_line_numbers_and_skipped(tmp_path):
    lines = SMI.splitlines()
    lines.insert(
        3, "2024/05/01 12:00:05.000, X, 00000000:01:00.0, GPU-aaaa, abc %, 1 MiB, 5, 1 W, 1 %, P2"
    )
    lines.insert(5, "not a row")
    lines.insert(6, "2024-13-45 99:00:00, X, b, GPU-aaaa, 5 %, 1 MiB, 5, 1 W, 1 %, P2")
    lines.insert(7, "2024/05/01 12:00:06.000, X, b, GPU-aaaa, 150 %, 1 MiB, 5, 1 W, 1 %, P2")
    result = run_import(tmp_path, write(tmp_path, "smi.csv", "\n".join(lines) + "\n"))
    assert result.returncode == 1
    err = result.stderr.splitlines()
    assert [e.split(": skipped")[0].rsplit(":", 1)[1] for e in err] == ["4", "6", "7", "8"]
    assert "utilization" in err[0] or "util" in err[0]
    assert "timestamp" in err[2]
    assert "imported 7 samples" in result.stdout and "skipped 4 bad row(s)" in result.stdout
    assert len(samples(tmp_path, "GPU-aaaa")) == 4


def test_gpu_stats_csv(tmp_path):
    result = run_import(tmp_path, write(tmp_path, "gs.csv", GPU_STATS))
    assert result.returncode == 0, result.stderr
    gpu0 = samples(tmp_path, synthetic_uuid("gpu_stats:box:0"))
    gpu1 = samples(tmp_path, synthetic_uuid("gpu_stats:box:1"))
    assert [(r[0], r[1], r[2]) for r in gpu0] == [
        (1616584200, 300_000, 90),
        (1616584500, 300_000, 0),
        (1616584800, 300_000, 85),
        (1616585100, 300_000, 80),
    ]
    # GPU 1 had no process after the first row: gpu_stats writes no row, so it was idle.
    assert [r[2] for r in gpu1] == [30, 0, 0, 0]
    conn = open_db(tmp_path / "p.db")
    procs = conn.execute("SELECT pid, started, user FROM processes ORDER BY pid").fetchall()
    assert procs == [
        (777, 1616584800, "carol"),
        (1234, 1616584200, "bob"),
        (456815, 1616584200, "alice"),
    ]
    shared = conn.execute("SELECT count(*) FROM process_samples WHERE ts = 1616584800")
    assert shared.fetchone()[0] == 2
    conn.close()
    # A second import of the same file maps to the same GPUs (stable synthetic UUIDs).
    assert run_import(tmp_path, str(tmp_path / "gs.csv")).returncode == 0
    assert len(samples(tmp_path, synthetic_uuid("gpu_stats:box:0"))) == 4


def test_gpu_stats_bad_rows(tmp_path):
    text = GPU_STATS + "yesterday,alice,1,0,5\n1616585400,alice,x,0,5\n1616585700,alice,1,0,250\n"
    result = run_import(tmp_path, write(tmp_path, "gs.csv", text))
    assert result.returncode == 1
    assert [e.split(":")[1] for e in result.stderr.splitlines()] == ["8", "9", "10"]
    assert len(samples(tmp_path, synthetic_uuid("gpu_stats:box:0"))) == 4


def test_unusable_files_exit_2_with_one_line(tmp_path):
    cases = {
        "empty.csv": "",
        "nots.csv": "name, utilization.gpu [%]\nA, 5 %\n",
        "nometric.csv": "timestamp, uuid\n2024/05/01 12:00:00, GPU-a\n",
    }
    for name, text in cases.items():
        result = run_import(tmp_path, write(tmp_path, name, text))
        assert result.returncode == 2, name
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    missing = run_import(tmp_path, str(tmp_path / "nope.csv"))
    assert missing.returncode == 2 and "cannot read" in missing.stderr
    assert not (tmp_path / "p.db").exists()
