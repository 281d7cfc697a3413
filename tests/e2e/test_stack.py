"""End-to-end: the no-GPU demo stack under real Docker Compose, no mocks.

In a copy of this checkout, runs the README's own commands as a user would
(`cp .env.demo .env && docker compose up -d`, then every other `docker compose` line of the
README, literally), under a project name and an image tag of its own so it never touches a
real deployment on the same host. It waits for all three services to be healthy, reads
/health and both SVGs from the published port, checks the containers' users and root file
systems, SIGKILLs the collector and sees Docker restart it with the database intact, backs
the database up and upgrades in place, starts stacks with a bad setting in `.env` to see
the reason in the logs and the healthcheck, and tears everything down with `down -v`.
Skipped, with the reason, when no engine answers.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
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
SERVICES = ("collector", "scheduler", "api")
# Images built here carry this tag (GPUPULSE_IMAGE_TAG), never a deployment's `latest`.
IMAGE_TAG = "e2e"
# The compose project's volume as the README names it, for the project `gpu-pulse`.
README_VOLUME = "gpu-pulse_pulse-data"
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


def readme_commands() -> list[str]:
    """Every line of the README's shell blocks that runs Docker, in order."""
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```sh\n(.*?)```", readme, re.S)
    lines = [ln.strip() for block in blocks for ln in block.splitlines()]
    return [ln for ln in lines if "docker " in ln]


def checkout_copy(dest: Path) -> Path:
    """The files of this checkout (tracked, and new ones git does not ignore) under dest;
    the user's own .env stays behind."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for name in filter(None, (n.decode() for n in listed)):
        source = ROOT / name
        if source.is_file() and name != ".env":
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    return dest


class Stack:
    """One Compose project in its own copy of the checkout, driven as a user drives it:
    plain `docker compose ...` lines in that directory."""

    def __init__(self, workdir: Path, project: str, port: int) -> None:
        self.workdir = workdir
        self.project = project
        self.port = port
        clean = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("COMPOSE_", "GPUPULSE_", "DOCKER_DEFAULT_"))
        }
        # The project name and tag keep this stack apart from a real one; nothing else is
        # set, so the commands read .env exactly as they would for a user.
        self.env = {
            **clean,
            "COMPOSE_PROJECT_NAME": project,
            "GPUPULSE_PORT": str(port),
            "GPUPULSE_IMAGE_TAG": IMAGE_TAG,
        }
        self.timings: dict[str, float] = {}

    def sh(self, command: str, timeout: float = 120, check: bool = True):
        """Run a README command line with bash in the workdir; on failure, fail with logs."""
        result = subprocess.run(
            ["bash", "-c", command],
            cwd=self.workdir,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
        if check and result.returncode != 0:
            pytest.fail(
                f"`{command}` exited {result.returncode}:\n{result.stdout}\n"
                f"{result.stderr}\n--- logs ---\n{self.logs()}"
            )
        return result

    def compose(self, *args: str, timeout: float = 120, check: bool = True):
        """`docker compose ARGS` in the workdir (the project comes from the environment)."""
        return self.sh(" ".join(["docker", "compose", *map(quote, args)]), timeout, check)

    def logs(self, service: str = "") -> str:
        """The last log lines of every service (or one), for failure messages."""
        result = subprocess.run(
            ["docker", "compose", "logs", "--no-color", "-n", "30", *filter(None, [service])],
            cwd=self.workdir,
            env=self.env,
            capture_output=True,
            text=True,
        )
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

    def wait_health(self, services: tuple[str, ...], deadline: float, want="healthy") -> None:
        """Poll until every service's health is `want`; fail with the logs at the deadline."""
        while True:
            states = {s: self.health(s) for s in services}
            if all(v == want for v in states.values()):
                return
            if time.monotonic() > deadline:
                pytest.fail(f"not {want} in time: {states}\n--- logs ---\n{self.logs()}")
            time.sleep(1)

    def wait_healthy(self, services: tuple[str, ...], deadline: float) -> None:
        """Poll until every service is healthy."""
        self.wait_health(services, deadline)

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

    def down(self) -> None:
        """`docker compose down -v`: containers, network and volume gone (images kept)."""
        self.compose("down", "-v", "--remove-orphans", "-t", "20", timeout=180, check=False)


def quote(arg: str) -> str:
    """One shell word."""
    import shlex

    return shlex.quote(arg)


def new_stack(tmp_path_factory, name: str) -> Stack:
    """A stack in a fresh copy of the checkout, with a unique project and a free port."""
    workdir = checkout_copy(tmp_path_factory.mktemp(name))
    return Stack(workdir, f"gpupulse-e2e-{name}-{uuid.uuid4().hex[:8]}", free_port())


@pytest.fixture(scope="module")
def engine() -> None:
    """Skip, saying why, when no Docker engine and Compose v2 answer."""
    problem = docker_problem()
    if problem:
        pytest.skip(f"Docker end-to-end test not run: {problem}")


@pytest.fixture(scope="module")
def stack(engine, tmp_path_factory) -> Iterator[Stack]:
    """The demo stack, started by the README's Quick start; always torn down with -v."""
    st = new_stack(tmp_path_factory, "demo")
    try:
        # Build first so the 90 s budget measures start-up, not a cold pip install.
        started = time.monotonic()
        st.compose("build", timeout=1200)
        st.timings["build_s"] = time.monotonic() - started
        started = time.monotonic()
        st.sh(QUICK_START, timeout=HEALTHY_WITHIN_S + 60)
        st.wait_healthy(SERVICES, started + HEALTHY_WITHIN_S)
        st.timings["healthy_s"] = time.monotonic() - started
        print(f"\ne2e {st.project}: " + ", ".join(f"{k} {v:.1f}" for k, v in st.timings.items()))
        yield st
    finally:
        st.down()


QUICK_START = "cp .env.demo .env && docker compose up -d"


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


DRY_RUNS = (
    "docker compose run --rm collector --dry-run",
    "docker compose exec collector --dry-run",
    "docker compose exec collector collector --dry-run",
)


@pytest.mark.parametrize("command", DRY_RUNS)
def test_every_dry_run_spelling_works_and_leaves_the_demo_running(stack, command):
    before = stack.container("collector")
    result = stack.sh(command)
    gpu_lines = [ln for ln in result.stdout.splitlines() if ln.strip().startswith("GPU ")]
    assert gpu_lines, result.stdout
    assert "nothing was written" in result.stdout
    assert "dry run with the simulated backend" in result.stdout
    # `run` must not re-create the collector without the demo (a GPU reservation).
    assert stack.container("collector") == before
    assert stack.health("collector") == "healthy"


def test_show_db_works_literally_in_the_collector(stack):
    result = stack.sh("docker compose exec collector --show-db --days 14")
    assert result.stdout.strip(), result.stderr
    assert result.stderr == ""


@pytest.mark.parametrize("service", SERVICES)
def test_every_service_answers_to_its_own_name(stack, service):
    for command in (
        f"docker compose exec {service} {service} --help",
        f"docker compose run --rm {service} --help",
    ):
        result = stack.sh(command)
        assert result.stdout.startswith("usage: "), (command, result.stdout)


def test_doctor_in_the_demo_says_there_is_no_nvml_and_what_docker_would_say(stack):
    command = "docker compose exec collector collector doctor"
    assert command in readme_commands()
    result = stack.sh(command, check=False)
    assert result.returncode == 1
    assert "fail  NVML: NVML could not start" in result.stdout
    assert 'could not select device driver "nvidia" with capabilities: [[gpu]]' in result.stdout


def test_troubleshooting_commands_show_the_state_and_the_healthcheck_reason(stack):
    ps, logs, inspect = (
        c
        for c in readme_commands()
        if c.startswith(("docker compose ps", "docker compose logs", "docker inspect"))
    )
    assert all(word in stack.sh(ps).stdout for word in ("collector", "healthy"))
    assert "collecting from simulated" in stack.sh(logs).stdout
    assert "healthy: newest sample is" in stack.sh(inspect).stdout


def test_the_readme_renders_the_graphs_from_the_running_stack(stack):
    renders = [c for c in readme_commands() if "render-svg" in c]
    assert len(renders) == 2
    for command in renders:
        stack.sh(command)
    for name, theme in (("gpu-activity.svg", "light"), ("gpu-activity-dark.svg", "dark")):
        assert active_cells((stack.workdir / name).read_bytes(), theme) >= 14


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


def test_backup_then_upgrade_in_place_keeps_the_data(stack):
    [backup] = [c for c in readme_commands() if ".backup" in c]
    [upgrade] = [c for c in readme_commands() if "up -d --build" in c]
    # This stack's volume in place of the README's project name; sudo only where needed.
    command = backup.replace(README_VOLUME, f"{stack.project}_pulse-data")
    if os.geteuid() == 0:
        command = command.removeprefix("sudo ")
    if shutil.which("sqlite3") is None:
        pytest.skip("the README's backup needs the sqlite3 command (Debian package sqlite3)")
    stack.sh(command)
    copy = sqlite3.connect(stack.workdir / "pulse-backup.db")
    assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    saved = copy.execute("SELECT count(*) FROM samples").fetchone()[0]
    assert saved > 0
    copy.close()
    # `git pull` has nothing to fetch in a copy; the rest of the line is the upgrade.
    assert upgrade.startswith("git pull && ")
    started = time.monotonic()
    stack.sh(upgrade.removeprefix("git pull && "), timeout=600)
    stack.wait_healthy(SERVICES, started + 600)
    assert stack.db(2**62)["upto"] >= saved, "the upgrade lost samples"


def test_every_readme_compose_command_is_run_here():
    # The GPU host's `docker compose up -d` is the demo's after `cp .env.demo .env`, and
    # `down` is the teardown; every other line is run by a test above.
    run_here = {
        "docker compose up -d",
        QUICK_START,
        *DRY_RUNS,
        "docker compose exec collector collector doctor",
    }
    covered = ("render-svg", ".backup", "up -d --build", "compose ps", "compose logs")
    missing = [
        c for c in readme_commands() if c not in run_here and not any(w in c for w in covered)
    ]
    assert not missing, f"README commands no e2e test runs: {missing}"


BAD_SETTINGS = {
    # service, line in .env, what the one line says
    "interval": ("collector", "GPUPULSE_INTERVAL=abc", "GPUPULSE_INTERVAL='abc' is not a number"),
    "workers": ("api", "GPUPULSE_API_WORKERS=two", "GPUPULSE_API_WORKERS='two' is not a number"),
}


def test_a_bad_setting_is_named_in_the_logs_and_the_healthcheck_without_a_restart_loop(
    engine, tmp_path_factory
):
    stacks = {key: new_stack(tmp_path_factory, key) for key in BAD_SETTINGS}
    try:
        ups = {}
        for key, st in stacks.items():
            env_file = (st.workdir / ".env.demo").read_text() + BAD_SETTINGS[key][1] + "\n"
            (st.workdir / ".env").write_text(env_file)
            ups[key] = subprocess.Popen(
                ["docker", "compose", "up", "-d"],
                cwd=st.workdir,
                env=st.env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
        started = time.monotonic()
        for key, st in stacks.items():
            service, _, reason = BAD_SETTINGS[key]
            up = ups[key].communicate(timeout=300)[0]
            if service == "collector":
                # The scheduler and the api wait for it: `up` says which one failed.
                assert ups[key].returncode != 0, up
                assert "collector-1 is unhealthy" in up, up
            st.wait_health((service,), started + 240, want="unhealthy")
            info = st.inspect(service)
            outputs = [entry["Output"] for entry in info["State"]["Health"]["Log"]]
            assert any(reason in out for out in outputs), outputs
            # No restart loop: at most one restart in the minutes it took to turn unhealthy.
            assert info["RestartCount"] <= 1, info["RestartCount"]
            lines = [ln for ln in st.logs(service).splitlines() if ln.strip()]
            assert lines and all(reason in ln for ln in lines), lines
            ps = json.loads(st.compose("ps", "-a", "--format", "json", service).stdout or "{}")
            ps = ps[0] if isinstance(ps, list) else ps
            assert ps["Health"] == "unhealthy", ps
    finally:
        for st in stacks.values():
            st.down()
