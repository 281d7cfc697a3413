"""The run loop with fake clocks and real SQLite files."""

from __future__ import annotations

import logging

import pytest

from collector.loop import CollectorLoop
from sampling.backend import Reading
from sampling.simulated import SimulatedBackend
from store import open_db
from store.db import Error, OperationalError, sqlite3
from store.problems import passes
from store.samples import GpuInfo, Recorder, get_meta

START = 1_763_400_000.25


class FakeTime:
    """A monotonic and a wall clock that only move when the loop waits or a tick costs time."""

    def __init__(self, tick_cost: float = 0.0) -> None:
        self.mono = 100.0
        self.wall = START
        self.tick_cost = tick_cost
        self.waits: list[float] = []
        self.stop_after: int | None = None

    def advance(self, seconds: float) -> None:
        self.mono += seconds
        self.wall += seconds

    def wait(self, seconds: float) -> bool:
        self.waits.append(seconds)
        self.advance(seconds)
        return self.stop_after is not None and len(self.waits) >= self.stop_after


class CostlyBackend(SimulatedBackend):
    """Simulated GPUs whose sampling takes fake time (per call, from a list)."""

    def __init__(self, clock: FakeTime, costs: list[float]) -> None:
        super().__init__(gpus=2)
        self.clock, self.costs, self.calls = clock, costs, []

    def sample(self, now: float, tick_s: float) -> Reading:
        self.calls.append((now, tick_s))
        self.clock.advance(self.costs.pop(0) if self.costs else 0.0)
        return super().sample(now, tick_s)


def make_loop(conn, clock, backend, **kw) -> CollectorLoop:
    return CollectorLoop(
        backend,
        Recorder(conn),
        interval=kw.pop("interval", 5),
        wait=clock.wait,
        monotonic=lambda: clock.mono,
        wall=lambda: clock.wall,
        **kw,
    )


def test_deadlines_do_not_drift(conn):
    clock = FakeTime()
    backend = CostlyBackend(clock, [0.3, 0.7, 0.1, 1.2, 0.0] * 4)
    loop = make_loop(conn, clock, backend, host="lab-box-7")
    assert loop.run(max_ticks=20) == 20
    starts = [now - START for now, _ in backend.calls]
    # Every tick starts exactly on the 5 s grid however long sampling took.
    assert starts == pytest.approx([5 * k for k in range(20)])
    ts = [r[0] for r in conn.execute("SELECT DISTINCT ts FROM samples ORDER BY ts")]
    assert ts == [int(START) + 5 * k for k in range(20)]
    assert get_meta(conn, "interval") == "5"
    assert get_meta(conn, "backend") == "simulated"
    assert get_meta(conn, "host_id") == "lab-box-7"


def test_an_overrun_skips_to_the_next_deadline_and_says_so(conn, caplog):
    clock = FakeTime()
    backend = CostlyBackend(clock, [0.0, 12.0, 0.0, 0.0])
    loop = make_loop(conn, clock, backend)
    with caplog.at_level(logging.WARNING, logger="collector"):
        loop.run(max_ticks=4)
    starts = [now - START for now, _ in backend.calls]
    assert starts == pytest.approx([0, 5, 20, 25])  # 10 and 15 were skipped
    assert loop.skipped == 2
    assert "skipping 2 tick(s)" in caplog.text
    # The tick after the overrun covers the time since the previous one.
    assert backend.calls[2][1] == pytest.approx(15)


def test_timestamps_strictly_increase_even_if_the_wall_clock_steps_back(conn):
    clock = FakeTime()
    backend = CostlyBackend(clock, [])
    loop = make_loop(conn, clock, backend, interval=1)
    loop.run(max_ticks=2)
    clock.wall -= 30  # NTP stepped the clock back
    loop.run(max_ticks=4)
    ts = [r[0] for r in conn.execute("SELECT DISTINCT ts FROM samples ORDER BY ts")]
    assert len(ts) == 4
    assert ts == sorted(set(ts))


def hold_write_lock(db_path):
    other = open_db(db_path, write=True)
    other.execute("BEGIN IMMEDIATE")
    return other


def test_locked_database_buffers_then_flushes_everything(db_path, caplog):
    conn = open_db(db_path, write=True)
    clock = FakeTime()
    loop = make_loop(conn, clock, CostlyBackend(clock, []), write_wait_s=0.05)
    loop.run(max_ticks=2)
    other = hold_write_lock(db_path)
    with caplog.at_level(logging.WARNING, logger="collector"):
        loop.run(max_ticks=8)  # six ticks while another writer holds the lock
    assert len(loop.pending) == 6
    assert "keeping ticks in memory" in caplog.text
    other.execute("ROLLBACK")
    loop.run(max_ticks=9)
    assert not loop.pending
    count = conn.execute("SELECT count(DISTINCT ts), count(*) FROM samples").fetchone()
    assert count == (9, 18)
    conn.close()


def test_buffer_bound_drops_oldest_with_a_count_and_an_event(db_path, caplog):
    conn = open_db(db_path, write=True)
    clock = FakeTime()
    loop = make_loop(conn, clock, CostlyBackend(clock, []), write_wait_s=0.05, buffer_ticks=3)
    other = hold_write_lock(db_path)
    with caplog.at_level(logging.WARNING, logger="collector"):
        loop.run(max_ticks=7)
        assert "dropped the oldest tick, 1 dropped so far" in caplog.text
        other.execute("ROLLBACK")
        loop.run(max_ticks=8)
    assert "4 tick(s) from ts" in caplog.text
    ts = [r[0] for r in conn.execute("SELECT DISTINCT ts FROM samples ORDER BY ts")]
    assert ts == [int(START) + 5 * k for k in range(4, 8)]  # the 4 oldest were dropped
    events = conn.execute("SELECT kind, detail FROM events").fetchall()
    assert len(events) == 1 and events[0][0] == "samples_dropped"
    assert events[0][1].startswith("4 tick(s)")
    conn.close()


def test_full_disk_does_not_crash_the_loop(db_path):
    conn = open_db(db_path, write=True)
    clock = FakeTime()
    loop = make_loop(conn, clock, CostlyBackend(clock, []))
    loop.run(max_ticks=1)
    page_count = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count = {page_count}")  # the "disk" is now full
    loop.run(max_ticks=200)
    assert loop.pending, "ticks should be waiting in memory"
    conn.execute("PRAGMA max_page_count = 1000000")
    loop.run(max_ticks=201)
    assert not loop.pending
    assert conn.execute("SELECT count(DISTINCT ts) FROM samples").fetchone()[0] == 201
    conn.close()


class FlakyBackend:
    """Two GPUs; the second is reported lost for a while, and one tick fails outright."""

    name = "flaky"

    def __init__(self) -> None:
        self.gpus = [GpuInfo("GPU-a", 0, "A"), GpuInfo("GPU-b", 1, "B")]
        self.n = 0

    def sample(self, now: float, tick_s: float) -> Reading:
        from store.samples import GpuSample

        self.n += 1
        if self.n == 6:
            raise RuntimeError("driver reloading")
        lost = 3 <= self.n <= 8
        samples = [GpuSample(g, util=10) for g in self.gpus if not (lost and g.index == 1)]
        return Reading(samples, [], [(self.gpus[1], "GPU is lost")] if lost else [])

    def close(self) -> None:
        pass


def test_lost_gpu_marked_and_logged_once_and_a_failing_tick_is_survived(conn, caplog):
    clock = FakeTime()
    loop = make_loop(conn, clock, FlakyBackend())
    with caplog.at_level(logging.INFO, logger="collector"):
        loop.run(max_ticks=5)
        lost_at = conn.execute("SELECT lost_at FROM gpus WHERE uuid = 'GPU-b'").fetchone()[0]
        assert lost_at == int(START) + 10
        loop.run(max_ticks=10)
    assert caplog.text.count("(GPU-b) is lost") == 1
    assert caplog.text.count("sampling failed") == 1
    assert "answers again" in caplog.text
    kinds = [r[0] for r in conn.execute("SELECT kind FROM events")]
    assert kinds == ["gpu_lost"]
    assert conn.execute("SELECT lost_at FROM gpus WHERE uuid = 'GPU-b'").fetchone()[0] is None
    # 10 ticks, one failed: 9 ticks of GPU-a, 9 - 6 + 1 = 3 + ... of GPU-b
    per_gpu = dict(
        conn.execute(
            "SELECT g.uuid, count(*) FROM samples s JOIN gpus g ON g.id = s.gpu GROUP BY 1"
        )
    )
    assert per_gpu == {"GPU-a": 9, "GPU-b": 4}


def test_a_stop_request_ends_the_loop_after_the_current_write(conn):
    clock = FakeTime()
    clock.stop_after = 3
    loop = make_loop(conn, clock, CostlyBackend(clock, []))
    assert loop.run() == 3
    assert conn.execute("SELECT count(DISTINCT ts) FROM samples").fetchone()[0] == 3


def test_operational_error_type_is_what_sqlite_raises_when_locked(db_path):
    """Guards the assumption the loop's except clause rests on."""
    other = hold_write_lock(db_path)
    conn = open_db(db_path, write=True)
    conn.execute("PRAGMA busy_timeout = 10")
    with pytest.raises(OperationalError, match="locked"):
        conn.execute("BEGIN IMMEDIATE")
    other.execute("ROLLBACK")


def test_a_read_only_database_ends_the_loop_instead_of_buffering(db_path, caplog):
    """SQLite's own read-only error (a connection it could only open for reading) is not a
    passing lock: the loop raises at the first write and buffers nothing."""
    read_only = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, isolation_level=None)
    clock = FakeTime()
    loop = make_loop(read_only, clock, CostlyBackend(clock, []))
    with caplog.at_level(logging.WARNING, logger="collector"), pytest.raises(Error) as raised:
        loop.run(max_ticks=3)
    assert "readonly" in str(raised.value) and not passes(raised.value)
    assert loop.ticks == 1 and "keeping ticks in memory" not in caplog.text
    read_only.close()
