"""`python -m idle` runs the same CLI as the `gpupulse-idle` command."""

import sys

from idle.cli import main

sys.exit(main())
