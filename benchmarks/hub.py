"""Benchmark the hub under real gunicorn (4 workers) on loopback.

1. Backfill: 50 hosts push a month of hourly aggregates of 8 GPUs each (the scheduler's real
   payloads, from a generated day of samples, re-addressed to each host and to the hours up
   to now) as arrays of --per-request payloads (GPUPULSE_PUSH_PER_REQUEST), from 2 client
   processes x 4 threads. Prints aggregates/s (an aggregate is one host-hour payload).
2. Ingest rounds under wrk (8 hosts at once, a new connection per request as the scheduler's
   urllib makes), alternating one payload per request (the Targoman protocol) and arrays of
   --per-request payloads. Prints the medians; target >= 2,000 aggregates/s with 4 workers.
3. Status: 50 hosts x 8 GPUs post live snapshots (3 processes per busy GPU, reservations),
   then the status page (`GET /` for a browser: a section per host with its summary) and
   GET /api/v1/hosts (the same summaries as JSON) are timed one request at a time, after the
   hosts' hours are in; target p50 <= 50 ms.

Needs `wrk` (Debian: apt install wrk). The hub's rate limits are lifted (GPUPULSE_HUB_RATE,
GPUPULSE_HUB_ADDRESS_RATE).

    .venv/bin/python benchmarks/hub.py [--hosts 50] [--hours 744] [--rounds 5] [--per-request 50]
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.api import serve
from scheduler import rollup
from scheduler.settings import load
from store import hub as hubstore
from store import open_db
from tests.support.fleet import add_gpus, generate, insert
from tests.support.servers import stop

GPUS = 8
START = int(datetime(2026, 1, 5, tzinfo=UTC).timestamp())


def template_payloads(tmp: Path) -> list[dict]:
    """The scheduler's own payloads for a generated day of 8 GPUs."""
    conn = open_db(tmp / "host.db", migrate=True)
    gpus = add_gpus(conn, GPUS)
    insert(conn, *generate(gpus, START, START + 86400, 60, seed=4))
    settings = load(
        {
            "GPUPULSE_DB": str(tmp / "host.db"),
            "GPUPULSE_HOST_ID": "template",
            "GPUPULSE_HEARTBEAT": str(tmp / "hb"),
        }
    )
    rollup.run(conn, settings, START + 86400 + 7200)
    rows = conn.execute("SELECT payload FROM push_queue ORDER BY hour").fetchall()
    conn.close()
    return [json.loads(body) for (body,) in rows]


def readdress(payload: dict, host: str, hour: int) -> dict:
    """A template payload as host `host` would send it for `hour`."""
    iso = datetime.fromtimestamp(hour, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        **payload,
        "host": host,
        "hour": hour,
        "idempotency_key": f"{host}/{iso}",
        "aggregation_time": iso,
    }


def encode(payloads: list[dict]) -> bytes:
    """One payload as an object, several as an array (GPUPULSE_PUSH_PER_REQUEST > 1)."""
    return json.dumps(
        payloads[0] if len(payloads) == 1 else payloads, separators=(",", ":")
    ).encode()


def client(port: int, jobs: list[tuple[str, bytes, int]], threads: int, out) -> None:
    """POST every (token, body, payloads) over keep-alive connections; report (payloads
    stored, failed requests)."""
    lock, done, errors = threading.Lock(), [0], [0]
    queue = list(jobs)

    def worker() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while True:
            with lock:
                if not queue:
                    break
                token, body, count = queue.pop()
            conn.request(
                "POST",
                "/api/v1/ingest",
                body,
                {
                    "Content-Type": "application/json",
                    "Authorization": f"Bearer {token}",
                    "X-Contract-Number": "bench",
                },
            )
            reply = conn.getresponse()
            reply.read()
            with lock:
                done[0] += count if reply.status == 200 else 0
                errors[0] += reply.status != 200

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    out.put((done[0], errors[0]))


def backfill(
    port: int, tokens: dict[str, str], templates: list[dict], hours: int, per_request: int
) -> None:
    """Every host's month up to now, in arrays of `per_request`; print aggregates/s."""
    first = (int(time.time()) // 3600 - hours) * 3600  # the hours up to now, as in real use
    jobs = []
    for host, token in tokens.items():
        mine = [
            readdress(templates[h % len(templates)], host, first + h * 3600) for h in range(hours)
        ]
        for i in range(0, hours, per_request):
            chunk = mine[i : i + per_request]
            jobs.append((token, encode(chunk), len(chunk)))
    out = multiprocessing.Queue()
    procs = [
        multiprocessing.Process(target=client, args=(port, jobs[i::2], 4, out)) for i in range(2)
    ]
    started = time.perf_counter()
    for p in procs:
        p.start()
    results = [out.get() for _ in procs]
    for p in procs:
        p.join()
    elapsed = time.perf_counter() - started
    stored, errors = sum(r[0] for r in results), sum(r[1] for r in results)
    print(
        f"backfill: {stored} aggregates ({len(tokens)} hosts x {hours} hours, {GPUS} GPUs "
        f"each, {per_request} per request, python client) in {elapsed:.1f} s = "
        f"{stored / elapsed:,.0f} aggregates/s, {errors} failed requests"
    )


LUA = """
local hosts = {HOSTS}
local per, base, close = PER, BASE, CLOSE
local tpl = [==[TEMPLATE]==]
local n, hour, refused = 0, {}, 0
wrk.method = "POST"
request = function()
  n = n + 1
  local h = hosts[(n % #hosts) + 1]
  local parts = {}
  for i = 1, per do
    hour[h[1]] = (hour[h[1]] or base) + 3600
    local at = hour[h[1]]
    parts[i] = tpl:gsub("__HOST__", h[1]):gsub("__HOUR__", tostring(at))
                  :gsub("__ISO__", os.date("!%Y-%m-%dT%H:%M:%SZ", at))
  end
  local body = per == 1 and parts[1] or "[" .. table.concat(parts, ",") .. "]"
  local headers = {["Content-Type"] = "application/json", ["X-Contract-Number"] = "bench",
                   ["Authorization"] = "Bearer " .. h[2]}
  if close then headers["Connection"] = "close" end  -- a new connection each, as urllib
  return wrk.format(nil, nil, headers, body)
end
response = function(status, headers, body)
  if status ~= 200 and refused < 3 then  -- the first few, on stderr (done() cannot see them)
    refused = refused + 1
    io.stderr:write("refused: " .. status .. " " .. body:sub(1, 200) .. "\\n")
  end
end
"""


def lua_script(tmp: Path, template: dict, tokens: dict[str, str], per: int, base: int) -> Path:
    """A wrk script posting `per` payloads per request, each host's hours from `base` on."""
    marked = {
        **template,
        "host": "__HOST__",
        "hour": "__HOUR__",
        "idempotency_key": "__HOST__/__ISO__",
        "aggregation_time": "__ISO__",
    }
    text = json.dumps(marked, separators=(",", ":")).replace('"__HOUR__"', "__HOUR__")
    hosts = ", ".join(f'{{"{h}", "{t}"}}' for h, t in tokens.items())
    script = (
        LUA.replace("{HOSTS}", "{" + hosts + "}")
        .replace("PER", str(per))
        .replace("BASE", str(base))
        .replace("CLOSE", "true")
        .replace("TEMPLATE", text)
    )
    path = tmp / f"ingest-{per}-{base}.lua"
    path.write_text(script)
    return path


def wrk_post(port: int, script: Path, seconds: float) -> tuple[float, int, str]:
    """(requests/s, non-2xx replies, the first few of them) of one wrk run: 8 connections,
    one thread."""
    out = subprocess.run(
        [
            "wrk",
            "-t1",
            "-c8",
            f"-d{seconds:g}s",
            "-s",
            str(script),
            f"http://127.0.0.1:{port}/api/v1/ingest",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    if "Requests/sec" not in out.stdout or out.stderr.strip().startswith(str(script)):
        raise SystemExit(f"wrk failed: {out.stderr.strip()}")
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out.stdout)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out.stdout).group(1))
    return (
        rps,
        int(bad.group(1)) if bad else 0,
        " | ".join(re.findall(r"refused: (.*)", out.stderr)),
    )


def ingest_rounds(
    port: int,
    tmp: Path,
    template: dict,
    tokens: dict[str, str],
    rounds: int,
    per_request: int,
    seconds: float,
) -> None:
    """Alternate one payload per request and arrays of them; print the medians."""
    hosts = dict(list(tokens.items())[:8])
    first = int(datetime(2001, 1, 1, tzinfo=UTC).timestamp())  # hours no other step uses
    got: dict[int, list[float]] = {1: [], per_request: []}
    for r in range(rounds):
        for per in got:  # fresh hours each round and kind: stored, never a repeat
            base = first + (2 * r + (per > 1)) * 10_000 * 3600
            rps, bad, why = wrk_post(port, lua_script(tmp, template, hosts, per, base), seconds)
            if bad:
                raise SystemExit(f"ingest ({per} per request): {bad} requests refused: {why}")
            got[per].append(rps * per)
    for per, rates in got.items():
        how = (
            "one payload per request (the Targoman protocol)"
            if per == 1
            else f"arrays of {per} payloads (GPUPULSE_PUSH_PER_REQUEST={per})"
        )
        median = statistics.median(rates)
        print(
            f"ingest, {how}: {median:,.0f} aggregates/s, median of {rounds} rounds "
            f"({', '.join(f'{v:,.0f}' for v in rates)}); target >= 2,000 aggregates/s: "
            f"{'ok' if median >= 2000 else 'MISSED'}"
        )


def snapshot(host: str, now: float) -> bytes:
    """A live snapshot: 8 GPUs, the even ones busy with 3 processes, one reservation."""
    gpus = []
    for i in range(GPUS):
        busy = i % 2 == 0
        procs = [
            {
                "pid": 1000 + 10 * i + k,
                "user": f"user{(i + k) % 7}",
                "command": "python train.py --epochs 90",
                "mem_mib": 4000 + k,
                "sm_util": 30,
            }
            for k in range(3 if busy else 0)
        ]
        gpus.append(
            {
                "uuid": f"GPU-{host}-{i}",
                "index": i,
                "name": "NVIDIA H100 80GB HBM3",
                "memory_total_mib": 81559,
                "ts": now,
                "util": 87 if busy else 0,
                "mem_util": 40,
                "mem_used_mib": 30000,
                "temp_c": 61,
                "fan_pct": None,
                "power_w": 512.5,
                "lost_at": None,
                "processes": procs,
            }
        )
    return json.dumps(
        {
            "host": host,
            "sent_at": now,
            "every_s": 60,
            "gpus": gpus,
            "reservations": [
                {"gpu": 1, "name": "dana", "comment": "deadline", "until": now + 86400}
            ],
        }
    ).encode()


def timed(port: int, path: str, rounds: int, headers: dict) -> tuple[int, float, float]:
    """(status, p50 ms, p99 ms) of one request at a time."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    took, status = [], 0
    for _ in range(rounds):
        t0 = time.perf_counter()
        conn.request("GET", path, headers=headers)
        reply = conn.getresponse()
        reply.read()
        status = reply.status
        took.append((time.perf_counter() - t0) * 1000)
    q = statistics.quantiles(took, n=100) if len(took) > 1 else took * 99
    return status, q[49], q[98]


def status_page(port: int, tokens: dict[str, str], rounds: int) -> None:
    """Post every host's snapshot, then time the summary views."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    for host, token in tokens.items():
        conn.request(
            "POST",
            "/api/v1/status",
            snapshot(host, time.time()),
            {"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
        )
        reply = conn.getresponse()
        reply.read()
        assert reply.status == 200, reply.status
    for name, path, headers in (
        ("/api/v1/hosts (host summaries, JSON)", "/api/v1/hosts", {}),
        ("status page GET / (HTML, a section per host)", "/", {"Accept": "text/html"}),
    ):
        code, p50, p99 = timed(port, path, rounds, headers)
        if code != 200:
            print(f"{name}: answered {code}, not measured")
            continue
        verdict = "ok" if p50 <= 50 else "MISSED"
        print(
            f"{name}, {len(tokens)} hosts x {GPUS} GPUs: p50 {p50:.1f} ms, p99 {p99:.1f} ms "
            f"(target p50 <= 50 ms): {verdict}"
        )


def after_ingests(port: int, tokens: dict[str, str], template: dict, hours: int) -> None:
    """The status page right after each of 20 ingests (every worker's fleet sums are stale,
    as in the minutes after each hour when hosts push): the cold case, printed apart."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    host, token = next(iter(tokens.items()))
    oldest = (int(time.time()) // 3600 - hours) * 3600
    took = []
    for i in range(20):
        body = encode([readdress(template, host, oldest - (i + 1) * 3600)])
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
        conn.request("POST", "/api/v1/ingest", body, headers)
        reply = conn.getresponse()
        reply.read()
        took.append(timed(port, "/", 1, {"Accept": "text/html"})[1])
    print(
        f"status page GET / right after an ingest (fleet sums rebuilt): median "
        f"{statistics.median(took):.1f} ms, max {max(took):.1f} ms"
    )


def main() -> None:
    """Build the hub, run every scenario, print the figures."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--hosts", type=int, default=50)
    p.add_argument("--hours", type=int, default=744, help="hours per host (744: a month)")
    p.add_argument("--rounds", type=int, default=5, help="alternating wrk ingest rounds")
    p.add_argument("--seconds", type=float, default=5, help="length of one wrk run")
    p.add_argument("--per-request", type=int, default=50, help="payloads in one array")
    p.add_argument("--status-rounds", type=int, default=200)
    args = p.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("benchmarks/hub.py needs wrk: apt install wrk")
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        templates = template_payloads(tmp_path)
        hub_db = tmp_path / "hub.db"
        conn = open_db(hub_db, migrate=True)
        tokens = {
            f"gpu-{i:03d}": hubstore.add_host(conn, f"gpu-{i:03d}", time.time())
            for i in range(args.hosts)
        }
        conn.close()
        proc, port = serve(
            hub_db,
            workers=4,
            GPUPULSE_HUB_RATE="100000",
            GPUPULSE_HUB_ADDRESS_RATE="100000",
            GPUPULSE_HUB_BURST="100000",
        )
        try:
            print(
                f"hub: gunicorn 4 workers (gthread) on loopback, {multiprocessing.cpu_count()} "
                "CPUs shared with the clients"
            )
            backfill(port, tokens, templates, args.hours, args.per_request)
            ingest_rounds(
                port, tmp_path, templates[12], tokens, args.rounds, args.per_request, args.seconds
            )
            status_page(port, tokens, args.status_rounds)
            after_ingests(port, tokens, templates[0], args.hours)
        finally:
            log = stop(proc)
        if "Traceback" in log:
            print(log)


if __name__ == "__main__":
    main()
