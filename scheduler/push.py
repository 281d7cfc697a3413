"""Delivering hourly aggregates to a central server, Targoman gpu_monitor compatible: the
payload is protocol.hourly's, the headers and the success rule protocol.targoman's.

What else the Targoman client (github.com/Targoman/gpu_monitor, src/gpu_monitor/server.py,
db.py, config.py) does, and what we keep:
- A failure is recorded in `send_attempts` (aggregation_time, timestamp, success, error,
  uid, params, attempt_number); at most 10 attempts per aggregation time.
- CLI: -ls/--list-sends, -ss/--search-send, -sc/--show-collection, -f json|csv, --offline.
Additions here: retries only on connection errors, timeouts, 429 and 5xx with exponential
backoff and full jitter (GPUPULSE_PUSH_BACKOFF_MIN..MAX) honouring `Retry-After`, and
immediate failure on other non-200 replies. Each attempt has one deadline
(GPUPULSE_PUSH_TIMEOUT) for connecting, sending and the whole answer, and the loop's stop
signal ends an attempt at once. The oldest pending hour goes first; while it
waits for its backoff, nothing newer is sent. With GPUPULSE_PUSH_PER_REQUEST above 1, due
hours go as a JSON array (a GPU Pulse hub answers `uids`, one per payload); each hour still
gets its own ledger row.
"""

from __future__ import annotations

import contextlib
import functools
import http.client
import logging
import random
import socket
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from email.utils import parsedate_to_datetime

from protocol import targoman
from scheduler import outbox
from scheduler.settings import Settings
from store.db import Connection, atomic

log = logging.getLogger(__name__)
MAX_RETRY_AFTER_S = 86400
MAX_REQUEST_BYTES = 512 * 1024  # an array of payloads stays under a hub's 1 MiB default


@dataclass(frozen=True)
class Reply:
    """An HTTP answer: status, headers (lower-case names) and body."""

    status: int
    headers: Mapping[str, str]
    body: bytes


class TransportError(Exception):
    """No HTTP answer: connection refused/reset, DNS, or a timeout."""


Transport = Callable[[str, bytes | None, Mapping[str, str], float], Reply]


class Watchdog:
    """Cuts a connection when its attempt's deadline passes or a stop is requested, so no
    server, however slowly it drips its answer, holds an attempt past its deadline."""

    POLL_S = 0.05

    def __init__(self, conn: http.client.HTTPConnection, timeout: float, stop) -> None:
        self.conn, self.stop, self.reason = conn, stop, None
        self.deadline = time.monotonic() + timeout
        self.timeout = timeout
        self.done = threading.Event()
        threading.Thread(target=self._watch, daemon=True).start()

    def _watch(self) -> None:
        while not self.done.wait(self.POLL_S):
            if self.reason is None and self.stop is not None and self.stop.is_set():
                self.reason = "stopped: the scheduler is shutting down"
            elif self.reason is None and time.monotonic() >= self.deadline:
                self.reason = f"timeout: no whole answer within {self.timeout:g} s"
            if self.reason is not None and self.conn.sock is not None:
                with contextlib.suppress(OSError):  # already closed: the attempt is over
                    self.conn.sock.shutdown(socket.SHUT_RDWR)
                return


def http_transport(
    url: str,
    body: bytes | None,
    headers: Mapping[str, str],
    timeout: float,
    stop: threading.Event | None = None,
) -> Reply:
    """POST `body` (GET when it is None, as pull mode does); the whole attempt (connect,
    send, the reply's headers and body) ends within `timeout` seconds, or as soon as `stop`
    is set. TransportError when no whole answer came."""
    parts = urllib.parse.urlsplit(url)
    kind = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    conn = kind(parts.hostname or "", parts.port, timeout=timeout)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    watchdog = Watchdog(conn, timeout, stop)
    try:
        conn.request("GET" if body is None else "POST", path, body=body, headers=dict(headers))
        answer = conn.getresponse()
        reply = Reply(answer.status, _lower(answer.headers), answer.read())
        if watchdog.reason is None:
            return reply  # else the cut connection's EOF may look like an answer's end
        raise TransportError(watchdog.reason)
    except (OSError, http.client.HTTPException) as exc:
        if watchdog.reason is not None:
            raise TransportError(watchdog.reason) from None
        if isinstance(exc, TimeoutError):
            raise TransportError(f"timeout after {timeout:g} s: {exc}") from None
        raise TransportError(f"connection error: {exc.__class__.__name__}: {exc}") from None
    finally:
        watchdog.done.set()
        conn.close()


def stoppable(stop: threading.Event) -> Transport:
    """http_transport that also ends its attempt when `stop` is set (the loop's SIGTERM)."""
    return functools.partial(http_transport, stop=stop)


def _lower(headers) -> dict[str, str]:
    return {k.lower(): v for k, v in (headers or {}).items()}


@dataclass(frozen=True)
class Outcome:
    """How one attempt went; `retry` is True when it may be tried again later."""

    success: bool
    retry: bool
    status: int | None = None
    error: str | None = None
    uid: str | None = None
    retry_after: float | None = None


def http_failure(reply: Reply, now: float) -> Outcome | None:
    """The outcome of a reply other than 200 (retried for 429 and 5xx), else None."""
    status = reply.status
    if status == 429 or status >= 500:
        return Outcome(False, True, status, f"HTTP {status}", None, retry_after(reply, now))
    if status != 200:
        text = reply.body[:200].decode("utf-8", "replace").strip()
        return Outcome(False, False, status, f"HTTP {status}: {text}" if text else f"HTTP {status}")
    return None


def judge(reply: Reply, sent: dict, now: float) -> Outcome:
    """Apply the protocol's success rule (protocol.targoman) and the retry policy to the
    reply to one payload."""
    failed = http_failure(reply, now)
    if failed is not None:
        return failed
    try:
        uid = targoman.read_uid(reply.body, sent)
    except targoman.BadReply as problem:
        return Outcome(False, True, reply.status, str(problem), problem.uid)
    return Outcome(True, False, reply.status, None, uid)


def judge_many(reply: Reply, sent: list[dict], now: float) -> list[Outcome]:
    """judge() for an array of payloads: one outcome each, with its uid from `uids`."""
    failed = http_failure(reply, now)
    if failed is None:
        try:
            uids = targoman.read_uids(reply.body, sent)
        except targoman.BadReply as problem:
            failed = Outcome(False, True, reply.status, str(problem))
    if failed is not None:
        return [failed] * len(sent)
    return [Outcome(True, False, reply.status, None, uid) for uid in uids]


def retry_after(reply: Reply, now: float) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP date), capped at a day."""
    raw = reply.headers.get("retry-after", "").strip()
    if not raw:
        return None
    try:
        seconds = float(raw)
    except ValueError:
        try:
            seconds = parsedate_to_datetime(raw).timestamp() - now
        except (TypeError, ValueError):
            return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_S)


def backoff(settings: Settings, attempt: int, rand: Callable[[], float]) -> float:
    """Full-jitter exponential delay after the `attempt`-th failure, within [min, max]."""
    cap = min(settings.backoff_max_s, settings.backoff_min_s * 2 ** (attempt - 1))
    return settings.backoff_min_s + rand() * (cap - settings.backoff_min_s)


def headers(settings: Settings, payload: dict | None) -> dict[str, str]:
    """Request headers for one payload, or for an array of them (`payload` None)."""
    key = None if payload is None else payload["idempotency_key"]
    return targoman.request_headers(settings.contract_number, key, settings.push_token)


def run(
    conn: Connection,
    settings: Settings,
    now: float,
    *,
    transport: Transport = http_transport,
    rand: Callable[[], float] = random.random,
    clock: Callable[[], float] = time.time,
) -> dict:
    """The scheduled job: send pending hours oldest first; return counts."""
    counts = {"sent": 0, "failed": 0, "retry": 0}
    if not settings.sending:
        return counts
    rows = conn.execute(
        "SELECT hour, next_at FROM push_queue WHERE state = 'pending' ORDER BY hour LIMIT ?",
        (settings.push_batch,),
    ).fetchall()
    due = []
    for hour, next_at in rows:
        if next_at > clock():
            break  # the oldest is backing off; keep the order
        due.append(hour)
    while due:
        outcomes = send_many(
            conn,
            settings,
            due[: settings.push_per_request],
            transport=transport,
            rand=rand,
            clock=clock,
        )
        del due[: len(outcomes)]
        for outcome in outcomes:
            counts["sent" if outcome.success else "retry" if outcome.retry else "failed"] += 1
        if any(outcome.retry for outcome in outcomes):
            break  # the server is struggling: wait for the backoff
    return counts


def send(
    conn: Connection,
    settings: Settings,
    hour: int,
    *,
    transport: Transport = http_transport,
    rand: Callable[[], float] = random.random,
    clock: Callable[[], float] = time.time,
) -> Outcome:
    """One attempt for one queued hour, recorded in the ledger and the queue."""
    body, digest, attempts = conn.execute(
        "SELECT payload, payload_hash, attempts FROM push_queue WHERE hour = ?", (hour,)
    ).fetchone()
    sent = outbox.as_sent(conn, settings, body)
    started, outcome = _attempt(settings, outbox.encode(sent), sent, sent, judge, transport, clock)
    _record(conn, settings, hour, attempts + 1, started, digest, outcome, rand, clock)
    return outcome


def _attempt(
    settings: Settings,
    body: str,
    sent,
    one: dict | None,
    verdict,
    transport: Transport,
    clock: Callable[[], float],
) -> tuple[float, object]:
    """POST a body once: (when it started, `verdict` of the reply, or a retryable Outcome
    when no reply came)."""
    started = clock()
    try:
        reply = transport(
            settings.push_url, body.encode(), headers(settings, one), settings.push_timeout_s
        )
        return started, verdict(reply, sent, clock())
    except TransportError as exc:
        return started, Outcome(False, True, None, str(exc))


def send_many(
    conn: Connection,
    settings: Settings,
    hours: list[int],
    *,
    transport: Transport = http_transport,
    rand: Callable[[], float] = random.random,
    clock: Callable[[], float] = time.time,
) -> list[Outcome]:
    """One attempt for the first of `hours` that fit in one request (at most
    MAX_REQUEST_BYTES; a GPU Pulse hub takes a JSON array of payloads), each recorded
    like send()'s. When the array is refused (400, 413), each hour goes alone at once,
    so one bad hour fails by itself."""
    queued = [
        conn.execute(
            "SELECT payload, payload_hash, attempts FROM push_queue WHERE hour = ?", (hour,)
        ).fetchone()
        for hour in hours
    ]
    count, size = 1, len(queued[0][0]) + 2
    while count < len(queued) and size + len(queued[count][0]) + 1 <= MAX_REQUEST_BYTES:
        count, size = count + 1, size + len(queued[count][0]) + 1
    if count == 1:
        return [send(conn, settings, hours[0], transport=transport, rand=rand, clock=clock)]
    sent = [outbox.as_sent(conn, settings, payload) for payload, _, _ in queued[:count]]
    body = outbox.encode(sent)
    started, result = _attempt(settings, body, sent, None, judge_many, transport, clock)
    outcomes = result if isinstance(result, list) else [result] * count
    refused = outcomes[0].status in (400, 413)
    for hour, (_, digest, attempts), outcome in zip(hours, queued, outcomes, strict=False):
        if refused:  # recorded as an attempt to retry, which follows at once, alone
            outcome = replace(outcome, retry=True, error=f"{outcome.error} (sent alone next)")
        _record(conn, settings, hour, attempts + 1, started, digest, outcome, rand, clock)
    if refused:
        return [
            send(conn, settings, hour, transport=transport, rand=rand, clock=clock)
            for hour in hours[:count]
        ]
    return outcomes


def _record(conn, settings, hour, attempt, started, digest, outcome: Outcome, rand, clock):
    """Ledger row plus the queue's new state, in one transaction."""
    state, next_at, error = "sent", 0, outcome.error
    if not outcome.success:
        state = "pending" if outcome.retry else "failed"
        if outcome.retry and attempt >= settings.push_max_attempts:
            state, error = "failed", f"gave up after {attempt} attempts: {outcome.error}"
        if state == "pending":
            delay = backoff(settings, attempt, rand)
            next_at = clock() + max(delay, outcome.retry_after or 0.0)
    with atomic(conn):
        number = conn.execute(
            "SELECT coalesce(max(attempt), 0) + 1 FROM push_ledger WHERE hour = ?", (hour,)
        ).fetchone()[0]
        conn.execute(
            "INSERT INTO push_ledger (hour, attempt, ts, success, status, error, uid, "
            "payload_hash) VALUES (?,?,?,?,?,?,?,?)",
            (
                hour,
                number,
                started,
                int(outcome.success),
                outcome.status,
                outcome.error,
                outcome.uid,
                digest,
            ),
        )
        conn.execute(
            "UPDATE push_queue SET state = ?, attempts = ?, next_at = ?, last_error = ?, "
            "uid = coalesce(?, uid), updated = ? WHERE hour = ?",
            (
                state,
                attempt,
                next_at,
                error,
                outcome.uid if outcome.success else None,
                int(clock()),
                hour,
            ),
        )
    level = logging.INFO if outcome.success else logging.WARNING
    log.log(
        level, "push %s attempt %d: %s", hour, attempt, outcome.error or f"ok uid={outcome.uid}"
    )
