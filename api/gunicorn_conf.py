"""gunicorn settings for the api: `gunicorn -c python:api.gunicorn_conf 'api.app:create_app()'`.

The app is not preloaded: each worker builds it after the fork, so database connections
(opened on first use, see api.readers) are never shared between processes.
"""

from __future__ import annotations

import os

from api.settings import ServerSettings
from store.settings import SettingError

try:
    _server = ServerSettings.from_env()
    _server.port  # noqa: B018 - validates GPUPULSE_API_BIND before gunicorn binds
except SettingError as problem:
    raise SystemExit(f"gpupulse-api: {problem}") from None

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
loglevel = "info"
# Heartbeat files on tmpfs: the container's root is read-only and disk fsyncs stall workers.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None
