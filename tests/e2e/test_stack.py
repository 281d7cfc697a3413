"""End-to-end: the no-GPU demo stack under real Docker Compose, no mocks.

Brings compose.yaml + compose.demo.yaml up under a unique project name, waits for all three
services to be healthy, reads /health and both SVGs from the published port, runs the
collector's dry run through `exec` and `run`, checks the containers' users and root file
systems, SIGKILLs the collector and sees Docker restart it with the database intact, and
tears everything down with `down -v`. Skipped, with the reason, when no engine answers.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.servers import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
FILES = ("-f", "compose.yaml", "-f", "compose.demo.yaml")
SERVICES = ("collector", "scheduler", "api")
HEALTHY_WITHIN_S = 90
DB = "/var/lib/gpu-pulse/pulse.db"
SVG_NS = "{http://www.w3.org/2000/svg}"
# GitHub's non-empty levels (1-4) per theme; level 0 is the empty cell.
ACTIVE_FILLS = {
    "light": {"#aceebb", "#4ac26b", "#2da44e", "#116329"},
    "dark": {"#033a16", "#196c2e", "#2ea043", "#56d364"},
}
LEGEND_CELLS = 4
# Run inside the api container (the stack's own Python and pysqlite3, read-only): the
# integrity check, the newest sample time, and the number of samples up to argv[1].
DB_PROBE = f"""
import json, sys
from store import open_db
conn = open_db({DB!r})
one = lambda sql, *args: conn.execute(sql, args).fetchone()[0]
print(json.dumps({{
    "integrity": one("PRAGMA integrity_check"),
    "newest": one("SELECT max(ts) FROM samples"),
    "upto": one("SELECT count(*) FROM samples WHERE ts <= ?", int(sys.argv[1])),
}}))
"""


def docker_problem() -> str | None:
    """Why the e2e test cannot run here, or None when Docker and Compose v2 answer."""
    if shutil.which("docker") is None:
        return "no docker CLI on PATH"
    info = subprocess.run(["docker", "info"], capture_output=True, text=True, timeout=60)
    if info.returncode != 0:
        lines = (info.stderr or info.stdout).strip().splitlines() or ["no output"]
        return f"no Docker engine is reachable (`docker info` failed: {lines[-1]})"
    compose = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True)
    if compose.returncode != 0:
        return "the Docker Compose v2 plugin is not installed (`docker compose version` failed)"
    return None


class Stack:
    """One Compose project of the demo stack, driven through the docker CLI."""

    def __init__(self, project: str, port: int) -> None:
        self.project = project
        self.port = port
        self.env = {**os.environ, "GPUPULSE_PORT": str(port)}
        self.timings: dict[str, float] = {}

    def compose(self, *args: str, timeout: float = 120, check: bool = True):
        """Run `docker compose -p PROJECT -f ... ARGS`; on failure, fail with the logs."""
        cmd = ["docker", "compose", "-p", self.project, *FILES, *args]
        result = subprocess.run(
            cmd, cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=timeout
        )
        if check and result.returncode != 0:
            pytest.fail(
                f"`{' '.join(args)}` exited {result.returncode}:\n{result.stdout}\n"
                f"{result.stderr}\n--- logs ---\n{self.logs()}"
            )
        return result

    def logs(self) -> str:
        """The last log lines of every service, for failure messages."""
        cmd = ["docker", "compose", "-p", self.project, *FILES, "logs", "--no-color", "-n", "30"]
        result = subprocess.run(cmd, cwd=ROOT, env=self.env, capture_output=True, text=True)
        return result.stdout + result.stderr

    def container(self, service: str) -> str:
        """The id of the service's container."""
        cid = self.compose("ps", "-a", "-q", service).stdout.strip()
        assert cid, f"no container for {service}"
        return cid

    def inspect(self, service: str) -> dict:
        """`docker inspect` of the service's container."""
        out = subprocess.run(
            ["docker", "inspect", self.container(service)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        return json.loads(out)[0]

    def health(self, service: str) -> str:
        """The container's health status (starting, healthy, unhealthy) or its state."""
        state = self.inspect(service)["State"]
        return state.get("Health", {}).get("Status") or state["Status"]

    def wait_healthy(self, services: tuple[str, ...], deadline: float) -> None:
        """Poll until every service is healthy; fail with the logs at the deadline."""
        while True:
            states = {s: self.health(s) for s in services}
            if all(v == "healthy" for v in states.values()):
                return
            if time.monotonic() > deadline:
                pytest.fail(f"not healthy in time: {states}\n--- logs ---\n{self.logs()}")
            time.sleep(1)

    def get(self, path: str) -> tuple[int, dict[str, str], bytes]:
        """GET from the api's published port: (status, headers, body)."""
        url = f"http://127.0.0.1:{self.port}{path}"
        try:
            with urllib.request.urlopen(url, timeout=15) as reply:
                return reply.status, dict(reply.headers), reply.read()
        except urllib.error.HTTPError as reply:
            return reply.code, dict(reply.headers), reply.read()

    def db(self, upto: int = 0) -> dict:
        """integrity, newest sample time, and the count of samples with ts <= upto."""
        out = self.compose("exec", "-T", "api", "python", "-c", DB_PROBE, str(upto)).stdout
        return json.loads(out)


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    """The demo stack, built, up and healthy; always torn down with `down -v`."""
    problem = docker_problem()
    if problem:
        pytest.skip(f"Docker end-to-end test not run: {problem}")
    st = Stack(f"gpupulse-e2e-{uuid.uuid4().hex[:10]}", free_port())
    try:
        # Build first so the 90 s budget measures start-up, not a cold pip install.
        started = time.monotonic()
        st.compose("build", timeout=1200)
        st.timings["build_s"] = time.monotonic() - started
        started = time.monotonic()
        st.compose("up", "-d", "--build", timeout=HEALTHY_WITHIN_S + 60)
        st.wait_healthy(SERVICES, started + HEALTHY_WITHIN_S)
        st.timings["healthy_s"] = time.monotonic() - started
        print(f"\ne2e {st.project}: " + ", ".join(f"{k} {v:.1f}" for k, v in st.timings.items()))
        yield st
    finally:
        st.compose("down", "-v", "--remove-orphans", "-t", "20", timeout=180, check=False)


def test_all_three_services_become_healthy_within_90_s(stack):
    assert stack.timings["healthy_s"] <= HEALTHY_WITHIN_S
    assert {s: stack.health(s) for s in SERVICES} == dict.fromkeys(SERVICES, "healthy")


def test_health_reports_ok_with_fresh_samples(stack):
    status, headers, body = stack.get("/health")
    assert status == 200, body
    assert headers["Content-Type"].startswith("application/json")
    health = json.loads(body)
    assert health["status"] == "ok"
    assert 0 <= health["newest_sample_age_s"] <= health["stale_after_s"]


def active_cells(svg: bytes, theme: str) -> int:
    """Calendar cells drawn in one of the theme's non-empty colours (legend excluded)."""
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG_NS}svg"
    fills = [el.get("fill") for el in root.iter(f"{SVG_NS}rect")]
    return sum(f in ACTIVE_FILLS[theme] for f in fills) - LEGEND_CELLS


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_svg_shows_the_imported_weeks_of_history(stack, theme):
    # The scheduler rolls the backfilled history up shortly after it starts.
    deadline = time.monotonic() + 60
    while True:
        status, headers, body = stack.get(f"/gpu-activity.svg?theme={theme}")
        assert status == 200, body[:300]
        assert headers["Content-Type"] == "image/svg+xml; charset=utf-8"
        days = active_cells(body, theme)
        if days >= 14 or time.monotonic() > deadline:
            break
        time.sleep(2)
    # 21 simulated days with a weekly rhythm: at least two weeks of active days.
    assert days >= 14, f"only {days} active days drawn"


def test_dry_run_through_exec_and_through_run(stack):
    for args in (("exec", "-T", "collector", "collector"), ("run", "--rm", "-T", "collector")):
        result = stack.compose(*args, "--dry-run", timeout=120)
        gpu_lines = [ln for ln in result.stdout.splitlines() if ln.strip().startswith("GPU ")]
        assert gpu_lines, result.stdout
        assert "nothing was written" in result.stdout


@pytest.mark.parametrize("service", SERVICES)
def test_container_runs_as_non_root_on_a_read_only_root(stack, service):
    info = stack.inspect(service)
    assert info["HostConfig"]["ReadonlyRootfs"] is True
    assert info["HostConfig"]["CapDrop"] == ["ALL"]
    probe = "import os, sys; print(os.getuid()); open('/probe', 'w')"
    result = stack.compose("exec", "-T", service, "python", "-c", probe, check=False)
    assert result.stdout.split() == ["10001"]
    assert "Read-only file system" in result.stderr


def test_collector_restarts_after_sigkill_with_the_database_intact(stack):
    before = stack.db()
    assert before["integrity"] == "ok"
    cut = before["newest"]
    counted = stack.db(cut)["upto"]
    info = stack.inspect("collector")
    restarts = info["RestartCount"]
    # `docker kill` counts as a manual stop, after which Docker does not apply the restart
    # policy; a SIGKILL from outside is a crash, which it does. The signal comes from a
    # throwaway container of the same image in the host PID namespace, as the same UID.
    kill = f"import os, signal; os.kill({info['State']['Pid']}, signal.SIGKILL)"
    subprocess.run(
        [
            "docker",
            "run",
            "--rm",
            "--pid=host",
            "--cap-drop=ALL",
            "--user=10001:10001",
            "--entrypoint=python",
            info["Image"],
            "-c",
            kill,
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    deadline = time.monotonic() + HEALTHY_WITHIN_S
    while stack.inspect("collector")["RestartCount"] == restarts:
        assert time.monotonic() < deadline, "the collector was not restarted"
        time.sleep(0.5)
    stack.wait_healthy(("collector",), deadline)
    after = stack.db(cut)
    assert after["integrity"] == "ok"
    assert after["upto"] >= counted, "samples written before the kill are gone"
    assert after["newest"] > cut, "no new samples after the restart"
