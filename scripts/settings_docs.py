"""Generate the README's settings table and `.env.example` from runtime/table.py.

Usage: .venv/bin/python scripts/settings_docs.py [--check | --write]

--check (the default) exits 1 naming the first line that differs from what the table
generates; --write rewrites the README's table (between its markers) and `.env.example`.
"""

from __future__ import annotations

import argparse
import re
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from runtime.table import GROUPS, Setting  # noqa: E402

README = ROOT / "README.md"
ENV_EXAMPLE = ROOT / ".env.example"
BEGIN = "<!-- settings table: generated from runtime/table.py by scripts/settings_docs.py -->"
END = "<!-- end of the generated settings table -->"
ENV_HEADER = """\
# GPU Pulse settings. Copy to .env beside compose.yaml and uncomment what you change;
# every line shows the default. The README's "Settings" table explains each one.
# Generated from runtime/table.py by scripts/settings_docs.py --write: edit the table, not this.
"""


def default_cell(s: Setting) -> str:
    """The README's Default column."""
    if s.shown:
        return s.shown
    return f"`{s.default}`" if s.default else "empty"


def meaning(s: Setting) -> str:
    """The doc line and what fits, unless anything does or the doc already names it all."""
    allowed = s.kind.allowed()
    named = re.findall(r"`[^`]+`", allowed)
    if not allowed or (named and all(word in s.doc for word in named)):
        return s.doc
    return f"{s.doc} Allowed: {allowed}."


def readme_table() -> str:
    """The table between the markers, markers included."""
    rows = [
        f"| `{s.name}` | {default_cell(s)} | {meaning(s)} |" for g in GROUPS for s in g.settings
    ]
    return "\n".join([BEGIN, "| Variable | Default | Meaning |", "| --- | --- | --- |", *rows, END])


def readme(text: str) -> str:
    """The README with its settings table replaced by the generated one."""
    start, end = text.index(BEGIN), text.index(END) + len(END)
    return text[:start] + readme_table() + text[end:]


def comment(text: str) -> list[str]:
    """Markdown prose as `# ` comment lines of at most 92 characters."""
    plain = text.replace("`", "")
    return ["# " + line for line in textwrap.wrap(plain, 90, break_on_hyphens=False)]


def env_entry(s: Setting) -> list[str]:
    """One setting in `.env.example`: what it means, its default, who reads it."""
    default = f" Default: {s.shown}." if s.shown else ""
    readers = f" Read by: {', '.join(s.readers)}."
    return [*comment(meaning(s) + default + readers), f"# {s.name}={s.default}"]


def env_example() -> str:
    """The whole `.env.example`."""
    parts = [ENV_HEADER]
    for group in GROUPS:
        lines = [f"# --- {group.title} ---"]
        for s in group.settings:
            lines += env_entry(s)
        parts.append("\n".join(lines) + "\n")
    return "\n".join(parts)


def expected() -> dict[Path, str]:
    """Each generated file's text as the table makes it."""
    return {README: readme(README.read_text(encoding="utf-8")), ENV_EXAMPLE: env_example()}


def first_difference(name: str, want: str, have: str) -> str | None:
    """'FILE:LINE: expected ..., found ...' for the first differing line; None when equal."""
    if want == have:
        return None
    wanted, found = want.splitlines(), have.splitlines()
    for number, (a, b) in enumerate(zip(wanted, found, strict=False), start=1):
        if a != b:
            return f"{name}:{number}: expected {a!r}, found {b!r}"
    number = min(len(wanted), len(found)) + 1
    return f"{name}:{number}: expected {len(wanted)} lines, found {len(found)}"


def check() -> list[str]:
    """The first difference in each generated file, if any."""
    problems = []
    for path, text in expected().items():
        found = first_difference(path.name, text, path.read_text(encoding="utf-8"))
        if found:
            problems.append(found)
    return problems


def main() -> int:
    """--check (default) or --write."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--write", action="store_true", help="rewrite the README table and .env.example"
    )
    parser.add_argument("--check", action="store_true", help="exit 1 when either differs (default)")
    args = parser.parse_args()
    if args.write:
        for path, text in expected().items():
            path.write_text(text, encoding="utf-8")
        return 0
    problems = check()
    for problem in problems:
        print(f"{problem} (run scripts/settings_docs.py --write)", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
