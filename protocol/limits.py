"""How much one host may send in a payload or a snapshot, and ask for in one request."""

from __future__ import annotations

MAX_GPUS = 64
# GPU indices go up to here: MIG devices are numbered (parent index + 1) * 100 + position.
MAX_GPU_INDEX = 99_999
# Every api answers a from..to range of this many days (53 weeks), whatever its retention;
# a hub's pull asks a host for no more in one request.
ANSWERED_SPAN_DAYS = 371
