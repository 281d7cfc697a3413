"""The status page, `GET /` for browsers: every GPU with its load, processes and reservation,
every user with their GPUs now, recent GPU-hours and quota, and the graphs.

Server-rendered (Jinja autoescapes every value, so names from the data show as text); it
works with JavaScript off, and static/status.js refreshes it every 30 s when it is on. Another
feature may add other hosts' sections below this host's (the hub: add_host_sections).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    render_template,
    request,
    send_from_directory,
)

from api.catalog import CSS, ICO, JS, Endpoint
from api.gpus import host_name
from api.lab.energy_view import energy_text
from api.lab.every import Every
from api.lab.held_view import held_flags, held_hours
from api.lab.history import HeldRule, add_history, status_sparks
from api.lab.page_rows import gpu_counts, gpu_view, reservation_view
from api.lab.quotas import month_span, quota_rows, this_month
from api.lab.recent import HELD_IDLE, RecentUsage
from api.lab.settings import lab_settings
from api.lab.usage import days_back, harvested_seconds, user_totals
from api.settings import ApiSettings
from api.source import LocalSource, Source
from api.state import state
from api.svg.text import MONTHS, duration, number
from store.db import Connection
from store.energy import user_kwh
from store.held_idle import held_idle_now
from store.reservations import active_by_gpu, list_reservations
from store.samples import STALE_AFTER_TICKS, collector_interval, host_facts, latest_state

bp = Blueprint("lab_status", __name__, template_folder="../templates")
# Served by two fixed routes, not a blueprint static folder: every GET rule is in the catalog.
STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
ENDPOINTS = (
    Endpoint("/static/status.css", "The status page's stylesheet", CSS, errors=()),
    Endpoint("/static/status.js", "The status page's refresh script", JS, errors=()),
    Endpoint("/favicon.ico", "The status page's icon (a tiny activity grid)", ICO, errors=()),
)
REFRESH_S = 30
LAB_EXTENSION = "gpupulse_lab"
HTML_CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; script-src 'self'; "
    "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
STATIC_TYPES = {"status.css": CSS, "status.js": JS, "favicon.ico": ICO}


@dataclass(frozen=True)
class OtherHosts:
    """Other hosts' sections on the page, and whether this host's own part shows too."""

    sections: list[dict] = field(default_factory=list)
    show_local: bool = True


# (this host's connection, the api's settings, now, this host's name) -> what to add.
HostSections = Callable[[Connection, ApiSettings, float, str], OtherHosts]


@dataclass
class PageState:
    """What the page keeps per app: the last 24 h per user, and who adds hosts' sections."""

    recent: RecentUsage = field(default_factory=RecentUsage)
    held: RecentUsage = field(default_factory=lambda: RecentUsage(measure=HELD_IDLE))
    # Hourly sparklines and held-idle stretches: once per refresh period per worker.
    sparks: Every = field(default_factory=lambda: Every(REFRESH_S))
    stretches: Every = field(default_factory=lambda: Every(REFRESH_S))
    host_sections: HostSections | None = None


def add_host_sections(app: Flask, sections: HostSections) -> bool:
    """Have the page show what `sections` returns below this host's; False when the app has
    no status page (the lab is not registered)."""
    page = app.extensions.get(LAB_EXTENSION)
    if page is None:
        return False
    page.host_sections = sections
    return True


def user_views(
    users: Source,
    gpus: list[dict],
    settings: ApiSettings,
    today: date,
    recent: Callable[[], dict[str, float]],
    now: float,
    held: Callable[[str], tuple[str, str]] | None = None,
    energy: dict[str, float] | None = None,
) -> list[dict]:
    """One row per user seen now, in the last 7 days, or with a quota of their own (the week
    and the quota from `users`: on a hub, every host's hours); `held` gives a user's
    held-idle hours (24 h, 7 days) on this host, `energy` their kWh this month on it."""
    lab = lab_settings(settings)
    on_gpus: dict[str, set[int]] = {}
    for gpu in gpus:
        for p in gpu["processes"]:
            on_gpus.setdefault(p["user"] or "unknown", set()).add(gpu["index"])
    week = user_totals(users, days_back(today, 7))
    last_day = recent()
    quota = {
        r["user"]: r
        for r in quota_rows(users, lab.quotas, lab.names, month_span(*this_month(now, settings.tz)))
    }
    rows = []
    for user in set(on_gpus) | set(week) | set(quota):
        q = quota.get(user, {})
        rows.append(
            {
                "login": user,
                "name": lab.names.user(user),
                "gpus_now": sorted(on_gpus.get(user, ())),
                "day": number(last_day.get(user, 0.0) / 3600),
                "week": number(week.get(user, 0) / 3600),
                "month": number(q.get("used_gpu_hours", 0.0)),
                "limit": None if q.get("limit_gpu_hours") is None else number(q["limit_gpu_hours"]),
                "percent": q.get("percent"),
                "over": q.get("over", False),
                "percent_text": None if q.get("percent") is None else number(q["percent"]),
                "_sort": (-len(on_gpus.get(user, ())), -week.get(user, 0.0), user),
                "held": None if held is None else held(user),
                "energy": None if energy is None else energy_text(energy.get(user, 0.0), lab.rates),
            }
        )
    return sorted(rows, key=lambda r: r["_sort"])


def status_context(
    conn: Connection,
    users: Source,
    settings: ApiSettings,
    now: float,
    today: date,
    recent: Callable[[], dict[str, float]],
    held_day: Callable[[], dict[str, float]] | None = None,
    page: PageState | None = None,
) -> dict:
    """Everything the template shows about this host (users' hours from `users`, their
    held-idle hours of the last 24 h from `held_day`; what `page` keeps, if given)."""
    lab = lab_settings(settings)
    page = page or PageState()
    names, tz = lab.names, settings.tz
    stale_after = STALE_AFTER_TICKS * collector_interval(conn)
    reservations = list_reservations(conn, now)
    active = active_by_gpu(reservations, now)
    gpus = latest_state(conn)
    views = [
        gpu_view(
            g, names, reservation_view(active.get(g["index"]), names, tz, now), now, stale_after
        )
        for g in gpus
    ]
    rule = HeldRule(lab.threshold, lab.held_mib)
    sparks = page.sparks.get(now, lambda: status_sparks(conn, gpus, now, rule))
    add_history(gpus, views, sparks)
    stretches = page.stretches.get(now, lambda: held_idle_now(conn, *rule.args(), now))
    flags = held_flags(stretches, gpus, names, lab.held_idle_alert_s, now, tz)
    for gpu, view in zip(gpus, views, strict=True):
        view["held_idle"] = flags.get(gpu["id"])
    held = None if held_day is None else held_hours(conn, today, held_day)
    month = month_span(*this_month(now, tz))
    energy = user_kwh(conn, month.first.isoformat(), month.last.isoformat())
    local = LocalSource(conn)
    harvested = harvested_seconds(local, days_back(today, 7), tz) / 3600
    return {
        "host": host_name(conn),
        "refresh_s": REFRESH_S,
        "generated": datetime.fromtimestamp(now, tz).strftime("%Y-%m-%d %H:%M:%S %Z"),
        "gpus": views,
        "stale": bool(views) and all(v["stale"] for v in views),
        "users": user_views(users, gpus, settings, today, recent, now, held, energy),
        "energy_month": energy_text(sum(energy.values()), lab.rates),
        "held_idle": list(flags.values()),
        "held_alert": duration(lab.held_idle_alert_s / 60),
        "summary": gpu_counts(gpus, set(active), lab.threshold),
        "reservations": [reservation_view(r, names, tz, now) for r in reservations],
        "idle_week": number(harvested),
        "idle_month": number(harvested_seconds(local, month, tz) / 3600),
        "month": month_heading(month.first),
        "quotas": bool(lab.quotas),
        "driver": driver_text(host_facts(conn)),
    }


def month_heading(first: date) -> str:
    """'Dec 2026': the month whose hours (to date) the users table and idle line show."""
    return f"{MONTHS[first.month - 1][:3]} {first.year}"


def driver_text(facts: dict) -> str | None:
    """'NVIDIA driver 535.183.01 · CUDA 12.2', or None before the collector recorded it."""
    if not facts.get("driver_version"):
        return None
    cuda = f" · CUDA {facts['cuda_driver_version']}" if facts.get("cuda_driver_version") else ""
    return f"NVIDIA driver {facts['driver_version']}{cuda}"


def status_page() -> Response:
    """The rendered page (what `/` shows a client that prefers HTML)."""
    app_state = state()
    conn = app_state.readers.get()
    now, page = app_state.now(), current_app.extensions[LAB_EXTENSION]
    settings = app_state.settings

    lab = lab_settings(settings)

    def recent() -> dict[str, float]:
        return page.recent.get(conn, now, lab.threshold)

    def held_day() -> dict[str, float]:
        return page.held.get(conn, now, lab.threshold, lab.held_mib)

    here = host_name(conn)
    others = OtherHosts()
    if page.host_sections is not None:
        others = page.host_sections(conn, settings, now, here)
    # Users' week and quota count every host's hours on a hub; "now" and "last 24 h" stay local.
    users = app_state.source({}, fleet=True)
    context = status_context(conn, users, settings, now, app_state.today(), recent, held_day, page)
    body = render_template(
        "status.html", **context, hosts=others.sections, show_local=others.show_local
    )
    reply = Response(body, mimetype="text/html")
    reply.headers.update(
        {"Content-Security-Policy": HTML_CSP, "Cache-Control": "no-store", "Vary": "Accept"}
    )
    return reply


@bp.get("/static/status.css")
@bp.get("/static/status.js")
@bp.get("/favicon.ico")
def static_file() -> Response:
    """The page's stylesheet, refresh script and icon."""
    name = request.path.rsplit("/", 1)[1]
    return send_from_directory(STATIC_DIR, name, mimetype=STATIC_TYPES[name], max_age=300)
