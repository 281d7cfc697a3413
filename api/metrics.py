"""Prometheus exposition: a custom collector that reads the newest state on every scrape."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from zoneinfo import ZoneInfo

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from api.dcgm import dcgm_families
from store.aggregate import day_of
from store.db import Connection
from store.samples import latest_state, newest_sample_ts, recorded_host

MIB = 1 << 20
GPU_LABELS = ("gpu", "uuid", "name")
# (metric name, help, state key, factor to base units)
GPU_GAUGES = (
    ("gpupulse_gpu_utilization_percent", "GPU utilization in the newest sample", "util", 1),
    ("gpupulse_gpu_memory_utilization_percent", "Memory-controller utilization", "mem_util", 1),
    ("gpupulse_gpu_memory_used_bytes", "GPU memory in use", "mem_used_mib", MIB),
    ("gpupulse_gpu_memory_total_bytes", "GPU memory installed", "memory_total_mib", MIB),
    ("gpupulse_gpu_temperature_celsius", "GPU temperature", "temp_c", 1),
    ("gpupulse_gpu_fan_speed_percent", "Fan speed", "fan_pct", 1),
    ("gpupulse_gpu_power_watts", "Power draw", "power_w", 1),
    ("gpupulse_gpu_sm_clock_hertz", "SM clock", "sm_mhz", 1_000_000),
    ("gpupulse_gpu_memory_clock_hertz", "Memory clock", "mem_mhz", 1_000_000),
    ("gpupulse_gpu_sample_timestamp_seconds", "Time of the GPU's newest sample", "ts", 1),
)


class StoreCollector(Collector):
    """Builds every metric from the store when Prometheus scrapes (no state kept between)."""

    def __init__(self, connection: Callable[[], Connection], dcgm: bool = True) -> None:
        self.connection, self.dcgm = connection, dcgm

    def collect(self) -> Iterator[Metric]:
        """Per-GPU gauges, the energy counter, per-user memory and the newest sample time;
        with `dcgm`, the same readings under dcgm-exporter's names too."""
        conn = self.connection()
        gpus = latest_state(conn)
        yield from gpu_metrics(gpus)
        yield user_memory(gpus)
        if self.dcgm:
            yield from dcgm_families(conn, gpus)
        newest = GaugeMetricFamily(
            "gpupulse_newest_sample_timestamp_seconds", "Time of the newest sample of any GPU"
        )
        ts = newest_sample_ts(conn)
        if ts is not None:
            newest.add_metric([], ts)
        yield newest


def gpu_labels(gpu: dict) -> list[str]:
    """Label values identifying a GPU."""
    return [str(gpu["index"]), gpu["uuid"], gpu["name"]]


def gpu_metrics(gpus: list[dict]) -> Iterator[Metric]:
    """One family per reading, a sample per GPU that reports it."""
    for name, doc, key, factor in GPU_GAUGES:
        family = GaugeMetricFamily(name, doc, labels=GPU_LABELS)
        for gpu in gpus:
            if gpu.get(key) is not None:
                family.add_metric(gpu_labels(gpu), gpu[key] * factor)
        yield family
    energy = CounterMetricFamily(
        "gpupulse_gpu_energy_joules", "Driver energy counter since it loaded", labels=GPU_LABELS
    )
    lost = GaugeMetricFamily(
        "gpupulse_gpu_lost", "1 while the driver reports the GPU lost", labels=GPU_LABELS
    )
    for gpu in gpus:
        if gpu.get("energy_j") is not None:
            energy.add_metric(gpu_labels(gpu), gpu["energy_j"])
        lost.add_metric(gpu_labels(gpu), 0 if gpu["lost_at"] is None else 1)
    yield energy
    yield lost


def user_memory(gpus: list[dict]) -> Metric:
    """GPU memory held by each user's processes on each GPU, in the newest sample."""
    family = GaugeMetricFamily(
        "gpupulse_user_gpu_memory_bytes", "GPU memory used by a user", labels=("user", *GPU_LABELS)
    )
    for gpu in gpus:
        per_user: dict[str, int] = {}
        for proc in gpu["processes"]:
            user = proc["user"] or "unknown"
            per_user[user] = per_user.get(user, 0) + (proc["mem_mib"] or 0)
        for user, mib in sorted(per_user.items()):
            family.add_metric([user, *gpu_labels(gpu)], mib * MIB)
    return family


# Roll-up counters (docs/prometheus): this calendar year's totals from the daily roll-ups, so
# they only grow until they restart at 0 on 1 January in GPUPULSE_TZ (Prometheus sees a
# counter reset). The daily roll-ups must be kept more than a year (the default is two).
HOST_COUNTERS = (
    (
        "gpupulse_host_active_seconds",
        "Wall-clock time with at least one GPU active, this year",
        "active_minutes * 60",
    ),
    ("gpupulse_host_samples", "GPU samples recorded this year", "samples"),
    (
        "gpupulse_host_utilization_sum",
        "Sum of GPU utilization readings (percent) this year",
        "avg_utilization * samples",
    ),
    ("gpupulse_host_energy_joules", "GPU energy this year", "energy_kwh * 3.6e6"),
)


class RollupCollector(Collector):
    """Counters of GPU time, per GPU, per user and for the host, read from the roll-ups."""

    def __init__(
        self, connection: Callable[[], Connection], tz: ZoneInfo, clock: Callable[[], float]
    ) -> None:
        self.connection, self.tz, self.clock = connection, tz, clock

    def collect(self) -> Iterator[Metric]:
        """The calendar's numbers as counters labelled with the host (and GPU or user)."""
        conn = self.connection()
        host = recorded_host(conn)
        since = f"{day_of(self.clock(), self.tz).year}-01-01"
        for name, doc, expr in HOST_COUNTERS:
            family = CounterMetricFamily(name, doc, labels=("host",))
            value = conn.execute(
                f"SELECT total({expr}) FROM daily WHERE gpu = 0 AND day >= ?", (since,)
            ).fetchone()[0]
            family.add_metric([host], value)
            yield family
        yield gpu_seconds(conn, host, since)
        users = CounterMetricFamily(
            "gpupulse_user_gpu_seconds", "A user's GPU time this year", labels=("host", "user")
        )
        for user, seconds in conn.execute(
            "SELECT user, total(gpu_seconds) FROM user_daily WHERE gpu = 0 AND day >= ? "
            "GROUP BY user ORDER BY user",
            (since,),
        ):
            users.add_metric([host, user], seconds)
        yield users


def gpu_seconds(conn: Connection, host: str, since: str) -> Metric:
    """Each GPU's active time this year (the calendar's GPU-hours, per GPU)."""
    family = CounterMetricFamily(
        "gpupulse_gpu_active_seconds", "A GPU's active time this year", labels=("host", *GPU_LABELS)
    )
    rows = conn.execute(
        "SELECT g.idx, g.uuid, g.name, total(d.gpu_minutes) * 60 FROM daily d "
        "JOIN gpus g ON g.id = d.gpu WHERE d.day >= ? GROUP BY g.id ORDER BY g.idx, g.id",
        (since,),
    )
    for idx, uuid, name, seconds in rows:
        family.add_metric([host, str(idx), uuid, name], seconds)
    return family


def registry_for(connection: Callable[[], Connection], dcgm: bool = True) -> CollectorRegistry:
    """A registry of its own per app (tests create several apps in one process); `dcgm`
    adds dcgm-exporter's names for the same readings (GPUPULSE_DCGM_METRICS)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(connection, dcgm))
    return registry
