"""Settings objects from the table: fields name their variable, the loader parses them once.

A service declares a frozen dataclass whose fields are `setting(NAME)` (default from
the table), `derived((names...), build)` (one value from several variables) or
`nested(OtherSettings)`, and its entry point calls `load(cls, environment())`. Nothing but
the entry points reads the process environment, through `environment()` here.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import field, fields, is_dataclass
from typing import Any, TypeVar

from runtime import envfile
from runtime.kinds import Misfit, SettingError
from runtime.table import SETTINGS, Setting

__all__ = [
    "SettingError",
    "check_all",
    "default",
    "derived",
    "environment",
    "load",
    "nested",
    "read",
]

T = TypeVar("T")
NAMES = "gpupulse.names"  # metadata: the variables a field is read from
BUILD = "gpupulse.build"  # metadata: how a derived field is made from their values
NESTED = "gpupulse.nested"  # metadata: a settings object of its own


def environment() -> Mapping[str, str]:
    """The process environment over its settings file (GPUPULSE_ENV_FILE, by default
    /etc/gpu-pulse/env when it exists), for an entry point to hand to `load`."""
    return envfile.merged(os.environ)


def entry(name: str) -> Setting:
    """The table's entry for `name`."""
    return SETTINGS[name]


def default(name: str) -> Any:
    """The default value of `name`, as the services use it."""
    return entry(name).value()


def parse(name: str, raw: str) -> Any:
    """`raw` as a value of `name`; SettingError names the variable and says what fits."""
    text = raw.strip()
    if not text:
        return default(name)
    try:
        return entry(name).kind.parse(text)
    except Misfit as misfit:
        raise SettingError(f"{name}={text!r} {misfit}") from None


def read(name: str, env: Mapping[str, str]) -> Any:
    """The value of `name` in `env` (empty or absent: its default)."""
    return parse(name, env.get(name, ""))


def check_all(reader: str, env: Mapping[str, str]) -> None:
    """Parse every setting of the table that `reader` reads, so a bad value stops that
    service when it starts, named, rather than when (or if) a job gets to it."""
    for name, spec in SETTINGS.items():
        if reader in spec.readers:
            read(name, env)


def setting(name: str, **options: Any) -> Any:
    """A dataclass field read from `name`, with the table's default."""
    return field(default=default(name), metadata={NAMES: (name,)}, **options)


def derived(names: tuple[str, ...], build: Callable[..., Any], **options: Any) -> Any:
    """A field built from several variables' values (`options` give its default)."""
    for name in names:
        entry(name)  # a misspelt name fails at import, not at start
    return field(metadata={NAMES: names, BUILD: build}, **options)


def nested(cls: type) -> Any:
    """A field holding another settings object, loaded from the same environment."""
    return field(default_factory=cls, metadata={NESTED: cls})


def load(cls: type[T], env: Mapping[str, str], given: Mapping[str, Any] | None = None) -> T:
    """`cls` with every setting field parsed from `env`; `given` holds values by variable
    name that the command line already parsed, which win over the environment."""
    given = given or {}
    values: dict[str, Any] = {}
    for f in fields(cls):  # type: ignore[arg-type]
        if NESTED in f.metadata:
            values[f.name] = load(f.metadata[NESTED], env, given)
        elif NAMES in f.metadata:
            parts = [given[n] if n in given else read(n, env) for n in f.metadata[NAMES]]
            build = f.metadata.get(BUILD)
            values[f.name] = build(*parts) if build else parts[0]
    return cls(**values)


def names_read(cls: type) -> set[str]:
    """Every variable a settings class reads, its nested settings included."""
    found: set[str] = set()
    for f in fields(cls):
        if NESTED in f.metadata and is_dataclass(f.metadata[NESTED]):
            found |= names_read(f.metadata[NESTED])
        found.update(f.metadata.get(NAMES, ()))
    return found


def option_type(name: str) -> Callable[[str], Any]:
    """An argparse `type=` that reads an option as `name`'s kind (same range, same words)."""
    import argparse

    def convert(raw: str) -> Any:
        try:
            return entry(name).kind.parse(raw.strip())
        except Misfit as misfit:
            raise argparse.ArgumentTypeError(f"{raw!r} {misfit}") from None

    convert.__name__ = entry(name).kind.label  # argparse names the type in some errors
    return convert
