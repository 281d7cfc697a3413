"""The LIP6 gpu-monitor page's `comments.json`: host -> a list (position = GPU index) or an
index-keyed object of {name, date, comment}, as PHP's json_encode writes them (non-ASCII
as `\u00e8`, `/` as `\\/`). Import turns entries into reservations: `date` is when the
booking ends, empty means until removed, and a date more than ten years ahead (9999-12-31)
means the same. An entry that has already ended is skipped: importing an old file must not
undo a booking made since. Export writes the list form."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import tzinfo
from typing import Any

from api.lab.until import iso, parse_instant
from runtime.text import unsafe_character
from store.reservations import LOCAL, Reservation

ENTRY_KEYS = ("name", "date", "comment")
FOREVER_AFTER_S = 10 * 366 * 86_400  # an end further ahead than this: until removed
EMPTY = {"name": "", "date": "", "comment": ""}


class CommentsError(ValueError):
    """The file is not in the comments.json shape; the message names the entry and field."""


def entries(host: str, value: Any) -> Iterable[tuple[int, Any]]:
    """(GPU index, entry) pairs of one host's list or index-keyed object."""
    if isinstance(value, list):
        return enumerate(value)
    if isinstance(value, dict):
        pairs = []
        for key, entry in value.items():
            if not (isinstance(key, str) and key.isascii() and key.isdigit()):
                raise CommentsError(f"{host}: key {key!r} is not a GPU index")
            pairs.append((int(key), entry))
        return pairs
    raise CommentsError(f"{host}: expected a list or an object keyed by GPU index")


def field_of(where: str, entry: Mapping, key: str) -> str:
    """A text field of an entry ('' when absent); CommentsError naming it otherwise."""
    value = entry.get(key, "")
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > 1000:
        raise CommentsError(f"{where}.{key} must be text of at most 1000 characters")
    bad = unsafe_character(value)
    if bad is not None:
        raise CommentsError(f"{where}.{key} contains the control character {bad}")
    return value.strip()


@dataclass
class Parsed:
    """What a comments.json holds: the bookings in force, and what was passed over."""

    reservations: list[Reservation] = field(default_factory=list)
    expired: int = 0
    forever: int = 0


def parse_comments(doc: Any, local_host: str, now: float, tz: tzinfo) -> Parsed:
    """The bookings in a comments.json document; entries without name and comment are free
    GPUs and skipped. `local_host`'s entries become this host's (host '')."""
    if not isinstance(doc, dict):
        raise CommentsError("comments.json must be an object of host -> GPUs")
    parsed = Parsed()
    for host, value in doc.items():
        for index, entry in entries(str(host), value):
            where = f"{host}[{index}]"
            if not isinstance(entry, dict):
                raise CommentsError(f"{where} must be an object with {', '.join(ENTRY_KEYS)}")
            name, date, comment = (field_of(where, entry, k) for k in ENTRY_KEYS)
            if not name and not comment:
                continue
            until = ends(where, date, now, tz, parsed)
            if until is not None and until <= now:
                parsed.expired += 1
                continue
            parsed.reservations.append(
                Reservation(
                    gpu=index,
                    name=name[:64],
                    comment=comment,
                    until=until,
                    created=int(now),
                    host=LOCAL if host == local_host else str(host),
                )
            )
    return parsed


def ends(where: str, date: str, now: float, tz: tzinfo, parsed: Parsed) -> int | None:
    """When a booking ends (None: until removed); CommentsError for a date we cannot read."""
    if not date:
        return None
    until = parse_instant(date, tz)
    if until is None:
        raise CommentsError(f"{where}.date {date[:40]!r} is not an ISO date or date-time")
    if until - now > FOREVER_AFTER_S:
        parsed.forever += 1
        return None
    return until


def comments_document(
    reservations: Iterable[Reservation], local_host: str, gpu_counts: Mapping[str, int], tz: tzinfo
) -> dict:
    """comments.json for `reservations`: each host's list as long as its GPU count (or its
    highest reserved index), free GPUs as empty entries."""
    by_host: dict[str, dict[int, Reservation]] = {}
    for r in reservations:
        by_host.setdefault(local_host if r.host == LOCAL else r.host, {})[r.gpu] = r
    doc = {}
    for host in sorted(set(by_host) | set(gpu_counts)):
        booked = by_host.get(host, {})
        length = max(gpu_counts.get(host, 0), max(booked, default=-1) + 1)
        doc[host] = [
            {"name": r.name, "date": iso(r.until, tz) or "", "comment": r.comment}
            if (r := booked.get(i))
            else dict(EMPTY)
            for i in range(length)
        ]
    return doc
