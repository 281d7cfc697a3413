"""`gpupulse-api usage | export | reservations` as real child processes on a real file."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime

import pytest

from store import atomic
from tests.support.lab import HOSTILE, fill_day, seed


def ahead(days: int) -> str:
    """An ISO end `days` from the real clock (the CLI books against the real clock)."""
    moment = datetime.fromtimestamp(int(time.time()) + days * 86_400, UTC)
    return moment.replace(minute=0, second=0).isoformat()


COMMENTS = {
    "labbox": [
        {"name": "alice", "date": ahead(23), "comment": "thesis <final>"},
        {"name": "", "date": "", "comment": ""},
        {"name": "bob", "date": "", "comment": "until further notice"},
    ],
    "otherbox": {"3": {"name": "carol", "date": ahead(1), "comment": ""}},
}


def cli(*args: str, db, stdin: str | None = None, **env) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", "from api.cli import main; raise SystemExit(main())", *args],
        env={**os.environ, "GPUPULSE_DB": str(db), **env},
        capture_output=True,
        text=True,
        timeout=60,
        input=stdin,
    )


def test_usage_table_and_json(conn, db_path):
    seed(conn)
    done = cli(
        "usage", "--from", "2026-02-01", "--to", "2026-03-31", db=db_path, GPUPULSE_USER_ALIASES=""
    )
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "GPU-hours by user, 2026-02-01 to 2026-03-31 (UTC)"
    assert lines[1].split() == ["GPU-hours", "held", "idle", "h", "kWh"]
    assert lines[2].split() == ["alice", "12.00", "0.00", "0.00"]
    assert lines[3].split() == ["bob", "7.00", "0.00", "0.00"]
    assert lines[-2].split() == ["total", "19.50", "0.00", "0.00"]
    done = cli(
        "usage", "--by", "month", "--from", "2026-02-01", "--to", "2026-03-31", "--json", db=db_path
    )
    rows = json.loads(done.stdout)["rows"]
    assert [(r["month"], r["gpu_hours"]) for r in rows] == [("2026-02", 2.0), ("2026-03", 17.5)]


def test_usage_bad_option_is_one_line(db_path):
    done = cli("usage", "--by", "team", db=db_path)
    assert done.returncode == 2 and done.stderr.startswith("gpupulse-api: --by: unknown by")
    assert len(done.stderr.strip().splitlines()) == 1
    done = cli("usage", "--from", "2026-03-05", "--to", "2026-03-01", db=db_path)
    assert done.returncode == 2 and done.stderr.startswith("gpupulse-api: --from:")


def test_export_writes_one_file_per_day(conn, db_path, tmp_path):
    expected = fill_day(conn, 20)
    out = tmp_path / "csv"
    done = cli(
        "export", "--dir", str(out), "--from", "2026-03-02", "--to", "2026-03-04", db=db_path
    )
    assert done.returncode == 0, done.stdout + done.stderr
    files = sorted(p.name for p in out.iterdir())
    assert files == [
        "gpupulse-2026-03-02.csv",
        "gpupulse-2026-03-03.csv",
        "gpupulse-2026-03-04.csv",
    ]
    with (out / "gpupulse-2026-03-03.csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert len(rows) - 1 == expected and [HOSTILE, "5000", "1", "7"] in [r[1:] for r in rows]
    assert f"gpupulse-2026-03-03.csv ({expected:,} rows)" in done.stdout


def test_export_needs_dir(db_path):
    done = cli("export", db=db_path)
    assert done.returncode == 2 and "--dir" in done.stderr


def test_comments_json_round_trip(conn, db_path, tmp_path):
    seed(conn)  # host_id labbox, GPUs 0 and 1
    source = tmp_path / "comments.json"
    source.write_text(json.dumps(COMMENTS), encoding="utf-8")
    done = cli("reservations", "import", str(source), db=db_path)
    assert done.returncode == 0 and done.stdout.strip() == f"imported 3 reservations from {source}"
    rows = conn.execute("SELECT host, gpu, name, until FROM reservations ORDER BY host, gpu")
    assert [r[:3] for r in rows] == [("", 0, "alice"), ("", 2, "bob"), ("otherbox", 3, "carol")]
    done = cli("reservations", "export", "-", db=db_path)
    assert done.returncode == 0, done.stdout + done.stderr
    exported = json.loads(done.stdout)
    assert exported["labbox"] == COMMENTS["labbox"]
    assert exported["otherbox"][3] == COMMENTS["otherbox"]["3"]
    assert exported["otherbox"][:3] == [{"name": "", "date": "", "comment": ""}] * 3
    # And back again: importing the export changes nothing.
    again = tmp_path / "again.json"
    again.write_text(done.stdout, encoding="utf-8")
    assert cli("reservations", "import", str(again), db=db_path).returncode == 0
    assert json.loads(cli("reservations", "export", "-", db=db_path).stdout) == exported


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ([], "comments.json must be an object"),
        ({"h": "x"}, "h: expected a list"),
        ({"h": {"zero": {}}}, "h: key 'zero' is not a GPU index"),
        ({"h": [{"name": "a", "date": "next week"}]}, "h[0].date 'next week' is not an ISO"),
        ({"h": [{"name": 5}]}, "h[0].name must be text"),
    ],
)
def test_bad_comments_json_is_one_line(db_path, tmp_path, doc, message):
    source = tmp_path / "bad.json"
    source.write_text(json.dumps(doc), encoding="utf-8")
    done = cli("reservations", "import", str(source), db=db_path)
    assert done.returncode == 2 and done.stderr.startswith(f"gpupulse-api: {source}: {message}")
    assert len(done.stderr.strip().splitlines()) == 1


def test_an_old_comments_json_never_undoes_a_booking_made_since(conn, db_path, tmp_path):
    seed(conn)
    now = int(time.time())
    with atomic(conn):
        conn.execute(
            "INSERT INTO reservations (gpu, name, comment, created, until) "
            "VALUES (0, 'dana', 'booked today', ?, ?)",
            (now, now + 86_400),
        )
    # As PHP writes it: \u00e8 escapes, \/ slashes, an index-keyed object, a null name.
    old = (
        '{"labbox":{"0":{"name":"h\\u00e9l\\u00e8ne","date":"2020-01-02 10:00",'
        '"comment":"run 3\\/4"},"1":{"name":null,"date":"","comment":"free"},'
        '"2":{"name":"eve","date":"9999-12-31","comment":""}}}'
    )
    source = tmp_path / "comments.json"
    source.write_text(old, encoding="utf-8")
    done = cli("reservations", "import", str(source), db=db_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (
        f"imported 2 reservations from {source} (1 already ended, skipped; "
        "1 without a real end, kept until removed)"
    )
    rows = conn.execute("SELECT gpu, name, comment, until FROM reservations ORDER BY gpu")
    assert [r[:3] for r in rows] == [(0, "dana", "booked today"), (1, "", "free"), (2, "eve", "")]
    assert conn.execute("SELECT until FROM reservations WHERE gpu = 2").fetchone() == (None,)
