"""`python -m collector` runs the same CLI as the `collector` command."""

import sys

from collector.cli import main

sys.exit(main())
