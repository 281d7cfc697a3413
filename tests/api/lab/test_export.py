"""GET /api/v1/export.csv: the older lab format, one row per process per tick, streamed."""

from __future__ import annotations

import csv
import inspect
import io

from tests.support.lab import DAY_START, HOSTILE, fill_day, lab_app


def test_csv_has_one_row_per_process_sample_and_is_streamed(conn, db_path):
    expected = fill_day(conn, 50)
    reply = lab_app(db_path).test_client().get("/api/v1/export.csv?date=2026-03-03")
    assert reply.status_code == 200 and reply.mimetype == "text/csv"
    assert reply.is_streamed
    assert 'filename="gpupulse-2026-03-03.csv"' in reply.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(reply.get_data(as_text=True))))
    assert rows[0] == ["Timestamp", "User", "PID", "GPU Number", "GPU Usage"]
    body = rows[1:]
    assert (
        len(body)
        == expected
        == conn.execute(
            "SELECT count(*) FROM process_samples WHERE ts >= ? AND ts < ?",
            (DAY_START, DAY_START + 86_400),
        ).fetchone()[0]
    )
    assert body[0] == ["2026-03-03 00:00:00", "alice", "1000", "0", "100"]
    assert body[-1][0] == "2026-03-03 00:49:00"
    assert [HOSTILE, "5000", "1", "7"] in [r[1:] for r in body]
    assert ["bob", "9000", "1", ""] in [r[1:] for r in body]


def test_response_body_is_a_generator_of_chunks(conn, db_path):
    fill_day(conn, 3000, step=1)  # 9,000 rows: several batches
    app = lab_app(db_path)
    with app.test_request_context("/api/v1/export.csv?date=2026-03-03"):
        from api.lab.export import export_csv

        reply = export_csv()
        assert reply.is_streamed and inspect.isgenerator(reply.response)
        chunks = iter(reply.response)
        first = next(chunks)
        assert first.startswith("Timestamp,User,PID,GPU Number,GPU Usage")
        sizes = [len(c) for c in chunks]
    assert len(sizes) >= 4  # 9,000 rows in batches of 2,000, not one big string
    assert max(sizes) < 200_000


def test_days_follow_the_time_zone(conn, db_path):
    fill_day(conn, 2)
    app = lab_app(db_path, tz="America/New_York")
    text = app.test_client().get("/api/v1/export.csv?date=2026-03-02").get_data(as_text=True)
    # 2026-03-03 00:00 UTC is 19:00 the day before in New York.
    assert "2026-03-02 19:00:00,alice,1000,0,100" in text


def test_empty_day_is_just_the_header(client):
    reply = client.get("/api/v1/export.csv?date=2020-01-01")
    assert reply.get_data(as_text=True) == "Timestamp,User,PID,GPU Number,GPU Usage\n"


def test_bad_date_is_400(client):
    reply = client.get("/api/v1/export.csv?date=2026-02-30")
    assert reply.status_code == 400 and reply.get_json()["parameter"] == "date"
