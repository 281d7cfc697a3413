"""Stop signals: SIGTERM and SIGINT ask a service to finish what it is doing and return."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class StopRequest(threading.Event):
    """An Event that a stop signal sets; `signal` names the one that came."""

    def __init__(self, log: logging.Logger | None = None, doing: str = "stopping") -> None:
        super().__init__()
        self.signal: str | None = None
        self.log = log
        self.doing = doing

    def handle(self, signum: int, _frame: object = None) -> None:
        """Signal handler: remember the signal, say so, set the event."""
        self.signal = signal.Signals(signum).name
        if self.log:
            self.log.info("received %s; %s", self.signal, self.doing)
        self.set()

    def install(self) -> Callable[[], None]:
        """Handle SIGTERM and SIGINT (from the main thread only); returns the undo."""
        if threading.current_thread() is not threading.main_thread():
            return lambda: None
        previous = {signum: signal.signal(signum, self.handle) for signum in STOP_SIGNALS}

        def undo() -> None:
            for signum, handler in previous.items():
                signal.signal(signum, handler)

        return undo
