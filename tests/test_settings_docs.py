"""The README's settings table and `.env.example` are what runtime/table.py generates."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "settings_docs.py"


def docs_module():
    """scripts/settings_docs.py, imported from its file (scripts/ is not a package)."""
    spec = importlib.util.spec_from_file_location("settings_docs", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", ["README.md", ".env.example"])
def test_generated_file_matches_the_table(name):
    docs = docs_module()
    path = ROOT / name
    problem = docs.first_difference(name, docs.expected()[path], path.read_text(encoding="utf-8"))
    assert problem is None, f"{problem}; run .venv/bin/python scripts/settings_docs.py --write"


def test_a_difference_is_named_by_file_and_line():
    docs = docs_module()
    assert docs.first_difference("x", "a\nb\nc\n", "a\nB\nc\n") == "x:2: expected 'b', found 'B'"
    assert docs.first_difference("x", "a\nb\n", "a\n") == "x:2: expected 2 lines, found 1"
    assert docs.first_difference("x", "same\n", "same\n") is None


def test_check_mode_is_clean():
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--check"], capture_output=True, text=True, timeout=60
    )
    assert (done.returncode, done.stderr) == (0, "")


def test_every_setting_of_the_table_is_documented_in_both():
    from runtime.table import SETTINGS

    readme = (ROOT / "README.md").read_text()
    example = (ROOT / ".env.example").read_text()
    for name, entry in SETTINGS.items():
        assert f"| `{name}` |" in readme, name
        assert f"\n# {name}={entry.default}\n" in example, name
