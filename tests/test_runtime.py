"""The settings table and what the services build from it; the shared process plumbing."""

from __future__ import annotations

import ast
import logging
import re
import signal
from pathlib import Path

import pytest

from api.features import feature_modules
from api.settings import ApiSettings, ServerSettings
from collector.settings import CollectorSettings
from idle.settings import IdleSettings
from runtime import envfile, logs
from runtime.settings import SettingError, default, load, names_read, read
from runtime.signals import StopRequest
from runtime.table import SETTINGS
from scheduler.settings import Settings as SchedulerSettings

ROOT = Path(__file__).resolve().parents[1]
SERVICES = ("collector", "idle", "scheduler", "api")
PACKAGES = ("runtime", "store", "sampling", *SERVICES)
# Each service's top settings objects: built at its entry point, covering all it reads.
BUILT_AT_START = {
    "collector": (CollectorSettings,),
    "idle": (IdleSettings,),
    "scheduler": (SchedulerSettings,),
    "api": (ApiSettings, ServerSettings),
}


def imports_of(package: str) -> set[str]:
    """Top-level packages that the modules of `package` import."""
    found: set[str] = set()
    for path in (ROOT / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                found.add(node.module.split(".")[0])
    return found


def settings_classes(service: str) -> tuple[type, ...]:
    """The classes a service builds at start; the api's include each feature's."""
    features = tuple(m.SETTINGS for m in feature_modules()) if service == "api" else ()
    return (*BUILT_AT_START[service], *features)


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_reads_what_the_table_says_it_reads(service):
    read = set().union(*(names_read(cls) for cls in settings_classes(service)))
    read.add(envfile.VARIABLE)  # every entry point's environment() reads it, for any service
    listed = {name for name, s in SETTINGS.items() if service in s.readers}
    assert read == listed, {"read, not listed": read - listed, "listed, not read": listed - read}


def test_every_setting_is_read_by_someone():
    for name, entry in SETTINGS.items():
        assert entry.readers and set(entry.readers) <= {*SERVICES, "compose"}, name
        assert entry.doc.endswith("."), name


@pytest.mark.parametrize(
    "cls",
    [c for group in BUILT_AT_START.values() for c in group]
    + [m.SETTINGS for m in feature_modules()],
)
def test_field_defaults_are_the_tables(cls):
    assert load(cls, {}) == cls(), cls.__name__


@pytest.mark.parametrize(
    ("name", "raw", "message"),
    [
        ("GPUPULSE_INTERVAL", "fast", "GPUPULSE_INTERVAL='fast' is not a number"),
        ("GPUPULSE_INTERVAL", "0.5", "GPUPULSE_INTERVAL='0.5' is out of range; use 1 to 3600"),
        ("GPUPULSE_PUSH_BATCH", "2.5", "GPUPULSE_PUSH_BATCH='2.5' must be a whole number"),
        ("GPUPULSE_OFFLINE", "maybe", "must be one of 1/0, true/false, yes/no, on/off"),
        ("GPUPULSE_BACKEND", "cuda", "GPUPULSE_BACKEND='cuda' must be one of nvml, simulated"),
        ("GPUPULSE_TZ", "Mars/Base", "GPUPULSE_TZ='Mars/Base' is not an IANA time zone name"),
        ("GPUPULSE_API_BIND", "8080", "GPUPULSE_API_BIND='8080' must be HOST:PORT"),
    ],
)
def test_a_bad_value_names_the_variable_and_what_fits(name, raw, message):
    with pytest.raises(SettingError, match=re.escape(message)):
        read(name, {name: raw})


def test_empty_means_the_default_and_command_line_values_win():
    settings = load(CollectorSettings, {"GPUPULSE_INTERVAL": " ", "GPUPULSE_LOG_LEVEL": "debug"})
    assert settings.interval == default("GPUPULSE_INTERVAL") and settings.log_level == "DEBUG"
    # A value the command line gave is used as it is; the variable it stands for is not read.
    given = load(CollectorSettings, {"GPUPULSE_INTERVAL": "fast"}, {"GPUPULSE_INTERVAL": 7.0})
    assert given.interval == 7.0


# The hourly and snapshot wire formats that the scheduler sends and the hub checks are
# still shared between those two; nothing else crosses between services.
WIRE_FORMATS = {"scheduler": {"api"}, "api": {"scheduler"}}


@pytest.mark.parametrize("package", PACKAGES)
def test_services_do_not_import_each_other_and_runtime_imports_none(package):
    forbidden = set(SERVICES) - {package} - WIRE_FORMATS.get(package, set())
    if package in ("runtime", "store", "sampling"):
        forbidden = set(SERVICES) | ({"store", "sampling"} if package == "runtime" else set())
    assert not imports_of(package) & forbidden


def test_only_runtime_reads_the_process_environment():
    readers = []
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            text = path.read_text(encoding="utf-8")
            if any(word in text for word in ("os.environ", "getenv(", "basicConfig(")):
                readers.append(str(path.relative_to(ROOT)))
    assert sorted(readers) == ["runtime/logs.py", "runtime/settings.py"]


def test_one_log_format_in_utc(capsys):
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        logs.setup("INFO")
        logging.getLogger("collector").info("hello")
    finally:
        root.handlers[:], _ = saved
        root.setLevel(saved[1])
    line = capsys.readouterr().err.strip()
    assert line.endswith("+0000 INFO collector: hello"), line


def test_a_stop_signal_sets_the_request_and_is_undone():
    stop = StopRequest()
    undo = stop.install()
    try:
        signal.raise_signal(signal.SIGTERM)
        assert stop.wait(2) and stop.signal == "SIGTERM"
    finally:
        undo()
    assert signal.getsignal(signal.SIGTERM) is not stop.handle
