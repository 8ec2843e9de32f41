"""Wake the dispatcher when tasks become ready, through the database that made them ready.

The commit that makes a task `ready` is the wake-up: on PostgreSQL it carries a
`NOTIFY haulflow_ready` (sent by the server only if the transaction commits, once per
transaction however many tasks it readied); on SQLite the waiter watches the file's
`PRAGMA data_version`, which changes with every commit of another connection. Nothing can be
lost between the commit and the wake-up, and no wake-up is ever dropped for its id: the
waiter then simply looks for ready tasks, which the database alone decides.

Writers mark a session with `mark_ready(session)`; a session event sends the notification
just before that session's commit (`lifecycle.history` marks every transition to `ready`).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session

CHANNEL = "haulflow_ready"
_PENDING = "haulflow_ready_pending"
# How often a waiter on SQLite reads the file's version: a read of a few microseconds.
SQLITE_POLL_SECONDS = 0.02


def mark_ready(session: Session) -> None:
    """This session's transaction readies tasks: wake the dispatcher when it commits."""
    session.info[_PENDING] = True


@sa.event.listens_for(Session, "before_commit")
def _notify_before_commit(session: Session) -> None:
    if not session.info.pop(_PENDING, False):
        return
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":
        # Delivered by the server at commit, and only if the transaction commits.
        session.execute(sa.text(f"NOTIFY {CHANNEL}"))


@sa.event.listens_for(Session, "after_rollback")
def _forget_after_rollback(session: Session) -> None:
    session.info.pop(_PENDING, None)


class Waiter(Protocol):
    """Blocks until the database may hold newly ready tasks, or until a timeout."""

    def wait(self, timeout: float) -> bool:
        """True when something was committed since the last call; False on timeout."""
        ...


class _PostgresWaiter:
    def __init__(self, connection: Any) -> None:
        self._connection = connection

    def wait(self, timeout: float) -> bool:
        woken = False
        # `stop_after=1` returns at the first notification; a burst's others are drained at
        # once below, so a burst of commits is one wake-up.
        for _ in self._connection.notifies(timeout=timeout, stop_after=1):
            woken = True
        if woken:
            for _ in self._connection.notifies(timeout=0):
                pass
        return woken


class _SqliteWaiter:
    def __init__(self, connection: sqlite3.Connection) -> None:
        self._connection = connection
        self._version = self._read()

    def _read(self) -> int:
        row = self._connection.execute("PRAGMA data_version").fetchone()
        return int(row[0])

    def wait(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while True:
            version = self._read()
            if version != self._version:
                self._version = version
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            time.sleep(min(SQLITE_POLL_SECONDS, left))


@contextmanager
def ready_waiter(engine: Engine) -> Iterator[Waiter]:
    """A waiter on `engine`'s database, with a connection of its own for its lifetime."""
    url = engine.url
    if url.get_backend_name() == "postgresql":
        import psycopg

        dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
        with psycopg.connect(dsn, autocommit=True) as listening:
            listening.execute(f"LISTEN {CHANNEL}")
            yield _PostgresWaiter(listening)
        return
    database = make_url(str(url)).database or ""
    watching = sqlite3.connect(database, check_same_thread=False)
    try:
        yield _SqliteWaiter(watching)
    finally:
        watching.close()
