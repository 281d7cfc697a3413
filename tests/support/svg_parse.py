"""Reading our SVGs back with xml.etree, the way a browser's XML parser would."""

from __future__ import annotations

import xml.etree.ElementTree as ET

NS = "{http://www.w3.org/2000/svg}"


def parse(body: bytes) -> ET.Element:
    """The root element; raises ParseError on anything that is not well-formed XML."""
    return ET.fromstring(body)


def day_cells(root: ET.Element) -> list[ET.Element]:
    """The grid's day rects, in document order."""
    return [r for r in root.iter(f"{NS}rect") if "data-date" in r.attrib]


def legend_cells(root: ET.Element) -> list[ET.Element]:
    """The five legend squares (the rects in the group of class `legend`)."""
    groups = [g for g in root.iter(f"{NS}g") if "legend" in g.get("class", "").split()]
    return [r for g in groups for r in g.iter(f"{NS}rect")]


def title_of(element: ET.Element) -> str:
    """The <title> child's text."""
    return element.find(f"{NS}title").text


def texts(root: ET.Element) -> list[ET.Element]:
    """Every <text> element."""
    return list(root.iter(f"{NS}text"))
