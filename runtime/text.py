"""Text that is safe to show: what every input naming a person, a job or a GPU must not hold."""

from __future__ import annotations

import re

# C0 and C1 controls (NUL, escapes, DEL) and the bidi embeddings, overrides and isolates that
# make text shown on a page read as something else ("alice" drawn from "ecila" + U+202E).
UNSAFE_CHARS = r"\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069"
_UNSAFE = re.compile(f"[{UNSAFE_CHARS}]")


def unsafe_character(text: str) -> str | None:
    """'U+202E' for the first control or bidi-override character in `text`, else None."""
    found = _UNSAFE.search(text)
    return None if found is None else f"U+{ord(found.group()):04X}"
