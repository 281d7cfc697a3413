"""Read-only database connections, one per worker process and thread, opened on first use.

gunicorn forks workers from a master; an SQLite connection must never cross a fork, so
each process (and each gthread thread) opens its own the first time it needs one.
"""

from __future__ import annotations

import os
import threading

from store import open_db
from store.db import Connection


class Readers:
    """Hands out this process's and thread's reader connection to one database file."""

    write = False  # Writers (api.hub.writers) open writers instead

    def __init__(self, path: str) -> None:
        self.path = path
        self._local = threading.local()

    def get(self) -> Connection:
        """The connection for the calling thread, opened (and schema-checked) if needed."""
        local = self._local
        if getattr(local, "pid", None) != os.getpid():
            # A fork copies thread-locals: a parent's connection is not ours to use.
            local.conn, local.pid = None, os.getpid()
        if local.conn is None:
            local.conn = open_db(self.path, write=self.write)
        return local.conn

    def reset(self) -> None:
        """Forget this thread's connection (after an error, so the next call reopens)."""
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None and getattr(self._local, "pid", None) == os.getpid():
            conn.close()
