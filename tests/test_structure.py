"""Test modules reach shared helpers only through tests.support, never another test module."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Benchmarks and scripts borrow test helpers too; they follow the same rule.
SOURCES = ("tests/**/*.py", "benchmarks/*.py", "scripts/*.py")


def module_name(path: Path) -> str:
    """Dotted name of a file under ROOT (`tests/api/conftest.py` -> `tests.api.conftest`)."""
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(tree: ast.Module, name: str, is_package: bool) -> Iterator[tuple[int, str]]:
    """(line, absolute module name) of every import in `tree`, relative ones resolved."""
    package = name if is_package else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            if base == "tests":  # `from tests import api` imports the module tests.api
                for alias in node.names:
                    yield node.lineno, f"tests.{alias.name}"
            else:
                yield node.lineno, base


def forbidden(module: str) -> bool:
    """True for a test module or conftest, anything in `tests` but tests.support."""
    parts = module.split(".")
    if "conftest" in parts:
        return True
    return parts[0] == "tests" and len(parts) > 1 and parts[1] != "support"


def violations() -> list[str]:
    """`path:line imports module` for every forbidden import in the checked files."""
    found = []
    for pattern in SOURCES:
        for path in sorted(ROOT.glob(pattern)):
            tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
            name = module_name(path)
            imports = sorted(imported(tree, name, path.name == "__init__.py"))
            for line, module in imports:
                if forbidden(module):
                    found.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    return found


def test_no_module_imports_a_test_module_or_a_conftest():
    found = violations()
    assert not found, "import these from tests.support instead:\n" + "\n".join(found)


def test_the_check_sees_what_it_forbids():
    tree = ast.parse(
        "import tests.api.rows\nfrom tests.hub.conftest import HOST\nfrom tests import api\n"
        "from .conftest import NOW\nfrom tests.support import rows\nimport conftest\n"
    )
    modules = [m for _, m in imported(tree, "tests.api.lab.test_x", False) if forbidden(m)]
    expected = ["tests.api.rows", "tests.hub.conftest", "tests.api", "tests.api.lab.conftest"]
    assert modules == [*expected, "conftest"]
