"""A stand-in idle job: reports who it is, then sleeps until signalled.

Usage: job.py REPORT_FILE [--child] [--ignore-term] [--exit CODE]
"""

import json
import os
import signal
import subprocess
import sys
import time

report, flags = sys.argv[1], sys.argv[2:]
if "--ignore-term" in flags:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
child = None
if "--child" in flags:
    # A grandchild of the runner in the same process group, as shells and launchers make.
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"]).pid
info = {
    "pid": os.getpid(),
    "pgid": os.getpgid(0),
    "sid": os.getsid(0),
    "child": child,
    "cwd": os.getcwd(),
    "cuda": os.environ.get("CUDA_VISIBLE_DEVICES"),
    "order": os.environ.get("CUDA_DEVICE_ORDER"),
    "marker": os.environ.get("IDLE_TEST_MARKER"),
}
with open(report, "a") as out:
    out.write(json.dumps(info) + "\n")
print("job output line", flush=True)
if "--exit" in flags:
    sys.exit(int(flags[flags.index("--exit") + 1]))
time.sleep(600)
