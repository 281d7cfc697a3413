"""Reservations: who booked which GPU until when. The api writes them, every view reads them.

A reservation is active until its `until` passes (at once, whatever the clock says), is still
listed, marked expired, for `KEEP_EXPIRED_S` after that, and is then deleted by `prune`,
which every write runs first. `host` '' is this host; a hub keeps other hosts' rows too.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

from store.db import Connection, dict_rows, require_transaction

KEEP_EXPIRED_S = 2 * 86_400
LOCAL = ""
FIELDS = ("id", "host", "gpu", "name", "comment", "created", "until")


@dataclass(frozen=True)
class Reservation:
    """One GPU booked by `name` until `until` (UTC seconds; None: until removed)."""

    gpu: int
    name: str
    comment: str = ""
    until: int | None = None
    created: int = 0
    host: str = LOCAL
    id: int | None = None

    def active(self, now: float) -> bool:
        """True until `until` has passed."""
        return in_force(self.until, now)

    def as_dict(self, now: float) -> dict:
        """The reservation as JSON-ready fields plus `active`."""
        return {**asdict(self), "active": self.active(now)}


def in_force(until: float | None, now: float) -> bool:
    """Whether a booking ending at `until` (None: until removed) still holds at `now`."""
    return until is None or until > now


def _ending_after(
    conn: Connection, moment: float, hosts: Sequence[str] | None, order: str
) -> list[Reservation]:
    """Reservations of `hosts` (None: every host) whose end is after `moment`, or open."""
    sql = f"SELECT {', '.join(FIELDS)} FROM reservations WHERE (until IS NULL OR until > ?)"
    params: tuple = (moment,)
    if hosts is not None:
        sql += f" AND host IN ({', '.join('?' * len(hosts))})"
        params = (*params, *hosts)
    return [
        Reservation(**row) for row in dict_rows(conn.execute(f"{sql} ORDER BY {order}", params))
    ]


def list_reservations(conn: Connection, now: float, host: str | None = LOCAL) -> list[Reservation]:
    """Reservations not yet due for deletion, by GPU then end; `host` None: every host."""
    hosts = None if host is None else (host,)
    order = "host, gpu, coalesce(until, 1e18), id"
    return _ending_after(conn, int(now) - KEEP_EXPIRED_S, hosts, order)


def reservations_in_force(
    conn: Connection, now: float, hosts: Sequence[str] | None = (LOCAL,)
) -> list[Reservation]:
    """Reservations holding at `now` on `hosts` (None: every host), by GPU then booking."""
    return _ending_after(conn, now, hosts, "gpu, id")


def active_by_gpu(reservations: Iterable[Reservation], now: float) -> dict[int, Reservation]:
    """The active reservation of each GPU index (the one ending last when several)."""
    out: dict[int, Reservation] = {}
    for r in reservations:
        if r.active(now):
            out[r.gpu] = r  # sorted by end, so the last wins
    return out


def prune(conn: Connection, now: float) -> int:
    """Delete reservations expired more than KEEP_EXPIRED_S ago; how many."""
    require_transaction(conn)
    cutoff = int(now) - KEEP_EXPIRED_S
    return conn.execute("DELETE FROM reservations WHERE until <= ?", (cutoff,)).rowcount


def replace(conn: Connection, reservation: Reservation) -> Reservation:
    """Book a GPU, replacing its other reservations on that host."""
    require_transaction(conn)
    conn.execute(
        "DELETE FROM reservations WHERE host = ? AND gpu = ?", (reservation.host, reservation.gpu)
    )
    row_id = conn.execute(
        "INSERT INTO reservations (host, gpu, name, comment, created, until) "
        "VALUES (?,?,?,?,?,?) RETURNING id",
        (
            reservation.host,
            reservation.gpu,
            reservation.name,
            reservation.comment,
            reservation.created,
            reservation.until,
        ),
    ).fetchone()[0]
    return Reservation(**{**asdict(reservation), "id": row_id})


def delete(
    conn: Connection, gpu: int | None = None, rid: int | None = None, host: str = LOCAL
) -> int:
    """Remove a GPU's reservations or one by id; how many were removed."""
    require_transaction(conn)
    if rid is not None:
        return conn.execute(
            "DELETE FROM reservations WHERE id = ? AND host = ?", (rid, host)
        ).rowcount
    return conn.execute("DELETE FROM reservations WHERE gpu = ? AND host = ?", (gpu, host)).rowcount
