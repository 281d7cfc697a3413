"""Which workload a process belongs to, from /proc/PID/cgroup (readable without privileges).

Inside a container every job is often "root": the container, the Kubernetes pod or the
Slurm job is then the name that tells jobs apart. The cgroup path says which, in the
layouts the runtimes write:

- Docker: `/docker/<id>` (cgroup v1), `.../docker-<id>.scope` (systemd driver, v2);
  Podman `libpod-<id>.scope`; containerd under Kubernetes `cri-containerd-<id>.scope` or
  `...slice:cri-containerd:<id>` (v1 with the systemd driver);
- Kubernetes: the pod's UID in `pod<uid>` (`_` for `-` under the systemd driver) and its
  QoS class (`kubepods-burstable`, `besteffort`); the namespace is not in the path;
- Slurm: `/slurm/uid_N/job_N/step_N` (v1) or `.../slurmstepd.scope/job_N/step_N` (v2);
- otherwise the systemd unit: `docker.service`, `session-14.scope`, a user's unit.

Hybrid hosts list v1 and v2 paths that disagree; the most specific workload wins.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

CONTAINER = re.compile(r"(?:^|[/:-])([0-9a-f]{64})(?:\.scope)?$")
RUNTIME = re.compile(r"(docker|libpod|cri-containerd|crio)[-:]")
POD = re.compile(r"pod([0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12})")
QOS = re.compile(r"kubepods[-/](burstable|besteffort|guaranteed)")
SLURM_JOB = re.compile(r"(?:^|/)job_(\d+)(?:/step_([a-z0-9]+))?")
UNIT = re.compile(r"[^/]+\.(?:service|scope)$")
RUNTIME_NAMES = {
    "docker": "docker",
    "libpod": "podman",
    "cri-containerd": "containerd",
    "crio": "cri-o",
}


@dataclass(frozen=True)
class Workload:
    """What a process runs in; every part None where the cgroup path does not say."""

    container_id: str | None = None
    runtime: str | None = None  # docker, podman, containerd, cri-o
    pod_uid: str | None = None
    qos: str | None = None
    slurm_job: str | None = None
    slurm_step: str | None = None
    unit: str | None = None
    container_name: str | None = None  # from the Docker API, where one is configured

    @property
    def name(self) -> str | None:
        """The short name people use for it, what usage groups by: 'slurm job 17',
        'pod 3d274242', 'docker 9d5b23edb1ba' (or 'docker trainer' named), 'docker.service'."""
        if self.slurm_job:
            return f"slurm job {self.slurm_job}"
        if self.pod_uid:
            return f"pod {self.pod_uid[:8]}"
        if self.container_id:
            label = self.container_name or self.container_id[:12]
            return f"{self.runtime or 'container'} {label}"
        return self.unit

    @property
    def id(self) -> str | None:
        """Its full identity: the Slurm job and step, the pod UID, the container id, the unit."""
        if self.slurm_job:
            return f"{self.slurm_job}.{self.slurm_step}" if self.slurm_step else self.slurm_job
        return self.pod_uid or self.container_id or self.unit

    @property
    def rank(self) -> int:
        """How specific it is: a job or pod beats a container beats a unit."""
        for rank, part in enumerate((self.slurm_job, self.pod_uid, self.container_id, self.unit)):
            if part:
                return 4 - rank
        return 0


NONE = Workload()


def of_path(path: str) -> Workload:
    """The workload one cgroup path names."""
    path = path.strip()
    job = SLURM_JOB.search(path) if "slurm" in path else None
    if job:
        return Workload(slurm_job=job.group(1), slurm_step=job.group(2))
    pod = POD.search(path)
    last = path.rstrip("/").rsplit("/", 1)[-1]
    container = CONTAINER.search(last)
    if pod or container:
        qos = QOS.search(path) if pod else None
        return Workload(
            container_id=container.group(1) if container else None,
            runtime=runtime_of(path, last) if container else None,
            pod_uid=pod.group(1).replace("_", "-") if pod else None,
            qos=qos.group(1) if qos else None,
        )
    unit = UNIT.search(path)
    return Workload(unit=unit.group(0)) if unit else NONE


def runtime_of(path: str, last: str) -> str | None:
    """Which container runtime made the cgroup, where its name says."""
    named = RUNTIME.search(last)
    if named:
        return RUNTIME_NAMES[named.group(1)]
    return "docker" if "/docker/" in path else None


def named(found: Workload, names: Callable[[str], str | None] | None) -> Workload:
    """`found` with its container's name from `names` (a Docker API), for Docker and Podman
    containers outside a pod (a pod's name comes first anyway); unchanged without one."""
    if names is None or not found.container_id or found.pod_uid:
        return found
    if found.runtime not in (None, "docker", "podman"):
        return found
    name = names(found.container_id)
    return replace(found, container_name=name) if name else found


def of_cgroup_text(text: str) -> Workload:
    """The most specific workload among the lines of a /proc/PID/cgroup file."""
    best, best_key = NONE, (0, 0)
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        found = of_path(parts[2])
        key = (found.rank, parts[2].count("/"))  # then the deepest path: the innermost unit
        if key > best_key:
            best, best_key = found, key
    return best


def of_pid(pid: int, proc_root: str | Path = "/proc") -> Workload:
    """The workload of a running process; NONE when its cgroup file cannot be read."""
    try:
        text = (Path(proc_root) / str(pid) / "cgroup").read_text(errors="replace")
    except OSError:
        return NONE
    return of_cgroup_text(text)
