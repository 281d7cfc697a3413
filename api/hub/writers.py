"""Read-write connections for the hub's receiving endpoints, one per worker process and thread.

The rest of the api reads through query_only connections; only what hosts send is written,
each request in one short BEGIN IMMEDIATE transaction.
"""

from __future__ import annotations

from api.readers import Readers
from store.db import Connection


class Writers(Readers):
    """Like Readers (per process and thread, opened on first use), but allowed to write."""

    def get(self) -> Connection:
        """The calling thread's writer connection (schema-checked, never migrated)."""
        conn = super().get()
        conn.execute("PRAGMA query_only = OFF")  # a reader's connection, freed for writing
        return conn
