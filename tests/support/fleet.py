"""Generated sample data for tests and benchmarks, and an independent reference roll-up.

The reference is written with plain Python loops over the generated rows, on purpose
sharing no code with store.aggregate.
"""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import datetime
from zoneinfo import ZoneInfo

from store.db import atomic
from store.samples import CORE_SAMPLE_COLUMNS as CORE_COLUMNS

USERS = ("alice", "bob", "carol")


def add_gpus(conn, count: int) -> list[int]:
    """Insert `count` GPUs; return their ids."""
    with atomic(conn):
        for i in range(count):
            conn.execute(
                "INSERT INTO gpus (uuid, idx, name, pci_bus_id, memory_total_mib, first_seen,"
                " last_seen) VALUES (?,?,?,?,?,0,0)",
                (f"GPU-{i:04d}", i, f"Test GPU {i}", f"0000:{i:02x}:00.0", 81920),
            )
    return [r[0] for r in conn.execute("SELECT id FROM gpus ORDER BY idx")]


def generate(gpus, start: int, end: int, tick: int, seed: int = 1, gap=None):
    """Rows for samples and process_samples: busy/idle stretches, resets, NULLs, a gap."""
    rnd = random.Random(seed)
    samples, procs = [], []
    energy = {g: rnd.randint(10**6, 10**7) for g in gpus}
    for ts in range(start, end, tick):
        if gap and gap[0] <= ts < gap[1]:
            continue
        busy_phase = (ts // 1800) % 3  # 30-min stretches: idle, busy, mixed
        for k, g in enumerate(gpus):
            busy = busy_phase == 1 or (busy_phase == 2 and k % 2 == 0)
            util = rnd.randint(40, 100) if busy else rnd.choice((0, 0, 0, 1, 2))
            power = rnd.randint(800, 3000) if busy else rnd.randint(500, 700)
            if k == 0 and rnd.random() < 0.002:
                energy[g] = rnd.randint(0, 1000)  # driver reload: the counter restarts
            else:
                energy[g] += power * tick // 10
            active = None if k % 2 else (rnd.randint(0, tick * 1000) if busy else 0)
            fan = None if k == 1 else rnd.randint(20, 90)
            e = None if k == 2 else energy[g]
            samples.append(
                (
                    ts,
                    g,
                    tick * 1000,
                    util,
                    rnd.randint(0, 80),
                    rnd.randint(0, 80000),
                    rnd.randint(30, 85),
                    fan,
                    power,
                    e,
                    1400,
                    1500,
                    0,
                    active,
                )
            )
            if busy:
                for p in range(1 + k % 3):
                    sm = None if k == 3 else rnd.randint(0, 100)
                    procs.append((ts, g, 1 + (k * 3 + p) % 6, rnd.randint(100, 20000), sm))
    return samples, procs


def insert(conn, samples, procs, processes=6) -> None:
    """Write rows the way a fast importer would."""
    seen: dict[int, list[int]] = {}
    for ts, _g, proc, *_ in procs:
        span = seen.setdefault(proc, [ts, ts])
        span[0], span[1] = min(span[0], ts), max(span[1], ts)
    with atomic(conn):
        for pid in range(1, processes + 1):
            first, last = seen.get(pid, (0, 0))
            conn.execute(
                "INSERT INTO processes (id, pid, started, user, command, first_seen,"
                " last_seen) VALUES (?,?,?,?,?,?,?) ON CONFLICT (id) DO UPDATE SET"
                " first_seen = min(first_seen, excluded.first_seen),"
                " last_seen = max(last_seen, excluded.last_seen)",
                (pid, 1000 + pid, 0, USERS[pid % 3], "python train.py", first, last),
            )
        conn.executemany(
            f"INSERT OR REPLACE INTO samples ({CORE_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            samples,
        )
        conn.executemany("INSERT OR REPLACE INTO process_samples VALUES (?,?,?,?,?)", procs)


def reference_daily(samples, tz: ZoneInfo, threshold: float) -> dict:
    """{(day, gpu): daily row} computed with loops, host = gpu 0."""
    by_gpu = defaultdict(list)
    for row in sorted(samples):
        by_gpu[row[1]].append(row)
    out = defaultdict(
        lambda: {
            "samples": 0,
            "active_ms": 0.0,
            "utils": [],
            "act_utils": [],
            "energy_j": 0.0,
            "has_energy": False,
        }
    )
    tick_max = defaultdict(float)  # (day, ts) -> largest active ms
    for g, rows in by_gpu.items():
        prev = None
        for row in rows:
            ts, _, tick_ms, util, *_rest = row
            power, counter, active_ms = row[8], row[9], row[13]
            day = datetime.fromtimestamp(ts, tz).date().isoformat()
            if active_ms is not None:
                a = min(active_ms, tick_ms)
            else:
                a = tick_ms if util is not None and util > threshold else 0
            e = None
            if (
                counter is not None
                and prev is not None
                and prev[9] is not None
                and counter >= prev[9]
                and (ts - prev[0]) * 1000 <= 1.5 * tick_ms
            ):
                e = counter - prev[9]
            elif power is not None:
                e = power / 10 * tick_ms / 1000
            for key in ((day, g), (day, 0)):
                acc = out[key]
                acc["samples"] += 1
                acc["active_ms"] += a
                if util is not None:
                    acc["utils"].append(util)
                    if a > 0:
                        acc["act_utils"].append(util)
                if e is not None:
                    acc["energy_j"] += e
                    acc["has_energy"] = True
            tick_max[(day, ts)] = max(tick_max[(day, ts)], a)
            prev = row
    host_active = defaultdict(float)
    for (day, _ts), a in tick_max.items():
        host_active[day] += a
    result = {}
    for (day, g), acc in out.items():
        utils, act = acc["utils"], acc["act_utils"]
        result[(day, g)] = {
            "samples": acc["samples"],
            "active_minutes": (host_active[day] if g == 0 else acc["active_ms"]) / 60000,
            "gpu_minutes": acc["active_ms"] / 60000,
            "peak_utilization": max(utils) if utils else None,
            "avg_utilization": sum(utils) / len(utils) if utils else None,
            "avg_active_utilization": sum(act) / len(act) if act else None,
            "energy_kwh": acc["energy_j"] / 3.6e6 if acc["has_energy"] else None,
        }
    return result


def utc_hour(ts: int) -> int:
    """Start of the UTC hour holding `ts` (a `period` for the references)."""
    return ts // 3600 * 3600


def reference_users(
    samples, procs, users: dict, tz: ZoneInfo, threshold: float, period=None
) -> dict:
    """{(day, gpu, user): (gpu_seconds, peak_mem)} with loops; host = gpu 0.

    users[process] None marks an idle-runner process: it takes its share, booked to no one.
    period(ts), if given, names the period instead of the local day (e.g. the UTC hour).
    """
    active = {}
    for ts, g, tick_ms, util, *_r in samples:
        a_ms = _r[9]
        active[(ts, g)] = (
            min(a_ms, tick_ms)
            if a_ms is not None
            else (tick_ms if util is not None and util > threshold else 0)
        )
    present = defaultdict(list)
    for ts, g, proc, mem, sm in procs:
        present[(ts, g)].append((proc, mem, sm))
    secs = defaultdict(float)
    mem_tick = defaultdict(float)  # (day, gpu, user, ts) -> memory
    for (ts, g), plist in present.items():
        day = period(ts) if period else datetime.fromtimestamp(ts, tz).date().isoformat()
        total = sum(sm for _, _, sm in plist if sm is not None)
        by_sm = all(sm is not None for _, _, sm in plist) and total > 0
        for proc, mem, sm in plist:
            share = sm / total if by_sm else 1 / len(plist)
            user = users[proc]
            if user is None:
                continue
            if (ts, g) in active:
                secs[(day, g, user)] += share * active[(ts, g)] / 1000
                secs[(day, 0, user)] += share * active[(ts, g)] / 1000
            mem_tick[(day, g, user, ts)] += mem
            mem_tick[(day, 0, user, ts)] += mem
    peak = defaultdict(float)
    for (day, g, user, _ts), m in mem_tick.items():
        peak[(day, g, user)] = max(peak[(day, g, user)], m)
    return {k: (secs.get(k, 0.0), peak[k]) for k in peak}
