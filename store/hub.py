"""The hub's store: remote hosts, their tokens, the hours they push, and their live snapshots.

A hub is an ordinary GPU Pulse database with the V5 tables filled. Each host's hourly
aggregate (the scheduler's push payload, see protocol.hourly) is kept as sums and counts
per host, GPU and UTC hour, so the hub can build days in its own GPUPULSE_TZ that equal the
host's own wherever the zone's offset is a whole number of hours.
"""

from __future__ import annotations

import bisect
import hashlib
import hmac
import json
import secrets
import uuid as uuidlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from protocol.hourly import GPU_DESCRIPTION, STAT_KEYS, content_digest
from store.aggregate import MAX, SUM, USER_OPS, merge_partial, merge_value
from store.db import Connection, atomic, dict_rows, require_transaction
from store.rollups import HOST, HOURLY_FIELDS, bump_rollup_state, rollup_state

TOKEN_PREFIX = "gpp"
HUB_VERSION = "hub_version"
STALE_AFTER_MISSED = 3

ROW_COLUMNS = (
    "host",
    "hour",
    "gpu",
    "samples",
    "active_ms",
    "gpu_active_ms",
    "util_sum",
    "util_n",
    "act_util_sum",
    "act_util_n",
    "energy_j",
    *(col for _, col in STAT_KEYS),
)
STAT_PAYLOAD_KEYS = tuple(key for key, _ in STAT_KEYS)
INSERT_HOURLY = (
    f"INSERT INTO hub_hourly ({', '.join(ROW_COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(ROW_COLUMNS))})"
)


# --- hosts and tokens -------------------------------------------------------------------


def hash_token(token: str) -> str:
    """sha256 hex of a token (tokens are 256-bit random, so a fast hash is enough)."""
    return hashlib.sha256(token.encode()).hexdigest()


def add_host(
    conn: Connection, name: str, now: float, *, targoman: bool = False, tz: str | None = None
) -> str:
    """Register a pushing host (or give a polled/revoked one a new token); return the token.
    A `targoman` host may present the token as its X-Contract-Number, and its zone-less
    times are read in `tz` (None: the hub's zone)."""
    with atomic(conn):
        conn.execute(
            "INSERT INTO hub_hosts (name, source, created) VALUES (?, 'push', ?) "
            "ON CONFLICT (name) DO NOTHING",
            (name, int(now)),
        )
        host_id = conn.execute("SELECT id FROM hub_hosts WHERE name = ?", (name,)).fetchone()[0]
        token = f"{TOKEN_PREFIX}_{host_id}_{secrets.token_urlsafe(32)}"
        conn.execute(
            "UPDATE hub_hosts SET token_hash = ?, revoked = NULL, source = 'push', targoman = ?, "
            "tz = ? WHERE id = ?",
            (hash_token(token), int(targoman), tz, host_id),
        )
    return token


def revoke_host(conn: Connection, name: str, now: float) -> bool:
    """Stop a host's token from working (its data stays); False when no such active host."""
    with atomic(conn):
        return bool(
            conn.execute(
                "UPDATE hub_hosts SET revoked = ?, token_hash = NULL "
                "WHERE name = ? AND revoked IS NULL",
                (int(now), name),
            ).rowcount
        )


def list_hosts(conn: Connection) -> list[dict]:
    """Every host the hub knows, with how it reports and when it last did."""
    return dict_rows(
        conn.execute(
            "SELECT h.id, h.name, h.source, h.created, h.revoked, h.last_ingest, h.targoman, "
            "s.received AS last_status "
            "FROM hub_hosts h LEFT JOIN hub_status s ON s.host = h.id ORDER BY h.name"
        )
    )


class Sender(NamedTuple):
    """The host a token belongs to: its id, its name, whether it was added --targoman, and
    the zone of its zone-less times (None: the hub's)."""

    host: int
    name: str
    targoman: bool = False
    tz: str | None = None


def token_host(conn: Connection, token: str, *, as_contract: bool = False) -> Sender | None:
    """The host owning a bearer token, or None; the hash is compared in constant time. With
    `as_contract` (the token came as X-Contract-Number) only a --targoman host's counts."""
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != TOKEN_PREFIX or not parts[1].isdigit():
        return None
    row = conn.execute(
        "SELECT id, name, token_hash, targoman, tz FROM hub_hosts WHERE id = ? AND revoked IS NULL",
        (int(parts[1]),),
    ).fetchone()
    if row is None or row[2] is None or (as_contract and not row[3]):
        hmac.compare_digest(hash_token(token), hash_token(""))  # same work either way
        return None
    if not hmac.compare_digest(hash_token(token), row[2]):
        return None
    return Sender(row[0], row[1], bool(row[3]), row[4])


def pull_host(conn: Connection, name: str, now: float) -> int:
    """The id of a polled host, registered on first sight."""
    require_transaction(conn)
    conn.execute(
        "INSERT INTO hub_hosts (name, source, created) VALUES (?, 'pull', ?) "
        "ON CONFLICT (name) DO NOTHING",
        (name, int(now)),
    )
    return conn.execute("SELECT id FROM hub_hosts WHERE name = ?", (name,)).fetchone()[0]


def host_ids(conn: Connection) -> dict[str, int]:
    """{name: id} of every host with data or a token."""
    return dict(conn.execute("SELECT name, id FROM hub_hosts ORDER BY name"))


# --- rate limits ------------------------------------------------------------------------


# (bucket key, requests per second, burst): one token bucket of the hub's rate limits.
Limit = tuple[str, float, float]


def _bucket(conn: Connection, limit: Limit, now: float) -> tuple[float, float]:
    """(requests available in a bucket at `now`, the bucket's time); a bucket never seen
    is full. A request that read the clock before another's write but waited longer for
    the lock arrives with an earlier `now`: it refills nothing, and never makes the bucket
    go back."""
    key, rate, burst = limit
    row = conn.execute("SELECT tokens, at FROM hub_rate WHERE key = ?", (key,)).fetchone()
    if row is None:
        return burst, now
    tokens, at = row
    return min(burst, tokens + max(0.0, now - at) * rate), max(now, at)


def take_requests(
    conn: Connection, limits: Sequence[Limit], now: float, refill_s: float
) -> tuple[float, str]:
    """Spend one request from each bucket of `limits`; (0, "") when there was one in each,
    else (seconds to wait, the key of the empty bucket) and nothing is spent. Buckets left
    alone for `refill_s` (the longest any takes to refill) are full again and forgotten,
    so keys seen once do not pile up."""
    require_transaction(conn)
    spent = []
    for limit in limits:
        available, at = _bucket(conn, limit, now)
        if available < 1:
            return (1 - available) / limit[1], limit[0]
        spent.append((limit[0], available - 1, at))
    conn.executemany(
        "INSERT INTO hub_rate VALUES (?,?,?) ON CONFLICT (key) DO UPDATE SET "
        "tokens = excluded.tokens, at = excluded.at",
        spent,
    )
    conn.execute("DELETE FROM hub_rate WHERE at < ?", (now - refill_s,))
    return 0.0, ""


# --- receiving hours --------------------------------------------------------------------


def _ms(seconds) -> int:
    return 0 if seconds is None else round(seconds * 1000)


@dataclass(frozen=True)
class HourRows:
    """One host-hour payload as table rows, built before the write lock is taken (so the
    lock is held only to store them). GPUs are named by device id until the write maps
    them to the hub's ids; None is the whole-host row."""

    hour: int
    gpus: list[tuple[str, list]]  # (device id, [index, name, pci_bus_id, memory_total_mb])
    hourly: list[tuple]  # (device id or None, *ROW_COLUMNS after host, hour and gpu)
    users: list[tuple]  # (device id or None, user, gpu_seconds, peak_mem_mib)


def entry_values(entry: dict, gpu_active_s=None) -> tuple:
    """The hub_hourly values of a payload entry (a GPU, or the host summary with its
    gpu_active_s), in ROW_COLUMNS order after host, hour and gpu."""
    get = entry.get
    util_sum, util_n = get("sm_utilization_percent_sum"), get("sm_utilization_percent_count")
    mean, n = get("sm_utilization_percent_mean"), get("samples") or 0
    if util_sum is None and mean is not None:  # a Targoman-style entry: estimate
        util_sum, util_n = mean * n, n
    energy = get("energy_j")
    if energy is None and get("energy_wh") is not None:
        energy = entry["energy_wh"] * 3600
    active = _ms(get("active_seconds"))
    gpu_active = active if gpu_active_s is None else _ms(gpu_active_s)
    return (
        n,
        active,
        gpu_active,
        util_sum,
        util_n,
        get("sm_utilization_percent_active_sum"),
        get("sm_utilization_percent_active_count"),
        energy,
        *map(get, STAT_PAYLOAD_KEYS),
    )


def hour_rows(payload: dict) -> HourRows:
    """A checked hourly payload (protocol.ingest.check_hourly) as the rows it stores."""
    summary = payload["host_summary"]
    hourly = [(None, *entry_values(summary, summary.get("gpu_active_seconds") or 0))]
    users = _user_rows(None, summary.get("users") or ())
    gpus = []
    for entry in payload["gpus"]:
        device = entry["device_id"]
        gpus.append((device, [entry.get(k) for k in GPU_DESCRIPTION]))
        hourly.append((device, *entry_values(entry)))
        users += _user_rows(device, entry.get("users") or ())
    return HourRows(payload["hour"], gpus, hourly, users)


def save_hours(conn: Connection, host: int, hours: Iterable[HourRows], now: float) -> None:
    """Replace host-hours with payloads' rows; the host's last ingest and the hub's version
    move once for them all (not at all for none)."""
    require_transaction(conn)
    stored = 0
    for rows in hours:
        _replace_hour(conn, host, rows)
        stored += 1
    if not stored:
        return
    conn.execute("UPDATE hub_hosts SET last_ingest = ? WHERE id = ?", (int(now), host))
    bump_hub_version(conn)


def _replace_hour(conn: Connection, host: int, rows: HourRows) -> None:
    hour = rows.hour
    ids = {None: HOST, **gpu_ids(conn, host, hour, rows.gpus)}
    old = conn.execute(
        "DELETE FROM hub_hourly WHERE host = ? AND hour = ? RETURNING gpu", (host, hour)
    ).fetchall()
    if old:  # a host-hour sent again with other numbers: its users go too, GPU by GPU
        conn.executemany(
            "DELETE FROM hub_user_hourly WHERE host = ? AND gpu = ? AND hour = ?",
            [(host, gpu, hour) for (gpu,) in old],
        )
    conn.executemany(INSERT_HOURLY, [(host, hour, ids[d], *v) for d, *v in rows.hourly])
    conn.executemany(
        "INSERT INTO hub_user_hourly VALUES (?,?,?,?,?,?)",
        [(host, hour, ids[d], *v) for d, *v in rows.users],
    )


def _user_rows(device: str | None, users: Iterable[dict]) -> list[tuple]:
    """(device, user, GPU-seconds, peak memory) per user of a payload entry."""
    merged: dict[str, dict] = {}
    for u in users:  # a name sent twice is added up, never a primary-key error
        part = {"gpu_seconds": u["gpu_seconds"], "peak_mem_mib": u.get("memory_used_mb_max")}
        merge_partial(merged.setdefault(u["user"], {"gpu_seconds": 0.0}), part, USER_OPS)
    return [(device, name, r["gpu_seconds"], r["peak_mem_mib"]) for name, r in merged.items()]


def gpu_ids(conn: Connection, host: int, hour: int, gpus: list[tuple[str, list]]) -> dict[str, int]:
    """{device id: the hub's id} for a payload's (device id, description) pairs; new GPUs
    are added, and a GPU's description is refreshed when this hour is its newest (one read
    in the common case)."""
    known = {
        uuid: (gid, desc, last)
        for uuid, gid, last, *desc in conn.execute(
            "SELECT uuid, id, last_hour, idx, name, pci_bus_id, memory_total_mib FROM hub_gpus "
            "WHERE host = ?",
            (host,),
        )
    }
    ids, newer = {}, []
    for uuid, desc in gpus:
        found = known.get(uuid)
        if found is not None and (hour <= found[2] or desc == found[1]):
            ids[uuid] = found[0]  # an older hour, or the same description
            if hour > found[2]:
                newer.append(found[0])
            continue
        ids[uuid] = conn.execute(
            "INSERT INTO hub_gpus (host, uuid, idx, name, pci_bus_id, memory_total_mib, "
            "last_hour) VALUES (?,?,?,?,?,?,?) ON CONFLICT (host, uuid) DO UPDATE SET "
            "idx = excluded.idx, name = excluded.name, "
            "pci_bus_id = coalesce(excluded.pci_bus_id, pci_bus_id), "
            "memory_total_mib = coalesce(excluded.memory_total_mib, memory_total_mib), "
            "last_hour = excluded.last_hour RETURNING id",
            (host, uuid, *desc, hour),
        ).fetchone()[0]
    if newer:  # one statement moves every unchanged GPU's newest hour on
        conn.execute(f"UPDATE hub_gpus SET last_hour = ? WHERE id IN ({_ids(newer)})", (hour,))
    return ids


def _ids(values: Iterable[int]) -> str:
    return ", ".join(str(int(v)) for v in values)


payload_digest = content_digest


@dataclass(frozen=True)
class Received:
    """One pushed host-hour: its rows, its content's digest, and when the sender built it
    (None: the sender does not say)."""

    rows: HourRows
    digest: str
    built_at: float | None


def _stale(old_built: float | None, built: float | None) -> bool:
    """True when a version built at `built` is older than the stored one."""
    return old_built is not None and built is not None and built < old_built


def receive_hours(
    conn: Connection, host: int, received: Iterable[Received], now: float
) -> list[str]:
    """Store pushed host-hours except those stored already as this very content (a retry
    or --resend) and older versions than the one stored (a late replay): those change
    nothing and answer the stored uid. Returns the uid answered for each."""
    require_transaction(conn)
    uids, fresh = [], []
    for got in received:
        hour = got.rows.hour
        old = conn.execute(
            "SELECT uid, payload_hash, built_at FROM hub_receipts WHERE host = ? AND hour = ?",
            (host, hour),
        ).fetchone()
        if old is not None and (old[1] == got.digest or _stale(old[2], got.built_at)):
            uids.append(old[0])
            continue
        uids.append(uuidlib.uuid4().hex)
        fresh.append(got.rows)
        conn.execute(
            "INSERT INTO hub_receipts (host, hour, uid, payload_hash, received, built_at) "
            "VALUES (?,?,?,?,?,?) ON CONFLICT (host, hour) DO UPDATE "
            "SET uid = excluded.uid, payload_hash = excluded.payload_hash, "
            "received = excluded.received, built_at = excluded.built_at",
            (host, hour, uids[-1], got.digest, int(now), got.built_at),
        )
    save_hours(conn, host, fresh, now)
    return uids


def bump_hub_version(conn: Connection) -> None:
    """Mark the hub's data changed (readers key their caches on hub_version)."""
    bump_rollup_state(conn, HUB_VERSION)


def hub_version(conn: Connection) -> int:
    """The counter bumped on every change to hub data (0 before the first)."""
    return rollup_state(conn, HUB_VERSION, 0)


# --- live snapshots ---------------------------------------------------------------------


def save_status(conn: Connection, host: int, snapshot: dict, every_s: int, now: float) -> None:
    """Keep a host's newest snapshot."""
    require_transaction(conn)
    conn.execute(
        "INSERT INTO hub_status VALUES (?,?,?,?,NULL) ON CONFLICT (host) DO UPDATE SET "
        "received = excluded.received, every_s = excluded.every_s, body = excluded.body, "
        "error = NULL",
        (host, int(now), every_s, json.dumps(snapshot, separators=(",", ":"))),
    )


def mark_failed(conn: Connection, host: int, error: str, every_s: int) -> None:
    """Mark a polled host stale at once, with why."""
    require_transaction(conn)
    conn.execute(
        "INSERT INTO hub_status VALUES (?, 0, ?, '{\"gpus\": []}', ?) "
        "ON CONFLICT (host) DO UPDATE SET error = excluded.error",
        (host, every_s, error[:500]),
    )


def snapshots(conn: Connection, now: float, names: Sequence[str] | None = None) -> list[dict]:
    """Each host's newest snapshot with its age and whether it is stale (3 missed sends)."""
    rows = conn.execute(
        "SELECT h.name, h.source, s.received, s.every_s, s.body, s.error FROM hub_hosts h "
        "JOIN hub_status s ON s.host = h.id ORDER BY h.name"
    )
    out = []
    for name, source, received, every_s, body, error in rows:
        if names is not None and name not in names:
            continue
        age = now - received
        stale = error is not None or age > STALE_AFTER_MISSED * every_s
        # The body first: what the hub measured must win over keys a host sent.
        out.append(
            {
                **json.loads(body),
                "host": name,
                "source": source,
                "received": received,
                "error": error,
                "age_s": round(age, 3),
                "every_s": every_s,
                "stale": stale,
            }
        )
    return out


# --- reading days and hours -------------------------------------------------------------

DAY_SQL = """
SELECT hour, gpu, sum(samples) AS samples, sum(active_ms) AS active_ms,
       sum(gpu_active_ms) AS gpu_active_ms, sum(util_sum) AS util_sum, sum(util_n) AS util_n,
       max(util_max) AS util_max, sum(act_util_sum) AS act_util_sum,
       sum(act_util_n) AS act_util_n, sum(energy_j) AS energy_j
FROM hub_hourly WHERE host IN ({hosts}) AND hour >= ? AND hour < ? {gpu} GROUP BY hour, gpu
"""
# How an hour's sums of DAY_SQL add up into its local day.
DAY_OPS = {
    "samples": SUM,
    "active_ms": SUM,
    "gpu_active_ms": SUM,
    "util_sum": SUM,
    "util_n": SUM,
    "util_max": MAX,
    "act_util_sum": SUM,
    "act_util_n": SUM,
    "energy_j": SUM,
}
USER_DAY_SQL = """
SELECT hour, gpu, user, sum(gpu_seconds) AS gpu_seconds, max(peak_mem_mib) AS peak_mem_mib
FROM hub_user_hourly WHERE host IN ({hosts}) AND hour >= ? AND hour < ? {gpu}
GROUP BY hour, gpu, user
"""
# hub_hourly keeps milliseconds and joules; HOURLY_FIELDS are seconds and watt-hours.
HOURLY_SQL = {
    "active_s": "active_ms / 1000.0",
    "energy_wh": "energy_j / 3600",
    "gpu_active_s": "gpu_active_ms / 1000.0",
}


@dataclass(frozen=True)
class DayQuery:
    """Which local days (aggregate.day_bounds), hosts and GPU (None: every GPU and the host
    rows) a hub's daily rows are built for; several hosts are summed (a fleet's day)."""

    days: list[tuple[str, int, int]]
    hosts: Sequence[int]
    gpu: int | None = HOST


def _by_day(
    conn: Connection, sql: str, query: DayQuery, keys: Sequence[str], ops: Mapping[str, str]
) -> list[tuple[tuple, dict]]:
    """((day, *keys), merged) for the rows of an hourly `sql`, each hour merged by `ops`
    into the local day of `query.days` holding it, in order."""
    days = query.days
    starts = [start for _, start, _ in days]
    where_gpu = "" if query.gpu is None else f"AND gpu = {int(query.gpu)}"
    rows = conn.execute(
        sql.format(hosts=_ids(query.hosts) or "NULL", gpu=where_gpu), (days[0][1], days[-1][2])
    )
    acc: dict[tuple, dict] = {}
    for row in dict_rows(rows):
        day = days[bisect.bisect_right(starts, row["hour"]) - 1][0]
        merge_partial(acc.setdefault((day, *(row[k] for k in keys)), {}), row, ops)
    return sorted(acc.items())


def daily(conn: Connection, query: DayQuery) -> list[dict]:
    """Daily rows (keys DAILY_FIELDS) built from the hub's hourly rows."""
    return [_day_row(day, g, v) for (day, g), v in _by_day(conn, DAY_SQL, query, ["gpu"], DAY_OPS)]


def _ratio(total: float | None, count: int | None) -> float | None:
    """A mean from a sum and a count, or None for no readings."""
    return total / count if count else None


def _day_row(day: str, gpu: int, v: dict) -> dict:
    """A daily row (keys DAILY_FIELDS) from a day's merged sums."""
    return {
        "day": day,
        "gpu": gpu,
        "samples": v["samples"],
        "active_minutes": (v["active_ms"] or 0) / 60000,
        "gpu_minutes": (v["gpu_active_ms"] or 0) / 60000,
        "peak_utilization": v["util_max"],
        "avg_utilization": _ratio(v["util_sum"], v["util_n"]),
        "avg_active_utilization": _ratio(v["act_util_sum"], v["act_util_n"]),
        "energy_kwh": None if v["energy_j"] is None else v["energy_j"] / 3.6e6,
    }


def hourly(conn: Connection, host: int, start: int, end: int, gpu: int | None = None) -> list:
    """One host's hourly rows (keys HOURLY_FIELDS) with start <= hour < end."""
    cols = ", ".join(f"{HOURLY_SQL.get(f, f)} AS {f}" for f in HOURLY_FIELDS)
    where = "host = ? AND hour >= ? AND hour < ?" + ("" if gpu is None else " AND gpu = ?")
    params = (host, start, end) if gpu is None else (host, start, end, gpu)
    sql = f"SELECT {cols} FROM hub_hourly WHERE {where} ORDER BY hour, gpu"
    return dict_rows(conn.execute(sql, params))


def fleet_hourly(conn: Connection, hosts: Sequence[int], start: int, end: int) -> list[dict]:
    """Several hosts' whole-host hours with start <= hour < end, combined per hour as
    `combine` does (sums, maxima, minima, means weighted by samples) but in one grouped scan:
    a fleet's year of hours must not be merged row by row in Python within one request."""
    cols = [f"{HOST} AS gpu" if f == "gpu" else _fleet_column(f) for f in HOURLY_FIELDS]
    sql = (
        f"SELECT {', '.join(cols)} FROM hub_hourly WHERE host IN ({_ids(hosts) or 'NULL'}) "
        f"AND gpu = {HOST} AND hour >= ? AND hour < ? GROUP BY hour ORDER BY hour"
    )
    return dict_rows(conn.execute(sql, (start, end)))


def _fleet_column(field: str) -> str:
    """The SQL of one HOURLY_FIELDS column over several hosts' rows of an hour."""
    if field == "hour":
        return "hour"
    value, how = HOURLY_SQL.get(field, field), _how(field)
    if how == "mean":
        weight = f"CASE WHEN {value} IS NOT NULL THEN samples END"
        weighted = f"sum(({value}) * samples) / nullif(sum({weight}), 0)"
        return f"coalesce({weighted}, avg({value})) AS {field}"  # avg: hours of no samples
    return f"{how}({value}) AS {field}"


def user_daily(conn: Connection, query: DayQuery) -> list[dict]:
    """Per-user GPU-seconds and peak memory per day and GPU (gpu 0: a user's total)."""
    merged = _by_day(conn, USER_DAY_SQL, query, ["gpu", "user"], USER_OPS)
    return [{"day": d, "gpu": g, "user": u, **v} for (d, g, u), v in merged]


def gpu_rows(conn: Connection, host: int) -> list[tuple]:
    """(id, uuid, index, name, pci_bus_id, memory_total_mib, last hour) of a host's GPUs,
    newest sighting first within an index."""
    return conn.execute(
        "SELECT id, uuid, idx, name, pci_bus_id, memory_total_mib, last_hour FROM hub_gpus "
        "WHERE host = ? ORDER BY idx, last_hour DESC, id",
        (host,),
    ).fetchall()


def _how(field: str) -> str:
    """How a roll-up column of several hosts combines: max, min, mean (by samples) or sum."""
    if field.endswith("_max") or field.startswith("peak_"):
        return "max"
    if field.endswith("_min"):
        return "min"
    return "mean" if field.endswith("_mean") or field.startswith("avg_") else "sum"


def combine(groups: Iterable[Iterable[dict]], keys: Sequence[str]) -> list[dict]:
    """Rows of several hosts merged by `keys` (a fleet's day or hour): sums, maxima, minima,
    and means weighted by samples."""
    merged: dict[tuple, dict] = {}
    weights: dict[tuple, dict[str, float]] = {}
    for rows in groups:
        for row in rows:
            k = tuple(row[f] for f in keys)
            cur, w = merged.setdefault(k, dict.fromkeys(row)), weights.setdefault(k, {})
            cur.update({f: row[f] for f in keys})
            for field, value in row.items():
                if field in keys or value is None:
                    continue
                _merge_value(cur, w, field, value, row.get("samples") or 0)
    return [merged[k] for k in sorted(merged)]


def _merge_value(cur: dict, weights: dict, field: str, value, samples: int) -> None:
    """Fold one host's value of `field` into the fleet's row; means weigh by samples."""
    old, how = cur.get(field), _how(field)
    if how != "mean":
        cur[field] = merge_value(how, old, value)
        return
    total = weights.get(field, 0)
    if old is None or total + samples == 0:
        cur[field] = value
    else:
        cur[field] = (old * total + value * samples) / (total + samples)
    weights[field] = total + samples
