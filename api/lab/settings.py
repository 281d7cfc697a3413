"""The lab features' settings, read with the api's (tests pass their own)."""

from __future__ import annotations

from dataclasses import dataclass

from api.lab.names import DisplayNames, load_names
from api.lab.quota_limits import Quotas, load_quotas
from api.settings import ApiSettings
from runtime.settings import derived, setting
from store.energy import Rates


@dataclass(frozen=True)
class LabSettings:
    """Quotas, display names, the admin token for reservation writes, the active threshold,
    what holds a GPU, how long held idle is flagged, and energy's carbon and price."""

    quotas: Quotas = derived(
        ("GPUPULSE_QUOTAS", "GPUPULSE_QUOTAS_FILE"), load_quotas, default_factory=Quotas
    )
    names: DisplayNames = derived(
        ("GPUPULSE_GPU_NAMES", "GPUPULSE_USER_ALIASES"), load_names, default_factory=DisplayNames
    )
    admin_token: str = setting("GPUPULSE_ADMIN_TOKEN", repr=False)
    threshold: float = setting("GPUPULSE_ACTIVE_THRESHOLD")
    held_mib: int = setting("GPUPULSE_HELD_MEMORY")
    held_idle_alert_s: int = setting("GPUPULSE_HELD_IDLE_ALERT")
    rates: Rates = derived(
        ("GPUPULSE_CARBON_G_PER_KWH", "GPUPULSE_PRICE_PER_KWH", "GPUPULSE_CURRENCY"),
        Rates,
        default_factory=Rates,
    )


NAME = "lab"


def lab_settings(api: ApiSettings) -> LabSettings:
    """The lab's settings among the api's."""
    return api.feature(NAME, LabSettings)
