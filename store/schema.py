"""The schema and its ordered migrations, versioned with PRAGMA user_version.

Only the collector migrates (at start). The scheduler and api call check_schema() and
refuse to run against an older or newer schema. Append migrations; never edit one that
has shipped.
"""

from __future__ import annotations

from store.db import Connection, atomic

# Version 1: what the collector writes. Times are UTC unix seconds throughout.
V1_COLLECTOR = """
CREATE TABLE gpus (
    id INTEGER PRIMARY KEY,
    uuid TEXT NOT NULL UNIQUE,
    idx INTEGER NOT NULL,
    name TEXT NOT NULL,
    pci_bus_id TEXT,
    memory_total_mib INTEGER,
    first_seen INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    lost_at INTEGER              -- set while NVML reports the GPU lost
);

-- One row per GPU per tick, clustered by time: no rowid and no extra index keeps a
-- row near 42 bytes on disk. NULL means the driver does not report that field.
CREATE TABLE samples (
    ts INTEGER NOT NULL,
    gpu INTEGER NOT NULL REFERENCES gpus(id),
    tick_ms INTEGER NOT NULL,    -- how much time this sample stands for
    util INTEGER,                -- GPU utilization, %
    mem_util INTEGER,            -- memory-controller utilization, %
    mem_used_mib INTEGER,
    temp_c INTEGER,
    fan_pct INTEGER,
    power_dw INTEGER,            -- deciwatts
    energy_j INTEGER,            -- driver energy counter, joules since driver load
    sm_mhz INTEGER,
    mem_mhz INTEGER,
    pstate INTEGER,
    active_ms INTEGER,           -- time above the threshold in this tick (sample buffer)
    PRIMARY KEY (ts, gpu)
) WITHOUT ROWID;

-- A process is (pid, start time) so that a reused PID is a new process.
CREATE TABLE processes (
    id INTEGER PRIMARY KEY,
    pid INTEGER NOT NULL,
    started INTEGER NOT NULL,
    user TEXT,
    command TEXT,
    first_seen INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    UNIQUE (pid, started)
);

CREATE TABLE process_samples (
    ts INTEGER NOT NULL,
    gpu INTEGER NOT NULL REFERENCES gpus(id),
    process INTEGER NOT NULL REFERENCES processes(id),
    mem_mib INTEGER,
    sm_util INTEGER,             -- % of the GPU's SM time, where NVML gives it
    PRIMARY KEY (ts, gpu, process)
) WITHOUT ROWID;

CREATE TABLE events (
    id INTEGER PRIMARY KEY,
    ts INTEGER NOT NULL,
    kind TEXT NOT NULL,          -- gpu_lost, gpu_back, nvml_reinit, samples_dropped, ...
    gpu INTEGER REFERENCES gpus(id),
    detail TEXT
);

CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
"""

# Version 2: the scheduler's roll-ups. gpu = 0 is the whole host.
V2_ROLLUPS = """
CREATE TABLE hourly (
    hour INTEGER NOT NULL,       -- start of the UTC hour
    gpu INTEGER NOT NULL,
    samples INTEGER NOT NULL,
    active_s REAL NOT NULL,
    util_mean REAL,
    util_max INTEGER,
    mem_util_mean REAL,
    mem_used_mean REAL,
    mem_used_max INTEGER,
    temp_mean REAL,
    temp_max INTEGER,
    power_mean REAL,             -- watts
    power_max REAL,
    energy_wh REAL,
    sm_mhz_mean REAL,
    mem_mhz_mean REAL,
    gpu_active_s REAL NOT NULL,  -- sum over GPUs (equals active_s on a GPU row)
    util_min INTEGER,
    mem_util_max INTEGER,
    mem_used_min INTEGER,
    temp_min INTEGER,
    power_min REAL,
    fan_mean REAL,
    fan_max INTEGER,
    process_rows INTEGER NOT NULL,  -- process_samples rows rolled up (late-data audit)
    -- Exact sums and counts of utilization readings, over all samples and over active ones:
    -- the push payload carries them so a hub can rebuild the host's days exactly.
    util_sum INTEGER NOT NULL DEFAULT 0,
    util_n INTEGER NOT NULL DEFAULT 0,
    act_util_sum INTEGER NOT NULL DEFAULT 0,
    act_util_n INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (hour, gpu)
) WITHOUT ROWID;

-- Per-user GPU-seconds and peak memory per UTC hour (for the push payload; kept with hourly).
-- gpu 0: the user's total on the host, peak memory being the largest per-tick sum over GPUs.
CREATE TABLE user_hourly (
    hour INTEGER NOT NULL,
    gpu INTEGER NOT NULL,
    user TEXT NOT NULL,
    gpu_seconds REAL NOT NULL,
    peak_mem_mib INTEGER,
    PRIMARY KEY (hour, gpu, user)
) WITHOUT ROWID;

CREATE TABLE daily (
    day TEXT NOT NULL,           -- YYYY-MM-DD in GPUPULSE_TZ
    gpu INTEGER NOT NULL,
    samples INTEGER NOT NULL,
    active_minutes REAL NOT NULL,
    gpu_minutes REAL NOT NULL,
    peak_utilization INTEGER,
    avg_utilization REAL,
    avg_active_utilization REAL,
    energy_kwh REAL,
    PRIMARY KEY (day, gpu)
) WITHOUT ROWID;

CREATE TABLE user_daily (
    day TEXT NOT NULL,
    gpu INTEGER NOT NULL,
    user TEXT NOT NULL,
    gpu_seconds REAL NOT NULL,
    peak_mem_mib INTEGER,
    PRIMARY KEY (day, gpu, user)
) WITHOUT ROWID;

-- Watermarks and the data version readers use to invalidate caches.
CREATE TABLE rollup_state (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;

-- Hours whose raw data changed and must be rolled up again (filled by the late-data audit).
CREATE TABLE rollup_dirty (
    hour INTEGER PRIMARY KEY
);

-- One row per hourly aggregate to deliver to the central server (Targoman protocol).
CREATE TABLE push_queue (
    hour INTEGER PRIMARY KEY,    -- start of the UTC hour
    state TEXT NOT NULL,         -- pending, sent, failed
    attempts INTEGER NOT NULL,   -- attempts since it was last queued
    next_at INTEGER NOT NULL,    -- not before this UTC second (backoff)
    payload TEXT NOT NULL,       -- the JSON body, frozen when queued
    payload_hash TEXT NOT NULL,  -- sha256 of payload
    uid TEXT,                    -- the server's uid once accepted
    last_error TEXT,
    updated INTEGER NOT NULL
);
CREATE INDEX push_queue_state ON push_queue (state, hour);

-- Every push attempt, kept as long as hourly roll-ups.
CREATE TABLE push_ledger (
    id INTEGER PRIMARY KEY,
    hour INTEGER NOT NULL,
    attempt INTEGER NOT NULL,    -- 1, 2, ... per hour, across resends
    ts REAL NOT NULL,            -- UTC seconds of the attempt
    success INTEGER NOT NULL,
    status INTEGER,              -- HTTP status, NULL for connection errors and timeouts
    error TEXT,
    uid TEXT,
    payload_hash TEXT NOT NULL
);
CREATE INDEX push_ledger_hour ON push_ledger (hour, attempt);
"""

# Version 3: the idle-GPU runner's record of each job run, kept apart from people's usage.
# idle_run_processes names the (pid, started) of every job process the runner saw on a GPU,
# so roll-ups can tell harvested hours from people's by joining processes(pid, started).
V3_IDLE_RUNS = """
CREATE TABLE idle_runs (
    id INTEGER PRIMARY KEY,
    job TEXT NOT NULL,           -- the [process-NAME] section's NAME
    gpus TEXT NOT NULL,          -- GPU indices, comma-separated
    pid INTEGER,                 -- leader (and process group id) of the job
    started INTEGER NOT NULL,
    updated INTEGER NOT NULL,    -- last time the runner saw the run (a heartbeat)
    stopped INTEGER,             -- NULL while running
    reason TEXT,                 -- why it stopped: exited 0, foreign process ..., tty ...
    gpu_seconds REAL NOT NULL,   -- run time x number of GPUs (so far, while running)
    UNIQUE (job, started)
);

CREATE INDEX idle_runs_started ON idle_runs (started);

CREATE TABLE idle_run_processes (
    pid INTEGER NOT NULL,
    started INTEGER NOT NULL,    -- with pid, matches processes(pid, started)
    run INTEGER NOT NULL REFERENCES idle_runs(id),
    PRIMARY KEY (pid, started)
) WITHOUT ROWID;
"""

# Version 4: lab features. A reservation books one GPU (by index, the number people
# use) for a person until a time; host '' is this host (a hub keeps other hosts' too).
V4_LAB = """
CREATE TABLE reservations (
    id INTEGER PRIMARY KEY,
    host TEXT NOT NULL DEFAULT '',
    gpu INTEGER NOT NULL,        -- GPU index
    name TEXT NOT NULL,          -- who booked it
    comment TEXT NOT NULL DEFAULT '',
    created INTEGER NOT NULL,    -- UTC seconds
    until INTEGER                -- UTC seconds; NULL: until someone removes it
);

CREATE INDEX reservations_gpu ON reservations (host, gpu);
"""

# Version 5: the hub (hosts, their tokens, what they push).
# Remote hosts' GPUs get ids of their own (hub_gpus); gpu = 0 is a host's whole-host row.
# Hourly rows keep sums and counts, so days in any whole-hour zone add up exactly.
V5_HUB = """
CREATE TABLE hub_hosts (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    token_hash TEXT,             -- sha256 hex of the bearer token; NULL for polled hosts
    source TEXT NOT NULL,        -- push or pull
    created INTEGER NOT NULL,
    revoked INTEGER,             -- set by `gpupulse-api hosts revoke`: the token stops working
    last_ingest INTEGER,
    rate_tokens REAL,            -- token bucket of the per-host rate limit
    rate_at REAL
);

CREATE TABLE hub_gpus (
    id INTEGER PRIMARY KEY,
    host INTEGER NOT NULL REFERENCES hub_hosts(id),
    uuid TEXT NOT NULL,
    idx INTEGER,
    name TEXT,
    pci_bus_id TEXT,
    memory_total_mib INTEGER,
    last_hour INTEGER NOT NULL,
    UNIQUE (host, uuid)
);

CREATE TABLE hub_hourly (
    host INTEGER NOT NULL REFERENCES hub_hosts(id),
    hour INTEGER NOT NULL,       -- start of the UTC hour
    gpu INTEGER NOT NULL,        -- hub_gpus.id, 0 = the whole host
    samples INTEGER NOT NULL,
    active_ms INTEGER NOT NULL,  -- wall-clock on the host row
    gpu_active_ms INTEGER NOT NULL,
    util_sum INTEGER,            -- sum and count of utilization readings
    util_n INTEGER,
    act_util_sum INTEGER,        -- the same over active samples; NULL when not sent
    act_util_n INTEGER,
    energy_j REAL,
    util_mean REAL, util_min INTEGER, util_max INTEGER,
    mem_util_mean REAL, mem_util_max INTEGER,
    mem_used_mean REAL, mem_used_min INTEGER, mem_used_max INTEGER,
    temp_mean REAL, temp_min INTEGER, temp_max INTEGER,
    fan_mean REAL, fan_max INTEGER,
    power_mean REAL, power_min REAL, power_max REAL,
    sm_mhz_mean REAL, mem_mhz_mean REAL,
    PRIMARY KEY (host, hour, gpu)
) WITHOUT ROWID;

CREATE TABLE hub_user_hourly (
    host INTEGER NOT NULL REFERENCES hub_hosts(id),
    hour INTEGER NOT NULL,
    gpu INTEGER NOT NULL,        -- 0: the user's total on the host
    user TEXT NOT NULL,
    gpu_seconds REAL NOT NULL,
    peak_mem_mib INTEGER,
    PRIMARY KEY (host, gpu, hour, user)  -- a user's host totals (gpu 0) read as one range
) WITHOUT ROWID;

-- What each host-hour was last received as: the uid answered and the payload's hash.
CREATE TABLE hub_receipts (
    host INTEGER NOT NULL REFERENCES hub_hosts(id),
    hour INTEGER NOT NULL,
    uid TEXT NOT NULL,
    payload_hash TEXT NOT NULL,
    received INTEGER NOT NULL,
    PRIMARY KEY (host, hour)
) WITHOUT ROWID;

-- Each host's newest live snapshot (GPUs, processes, reservations) as received.
CREATE TABLE hub_status (
    host INTEGER PRIMARY KEY REFERENCES hub_hosts(id),
    received INTEGER NOT NULL,
    every_s INTEGER NOT NULL,    -- how often the host sends: stale after 3 missed
    body TEXT NOT NULL,
    error TEXT                   -- why the last poll of a pulled host failed (then stale)
);
"""

# Version 6: readings of real drivers. MIG devices are GPUs of their own (their parent's
# UUID and their profile); three more readings that change every tick; and each GPU's
# slow-changing state in a table of its own, written only when something in it changes, so
# a sample row stays small.
V6_DRIVER_READINGS = """
ALTER TABLE gpus ADD COLUMN parent_uuid TEXT;     -- the physical GPU of a MIG device
ALTER TABLE gpus ADD COLUMN mig_profile TEXT;     -- e.g. 1g.10gb
ALTER TABLE samples ADD COLUMN clocks_event INTEGER;  -- NVML clocks-event (throttle) reason bits
ALTER TABLE samples ADD COLUMN enc_util INTEGER;  -- video encoder utilization, %
ALTER TABLE samples ADD COLUMN dec_util INTEGER;  -- video decoder utilization, %

CREATE TABLE gpu_state (
    gpu INTEGER PRIMARY KEY REFERENCES gpus(id),
    updated INTEGER NOT NULL,    -- UTC seconds of the change
    activity TEXT,               -- how active time is measured: buffer, point, gpm, processes
    note TEXT,                   -- why a reading is missing (shown by the views)
    mem_reserved_mib INTEGER,    -- memory the driver reserves (not in mem_used_mib)
    power_limit_w REAL,          -- enforced power limit
    ecc_uncorrected INTEGER,     -- uncorrected ECC errors since the driver loaded
    retired_pages INTEGER,       -- pages retired after double-bit errors
    remapped_rows INTEGER,       -- rows remapped after uncorrectable errors
    xid_count INTEGER,           -- Xid critical errors seen by this collector
    xid_last INTEGER,            -- the newest Xid code
    pcie_tx_kbs INTEGER,         -- PCIe throughput, KB/s, read once a minute
    pcie_rx_kbs INTEGER
) WITHOUT ROWID;
"""

# Version 7: which workload a process belongs to (from its cgroup file): its container, its
# Kubernetes pod, its Slurm job or its systemd unit; inside a container every job is often
# "root", and the workload is then the name that tells jobs apart.
V7_WORKLOADS = """
ALTER TABLE processes ADD COLUMN workload TEXT;     -- slurm job 17, pod 3d274242, docker 9d5b…
ALTER TABLE processes ADD COLUMN workload_id TEXT;  -- the whole id: 17.0, the pod UID, ...
"""

# Version 8: a MIG device's GPU instance id as the driver numbers it, so Prometheus series
# name the instance the way NVIDIA's dcgm-exporter does (its GPU_I_ID label).
V8_GPU_INSTANCE = """
ALTER TABLE gpus ADD COLUMN gpu_instance INTEGER;  -- a MIG device's GPU instance id
"""

# Version 9: who may send to a hub, and which of a host-hour's versions is the newest. A
# host added with --targoman presents its token as Targoman's X-Contract-Number, and its
# zone-less times are read in its zone; a receipt keeps when its payload was built, so an
# older version replayed late cannot replace a newer one; every request, accepted or not,
# takes from the buckets of its client address and of the token it presented.
V9_HUB_SENDERS = """
ALTER TABLE hub_hosts ADD COLUMN targoman INTEGER NOT NULL DEFAULT 0;  -- token as contract no.
ALTER TABLE hub_hosts ADD COLUMN tz TEXT;            -- zone of its zone-less times; NULL: hub's
ALTER TABLE hub_receipts ADD COLUMN built_at REAL;   -- when the sender built it; NULL: unknown

CREATE TABLE hub_rate (
    key TEXT PRIMARY KEY,        -- addr:<client address> or token:<sha256 of what was presented>
    tokens REAL NOT NULL,        -- requests left in the bucket at `at`
    at REAL NOT NULL
) WITHOUT ROWID;
CREATE INDEX hub_rate_at ON hub_rate (at);
"""

# Version 10: held-idle time beside active time in every roll-up (store/held_idle.py has the
# definition). Hours that still have raw samples are rolled up again to fill it in.
V10_HELD_IDLE = """
ALTER TABLE hourly ADD COLUMN held_idle_s REAL NOT NULL DEFAULT 0;
ALTER TABLE daily ADD COLUMN held_idle_s REAL NOT NULL DEFAULT 0;
ALTER TABLE user_hourly ADD COLUMN held_idle_s REAL NOT NULL DEFAULT 0;
ALTER TABLE user_daily ADD COLUMN held_idle_s REAL NOT NULL DEFAULT 0;
INSERT OR IGNORE INTO rollup_dirty (hour) SELECT DISTINCT ts / 3600 * 3600 FROM samples;
"""

# Version 11: GPU time per workload (a process's container, pod, Slurm job or unit) and user
# per local day, for usage by workload; gpu 0 is the whole host, '' the processes without one.
V11_WORKLOAD_DAILY = """
CREATE TABLE workload_daily (
    day TEXT NOT NULL,
    gpu INTEGER NOT NULL,
    workload TEXT NOT NULL,
    user TEXT NOT NULL,
    gpu_seconds REAL NOT NULL,
    PRIMARY KEY (day, gpu, workload, user)
) WITHOUT ROWID;
INSERT OR IGNORE INTO rollup_dirty (hour) SELECT DISTINCT ts / 3600 * 3600 FROM samples;
"""

# Version 12: each user's share of the GPUs' energy (watt-hours) beside their GPU time.
V12_USER_ENERGY = """
ALTER TABLE user_hourly ADD COLUMN energy_wh REAL NOT NULL DEFAULT 0;
ALTER TABLE user_daily ADD COLUMN energy_wh REAL NOT NULL DEFAULT 0;
INSERT OR IGNORE INTO rollup_dirty (hour) SELECT DISTINCT ts / 3600 * 3600 FROM samples;
"""

# Version 13: the scheduler's open alert episodes (one row while a condition holds), so each
# is told once and its end once; the events table keeps their history.
V13_ALERTS = """
CREATE TABLE alert_state (
    key TEXT PRIMARY KEY,        -- held_idle:GPU, quota_80:USER, gpu_lost:GPU, host_stale:HOST, ...
    kind TEXT NOT NULL,
    gpu INTEGER,
    since INTEGER NOT NULL,      -- UTC seconds the episode began
    notified INTEGER NOT NULL,   -- 1 once its message was delivered
    title TEXT NOT NULL,
    recovered TEXT NOT NULL,     -- what to tell when it ends
    resolved INTEGER             -- when it ended, while its recovery message is still to go
) WITHOUT ROWID;
"""

# Version 14: pruning a process checks that no process sample still refers to it; without an
# index on the reference each deleted process read the whole process_samples table, and
# one retention chunk held the write lock for seconds.
V14_PROCESS_SAMPLES_BY_PROCESS = """
CREATE INDEX process_samples_process ON process_samples (process);
"""

MIGRATIONS: list[str] = [
    V1_COLLECTOR,
    V2_ROLLUPS,
    V3_IDLE_RUNS,
    V4_LAB,
    V5_HUB,
    V6_DRIVER_READINGS,
    V7_WORKLOADS,
    V8_GPU_INSTANCE,
    V9_HUB_SENDERS,
    V10_HELD_IDLE,
    V11_WORKLOAD_DAILY,
    V12_USER_ENERGY,
    V13_ALERTS,
    V14_PROCESS_SAMPLES_BY_PROCESS,
]
SCHEMA_VERSION = len(MIGRATIONS)


class SchemaMismatch(RuntimeError):
    """The database's schema version is not the one this code was built for."""


def current_version(conn: Connection) -> int:
    """The database's PRAGMA user_version."""
    return conn.execute("PRAGMA user_version").fetchone()[0]


def migrate(conn: Connection, target: int = SCHEMA_VERSION) -> int:
    """Apply the migrations the database lacks, each in its own transaction."""
    version = current_version(conn)
    if version > SCHEMA_VERSION:
        raise SchemaMismatch(
            f"database schema v{version} is newer than this GPU Pulse (v{SCHEMA_VERSION}); "
            "upgrade all three services together"
        )
    for number in range(version + 1, target + 1):
        with atomic(conn):
            # executescript would COMMIT first; run statement by statement instead.
            for statement in _statements(MIGRATIONS[number - 1]):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {number}")
    return current_version(conn)


def check_schema(conn: Connection, expected: int = SCHEMA_VERSION) -> None:
    """Raise SchemaMismatch with a one-line reason unless the version is `expected`."""
    version = current_version(conn)
    if version < expected:
        raise SchemaMismatch(
            f"database schema v{version} is older than this service expects (v{expected}); "
            "start the collector first, it migrates the database"
        )
    if version > expected:
        raise SchemaMismatch(
            f"database schema v{version} is newer than this service (v{expected}); "
            "upgrade all three services together"
        )


def _statements(script: str) -> list[str]:
    """Split a migration into statements (our DDL has no ';' inside literals)."""
    lines = [line.split("--", 1)[0] for line in script.splitlines()]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]
