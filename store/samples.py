"""What the collector records each tick, and the queries that read the newest state."""

from __future__ import annotations

import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from store.db import Connection, write


@dataclass(frozen=True)
class GpuInfo:
    """A GPU as the driver describes it; the UUID is its identity."""

    uuid: str
    index: int
    name: str
    pci_bus_id: str | None = None
    memory_total_mib: int | None = None


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


@dataclass
class Tick:
    """Everything sampled at one moment: ts in UTC unix seconds, tick_s the time it covers."""

    ts: int
    tick_s: float
    samples: list[GpuSample] = field(default_factory=list)
    processes: list[ProcessSample] = field(default_factory=list)


class Recorder:
    """Writes ticks into the store, remembering row ids so a tick costs few statements."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self._gpu_ids: dict[str, int] = dict(
            (uuid, gid) for gid, uuid in conn.execute("SELECT id, uuid FROM gpus")
        )

    def gpu_id(self, uuid: str) -> int | None:
        """The row id of a GPU already recorded, or None."""
        return self._gpu_ids.get(uuid)

    def write(self, ticks: Sequence[Tick]) -> None:
        """Record ticks in one BEGIN IMMEDIATE transaction (all or nothing)."""
        if not ticks:
            return
        new_ids: dict[str, int] = {}
        with write(self.conn):
            for tick in ticks:
                self._write_tick(tick, new_ids)
        # Only after COMMIT: a rolled-back insert must not leave a stale id behind.
        self._gpu_ids.update(new_ids)

    def _write_tick(self, tick: Tick, new_ids: dict[str, int]) -> None:
        ids = {s.gpu.uuid: self._upsert_gpu(s.gpu, tick.ts, new_ids) for s in tick.samples}
        tick_ms = round(tick.tick_s * 1000)
        self.conn.executemany(
            "INSERT OR REPLACE INTO samples VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            [_sample_row(tick.ts, ids[s.gpu.uuid], tick_ms, s) for s in tick.samples],
        )
        rows = []
        for p in tick.processes:
            gid = ids.get(p.gpu_uuid) or self._gpu_ids.get(p.gpu_uuid) or new_ids.get(p.gpu_uuid)
            if gid is not None:
                rows.append((tick.ts, gid, self._upsert_process(p, tick.ts), p.mem_mib, p.sm_util))
        self.conn.executemany("INSERT OR REPLACE INTO process_samples VALUES (?,?,?,?,?)", rows)

    def _upsert_gpu(self, gpu: GpuInfo, ts: int, new_ids: dict[str, int]) -> int:
        row = self.conn.execute(
            """INSERT INTO gpus (uuid, idx, name, pci_bus_id, memory_total_mib,
                                 first_seen, last_seen)
               VALUES (?,?,?,?,?,?,?)
               ON CONFLICT (uuid) DO UPDATE SET
                   idx = excluded.idx, name = excluded.name,
                   pci_bus_id = coalesce(excluded.pci_bus_id, pci_bus_id),
                   memory_total_mib = coalesce(excluded.memory_total_mib, memory_total_mib),
                   first_seen = min(first_seen, excluded.first_seen),
                   last_seen = max(last_seen, excluded.last_seen),
                   lost_at = CASE WHEN excluded.last_seen >= coalesce(lost_at, 0)
                                  THEN NULL ELSE lost_at END
               RETURNING id""",
            (gpu.uuid, gpu.index, gpu.name, gpu.pci_bus_id, gpu.memory_total_mib, ts, ts),
        ).fetchone()
        new_ids[gpu.uuid] = row[0]
        return row[0]

    def _upsert_process(self, p: ProcessSample, ts: int) -> int:
        return self.conn.execute(
            """INSERT INTO processes (pid, started, user, command, first_seen, last_seen)
               VALUES (?,?,?,?,?,?)
               ON CONFLICT (pid, started) DO UPDATE SET
                   user = coalesce(excluded.user, user),
                   command = coalesce(excluded.command, command),
                   first_seen = min(first_seen, excluded.first_seen),
                   last_seen = max(last_seen, excluded.last_seen)
               RETURNING id""",
            (p.pid, p.started, p.user, p.command, ts, ts),
        ).fetchone()[0]

    def mark_lost(self, uuid: str, ts: int, detail: str) -> bool:
        """Record that a GPU stopped answering; True the first time (so the caller logs once)."""
        with write(self.conn):
            changed = self.conn.execute(
                "UPDATE gpus SET lost_at = ? WHERE uuid = ? AND lost_at IS NULL", (ts, uuid)
            ).rowcount
            if changed:
                add_event(self.conn, ts, "gpu_lost", self._gpu_ids.get(uuid), detail)
        return bool(changed)


def _sample_row(ts: int, gid: int, tick_ms: int, s: GpuSample) -> tuple:
    return (
        ts, gid, tick_ms, s.util, s.mem_util, s.mem_used_mib, s.temp_c, s.fan_pct,
        None if s.power_w is None else round(s.power_w * 10),
        s.energy_j, s.sm_mhz, s.mem_mhz, s.pstate,
        None if s.active_s is None else round(s.active_s * 1000),
    )  # fmt: skip


def add_event(conn: Connection, ts: int, kind: str, gpu: int | None, detail: str) -> None:
    """Append to the events table (call inside a write transaction)."""
    conn.execute(
        "INSERT INTO events (ts, kind, gpu, detail) VALUES (?,?,?,?)", (ts, kind, gpu, detail)
    )


SAMPLE_COLUMNS = (
    "util", "mem_util", "mem_used_mib", "temp_c", "fan_pct", "power_w", "energy_j",
    "sm_mhz", "mem_mhz", "pstate", "active_s",
)  # fmt: skip


DEFAULT_INTERVAL = 5.0
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
    """Each known GPU with its newest sample and the processes seen in that tick."""
    gpus = conn.execute(
        """SELECT g.id, g.uuid, g.idx, g.name, g.pci_bus_id, g.memory_total_mib,
                  g.first_seen, g.last_seen, g.lost_at,
                  s.ts, s.tick_ms, s.util, s.mem_util, s.mem_used_mib, s.temp_c, s.fan_pct,
                  s.power_dw / 10.0, s.energy_j, s.sm_mhz, s.mem_mhz, s.pstate,
                  s.active_ms / 1000.0
           FROM gpus g LEFT JOIN samples s ON s.gpu = g.id AND s.ts = g.last_seen
           ORDER BY g.idx, g.id"""
    ).fetchall()
    return [_state(conn, row) for row in gpus]


def _state(conn: Connection, row: tuple) -> dict:
    keys = ("id", "uuid", "index", "name", "pci_bus_id", "memory_total_mib",
            "first_seen", "last_seen", "lost_at", "ts", "tick_ms", *SAMPLE_COLUMNS)  # fmt: skip
    state = dict(zip(keys, row, strict=True))
    state["processes"] = processes_at(conn, state["id"], state["ts"])
    return state


def processes_at(conn: Connection, gpu: int, ts: int | None) -> list[dict]:
    """The processes recorded on one GPU at one tick."""
    if ts is None:
        return []
    rows = conn.execute(
        """SELECT p.pid, p.user, p.command, ps.mem_mib, ps.sm_util, p.started
           FROM process_samples ps JOIN processes p ON p.id = ps.process
           WHERE ps.ts = ? AND ps.gpu = ? ORDER BY ps.mem_mib DESC, p.pid""",
        (ts, gpu),
    )
    keys = ("pid", "user", "command", "mem_mib", "sm_util", "started")
    return [dict(zip(keys, r, strict=True)) for r in rows]


def set_meta(conn: Connection, items: Iterable[tuple[str, str]]) -> None:
    """Upsert key/value pairs in meta (host id, collector interval, backend)."""
    with write(conn):
        conn.executemany(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            list(items),
        )


def recorded_host(conn: Connection) -> str:
    """The host id the collector recorded (meta `host_id`), else this machine's hostname."""
    return get_meta(conn, "host_id") or socket.gethostname()


def get_meta(conn: Connection, key: str, default: str | None = None) -> str | None:
    """A value from meta, or `default`."""
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return default if row is None else row[0]
