"""How much one host may send in a payload or a snapshot, and ask for in one request."""

from __future__ import annotations

MAX_GPUS = 64
# GPU indices go up to here: MIG devices are numbered (parent index + 1) * 100 + position.
MAX_GPU_INDEX = 99_999

# Every time on the wire lies in this window (UTC seconds): a clock before 2000 is broken,
# and past 2200 a time is garbage (3e11 is the year 11476, which no view can show).
EARLIEST_TIME = 946_684_800  # 2000-01-01
LATEST_TIME = 7_258_118_400  # 2200-01-01

# Every api answers a from..to range of this many days (53 weeks), whatever its retention;
# a hub's pull asks a host for no more in one request.
ANSWERED_SPAN_DAYS = 371
