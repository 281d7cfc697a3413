"""The hub as an api feature: register(app) adds it to an app built by api.app.create_app."""

from __future__ import annotations

from flask import Flask

from api.hub import cli as commands
from api.hub import receive, views
from api.hub.hosts import CORE_VIEWS, HOST_PARAM, LAB_VIEWS, QUOTAS_HOST_PARAM
from api.hub.sections import other_hosts
from api.hub.settings import NAME, HubSettings
from api.hub.source import HostSources
from api.lab.status import add_host_sections
from api.metrics import RollupCollector
from api.state import app_state

SETTINGS = HubSettings
COMMANDS, add_commands, run_command = commands.COMMANDS, commands.add_commands, commands.run
__all__ = ["COMMANDS", "NAME", "SETTINGS", "add_commands", "register", "run_command"]


def register(app: Flask) -> None:
    """Add the hub's endpoints, `host=` on the views that read roll-ups and the source each
    reads for it, the other hosts on the status page, and the roll-up counters."""
    core = app_state(app)
    settings, features = core.settings, core.features
    hub = receive.init_app(app, settings)
    features.add(receive.receive, *receive.ENDPOINTS)
    features.add(views.views, *views.ENDPOINTS)
    features.add_params(CORE_VIEWS, HOST_PARAM)
    features.choose_source = HostSources(hub.fleet_rows, settings.tz)
    if add_host_sections(app, other_hosts):  # the lab's views are there too
        features.add_params(LAB_VIEWS, HOST_PARAM)
        features.add_params(("/api/v1/quotas",), QUOTAS_HOST_PARAM)
    # The roll-up counters the Prometheus recording rules use (docs/prometheus).
    features.add_metrics(RollupCollector(core.readers.get, settings.tz, settings.clock))
