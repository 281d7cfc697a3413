"""Regenerate the README's gpu-activity.svg and gpu-activity-dark.svg from simulated data.

Usage: .venv/bin/python scripts/render_demo_graphs.py [--days 371] [--out-dir .]

A year of the seeded demo fleet (60 s ticks) goes into a throw-away database, the
scheduler rolls it up, and the api's own renderer draws both themes, exactly as
`GET /gpu-activity.svg` would.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from api.cli import main as api_main
from collector.backfill import backfill
from sampling.simulated import SimulatedBackend
from scheduler import rollup
from scheduler.settings import load
from store import open_db
from store.samples import Recorder, set_meta


def build_demo_db(path: Path, days: float, now: float) -> None:
    """Backfill `days` of the simulated fleet into `path` and roll it up."""
    conn = open_db(path, migrate=True)
    set_meta(conn, [("host_id", "gpu-pulse-demo"), ("interval", "60")])
    backfill(SimulatedBackend(), Recorder(conn), days, int(now))
    rollup.rebuild(conn, load({"GPUPULSE_DB": str(path)}), now)
    conn.close()


def main() -> int:
    """Write both graph files; return the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=float, default=371)
    parser.add_argument("--out-dir", type=Path, default=Path("."))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "demo.db"
        build_demo_db(db, args.days, time.time())
        for theme, name in (("light", "gpu-activity.svg"), ("dark", "gpu-activity-dark.svg")):
            out = str(args.out_dir / name)
            code = api_main(["render-svg", "--db", str(db), "--theme", theme, "--out", out])
            if code:
                return code
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
