"""How much one host may send in a payload or a snapshot."""

from __future__ import annotations

MAX_GPUS = 64
# GPU indices go up to here: MIG devices are numbered (parent index + 1) * 100 + position.
MAX_GPU_INDEX = 99_999
