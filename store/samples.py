"""What the collector records each tick, and the queries that read the newest state."""

from __future__ import annotations

import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from runtime.settings import default
from store.db import Connection, atomic, dict_rows, require_transaction


@dataclass(frozen=True)
class GpuInfo:
    """A GPU as the driver describes it; the UUID is its identity."""

    uuid: str
    index: int
    name: str
    pci_bus_id: str | None = None
    memory_total_mib: int | None = None
    parent_uuid: str | None = None  # the physical GPU of a MIG device
    mig_profile: str | None = None  # e.g. "1g.10gb"
    gpu_instance: int | None = None  # a MIG device's GPU instance id


@dataclass(frozen=True)
class GpuSample:
    """One GPU's readings for one tick; None means the driver does not report it."""

    gpu: GpuInfo
    util: int | None = None
    mem_util: int | None = None
    mem_used_mib: int | None = None
    temp_c: int | None = None
    fan_pct: int | None = None
    power_w: float | None = None
    energy_j: int | None = None
    sm_mhz: int | None = None
    mem_mhz: int | None = None
    pstate: int | None = None
    active_s: float | None = None
    clocks_event: int | None = None  # why clocks are held down: NVML clocks-event reason bits
    enc_util: int | None = None
    dec_util: int | None = None


@dataclass(frozen=True)
class GpuState:
    """A GPU's slow-changing readings, stored only when one of them changes.

    `activity` says how active time is measured: "buffer" (the driver's utilization sample
    buffer), "point" (one utilization reading per tick), "gpm" (GPM engine activity, MIG
    devices on Hopper and later) or "processes" (a MIG device counts as active while a
    process runs on it); None with a `note` when it cannot be measured.
    """

    gpu: GpuInfo
    activity: str | None = None
    note: str | None = None
    mem_reserved_mib: int | None = None
    power_limit_w: float | None = None
    ecc_uncorrected: int | None = None
    retired_pages: int | None = None
    remapped_rows: int | None = None
    xid_count: int | None = None
    xid_last: int | None = None
    pcie_tx_kbs: int | None = None
    pcie_rx_kbs: int | None = None

    def values(self) -> tuple:
        """Everything but the GPU, in STATE_COLUMNS order."""
        return tuple(getattr(self, name) for name in STATE_COLUMNS)


STATE_COLUMNS = (
    "activity",
    "note",
    "mem_reserved_mib",
    "power_limit_w",
    "ecc_uncorrected",
    "retired_pages",
    "remapped_rows",
    "xid_count",
    "xid_last",
    "pcie_tx_kbs",
    "pcie_rx_kbs",
)


@dataclass(frozen=True)
class ProcessSample:
    """A process using a GPU during one tick. `started` tells reused PIDs apart."""

    gpu_uuid: str
    pid: int
    started: int
    user: str | None = None
    command: str | None = None
    mem_mib: int | None = None
    sm_util: int | None = None
    workload: str | None = None  # 'slurm job 17', 'pod 3d274242', 'docker 9d5b23edb1ba', ...
    workload_id: str | None = None


@dataclass
class Tick:
    """Everything sampled at one moment: ts in UTC unix seconds, tick_s the time it covers."""

    ts: int
    tick_s: float
    samples: list[GpuSample] = field(default_factory=list)
    processes: list[ProcessSample] = field(default_factory=list)
    states: list[GpuState] = field(default_factory=list)


class Recorder:
    """Writes ticks into the store, remembering row ids so a tick costs few statements."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self._gpu_ids: dict[str, int] = dict(
            (uuid, gid) for gid, uuid in conn.execute("SELECT id, uuid FROM gpus")
        )
        self._states: dict[int, tuple] = {
            row[0]: tuple(row[1:])
            for row in conn.execute(f"SELECT gpu, {', '.join(STATE_COLUMNS)} FROM gpu_state")
        }

    def gpu_id(self, uuid: str) -> int | None:
        """The row id of a GPU already recorded, or None."""
        return self._gpu_ids.get(uuid)

    def write(self, ticks: Sequence[Tick]) -> None:
        """Record ticks in one transaction (all or nothing)."""
        if not ticks:
            return
        new_ids: dict[str, int] = {}
        new_states: dict[int, tuple] = {}
        committed = not self.conn.in_transaction  # else the caller's transaction decides
        with atomic(self.conn):
            for tick in ticks:
                self._write_tick(tick, new_ids)
                self._write_states(tick, new_ids, new_states)
        # Only after COMMIT: a rolled-back insert must not leave a stale id behind.
        if committed:
            self._gpu_ids.update(new_ids)
            self._states.update(new_states)

    def _write_tick(self, tick: Tick, new_ids: dict[str, int]) -> None:
        ids = {s.gpu.uuid: self._upsert_gpu(s.gpu, tick.ts, new_ids) for s in tick.samples}
        tick_ms = round(tick.tick_s * 1000)
        self.conn.executemany(
            f"INSERT OR REPLACE INTO samples VALUES ({', '.join('?' * SAMPLE_ROW_WIDTH)})",
            [_sample_row(tick.ts, ids[s.gpu.uuid], tick_ms, s) for s in tick.samples],
        )
        rows = []
        for p in tick.processes:
            gid = ids.get(p.gpu_uuid) or self._gpu_ids.get(p.gpu_uuid) or new_ids.get(p.gpu_uuid)
            if gid is not None:
                rows.append((tick.ts, gid, self._upsert_process(p, tick.ts), p.mem_mib, p.sm_util))
        self.conn.executemany("INSERT OR REPLACE INTO process_samples VALUES (?,?,?,?,?)", rows)

    def _write_states(
        self, tick: Tick, new_ids: dict[str, int], new_states: dict[int, tuple]
    ) -> None:
        """Store each GPU's slow-changing state, but only where something changed."""
        for state in tick.states:
            gid = new_ids.get(state.gpu.uuid) or self._gpu_ids.get(state.gpu.uuid)
            values = state.values()
            if gid is None or new_states.get(gid, self._states.get(gid)) == values:
                continue
            self.conn.execute(
                f"INSERT OR REPLACE INTO gpu_state (gpu, updated, {', '.join(STATE_COLUMNS)}) "
                f"VALUES ({', '.join('?' * (len(STATE_COLUMNS) + 2))})",
                (gid, tick.ts, *values),
            )
            new_states[gid] = values

    def _upsert_gpu(self, gpu: GpuInfo, ts: int, new_ids: dict[str, int]) -> int:
        row = self.conn.execute(
            """INSERT INTO gpus (uuid, idx, name, pci_bus_id, memory_total_mib,
                                 first_seen, last_seen, parent_uuid, mig_profile,
                                 gpu_instance)
               VALUES (?,?,?,?,?,?,?,?,?,?)
               ON CONFLICT (uuid) DO UPDATE SET
                   idx = excluded.idx, name = excluded.name,
                   pci_bus_id = coalesce(excluded.pci_bus_id, pci_bus_id),
                   memory_total_mib = coalesce(excluded.memory_total_mib, memory_total_mib),
                   first_seen = min(first_seen, excluded.first_seen),
                   last_seen = max(last_seen, excluded.last_seen),
                   lost_at = CASE WHEN excluded.last_seen >= coalesce(lost_at, 0)
                                  THEN NULL ELSE lost_at END,
                   parent_uuid = excluded.parent_uuid, mig_profile = excluded.mig_profile,
                   gpu_instance = excluded.gpu_instance
               RETURNING id""",
            (
                gpu.uuid,
                gpu.index,
                gpu.name,
                gpu.pci_bus_id,
                gpu.memory_total_mib,
                ts,
                ts,
                gpu.parent_uuid,
                gpu.mig_profile,
                gpu.gpu_instance,
            ),
        ).fetchone()
        new_ids[gpu.uuid] = row[0]
        return row[0]

    def _upsert_process(self, p: ProcessSample, ts: int) -> int:
        return self.conn.execute(
            """INSERT INTO processes (pid, started, user, command, first_seen, last_seen,
                                      workload, workload_id)
               VALUES (?,?,?,?,?,?,?,?)
               ON CONFLICT (pid, started) DO UPDATE SET
                   user = coalesce(excluded.user, user),
                   command = coalesce(excluded.command, command),
                   first_seen = min(first_seen, excluded.first_seen),
                   last_seen = max(last_seen, excluded.last_seen),
                   workload = coalesce(excluded.workload, workload),
                   workload_id = coalesce(excluded.workload_id, workload_id)
               RETURNING id""",
            (p.pid, p.started, p.user, p.command, ts, ts, p.workload, p.workload_id),
        ).fetchone()[0]

    def mark_lost(self, uuid: str, ts: int, detail: str) -> bool:
        """Record that a GPU stopped answering; True the first time (so the caller logs once)."""
        with atomic(self.conn):
            changed = self.conn.execute(
                "UPDATE gpus SET lost_at = ? WHERE uuid = ? AND lost_at IS NULL", (ts, uuid)
            ).rowcount
            if changed:
                add_event(self.conn, ts, "gpu_lost", self._gpu_ids.get(uuid), detail)
        return bool(changed)


def _sample_row(ts: int, gid: int, tick_ms: int, s: GpuSample) -> tuple:
    """A `samples` row in column order (power in deciwatts, active time in ms)."""
    power_dw = None if s.power_w is None else round(s.power_w * 10)
    active_ms = None if s.active_s is None else round(s.active_s * 1000)
    return (
        ts,
        gid,
        tick_ms,
        s.util,
        s.mem_util,
        s.mem_used_mib,
        s.temp_c,
        s.fan_pct,
        power_dw,
        s.energy_j,
        s.sm_mhz,
        s.mem_mhz,
        s.pstate,
        active_ms,
        s.clocks_event,
        s.enc_util,
        s.dec_util,
    )


SAMPLE_ROW_WIDTH = 17  # columns of `samples`, in _sample_row order
# The columns every sample has had since the first schema (bulk loaders name them).
CORE_SAMPLE_COLUMNS = (
    "ts, gpu, tick_ms, util, mem_util, mem_used_mib, temp_c, fan_pct, power_dw, energy_j, "
    "sm_mhz, mem_mhz, pstate, active_ms"
)


def add_event(conn: Connection, ts: int, kind: str, gpu: int | None, detail: str) -> None:
    """Append to the events table."""
    require_transaction(conn)
    conn.execute(
        "INSERT INTO events (ts, kind, gpu, detail) VALUES (?,?,?,?)", (ts, kind, gpu, detail)
    )


DEFAULT_INTERVAL = default("GPUPULSE_INTERVAL")
STALE_AFTER_TICKS = 3  # a collector that misses three ticks in a row is not keeping up


def collector_interval(conn: Connection, default: float = DEFAULT_INTERVAL) -> float:
    """The collector's tick (meta `interval`), or `default` if missing or unusable."""
    raw = get_meta(conn, "interval")
    try:
        value = default if raw is None else float(raw)
    except ValueError:
        return default
    return value if 0 < value < 86_400 else default


def newest_sample_ts(conn: Connection) -> int | None:
    """UTC seconds of the newest sample, or None for an empty store."""
    return conn.execute("SELECT max(ts) FROM samples").fetchone()[0]


def latest_state(conn: Connection) -> list[dict]:
    """Each known GPU with its newest sample, its state and the processes seen in that tick."""
    cursor = conn.execute(
        f"""SELECT g.id, g.uuid, g.idx AS "index", g.name, g.pci_bus_id, g.memory_total_mib,
                  g.first_seen, g.last_seen, g.lost_at, g.parent_uuid, g.mig_profile,
                  g.gpu_instance,
                  s.ts, s.tick_ms, s.util, s.mem_util, s.mem_used_mib, s.temp_c, s.fan_pct,
                  s.power_dw / 10.0 AS power_w, s.energy_j, s.sm_mhz, s.mem_mhz, s.pstate,
                  s.active_ms / 1000.0 AS active_s, s.clocks_event, s.enc_util, s.dec_util,
                  {", ".join(f"st.{c}" for c in STATE_COLUMNS)}
           FROM gpus g LEFT JOIN samples s ON s.gpu = g.id AND s.ts = g.last_seen
           LEFT JOIN gpu_state st ON st.gpu = g.id
           ORDER BY g.idx, g.id"""
    )
    states = dict_rows(cursor)
    for state in states:
        state["processes"] = processes_at(conn, state["id"], state["ts"])
    return states


def processes_at(conn: Connection, gpu: int, ts: int | None) -> list[dict]:
    """The processes recorded on one GPU at one tick."""
    if ts is None:
        return []
    return dict_rows(
        conn.execute(
            """SELECT p.pid, p.user, p.command, ps.mem_mib, ps.sm_util, p.started,
                      p.workload, p.workload_id
               FROM process_samples ps JOIN processes p ON p.id = ps.process
               WHERE ps.ts = ? AND ps.gpu = ? ORDER BY ps.mem_mib DESC, p.pid""",
            (ts, gpu),
        )
    )


def set_meta(conn: Connection, items: Iterable[tuple[str, str]]) -> None:
    """Upsert key/value pairs in meta (host id, collector interval, backend)."""
    with atomic(conn):
        conn.executemany(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            list(items),
        )


HOST_FACTS = ("driver_version", "cuda_driver_version", "nvml_version", "nvml_binding_version")


def host_facts(conn: Connection) -> dict[str, str | None]:
    """The driver, CUDA driver, NVML and binding versions the collector recorded."""
    found = dict(
        conn.execute(
            f"SELECT key, value FROM meta WHERE key IN ({', '.join('?' * len(HOST_FACTS))})",
            HOST_FACTS,
        ).fetchall()
    )
    return {key: found.get(key) for key in HOST_FACTS}


def recorded_host(conn: Connection) -> str:
    """The host id the collector recorded (meta `host_id`), else this machine's hostname."""
    return get_meta(conn, "host_id") or socket.gethostname()


def get_meta(conn: Connection, key: str, default: str | None = None) -> str | None:
    """A value from meta, or `default`."""
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return default if row is None else row[0]
