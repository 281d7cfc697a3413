"""Check that a fetched file is a well-formed SVG of sane size before the workflow commits it.

Usage: python3 .github/scripts/check_svg.py FILE...   (exit 1 with one line per bad file)
Standard library only: it runs on the bare GitHub runner.
"""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from pathlib import Path

SVG_NS = "{http://www.w3.org/2000/svg}"
# An empty 53-week grid is a few kB; a full one with per-cell titles well under 1 MB.
MIN_BYTES = 1_000
MAX_BYTES = 2_000_000


def svg_problem(data: bytes) -> str | None:
    """What is wrong with `data` as an activity graph, or None when it is fine."""
    if not MIN_BYTES <= len(data) <= MAX_BYTES:
        return f"{len(data)} bytes, expected {MIN_BYTES} to {MAX_BYTES}"
    # A DOCTYPE can declare entities (entity expansion); the api never sends one.
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        return "has a DOCTYPE or ENTITY declaration"
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        return f"not well-formed XML ({exc})"
    if root.tag != f"{SVG_NS}svg":
        return f"root element is {root.tag!r}, not an SVG <svg>"
    if any(el.tag in (f"{SVG_NS}script", "script") for el in root.iter()):
        return "contains a <script> element"
    if sum(1 for el in root.iter(f"{SVG_NS}rect")) == 0:
        return "has no <rect> cells; not an activity graph"
    return None


def main(argv: list[str]) -> int:
    """Check every file named in argv; print one line per bad file; 0 when all are fine."""
    if not argv:
        print("usage: check_svg.py FILE...", file=sys.stderr)
        return 2
    bad = 0
    for name in argv:
        path = Path(name)
        problem = svg_problem(path.read_bytes()) if path.is_file() else "no such file"
        if problem:
            print(f"{name}: {problem}", file=sys.stderr)
            bad += 1
        else:
            print(f"{name}: ok")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
