"""What every lab chart shares: the document with its background, header and theme CSS,
text placement, the note an empty chart shows, and the series colours of stacked bars.

Series shapes carry a class (`s0`..`s7`) and a fill, like the calendar's levels, so an
`auto` chart's CSS switches them to the dark palette with the rest of the theme.
"""

from __future__ import annotations

import svgwrite

from api.svg.theme import FONT_FAMILY, Palette, palette, stylesheet

PAD = 10
HEADER_Y = 20
TOP = 34  # where the plot starts, under the header
SERIES = {
    "light": (
        "#2da44e",
        "#0969da",
        "#bf8700",
        "#cf222e",
        "#8250df",
        "#1b7c83",
        "#bc4c00",
        "#818b98",
    ),
    "dark": (
        "#3fb950",
        "#4493f8",
        "#d29922",
        "#f85149",
        "#ab7df8",
        "#39c5cf",
        "#db6d28",
        "#9198a1",
    ),
}
OTHERS = len(SERIES["light"]) - 1  # the grey, for "others"


def series_colour(theme: str, k: int) -> str:
    """The fill of series `k` (the last colour is the grey used for "others")."""
    return SERIES["dark" if theme == "dark" else "light"][min(k, OTHERS)]


def _series_rules(theme: str) -> str:
    return "".join(f".s{k}{{fill:{c}}}" for k, c in enumerate(SERIES[theme]))


def chart_css(theme: str) -> str | None:
    """The calendar's auto-theme CSS plus the series colours, for `auto` only."""
    base = stylesheet(theme)
    if base is None:
        return None
    return (
        f"{base}{_series_rules('light')}"
        f"@media (prefers-color-scheme: dark){{{_series_rules('dark')}}}"
    )


class Chart:
    """An SVG document being drawn: `root` is the group that holds everything."""

    def __init__(self, width: int, height: int, title: str, theme: str) -> None:
        self.theme, self.width, self.height = theme, width, height
        self.colours: Palette = palette(theme)
        dwg = svgwrite.Drawing(size=(width, height), profile="full", debug=False)
        dwg.viewbox(0, 0, width, height)
        dwg.attribs.update({"role": "img", "aria-label": title})
        dwg.set_desc(title=title)
        css = chart_css(theme)
        if css:
            dwg.defs.add(dwg.style(css))
        dwg.add(dwg.rect((0, 0), (width, height), rx=6, class_="bg", fill=self.colours.background))
        self.dwg = dwg
        self.root = dwg.add(dwg.g(font_family=FONT_FAMILY, font_size=10))
        self.text(title, (PAD, HEADER_Y), size=13)

    def text(
        self,
        content: str,
        at: tuple[float, float],
        muted: bool = False,
        size: int | None = None,
        **extra,
    ) -> None:
        """A line of text (already cleaned by the caller); muted uses the secondary colour."""
        cls, fill = ("muted", self.colours.muted) if muted else ("fg", self.colours.text)
        if size is not None:
            extra["font_size"] = size
        self.root.add(self.dwg.text(content, insert=at, class_=cls, fill=fill, **extra))

    def rect(
        self,
        at: tuple[float, float],
        size: tuple[float, float],
        cls: str,
        fill: str,
        title: str | None = None,
        parent=None,
        **extra,
    ) -> None:
        """A filled rectangle with an optional tooltip."""
        shape = self.dwg.rect(at, size, class_=cls, fill=fill, **extra)
        if title is not None:
            shape.set_desc(title=title)
        (parent if parent is not None else self.root).add(shape)

    def note(self, message: str) -> None:
        """The note an empty chart shows in the middle of its plot area."""
        self.text(
            message,
            (self.width / 2, (TOP + self.height) / 2),
            muted=True,
            size=12,
            text_anchor="middle",
        )

    def tostring(self) -> str:
        """The finished SVG document."""
        return self.dwg.tostring()


def swatch(chart: Chart, at, size, colour: int | None, title: str | None = None, **extra) -> None:
    """A series' shape: filled in its colour, or hollow with a dashed outline (None)."""
    if colour is None:
        extra.update(stroke=chart.colours.muted, stroke_width=1, stroke_dasharray="3 2")
        chart.rect(at, size, "bg hollow", chart.colours.background, title, **extra)
    else:
        chart.rect(at, size, f"s{colour}", series_colour(chart.theme, colour), title, **extra)
