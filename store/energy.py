"""Energy, carbon and cost: what the roll-ups' energy figures mean in kWh, kg CO2e and money.

Energy comes from the roll-ups (store.aggregate): a GPU's is its energy counter's rise, or
mean power x tick where the driver has no counter; a user's is their share of it in the
ticks they had a process on the GPU, shared like GPU time. A GPU's energy in ticks with no
process is counted for the GPU and the host, never for a person. Carbon and cost are the
energy times the configured grid intensity and price, when set.
"""

from __future__ import annotations

from dataclasses import dataclass

from store.db import Connection
from store.rollups import HOST


@dataclass(frozen=True)
class Rates:
    """Grid carbon intensity (g CO2e per kWh) and price per kWh, each None when not set."""

    carbon_g_per_kwh: float | None = None
    price_per_kwh: float | None = None
    currency: str = ""

    def footprint(self, kwh: float) -> dict:
        """{energy_kwh, co2e_kg, cost, currency} of `kwh`; co2e_kg and cost None unless their
        rate is set (values rounded for JSON)."""
        carbon = None if self.carbon_g_per_kwh is None else kwh * self.carbon_g_per_kwh / 1000
        cost = None if self.price_per_kwh is None else kwh * self.price_per_kwh
        return {
            "energy_kwh": round(kwh, 4),
            "co2e_kg": None if carbon is None else round(carbon, 4),
            "cost": None if cost is None else round(cost, 4),
            "currency": self.currency or None,
        }


def user_kwh(conn: Connection, first: str, last: str) -> dict[str, float]:
    """{user: kWh on the whole host} over local days first..last (YYYY-MM-DD, inclusive)."""
    rows = conn.execute(
        "SELECT user, total(energy_wh) / 1000 FROM user_daily "
        "WHERE day BETWEEN ? AND ? AND gpu = ? GROUP BY user ORDER BY user",
        (first, last, HOST),
    )
    return dict(rows.fetchall())


def gpu_kwh(conn: Connection, first: str, last: str) -> dict[int, float]:
    """{gpu id: kWh} over local days first..last, each GPU's whole draw (host: gpu 0)."""
    rows = conn.execute(
        "SELECT gpu, total(energy_kwh) FROM daily WHERE day BETWEEN ? AND ? GROUP BY gpu",
        (first, last),
    )
    return dict(rows.fetchall())
