"""`collector import` over the shapes users' files really come in (tests/data, see SOURCES.md).

Every data row is imported, merged into its second, or reported by line; never dropped.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from pysqlite3 import dbapi2 as sqlite3

from collector.logfiles import synthetic_uuid
from store import open_db
from tests.support.commands import without_settings

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"
SMI = DATA / "nvidia-smi"


def run_import(db: Path, *args: str, tz: str = "UTC") -> subprocess.CompletedProcess:
    env = without_settings()
    env["GPUPULSE_TZ"] = tz
    cmd = [sys.executable, "-m", "collector", "import", "--db", str(db), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, cwd=ROOT, env=env)


def query(db: Path, sql: str, *params) -> list[tuple]:
    conn = open_db(db)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def per_gpu(db: Path) -> dict[str, list[tuple]]:
    """uuid -> [(ts, util, mem_used_mib, power_dw, temp_c, fan_pct)] in time order."""
    rows = query(
        db,
        "SELECT g.uuid, s.ts, s.util, s.mem_used_mib, s.power_dw, s.temp_c, "
        "s.fan_pct FROM samples s JOIN gpus g ON g.id = s.gpu ORDER BY g.idx, s.ts",
    )
    out: dict[str, list[tuple]] = {}
    for uuid, *rest in rows:
        out.setdefault(uuid, []).append(tuple(rest))
    return out


def local(text: str, tz: str = "UTC") -> int:
    return int(
        datetime.strptime(text, "%Y/%m/%d %H:%M:%S").replace(tzinfo=ZoneInfo(tz)).timestamp()
    )


def test_nounits_keeps_units_in_the_header_only(tmp_path):
    db = tmp_path / "p.db"
    done = run_import(db, "--host", "vc", str(SMI / "virtualclient_query-gpu-1xH100.csv"))
    assert done.returncode == 0, done.stderr
    ((uuid, rows),) = per_gpu(db).items()
    assert uuid == synthetic_uuid("nvidia-smi:vc:pci=00000000:0A:00.0|index=0")
    assert rows == [(local("2024/03/15 13:57:59"), 1, 3, 709, 26, None)]  # 70.89 W average
    assert "imported 1 samples of 1 GPU(s) from 1 row(s)" in done.stdout
    assert "ignored columns: driver_version" in done.stderr


def test_eight_identical_gpus_each_with_its_millisecond_stay_eight(tmp_path):
    # In this real file GPUs 4-7 repeat the bus ids of 0-3 (and their milliseconds): told
    # apart by bus id alone, four would silently swallow the other four.
    db = tmp_path / "p.db"
    done = run_import(db, str(SMI / "virtualclient_query-gpu-8xH100.csv"))
    assert done.returncode == 0, done.stderr
    assert "(0 merged into their second)" in done.stdout
    gpus = query(db, "SELECT idx, name, pci_bus_id FROM gpus ORDER BY idx")
    assert [g[0] for g in gpus] == list(range(8))
    assert {g[1] for g in gpus} == {"NVIDIA H100 80GB HBM3"}
    assert query(db, "SELECT count(*) FROM samples") == [(8,)]


def test_bare_and_bracketed_na_are_null(tmp_path):
    db = tmp_path / "p.db"
    assert run_import(db, str(SMI / "virtualclient_query-gpu-1xT4-NA.csv")).returncode == 0
    ((_, rows),) = per_gpu(db).items()
    assert rows[0][1:4] == (2, 100, None)  # util 2 %, 100 MiB used, power [N/A]
    assert query(db, "SELECT pci_bus_id FROM gpus") == [("00000001:01:00.0",)]


@pytest.mark.parametrize(
    "name",
    [
        "nvidia_gpu_exporter_linux-x86_64__nvidia-h100-mig__590.48.01__idle_query-gpu.csv",
        "nvidia_gpu_exporter_linux-x86_64__nvidia-l40s__595.80__idle_query-gpu.csv",
        "nvidia_gpu_exporter_windows-x86_64__nvidia-geforce-rtx-2080-super__591.86__idle_query-gpu.csv",
    ],
)
def test_a_wide_query_of_a_new_driver_imports_what_gpu_pulse_keeps(tmp_path, name):
    db = tmp_path / "p.db"
    done = run_import(db, str(SMI / name))
    assert done.returncode == 0, done.stderr
    assert "skipped 0 bad row(s)" in done.stdout
    assert query(db, "SELECT count(*) FROM samples") == [(1,)]
    # The uuid column identifies the GPU (masked, but a uuid).
    assert query(db, "SELECT uuid FROM gpus")[0][0].startswith("GPU-")


def test_a_header_before_every_row_is_skipped_not_bad(tmp_path):
    db = tmp_path / "p.db"
    done = run_import(db, str(SMI / "repro_header_every_row.csv"))
    assert done.returncode == 0, done.stderr
    assert "skipped 5 repeated header line(s)" in done.stdout
    assert "imported 6 samples of 1 GPU(s) from 6 row(s)" in done.stdout
    ((_, rows),) = per_gpu(db).items()
    assert [r[1] for r in rows] == [22, 23, 24, 25, 26, 27]


def test_a_headerless_log_in_nvidias_documented_order_is_recognised(tmp_path):
    db = tmp_path / "p.db"
    done = run_import(db, str(SMI / "repro_noheader_nvidia_example.csv"))
    assert done.returncode == 0, done.stderr
    assert "no header: read as --columns timestamp,name,pci.bus_id" in done.stdout
    by_bus = dict(
        query(
            db,
            "SELECT g.pci_bus_id, max(s.mem_used_mib) FROM samples s "
            "JOIN gpus g ON g.id = s.gpu GROUP BY g.id",
        )
    )
    assert by_bus == {"00000000:3B:00.0": 4, "00000000:86:00.0": 18000}


def test_lip6s_noheader_nounits_order_is_recognised(tmp_path):
    db = tmp_path / "p.db"
    done = run_import(db, str(SMI / "repro_lip6_noheader_nounits.csv"))
    assert done.returncode == 0, done.stderr
    gpus = per_gpu(db)
    assert sorted(gpus) == [f"GPU-1c2d3e4f-0000-4000-8000-00000000000{i}" for i in (0, 1)]
    assert [r[1] for r in gpus["GPU-1c2d3e4f-0000-4000-8000-000000000001"]] == [50, 51, 52]


def test_a_headerless_log_of_another_order_needs_columns_and_says_so(tmp_path):
    path = tmp_path / "noheader.csv"
    path.write_text("2024/03/20 14:30:00.000, 0, 45 %\n2024/03/20 14:30:05.000, 0, 47 %\n")
    refused = run_import(tmp_path / "p.db", str(path))
    assert refused.returncode == 2
    (line,) = refused.stderr.strip().splitlines()
    assert "is not a header" in line and "--columns" in line
    done = run_import(tmp_path / "p.db", "--columns", "timestamp,index,utilization.gpu", str(path))
    assert done.returncode == 0, done.stderr
    assert [r[1] for r in next(iter(per_gpu(tmp_path / "p.db").values()))] == [45, 47]


def test_identical_gpus_without_identity_are_kept_apart_and_said(tmp_path):
    db = tmp_path / "p.db"
    done = run_import(db, str(SMI / "repro_identical_no_index.csv"))
    assert done.returncode == 0, done.stderr
    assert "identical GPUs without index or uuid (2 x NVIDIA RTX A6000)" in done.stdout
    gpus = per_gpu(db)
    assert len(gpus) == 2
    assert sorted(tuple(r[1] for r in rows) for rows in gpus.values()) == [
        (0, 10, 20),
        (90, 90, 90),
    ]


def test_several_rows_per_second_are_merged_and_counted(tmp_path):
    db = tmp_path / "p.db"
    done = run_import(db, str(SMI / "repro_lms200.csv"))
    assert done.returncode == 0, done.stderr
    assert (
        "imported 2 samples of 1 GPU(s) from 10 row(s) (8 merged into their second)" in done.stdout
    )
    ((_, rows),) = per_gpu(db).items()
    # util 0, 20, 40, 60, 80 -> mean 40; memory: the peak; power: the mean (120 W).
    assert [(r[1], r[2], r[3]) for r in rows] == [(40, 1004, 1200)] * 2
    assert query(db, "SELECT DISTINCT tick_ms FROM samples") == [(1000,)]


def test_utf16_from_powershell_and_utf8_with_bom_read_like_plain_utf8(tmp_path):
    imported = {}
    for name in ("repro_powershell_utf16_crlf.csv", "repro_utf8_bom.csv"):
        db = tmp_path / f"{name}.db"
        done = run_import(db, str(SMI / name))
        assert done.returncode == 0, done.stderr
        imported[name] = per_gpu(db)
    assert imported["repro_powershell_utf16_crlf.csv"] == imported["repro_utf8_bom.csv"]
    ((uuid, rows),) = imported["repro_utf8_bom.csv"].items()
    assert uuid == "GPU-7a7a7a7a-0000-4000-8000-000000000001"
    assert [r[1] for r in rows] == [30, 31, 32]


def test_older_units_and_every_missing_marker(tmp_path):
    db = tmp_path / "p.db"
    done = run_import(db, str(SMI / "repro_old_units_markers.csv"))
    assert done.returncode == 0, done.stderr
    ((_, rows),) = per_gpu(db).items()
    assert rows[0][1:] == (33, 2000, None, 61, None)  # [Unknown Error] power, [Not Supported] fan
    assert rows[1][1:] == (35, 2010, None, 62, 45)  # [Insufficient Permissions] power
    assert query(db, "SELECT memory_total_mib FROM gpus") == [(8119,)]


def test_iso_timestamps_with_offsets_and_z(tmp_path):
    db = tmp_path / "p.db"
    assert run_import(db, str(SMI / "repro_iso_timestamps.csv"), tz="Asia/Tokyo").returncode == 0
    base = int(datetime(2024, 3, 20, 13, 30, tzinfo=ZoneInfo("UTC")).timestamp())
    assert [r[0] - base for r in next(iter(per_gpu(db).values()))] == [0, 5, 10]


def test_local_timestamps_follow_tz(tmp_path):
    db = tmp_path / "p.db"
    path = SMI / "repro_header_every_row.csv"
    assert run_import(db, str(path), tz="America/New_York").returncode == 0
    first = query(db, "SELECT min(ts) FROM samples")[0][0]
    assert first == local("2023/06/22 18:56:56", "America/New_York")


def test_two_machines_gpu_0_stay_two_gpus(tmp_path):
    db = tmp_path / "p.db"
    path = str(SMI / "repro_lms200.csv")
    assert run_import(db, "--host", "node-a", path).returncode == 0
    assert run_import(db, "--host", "node-b", path).returncode == 0
    assert run_import(db, "--host", "node-a", path).returncode == 0  # the same GPU again
    uuids = {u for (u,) in query(db, "SELECT uuid FROM gpus")}
    assert uuids == {synthetic_uuid(f"nvidia-smi:{h}:index=0") for h in ("node-a", "node-b")}


def test_exit_status_and_summary_count_every_row(tmp_path):
    good = tmp_path / "good.csv"
    good.write_text("timestamp, index, utilization.gpu [%]\n2024/03/20 14:30:00, 0, 5 %\n")
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "timestamp, index, utilization.gpu [%]\n2024/03/20 14:30:00, 0, 5 %\n"
        "2024/03/20 14:30:05, 0, lots\n"
    )
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    assert run_import(tmp_path / "a.db", str(good)).returncode == 0
    partial = run_import(tmp_path / "b.db", str(bad))
    assert (
        partial.returncode == 1
        and f"{bad}:3: skipped: util 'lots' is not a number" in partial.stderr
    )
    assert "skipped 1 bad row(s)" in partial.stdout
    nothing = run_import(tmp_path / "c.db", str(empty))
    assert nothing.returncode == 2 and len(nothing.stderr.strip().splitlines()) == 1
    mixed = run_import(tmp_path / "d.db", str(good), str(empty))
    assert mixed.returncode == 1  # something imported, one file refused


def test_a_gpu_named_by_nothing_is_the_one_gpu_of_its_file(tmp_path):
    path = tmp_path / "bare.csv"
    path.write_text(
        "timestamp, utilization.gpu [%]\n2024/05/01 12:00:00, 5 %\n2024/05/01 12:00:05, 7 %\n"
    )
    done = run_import(tmp_path / "p.db", "--host", "lab1", str(path))
    assert done.returncode == 0, done.stderr
    assert list(per_gpu(tmp_path / "p.db")) == [synthetic_uuid("nvidia-smi:lab1:name=#0")]


def test_gpu_stats_real_lowercase_header_from_its_script(tmp_path):
    # The header geblanco/gpu_stats_service's gpu_stats.sh writes, rows as gpu_info.py prints.
    script = (DATA / "gpu_stats" / "geblanco_gpu_info.py.txt").read_text()
    assert "timestamp" in script and "usage" in script
    path = tmp_path / "20210324_gpu_stats.csv"
    path.write_text(
        "timestamp,user,pid,gpu,usage\n1616584200,m_user,456815,0,90\n1616584500,-,-,-,0\n"
    )
    done = run_import(tmp_path / "p.db", "--host", "gs", str(path))
    assert done.returncode == 0, done.stderr
    rows = per_gpu(tmp_path / "p.db")[synthetic_uuid("gpu_stats:gs:0")]
    assert [(r[0], r[1]) for r in rows] == [(1616584200, 90), (1616584500, 0)]


def targoman_db(path: Path, rows: list[tuple[str, dict]]) -> Path:
    """A gpu_metrics.db with Targoman gpu_monitor's `collections` table (its db.py schema)."""
    conn = sqlite3.connect(str(path))
    conn.execute(
        "CREATE TABLE collections (id INTEGER PRIMARY KEY AUTOINCREMENT, timestamp TEXT "
        "NOT NULL, data TEXT NOT NULL, sent INTEGER DEFAULT 0, error TEXT)"
    )
    conn.executemany(
        "INSERT INTO collections (timestamp, data) VALUES (?, ?)",
        [(ts, json.dumps(data)) for ts, data in rows],
    )
    conn.commit()
    conn.close()
    return path


def test_a_targoman_history_is_imported_in_both_of_its_formats(tmp_path):
    new = {
        "gpus": [
            {
                "uid": "GPU-9f9f",
                "pci_bus_id": "00000000:25:00.0",
                "name": "NVIDIA A40",
                "temperature": 51,
                "memory_used": 2 * 1024**3,
                "memory_total": 48 * 1024**3,
                "gpu_utilization": 77,
                "memory_utilization": 30,
                "power_usage": 210.5,
                "fan_speed": 0,
                "graphics_clock": 1740,
                "memory_clock": 7251,
            }
        ]
    }
    old = {
        "gpus": {
            "0": {
                "name": "NVIDIA A40",
                "temperature": 40,
                "memory_used": 0,
                "memory_total": 48 * 1024**3,
                "gpu_utilization": 3,
                "memory_utilization": 0,
                "power_usage": 30.0,
                "fan_speed": 0,
                "graphics_clock": 210,
                "memory_clock": 405,
            }
        }
    }
    db = targoman_db(
        tmp_path / "gpu_metrics.db",
        [
            ("2025-05-06T14:30:00.123456", new),
            ("2025-05-06T14:31:00.123456", new),
            ("2025-05-01T09:00:00.000001", old),
            ("2025-05-06T14:32:00", {"gpus": "broken"}),
        ],
    )
    done = run_import(tmp_path / "p.db", "--host", "t1", str(db), tz="Asia/Tehran")
    assert done.returncode == 1  # the broken collection is reported, the rest imported
    assert (
        f"{db}:4: skipped: collection 4: data's gpus is neither a list nor an object" in done.stderr
    )
    gpus = per_gpu(tmp_path / "p.db")
    t0 = int(datetime(2025, 5, 6, 14, 30, tzinfo=ZoneInfo("Asia/Tehran")).timestamp())
    assert gpus["GPU-9f9f"] == [(t0, 77, 2048, 2105, 51, 0), (t0 + 60, 77, 2048, 2105, 51, 0)]
    assert [r[1] for r in gpus[synthetic_uuid("targoman:t1:0")]] == [3]
