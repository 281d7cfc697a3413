"""Runs the real idle runner (idle.cli.run) against FakeBackend in its own process.

Usage: python -m tests.support.idle.run_fake ARGS...  (the idle-run arguments)
"""

import sys

from idle.cli import run
from tests.support.idle.fakes import FakeBackend

if __name__ == "__main__":
    sys.exit(run(sys.argv[1:], backend=FakeBackend(gpus=2)))
