"""The lab as an api feature: its settings, its commands, and register(app), which adds it to
an app built by api.app.create_app."""

from __future__ import annotations

from functools import partial

from flask import Flask

from api.lab import charts, export, gpu_page, lab_metrics, quotas, reservations, status, usage
from api.lab import cli as commands
from api.lab.settings import NAME, LabSettings, lab_settings
from api.names import Names
from api.settings import ApiSettings
from api.state import app_state

SETTINGS = LabSettings
COMMANDS, add_commands, run_command = commands.COMMANDS, commands.add_commands, commands.run
__all__ = [
    "COMMANDS",
    "NAME",
    "SETTINGS",
    "add_commands",
    "display_names",
    "register",
    "run_command",
]


def display_names(api: ApiSettings) -> Names:
    """The GPU and people names the lab's settings give (the same in the app and commands)."""
    return lab_settings(api).names


def register(app: Flask) -> None:
    """Add the lab's endpoints, its display names, the status page as `/` for browsers, the
    page's per-worker state, the quota gauges and the held-idle metrics."""
    core = app_state(app)
    features = core.features
    for module in (usage, export, quotas, reservations, charts, status, gpu_page):
        features.add(module.bp, *module.ENDPOINTS)
    features.names = display_names(core.settings)
    features.home_page = status.status_page
    app.extensions[status.LAB_EXTENSION] = status.PageState()
    # On a hub the gauges count a user's hours on every host, as /api/v1/quotas does.
    every_host = partial(core.source, {}, fleet=True)
    features.add_metrics(quotas.QuotaCollector(every_host, core.settings))
    features.add_metrics(lab_metrics.LabCollector(core.readers.get, core.settings))
