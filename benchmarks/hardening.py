"""Benchmark the api's hardening under real gunicorn on loopback (2 workers each).

1. Slow clients: 64 slowloris connections (one header line a second, never finished) and 256
   idle ones are held open (reopened when dropped) while a fresh client asks for /health and
   a cached SVG one request at a time, over a new connection each, with a 5 s timeout.
   Prints answered/total and p99 for the shipped config (gevent) and for the previous one
   (gthread, 4 threads a worker, given to gunicorn on its command line); target with
   gevent: everything answered, p99 <= 1 s.
2. Cached-SVG throughput of both configs with no hostile client, in alternating rounds
   under `wrk` with 4 and with 64 keep-alive connections; prints the median of the
   per-round ratios; target: gevent within 20 % of gthread.
3. The widest allowed range on a hub of 50 hosts: the hub's tables hold --days of hours for
   every host (a whole-host row and a user's row an hour; one host also has 8 GPUs), and
   each view that takes from..to is asked once, cold, for the widest range it allows with
   host=all and with one host. Prints each time and the longest.
4. The prune lock under concurrent load: runs benchmarks/prune.py (40 days of 8 GPUs pruned
   beside a writer, a reader and two busy processes) and prints its longest write-lock hold
   against GPUPULSE_PRUNE_LOCK_MS; target: at most twice the budget.
5. The cost of refusing a 1 MiB body a hub cannot use: median and p99 time to answer a 1 MiB
   invalid JSON body with a valid token (400), the same with a bad token (401), beside an
   invalid 2-byte body, over --requests requests each.

Needs `wrk` (Debian: apt install wrk). On a shared machine, quote medians and ratios of one
run.

    .venv/bin/python benchmarks/hardening.py [--seconds 3] [--rounds 5] [--requests 100]
"""

from __future__ import annotations

import argparse
import http.client
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from api.settings import ApiSettings
from benchmarks.api import build_db, wrk
from store import atomic, open_db
from store import hub as hubstore
from store.samples import set_meta
from tests.support.servers import start_gunicorn, stop
from tests.support.slow_clients import SlowClients

SLOW, IDLE, TIMEOUT_S = 64, 256, 5.0
GTHREAD = ("-k", "gthread", "--threads", "4")  # the config the api shipped before gevent
SVG = "/gpu-activity.svg"
INGEST = "/api/v1/ingest"
HOSTS, HUB_GPUS = 50, 8
# wrk keep-alive connections: a few clients (which may all land on one gevent worker, so
# that it measures one core) and many (more than gthread's 8 threads).
CONNECTIONS = (4, 64)


def port_of(base: str) -> int:
    """The port of a base URL."""
    return int(base.rsplit(":", 1)[1])


def timed(
    port: int, method: str, path: str, body: bytes | None = None, token: str = ""
) -> tuple[int | None, float]:
    """(status, seconds) of one request over a new connection; status None when it failed
    or timed out."""
    headers = {"Accept-Encoding": "gzip"}
    if body is not None:
        headers |= {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    start = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT_S)
    try:
        conn.request(method, path, body, headers)
        reply = conn.getresponse()
        reply.read()
        return reply.status, time.perf_counter() - start
    except OSError:
        return None, time.perf_counter() - start
    finally:
        conn.close()


def one_request(port: int, path: str) -> float | None:
    """Seconds one GET over a new connection took, or None when it failed or timed out."""
    status, took = timed(port, "GET", path)
    return took if status == 200 else None


def p99(times: list[float]) -> float:
    """The 99th percentile of at least one time."""
    return statistics.quantiles(times, n=100)[98] if len(times) > 1 else times[0]


def availability(port: int, path: str, count: int, budget_s: float) -> tuple[int, int, float]:
    """(answered, asked, p99 s) of up to `count` fresh-client GETs within `budget_s`; a
    failure counts as the full timeout in the p99."""
    times: list[float] = []
    answered = 0
    end = time.monotonic() + budget_s
    while len(times) < count and time.monotonic() < end:
        took = one_request(port, path)
        answered += took is not None
        times.append(TIMEOUT_S if took is None else took)
    return answered, len(times), p99(times)


def slow_client_rows(name: str, base: str, requests: int) -> list[str]:
    """Availability of /health and the cached SVG while hostile clients hold connections."""
    port = port_of(base)
    one_request(port, SVG)  # render once: later requests are cache hits
    rows = []
    with SlowClients(port, SLOW, IDLE) as hostile:
        time.sleep(2)  # every slow client has trickled more headers by now
        for path in ("/health", SVG):
            ok, asked, p99_s = availability(port, path, requests, budget_s=60)
            rows.append(f"{name:<10}{path:<20}{ok:>5}/{asked:<5}{p99_s * 1000:>10.0f} ms")
        rows.append(f"{name:<10}(hostile connections opened: {hostile.opened})")
    return rows


def throughput(
    ports: dict[str, int], rounds: int, seconds: float, connections: int
) -> tuple[dict, list[float]]:
    """Median cached-SVG requests/s of each config, and gevent/gthread per round."""
    rates: dict[str, list[float]] = {name: [] for name in ports}
    for _ in range(rounds):
        for name, port in ports.items():
            rates[name].append(wrk(port, SVG, seconds, connections)[0])
    ratios = [g / t for g, t in zip(rates["gevent"], rates["gthread"], strict=True)]
    return {name: statistics.median(r) for name, r in rates.items()}, ratios


def build_hub(path: Path, days: int, today: date) -> None:
    """A hub database whose 50 hosts each sent `days` of hours up to today."""
    conn = open_db(path, migrate=True)
    now = int(time.time())
    first_hour = int(time.mktime((today - timedelta(days=days)).timetuple())) // 3600 * 3600
    hours = range(first_hour, now // 3600 * 3600, 3600)
    with atomic(conn):
        set_meta(conn, [("host_id", "hub"), ("interval", "3600")])
        for h in range(1, HOSTS + 1):
            conn.execute(
                "INSERT INTO hub_hosts (id, name, source, created) VALUES (?,?, 'push', ?)",
                (h, f"host-{h:02d}", now),
            )
        for g in range(1, HUB_GPUS + 1):
            conn.execute(
                "INSERT INTO hub_gpus (id, host, uuid, idx, name, last_hour) VALUES (?,1,?,?,?,?)",
                (g, f"GPU-{g:04d}", g - 1, "NVIDIA H100", hours[-1]),
            )
        columns = "host, hour, gpu, samples, active_ms, gpu_active_ms, util_sum, util_n, util_max"
        rows = [
            (h, hour, g, 720, 1_800_000, 1_800_000 * (1 if g else HUB_GPUS), 36_000, 720, 90)
            for h in range(1, HOSTS + 1)
            for hour in hours
            for g in ([0, *range(1, HUB_GPUS + 1)] if h == 1 else [0])
        ]
        conn.executemany(f"INSERT INTO hub_hourly ({columns}) VALUES (?,?,?,?,?,?,?,?,?)", rows)
        users = [
            (h, hour, 0, f"user{h % 7}", 1800.0, 4096)
            for h in range(1, HOSTS + 1)
            for hour in hours
        ]
        conn.executemany("INSERT INTO hub_user_hourly VALUES (?,?,?,?,?,?)", users)
    conn.close()


def widest_ranges(today: date) -> list[str]:
    """Each view taking from..to, asked for the widest range it allows, as host=all and as one
    host (the defaults of the settings: the roll-ups' retention)."""
    limits = ApiSettings()
    daily, hourly = limits.span_days(), limits.span_days(hourly=True)
    paths = []
    for view, days in (
        ("/api/v1/days", daily),
        ("/api/v1/usage", daily),
        ("/api/v1/hours", hourly),
        ("/charts/hours.svg", hourly),
    ):
        first = today - timedelta(days=days - 1)
        for host in ("all", "host-01"):
            paths.append(f"{view}?host={host}&from={first}&to={today}")
    return paths


def hub_rows(days: int) -> list[str]:
    """Cold request times for the widest allowed ranges on a hub of 50 hosts."""
    today = date.today()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "hub.db"
        start = time.perf_counter()
        build_hub(db, days, today)
        rows.append(
            f"hub of {HOSTS} hosts, {days} days of hours built in "
            f"{time.perf_counter() - start:.0f} s"
        )
        proc, base = start_gunicorn(db)
        try:
            times = []
            for path in widest_ranges(today):
                took = one_request(port_of(base), path)
                if took is None:
                    raise SystemExit(f"{path} did not answer 200")
                times.append(took)
                rows.append(f"  {took * 1000:>8.0f} ms  {path}")
            rows.append(f"longest request for the widest allowed range: {max(times) * 1000:.0f} ms")
        finally:
            stop(proc)
    return rows


def rejection_rows(requests: int) -> list[str]:
    """How long a hub takes to refuse a 1 MiB body: invalid JSON, and a bad token."""
    body = b'{"host": "host-01", "gpus": [' + b"x" * (1024 * 1024 - 40) + b"]}"
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "hub.db"
        conn = open_db(db, migrate=True)
        token = hubstore.add_host(conn, "host-01", time.time())
        conn.close()
        proc, base = start_gunicorn(db, GPUPULSE_HUB_RATE="100000")
        port = port_of(base)
        try:
            for label, use in (("invalid 1 MiB body", token), ("bad token, 1 MiB", "nope")):
                answers = [timed(port, "POST", INGEST, body, use) for _ in range(requests)]
                codes = sorted({c for c, _t in answers})
                times = [t for _c, t in answers]
                rows.append(
                    f"  {label:<22} answered {codes}: median {statistics.median(times) * 1000:.1f}"
                    f" ms, p99 {p99(times) * 1000:.1f} ms"
                )
            small = [timed(port, "POST", INGEST, b"{}", token)[1] for _ in range(requests)]
            rows.append(
                f"  {'invalid 2-byte body':<22} median {statistics.median(small) * 1000:.1f} ms"
            )
        finally:
            stop(proc)
    return rows


def prune_rows() -> list[str]:
    """The prune benchmark's own figures (it runs in its own processes)."""
    done = subprocess.run(
        [sys.executable, str(Path(__file__).with_name("prune.py"))],
        capture_output=True,
        text=True,
        timeout=3600,
    )
    if done.returncode != 0:
        raise SystemExit(f"benchmarks/prune.py failed: {done.stderr.strip()[-500:]}")
    return [f"  {line}" for line in done.stdout.splitlines()]


def main() -> None:
    """Run each part and print its figures."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=3)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--requests", type=int, default=100)
    ap.add_argument("--days", type=int, default=ApiSettings().span_days())
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "pulse.db"
        build_db(db)
        servers = {
            "gevent": start_gunicorn(db),
            "gthread": start_gunicorn(db, gunicorn_args=GTHREAD),
        }
        try:
            print(
                f"1. {SLOW} slowloris + {IDLE} idle connections held; fresh client, "
                f"{TIMEOUT_S:g} s timeout"
            )
            print(f"{'config':<10}{'path':<20}{'answered':>11}{'p99':>13}")
            for name, (_proc, base) in servers.items():
                for row in slow_client_rows(name, base, args.requests):
                    print(row)
            ports = {name: port_of(base) for name, (_proc, base) in servers.items()}
            measured = {c: throughput(ports, args.rounds, args.seconds, c) for c in CONNECTIONS}
        finally:
            for proc, _base in servers.values():
                stop(proc)
    for connections, (medians, ratios) in measured.items():
        ratio = statistics.median(ratios)
        print(
            f"2. cached SVG, wrk {connections} connections, {args.rounds} alternating "
            f"{args.seconds:g} s rounds: gevent median {medians['gevent']:.0f} req/s, gthread "
            f"{medians['gthread']:.0f} req/s; per-round ratios "
            f"{', '.join(f'{r:.0%}' for r in ratios)}"
        )
        print(
            f"   gevent / gthread (median of rounds): {ratio:.0%} (target >= 80 %): "
            f"{'ok' if ratio >= 0.8 else 'MISSED'}"
        )
    print("3. widest allowed from..to, cold, one request each")
    for row in hub_rows(args.days):
        print(row)
    print("4. prune under concurrent load")
    for row in prune_rows():
        print(row)
    print(f"5. refusing a 1 MiB body on a hub, {args.requests} requests each")
    for row in rejection_rows(args.requests):
        print(row)


if __name__ == "__main__":
    main()
