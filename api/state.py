"""What one app instance keeps between requests: connections, the SVG cache, fixed bodies,
and what its features added (api.features)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date
from functools import cached_property
from typing import Any

from flask import Flask, current_app, request

from api.catalog import DAILY, HOURLY, api_info, openapi
from api.features import Features
from api.metrics import registry_for
from api.params import parse_query
from api.readers import Readers
from api.settings import ApiSettings
from api.source import Source
from api.svg_cache import RenderCache
from store.aggregate import day_of

EXTENSION = "gpupulse"


class AppState:
    """Per-app (so per-worker) state, created by create_app and found via current_app."""

    def __init__(self, settings: ApiSettings, app: Flask) -> None:
        self.settings = settings
        self.readers = Readers(settings.db)
        app.teardown_appcontext(self.readers.release)
        self.svg_cache = RenderCache(settings.svg_cache_size)
        # Parsed, validated SVG queries by raw query string: graphs are fetched with the
        # same few URLs over and over, and parsing is a third of a cached request's time.
        self.svg_queries = RenderCache(256)
        self.metrics = registry_for(self.readers.get, dcgm=settings.dcgm_metrics)
        self.features = Features(app, self.metrics)

    # Documents that never change while the process runs are serialized once, on first use
    # (after every feature has listed its endpoints).
    @cached_property
    def info_body(self) -> bytes:
        """The API info at `/` as sent."""
        return json.dumps(
            api_info(self.features.catalog.endpoints(), self.spans), indent=1
        ).encode()

    @cached_property
    def openapi_body(self) -> bytes:
        """The OpenAPI document as sent."""
        return json.dumps(openapi(self.features.catalog.endpoints(), self.spans), indent=1).encode()

    @property
    def spans(self) -> dict[str, int]:
        """The most days a from..to range may span, by the roll-ups it reads."""
        return {DAILY: self.settings.span_days(), HOURLY: self.settings.span_days(hourly=True)}

    def query(self, path: str) -> dict[str, Any]:
        """The request's query parameters of the GET endpoint at `path` (the core's and any a
        feature added), parsed; BadParam on error."""
        return parse_query(self.features.catalog.params(path), request.args)

    def source(self, query: Mapping[str, Any], fleet: bool = False) -> Source:
        """The rows a view reads for a parsed query (`fleet`: the view counts across hosts)."""
        return self.features.choose_source(self.readers.get(), query, fleet)

    def now(self) -> float:
        """The injected clock (UTC seconds)."""
        return self.settings.clock()

    def today(self) -> date:
        """Today's date in GPUPULSE_TZ."""
        return day_of(self.now(), self.settings.tz)


def state() -> AppState:
    """The AppState of the app handling the current request."""
    return current_app.extensions[EXTENSION]


def app_state(app: Flask) -> AppState:
    """The AppState of `app` (what a feature's register(app) adds to)."""
    return app.extensions[EXTENSION]
