"""Run a command over a full or a read-only file system, in a private mount namespace.

`python -m tests.support.mounts full DIR SRC FREE -- CMD...` mounts a small tmpfs on DIR,
copies the database SRC into it, fills it until FREE bytes are left, and runs CMD;
`readonly DIR -- CMD...` bind-mounts DIR read-only onto itself first. Run under
`unshare -rm` (see `private_mounts`): nothing is visible outside, and no root is needed
where the kernel lets users create namespaces.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys

TMPFS_SIZE = "8m"


@functools.cache
def namespaces_work() -> bool:
    """True when `unshare -rm` can make a private mount namespace here."""
    if shutil.which("unshare") is None:
        return False
    probe = ["unshare", "-rm", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt"]
    return subprocess.run(probe, capture_output=True, timeout=30).returncode == 0


def private_mounts(*args: str) -> list[str]:
    """The command line that runs this module with `args` in a private mount namespace."""
    return ["unshare", "-rm", "--", sys.executable, "-m", "tests.support.mounts", *args]


def fill(folder: str, free: int) -> None:
    """Write a filler file until `free` bytes are left on the file system under `folder`."""
    stat = os.statvfs(folder)
    size = stat.f_bavail * stat.f_frsize - free
    with open(os.path.join(folder, "filler"), "wb") as out:
        while size > 0:
            size -= out.write(b"\0" * min(size, 1 << 20))


def main(argv: list[str]) -> None:
    """Set up the mount the arguments ask for, then exec the command after `--`."""
    split = argv.index("--")
    setup, command = argv[:split], argv[split + 1 :]
    if setup[0] == "full":
        folder, source, free = setup[1], setup[2], int(setup[3])
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={TMPFS_SIZE}", "tmpfs", folder], check=True
        )
        shutil.copy(source, os.path.join(folder, os.path.basename(source)))
        fill(folder, free)
    elif setup[0] == "readonly":
        folder = setup[1]
        subprocess.run(["mount", "--bind", folder, folder], check=True)
        subprocess.run(["mount", "-o", "remount,bind,ro", folder, folder], check=True)
    os.execvp(command[0], command)


if __name__ == "__main__":
    main(sys.argv[1:])
