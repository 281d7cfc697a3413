"""The lab's Prometheus metrics beside the core's: held-idle time per user and GPU this year
(from the roll-ups), how long each GPU has been held idle now (from the newest samples), and
each user's share of energy with its carbon and cost."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from api.lab.settings import lab_settings
from api.metrics import GPU_LABELS
from api.settings import ApiSettings
from store.aggregate import day_of
from store.db import Connection
from store.energy import user_kwh
from store.held_idle import held_idle_now
from store.samples import recorded_host

GPUS_SQL = "SELECT id, idx, uuid, name FROM gpus ORDER BY idx, id"
LABELS = ("host", "user")


class LabCollector(Collector):
    """Held-idle counters and the held-idle-now gauge, read at scrape time."""

    def __init__(self, connection: Callable[[], Connection], settings: ApiSettings) -> None:
        self.connection, self.settings = connection, settings

    def collect(self) -> Iterator[Metric]:
        """This year's held-idle seconds per user and per GPU, and each GPU's stretch now."""
        conn = self.connection()
        host = recorded_host(conn)
        since = f"{day_of(self.settings.clock(), self.settings.tz).year}-01-01"
        gpus = {gid: [str(idx), uuid, name] for gid, idx, uuid, name in conn.execute(GPUS_SQL)}
        yield user_counter(conn, host, since, "held_idle_s", USER_HELD)
        yield gpu_counter(conn, host, since, gpus, "held_idle_s", GPU_HELD)
        yield held_now(conn, host, gpus, self.settings)
        yield user_counter(conn, host, since, "energy_wh * 3600", USER_ENERGY)
        yield from month_footprint(conn, host, self.settings)


# (name, help) of each family
USER_HELD = (
    "gpupulse_user_held_idle_seconds",
    "GPU time a user held GPU memory on an idle GPU this year",
)
GPU_HELD = ("gpupulse_gpu_held_idle_seconds", "Time a GPU was held idle this year")
USER_ENERGY = (
    "gpupulse_user_energy_joules",
    "A user's share of the GPUs' energy this year (shared like GPU time)",
)
HELD_NOW = (
    "gpupulse_gpu_held_idle_stretch_seconds",
    "How long a GPU has been held idle up to its newest sample (0: it is not); `user` is "
    "the holder with the most memory",
)


def user_counter(conn: Connection, host: str, since: str, column: str, what: tuple) -> Metric:
    """A counter per user of a user_daily column's sum on the whole host since `since`."""
    family = CounterMetricFamily(*what, labels=("host", "user"))
    rows = conn.execute(
        f"SELECT user, total({column}) FROM user_daily WHERE gpu = 0 AND day >= ? "
        "GROUP BY user ORDER BY user",
        (since,),
    )
    for user, value in rows:
        family.add_metric([host, user], value)
    return family


def gpu_counter(
    conn: Connection, host: str, since: str, gpus: dict[int, list[str]], column: str, what: tuple
) -> Metric:
    """A counter per GPU of a daily column's sum since `since`."""
    family = CounterMetricFamily(*what, labels=("host", *GPU_LABELS))
    rows = conn.execute(
        f"SELECT gpu, total({column}) FROM daily WHERE gpu <> 0 AND day >= ? GROUP BY gpu",
        (since,),
    )
    for gpu, value in rows:
        if gpu in gpus:
            family.add_metric([host, *gpus[gpu]], value)
    return family


def held_now(conn: Connection, host: str, gpus: dict, settings: ApiSettings) -> Metric:
    """Each GPU's held-idle stretch now in seconds, 0 for GPUs not held idle."""
    lab = lab_settings(settings)
    family = GaugeMetricFamily(*HELD_NOW, labels=("host", *GPU_LABELS, "user"))
    found = {s.gpu: s for s in held_idle_now(conn, lab.threshold, lab.held_mib, settings.clock())}
    for gpu, labels in gpus.items():
        stretch = found.get(gpu)
        user = stretch.holders[0]["user"] if stretch and stretch.holders else ""
        family.add_metric([host, *labels, user], stretch.seconds if stretch else 0.0)
    return family


def month_footprint(conn: Connection, host: str, settings: ApiSettings) -> Iterator[Metric]:
    """This month's kWh per user, with kg CO2e and cost per user where their rates are set."""
    today = day_of(settings.clock(), settings.tz)
    first = today.replace(day=1).isoformat()
    rates = lab_settings(settings).rates
    kwh = GaugeMetricFamily(
        "gpupulse_user_month_energy_kwh", "A user's share of GPU energy this month", labels=LABELS
    )
    carbon = GaugeMetricFamily(
        "gpupulse_user_month_co2e_kg",
        "kg CO2e of a user's GPU energy this month (GPUPULSE_CARBON_G_PER_KWH)",
        labels=LABELS,
    )
    cost = GaugeMetricFamily(
        "gpupulse_user_month_energy_cost",
        "Cost of a user's GPU energy this month (GPUPULSE_PRICE_PER_KWH)",
        labels=(*LABELS, "currency"),
    )
    for user, used in user_kwh(conn, first, today.isoformat()).items():
        kwh.add_metric([host, user], used)
        if rates.carbon_g_per_kwh is not None:
            carbon.add_metric([host, user], used * rates.carbon_g_per_kwh / 1000)
        if rates.price_per_kwh is not None:
            cost.add_metric([host, user, rates.currency], used * rates.price_per_kwh)
    yield from (kwh, carbon, cost)
