"""`gpupulse-api hosts add|list|revoke` as a real child process over a real database file."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys

from store import open_db
from tests.support.hub import make_hub, post


def hosts(db, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "GPUPULSE_DB": str(db)}
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "from api.cli import main; raise SystemExit(main())",
            "hosts",
            *args,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_add_prints_the_token_once_and_only_its_hash_is_stored(hub_db):
    added = hosts(hub_db, "add", "box1")
    assert added.returncode == 0, added.stderr
    token = added.stdout.strip()
    assert re.fullmatch(r"gpp_\d+_[A-Za-z0-9_-]{43}", token) and added.stdout.count("\n") == 1
    assert "not shown again" in added.stderr
    conn = open_db(hub_db, write=True)
    (stored,) = conn.execute("SELECT token_hash FROM hub_hosts WHERE name = 'box1'").fetchone()
    conn.close()
    assert stored == hashlib.sha256(token.encode()).hexdigest()
    for path in hub_db.parent.glob("hub.db*"):  # the file, its WAL: no copy of the token
        assert token.encode() not in path.read_bytes()
    again = hosts(hub_db, "add", "box1").stdout.strip()
    assert again != token


def test_list_and_revoke(hub_db):
    token = hosts(hub_db, "add", "box1").stdout.strip()
    hosts(hub_db, "add", "box2")
    listed = hosts(hub_db, "list", "--format", "json")
    assert [(h["name"], h["revoked"]) for h in json.loads(listed.stdout)] == [
        ("box1", None),
        ("box2", None),
    ]
    table = hosts(hub_db, "list").stdout.splitlines()
    assert table[0].split()[:3] == ["host", "source", "token"] and "active" in table[1]

    revoked = hosts(hub_db, "revoke", "box1")
    assert revoked.returncode == 0 and revoked.stdout.startswith("revoked box1")
    snap = {"host": "box1", "every_s": 60, "gpus": []}
    answer = post(make_hub(hub_db).test_client(), "/api/v1/status", snap, token)
    assert answer.status_code == 401
    assert "revoked" in hosts(hub_db, "list").stdout.splitlines()[1]


def test_mistakes_are_one_line_and_non_zero(hub_db, tmp_path):
    for args, code, text in (
        (("revoke", "nobody"), 1, "no host 'nobody'"),
        (("add",), 2, "need a NAME"),
        (("add", "all"), 2, "reserved"),
        (("add", "x" * 200), 2, "at most 128"),
    ):
        done = hosts(hub_db, *args)
        assert done.returncode == code and text in done.stderr, (args, done.stderr)
        assert len(done.stderr.strip().splitlines()) == 1
    missing = hosts(tmp_path / "none.db", "add", "box1")
    assert missing.returncode == 2 and "does not exist" in missing.stderr
    bad = hosts(hub_db, "rename")
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1


def test_targoman_hosts_are_listed_and_a_bad_zone_is_one_line(hub_db):
    assert hosts(hub_db, "add", "t-box", "--targoman", "--tz", "Asia/Tehran").returncode == 0
    listed = json.loads(hosts(hub_db, "list", "--format", "json").stdout)
    assert [(h["name"], h["targoman"]) for h in listed] == [("t-box", 1)]
    assert "targoman" in hosts(hub_db, "list").stdout
    for args in (("--tz", "Asia/Tehran"), ("--targoman", "--tz", "Mars/Olympus")):
        bad = hosts(hub_db, "add", "other", *args)
        assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1, bad.stderr
