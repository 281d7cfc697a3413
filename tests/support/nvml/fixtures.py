"""Pytest fixtures for the NVML stand-in (registered in tests/conftest.py)."""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import pytest

from tests.support import nvml as standin


@pytest.fixture(scope="session")
def nvml_standin() -> ModuleType:
    """The stand-in helper module, with the 535 library built once for the session."""
    standin.build("535")
    return standin


@pytest.fixture
def standin_scenario(tmp_path: Path) -> Callable[..., Path]:
    """Factory: write a Scenario into tmp_path and return its path (rewrite by passing name)."""
    counter = itertools.count()

    def write(scenario: standin.Scenario, name: str | None = None) -> Path:
        return scenario.write(tmp_path / (name or f"scenario-{next(counter)}.ini"))

    return write


@pytest.fixture
def standin_pynvml(
    nvml_standin: ModuleType, standin_scenario: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[[standin.Scenario], ModuleType]]:
    """Factory: write a scenario, point the real pynvml at the 535 stand-in, nvmlInit it.

    Teardown shuts NVML down once per init it made and restores NVML_STANDIN_SCENARIO, so a
    later in-process nvmlInit without a scenario fails with DRIVER_NOT_LOADED.
    """
    import pynvml

    inits = 0

    def start(scenario: standin.Scenario) -> ModuleType:
        nonlocal inits
        path = standin_scenario(scenario)
        monkeypatch.setenv(standin.SCENARIO_ENV, str(path))  # recorded for restoring
        standin.load_in_process(path)
        pynvml.nvmlInit()
        inits += 1
        return pynvml

    yield start
    for _ in range(inits):
        # a scenario that ends in a version mismatch refuses shutdown too
        with contextlib.suppress(pynvml.NVMLError):
            pynvml.nvmlShutdown()
