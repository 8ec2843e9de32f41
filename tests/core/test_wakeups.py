"""The commit that readies tasks wakes a waiter on the same database; nothing else does."""

from __future__ import annotations

import threading
import time

from sqlalchemy.engine import Engine
from sqlmodel import Session

from core.wakeups import mark_ready, ready_waiter
from tests.factories import make_party


def _commit_in_a_thread(engine: Engine, *, ready: bool, rollback: bool = False) -> None:
    def write() -> None:
        with Session(engine) as session:
            make_party(session)
            if ready:
                mark_ready(session)
            if rollback:
                session.rollback()
            else:
                session.commit()

    thread = threading.Thread(target=write)
    thread.start()
    thread.join()


def test_a_commit_that_readies_tasks_wakes_the_waiter_at_once(engine: Engine) -> None:
    with ready_waiter(engine) as waiter:
        assert not waiter.wait(0.2)
        _commit_in_a_thread(engine, ready=True)
        started = time.monotonic()
        assert waiter.wait(5)
        assert time.monotonic() - started < 0.2
        assert not waiter.wait(0.2)


def test_a_rolled_back_transaction_wakes_nobody(engine: Engine) -> None:
    with ready_waiter(engine) as waiter:
        _commit_in_a_thread(engine, ready=True, rollback=True)
        assert not waiter.wait(0.3)


def test_a_burst_of_commits_is_one_wake_up(engine: Engine) -> None:
    with ready_waiter(engine) as waiter:
        for _ in range(50):
            _commit_in_a_thread(engine, ready=True)
        assert waiter.wait(5)
        assert not waiter.wait(0.2)


def test_only_the_readying_commit_wakes_on_postgresql(engine: Engine) -> None:
    """SQLite's waiter sees any commit (then finds nothing to send); PostgreSQL's only those
    that readied tasks."""
    with ready_waiter(engine) as waiter:
        _commit_in_a_thread(engine, ready=False)
        woken = waiter.wait(0.3)
    assert woken is (engine.dialect.name == "sqlite")
