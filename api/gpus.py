"""Naming things: which GPU a `gpu=` parameter means, and what the host is called."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from api.params import BadParam
from store.db import Connection
from store.rollups import HOST
from store.samples import recorded_host

ALL = "all"
MAX_LISTED = 20  # allowed values listed in a 400, so a huge fleet cannot bloat errors


@dataclass(frozen=True)
class GpuRef:
    """A GPU as the roll-ups key it (`id`, 0 for the whole host) with its display names."""

    id: int
    index: int | None = None
    uuid: str | None = None
    name: str | None = None


HOST_REF = GpuRef(HOST)


def known_gpus(conn: Connection) -> list[GpuRef]:
    """Every GPU ever recorded, newest sighting first within an index."""
    rows = conn.execute("SELECT id, idx, uuid, name FROM gpus ORDER BY idx, last_seen DESC, id")
    return [GpuRef(*row) for row in rows]


def resolve_gpu(ref: str, known: Callable[[], list[GpuRef]]) -> GpuRef:
    """`all` -> the host, a number -> the GPU with that index now, else a UUID (among the
    GPUs `known` lists, asked only then); BadParam if none."""
    if ref == ALL:
        return HOST_REF
    gpus = known()
    wanted = ref.strip().lower()
    index = int(wanted) if wanted.isascii() and wanted.isdigit() else None
    for gpu in gpus:
        if gpu.index == index or (gpu.uuid or "").lower() == wanted:
            return gpu
    allowed = [ALL, *sorted({str(g.index) for g in gpus}, key=int)]
    allowed += [g.uuid for g in gpus][:MAX_LISTED]
    raise BadParam("gpu", "unknown gpu: use all, a GPU index or a GPU UUID", allowed)


def host_name(conn: Connection) -> str:
    """The collector's recorded host id, else this machine's hostname."""
    return recorded_host(conn)
