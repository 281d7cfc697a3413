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
# The api is published without a buffering proxy, so it must serve slow clients itself: with
# gevent's worker a connection that trickles its headers or sits idle holds a greenlet, not
# one of a few threads, and everyone else is still answered (api.readers keeps database
# connections per request, not per greenlet).
worker_class = "gevent"
worker_connections = _server.connections  # past this a worker stops accepting until one ends
# With gevent, keepalive bounds the whole request line and headers of every request, the
# first one included, as well as the wait between requests: a slowloris client is dropped.
keepalive = _server.idle_timeout
preload_app = False
timeout = 30
graceful_timeout = 10
# Requests are GETs with short query strings and small JSON bodies: refuse oversized heads.
limit_request_line = 4094
limit_request_fields = 50
limit_request_field_size = 8190
# gunicorn's control socket would let anyone with the container's UID resize or stop the
# server, and the container's home does not exist: nothing manages the api through it.
control_socket_disable = True
accesslog = "-" if _server.access_log else None
errorlog = "-"
loglevel = _server.log_level.lower()
logger_class = SharedFormatLogger
# Heartbeat files on tmpfs: the container's root is read-only and disk fsyncs stall workers.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None
