"""Display names from the settings, applied in the JSON views and the activity SVG."""

from __future__ import annotations

import pytest

from api.lab.settings import LabSettings
from runtime.settings import SettingError, load
from tests.support.lab import lab_app
from tests.support.rows import add_days
from tests.support.svg_parse import parse, title_of


def test_settings_parse_gpu_names_and_the_alias_file(tmp_path):
    aliases = tmp_path / "aliases"
    aliases.write_text("# login = name\nalice = Alice Liddell\n\nbob=Bob B.\n", encoding="utf-8")
    lab = load(
        LabSettings,
        {
            "GPUPULSE_GPU_NAMES": "NVIDIA GeForce RTX 4090=4090, 1=second",
            "GPUPULSE_USER_ALIASES": str(aliases),
        },
    )
    assert lab.names.gpu("NVIDIA GeForce RTX 4090", 0, "GPU-x") == "4090"
    assert lab.names.gpu("NVIDIA GeForce RTX 4090", 1, "GPU-y") == "second"  # index wins
    assert lab.names.gpu("NVIDIA A100", 2) == "NVIDIA A100"
    assert lab.names.user("bob") == "Bob B." and lab.names.user("carol") == "carol"


def test_bad_alias_file_line_is_named(tmp_path):
    aliases = tmp_path / "aliases"
    aliases.write_text("alice = Alice\nnonsense\n", encoding="utf-8")
    with pytest.raises(SettingError, match=r"^GPUPULSE_USER_ALIASES: line 2 "):
        load(LabSettings, {"GPUPULSE_USER_ALIASES": str(aliases)})


def test_gpus_json_carries_display_names(lab_client):
    gpus = lab_client.get("/api/v1/gpus").get_json()["gpus"]
    assert gpus[0]["name"] == "NVIDIA GeForce RTX 4090" and gpus[0]["display_name"] == "4090"
    alice = next(p for p in gpus[0]["processes"] if p["user"] == "alice")
    assert alice["display_name"] == "Alice Liddell"


def test_activity_svg_header_and_titles_use_aliases(seeded, conn):
    add_days(conn, {"2026-03-03": 60}, gpu=1)
    client = lab_app(seeded).test_client()
    root = parse(client.get("/gpu-activity.svg?gpu=0&weeks=1").data)
    assert "GPU 0 (4090) on labbox" in title_of(root)
    root = parse(client.get("/gpu-activity.svg?user=alice&weeks=1").data)
    assert "by Alice Liddell on labbox" in title_of(root)
    titles = [
        title_of(r)
        for r in root.iter("{http://www.w3.org/2000/svg}rect")
        if "data-date" in r.attrib
    ]
    assert "9 h of GPU time for Alice Liddell on Tuesday, March 3, 2026" in titles
