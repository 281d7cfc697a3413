"""Read-only database connections of one worker process, each used by one request at a time.

gunicorn forks workers from a master; an SQLite connection must never cross a fork, so each
process opens its own. Under gevent one worker serves hundreds of connections on one thread:
a connection per thread would let a streaming request's open read hold every other request
on its snapshot, and one per client would open hundreds of files. So a request takes a
connection on first use and hands it back when it ends; a worker keeps only as many as it
has requests in flight at once.
"""

from __future__ import annotations

import os

from flask import g, has_app_context

from store import open_db
from store.db import Connection


class Readers:
    """This process's reader connections to one database file, lent out per request."""

    write = False  # Writers (api.hub.writers) open writers instead

    def __init__(self, path: str) -> None:
        self.path = path
        self._pid = os.getpid()
        self._idle: list[Connection] = []
        self._slot = f"gpupulse_conn_{id(self)}"  # where a request keeps the one it holds

    def get(self) -> Connection:
        """The calling request's connection, taken from the idle ones or opened (and
        schema-checked) on first use; outside a request, the one the next request takes."""
        self._after_fork()
        held = g.get(self._slot) if has_app_context() else None
        if held is not None:
            return held
        conn = self._idle.pop() if self._idle else open_db(self.path, write=self.write)
        if has_app_context():
            setattr(g, self._slot, conn)
        else:
            self._idle.append(conn)
        return conn

    def release(self, _error: BaseException | None = None) -> None:
        """Hand the request's connection back (Flask calls this as a request's context ends)."""
        conn = g.pop(self._slot, None) if has_app_context() else None
        if conn is not None and self._pid == os.getpid():
            self._idle.append(conn)

    def reset(self) -> None:
        """Close the request's connection instead of handing it back (after an error, so the
        next use reopens)."""
        conn = g.pop(self._slot, None) if has_app_context() else None
        if conn is None and self._idle:
            conn = self._idle.pop()
        if conn is not None and self._pid == os.getpid():
            conn.close()

    def _after_fork(self) -> None:
        """Forget connections a parent process opened: they are not ours to use or close."""
        if self._pid != os.getpid():
            self._pid, self._idle = os.getpid(), []
