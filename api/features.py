"""How a feature plugs into the api core.

A feature is a module named in FEATURES, imported by name (the core has no import of it).
It provides `NAME`, its settings class `SETTINGS` (read with the api's, kept in
`ApiSettings.features[NAME]`), its command-line commands (`COMMANDS`, `add_commands`,
`run_command`) and `register(app)`, which create_app calls; that one function adds, through
the app's Features (`app_state(app).features`):

- routes together with their catalog entries (`add`), so `/openapi.json` lists what is served;
- query parameters on endpoints already listed (`add_params`: the hub's `host=`);
- Prometheus collectors (`add_metrics`);

and may set the three hooks the core calls, each with a plain default:

- `home_page`: what `/` shows a browser (the lab's status page; default: the API info);
- `names`: the display names of GPUs and people (the lab's aliases; default: as recorded);
- `choose_source`: which rows a view reads for a query (the hub's hosts; default: this host's).

The core imports no feature; a feature imports the core (and the hub the lab).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from types import ModuleType

from flask import Blueprint, Flask, Response
from prometheus_client.registry import Collector, CollectorRegistry

from api.catalog import Catalog, Endpoint
from api.names import AS_RECORDED, Names
from api.params import Param
from api.source import ChooseSource, local_source

# In order: the hub comes after the lab, whose status page it adds other hosts' sections to.
FEATURES = ("api.lab.feature", "api.hub.feature")


def feature_modules() -> list[ModuleType]:
    """Every feature's module, in FEATURES order."""
    return [importlib.import_module(name) for name in FEATURES]


def display_names(api: object) -> Names:
    """The display names the features give for these settings (as recorded if none do)."""
    for feature in feature_modules():
        names = getattr(feature, "display_names", None)
        if names is not None:
            return names(api)
    return AS_RECORDED


def command_owner(command: str) -> ModuleType | None:
    """The feature whose command-line command `command` is."""
    return next((m for m in feature_modules() if command in m.COMMANDS), None)


class Features:
    """What the features added to one app, and the hooks they set."""

    def __init__(self, app: Flask, metrics: CollectorRegistry) -> None:
        self.app, self.metrics = app, metrics
        self.catalog = Catalog()
        self.home_page: Callable[[], Response] | None = None
        self.names: Names = AS_RECORDED
        self.choose_source: ChooseSource = local_source

    def add(self, blueprint: Blueprint, *endpoints: Endpoint) -> None:
        """Serve a blueprint's routes, listed in the catalog as `endpoints`."""
        self.app.register_blueprint(blueprint)
        self.catalog.add(*endpoints)

    def add_params(self, paths: tuple[str, ...], *params: Param) -> None:
        """Give listed GET endpoints more query parameters (parsed with their own)."""
        for path in paths:
            self.catalog.add_params(path, *params)

    def add_metrics(self, collector: Collector) -> None:
        """Have /metrics collect from `collector` too."""
        self.metrics.register(collector)
