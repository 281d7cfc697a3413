"""The GPU Pulse store: one SQLite file shared by the collector, scheduler and api.

This package owns the schema, its migrations, how connections are opened, and the
queries more than one service runs. Nothing else creates tables.
"""

from store.database import open_db
from store.db import (
    Connection,
    StoreError,
    TransactionRequired,
    atomic,
    check_sqlite_version,
    dict_rows,
    require_transaction,
)
from store.schema import SCHEMA_VERSION, SchemaMismatch, check_schema, migrate

__all__ = [
    "SCHEMA_VERSION",
    "Connection",
    "SchemaMismatch",
    "StoreError",
    "TransactionRequired",
    "atomic",
    "check_schema",
    "check_sqlite_version",
    "dict_rows",
    "migrate",
    "open_db",
    "require_transaction",
]
