"""Writer connections for the hub's receiving endpoints, lent out per request like readers.

The rest of the api reads through query_only connections; only what hosts send is written,
each request in one short BEGIN IMMEDIATE transaction.
"""

from __future__ import annotations

from api.readers import Readers


class Writers(Readers):
    """Like Readers (per process, one per request in flight, opened on first use), but writer
    connections (schema-checked, never migrated)."""

    write = True
