"""Alerts: what needs a person, told through Apprise (GPUPULSE_ALERT_URLS reaches mail,
Slack, Matrix, Teams, ntfy, webhooks and more), once per episode, with a message when it ends.

An episode is a condition that holds from one run to the next under one key (a GPU held
idle, a user past 80 % or 100 % of their quota, a GPU lost, a hub's host gone stale, the
collector not writing). `alert_state` keeps the open ones; the events table records each
start (`alert`) and end (`alert_resolved`). A message that could not be delivered is tried
again on the next run; an episode no one was told about ends without a recovery message.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from scheduler.settings import Settings, host_id
from store import hub as hubstore
from store.db import Connection, atomic, dict_rows
from store.held_idle import held_idle_now
from store.samples import STALE_AFTER_TICKS, collector_interval, newest_sample_ts
from store.usage import Span, seconds_by, user_days

log = logging.getLogger(__name__)

QUOTA_LEVELS = (80, 100)  # percent of a monthly quota that each start an episode


@dataclass(frozen=True)
class Condition:
    """One alert that holds now: its key, kind, GPU, message, and what to say when it ends."""

    key: str
    kind: str
    gpu: int | None
    title: str
    body: str
    recovered: str


class Notifier(Protocol):
    """Delivers one message; False when it could not (it is tried again next run)."""

    def send(self, title: str, body: str) -> bool:
        """Deliver `title` and `body`."""
        ...


class AppriseNotifier:
    """Every URL of GPUPULSE_ALERT_URLS through Apprise (checked when the settings load)."""

    def __init__(self, urls: str) -> None:
        import apprise  # loaded only where alerts are on

        self.apprise = apprise.Apprise()
        self.apprise.add(urls)

    def send(self, title: str, body: str) -> bool:
        """True when every URL took the message."""
        return bool(self.apprise.notify(title=title, body=body))


class Silent:
    """No URLs set: episodes are recorded in events, nothing is sent."""

    def send(self, title: str, body: str) -> bool:
        """Nothing to deliver: done."""
        return True


def notifier_for(settings: Settings) -> Notifier:
    """The notifier GPUPULSE_ALERT_URLS names."""
    return AppriseNotifier(settings.alert_urls) if settings.alert_urls else Silent()


def run(conn: Connection, settings: Settings, now: float, notifier: Notifier | None = None) -> dict:
    """The scheduled job: open, tell, and close episodes; a summary of what it did."""
    notifier = notifier or notifier_for(settings)
    current = {c.key: c for c in conditions(conn, settings, now)}
    state = {row["key"]: row for row in dict_rows(conn.execute("SELECT * FROM alert_state"))}
    opened = [c for key, c in current.items() if key not in state]
    with atomic(conn):
        for c in opened:
            conn.execute(
                "INSERT INTO alert_state (key, kind, gpu, since, notified, title, recovered) "
                "VALUES (?, ?, ?, ?, 0, ?, ?)",
                (c.key, c.kind, c.gpu, int(now), c.title, c.recovered),
            )
            _event(conn, now, "alert", c.gpu, f"{c.title}: {c.body}")
        back = [k for k in current if k in state and state[k]["resolved"] is not None]
        conn.executemany(
            "UPDATE alert_state SET resolved = NULL WHERE key = ?", [(k,) for k in back]
        )
    sent = sum(_tell(conn, notifier, c) for c in current.values() if not _told(state, c.key))
    ended = [row for key, row in state.items() if key not in current]
    closed = sum(_close(conn, notifier, row, now) for row in ended)
    return {"open": len(current), "opened": len(opened), "sent": sent, "closed": closed}


def _told(state: dict, key: str) -> bool:
    """Whether the episode under `key` was already delivered."""
    return key in state and bool(state[key]["notified"])


def _tell(conn: Connection, notifier: Notifier, c: Condition) -> bool:
    """Deliver an episode's message; mark it told when it went out."""
    if not notifier.send(c.title, c.body):
        log.warning("alert not delivered (tried again next run): %s", c.title)
        return False
    with atomic(conn):
        conn.execute("UPDATE alert_state SET notified = 1 WHERE key = ?", (c.key,))
    return True


def _close(conn: Connection, notifier: Notifier, row: dict, now: float) -> bool:
    """End an episode: record it, tell its recovery where the start was told; False while
    that recovery message could not be delivered (the row stays to try again)."""
    if row["resolved"] is None:
        with atomic(conn):
            conn.execute(
                "UPDATE alert_state SET resolved = ? WHERE key = ?", (int(now), row["key"])
            )
            _event(conn, now, "alert_resolved", row["gpu"], row["recovered"])
    if row["notified"] and not notifier.send(f"Resolved: {row['title']}", row["recovered"]):
        log.warning("recovery not delivered (tried again next run): %s", row["title"])
        return False
    with atomic(conn):
        conn.execute("DELETE FROM alert_state WHERE key = ?", (row["key"],))
    return True


def _event(conn: Connection, now: float, kind: str, gpu: int | None, detail: str) -> None:
    """One row of the events table."""
    conn.execute(
        "INSERT INTO events (ts, kind, gpu, detail) VALUES (?, ?, ?, ?)",
        (int(now), kind, gpu, detail[:1000]),
    )


def conditions(conn: Connection, settings: Settings, now: float) -> list[Condition]:
    """Every alert that holds now."""
    host = host_id(settings, conn)
    return [
        *held_idle(conn, settings, now, host),
        *quotas(conn, settings, now),
        *lost_gpus(conn, settings, host),
        *stale_hosts(conn, now),
        *collector_silent(conn, now, host),
    ]


def _clock(ts: float, settings: Settings) -> str:
    """A time of day as people on this host read it."""
    return datetime.fromtimestamp(ts, settings.tz).strftime("%Y-%m-%d %H:%M %Z")


def _duration(seconds: float) -> str:
    """'2 h 05 min' or '45 min'."""
    minutes = int(seconds // 60)
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"


def _gpus(conn: Connection) -> dict[int, dict]:
    """id -> {idx, uuid, name, lost_at} of every GPU recorded."""
    rows = dict_rows(conn.execute("SELECT id, idx, uuid, name, lost_at FROM gpus"))
    return {row["id"]: row for row in rows}


def held_idle(conn: Connection, settings: Settings, now: float, host: str) -> Iterator[Condition]:
    """GPUs held idle for GPUPULSE_HELD_IDLE_ALERT or longer, with who holds them."""
    gpus = _gpus(conn)
    for stretch in held_idle_now(conn, settings.threshold, settings.held_mib, now):
        if stretch.seconds < settings.held_idle_alert_s or stretch.gpu not in gpus:
            continue
        gpu = gpus[stretch.gpu]
        who = ", ".join(
            f"{h['user']} (pid {h['pid']}, {h['command'] or '?'}"
            + (f", {h['workload']}" if h["workload"] else "")
            + f", {h['mem_mib'] / 1024:.1f} GiB)"
            for h in stretch.holders
        )
        yield Condition(
            f"held_idle:{stretch.gpu}",
            "held_idle",
            stretch.gpu,
            f"GPU {gpu['idx']} held idle on {host}",
            f"GPU {gpu['idx']} ({gpu['name']}) on {host} has been held idle for "
            f"{_duration(stretch.seconds)}, since {_clock(stretch.since, settings)}, by {who}.",
            f"GPU {gpu['idx']} on {host} is no longer held idle.",
        )


def quotas(conn: Connection, settings: Settings, now: float) -> Iterator[Condition]:
    """Users at 80 % and at 100 % of their monthly GPU-hour quota."""
    if not settings.quotas:
        return
    today = datetime.fromtimestamp(now, settings.tz).date()
    span = Span(today.replace(day=1), today)
    used = seconds_by(user_days(conn, span), lambda _day: "month").get("month", {})
    month = today.strftime("%B %Y")
    for user, seconds in sorted(used.items()):
        limit = settings.quotas.limit(user)
        if not limit:
            continue
        hours = seconds / 3600
        for level in QUOTA_LEVELS:
            if 100 * hours >= level * limit:
                yield _quota(user, level, hours, limit, month)


def _quota(user: str, level: int, hours: float, limit: float, month: str) -> Condition:
    """One quota episode of `user` at `level` percent."""
    share = f"{hours:,.1f} of {limit:,g} GPU-hours ({100 * hours / limit:.0f} %) in {month}"
    return Condition(
        f"quota_{level}:{user}",
        f"quota_{level}",
        None,
        f"{user} at {level} % of the GPU quota",
        f"{user} has used {share}.",
        f"{user} is below {level} % of the monthly GPU quota again.",
    )


def lost_gpus(conn: Connection, settings: Settings, host: str) -> Iterator[Condition]:
    """GPUs the driver reports lost."""
    for gid, gpu in sorted(_gpus(conn).items()):
        if gpu["lost_at"] is None:
            continue
        yield Condition(
            f"gpu_lost:{gid}",
            "gpu_lost",
            gid,
            f"GPU {gpu['idx']} lost on {host}",
            f"The driver reports GPU {gpu['idx']} ({gpu['name']}, {gpu['uuid']}) on {host} "
            f"lost since {_clock(gpu['lost_at'], settings)}; processes on it have likely died "
            "and it usually needs a reset or a reboot.",
            f"GPU {gpu['idx']} on {host} is back.",
        )


def stale_hosts(conn: Connection, now: float) -> Iterator[Condition]:
    """A hub's hosts whose live status stopped coming (three missed sends or a failed poll)."""
    for snap in hubstore.snapshots(conn, now):
        if not snap["stale"]:
            continue
        why = f" ({snap['error']})" if snap["error"] else ""
        yield Condition(
            f"host_stale:{snap['host']}",
            "host_stale",
            None,
            f"host {snap['host']} stale on the hub",
            f"No live status from {snap['host']} for {_duration(snap['age_s'])} "
            f"(expected every {snap['every_s']} s){why}.",
            f"{snap['host']} is reporting to the hub again.",
        )


def collector_silent(conn: Connection, now: float, host: str) -> Iterator[Condition]:
    """The collector's newest sample older than three of its ticks: it stopped, or cannot
    write the database (the same test as `collector --healthcheck`)."""
    newest = newest_sample_ts(conn)
    if newest is None:
        return  # a fresh install: nothing was ever written
    limit = STALE_AFTER_TICKS * collector_interval(conn)
    age = now - newest
    if age <= limit:
        return
    yield Condition(
        "collector",
        "collector_stale",
        None,
        f"collector on {host} not writing",
        f"The newest sample on {host} is {_duration(age)} old (limit {limit:g} s): the "
        "collector has stopped, or cannot write the database (disk full, read-only, locked).",
        f"The collector on {host} is writing again.",
    )
