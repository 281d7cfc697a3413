"""Display names as the views show them: a GPU's and a person's. A feature may supply aliases
(the lab's GPUPULSE_GPU_NAMES and GPUPULSE_USER_ALIASES) through api.features; without any,
every name shows as the data records it. JSON keeps the raw names next to the display ones."""

from __future__ import annotations

from typing import Protocol


class Names(Protocol):
    """What a view asks for a GPU's or a login's display name."""

    def gpu(self, name: str | None, index: int | None = None, uuid: str | None = None) -> str:
        """The name to show for a GPU (by model name, index or UUID)."""
        ...

    def user(self, login: str | None) -> str:
        """The name to show for a login."""
        ...


class AsRecorded:
    """Every name as the data records it (no aliases)."""

    def gpu(self, name: str | None, index: int | None = None, uuid: str | None = None) -> str:
        """The GPU's model name."""
        return name or ""

    def user(self, login: str | None) -> str:
        """The login itself."""
        return login or ""


AS_RECORDED = AsRecorded()


def with_display_names(gpus: list[dict], names: Names) -> list[dict]:
    """GPU states (store.samples.latest_state) with `display_name` on each GPU and process."""
    return [
        {
            **g,
            "display_name": names.gpu(g["name"], g["index"], g["uuid"]),
            "processes": [{**p, "display_name": names.user(p["user"])} for p in g["processes"]],
        }
        for g in gpus
    ]
