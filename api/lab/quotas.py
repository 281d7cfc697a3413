"""Monthly GPU-hour quotas: GET /api/v1/quotas, the Prometheus gauges, and the figures the
status page flags (used over limit)."""

from __future__ import annotations

import calendar
from collections.abc import Callable, Iterator
from datetime import date
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, jsonify
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from api.catalog import JSON, Endpoint
from api.lab.names import DisplayNames
from api.lab.params import QUOTA_PARAMS
from api.lab.settings import lab_settings
from api.lab.usage import user_totals
from api.settings import ApiSettings
from api.source import Source
from api.state import state
from runtime.quotas import Quotas
from store.aggregate import day_of
from store.usage import Span

bp = Blueprint("lab_quotas", __name__)
ENDPOINTS = (
    Endpoint(
        "/api/v1/quotas",
        "Each user's GPU-hours this month against their quota",
        JSON,
        QUOTA_PARAMS,
        (400, 503),
    ),
)


def month_span(year: int, month: int) -> Span:
    """Every day of a calendar month."""
    return Span(date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1]))


def quota_rows(source: Source, quotas: Quotas, names: DisplayNames, span: Span) -> list[dict]:
    """Used, limit and percent for every user with usage in the span or a limit of their own;
    the most used share first (users without a limit last, busiest first)."""
    used = user_totals(source, span)
    rows = []
    for user in sorted(set(used) | set(quotas.limits)):
        hours, limit = used.get(user, 0.0) / 3600, quotas.limit(user)
        percent = None if not limit else round(100 * hours / limit, 1)
        over = limit is not None and hours > limit
        rows.append(
            {
                "user": user,
                "display_name": names.user(user),
                "used_gpu_hours": round(hours, 3),
                "limit_gpu_hours": limit,
                "percent": percent,
                "over": over,
            }
        )
    rows.sort(key=lambda r: (r["percent"] is None, -(r["percent"] or 0), -r["used_gpu_hours"]))
    return rows


def this_month(now: float, tz: ZoneInfo) -> tuple[int, int]:
    """(year, month) of `now` in `tz`."""
    today = day_of(now, tz)
    return today.year, today.month


@bp.get("/api/v1/quotas")
def quotas() -> Response:
    """Each user's GPU-hours this month (or `month=`) against their monthly limit."""
    app_state = state()
    query = app_state.query("/api/v1/quotas")
    lab = lab_settings(app_state.settings)
    year, month = query["month"] or this_month(app_state.now(), app_state.settings.tz)
    span = month_span(year, month)
    # On a hub a quota counts the user's hours on every host, unless host= names one.
    rows = quota_rows(app_state.source(query, fleet=True), lab.quotas, lab.names, span)
    return jsonify(
        {
            "month": f"{year:04d}-{month:02d}",
            "timezone": app_state.settings.tz.key,
            "default_limit_gpu_hours": lab.quotas.default,
            "users": rows,
        }
    )


class QuotaCollector(Collector):
    """This month's per-user GPU-hours, limits and used share, read at scrape time."""

    def __init__(self, source: Callable[[], Source], settings: ApiSettings) -> None:
        self.source, self.settings = source, settings

    def collect(self) -> Iterator[Metric]:
        """Three gauges labelled by user; the ratio only for users with a limit."""
        s = self.settings
        span = month_span(*this_month(s.clock(), s.tz))
        rows = quota_rows(self.source(), lab_settings(s).quotas, lab_settings(s).names, span)
        used = GaugeMetricFamily(
            "gpupulse_user_month_gpu_hours", "GPU-hours a user used this month", labels=("user",)
        )
        limit = GaugeMetricFamily(
            "gpupulse_user_quota_limit_gpu_hours",
            "A user's monthly GPU-hour quota",
            labels=("user",),
        )
        ratio = GaugeMetricFamily(
            "gpupulse_user_quota_used_ratio",
            "Share of the monthly quota used (over 1: over quota)",
            labels=("user",),
        )
        for row in rows:
            used.add_metric([row["user"]], row["used_gpu_hours"])
            if row["limit_gpu_hours"] is not None:
                limit.add_metric([row["user"]], row["limit_gpu_hours"])
                if row["limit_gpu_hours"] > 0:
                    ratio.add_metric([row["user"]], row["used_gpu_hours"] / row["limit_gpu_hours"])
        yield from (used, limit, ratio)
