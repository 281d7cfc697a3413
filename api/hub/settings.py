"""The hub's settings, read with the api's (tests pass their own)."""

from __future__ import annotations

from dataclasses import dataclass

from api.settings import ApiSettings
from runtime.settings import setting


@dataclass(frozen=True)
class HubSettings:
    """Limits on what hosts may send to this hub."""

    max_body: int = setting("GPUPULSE_HUB_MAX_BODY")
    max_batch: int = setting("GPUPULSE_HUB_MAX_BATCH")
    rate: float = setting("GPUPULSE_HUB_RATE")
    burst: float = setting("GPUPULSE_HUB_BURST")
    address_rate: float = setting("GPUPULSE_HUB_ADDRESS_RATE")
    contract_number: str = setting("GPUPULSE_HUB_CONTRACT_NUMBER")
    max_skew_s: int = setting("GPUPULSE_HUB_MAX_SKEW")
    threshold: float = setting("GPUPULSE_ACTIVE_THRESHOLD")


NAME = "hub"


def hub_settings(api: ApiSettings) -> HubSettings:
    """The hub's settings among the api's."""
    return api.feature(NAME, HubSettings)
