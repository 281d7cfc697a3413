"""Energy on the status page and the GPU page: kWh, and kg CO2e and cost where their rates
are set (store.energy says how energy is attributed)."""

from __future__ import annotations

from api.svg.text import number
from store.energy import Rates


def energy_text(kwh: float, rates: Rates) -> str:
    """'12.3 kWh · 4.1 kg CO2e · 2.46 EUR' (the parts whose rate is set)."""
    figures = rates.footprint(kwh)
    parts = [f"{number(kwh)} kWh"]
    if figures["co2e_kg"] is not None:
        parts.append(f"{number(figures['co2e_kg'])} kg CO2e")
    if figures["cost"] is not None:
        parts.append(f"{number(figures['cost'], 2)} {rates.currency}".strip())
    return " · ".join(parts)
