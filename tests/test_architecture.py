"""The package boundaries in pyproject.toml's [tool.importlinter], checked with lint-imports."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIG = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
FEATURES = {"lab", "hub"}


def test_every_import_contract_is_kept():
    lint = Path(sys.executable).parent / "lint-imports"
    assert lint.exists(), "lint-imports missing: install the test extras (import-linter)"
    done = subprocess.run([str(lint), "--no-cache"], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_root_packages_are_the_installed_ones():
    build = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    installed = [pattern.rstrip("*") for pattern in build["packages"]["find"]["include"]]
    assert sorted(CONFIG["root_packages"]) == sorted(installed)


def test_the_core_contract_names_every_core_module():
    # A new core module must not slip past "the api core imports no feature".
    [core] = [c for c in CONFIG["contracts"] if c["name"] == "The api core imports no feature"]
    api = ROOT / "api"
    modules = {p.stem for p in api.glob("*.py") if p.stem != "__init__"}
    packages = {p.parent.name for p in api.glob("*/__init__.py")} - FEATURES
    assert sorted(core["source_modules"]) == sorted(f"api.{m}" for m in modules | packages)
    assert set(core["forbidden_modules"]) == {f"api.{f}" for f in FEATURES}
