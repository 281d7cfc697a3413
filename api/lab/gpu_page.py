"""The GPU page, `GET /gpus/<index or UUID>`: one GPU's last 24 h and 30 days, the processes
and users seen on it, and every reading the collector keeps (temperature, power, clocks,
clocks-event reasons, Xid and memory errors). Linked from the status page; server-rendered
like it, with its own small stylesheet for the history charts."""

from __future__ import annotations

from datetime import datetime, timedelta, tzinfo

from flask import Blueprint, Response, jsonify, render_template, send_from_directory

from api.catalog import CSS, HTML, Endpoint
from api.gpus import host_name
from api.lab.energy_view import energy_text
from api.lab.history import (
    DAY,
    HOUR,
    HeldRule,
    detail_path,
    hour_buckets,
    raw_buckets,
    spark_pair,
)
from api.lab.names import DisplayNames
from api.lab.page_rows import gib
from api.lab.readings import NONE, readings, row
from api.lab.settings import lab_settings
from api.lab.status import HTML_CSP, STATIC_DIR
from api.params import PathParam
from api.routes import prefers_html
from api.state import state
from api.svg.spark import Frame, Slot, sparkline
from api.svg.text import number
from store.db import Connection
from store.energy import gpu_kwh
from store.history import gpu_processes, gpu_user_days, gpu_user_seconds
from store.samples import latest_state

bp = Blueprint("lab_gpu_page", __name__, template_folder="../templates")
GPU_REF = PathParam("gpu", "a GPU index (the newest GPU with it) or a GPU UUID")
ENDPOINTS = (
    Endpoint(
        "/gpus/{gpu}",
        "One GPU's page (HTML): its last 24 h and 30 days, processes, users and readings",
        HTML,
        (GPU_REF,),
        (404, 503),
    ),
    Endpoint("/static/history.css", "The history charts' stylesheet", CSS, errors=()),
)
DETAIL_BUCKET_S = 600  # the 24 h charts: one slot per 10 minutes, from the raw samples
WIDE, TALL = 960, 48


def find_gpu(gpus: list[dict], ref: str) -> dict | None:
    """The GPU a path names: an index (the newest sighting with it) or a UUID."""
    wanted = ref.strip().lower()
    if wanted.isascii() and wanted.isdigit():
        same = [g for g in gpus if g["index"] == int(wanted)]
        return max(same, key=lambda g: (g["last_seen"], g["id"])) if same else None
    return next((g for g in gpus if (g["uuid"] or "").lower() == wanted), None)


def clock(ts: int | None, tz: tzinfo) -> str:
    """'2026-03-04 15:00' in the configured zone, or a dash."""
    return NONE if ts is None else datetime.fromtimestamp(ts, tz).strftime("%Y-%m-%d %H:%M")


def process_rows(rows: list[dict], names: DisplayNames, tz: tzinfo) -> list[dict]:
    """What the page shows of each process seen on the GPU."""
    return [
        {
            "pid": r["pid"],
            "user": names.user(r["user"] or "unknown"),
            "login": r["user"] or "unknown",
            "workload": r["workload"],
            "workload_id": r["workload_id"],
            "command": r["command"] or "",
            "first": clock(r["first"], tz),
            "last": clock(r["last"], tz),
            "peak": gib(r["peak_mib"]),
        }
        for r in rows
    ]


def user_rows(day: dict[str, float], month: dict[str, float], names: DisplayNames) -> list[dict]:
    """Users of the GPU, busiest in 30 days first."""
    users = sorted(set(day) | set(month), key=lambda u: (-month.get(u, 0.0), -day.get(u, 0.0), u))
    return [
        {
            "login": u,
            "name": names.user(u),
            "day": number(day.get(u, 0.0) / HOUR),
            "month": number(month.get(u, 0.0) / HOUR),
        }
        for u in users
    ]


def degrees_slots(buckets: list, attr: str, scale: float) -> list[Slot]:
    """Slots of a reading drawn as a share of `scale` (°C of 100, watts of the limit), the
    held-idle stretches marked as on the others."""

    def pct(value: float | None) -> float | None:
        return None if value is None or not scale else 100 * value / scale

    return [
        Slot(
            b.start,
            b.end,
            pct(getattr(b, f"{attr}_mean")),
            pct(getattr(b, f"{attr}_max")),
            b.held_idle,
        )
        for b in buckets
    ]


def day_charts(conn: Connection, gpu: dict, now: int, rule: HeldRule) -> dict[str, str]:
    """The 24 h charts: utilization, memory, temperature, power (10-minute slots)."""
    lo = now - DAY
    first = lo // DETAIL_BUCKET_S * DETAIL_BUCKET_S
    frame = Frame(first, now // DETAIL_BUCKET_S * DETAIL_BUCKET_S + DETAIL_BUCKET_S, WIDE, TALL)
    buckets = raw_buckets(conn, first, now, DETAIL_BUCKET_S, gpu["id"], rule)
    charts = spark_pair(buckets, gpu["memory_total_mib"], frame, "last 24 h")
    temps = degrees_slots(buckets, "temp", 100)
    charts["temp"] = sparkline(frame, temps, "Temperature, last 24 h (scale 0-100 °C)", "temp")
    peak_power = max((b.power_max or 0 for b in buckets), default=0)
    limit = gpu.get("power_limit_w") or peak_power
    watts = degrees_slots(buckets, "power", limit)
    charts["power"] = sparkline(
        frame, watts, f"Power, last 24 h (scale 0-{number(limit, 0)} W)", "power"
    )
    charts["power_scale"] = f"{number(limit, 0)} W" if limit else NONE
    return charts


def month_charts(conn: Connection, gpu: dict, now: int, rule: HeldRule) -> dict[str, str]:
    """The 30-day charts: utilization and memory, one slot per hour."""
    first = now // HOUR * HOUR - 30 * DAY + HOUR
    frame = Frame(first, first + 30 * DAY, WIDE, TALL)
    buckets = hour_buckets(conn, first, now, rule, gpu["id"]).get(gpu["id"], [])
    return spark_pair(buckets, gpu["memory_total_mib"], frame, "last 30 days")


def gpu_context(conn: Connection, gpu: dict, gpus: list[dict], now: int) -> dict:
    """Everything the GPU page shows."""
    app_state = state()
    settings = app_state.settings
    lab = lab_settings(settings)
    names, tz, rule = lab.names, settings.tz, HeldRule(lab.threshold, lab.held_mib)
    today = app_state.today()
    month_first = (today - timedelta(days=29)).isoformat()
    month_kwh = gpu_kwh(conn, month_first, today.isoformat())
    day_users = gpu_user_seconds(conn, gpu["id"], now // HOUR * HOUR - 23 * HOUR, now + 1)
    return {
        "host": host_name(conn),
        "generated": datetime.fromtimestamp(now, tz).strftime("%Y-%m-%d %H:%M:%S %Z"),
        "gpu": {
            "index": gpu["index"],
            "name": names.gpu(gpu["name"], gpu["index"], gpu["uuid"]),
            "model": gpu["name"],
            "uuid": gpu["uuid"],
            "ref": detail_path(gpu, gpus).rsplit("/", 1)[1],
        },
        "readings": [
            *readings(gpu, tz),
            row("Energy, last 30 days", energy_text(month_kwh.get(gpu["id"], 0.0), lab.rates)),
        ],
        "day_from": clock(now - DAY, tz),
        "month_from": clock(now - 30 * DAY, tz)[:10],
        "day": day_charts(conn, gpu, now, rule),
        "month": month_charts(conn, gpu, now, rule),
        "processes": process_rows(gpu_processes(conn, gpu["id"], now - DAY, now + 1), names, tz),
        "users": user_rows(
            day_users, gpu_user_days(conn, gpu["id"], month_first, today.isoformat()), names
        ),
    }


def html(body: str, status: int = 200) -> Response:
    """An HTML reply with the status page's headers."""
    reply = Response(body, status=status, mimetype="text/html")
    reply.headers.update({"Content-Security-Policy": HTML_CSP, "Cache-Control": "no-store"})
    return reply


def missing(ref: str, gpus: list[dict], host: str) -> tuple[Response, int] | Response:
    """404: a page listing the GPUs there are for a browser, the JSON error for a script."""
    known = [{"ref": detail_path(g, gpus), "index": g["index"], "name": g["name"]} for g in gpus]
    if prefers_html():
        return html(render_template("gpu_missing.html", ref=ref, known=known, host=host), 404)
    message = f"no GPU {ref!r} on {host}: use a GPU index or UUID"
    return jsonify(
        {"error": message, "parameter": "gpu", "allowed": [k["ref"] for k in known]}
    ), 404


@bp.get("/gpus/<gpu>")
def gpu_page(gpu: str) -> Response:
    """One GPU's page; 404 naming the GPUs there are when `gpu` is none of them."""
    app_state = state()
    conn = app_state.readers.get()
    gpus = latest_state(conn)
    found = find_gpu(gpus, gpu)
    if found is None:
        return missing(gpu, gpus, host_name(conn))
    return html(render_template("gpu.html", **gpu_context(conn, found, gpus, int(app_state.now()))))


@bp.get("/static/history.css")
def history_css() -> Response:
    """The history charts' stylesheet."""
    return send_from_directory(STATIC_DIR, "history.css", mimetype="text/css", max_age=300)
