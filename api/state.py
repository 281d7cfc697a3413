"""What one app instance keeps between requests: connections, the SVG cache, fixed bodies."""

from __future__ import annotations

import json
from datetime import date

from flask import current_app

from api.catalog import api_info, openapi
from api.metrics import registry_for
from api.readers import Readers
from api.settings import ApiSettings
from api.svg_cache import RenderCache
from store.aggregate import day_of

EXTENSION = "gpupulse"


class AppState:
    """Per-app (so per-worker) state, created by create_app and found via current_app."""

    def __init__(self, settings: ApiSettings) -> None:
        self.settings = settings
        self.readers = Readers(settings.db)
        self.svg_cache = RenderCache(settings.svg_cache_size)
        # Parsed, validated SVG queries by raw query string: graphs are fetched with the
        # same few URLs over and over, and parsing is a third of a cached request's time.
        self.svg_queries = RenderCache(256)
        self.metrics = registry_for(self.readers.get)
        # Documents that never change while the process runs are serialized once.
        self.info_body = json.dumps(api_info(), indent=1).encode()
        self.openapi_body = json.dumps(openapi(), indent=1).encode()

    def now(self) -> float:
        """The injected clock (UTC seconds)."""
        return self.settings.clock()

    def today(self) -> date:
        """Today's date in GPUPULSE_TZ."""
        return day_of(self.now(), self.settings.tz)


def state() -> AppState:
    """The AppState of the app handling the current request."""
    return current_app.extensions[EXTENSION]
