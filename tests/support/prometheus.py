"""Real Prometheus tools for the metrics tests: promtool, a Prometheus server scraping a
target on loopback, its HTTP API, and the queries a Grafana dashboard runs."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.support.servers import free_port

PROMTOOL = shutil.which("promtool")
PROMETHEUS = shutil.which("prometheus")
MISSING = "not installed (Debian package `prometheus`)"
needs_promtool = pytest.mark.skipif(PROMTOOL is None, reason=f"promtool {MISSING}")
needs_prometheus = pytest.mark.skipif(PROMETHEUS is None, reason=f"prometheus {MISSING}")


def dashboard_exprs(path: Path) -> list[str]:
    """Every PromQL a Grafana dashboard runs: its variables' queries and its panels'."""
    board = json.loads(path.read_text(encoding="utf-8"))
    variables = [v["definition"] for v in board["templating"]["list"] if "definition" in v]
    return variables + [t["expr"] for p in board["panels"] for t in p.get("targets", [])]


@contextmanager
def prometheus_scraping(
    target: str, workdir: Path, scrape_s: float = 1.0, deadline_s: float = 30
) -> Iterator[str]:
    """A real Prometheus on a free loopback port scraping `target` (host:port /metrics)
    every `scrape_s` seconds, with a config and storage of its own; yields its base URL."""
    port = free_port()
    config = workdir / "prometheus.yml"
    config.write_text(
        "global:\n"
        f"  scrape_interval: {round(scrape_s * 1000)}ms\n"
        "scrape_configs:\n"
        "  - job_name: gpu-pulse\n"
        "    metrics_path: /metrics\n"
        f"    static_configs: [{{targets: ['{target}']}}]\n",
        encoding="utf-8",
    )
    log = (workdir / "prometheus.log").open("wb")
    proc = subprocess.Popen(
        [
            str(PROMETHEUS),
            f"--config.file={config}",
            f"--storage.tsdb.path={workdir / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(proc, base, deadline_s, workdir / "prometheus.log")
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def wait_ready(proc: subprocess.Popen, base: str, deadline_s: float, log: Path) -> None:
    """Poll /-/ready until Prometheus serves; fail with its log if it exits or is late."""
    end = time.monotonic() + deadline_s
    while proc.poll() is None and time.monotonic() < end:
        try:
            with urllib.request.urlopen(base + "/-/ready", timeout=1) as reply:
                if reply.status == 200:
                    return
        except OSError:  # not listening yet, or 503 while the TSDB starts
            time.sleep(0.2)
    said = log.read_text(errors="replace")[-2000:]
    raise AssertionError(f"prometheus did not start (exit {proc.poll()}):\n{said}")


def api_get(base: str, path: str, **params: str) -> dict:
    """GET one Prometheus HTTP API endpoint; its `data` (fails on an error reply)."""
    url = f"{base}{path}?{urllib.parse.urlencode(params)}"
    with urllib.request.urlopen(url, timeout=10) as reply:
        body = json.load(reply)
    assert body["status"] == "success", body
    return body["data"]


def instant(base: str, expr: str) -> list[dict]:
    """The series an instant query returns (each {"metric": labels, "value": [t, v]})."""
    return api_get(base, "/api/v1/query", query=expr)["result"]


def wait_for_series(base: str, expr: str, deadline_s: float = 60) -> list[dict]:
    """Poll `expr` until it returns series (the first scrapes land), or fail saying so."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        found = instant(base, expr)
        if found:
            return found
        time.sleep(0.5)
    targets = api_get(base, "/api/v1/targets")["activeTargets"]
    raise AssertionError(f"no series for {expr} within {deadline_s} s; targets: {targets}")
