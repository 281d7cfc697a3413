"""Reader connections are lent per request: requests in flight at once (a gevent worker's
greenlets, a streaming export) never share one, and a finished request's is reused."""

from __future__ import annotations

import os

import pytest
from flask import Flask

from api.readers import Readers


@pytest.fixture
def lent(db_path) -> tuple[Flask, Readers]:
    """An app whose requests borrow from `readers`, handing back as each one ends."""
    app = Flask(__name__)
    readers = Readers(str(db_path))
    app.teardown_appcontext(readers.release)
    return app, readers


def test_requests_in_flight_hold_their_own_connection_and_hand_it_back(lent):
    app, readers = lent
    with app.app_context():
        first = readers.get()
        assert readers.get() is first  # the same request asks again
        with app.app_context():  # another request while the first is still streaming
            second = readers.get()
            assert second is not first
        with app.app_context():
            assert readers.get() is second  # handed back when its request ended
    with app.app_context():
        assert readers.get() in (first, second)
    assert first.execute("SELECT count(*) FROM meta").fetchone()[0] >= 0


def test_a_failed_connection_is_closed_not_reused(lent):
    app, readers = lent
    with app.app_context():
        broken = readers.get()
        readers.reset()
    with app.app_context():
        assert readers.get() is not broken


def test_a_forked_worker_opens_its_own(lent, monkeypatch):
    app, readers = lent
    with app.app_context():
        parents = readers.get()
    monkeypatch.setattr(os, "getpid", lambda: -1)  # as if this were a child after fork
    with app.app_context():
        assert readers.get() is not parents
