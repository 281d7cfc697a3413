"""A Docker Engine API stand-in on a real socket: `GET /containers/{id}/json` answers with a
real inspect document (tests/data/docker) renamed per container, 404 for others, as the
daemon does; every request path is recorded."""

from __future__ import annotations

import json
import socketserver
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

INSPECT = Path(__file__).resolve().parents[1] / "data" / "docker" / "container_inspect_jupyter.json"


class _UnixHTTPServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


def _handler(names: dict[str, str], seen: list[str]) -> type[BaseHTTPRequestHandler]:
    """A request handler answering inspect calls for the containers in `names`."""
    template = json.loads(INSPECT.read_text())

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.path)
            parts = self.path.strip("/").split("/")
            if len(parts) == 3 and parts[0] == "containers" and parts[2] == "json":
                cid = parts[1]
                if cid in names:
                    body = json.dumps({**template, "Id": cid, "Name": "/" + names[cid]})
                    return self._send(200, body)
                return self._send(404, json.dumps({"message": f"No such container: {cid}"}))
            return self._send(404, json.dumps({"message": "page not found"}))

        def _send(self, status: int, body: str) -> None:
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Api-Version", "1.39")
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            """Quiet (and a unix socket has no client address to print)."""

    return Handler


@contextmanager
def engine_api(names: dict[str, str], socket_path: Path | None = None) -> Iterator[tuple]:
    """(endpoint, recorded paths) of a stand-in serving `names` (container id -> name) on a
    unix socket at `socket_path`, else on a loopback TCP port."""
    seen: list[str] = []
    handler = _handler(names, seen)
    if socket_path is None:
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        endpoint = f"http://127.0.0.1:{server.server_address[1]}"
    else:
        server = _UnixHTTPServer(str(socket_path), handler)
        endpoint = f"unix://{socket_path}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield endpoint, seen
    finally:
        server.shutdown()
        server.server_close()
