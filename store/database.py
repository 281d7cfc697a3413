"""Opening the shared database: the one way every service and tool gets a connection.

It sits above store.db (connection settings) and store.schema (versions), so both are
imported here and neither needs the other's opener.
"""

from __future__ import annotations

import os
from pathlib import Path

from store.db import Connection, Error, StoreError, check_sqlite_version, sqlite_connection
from store.problems import check_writable, explain
from store.schema import check_schema
from store.schema import migrate as migrate_schema


def open_db(
    path: str | os.PathLike[str], *, write: bool = False, migrate: bool = False
) -> Connection:
    """Open the database: read-only by default, a writer with `write`, and with `migrate`
    (the collector only) a writer that creates the file and brings its schema up to date.

    Anything wrong with the file (missing, corrupt, a directory, read-only) is a StoreError
    saying what to do, raised here at the start rather than at the first write.
    """
    check_sqlite_version()
    path = Path(path)
    if not migrate and not path.exists():
        # Only the collector creates the file: anyone else would make an empty database
        # that the collector then has to recognise as its own.
        raise StoreError(f"database {path} does not exist yet; start the collector first")
    try:
        if migrate:
            path.parent.mkdir(parents=True, exist_ok=True)
        if write or migrate:
            check_writable(path)
        conn = sqlite_connection(path, write=write or migrate, create=migrate)
    except (Error, OSError) as exc:
        raise explain(exc, path) from None
    try:
        if migrate:
            migrate_schema(conn)
        else:
            check_schema(conn)
    except (Error, OSError) as exc:
        conn.close()
        raise explain(exc, path) from None
    except BaseException:
        conn.close()
        raise
    return conn
