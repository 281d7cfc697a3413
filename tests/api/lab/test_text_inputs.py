"""Text that can reach a page holds no control or bidi-override character, and numbers are
ASCII digits, in every input: query parameters, reservation bodies, comments.json imports and
display-name settings."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest

from api.lab.names import load_names
from runtime.settings import SettingError
from tests.support.commands import run_api
from tests.support.lab import TOKEN, lab_app

AUTH = {"Authorization": f"Bearer {TOKEN}"}
UNSAFE = ["\u202e", "\u202a", "\u2066", "\u2069", "\x00", "\x1b", "\x7f", "\x85", "\n"]


@pytest.fixture
def api(seeded):
    return lab_app(seeded).test_client()


def book(api, **fields):
    body = {"gpu": 1, "name": "alice", "until": "2d", **fields}
    return api.post("/api/v1/reservations", data=json.dumps(body), headers=AUTH)


@pytest.mark.parametrize("char", UNSAFE)
@pytest.mark.parametrize("field", ["name", "comment"])
def test_reservation_text_with_a_control_character_is_refused(api, field, char):
    reply = book(api, **{field: f"ali{char}ce"})
    assert reply.status_code == 400, reply.get_json()
    body = reply.get_json()
    assert body["parameter"] == field and f"U+{ord(char):04X}" in body["error"]
    assert api.get("/api/v1/reservations").get_json()["reservations"] == []


def test_plain_unicode_text_is_kept(api):
    reply = book(api, name="Zoë 山田", comment="thèse — final run")
    assert reply.status_code == 201 and reply.get_json()["reservation"]["name"] == "Zoë 山田"


@pytest.mark.parametrize("gpu", ["\u0663", "\u00b3", "\uff11"])  # Arabic-Indic 3, ³, fullwidth 1
def test_a_gpu_index_in_other_digits_is_refused(api, gpu):
    reply = book(api, gpu=gpu)
    assert reply.status_code == 400 and reply.get_json()["parameter"] == "gpu"
    assert book(api, gpu="1").status_code == 201


@pytest.mark.parametrize(
    ("path", "param"),
    [
        ("/gpu-activity.svg?user=", "user"),
        ("/gpu-activity.svg?gpu=", "gpu"),
        ("/charts/hours.svg?theme=", "theme"),
    ],
)
@pytest.mark.parametrize("char", ["\u202e", "\x00", "\x9b"])
def test_query_text_with_a_control_character_is_refused(api, path, param, char):
    reply = api.get(path + quote(f"bob{char}"))
    assert reply.status_code == 400 and reply.get_json()["parameter"] == param


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ("/api/v1/quotas?month=\u0662\u0660\u0662\u0666-03", "month"),
        ("/charts/users.svg?month=2026-\u0660\u0663", "month"),
        ("/api/v1/days?from=\u0662\u0660\u0662\u0666-03-01", "from"),
        ("/gpu-activity.svg?weeks=\u0665", "weeks"),
        ("/charts/months.svg?months=\u0663", "months"),
    ],
)
def test_numbers_in_other_digits_are_refused(api, query, param):
    reply = api.get(query)
    assert reply.status_code == 400 and reply.get_json()["parameter"] == param


def test_a_duration_in_other_digits_is_refused(api):
    reply = book(api, until="\u0663d")
    assert reply.status_code == 400 and reply.get_json()["parameter"] == "until"


def test_import_refuses_a_control_character_in_one_line(seeded, tmp_path):
    doc = {"labbox": [{"name": "ali\u202ece", "date": "", "comment": ""}]}
    path = tmp_path / "comments.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    done = run_api("reservations", "import", str(path), "--db", str(seeded))
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.strip().splitlines() == [
        f"gpupulse-api: {path}: labbox[0].name contains the control character U+202E"
    ]


def test_a_display_name_with_a_bidi_override_is_a_setting_error(tmp_path):
    aliases = tmp_path / "aliases"
    aliases.write_text("alice=Alice\nbob=\u202eecila\n", encoding="utf-8")
    with pytest.raises(SettingError, match=r"GPUPULSE_USER_ALIASES: item 2 .* U\+202E"):
        load_names("", str(aliases))
    with pytest.raises(SettingError, match="GPUPULSE_GPU_NAMES"):
        load_names("0=big\x00gpu", "")
