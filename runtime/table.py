"""Every GPUPULSE_* setting, once: its kind, default, what fits, what it means and who reads it.

The README's settings table and `.env.example` are generated from this table
(`scripts/settings_docs.py --write`), and each service's settings objects take their
defaults from it, so a default is written here and nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass

from runtime.kinds import (
    Choice,
    Endpoint,
    Flag,
    HostPort,
    Kind,
    Number,
    Path,
    TimeZone,
    seconds,
    whole,
)

COLLECTOR, SCHEDULER, API, IDLE, COMPOSE = "collector", "scheduler", "api", "idle", "compose"
SERVICES = (COLLECTOR, SCHEDULER, API, IDLE, COMPOSE)
EVERY = (COLLECTOR, SCHEDULER, API, IDLE)
SAMPLING = (COLLECTOR, IDLE)  # both build a GPU backend
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
MIB = 1 << 20


@dataclass(frozen=True)
class Setting:
    """One environment variable: `default` is its text as it would be set ('' = unset)."""

    name: str
    kind: Kind
    default: str
    doc: str
    readers: tuple[str, ...]
    shown: str = ""  # the README's default when it is not a plain value (markdown)

    def value(self) -> object:
        """The default as the services use it."""
        return self.kind.parse(self.default) if self.default else self.kind.unset()


@dataclass(frozen=True)
class Group:
    """Settings documented together, under one heading of `.env.example`."""

    title: str
    settings: tuple[Setting, ...]


URL, NAME, LIST, TOKEN = (Kind(label=word) for word in ("URL", "name", "list", "token"))

GROUPS = (
    Group(
        "Shared by every service",
        (
            Setting(
                "GPUPULSE_DB",
                Path(),
                "/var/lib/gpu-pulse/pulse.db",
                "The SQLite database all three services share.",
                EVERY,
            ),
            Setting(
                "GPUPULSE_ENV_FILE",
                Path(),
                "",
                "Without Docker: a file of `NAME=value` lines every command reads, as the "
                "systemd units do (a variable set in the command's own environment wins), so "
                "`sudo -u gpupulse collector --dry-run` sees the services' settings.",
                EVERY,
                shown="`/etc/gpu-pulse/env` when it exists",
            ),
            Setting(
                "GPUPULSE_TZ",
                TimeZone(),
                "UTC",
                "IANA time zone whose midnight splits days (graphs, daily roll-ups, imports).",
                (COLLECTOR, SCHEDULER, API),
            ),
            Setting(
                "GPUPULSE_ACTIVE_THRESHOLD",
                Number(0, 100),
                "1",
                "Utilization (%) above which a GPU counts as active.",
                EVERY,
            ),
            Setting(
                "GPUPULSE_LOG_LEVEL",
                Choice(LOG_LEVELS, upper=True),
                "INFO",
                "How much each service logs (for the api, gunicorn's level too).",
                EVERY,
            ),
            Setting(
                "GPUPULSE_HOST_ID",
                NAME,
                "",
                "This host's name in graphs, pushes and idempotency keys. The collector "
                "records it; compose runs the collector with `uts: host` so the default is "
                "the real host name; the scheduler falls back to what the collector recorded.",
                (COLLECTOR, SCHEDULER),
                shown="the hostname",
            ),
            Setting(
                "GPUPULSE_FAILURE_PAUSE",
                seconds(0, 3600),
                "30",
                "Seconds the collector and the scheduler wait, after printing what is wrong "
                "with the database (corrupt, read-only, a directory, another collector on "
                "it), before they exit with status 3, so a restart policy does not restart "
                "them in a tight loop. A stop signal ends the wait.",
                (COLLECTOR, SCHEDULER),
            ),
        ),
    ),
    Group(
        "Compose (host side)",
        (
            Setting(
                "GPUPULSE_PORT",
                whole(1, 65535, "port"),
                "8080",
                "Compose only: the host port the api is published on (the container always "
                "listens on 8080).",
                (COMPOSE,),
            ),
            Setting(
                "GPUPULSE_IMAGE_TAG",
                NAME,
                "latest",
                "Compose only: the tag of the images `docker compose` builds and runs "
                "(`gpu-pulse-collector:TAG`, …); the end-to-end test uses its own, so it never "
                "replaces a deployment's images.",
                (COMPOSE,),
            ),
        ),
    ),
    Group(
        "collector",
        (
            Setting(
                "GPUPULSE_BACKEND",
                Choice(("nvml", "simulated")),
                "nvml",
                "Collector source: `nvml` (the driver) or `simulated` (the demo fleet; never "
                "chosen automatically).",
                SAMPLING,
            ),
            Setting(
                "GPUPULSE_INTERVAL",
                seconds(1, 3600),
                "5",
                "Seconds between collector samples.",
                (COLLECTOR,),
            ),
            Setting(
                "GPUPULSE_BUFFER_TICKS",
                whole(1),
                "2880",
                "Ticks the collector keeps in memory while the database is locked or full "
                "(4 h at the default interval).",
                (COLLECTOR,),
            ),
            Setting(
                "GPUPULSE_PROC",
                Path(),
                "/proc",
                "Where the collector reads process owners and commands.",
                SAMPLING,
            ),
            Setting(
                "GPUPULSE_PASSWD",
                Path(),
                "/etc/passwd",
                "Passwd file for user names; `compose.yaml` sets `/host/etc/passwd` (the "
                "host's, read-only).",
                SAMPLING,
            ),
            Setting(
                "GPUPULSE_DOCKER_API",
                Endpoint(),
                "",
                "Optional Docker Engine API (socket or URL) the collector asks for container "
                "names, so workloads read `docker trainer`, not an id. Anyone who can use the "
                "Docker API controls the host: give a filtering proxy that allows only `GET "
                "/containers` (docs/lab.md).",
                SAMPLING,
                shown="empty (off)",
            ),
            Setting(
                "GPUPULSE_DRIVER_MISMATCH_EXIT",
                seconds(1, 86400),
                "300",
                "Seconds a driver/NVML library version mismatch (a driver upgraded without a "
                "reboot) may last before the collector exits, so Docker or systemd restarts "
                "it against the new driver.",
                SAMPLING,
            ),
            Setting(
                "GPUPULSE_SIM_BACKFILL_DAYS",
                whole(0, 3650, "days"),
                "0",
                "Simulated backend: days of history generated at first start (only while the "
                "database has no samples); the demo uses 21.",
                (COLLECTOR,),
            ),
            Setting(
                "GPUPULSE_SIM_GPUS",
                whole(1, 64),
                "4",
                "Simulated backend: number of GPUs.",
                SAMPLING,
            ),
            Setting(
                "GPUPULSE_SIM_PROCESSES",
                whole(0, 10_000),
                "0",
                "Simulated backend: number of processes (0 = the fleet's own mix).",
                SAMPLING,
            ),
            Setting(
                "GPUPULSE_SIM_SEED",
                whole(),
                "1",
                "Simulated backend: seed of the deterministic fleet.",
                SAMPLING,
            ),
        ),
    ),
    Group(
        "api",
        (
            Setting(
                "GPUPULSE_API_BIND",
                HostPort(),
                "0.0.0.0:8080",
                "`HOST:PORT` gunicorn binds; `compose.yaml` pins `0.0.0.0:8080` (change "
                "`GPUPULSE_PORT` there).",
                (API,),
            ),
            Setting(
                "GPUPULSE_API_WORKERS", whole(1, 64), "2", "gunicorn worker processes.", (API,)
            ),
            Setting(
                "GPUPULSE_API_CONNECTIONS",
                whole(10, 10_000),
                "1000",
                "Connections one worker holds open at most (gevent); more wait to be accepted.",
                (API,),
            ),
            Setting(
                "GPUPULSE_API_IDLE_TIMEOUT",
                seconds(1, 300, whole=True),
                "5",
                "Seconds a connection may take to send a request's line and headers, and may "
                "sit idle between requests, before it is closed (slow or idle clients).",
                (API,),
            ),
            Setting("GPUPULSE_API_ACCESS_LOG", Flag(), "false", "Log every request.", (API,)),
            Setting(
                "GPUPULSE_API_CACHE_MAX_AGE",
                seconds(0, 31_536_000, whole=True),
                "300",
                "`Cache-Control: max-age` of the SVG, seconds.",
                (API,),
            ),
            Setting(
                "GPUPULSE_API_SVG_CACHE_SIZE",
                whole(0, 100_000),
                "256",
                "Rendered SVGs kept in each worker's cache.",
                (API,),
            ),
            Setting(
                "GPUPULSE_DCGM_METRICS",
                Flag(),
                "true",
                "`/metrics` also serves NVIDIA dcgm-exporter's metric names and labels "
                "(`DCGM_FI_DEV_*`), so its Grafana dashboard works unmodified.",
                (API,),
            ),
        ),
    ),
    Group(
        "scheduler: roll-ups and retention",
        (
            Setting(
                "GPUPULSE_ROLLUP_EVERY",
                seconds(10, 86400, whole=True),
                "300",
                "Seconds between scheduler roll-up runs (today's partial day is as fresh as "
                "the last run).",
                (SCHEDULER,),
            ),
            Setting(
                "GPUPULSE_ROLLUP_LATENESS",
                seconds(0, 86400, whole=True),
                "900",
                "Seconds before the live watermark that each roll-up recomputes (late ticks "
                "from a buffered collector).",
                (SCHEDULER,),
            ),
            Setting(
                "GPUPULSE_ROLLUP_AUDIT_EVERY",
                seconds(60, whole=True),
                "3600",
                "Seconds between audits that find imported history in already rolled-up hours.",
                (SCHEDULER,),
            ),
            Setting(
                "GPUPULSE_PRUNE_EVERY",
                seconds(60, whole=True),
                "3600",
                "Seconds between retention runs.",
                (SCHEDULER,),
            ),
            Setting(
                "GPUPULSE_RETAIN_RAW_DAYS",
                whole(1, label="days"),
                "30",
                "Days of raw samples and process rows kept.",
                (SCHEDULER,),
            ),
            Setting(
                "GPUPULSE_RETAIN_HOURLY_DAYS",
                whole(1, label="days"),
                "365",
                "Days of hourly roll-ups, push queue, ledger and events kept; the api's hourly "
                "views span at most this many days.",
                (SCHEDULER, API),
            ),
            Setting(
                "GPUPULSE_RETAIN_DAILY_DAYS",
                whole(1, label="days"),
                "730",
                "Days of daily and per-user roll-ups kept (a 53-week graph needs more than 365); "
                "the api's daily views span at most this many days.",
                (SCHEDULER, API),
            ),
            Setting(
                "GPUPULSE_PRUNE_LOCK_MS",
                whole(5, 200, "milliseconds"),
                "100",
                "Write-lock budget of one pruning chunk, ms.",
                (SCHEDULER,),
            ),
        ),
    ),
    Group(
        "scheduler: push to a central server (Targoman gpu_monitor protocol)",
        (
            Setting(
                "GPUPULSE_PUSH_URL",
                URL,
                "",
                "Central server that receives hourly aggregates; empty means nothing is sent.",
                (SCHEDULER,),
            ),
            Setting(
                "GPUPULSE_CONTRACT_NUMBER",
                NAME,
                "",
                "Sent as `X-Contract-Number` and `contract_number`.",
                (SCHEDULER,),
            ),
            Setting(
                "GPUPULSE_PUSH_TOKEN",
                TOKEN,
                "",
                "Optional bearer token for the central server.",
                (SCHEDULER,),
            ),
            Setting(
                "GPUPULSE_OFFLINE",
                Flag(),
                "false",
                "Roll up but never send; when turned off the backlog goes out oldest first.",
                (SCHEDULER,),
            ),
            Setting(
                "GPUPULSE_PUSH_EVERY",
                seconds(1, 3600, whole=True),
                "60",
                "Seconds between push runs.",
                (SCHEDULER,),
            ),
            Setting(
                "GPUPULSE_PUSH_GRACE",
                seconds(0, 86400, whole=True),
                "120",
                "Seconds after an hour ends before its aggregate is queued.",
                (SCHEDULER,),
            ),
            Setting(
                "GPUPULSE_PUSH_TIMEOUT",
                seconds(0.1, 300),
                "10",
                "Deadline of one push attempt, seconds: connecting, sending and the whole "
                "answer (a stop signal ends it at once).",
                (SCHEDULER,),
            ),
            Setting(
                "GPUPULSE_PUSH_MAX_ATTEMPTS",
                whole(1),
                "10",
                "Attempts per aggregate before it is marked failed (then `scheduler --resend`).",
                (SCHEDULER,),
            ),
            Setting(
                "GPUPULSE_PUSH_BACKOFF_MIN",
                seconds(0.1),
                "5",
                "Smallest retry delay, seconds (full-jitter exponential backoff).",
                (SCHEDULER,),
            ),
            Setting(
                "GPUPULSE_PUSH_BACKOFF_MAX",
                seconds(1),
                "600",
                "Largest retry delay, seconds.",
                (SCHEDULER,),
            ),
            Setting(
                "GPUPULSE_PUSH_BATCH",
                whole(1),
                "500",
                "Most aggregates sent in one push run.",
                (SCHEDULER,),
            ),
            Setting(
                "GPUPULSE_PUSH_PER_REQUEST",
                whole(1, 1000),
                "",
                "Aggregates per HTTP request. `1` is the Targoman protocol; a hub takes "
                "arrays, so a backlog goes out 3–4x faster (at most 512 KiB a request; a "  # noqa: RUF001
                "refused array is sent again hour by hour).",
                (SCHEDULER,),
                shown="`50` when `GPUPULSE_PUSH_URL` ends in `/api/v1/ingest` (a GPU Pulse "
                "hub), else `1`",
            ),
        ),
    ),
    Group(
        "scheduler: process",
        (
            Setting(
                "GPUPULSE_HEARTBEAT",
                Path(),
                "",
                "File the scheduler touches each loop; `scheduler --healthcheck` reads it. "
                "Kept in the state directory, so a check from a shell sees the service's file.",
                (SCHEDULER,),
                shown="`scheduler.heartbeat` beside `GPUPULSE_DB`",
            ),
            Setting(
                "GPUPULSE_HEARTBEAT_MAX_AGE",
                seconds(5, whole=True),
                "300",
                "Heartbeat age (s) above which the scheduler counts as unhealthy.",
                (SCHEDULER,),
            ),
            Setting(
                "GPUPULSE_DB_WAIT",
                seconds(0.1, 600),
                "5",
                "Seconds between the scheduler's retries while the database is missing or "
                "not yet migrated.",
                (SCHEDULER,),
            ),
            Setting(
                "GPUPULSE_LOG_FILE", Path(), "", "Scheduler: also log to this file.", (SCHEDULER,)
            ),
        ),
    ),
    Group(
        "idle runner (`gpupulse-idle`, `collector idle-run`; docs/idle-run.md)",
        (
            Setting(
                "GPUPULSE_IDLE_HOLDOFF",
                seconds(0, 86400),
                "60",
                "Idle runner: seconds a GPU must be free of other processes before a job starts.",
                (IDLE,),
            ),
            Setting(
                "GPUPULSE_IDLE_GRACE",
                seconds(0, 3600),
                "10",
                "Idle runner: seconds between SIGTERM and SIGKILL when a job must give its "
                "GPU back.",
                (IDLE,),
            ),
            Setting(
                "GPUPULSE_IDLE_UTMP",
                Path(),
                "/var/run/utmp",
                "Idle runner: utmp file for the TTY watch.",
                (IDLE,),
            ),
            Setting(
                "GPUPULSE_IDLE_DEV",
                Path(),
                "/dev",
                "Idle runner: directory of the terminal devices named in utmp.",
                (IDLE,),
            ),
            Setting(
                "GPUPULSE_IDLE_LOG",
                Path(),
                "",
                "Idle runner: log file (appended); also takes the output of jobs without `log=`.",
                (IDLE,),
                shown="stderr",
            ),
        ),
    ),
    Group(
        "lab: quotas, display names, reservations (docs/lab.md)",
        (
            Setting(
                "GPUPULSE_QUOTAS",
                LIST,
                "",
                "Monthly GPU-hour quotas, `alice=200,bob=50,*=100` (`*` = everyone else).",
                (SCHEDULER, API),
            ),
            Setting(
                "GPUPULSE_QUOTAS_FILE",
                Path(),
                "",
                "File of `user=hours` lines (`#` comments); `GPUPULSE_QUOTAS` wins where both "
                "name a user.",
                (SCHEDULER, API),
            ),
            Setting(
                "GPUPULSE_GPU_NAMES",
                LIST,
                "",
                "GPU display names by model name, index or UUID, e.g. `NVIDIA GeForce RTX "
                "4090=4090`; used by every view.",
                (API,),
            ),
            Setting(
                "GPUPULSE_USER_ALIASES",
                Path(),
                "",
                "File of `login = Display Name` lines; used by every view (the CSV export "
                "keeps logins).",
                (API,),
            ),
            Setting(
                "GPUPULSE_ADMIN_TOKEN",
                TOKEN,
                "",
                "Bearer token for reservation writes; unset, writes answer 403 saying how to "
                "enable them.",
                (API,),
                shown="empty (writes off)",
            ),
        ),
    ),
    Group(
        "lab: held idle, energy and alerts (docs/lab.md)",
        (
            Setting(
                "GPUPULSE_HELD_MEMORY",
                whole(1, 16 * MIB, "MiB"),
                "1024",
                "GPU memory (MiB) at or above which a process holds a GPU; a held GPU below "
                "the active threshold is held idle.",
                (SCHEDULER, API),
            ),
            Setting(
                "GPUPULSE_HELD_IDLE_ALERT",
                seconds(60, 30 * 86400, whole=True),
                "1800",
                "Seconds a GPU may stay held idle before the status page flags it and an "
                "alert goes out.",
                (SCHEDULER, API),
            ),
            Setting(
                "GPUPULSE_ALERT_URLS",
                LIST,
                "",
                "Apprise URLs the scheduler sends alerts to (held idle, quotas at 80 % and "
                "100 %, GPU lost, hub host stale, collector not writing), separated by commas "
                "or spaces, e.g. `mailtos://user:pass@example.com`, `ntfys://topic`, "
                "`json://host/path`; unset, alerts are only recorded in the events table.",
                (SCHEDULER,),
                shown="empty (recorded only)",
            ),
            Setting(
                "GPUPULSE_ALERT_EVERY",
                seconds(5, 3600, whole=True),
                "60",
                "Seconds between the scheduler's alert checks.",
                (SCHEDULER,),
            ),
            Setting(
                "GPUPULSE_CARBON_G_PER_KWH",
                Number(0, 5000),
                "",
                "Grid carbon intensity (g CO2e per kWh) for usage's and `/metrics`' kg CO2e; "
                "unset, none is reported.",
                (API,),
                shown="empty (none)",
            ),
            Setting(
                "GPUPULSE_PRICE_PER_KWH",
                Number(0),
                "",
                "Price of a kWh for usage's and `/metrics`' energy cost; unset, none is reported.",
                (API,),
                shown="empty (none)",
            ),
            Setting(
                "GPUPULSE_CURRENCY",
                NAME,
                "",
                "The price's currency as shown with costs, e.g. `EUR`.",
                (API,),
            ),
        ),
    ),
    Group(
        "hub: receiving pushes, live snapshots, pull mode (docs/hub.md)",
        (
            Setting(
                "GPUPULSE_HUB_MAX_BODY",
                whole(1024, 256 * MIB, "bytes"),
                str(MIB),
                "Hub: largest ingest/status body in bytes (413 above).",
                (API,),
            ),
            Setting(
                "GPUPULSE_HUB_MAX_BATCH",
                whole(1, 10_000),
                "100",
                "Hub: most payloads in one ingest array (400 above).",
                (API,),
            ),
            Setting(
                "GPUPULSE_HUB_RATE",
                Number(0.001),
                "5",
                "Hub: average requests/s allowed per token, every request counted, invalid "
                "ones too (429 with `Retry-After` above).",
                (API,),
            ),
            Setting(
                "GPUPULSE_HUB_ADDRESS_RATE",
                Number(0.001),
                "20",
                "Hub: average requests/s allowed per client address, every request counted, "
                "invalid ones too (429 with `Retry-After` above); raise it when many hosts "
                "reach the hub through one proxy or NAT address.",
                (API,),
            ),
            Setting(
                "GPUPULSE_HUB_BURST",
                Number(1),
                "600",
                "Hub: requests a token or an address may send at once (a backlog after days "
                "offline).",
                (API,),
            ),
            Setting(
                "GPUPULSE_HUB_CONTRACT_NUMBER",
                NAME,
                "",
                "Hub: when set, ingests must carry this `X-Contract-Number`.",
                (API,),
                shown="empty (any)",
            ),
            Setting(
                "GPUPULSE_HUB_MAX_SKEW",
                seconds(0, 86400, whole=True),
                "300",
                "Hub: seconds an hour's end may lie ahead of the hub's clock.",
                (API,),
            ),
            Setting(
                "GPUPULSE_STATUS_URL",
                URL,
                "",
                "Where the scheduler posts live snapshots for a hub's status page.",
                (SCHEDULER,),
                shown="`…/api/v1/status` beside a `…/api/v1/ingest` push URL, else off",
            ),
            Setting(
                "GPUPULSE_STATUS_EVERY",
                seconds(5, 3600, whole=True),
                "60",
                "Seconds between live snapshots; a hub marks a host stale after 3 missed.",
                (SCHEDULER,),
            ),
            Setting(
                "GPUPULSE_PULL_HOSTS",
                LIST,
                "",
                "Hub pull mode: hosts to poll, `name=url` or bare URLs, comma-separated.",
                (SCHEDULER,),
            ),
            Setting(
                "GPUPULSE_PULL_CONSUL_URL",
                URL,
                "",
                "Hub pull mode: Consul agent whose catalog lists the hosts to poll.",
                (SCHEDULER,),
            ),
            Setting(
                "GPUPULSE_PULL_CONSUL_SERVICE",
                NAME,
                "gpu-pulse",
                "Hub pull mode: the Consul service name.",
                (SCHEDULER,),
            ),
            Setting(
                "GPUPULSE_PULL_EVERY",
                seconds(5, 3600, whole=True),
                "60",
                "Hub pull mode: seconds between polls.",
                (SCHEDULER,),
            ),
            Setting(
                "GPUPULSE_PULL_TIMEOUT",
                seconds(0.1, 120),
                "5",
                "Hub pull mode: seconds per poll request (a silent host never blocks the others).",
                (SCHEDULER,),
            ),
            Setting(
                "GPUPULSE_PULL_BACKFILL_DAYS",
                whole(1, 366, "days"),
                "7",
                "Hub pull mode: days of hours the first poll of a host reads.",
                (SCHEDULER,),
            ),
        ),
    ),
)

SETTINGS: dict[str, Setting] = {s.name: s for group in GROUPS for s in group.settings}
