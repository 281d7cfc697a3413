"""The hub's settings, read once from GPUPULSE_HUB_* variables (tests pass their own)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from store import settings as env

MIB = 1 << 20


@dataclass(frozen=True)
class HubSettings:
    """Limits on what hosts may send to this hub."""

    max_body: int = MIB
    max_batch: int = 100
    rate: float = 5.0
    burst: float = 600.0
    contract_number: str = ""
    max_skew_s: int = 300
    threshold: float = 1.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> HubSettings:
        """Settings from the environment; SettingError names a bad variable."""
        return cls(
            max_body=env.env_int("GPUPULSE_HUB_MAX_BODY", MIB, environ, minimum=1024,
                                 maximum=256 * MIB),
            max_batch=env.env_int("GPUPULSE_HUB_MAX_BATCH", 100, environ, minimum=1,
                                  maximum=10_000),
            rate=env.env_float("GPUPULSE_HUB_RATE", 5.0, environ, minimum=0.001),
            burst=env.env_float("GPUPULSE_HUB_BURST", 600.0, environ, minimum=1),
            contract_number=env.env_str("GPUPULSE_HUB_CONTRACT_NUMBER", "", environ),
            max_skew_s=env.env_int("GPUPULSE_HUB_MAX_SKEW", 300, environ, minimum=0,
                                   maximum=86400),
            threshold=env.active_threshold(environ),
        )  # fmt: skip
