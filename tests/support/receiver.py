"""An HTTP receiver on loopback that records what is POSTed to it (Apprise's `json://`
notifications), answering each with the next status from a list (200 once it runs out)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@contextmanager
def receiver(statuses: list[int] | None = None) -> Iterator[tuple[str, list[dict]]]:
    """(base URL, received JSON bodies) of a receiver running for the `with` block."""
    got: list[dict] = []
    answers = list(statuses or [])
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            with lock:
                status = answers.pop(0) if answers else 200
                if status == 200:
                    got.append({"path": self.path, **json.loads(body)})
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            """Quiet."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}", got
    finally:
        server.shutdown()
        server.server_close()
