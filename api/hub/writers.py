"""Writer connections for the hub's receiving endpoints, one per worker process and thread.

The rest of the api reads through query_only connections; only what hosts send is written,
each request in one short BEGIN IMMEDIATE transaction.
"""

from __future__ import annotations

from api.readers import Readers


class Writers(Readers):
    """Like Readers (per process and thread, opened on first use), but writer connections
    (schema-checked, never migrated)."""

    write = True
