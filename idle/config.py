"""The runner's INI file (gpu_mon's shape).

The file is parsed line by line rather than with configparser so that every error can
name the file line it comes from. It reads what gpu_mon reads: `;` and `#` comment lines,
`key = value` or `key: value`, any section whose name starts with `gpu` (`[gpu0]`,
`[gpu-all]`) or `process` (`[process-miner1]`); and, unlike gpu_mon, a comment after a
value (` ; ...` or ` # ...`), except in `cmd`, where `;` and `#` belong to the shell.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

TRUE = {"1", "yes", "true", "on"}
FALSE = {"0", "no", "false", "off"}
_SECTION = re.compile(r"^\[(?P<name>[^\]]+)\]$")
_INLINE_COMMENT = re.compile(r"\s+[;#].*$")
RAW_KEYS = {"cmd"}  # shell text: a ';' or '#' in it is the command's own
_KEY = re.compile(r"^(?P<key>[A-Za-z_][A-Za-z0-9_]*)\s*[=:]\s*(?P<value>.*)$")
_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
_LISTED = re.compile(r"^[^\s,]+$")  # user and program names: anything but blanks and commas


class ConfigError(ValueError):
    """A problem in the config file; the message names the file line and the key."""


@dataclass(frozen=True)
class GpuSet:
    """GPU indices, or every GPU the backend reports (ALL)."""

    indices: tuple[int, ...] | None  # None = ALL

    def resolve(self, present: list[int]) -> tuple[int, ...]:
        """The indices this set stands for on a host whose GPUs are `present`."""
        return tuple(sorted(present)) if self.indices is None else self.indices


@dataclass(frozen=True)
class WatchSection:
    """[gpu-NAME]: GPUs watched for other users and the programs that do not count."""

    name: str
    gpus: GpuSet
    ignore_programs: frozenset[str]


@dataclass(frozen=True)
class JobSection:
    """[process-NAME]: the command run on its GPUs while they are idle."""

    name: str
    cmd: str
    gpus: GpuSet
    dir: str
    log: str | None
    gpus_line: str  # "FILE:LINE" of its gpus= key, for errors found once GPUs are known


@dataclass(frozen=True)
class TtyWatch:
    """[tty]: stop every job while a non-whitelisted user has typed recently."""

    enabled: bool = False
    whitelist: frozenset[str] = frozenset()
    idle_seconds: float = 300.0


@dataclass(frozen=True)
class IdleConfig:
    """Everything the config file says."""

    interval_s: float
    watches: tuple[WatchSection, ...]
    jobs: tuple[JobSection, ...]
    tty: TtyWatch = field(default_factory=TtyWatch)

    def ignored_on(self, index: int) -> frozenset[str]:
        """Programs that do not make GPU `index` busy (every [gpu-*] covering it)."""
        names: set[str] = set()
        for watch in self.watches:
            if watch.gpus.indices is None or index in watch.gpus.indices:
                names |= watch.ignore_programs
        return frozenset(names)


@dataclass
class _Section:
    name: str
    line: int
    keys: dict[str, tuple[str, int]] = field(default_factory=dict)


def load(path: str | os.PathLike[str]) -> IdleConfig:
    """Read and check the config file; ConfigError says what to fix and where."""
    path = Path(path)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the config file ({exc})") from None
    return parse(text, str(path))


def parse(text: str, source: str = "<config>") -> IdleConfig:
    """Parse config text; `source` names the file in error messages."""
    sections = _sections(text, source)
    ctx = _Checker(source)
    interval = 5.0
    watches: list[WatchSection] = []
    jobs: list[JobSection] = []
    tty = TtyWatch()
    for sec in sections:
        kind = next((k for k in ("gpu", "process") if sec.name.startswith(k)), sec.name)
        if sec.name == "defaults":
            ctx.only(sec, {"interval_seconds"})
            interval = ctx.number(sec, "interval_seconds", 5.0, 1.0, 3600.0)
        elif sec.name == "tty":
            tty = _tty(ctx, sec)
        elif kind == "gpu":
            watches.append(_watch(ctx, sec))
        elif kind == "process":
            jobs.append(_job(ctx, sec))
        else:
            raise ConfigError(
                f"{source}:{sec.line}: unknown section [{sec.name}]; use [defaults], "
                "[gpu-NAME], [process-NAME] or [tty]"
            )
    if not jobs:
        raise ConfigError(f"{source}: no [process-NAME] section, so there is nothing to run")
    return IdleConfig(interval, tuple(watches), tuple(jobs), tty)


def _sections(text: str, source: str) -> list[_Section]:
    sections: list[_Section] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if head := _SECTION.match(line):
            name = head["name"].strip()
            if any(s.name == name for s in sections):
                raise ConfigError(f"{source}:{number}: section [{name}] appears twice")
            sections.append(_Section(name, number))
        elif (pair := _KEY.match(line)) and sections:
            key = pair["key"].lower()
            if key in sections[-1].keys:
                raise ConfigError(f"{source}:{number}: [{sections[-1].name}] {key} is set twice")
            value = pair["value"] if key in RAW_KEYS else _INLINE_COMMENT.sub("", pair["value"])
            sections[-1].keys[key] = (value.strip(), number)
        else:
            raise ConfigError(
                f"{source}:{number}: expected [section] or key = value, got {line[:60]!r}"
            )
    return sections


class _Checker:
    """Typed access to a section's keys, with errors that name the key and line."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, sec: _Section, key: str, message: str) -> ConfigError:
        line = sec.keys[key][1] if key in sec.keys else sec.line
        return ConfigError(f"{self.source}:{line}: [{sec.name}] {key} {message}")

    def where(self, sec: _Section, key: str) -> str:
        return f"{self.source}:{sec.keys[key][1] if key in sec.keys else sec.line}"

    def only(self, sec: _Section, allowed: set[str]) -> None:
        for key in sec.keys:
            if key not in allowed:
                raise self.fail(sec, key, f"is not a known key; use {', '.join(sorted(allowed))}")

    def text(self, sec: _Section, key: str, default: str | None) -> str | None:
        value = sec.keys.get(key, (default, 0))[0]
        if value == "" and default is None:
            raise self.fail(sec, key, "is empty")
        return value

    def _convert(self, sec: _Section, key: str, default, convert: Callable, what: str):
        if key not in sec.keys:
            return default
        raw = sec.keys[key][0]
        try:
            return convert(raw)
        except ValueError:
            raise self.fail(sec, key, f"= {raw!r} is not {what}") from None

    def number(self, sec: _Section, key: str, default: float, low: float, high: float) -> float:
        value = self._convert(sec, key, default, float, "a number")
        if not low <= value <= high:
            raise self.fail(sec, key, f"= {value:g} is out of range [{low:g}, {high:g}]")
        return value

    def flag(self, sec: _Section, key: str, default: bool) -> bool:
        return self._convert(sec, key, default, _boolean, "one of true/false, yes/no, on/off, 1/0")

    def gpus(self, sec: _Section) -> GpuSet:
        return self._convert(
            sec, "gpus", GpuSet(None), _gpu_set, "ALL or comma-separated GPU indices like 0,1"
        )

    def names(self, sec: _Section, key: str) -> frozenset[str]:
        raw = sec.keys.get(key, ("", 0))[0]
        names = [n.strip() for n in raw.split(",") if n.strip()]
        if bad := [n for n in names if not _LISTED.match(n)]:
            raise self.fail(sec, key, f"has an invalid name {bad[0]!r}")
        return frozenset(names)


def _boolean(raw: str) -> bool:
    if raw.lower() in TRUE:
        return True
    if raw.lower() in FALSE:
        return False
    raise ValueError(raw)


def _gpu_set(raw: str) -> GpuSet:
    if raw.strip().upper() == "ALL":
        return GpuSet(None)
    parts = [p.strip() for p in raw.split(",")]
    if not parts or not all(p.isdigit() for p in parts) or len(set(parts)) != len(parts):
        raise ValueError(raw)
    return GpuSet(tuple(sorted(int(p) for p in parts)))


def _section_name(ctx: _Checker, sec: _Section, kind: str) -> str:
    """[gpu-all] -> 'all', [gpu0] -> '0', [process-miner1] -> 'miner1', [gpus] -> 'gpus'."""
    name = sec.name[len(kind) :].lstrip("-") or sec.name
    if not _NAME.match(name):
        raise ConfigError(
            f"{ctx.source}:{sec.line}: section [{sec.name}] needs a NAME of letters, "
            "digits, '.', '_' or '-'"
        )
    return name


def _watch(ctx: _Checker, sec: _Section) -> WatchSection:
    ctx.only(sec, {"gpus", "ignore_programs"})
    name = _section_name(ctx, sec, "gpu")
    return WatchSection(name, ctx.gpus(sec), ctx.names(sec, "ignore_programs"))


def _job(ctx: _Checker, sec: _Section) -> JobSection:
    ctx.only(sec, {"cmd", "dir", "gpus", "log"})
    name = _section_name(ctx, sec, "process")
    cmd = ctx.text(sec, "cmd", None)
    if cmd is None:
        raise ctx.fail(sec, "cmd", "is missing; say which command to run on idle GPUs")
    directory = ctx.text(sec, "dir", os.getcwd()) or os.getcwd()
    if not Path(directory).is_dir():
        raise ctx.fail(sec, "dir", f"= {directory!r} is not a directory")
    log = ctx.text(sec, "log", "") or None
    if log is not None and not Path(log).parent.is_dir():
        raise ctx.fail(sec, "log", f"= {log!r} is in a directory that does not exist")
    return JobSection(name, cmd, ctx.gpus(sec), directory, log, ctx.where(sec, "gpus"))


def _tty(ctx: _Checker, sec: _Section) -> TtyWatch:
    ctx.only(sec, {"enabled", "whitelist", "idle_seconds"})
    return TtyWatch(
        enabled=ctx.flag(sec, "enabled", False),
        whitelist=ctx.names(sec, "whitelist"),
        idle_seconds=ctx.number(sec, "idle_seconds", 300.0, 0.0, 30 * 86400.0),
    )
