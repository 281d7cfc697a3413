"""A server on loopback that accepts a request and answers it one byte at a time, forever
(or for `for_s` seconds), as a hostile or broken receiver does."""

from __future__ import annotations

import socket
import threading
import time


class DripServer:
    """Each connection: read the request, then send a status line and endless header
    bytes, one every `every_s` seconds; `connections` counts the requests that came."""

    def __init__(self, every_s: float = 0.2, for_s: float = 60.0) -> None:
        self.every_s, self.for_s = every_s, for_s
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/gpu"
        self.connections = 0
        self.closed = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.closed.is_set():
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._drip, args=(client,), daemon=True).start()

    def _drip(self, client: socket.socket) -> None:
        end = time.monotonic() + self.for_s
        try:
            client.recv(65536)
            client.sendall(b"HTTP/1.1 200 OK\r\nX-Drip: ")
            while time.monotonic() < end and not self.closed.is_set():
                client.sendall(b"a")
                time.sleep(self.every_s)
        except OSError:
            pass  # the client gave up: that is the point
        finally:
            client.close()

    def close(self) -> None:
        """Stop accepting and dripping."""
        self.closed.set()
        self.sock.close()
