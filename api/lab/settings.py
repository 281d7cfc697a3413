"""The lab features' settings, read once with the api's (tests pass their own)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from api.lab.names import DisplayNames, load_names
from api.lab.quota_limits import Quotas, load_quotas
from store import settings as env


@dataclass(frozen=True)
class LabSettings:
    """Quotas, display names, the admin token for reservation writes, the active threshold."""

    quotas: Quotas = field(default_factory=Quotas)
    names: DisplayNames = field(default_factory=DisplayNames)
    admin_token: str = field(default="", repr=False)
    threshold: float = 1.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> LabSettings:
        """Settings from GPUPULSE_* variables; SettingError names a bad one."""
        return cls(
            quotas=load_quotas(env.env_str("GPUPULSE_QUOTAS", "", environ),
                               env.env_str("GPUPULSE_QUOTAS_FILE", "", environ)),
            names=load_names(env.env_str("GPUPULSE_GPU_NAMES", "", environ),
                             env.env_str("GPUPULSE_USER_ALIASES", "", environ)),
            admin_token=env.env_str("GPUPULSE_ADMIN_TOKEN", "", environ),
            threshold=env.active_threshold(environ),
        )  # fmt: skip
