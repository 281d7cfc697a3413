"""Every command line of every service answers a bad option in one line, exit status 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.parametrize(
    "argv",
    [["collector", "--bogus"], ["collector", "import", "--bogus"],
     ["collector", "idle-run", "--bogus"], ["scheduler", "--bogus"],
     ["scheduler", "-f", "xml"], ["gpupulse-api", "--bogus"]],
)  # fmt: skip
def test_every_command_answers_a_bad_option_in_one_line(argv):
    bin_dir = Path(sys.executable).parent
    done = subprocess.run([str(bin_dir / argv[0]), *argv[1:]], capture_output=True, text=True,
                          timeout=30)  # fmt: skip
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "error:" in lines[0] and "(see --help)" in lines[0], lines
