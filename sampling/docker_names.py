"""Container names from a Docker Engine API (optional: GPUPULSE_DOCKER_API), so a process's
workload reads `docker trainer` rather than `docker 3a73d078dfe8`.

Only `GET /containers/{id}/json` is asked, and only its `Name` read. The endpoint is a unix
socket (`unix:///var/run/docker.sock`, or a bare path) or an HTTP URL (a socket proxy that
lets only that call through). Answers are kept for NAME_TTL_S, failures for FAILED_TTL_S, so
a container costs one call per quarter hour and an API that is down one per minute; a call
never waits longer than TIMEOUT_S, since the collector's tick waits for it.
"""

from __future__ import annotations

import http.client
import json
import logging
import socket
import time
from collections.abc import Callable
from typing import Protocol
from urllib.parse import urlsplit

log = logging.getLogger(__name__)

TIMEOUT_S = 1.0
NAME_TTL_S = 900.0
FAILED_TTL_S = 60.0
ANSWER_MAX = 1 << 20  # an inspect answer is a few KB


class Transport(Protocol):
    """GET one path of the Engine API: (HTTP status, body); OSError when unreachable."""

    def get(self, path: str) -> tuple[int, bytes]:
        """The answer to GET `path`."""
        ...


class _UnixConnection(http.client.HTTPConnection):
    """HTTP over a unix socket (the Docker daemon's own endpoint)."""

    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self.socket_path = path

    def connect(self) -> None:
        """Connect to the socket file instead of a TCP port."""
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self.socket_path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


class HttpTransport:
    """One HTTP request per call, over a unix socket or TCP (http or https)."""

    def __init__(self, endpoint: str, timeout: float = TIMEOUT_S) -> None:
        self.endpoint, self.timeout = endpoint, timeout
        parts = urlsplit(endpoint if "://" in endpoint else f"unix://{endpoint}")
        self.scheme, self.prefix = parts.scheme, parts.path.rstrip("/")
        if parts.scheme == "unix":
            self.prefix = ""
            self._connect = lambda: _UnixConnection(parts.path, timeout)
        elif parts.scheme in ("http", "tcp"):
            self._connect = lambda: http.client.HTTPConnection(parts.netloc, timeout=timeout)
        elif parts.scheme == "https":
            self._connect = lambda: http.client.HTTPSConnection(parts.netloc, timeout=timeout)
        else:
            raise ValueError(f"{endpoint}: use unix:///path, a socket path or an http(s) URL")

    def get(self, path: str) -> tuple[int, bytes]:
        """GET `path` under the endpoint."""
        conn = self._connect()
        try:
            conn.request("GET", self.prefix + path, headers={"Host": "docker"})
            reply = conn.getresponse()
            return reply.status, reply.read(ANSWER_MAX)
        except http.client.HTTPException as problem:
            raise OSError(f"{self.endpoint}: {problem}") from None
        finally:
            conn.close()


class ContainerNames:
    """Container id -> name, asked of the Engine API and remembered for a while."""

    def __init__(self, transport: Transport, clock: Callable[[], float] = time.monotonic) -> None:
        self.transport, self.clock = transport, clock
        self._known: dict[str, tuple[float, str | None]] = {}
        self._failing = False

    def __call__(self, container_id: str) -> str | None:
        """The container's name without its leading '/', or None when the API cannot say."""
        now = self.clock()
        known = self._known.get(container_id)
        if known is not None and now < known[0]:
            return known[1]
        name = self._ask(container_id)
        self._known[container_id] = (now + (NAME_TTL_S if name else FAILED_TTL_S), name)
        return name

    def _ask(self, container_id: str) -> str | None:
        """One inspect call; logs the first failure of a run of them."""
        try:
            status, body = self.transport.get(f"/containers/{container_id}/json")
            name = json.loads(body).get("Name") if status == 200 else None
        except (OSError, ValueError, AttributeError) as problem:
            if not self._failing:
                log.warning("Docker API: container names unavailable (%s)", problem)
            self._failing = True
            return None
        self._failing = False
        if isinstance(name, str) and name.strip("/"):
            return name.strip("/")
        return None


def from_setting(endpoint: str) -> ContainerNames | None:
    """The names GPUPULSE_DOCKER_API reaches, or None when it is unset (the default)."""
    return ContainerNames(HttpTransport(endpoint)) if endpoint else None
