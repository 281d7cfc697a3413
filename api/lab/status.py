"""The status page, `GET /` for browsers: every GPU with its load, processes and reservation,
every user with their GPUs now, recent GPU-hours and quota, and the graphs.

Server-rendered (Jinja autoescapes every value, so names from the data show as text); it
works with JavaScript off, and static/status.js refreshes it every 30 s when it is on.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path

from flask import Blueprint, Response, current_app, render_template, request, send_from_directory

from api.gpus import host_name
from api.hub.hostview import HOST_PARAM
from api.hub.views import fleet_reader, gpu_counts
from api.lab.names import DisplayNames
from api.lab.quotas import month_span, quota_rows, this_month
from api.lab.until import iso
from api.lab.usage import days_back, harvested_seconds
from api.settings import ApiSettings
from api.state import state
from api.svg.text import duration, number
from store.db import Connection
from store.reservations import Reservation, active_by_gpu, list_reservations
from store.rollups import rolled_up_until, user_hour_totals
from store.samples import STALE_AFTER_TICKS, collector_interval, host_facts, latest_state
from store.usage import merge, user_seconds_between, user_seconds_buckets, user_totals

bp = Blueprint("lab_status", __name__, template_folder="../templates")
# Served by two fixed routes, not a blueprint static folder: every GET rule is in the catalog.
STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
REFRESH_S = 30
HOUR = 3600
LAB_EXTENSION = "gpupulse_lab"
HTML_CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; script-src 'self'; "
    "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
STATIC_TYPES = {"status.css": "text/css", "status.js": "text/javascript"}  # fmt: skip


class RecentUsage:
    """Per-user GPU-seconds of the last 24 h, kept per worker.

    Whole UTC hours the scheduler has rolled up come from user_hourly (the same per-user
    rule, already computed); only hours it has not reached yet, and the partial hours at
    both ends of the window, are scanned raw (a day of raw samples takes most of a second).
    Whole hours are kept; a refresh runs at most once a minute. An hour counts as whole a
    minute after it ends, so ticks written a little late still land in it."""

    def __init__(self, ttl_s: float = 60, grace_s: int = 60) -> None:
        self.ttl_s, self.grace_s = ttl_s, grace_s
        self._key: int | None = None
        self._value: dict[str, float] = {}
        self._hours: dict[int, dict[str, float]] = {}
        self._lock = threading.Lock()  # gthread workers share this object

    def get(self, conn: Connection, now: float, threshold: float) -> dict[str, float]:
        """GPU-seconds per user in the 24 h up to and including `now`."""
        key = int(now // self.ttl_s)
        with self._lock:
            if key != self._key:
                self._value, self._key = self._compute(conn, int(now) + 1, threshold), key
            return self._value

    def _compute(self, conn: Connection, hi: int, threshold: float) -> dict[str, float]:
        lo = hi - 86_400
        first = -(-lo // HOUR) * HOUR  # the first whole hour in the window
        done = max(first, (hi - self.grace_s) // HOUR * HOUR)  # whole hours end here
        self._hours = {h: u for h, u in self._hours.items() if first <= h < done}
        missing = [h for h in range(first, done, HOUR) if h not in self._hours]
        live = rolled_up_until(conn)
        rolled = [h for h in missing if h + HOUR <= live]
        if rolled:
            stored = user_hour_totals(conn, rolled[0], rolled[-1] + HOUR)
            self._hours.update({h: stored.get(h, {}) for h in rolled})
        raw = [h for h in missing if h + HOUR > live]
        if raw:
            fresh = user_seconds_buckets(conn, raw[0], raw[-1] + HOUR, threshold, HOUR)
            self._hours.update({h: fresh.get(h, {}) for h in raw})
        edges = [user_seconds_between(conn, lo, first, threshold) if lo < first else {},
                 user_seconds_between(conn, done, hi, threshold)]  # fmt: skip
        return merge([*self._hours.values(), *edges])


def prefers_html() -> bool:
    """True when the client ranks HTML above JSON (browsers do; curl and scripts don't)."""
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return best == "text/html" and request.accept_mimetypes["text/html"] > 0


def gib(mib: float | None) -> str:
    """'4.1 GiB' or '512 MiB'."""
    if mib is None:
        return "n/a"
    return f"{number(mib / 1024)} GiB" if mib >= 1024 else f"{mib:,.0f} MiB"


def reservation_view(r: Reservation | None, names: DisplayNames, settings: ApiSettings,
                     now: float) -> dict | None:  # fmt: skip
    """What the page shows of a reservation."""
    if r is None:
        return None
    until = "until removed" if r.until is None else f"until {iso(r.until, settings.tz)[:16]}"
    left = "" if r.until is None or r.until <= now else f" ({duration((r.until - now) / 60)} left)"
    return {"gpu": r.gpu, "name": names.user(r.name), "comment": r.comment,
            "until": until.replace("T", " ") + left, "active": r.active(now)}  # fmt: skip


def gpu_view(gpu: dict, names: DisplayNames, reservation: dict | None, now: float,
             stale_after: float) -> dict:  # fmt: skip
    """One GPU row: names, load, processes and staleness."""
    total, used = gpu["memory_total_mib"], gpu["mem_used_mib"]
    age = None if gpu["ts"] is None else now - gpu["ts"]
    return {
        "index": gpu["index"], "name": names.gpu(gpu["name"], gpu["index"], gpu["uuid"]),
        "model": gpu["name"], "uuid": gpu["uuid"], "util": gpu["util"],
        "mem_pct": None if not total or used is None else round(100 * used / total),
        "mem_text": f"{gib(used)} / {gib(total)}",
        "temp": gpu["temp_c"], "power": None if gpu["power_w"] is None else round(gpu["power_w"]),
        "lost": gpu["lost_at"] is not None,
        # Why utilization is missing (a MIG parent, an unmeasurable MIG device), if it is.
        "note": gpu.get("note") if gpu["util"] is None else None,
        "mig": None if not gpu.get("mig_profile") else f"MIG {gpu['mig_profile']}",
        "stale": age is None or age > stale_after,
        "age": "no samples" if age is None else f"last sample {duration(age / 60)} ago",
        "processes": [{"pid": p["pid"], "user": names.user(p["user"] or "unknown"),
                       "login": p["user"] or "unknown", "command": p["command"] or "",
                       "memory": gib(p["mem_mib"])} for p in gpu["processes"]],
        "reservation": reservation,
    }  # fmt: skip


def user_views(conn: Connection, gpus: list[dict], settings: ApiSettings, today: date,
               recent: Callable[[], dict[str, float]], now: float) -> list[dict]:  # fmt: skip
    """One row per user seen now, in the last 7 days, or with a quota of their own."""
    lab = settings.lab
    on_gpus: dict[str, set[int]] = {}
    for gpu in gpus:
        for p in gpu["processes"]:
            on_gpus.setdefault(p["user"] or "unknown", set()).add(gpu["index"])
    week = user_totals(conn, days_back(today, 7))
    last_day = recent()
    quota = {
        r["user"]: r
        for r in quota_rows(conn, lab.quotas, lab.names, month_span(*this_month(now, settings.tz)))
    }
    rows = []
    for user in set(on_gpus) | set(week) | set(quota):
        q = quota.get(user, {})
        rows.append({
            "login": user, "name": lab.names.user(user),
            "gpus_now": sorted(on_gpus.get(user, ())),
            "day": number(last_day.get(user, 0.0) / 3600), "week": number(week.get(user, 0) / 3600),
            "month": number(q.get("used_gpu_hours", 0.0)),
            "limit": None if q.get("limit_gpu_hours") is None else number(q["limit_gpu_hours"]),
            "percent": q.get("percent"), "over": q.get("over", False),
            "percent_text": None if q.get("percent") is None else number(q["percent"]),
            "_sort": (-len(on_gpus.get(user, ())), -week.get(user, 0.0), user),
        })  # fmt: skip
    return sorted(rows, key=lambda r: r["_sort"])


def status_context(conn: Connection, settings: ApiSettings, now: float, today: date,
                   recent: Callable[[], dict[str, float]]) -> dict:  # fmt: skip
    """Everything the template shows."""
    names = settings.lab.names
    stale_after = STALE_AFTER_TICKS * collector_interval(conn)
    reservations = list_reservations(conn, now)
    active = active_by_gpu(reservations, now)
    gpus = latest_state(conn)
    views = [gpu_view(g, names, reservation_view(active.get(g["index"]), names, settings, now),
                      now, stale_after) for g in gpus]  # fmt: skip
    harvested = harvested_seconds(conn, days_back(today, 7), settings.tz) / 3600
    month = month_span(*this_month(now, settings.tz))
    return {
        "host": host_name(conn), "refresh_s": REFRESH_S,
        "generated": datetime.fromtimestamp(now, settings.tz).strftime("%Y-%m-%d %H:%M:%S %Z"),
        "gpus": views, "stale": bool(views) and all(v["stale"] for v in views),
        # On a hub, users' week and quota count every host's hours (api.hub).
        "users": user_views(fleet_reader(conn, min(month.first, today - timedelta(days=6)),
                                         today, settings.tz), gpus, settings, today, recent, now),
        "summary": gpu_counts(gpus, set(active), settings.lab.threshold),
        "reservations": [reservation_view(r, names, settings, now) for r in reservations],
        "idle_week": number(harvested),
        "idle_month": number(harvested_seconds(conn, month, settings.tz) / 3600),
        "month": month.first.strftime("%Y-%m"),
        "quotas": bool(settings.lab.quotas),
        "driver": driver_text(host_facts(conn)),
    }  # fmt: skip


def driver_text(facts: dict) -> str | None:
    """'NVIDIA driver 535.183.01 · CUDA 12.2', or None before the collector recorded it."""
    if not facts.get("driver_version"):
        return None
    cuda = f" · CUDA {facts['cuda_driver_version']}" if facts.get("cuda_driver_version") else ""
    return f"NVIDIA driver {facts['driver_version']}{cuda}"


def status_page() -> Response:
    """The rendered page (called by `/` when the client prefers HTML)."""
    app_state = state()
    conn = app_state.readers.get()
    now, lab = app_state.now(), current_app.extensions[LAB_EXTENSION]
    settings = app_state.settings

    def recent() -> dict[str, float]:
        return lab.get(conn, now, settings.lab.threshold)

    from api.hub.sections import host_sections  # it draws with this module's gpu_view

    only = HOST_PARAM.parse(request.args.get("host"))  # hub: one host's section, or all
    hosts = host_sections(conn, settings, now, host_name(conn), only)
    body = render_template(
        "status.html",
        **status_context(conn, settings, now, app_state.today(), recent),
        hosts=hosts,
        show_local=only in (None, "all", host_name(conn)),
    )
    reply = Response(body, mimetype="text/html")
    reply.headers.update({"Content-Security-Policy": HTML_CSP, "Cache-Control": "no-store",
                          "Vary": "Accept"})  # fmt: skip
    return reply


@bp.get("/static/status.css")
@bp.get("/static/status.js")
def static_file() -> Response:
    """The page's stylesheet and refresh script."""
    name = request.path.rsplit("/", 1)[1]
    return send_from_directory(STATIC_DIR, name, mimetype=STATIC_TYPES[name], max_age=300)
