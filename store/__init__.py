"""The GPU Pulse store: one SQLite file shared by the collector, scheduler and api.

This package owns the schema, its migrations, how connections are set up, and the
queries more than one service runs. Nothing else creates tables.
"""

from store.db import StoreError, connect, open_reader, open_writer, write
from store.schema import SCHEMA_VERSION, SchemaMismatch, check_schema, migrate

__all__ = [
    "SCHEMA_VERSION",
    "SchemaMismatch",
    "StoreError",
    "check_schema",
    "connect",
    "migrate",
    "open_reader",
    "open_writer",
    "write",
]
