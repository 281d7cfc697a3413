"""The status page on a hub: one section per host, its GPUs drawn like the local ones (from
the host's newest snapshot), headed by a summary of GPUs busy, idle and reserved."""

from __future__ import annotations

from flask import request

from api.hub.hosts import ALL_HOSTS, HOST_PARAM
from api.hub.views import BROKEN, active_reservations, unshowable
from api.lab.page_rows import gpu_counts, gpu_view, reservation_view
from api.lab.settings import lab_settings
from api.lab.status import OtherHosts
from api.settings import ApiSettings
from api.svg.text import duration
from protocol.snapshot import gpu_entry
from store import hub as hubstore
from store.db import Connection
from store.reservations import Reservation, active_by_gpu, list_reservations


def usable(r: dict) -> bool:
    """A sent reservation with a GPU index and an end that is a time or none."""
    number = (int, float)
    return type(r.get("gpu")) is int and (r.get("until") is None or type(r["until"]) in number)


def reservations_of(conn: Connection, snapshot: dict, now: float) -> dict[int, Reservation]:
    """A host's reservations in force by GPU index: its own (from the snapshot) and those
    made on the hub for it (reservations with host = its name)."""
    sent = [
        Reservation(
            r["gpu"],
            str(r.get("name") or "?"),
            str(r.get("comment") or ""),
            r.get("until"),
            host=snapshot["host"],
        )
        for r in snapshot.get("reservations", ())
        if usable(r)
    ]
    here = list_reservations(conn, now, snapshot["host"])
    return active_by_gpu(sorted([*sent, *here], key=lambda r: (r.gpu, r.until or 1e18)), now)


def section(conn: Connection, snapshot: dict, settings: ApiSettings, now: float) -> dict:
    """One host's section: name, staleness, summary counts and GPU rows."""
    names = lab_settings(settings).names
    booked = reservations_of(conn, snapshot, now)
    stale_after = hubstore.STALE_AFTER_MISSED * snapshot["every_s"]
    sent = [gpu_entry(g) for g in snapshot["gpus"]]  # every key present, even if not sent
    gpus = [
        gpu_view(
            g,
            names,
            reservation_view(booked.get(g["index"]), names, settings.tz, now),
            now,
            stale_after,
        )
        for g in sent
    ]
    reserved = set(booked) | active_reservations(snapshot, now)
    age = (
        "never reported"
        if not snapshot["received"]
        else (f"last report {duration(snapshot['age_s'] / 60)} ago")
    )
    return {
        "host": snapshot["host"],
        "source": snapshot["source"],
        "stale": snapshot["stale"],
        "age": age,
        "error": snapshot["error"],
        "gpus": gpus,
        "summary": gpu_counts(sent, reserved, lab_settings(settings).threshold),
    }


def host_sections(
    conn: Connection, settings: ApiSettings, now: float, here: str, only: str | None = None
) -> list[dict]:
    """A section per host that reports to this hub (all, or `only` that one), by name."""
    return [
        shown(conn, snap, settings, now)
        for snap in hubstore.snapshots(conn, now)
        if snap["host"] != here and only in (None, "all", snap["host"])
    ]


def shown(conn: Connection, snapshot: dict, settings: ApiSettings, now: float) -> dict:
    """A host's section, or, when its snapshot cannot be drawn, a section saying so."""
    try:
        return section(conn, snapshot, settings, now)
    except BROKEN as problem:  # one host's bad snapshot must not take the page down
        return {
            "host": snapshot["host"],
            "source": snapshot["source"],
            "stale": True,
            "age": "broken",
            "error": unshowable(problem),
            "gpus": [],
            "summary": gpu_counts([], set(), lab_settings(settings).threshold),
        }


def other_hosts(conn: Connection, settings: ApiSettings, now: float, here: str) -> OtherHosts:
    """The status page's hook (api.lab.status): every host's section, or with `host=NAME`
    that host's alone (this host's own part only for its name or `all`)."""
    only = HOST_PARAM.parse(request.args.get("host"))
    sections = host_sections(conn, settings, now, here, only)
    return OtherHosts(sections, show_local=only in (None, ALL_HOSTS, here))
