"""Hostile clients for availability tests and benchmarks: slowloris connections that send one
header line now and then and never finish, and idle connections that send nothing."""

from __future__ import annotations

import socket
import threading
import time


class SlowClients:
    """`slow` slowloris and `idle` idle connections to 127.0.0.1:`port`, held open (and
    reopened when the server drops them) from one background thread until `close()`."""

    def __init__(self, port: int, slow: int, idle: int, every_s: float = 1.0) -> None:
        self.port, self.slow, self.idle, self.every_s = port, slow, idle, every_s
        self.opened = 0  # connections made, reopened ones included
        self._socks: list[tuple[socket.socket, bool]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> SlowClients:
        """Open every connection, then keep them open in the background."""
        for k in range(self.slow + self.idle):
            self._socks.append(self._open(k < self.slow))
        self._thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self.close()

    def _open(self, slow: bool) -> tuple[socket.socket, bool]:
        """One connection; a slow one has sent its request line and a first header."""
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        self.opened += 1
        if slow:
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        return sock, slow

    def _run(self) -> None:
        """Every `every_s`: one more header line on each slow connection; reopen dropped ones."""
        line = 0
        while not self._stop.wait(self.every_s):
            line += 1
            for i, (sock, slow) in enumerate(self._socks):
                if self._stop.is_set():
                    return
                try:
                    if slow:
                        sock.sendall(f"X-Slow-{line}: {'a' * 8}\r\n".encode())
                    else:
                        sock.setblocking(False)
                        try:
                            if sock.recv(1) == b"":
                                raise ConnectionResetError("closed by the server")
                        except BlockingIOError:
                            pass
                        finally:
                            sock.setblocking(True)
                except OSError:
                    sock.close()
                    try:
                        self._socks[i] = self._open(slow)
                    except OSError:
                        time.sleep(0.01)

    def close(self) -> None:
        """Stop the background thread and close every connection."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        for sock, _slow in self._socks:
            sock.close()
