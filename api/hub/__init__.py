"""The hub: one GPU Pulse api that receives other hosts' aggregates and snapshots and shows
every view for any of them (`host=NAME|all`). See docs/hub.md."""

from __future__ import annotations

from flask import Flask


def register(app: Flask) -> None:
    """Add the hub's endpoints to an app built by api.app.create_app."""
    from api.hub.receive import init_app  # here, so api.catalog can import api.hub.hostview
    from api.hub.views import views
    from api.metrics import RollupCollector
    from api.state import EXTENSION

    app_state = app.extensions[EXTENSION]
    init_app(app, app_state.settings)
    app.register_blueprint(views)
    # The roll-up counters the Prometheus recording rules use (docs/prometheus).
    settings = app_state.settings
    app_state.metrics.register(RollupCollector(app_state.readers.get, settings.tz, settings.clock))
