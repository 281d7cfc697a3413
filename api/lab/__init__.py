"""Lab features (issue 6): usage, CSV export, quotas, display names, reservations, charts and
the status page. `register(app)` adds them to an app built by api.app.create_app."""

from __future__ import annotations

from flask import Flask


def register(app: Flask) -> None:
    """Register the lab blueprints, the quota gauges and the page's per-worker state."""
    from api.lab import charts, export, quotas, reservations, status, usage
    from api.state import EXTENSION

    for module in (usage, export, quotas, reservations, charts, status):
        app.register_blueprint(module.bp)
    app_state = app.extensions[EXTENSION]
    app_state.metrics.register(quotas.QuotaCollector(app_state.readers.get, app_state.settings))
    app.extensions[status.LAB_EXTENSION] = status.RecentUsage()
