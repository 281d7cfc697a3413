"""Workloads from real /proc/PID/cgroup contents (tests/data/cgroup, see SOURCES.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sampling.workload import NONE, Workload, of_cgroup_text, of_pid

CGROUP = Path(__file__).resolve().parents[1] / "data" / "cgroup"
DOCKER_ID = "9d5b23edb1ba181e8910389a99906598d69ac9a0ead109ee55730cc416d95f7f"
K8S_ID = "a51a9f7d073f848e7fc59e56e8f11524f330a2175a4ed26327da2dfe0d28015f"


@pytest.mark.parametrize(
    ("name", "expected", "shown"),
    [
        (
            "libdatadog_cgroup.docker",
            Workload(container_id=DOCKER_ID, runtime="docker"),
            "docker 9d5b23edb1ba",
        ),
        (
            "libdatadog_cgroup.kubernetes",
            Workload(
                container_id="3e74d3fd9db4c9dd921ae05c2502fb984d0cde1b36e581b13f79c639da4518a1",
                pod_uid="3d274242-8ee0-11e9-a8a6-1e68d864ef1a",
            ),
            "pod 3d274242",
        ),
        # Hybrid v1 + v2: the v2 line names containerd's own unit; the pod is the workload.
        (
            "datadog-agent_v1_kubepods_burstable_containerd.txt",
            Workload(
                container_id=K8S_ID, pod_uid="15513b48-e7a5-48fc-b9e3-92f713f36504", qos="burstable"
            ),
            "pod 15513b48",
        ),
        (
            "datadog-agent_v1_kubepods_systemd_cri-containerd_colons.txt",
            Workload(
                container_id="1c8f503430973935b7d8a80c4f58c0946b052a021e6855b358e5ec38601af120",
                runtime="containerd",
                pod_uid="5be537b8-3a4e-4607-af71-31598b3a4fd3",
                qos="burstable",
            ),
            "pod 5be537b8",
        ),
        (
            "datadog-agent_v2_nohost_kubepods_docker_scope.txt",
            Workload(
                container_id=K8S_ID,
                runtime="docker",
                pod_uid="562c01d6-6aba-49fe-ae52-61c40c04eca4",
                qos="burstable",
            ),
            "pod 562c01d6",
        ),
        (
            "repro_containerd_v2_kubernetes.txt",
            Workload(
                container_id="7c6b5a4938271605f4e3d2c1b0a998877665544332211000ffeeddccbbaa9988",
                runtime="containerd",
                pod_uid="0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d",
                qos="besteffort",
            ),
            "pod 0a1b2c3d",
        ),
        (
            "repro_docker_v2_systemd.txt",
            Workload(
                container_id="3f1e2d4c5b6a79880a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f6071",
                runtime="docker",
            ),
            "docker 3f1e2d4c5b6a",
        ),
        (
            "repro_slurm_v1_step.txt",
            Workload(slurm_job="17", slurm_step="0"),
            "slurm job 17",
        ),
        (
            "repro_slurm_v2_batch.txt",
            Workload(slurm_job="840392", slurm_step="batch"),
            "slurm job 840392",
        ),
        (
            "containerd-cgroups_v1_systemd240_docker.service.txt",
            Workload(unit="docker.service"),
            "docker.service",
        ),
        (
            "containerd-cgroups_v1_systemd_user_gnome-terminal.txt",
            Workload(unit="gnome-terminal-server.service"),
            "gnome-terminal-server.service",
        ),
        ("libdatadog_cgroup.linux", Workload(unit="session-14.scope"), "session-14.scope"),
        (
            "libdatadog_cgroup.multiple_controllers",
            Workload(unit="session-14.scope"),
            "session-14.scope",
        ),
        (
            "opencontainers-cgroups_v1_coreos_sshd_service.txt",
            Workload(unit="sshd@126-10.240.0.15:22-xxx.yyy.zzz.aaa:33678.service"),
            "sshd@126-10.240.0.15:22-xxx.yyy.zzz.aaa:33678.service",
        ),
        ("libdatadog_cgroup.v2", NONE, None),  # inside its own cgroup namespace: nothing
    ],
)
def test_each_runtime_layout_names_its_workload(name, expected, shown):
    found = of_cgroup_text((CGROUP / name).read_text())
    assert found == expected
    assert found.name == shown


def test_the_id_is_the_whole_identity_the_name_a_short_one():
    step = of_cgroup_text((CGROUP / "repro_slurm_v1_step.txt").read_text())
    assert (step.name, step.id) == ("slurm job 17", "17.0")
    pod = of_cgroup_text((CGROUP / "libdatadog_cgroup.kubernetes").read_text())
    assert pod.id == "3d274242-8ee0-11e9-a8a6-1e68d864ef1a"


def test_a_process_is_read_from_its_proc_tree(tmp_path):
    proc = tmp_path / "proc" / "4242"
    proc.mkdir(parents=True)
    (proc / "cgroup").write_bytes((CGROUP / "repro_slurm_v2_batch.txt").read_bytes())
    assert of_pid(4242, tmp_path / "proc").slurm_job == "840392"
    assert of_pid(9999, tmp_path / "proc") is NONE  # exited, or not visible
