"""GitHub Primer colours for light, dark and auto themes, shared by every SVG we draw.

Shapes carry a class (`l0`..`l4`, `fg`, `bg`) *and* a fill attribute. Light and dark SVGs
need no CSS at all; an `auto` SVG adds a <style> whose dark-mode rules override the light
fill attributes (CSS beats presentation attributes), so one file follows the viewer.
"""

from __future__ import annotations

from dataclasses import dataclass

THEMES = ("light", "dark", "auto")
FONT_FAMILY = (
    '-apple-system, BlinkMacSystemFont, "Segoe UI", "Noto Sans", Helvetica, Arial, sans-serif'
)


@dataclass(frozen=True)
class Palette:
    """The colours of one theme: five activity levels, text, background, cell outline."""

    levels: tuple[str, str, str, str, str]
    text: str
    muted: str
    background: str
    outline: str
    outline_opacity: float


LIGHT = Palette(
    levels=("#eff2f5", "#aceebb", "#4ac26b", "#2da44e", "#116329"),
    text="#1f2328",
    muted="#59636e",
    background="#ffffff",
    outline="#1f2328",
    outline_opacity=0.06,
)
DARK = Palette(
    levels=("#151b23", "#033a16", "#196c2e", "#2ea043", "#56d364"),
    text="#f0f6fc",
    muted="#9198a1",
    background="#0d1117",
    outline="#ffffff",
    outline_opacity=0.05,
)


def palette(theme: str) -> Palette:
    """The palette whose colours go into fill attributes (auto starts from light)."""
    return DARK if theme == "dark" else LIGHT


def _rules(p: Palette) -> str:
    levels = "".join(f".l{i}{{fill:{c}}}" for i, c in enumerate(p.levels))
    return (
        f"{levels}.bg{{fill:{p.background}}}.fg{{fill:{p.text}}}.muted{{fill:{p.muted}}}"
        f".cell{{stroke:{p.outline};stroke-opacity:{p.outline_opacity}}}"
    )


def stylesheet(theme: str) -> str | None:
    """CSS for an `auto` SVG (light rules plus a prefers-color-scheme: dark block), else None."""
    if theme != "auto":
        return None
    return f"{_rules(LIGHT)}@media (prefers-color-scheme: dark){{{_rules(DARK)}}}"
