"""One log line format for every service: UTC time, level, logger and message, on stderr."""

from __future__ import annotations

import logging
import sys
import time

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
DATE_FORMAT = "%Y-%m-%dT%H:%M:%S%z"


def formatter() -> logging.Formatter:
    """The shared format, times in UTC (the containers' logs line up whatever their zone)."""
    shared = logging.Formatter(FORMAT, DATE_FORMAT)
    shared.converter = time.gmtime
    return shared


def setup(level: str, *, file: str | None = None, stderr: bool = True) -> None:
    """Log at `level` to stderr and/or appended to `file`."""
    handlers: list[logging.Handler] = []
    if stderr:
        handlers.append(logging.StreamHandler(sys.stderr))
    if file:
        handlers.append(logging.FileHandler(file))
    for handler in handlers:
        handler.setFormatter(formatter())
    logging.basicConfig(level=level, handlers=handlers, force=True)
