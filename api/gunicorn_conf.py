"""gunicorn settings for the api: `gunicorn -c python:api.gunicorn_conf 'api.app:create_app()'`.

The app is not preloaded: each worker builds it after the fork, so database connections
(opened on first use, see api.readers) are never shared between processes.
"""

from __future__ import annotations

import os

from gunicorn.glogging import Logger

from api.settings import ServerSettings
from runtime import logs
from runtime.settings import SettingError, environment, load

try:
    _server = load(ServerSettings, environment())
except SettingError as problem:
    raise SystemExit(f"gpupulse-api: {problem}") from None


class SharedFormatLogger(Logger):
    """gunicorn's own lines in the format every GPU Pulse service logs in."""

    error_fmt = logs.FORMAT
    datefmt = logs.DATE_FORMAT


bind = [_server.bind]
workers = _server.workers
threads = _server.threads
worker_class = "gthread"  # keep-alive connections, threads share the worker's cache
preload_app = False
timeout = 30
graceful_timeout = 10
keepalive = 5
accesslog = "-" if _server.access_log else None
errorlog = "-"
loglevel = _server.log_level.lower()
logger_class = SharedFormatLogger
# Heartbeat files on tmpfs: the container's root is read-only and disk fsyncs stall workers.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None
