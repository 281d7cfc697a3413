"""Container names from a Docker Engine API: a stand-in speaking the API's inspect answer
(a real one, tests/data/docker) on a real unix socket and on a loopback port, reached by the
collector's own transport; fake /proc trees with real cgroup files."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from runtime.settings import SettingError, load
from sampling import docker_names
from sampling.docker_names import FAILED_TTL_S, NAME_TTL_S, ContainerNames, HttpTransport
from sampling.factory import procinfo
from sampling.procinfo import ProcInfo
from sampling.settings import BackendSettings
from tests.support.docker_api import engine_api
from tests.support.procfs import PASSWD, write_proc

CGROUP = Path(__file__).resolve().parents[1] / "data" / "cgroup"
DOCKER_ID = "9d5b23edb1ba181e8910389a99906598d69ac9a0ead109ee55730cc416d95f7f"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def proc_tree(tmp_path: Path, cgroups: dict[int, str]) -> tuple[Path, Path]:
    """A /proc with one root process per pid, each in the cgroup file named."""
    root, passwd = tmp_path / "proc", tmp_path / "passwd"
    root.mkdir()
    passwd.write_text(PASSWD)
    for pid, name in cgroups.items():
        write_proc(root, pid, uid=0, cmdline=b"python\0train.py\0", start_ticks=pid)
        (root / str(pid) / "cgroup").write_bytes((CGROUP / name).read_bytes())
    return root, passwd


def test_workloads_name_docker_containers_over_a_unix_socket(tmp_path):
    root, passwd = proc_tree(
        tmp_path,
        {
            10: "libdatadog_cgroup.docker",
            11: "libdatadog_cgroup.docker",  # the same container: asked once
            12: "libdatadog_cgroup.kubernetes",  # a pod: its name is the pod's, not asked
            13: "repro_slurm_v1_step.txt",
        },
    )
    with engine_api({DOCKER_ID: "trainer"}, tmp_path / "docker.sock") as (endpoint, seen):
        names = ContainerNames(HttpTransport(endpoint))
        info = ProcInfo(root, passwd, clk_tck=100, names=names)
        found = {pid: info.lookup(pid) for pid in (10, 11, 12, 13)}
    assert (found[10].workload, found[10].workload_id) == ("docker trainer", DOCKER_ID)
    assert found[11].workload == "docker trainer"
    assert found[12].workload == "pod 3d274242" and found[13].workload == "slurm job 17"
    assert seen == [f"/containers/{DOCKER_ID}/json"]


def test_unknown_containers_and_a_silent_api_keep_the_id(tmp_path, caplog):
    clock = Clock()
    with engine_api({}) as (endpoint, seen):  # loopback TCP: a socket proxy's URL
        names = ContainerNames(HttpTransport(endpoint), clock)
        assert names(DOCKER_ID) is None  # 404: no such container
        assert seen == [f"/containers/{DOCKER_ID}/json"]
    caplog.set_level(logging.WARNING, "sampling.docker_names")
    assert names("f" * 64) is None  # the API is gone now
    assert names("e" * 64) is None
    messages = [r.getMessage() for r in caplog.records if r.name == "sampling.docker_names"]
    assert len(messages) == 1 and "container names unavailable" in messages[0]  # once a run
    root, passwd = proc_tree(tmp_path, {10: "libdatadog_cgroup.docker"})
    info = ProcInfo(root, passwd, clk_tck=100, names=names)
    assert info.lookup(10).workload == "docker 9d5b23edb1ba"


def test_names_are_remembered_and_asked_again_later(tmp_path):
    clock = Clock()
    with engine_api({DOCKER_ID: "trainer"}, tmp_path / "d.sock") as (endpoint, seen):
        names = ContainerNames(HttpTransport(endpoint), clock)
        assert [names(DOCKER_ID) for _ in range(3)] == ["trainer"] * 3
        assert len(seen) == 1
        clock.now += NAME_TTL_S + 1  # renamed containers are noticed in time
        assert names(DOCKER_ID) == "trainer" and len(seen) == 2
        assert names("a" * 64) is None and len(seen) == 3
        clock.now += FAILED_TTL_S / 2
        assert names("a" * 64) is None and len(seen) == 3  # a miss is not asked every tick
        clock.now += FAILED_TTL_S
        assert names("a" * 64) is None and len(seen) == 4


def test_the_setting_is_off_by_default_and_checked(tmp_path):
    assert docker_names.from_setting(BackendSettings().docker_api) is None
    assert procinfo(BackendSettings()).names is None
    sock = tmp_path / "docker.sock"
    chosen = load(BackendSettings, {"GPUPULSE_DOCKER_API": str(sock)})
    assert isinstance(procinfo(chosen).names, ContainerNames)
    with pytest.raises(SettingError, match="GPUPULSE_DOCKER_API='ftp://x'"):
        load(BackendSettings, {"GPUPULSE_DOCKER_API": "ftp://x"})
